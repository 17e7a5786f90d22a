/* tests/test_recv.c — the receive path as 'message' events: payload and rinfo (size, port,
 * family), 0-byte datagrams, truncation against a small receive buffer (true size reported),
 * receive errors from ICMP on a connected socket, and an exhausted buffer ring (never an error).
 * Real sockets on 127.0.0.1/::1, ephemeral ports only. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "udg.h"
#include "support.h"

/* The ICMP test's reaction to the first 'error': the peer's port is free again, so take it
 * with another socket and answer the connected one. */
struct answer {
	udg_socket *sock; /* NULL once answered */
	int port;
};

static void answer_back(udg_socket *s, struct ev *e)
{
	struct answer *an = e->ctx;
	if (!an->sock)
		return;
	cr_assert_eq(udg_socket_bind(an->sock, an->port, "127.0.0.1", NULL, NULL), 0);
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), 0);
	cr_assert_eq(udg_socket_send(an->sock, "back", 4, a.port, NULL, NULL, NULL), 0);
	an->sock = NULL;
}

Test(recv, an_ipv4_datagram_arrives_with_payload_and_rinfo)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &er), new_socket(loop, UDG_UDP4, &es) };
	int port = bind_port(s[0], "127.0.0.1");
	int sport = bind_port(s[1], "127.0.0.1");

	cr_assert_eq(udg_socket_send(s[1], "payload!", 8, port, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(er.message, 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(er.len, 8);
	cr_assert_eq(memcmp(er.payload, "payload!", 8), 0);
	cr_assert_eq(er.rinfo.size, 8, "rinfo.size equals the payload length");
	cr_assert_not(er.rinfo.truncated);
	cr_assert_eq(er.rinfo.port, sport);
	cr_assert_eq(er.rinfo.addr->sa_family, AF_INET);
	cr_assert_eq(er.rinfo.addrlen, sizeof(struct sockaddr_in));
	cr_assert_str_eq(er.from, "127.0.0.1");
	cr_assert_str_eq(er.from_family, "IPv4");
	cr_assert_eq(er.error, 0);
	close_all(loop, s, 2);
}

Test(recv, an_ipv6_datagram_arrives_with_payload_and_rinfo)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP6, &er), new_socket(loop, UDG_UDP6, &es) };
	int port = bind_port(s[0], "::1");
	int sport = bind_port(s[1], "::1");

	cr_assert_eq(udg_socket_send(s[1], "six", 3, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(er.len, 3);
	cr_assert_eq(memcmp(er.payload, "six", 3), 0);
	cr_assert_eq(er.rinfo.size, 3);
	cr_assert_eq(er.rinfo.port, sport);
	cr_assert_eq(er.rinfo.addr->sa_family, AF_INET6);
	cr_assert_str_eq(er.from, "::1");
	cr_assert_str_eq(er.from_family, "IPv6");
	close_all(loop, s, 2);
}

Test(recv, a_zero_byte_datagram_is_delivered_with_length_zero)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &er), new_socket(loop, UDG_UDP4, &es) };
	int port = bind_port(s[0], "127.0.0.1");

	cr_assert_eq(udg_socket_send(s[1], NULL, 0, port, NULL, NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s[1], "after", 5, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 2);
	cr_assert_eq(er.total, 5, "the first datagram carried nothing");
	cr_assert_eq(er.len, 5, "receiving went on after the empty datagram");
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(er.message, 2);
	cr_assert_eq(er.error, 0);
	close_all(loop, s, 2);
}

static void on_first_message_zero(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
				  void *user)
{
	struct ev *e = user;
	if (e->message == 0) {
		cr_assert_eq(len, 0);
		cr_assert_eq(ri->size, 0);
		cr_assert_not(ri->truncated);
	}
	on_message(s, data, len, ri, user);
}

