/* tests/test_send.c — the send path on real loopback sockets: delivery, callbacks, ordering,
 * implicit bind, scatter-gather, validation, queue introspection, tiny rings. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "udg.h"

struct rx {
	udg_socket *sock;
	int port;
	int listening;
	int messages;
	size_t bytes;
	char last[2048];
	size_t last_len;
	udg_rinfo last_rinfo;
	char last_from[UDG_ADDRSTRLEN];
	int expect;     /* close both sockets after this many messages */
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

static void rx_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
		       void *user)
{
	struct rx *rx = user;
	rx->messages++;
	rx->bytes += len;
	memcpy(rx->last, data, len < sizeof(rx->last) ? len : sizeof(rx->last));
	rx->last_len = len;
	rx->last_rinfo = *ri;
	udg_format_address(ri->addr, ri->addrlen, rx->last_from, sizeof(rx->last_from));
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

static udg_loop *new_loop(void)
{
	udg_loop *loop;
	cr_assert_eq(udg_loop_new(NULL, &loop), 0);
	return loop;
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

struct sent {
	int calls;
	int status;
	size_t bytes;
};

static void sent_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	struct sent *st = user;
	st->calls++;
	st->status = status;
	st->bytes = bytes;
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
	struct sent st = { 0 };
	cr_assert_eq(udg_socket_send(s, "hello", 5, ra.port, "127.0.0.1", sent_cb, &st), 0);
	cr_assert_eq(st.calls, 0, "the callback never runs inside send");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(rx.listening, 1);
	cr_assert_eq(rx.messages, 1);
	cr_assert_eq(rx.last_len, 5);
	cr_assert_eq(memcmp(rx.last, "hello", 5), 0);
	cr_assert_eq(rx.last_rinfo.size, 5);
	cr_assert_not(rx.last_rinfo.truncated);
	cr_assert_str_eq(rx.last_from, "127.0.0.1");
	cr_assert_str_eq(udg_family_name(rx.last_rinfo.addr), "IPv4");
	cr_assert_eq(st.calls, 1);
	cr_assert_eq(st.status, 0);
	cr_assert_eq(st.bytes, 5);
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
	udg_buf parts[6] = { { "ab", 2 }, { "", 0 }, { "cde", 3 }, { "f", 1 }, { "gh", 2 },
			     { "ij", 2 } };
	struct sent st1 = { 0 }, st2 = { 0 };
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
	cr_assert_eq(st1.bytes, 10);
	cr_assert_eq(st2.calls, 1);
	cr_assert_eq(st2.bytes, 0);
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
	cr_assert_eq(udg_socket_send(s, buf, 1, 9, "256.1.1.1", NULL, NULL),
		     UDG_ERR_INVALID_ARG_VALUE);
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
	cr_assert_eq(udg_socket_send_to(server, "x", 1, (struct sockaddr *)&v4, sizeof(v4), NULL,
					NULL),
		     -EINVAL, "family differs from the socket's");
	struct sockaddr_in6 p0 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	cr_assert_eq(udg_socket_send_to(server, "x", 1, (struct sockaddr *)&p0, sizeof(p0), NULL,
					NULL),
		     UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_send_to(server, "x", 1, NULL, 0, NULL, NULL),
		     UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_close(server, NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(client, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}
