/* tests/test_send.c — the send path on real loopback sockets: delivery, callbacks, ordering,
 * implicit bind, scatter-gather, validation, queue introspection, tiny rings. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>

#include "udg.h"
#include "support.h"

struct rx {
	udg_socket *sock;
	int port;
	int listening;
	int messages;
	size_t bytes;
	char last[2048];
	size_t last_len;
	udg_rinfo last_rinfo; /* its pointers are lent for the callback: not read after it */
	char last_from[UDG_ADDRSTRLEN];
	const char *last_family;
	int expect; /* close both sockets after this many messages */
	udg_socket *peer;
	uint32_t next_seq;
	bool in_order;
};

static void rx_listening(udg_socket *s, void *user)
{
	struct rx *rx = user;
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), 0);
	rx->port = a.port;
	rx->listening++;
}

static void rx_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	struct rx *rx = user;
	rx->messages++;
	rx->bytes += len;
	memcpy(rx->last, data, len < sizeof(rx->last) ? len : sizeof(rx->last));
	rx->last_len = len;
	rx->last_rinfo = *ri;
	udg_format_address(ri->addr, ri->addrlen, rx->last_from, sizeof(rx->last_from));
	rx->last_family = udg_family_name(ri->addr);
	if (len >= 4) {
		uint32_t seq;
		memcpy(&seq, data, 4);
		if (seq != rx->next_seq)
			rx->in_order = false;
		rx->next_seq = seq + 1;
	}
	if (rx->expect && rx->messages == rx->expect) {
		udg_socket_close(s, NULL, NULL);
		if (rx->peer)
			udg_socket_close(rx->peer, NULL, NULL);
	}
}

static udg_socket *new_receiver(udg_loop *loop, udg_socket_type type, struct rx *rx)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.on_listening = rx_listening;
	o.on_message = rx_message;
	o.user = rx;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	rx->sock = s;
	rx->in_order = true;
	cr_assert_eq(udg_socket_bind(s, 0, type == UDG_UDP4 ? "127.0.0.1" : "::1", NULL, NULL), 0);
	/* 'listening' is never synchronous */
	cr_assert_eq(rx->listening, 0);
	return s;
}

static udg_socket *new_sender(udg_loop *loop, udg_socket_type type)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	return s;
}