Test(recv, a_zero_byte_datagram_has_size_zero_in_rinfo)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP6);
	o.on_message = on_first_message_zero;
	o.user = &er;
	udg_socket *s[2] = { NULL, new_socket(loop, UDG_UDP6, &es) };
	cr_assert_eq(udg_socket_new(loop, &o, &s[0]), 0);
	int port = bind_port(s[0], "::1");

	cr_assert_eq(udg_socket_sendv(s[1], NULL, 0, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	close_all(loop, s, 2);
}

/* Records each datagram's delivered length and rinfo, with a copy of the first one's head. */
struct trunc {
	int n;
	size_t len[2];
	udg_rinfo rinfo[2];
	unsigned char head[1000];
};

static void on_message_trunc(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			     void *user)
{
	struct trunc *t = user;
	cr_assert_lt(t->n, 2);
	if (t->n == 0)
		memcpy(t->head, data, len < sizeof(t->head) ? len : sizeof(t->head));
	t->len[t->n] = len;
	t->rinfo[t->n] = *ri;
	t->n++;
}

/* A 1000-byte datagram and then a 5-byte one into a loop of 512-byte receive buffers made with
 * `flags`; returns the loop's recv_truncated after both arrived (recorded in *t). */
static uint64_t receive_1000_into_512(unsigned flags, struct trunc *t, unsigned char *big)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.recv_buf_size = 512;
	lo.flags = flags;
	udg_loop *loop = new_loop_opts(&lo);
	struct ev es = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = on_message_trunc;
	o.user = t;
	udg_socket *s[2] = { NULL, new_socket(loop, UDG_UDP4, &es) };
	cr_assert_eq(udg_socket_new(loop, &o, &s[0]), 0);
	int port = bind_port(s[0], "127.0.0.1");
	for (size_t i = 0; i < 1000; i++)
		big[i] = (unsigned char)(i * 7);

	cr_assert_eq(udg_socket_send(s[1], big, 1000, port, NULL, NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s[1], "small", 5, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, t->n == 2);
	cr_assert_not(t->rinfo[1].truncated, "the next datagram fits");
	cr_assert_eq(t->rinfo[1].size, 5);
	cr_assert_eq(t->len[1], 5);
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	close_all(loop, s, 2);
	return st.recv_truncated;
}

Test(recv, a_datagram_larger_than_a_fixed_buffer_is_truncated_with_its_true_size_and_counted)
{
	struct trunc t = { 0 };
	unsigned char big[1000];
	cr_assert_eq(receive_1000_into_512(UDG_LOOP_FIXED_RECV_BUFFERS, &t, big), 1);
	cr_assert(t.rinfo[0].truncated);
	cr_assert_eq(t.rinfo[0].size, 1000, "the true size, not the delivered one");
	cr_assert_gt(t.len[0], 0);
	cr_assert_lt(t.len[0], 1000);
	cr_assert_eq(memcmp(t.head, big, t.len[0]), 0, "the delivered part is the head");
}

/* The same loop options without the flag: the budget is the same, datagrams arrive whole. */
Test(recv, a_datagram_larger_than_recv_buf_size_arrives_whole_by_default)
{
	struct trunc t = { 0 };
	unsigned char big[1000];
	cr_assert_eq(receive_1000_into_512(0, &t, big), 0);
	cr_assert_not(t.rinfo[0].truncated);
	cr_assert_eq(t.rinfo[0].size, 1000);
	cr_assert_eq(t.len[0], 1000);
	cr_assert_eq(memcmp(t.head, big, sizeof(big)), 0);
}

Test(recv, icmp_port_unreachable_on_a_connected_socket_is_a_recvmsg_error_and_receiving_goes_on)
{
	udg_loop *loop = new_loop();
	struct ev ec = { 0 }, ep = { 0 }, ea = { 0 };
	udg_socket *s[3] = { new_socket(loop, UDG_UDP4, &ec), new_socket(loop, UDG_UDP4, &ep),
			     new_socket(loop, UDG_UDP4, &ea) };
	/* Hold a port, connect to it, then free it: datagrams to it draw ICMP port unreachable. */
	int peer_port = bind_port(s[1], "127.0.0.1");
	bind_port(s[0], "127.0.0.1");
	cr_assert_eq(udg_socket_connect(s[0], peer_port, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(s[1], NULL, NULL), 0);
	RUN_UNTIL(loop, ec.connect == 1 && ep.close == 1);
	struct answer an = { .sock = s[2], .port = peer_port };
	ec.ctx = &an;
	ec.after_error = answer_back;

	cr_assert_eq(udg_socket_send(s[0], "ping", 4, 0, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, ec.message == 1);
	cr_assert_eq(ec.error, 1);
	cr_assert_eq(ec.err.code, -ECONNREFUSED, "%s", udg_err_name(ec.err.code));
	cr_assert_str_eq(ec.err_syscall, "recvmsg");
	cr_assert_not(ec.err_has_address, "Node's recvmsg error carries no address");
	cr_assert_eq(ec.len, 4);
	cr_assert_eq(memcmp(ec.payload, "back", 4), 0, "receiving continued after the error");
	cr_assert_eq(ec.close, 0, "a receive error does not close the socket");
	udg_socket *open[2] = { s[0], s[2] };
	close_all(loop, open, 2);
}

Test(recv, an_exhausted_buffer_ring_delays_datagrams_but_loses_none)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.recv_buf_count = 4; /* far fewer buffers than datagrams in one burst */
	lo.flags = UDG_LOOP_FIXED_RECV_BUFFERS;
	udg_loop *loop = new_loop_opts(&lo);
	struct ev er = { 0 }, es = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &er), new_socket(loop, UDG_UDP4, &es) };
	int port = bind_port(s[0], "127.0.0.1");

	enum { N = 64 };
	for (uint32_t i = 0; i < N; i++)
		cr_assert_eq(udg_socket_send(s[1], &i, 4, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == N);
	cr_assert(er.in_order);
	cr_assert_eq(er.error, 0, "ENOBUFS is never reported to the user");
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	cr_assert_eq(st.datagrams_received, N);
	close_all(loop, s, 2);
}

Test(recv, datagrams_from_two_senders_carry_their_own_rinfo)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, ea = { 0 }, eb = { 0 };
	udg_socket *s[3] = { new_socket(loop, UDG_UDP4, &er), new_socket(loop, UDG_UDP4, &ea),
			     new_socket(loop, UDG_UDP4, &eb) };
	int port = bind_port(s[0], "127.0.0.1");
	int pa = bind_port(s[1], "127.0.0.1");
	int pb = bind_port(s[2], "127.0.0.1");

	cr_assert_eq(udg_socket_send(s[1], "a", 1, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(er.rinfo.port, pa);
	cr_assert_eq(er.payload[0], 'a');
	cr_assert_eq(udg_socket_send(s[2], "bb", 2, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 2);
	cr_assert_eq(er.rinfo.port, pb);
	cr_assert_eq(er.rinfo.size, 2);
	close_all(loop, s, 3);
}

/* The largest datagram of a family, received into buffers of `buf_size` bytes: returns the
 * delivered length after checking the true size. IPv4: 65535 − 20 (IP) − 8 (UDP) = 65507
 * payload bytes; IPv6: 65535 − 8 (UDP) = 65527. The buffer also holds the 16-byte recvmsg
 * header and the 28-byte source address, so they need 65551 and 65571 bytes (docs/tuning.md). */
static size_t receive_largest(udg_socket_type type, unsigned buf_size, bool fixed, bool *truncated)
{
	static unsigned char big[65527];
	size_t max = type == UDG_UDP4 ? 65507 : 65527;
	const char *lo_addr = type == UDG_UDP4 ? "127.0.0.1" : "::1";
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.recv_buf_size = buf_size;
	lo.recv_buf_count = 4;
	lo.flags = fixed ? UDG_LOOP_FIXED_RECV_BUFFERS : 0;
	udg_loop *loop = new_loop_opts(&lo);
	struct trunc t = { 0 };
	struct ev es = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.on_message = on_message_trunc;
	o.user = &t;
	udg_socket *s[2] = { NULL, new_socket(loop, type, &es) };
	cr_assert_eq(udg_socket_new(loop, &o, &s[0]), 0);
	int port = bind_port(s[0], lo_addr);

	cr_assert_eq(udg_socket_send(s[1], big, max, port, lo_addr, sent_ok_cb, &es), 0);
	RUN_UNTIL(loop, t.n == 1 && es.sent == 1);
	cr_assert_eq(t.rinfo[0].size, max);
	*truncated = t.rinfo[0].truncated;
	size_t len = t.len[0];
	close_all(loop, s, 2);
	return len;
}

Test(recv, fixed_buffers_of_65551_bytes_hold_the_largest_ipv4_datagram_and_64_kib_do_not)
{
	bool truncated;
	cr_assert_eq(receive_largest(UDG_UDP4, 65551, true, &truncated), 65507);
	cr_assert_not(truncated);
	cr_assert_eq(receive_largest(UDG_UDP4, 65550, true, &truncated), 65506);
	cr_assert(truncated);
	cr_assert_eq(receive_largest(UDG_UDP4, 65536, true, &truncated), 65492);
	cr_assert(truncated, "64 KiB buffers are 15 bytes short");
}

Test(recv, fixed_buffers_of_65571_bytes_hold_the_largest_ipv6_datagram)
{
	bool truncated;
	cr_assert_eq(receive_largest(UDG_UDP6, 65571, true, &truncated), 65527);
	cr_assert_not(truncated);
	cr_assert_eq(receive_largest(UDG_UDP6, 65570, true, &truncated), 65526);
	cr_assert(truncated);
}

/* Without the flag the default and the smallest budgets alike hold the largest datagrams. */
Test(recv, the_largest_datagrams_of_both_families_arrive_whole_by_default)
{
	bool truncated;
	cr_assert_eq(receive_largest(UDG_UDP4, 2048, false, &truncated), 65507);
	cr_assert_not(truncated);
	cr_assert_eq(receive_largest(UDG_UDP6, 2048, false, &truncated), 65527);
	cr_assert_not(truncated);
	cr_assert_eq(receive_largest(UDG_UDP6, 256, false, &truncated), 65527);
	cr_assert_not(truncated);
}