Test(send, datagram_arrives_with_payload_and_rinfo)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	rx.expect = 1;
	rx.peer = s;
	struct ev st = { 0 };
	cr_assert_eq(udg_socket_send(s, "hello", 5, ra.port, "127.0.0.1", sent_cb, &st), 0);
	cr_assert_eq(st.sent, 0, "the callback never runs inside send");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(rx.listening, 1);
	cr_assert_eq(rx.messages, 1);
	cr_assert_eq(rx.last_len, 5);
	cr_assert_eq(memcmp(rx.last, "hello", 5), 0);
	cr_assert_eq(rx.last_rinfo.size, 5);
	cr_assert_not(rx.last_rinfo.truncated);
	cr_assert_str_eq(rx.last_from, "127.0.0.1");
	cr_assert_str_eq(rx.last_family, "IPv4");
	cr_assert_eq(st.sent, 1);
	cr_assert_eq(st.sent_status, 0);
	cr_assert_eq(st.sent_bytes, 5);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(send, implicit_bind_queues_sends_in_order_until_listening)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	rx.expect = 100;
	rx.peer = s;
	for (uint32_t i = 0; i < 100; i++)
		cr_assert_eq(udg_socket_send(s, &i, sizeof(i), ra.port, NULL, NULL, NULL), 0);
	udg_address sa;
	cr_assert_eq(udg_socket_address(s, &sa), 0, "implicitly bound");
	cr_assert_str_eq(sa.address, "0.0.0.0");
	cr_assert_neq(sa.port, 0);
	cr_assert_eq(udg_socket_bind(s, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_ALREADY_BOUND);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(rx.messages, 100);
	cr_assert(rx.in_order);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(send, array_of_buffers_arrives_as_one_datagram)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP6, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP6);
	rx.expect = 2;
	rx.peer = s;
	udg_buf parts[6] = { { "ab", 2 }, { "", 0 },   { "cde", 3 },
			     { "f", 1 },  { "gh", 2 }, { "ij", 2 } };
	struct ev st1 = { 0 }, st2 = { 0 };
	cr_assert_eq(udg_socket_sendv(s, parts, 6, ra.port, NULL, sent_cb, &st1), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_ONCE) >= 0, 1);
	while (rx.messages < 1)
		udg_loop_run(loop, UDG_RUN_ONCE);
	cr_assert_eq(rx.last_len, 10);
	cr_assert_eq(memcmp(rx.last, "abcdefghij", 10), 0);
	cr_assert_str_eq(rx.last_from, "::1");
	cr_assert_eq(udg_socket_sendv(s, NULL, 0, ra.port, NULL, sent_cb, &st2), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(rx.messages, 2);
	cr_assert_eq(rx.last_len, 0, "an empty array sends a 0-byte datagram");
	cr_assert_eq(st1.sent_bytes, 10);
	cr_assert_eq(st2.sent, 1);
	cr_assert_eq(st2.sent_bytes, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(send, bad_ports_and_ranges_are_refused_and_change_nothing)
{
	udg_loop *loop = new_loop();
	udg_socket *s = new_sender(loop, UDG_UDP4);
	char buf[8] = { 0 };
	cr_assert_eq(udg_socket_send(s, buf, 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_send(s, buf, 1, 65536, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_send(s, buf, 1, -1, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_send(s, NULL, 1, 9, NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_send_range(s, buf, 8, 9, 0, 9, NULL, NULL, NULL),
		     UDG_ERR_BUFFER_OUT_OF_BOUNDS);
	cr_assert_eq(udg_socket_send_range(s, buf, 8, 4, 5, 9, NULL, NULL, NULL),
		     UDG_ERR_BUFFER_OUT_OF_BOUNDS);
	/* (A malformed literal such as "256.1.1.1" is not refused here: it goes to the resolver,
	 * see dgram_errors::malformed_literals_fail_through_the_resolver_for_send_connect_bind.) */
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "nothing was bound");
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s, buf, 1, 9, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_send(s, buf, 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT,
		     "a bad argument reports its own error first");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- the raw-address extension ---- */

struct echo {
	int echoed;
	int replies;
};

static void echo_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			 void *user)
{
	struct echo *e = user;
	cr_assert_eq(udg_socket_send_to(s, data, len, ri->addr, ri->addrlen, NULL, NULL), 0);
	e->echoed++;
}

static void reply_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			  void *user)
{
	struct echo *e = user;
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(data, "ping", 4), 0);
	e->replies++;
}

Test(send, send_to_answers_a_sender_through_its_raw_rinfo_address)
{
	udg_loop *loop = new_loop();
	struct echo e = { 0 };
	udg_socket_options o;
	udg_socket *server, *client;
	udg_socket_options_init(&o, UDG_UDP6);
	o.on_message = echo_message;
	o.user = &e;
	cr_assert_eq(udg_socket_new(loop, &o, &server), 0);
	cr_assert_eq(udg_socket_bind(server, 0, "::1", NULL, NULL), 0);
	udg_address sa;
	cr_assert_eq(udg_socket_address(server, &sa), 0);
	udg_socket_options_init(&o, UDG_UDP6);
	o.on_message = reply_message;
	o.user = &e;
	cr_assert_eq(udg_socket_new(loop, &o, &client), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(udg_socket_send(client, "ping", 4, sa.port, "::1", NULL, NULL), 0);
	while (e.replies < 3)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	cr_assert_eq(e.echoed, 3);

	struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = htons(9) };
	cr_assert_eq(
		udg_socket_send_to(server, "x", 1, (struct sockaddr *)&v4, sizeof(v4), NULL, NULL),
		-EINVAL, "family differs from the socket's");
	struct sockaddr_in6 p0 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	cr_assert_eq(
		udg_socket_send_to(server, "x", 1, (struct sockaddr *)&p0, sizeof(p0), NULL, NULL),
		UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_send_to(server, "x", 1, NULL, 0, NULL, NULL),
		     UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_close(server, NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(client, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- Send-area behaviour (Node rules 18-19, 29-36, 67) ---------------------------------- */

static void close_pair(udg_loop *loop, udg_socket *a, udg_socket *b)
{
	udg_socket *socks[2] = { a, b };
	close_all(loop, socks, 2);
}

struct order {
	int seq;
	int listening_at;
	int sent_at[4];
	int sent;
};

static void order_listening(udg_socket *s, void *user)
{
	struct order *o = user;
	o->listening_at = ++o->seq;
}

static void order_sent(udg_socket *s, int status, size_t bytes, void *user)
{
	struct order *o = user;
	cr_assert_eq(status, 0);
	o->sent_at[o->sent++] = ++o->seq;
}

Test(send, an_implicit_bind_sends_after_listening_and_counts_only_sends_in_flight)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	struct order ord = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_listening = order_listening;
	o.user = &ord;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);

	cr_assert_eq(udg_socket_send(s, "ab", 2, ra.port, NULL, order_sent, &ord), 0);
	cr_assert_eq(udg_socket_send(s, "cde", 3, ra.port, NULL, order_sent, &ord), 0);
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0, "waiting for bind: not counted");
	cr_assert_eq(udg_socket_get_send_queue_size(s), 0);
	cr_assert_eq(ord.sent + ord.listening_at, 0);
	RUN_UNTIL(loop, ord.sent == 2 && rx.messages == 2);
	cr_assert_gt(ord.listening_at, 0);
	cr_assert_lt(ord.listening_at, ord.sent_at[0], "'listening' before any send is processed");
	cr_assert_lt(ord.sent_at[0], ord.sent_at[1], "callbacks in call order");
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0);
	cr_assert_eq(rx.last_len, 3);
	close_pair(loop, r, s);
}

Test(send, the_callback_never_runs_inside_send)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP6, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP6);
	RUN_UNTIL(loop, rx.listening == 1);
	struct ev ok = { 0 }, bad = { 0 }, conn = { 0 };

	cr_assert_eq(udg_socket_send(s, "x", 1, ra.port, NULL, sent_cb, &ok), 0);
	cr_assert_eq(ok.sent, 0, "unbound");
	RUN_UNTIL(loop, ok.sent == 1);
	cr_assert_eq(udg_socket_send(s, "x", 1, ra.port, NULL, sent_cb, &ok), 0);
	cr_assert_eq(ok.sent, 1, "bound");
	cr_assert_eq(udg_socket_send(s, "x", 1, ra.port, "127.0.0.1", sent_cb, &bad), 0);
	cr_assert_eq(bad.sent, 0, "an error known at once is still reported later");
	cr_assert_eq(udg_socket_connect(s, ra.port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, ok.sent == 2 && bad.sent == 1);
	cr_assert_eq(udg_socket_send(s, "x", 1, 0, NULL, sent_cb, &conn), 0);
	cr_assert_eq(conn.sent, 0, "connected");
	RUN_UNTIL(loop, conn.sent == 1 && rx.messages == 3);
	cr_assert_eq(conn.sent_status, 0);
	close_pair(loop, r, s);
}

Test(send, a_payload_no_udp_datagram_can_carry_fails_without_being_copied)
{
	udg_loop *loop = new_loop();
	udg_socket *s = new_sender(loop, UDG_UDP4);
	/* Unreadable memory: any copy of these bytes would crash the test. */
	size_t len = 1 << 20;
	void *nope = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(nope, MAP_FAILED);
	udg_buf parts[2] = { { nope, 40000 }, { nope, 40000 } };
	struct ev e = { 0 };
	cr_assert_eq(udg_socket_sendv(s, parts, 2, 9, "127.0.0.1", NULL, NULL), 0,
		     "a callback-less send is accepted");
	cr_assert_eq(udg_socket_send(s, nope, len, 9, "127.0.0.1", sent_cb, &e), 0);
	RUN_UNTIL(loop, e.sent == 1);
	cr_assert_eq(e.sent_status, -EMSGSIZE);
	cr_assert_eq(e.sent_bytes, len);
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	cr_assert_eq(st.send_errors, 2, "the callback-less one failed too, and was counted");
	munmap(nope, len);
	close_all(loop, &s, 1);
}

Test(send, a_datagram_over_the_ipv4_limit_fails_with_emsgsize_through_the_callback)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	static unsigned char big[65508];
	struct ev max = { 0 }, over = { 0 };

	/* 65535 - 20 (IPv4 header) - 8 (UDP header) = 65507 bytes of payload at most */
	cr_assert_eq(udg_socket_send(s, big, 65507, ra.port, NULL, sent_cb, &max), 0);
	cr_assert_eq(udg_socket_send(s, big, 65508, ra.port, NULL, sent_cb, &over), 0);
	RUN_UNTIL(loop, max.sent == 1 && over.sent == 1);
	cr_assert_eq(max.sent_status, 0);
	cr_assert_eq(max.sent_bytes, 65507);
	cr_assert_eq(over.sent_status, -EMSGSIZE, "%s", udg_err_name(over.sent_status));
	cr_assert_str_eq(udg_err_name(over.sent_status), "EMSGSIZE");
	cr_assert_eq(over.sent_bytes, 65508, "bytes is the datagram's length even on failure");
	RUN_UNTIL(loop, rx.messages == 1);
	cr_assert_not(rx.last_rinfo.truncated, "the largest IPv4 datagram arrives whole");
	cr_assert_eq(rx.last_rinfo.size, 65507);
	close_pair(loop, r, s);
}

Test(send, a_literal_of_the_other_family_calls_back_with_einval)
{
	udg_loop *loop = new_loop();
	udg_socket *s4 = new_sender(loop, UDG_UDP4);
	udg_socket *s6 = new_sender(loop, UDG_UDP6);
	struct ev st4 = { 0 }, st6 = { 0 };

	cr_assert_eq(udg_socket_send(s4, "x", 1, 1234, "::1", sent_cb, &st4), 0);
	cr_assert_eq(udg_socket_send(s6, "x", 1, 1234, "127.0.0.1", sent_cb, &st6), 0);
	RUN_UNTIL(loop, st4.sent == 1 && st6.sent == 1);
	cr_assert_eq(st4.sent_status, -EINVAL);
	cr_assert_eq(st6.sent_status, -EINVAL);
	cr_assert_eq(st4.sent_bytes, 1);
	close_pair(loop, s4, s6);
}

Test(send, a_connected_send_with_a_port_or_address_is_is_connected)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	cr_assert_eq(udg_socket_connect(s, ra.port, "127.0.0.1", NULL, NULL), 0);
	RUN_UNTIL(loop, rx.listening == 1);

	cr_assert_eq(udg_socket_send(s, "x", 1, ra.port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED, "even the peer's own port");
	cr_assert_eq(udg_socket_send(s, "x", 1, 0, "127.0.0.1", NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_send_range(s, "xy", 2, 0, 1, ra.port, "127.0.0.1", NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	udg_buf b = { "x", 1 };
	cr_assert_eq(udg_socket_sendv(s, &b, 1, 1, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0, "refused sends change nothing");
	close_pair(loop, r, s);
}

Test(send, queue_size_and_count_are_exact_after_two_connected_sends)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	struct ev st = { 0 };
	cr_assert_eq(udg_socket_get_send_queue_size(s), 0, "fresh socket");
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0);
	cr_assert_eq(udg_socket_connect(s, ra.port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, rx.listening == 1);
	udg_loop_run(loop, UDG_RUN_NOWAIT); /* deliver the sender's 'listening' and 'connect' */

	cr_assert_eq(udg_socket_send(s, "hello", 5, 0, NULL, sent_cb, &st), 0);
	cr_assert_eq(udg_socket_send(s, "world", 5, 0, NULL, sent_cb, &st), 0);
	cr_assert_eq(udg_socket_get_send_queue_size(s), 10, "synchronously after the calls");
	cr_assert_eq(udg_socket_get_send_queue_count(s), 2);
	RUN_UNTIL(loop, st.sent == 2);
	cr_assert_eq(udg_socket_get_send_queue_size(s), 0, "0 after completion");
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0);
	close_pair(loop, r, s);
}

/* A receiver that keeps a copy of the last datagram, however large. */
struct big_rx {
	int messages;
	size_t len;
	unsigned char data[4096];
};

static void big_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			void *user)
{
	struct big_rx *b = user;
	cr_assert_not(ri->truncated);
	cr_assert_leq(len, sizeof(b->data));
	memcpy(b->data, data, len);
	b->len = len;
	b->messages++;
}

static udg_loop *new_loop_big_buffers(void)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.recv_buf_size = 8192; /* a 4000-byte datagram fits in one receive buffer */
	return new_loop_opts(&lo);
}

static udg_socket *new_big_receiver(udg_loop *loop, struct big_rx *b, int *port)
{
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = big_message;
	o.user = b;
	udg_socket *r;
	cr_assert_eq(udg_socket_new(loop, &o, &r), 0);
	cr_assert_eq(udg_socket_bind(r, 0, "127.0.0.1", NULL, NULL), 0);
	udg_address a;
	cr_assert_eq(udg_socket_address(r, &a), 0);
	*port = a.port;
	return r;
}

Test(send, a_send_without_callback_copies_the_payload)
{
	udg_loop *loop = new_loop_big_buffers();
	struct big_rx b = { 0 };
	int port;
	udg_socket *r = new_big_receiver(loop, &b, &port);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	udg_loop_run(loop, UDG_RUN_NOWAIT); /* 'listening': sends now go straight out */
	static unsigned char small[100], large[4000], expect_large[4000];

	/* small: copied into the send slot; large (over 2 KiB): copied to the heap */
	memset(small, 'a', sizeof(small));
	cr_assert_eq(udg_socket_send(s, small, sizeof(small), port, NULL, NULL, NULL), 0);
	memset(small, 'X', sizeof(small)); /* the caller may reuse it at once */
	RUN_UNTIL(loop, b.messages == 1);
	cr_assert_eq(b.len, sizeof(small));
	for (size_t i = 0; i < b.len; i++)
		cr_assert_eq(b.data[i], 'a', "byte %zu was overwritten after the call", i);

	for (size_t i = 0; i < sizeof(large); i++)
		large[i] = expect_large[i] = (unsigned char)(i * 13 + 1);
	cr_assert_eq(udg_socket_send(s, large, sizeof(large), port, NULL, NULL, NULL), 0);
	memset(large, 0, sizeof(large));
	RUN_UNTIL(loop, b.messages == 2);
	cr_assert_eq(b.len, sizeof(large));
	cr_assert_eq(memcmp(b.data, expect_large, sizeof(large)), 0);
	close_pair(loop, r, s);
}

Test(send, a_send_with_a_callback_borrows_the_payload_until_it_runs)
{
	udg_loop *loop = new_loop_big_buffers();
	struct big_rx b = { 0 };
	int port;
	udg_socket *r = new_big_receiver(loop, &b, &port);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	static unsigned char buf[64];
	struct ev st = { 0 };

	memset(buf, 'a', sizeof(buf));
	cr_assert_eq(udg_socket_send(s, buf, sizeof(buf), port, NULL, sent_cb, &st), 0);
	/* Not copied: the kernel reads the caller's memory when the loop submits the send, so a
	 * change made before then is what goes out. (Callers must not do this; the test shows
	 * that the bytes are borrowed, not copied.) */
	memset(buf, 'b', sizeof(buf));
	RUN_UNTIL(loop, st.sent == 1 && b.messages == 1);
	cr_assert_eq(st.sent_status, 0);
	cr_assert_eq(b.len, sizeof(buf));
	cr_assert_eq(b.data[0], 'b');
	cr_assert_eq(b.data[sizeof(buf) - 1], 'b');
	close_pair(loop, r, s);
}

Test(send, the_api_leaves_errno_as_the_caller_set_it)
{
	udg_loop *loop = new_loop();
	udg_socket *s = new_sender(loop, UDG_UDP4);
	udg_address a;
	errno = 4242;
	cr_assert_eq(udg_socket_address(s, &a), -EBADF);
	cr_assert_eq(errno, 4242);
	/* connect(2) to the broadcast address fails with EACCES without SO_BROADCAST */
	cr_assert_eq(udg_socket_connect(s, 9, "255.255.255.255", NULL, NULL), 0);
	cr_assert_eq(errno, 4242);
	struct sockaddr_in v4 = { .sin_family = AF_INET,
				  .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_BROADCAST) };
	cr_assert_eq(udg_socket_disconnect(s), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(errno, 4242);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(errno, 4242);
	udg_socket *t = new_sender(loop, UDG_UDP4);
	cr_assert_eq(udg_socket_send_to(t, "x", 1, (struct sockaddr *)&v4, sizeof(v4), NULL, NULL),
		     0);
	cr_assert_eq(udg_socket_close(t, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(errno, 4242);
	cr_assert_eq(udg_loop_close(loop), 0);
	cr_assert_eq(errno, 4242);
}

/* ---- the SQ-full path when the kernel refuses the flush (fault-injection builds) ---- */

extern unsigned udg__faults __attribute__((weak));

struct burst {
	udg_socket *s;
	int port;
	int sent;
	int callbacks;
	int ok;
};

static void burst_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	struct burst *b = user;
	b->callbacks++;
	if (status == 0)
		b->ok++;
}

static void burst_listening(udg_socket *s, void *user)
{
	struct burst *b = user;
	/* 64 sends through an 8-entry SQ; one SQ-full submit during the flush is refused, so
	 * the rest stays queued on the socket until the next iteration has reaped. */
	for (int i = 0; i < 64; i++) {
		if (i == 20)              /* two flushes have posted CQEs by now */
			udg__faults |= 4; /* UDG__FAULT_SUBMIT_EBUSY */
		cr_assert_eq(udg_socket_send(s, "abcd", 4, b->port, "127.0.0.1", burst_cb, b), 0);
		b->sent++;
	}
	cr_assert_eq(b->callbacks, 0, "no callback inside send");
}

Test(send, a_refused_submit_of_a_full_sq_leaves_the_rest_queued_and_loses_none)
{
	if (&udg__faults == NULL)
		cr_skip_test("the engine was built without -Dfault_injection=true");
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.sq_entries = 8;
	lo.cq_entries = 16;
	udg_loop *loop;
	cr_assert_eq(udg_loop_new(&lo, &loop), 0);
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	struct burst b = { .port = ra.port };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_listening = burst_listening;
	o.user = &b;
	o.offload = UDG_OFFLOAD_NO_GSO; /* one SQE per datagram: 64 of them overflow the SQ */
	cr_assert_eq(udg_socket_new(loop, &o, &b.s), 0);
	cr_assert_eq(udg_socket_bind(b.s, 0, "127.0.0.1", NULL, NULL), 0);
	rx.expect = 64;
	rx.peer = b.s;
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg__faults & 4, 0, "the fault fired");
	cr_assert_eq(b.callbacks, 64);
	cr_assert_eq(b.ok, 64);
	cr_assert_eq(rx.messages, 64);
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	if (udg_loop_backend(loop) == UDG_BACKEND_URING)
		cr_assert_gt(st.sq_full_flushes, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- a long paced stream through one pair ---- */

#define STREAM_TOTAL 100000
#define STREAM_WINDOW 32

struct stream {
	udg_socket *client;
	int server_port;
	uint32_t next_send;  /* sequence numbers sent */
	uint32_t next_echo;  /* the echo the client expects next */
	uint32_t next_serve; /* the request the server expects next */
	int out_of_order;
	int corrupt;
};

static void stream_fill(struct stream *st)
{
	while (st->next_send < STREAM_TOTAL && st->next_send - st->next_echo < STREAM_WINDOW) {
		unsigned char msg[64];
		for (size_t i = 0; i < sizeof(msg); i++)
			msg[i] = (unsigned char)(st->next_send * 31 + i);
		memcpy(msg, &st->next_send, 4);
		cr_assert_eq(udg_socket_send(st->client, msg, sizeof(msg), st->server_port,
					     "127.0.0.1", NULL, NULL),
			     0);
		st->next_send++;
	}
}

static bool stream_check(const void *data, size_t len, uint32_t *seq)
{
	const unsigned char *m = data;
	if (len != 64)
		return false;
	memcpy(seq, m, 4);
	for (size_t i = 4; i < len; i++)
		if (m[i] != (unsigned char)(*seq * 31 + i))
			return false;
	return true;
}

static void stream_serve(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			 void *user)
{
	struct stream *st = user;
	uint32_t seq = 0;
	if (!stream_check(data, len, &seq))
		st->corrupt++;
	else if (seq != st->next_serve)
		st->out_of_order++;
	else
		st->next_serve = seq + 1;
	cr_assert_eq(udg_socket_send_to(s, data, len, ri->addr, ri->addrlen, NULL, NULL), 0);
}

static void stream_echo(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			void *user)
{
	struct stream *st = user;
	uint32_t seq = 0;
	if (!stream_check(data, len, &seq))
		st->corrupt++;
	else if (seq != st->next_echo)
		st->out_of_order++;
	else
		st->next_echo = seq + 1;
	if (st->next_echo == STREAM_TOTAL)
		udg_loop_stop(udg_socket_loop(s));
	else
		stream_fill(st);
}

Test(send, a_hundred_thousand_datagrams_paced_by_an_echo_window_arrive_complete_and_in_order,
     .timeout = 120)
{
	udg_loop *loop = new_loop();
	struct stream st = { 0 };
	udg_socket_options o;
	udg_socket *server;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = stream_serve;
	o.user = &st;
	cr_assert_eq(udg_socket_new(loop, &o, &server), 0);
	st.server_port = bind_port(server, "127.0.0.1");
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = stream_echo;
	o.user = &st;
	cr_assert_eq(udg_socket_new(loop, &o, &st.client), 0);
	bind_port(st.client, "127.0.0.1");
	stream_fill(&st);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 1, "stopped by the last echo");
	cr_assert_eq(st.next_echo, STREAM_TOTAL, "every datagram came back");
	cr_assert_eq(st.next_serve, STREAM_TOTAL, "the server saw every datagram");
	cr_assert_eq(st.out_of_order, 0);
	cr_assert_eq(st.corrupt, 0);
	udg_socket *socks[] = { server, st.client };
	close_all(loop, socks, 2);
}

/* ---- callback order ---- */

struct cb_order {
	int seen[8];
	int status[8];
	int n;
};

struct cb_order_arg {
	struct cb_order *o;
	int id;
};

static void cb_order_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	struct cb_order_arg *a = user;
	a->o->status[a->o->n] = status;
	a->o->seen[a->o->n++] = a->id;
}

/* A send that fails before reaching the kernel (too large for any datagram) completes in its
 * place among the sends around it, not ahead of them. */
Test(send, a_send_that_fails_before_the_kernel_keeps_its_place_in_callback_order)
{
	udg_loop *loop = new_loop();
	struct rx rx = { 0 };
	udg_socket *r = new_receiver(loop, UDG_UDP4, &rx);
	udg_address ra;
	cr_assert_eq(udg_socket_address(r, &ra), 0);
	udg_socket *s = new_sender(loop, UDG_UDP4);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1); /* 'listening' delivered */
	static char big[70000];
	struct cb_order o = { 0 };
	struct cb_order_arg a[5];
	for (int i = 0; i < 5; i++) {
		a[i] = (struct cb_order_arg){ &o, i };
		size_t len = i == 1 || i == 3 ? sizeof(big) : 4;
		cr_assert_eq(udg_socket_send(s, big, len, ra.port, "127.0.0.1", cb_order_cb, &a[i]),
			     0);
	}
	rx.expect = 3;
	rx.peer = s;
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(o.n, 5);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(o.seen[i], i, "callback %d was send %d", i, o.seen[i]);
		cr_assert_eq(o.status[i], i == 1 || i == 3 ? -EMSGSIZE : 0, "send %d", i);
	}
	cr_assert_eq(rx.messages, 3);
	cr_assert_eq(udg_loop_close(loop), 0);
}
