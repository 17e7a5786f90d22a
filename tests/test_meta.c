/* tests/test_meta.c — datagram metadata (udg extension): the ECN codepoint, destination
 * address and interface a receiver opted into, source address and ECN chosen per send, path
 * MTU discovery, and the errors for bad input (the kernel's drop count is in test_drops.c).
 * Real sockets on loopback, both families, ephemeral ports; the path MTU tests run in a
 * network namespace of their own whose loopback has a 1280-byte MTU. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "udg.h"
#include "support.h"

/* What the last datagram's metadata said, copied inside the callback (rinfo is lent). */
struct seen {
	unsigned meta;
	int ecn;
	int ifindex;
	bool has_dst;
	char dst[UDG_ADDRSTRLEN];
	int dst_port;
	int ecns[8]; /* the codepoint of each of the first datagrams, in arrival order */
	int n;
};

static void keep_meta(udg_socket *s, struct ev *e)
{
	struct seen *m = e->ctx;
	(void)s;
	m->meta = e->rinfo.meta;
	m->ecn = e->rinfo.ecn;
	m->ifindex = e->rinfo.ifindex;
	if (m->n < 8)
		m->ecns[m->n++] = m->ecn;
	m->has_dst = e->rinfo.dst_addr != NULL;
	if (m->has_dst) {
		cr_assert_gt(udg_format_address(e->rinfo.dst_addr, e->rinfo.dst_addrlen, m->dst,
						sizeof(m->dst)),
			     0);
		m->dst_port = ntohs(((const struct sockaddr_in *)e->rinfo.dst_addr)->sin_port);
	}
}

static udg_socket *meta_socket(udg_loop *loop, udg_socket_type type, unsigned meta, struct ev *e,
			       struct seen *m)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.metadata = meta;
	e->ctx = m;
	e->after_message = keep_meta;
	return new_socket_opts(loop, &o, e);
}

/* The sender's TOS / traffic class byte, set with a plain socket option. */
static void set_tos(udg_socket *s, int family, int tos)
{
	int fd = udg_socket_fd(s);
	cr_assert_geq(fd, 0);
	if (family == AF_INET)
		cr_assert_eq(setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)), 0);
	else
		cr_assert_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos)), 0);
}

static void ecn_received(udg_socket_type type, const char *lo)
{
	int family = type == UDG_UDP4 ? AF_INET : AF_INET6;
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 };
	udg_socket *s[2] = { meta_socket(loop, type, UDG_META_ECN, &er, &m),
			     new_socket(loop, type, &es) };
	int port = bind_port(s[0], lo);
	bind_port(s[1], lo);

	for (int ecn = 0; ecn <= 3; ecn++) {
		/* DSCP bits set too: only the low two bits are the ECN codepoint. */
		set_tos(s[1], family, 0x20 | ecn);
		cr_assert_eq(udg_socket_send(s[1], "x", 1, port, lo, NULL, NULL), 0);
		RUN_UNTIL(loop, er.message == ecn + 1);
		cr_assert_eq(m.meta, UDG_META_ECN, "only the metadata asked for");
		cr_assert_eq(m.ecn, ecn);
		cr_assert_not(m.has_dst);
	}
	close_all(loop, s, 2);
}

Test(meta, ecn_codepoint_of_each_ipv4_datagram_is_received)
{
	ecn_received(UDG_UDP4, "127.0.0.1");
}

Test(meta, ecn_codepoint_of_each_ipv6_datagram_is_received)
{
	ecn_received(UDG_UDP6, "::1");
}

/* A dual-stack udp6 socket hears IPv4 senders too: their codepoint arrives as well. */
Test(meta, a_dual_stack_socket_receives_the_ecn_codepoint_of_ipv4_datagrams)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 };
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP6, UDG_META_ECN, &er, &m),
			     new_socket(loop, UDG_UDP4, &es) };
	int port = bind_port(s[0], "::");
	bind_port(s[1], "127.0.0.1");
	for (int ecn = 1; ecn <= 3; ecn++) {
		set_tos(s[1], AF_INET, 0x20 | ecn);
		cr_assert_eq(udg_socket_send(s[1], "x", 1, port, "127.0.0.1", NULL, NULL), 0);
		RUN_UNTIL(loop, er.message == ecn);
		cr_assert_eq(m.meta, UDG_META_ECN);
		cr_assert_eq(m.ecn, ecn);
	}
	close_all(loop, s, 2);
}

Test(meta, a_socket_without_metadata_gets_none)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { .meta = 99 };
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP4, 0, &er, &m),
			     new_socket(loop, UDG_UDP4, &es) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "127.0.0.1");
	set_tos(s[1], AF_INET, 3);
	cr_assert_eq(udg_socket_send(s[1], "x", 1, port, "127.0.0.1", NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(m.meta, 0);
	cr_assert_eq(m.ecn, 0);
	cr_assert_eq(m.ifindex, 0);
	cr_assert_not(m.has_dst);
	cr_assert_eq(er.len, 1);
	close_all(loop, s, 2);
}

Test(meta, a_wildcard_bound_ipv4_socket_sees_each_destination_address)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 };
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP4, UDG_META_PKTINFO | UDG_META_ECN, &er, &m),
			     new_socket(loop, UDG_UDP4, &es) };
	int port = bind_port(s[0], NULL);
	bind_port(s[1], NULL);
	const char *dsts[] = { "127.0.0.1", "127.0.0.2", "127.0.0.1" };

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(udg_socket_send(s[1], "dst", 3, port, dsts[i], NULL, NULL), 0);
		RUN_UNTIL(loop, er.message == i + 1);
		cr_assert_eq(m.meta, UDG_META_PKTINFO | UDG_META_ECN);
		cr_assert(m.has_dst);
		cr_assert_str_eq(m.dst, dsts[i]);
		cr_assert_eq(m.dst_port, 0);
		cr_assert_eq(m.ifindex, (int)if_nametoindex("lo"));
		cr_assert_eq(er.len, 3);
	}
	close_all(loop, s, 2);
}

Test(meta, a_wildcard_bound_ipv6_socket_sees_the_destination_address)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 };
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP6, UDG_META_PKTINFO, &er, &m),
			     new_socket(loop, UDG_UDP6, &es) };
	int port = bind_port(s[0], NULL);
	bind_port(s[1], NULL);
	cr_assert_eq(udg_socket_send(s[1], "dst6", 4, port, "::1", NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(m.meta, UDG_META_PKTINFO);
	cr_assert(m.has_dst);
	cr_assert_str_eq(m.dst, "::1");
	cr_assert_eq(m.ifindex, (int)if_nametoindex("lo"));
	close_all(loop, s, 2);
}

/* With fixed buffers metadata takes room in every receive buffer, by the same amount on every
 * backend. */
Test(meta, metadata_room_truncates_fixed_buffers_the_same_on_every_backend)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.recv_buf_size = 512;
	lo.flags = UDG_LOOP_FIXED_RECV_BUFFERS;
	udg_loop *loop = new_loop_opts(&lo);
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 };
	unsigned all = UDG_META_ECN | UDG_META_PKTINFO | UDG_META_DROPS;
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP6, all, &er, &m),
			     new_socket(loop, UDG_UDP6, &es) };
	int port = bind_port(s[0], "::1");
	bind_port(s[1], "::1");
	static char big[512];
	cr_assert_eq(udg_socket_send(s[1], big, sizeof(big), port, "::1", NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert(er.rinfo.truncated);
	cr_assert_eq(er.rinfo.size, 512);
	/* 512 - 16 (header) - 32 (address, padded) - 64 (tclass 24, pktinfo 40): UDG_META_DROPS
	 * takes no room, the count is read from the kernel on demand. */
	cr_assert_eq(er.len, 512 - 16 - 32 - 64);
	cr_assert_eq(m.meta, UDG_META_ECN | UDG_META_PKTINFO);
	close_all(loop, s, 2);
}

Test(meta, bad_metadata_flags_are_refused_at_creation)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket *s = NULL;
	udg_socket_options_init(&o, UDG_UDP4);
	o.metadata = 1u << 20;
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_null(s);
	udg_socket_stats st;
	cr_assert_eq(udg_socket_stats_get(NULL, &st), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- Send metadata ------------------------------------------------------------------------ */

static void addr_of(int family, const char *text, int port, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		cr_assert_eq(inet_pton(AF_INET, text, &a->sin_addr), 1);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		cr_assert_eq(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
		*len = sizeof(*a);
	}
}

static void ecn_round_trip(udg_socket_type type, const char *lo)
{
	int family = type == UDG_UDP4 ? AF_INET : AF_INET6;
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 }, unused = { 0 };
	udg_socket *s[2] = { meta_socket(loop, type, UDG_META_ECN, &er, &m),
			     meta_socket(loop, type, UDG_META_ECN, &es, &unused) };
	int port = bind_port(s[0], lo);
	bind_port(s[1], lo);
	struct sockaddr_storage to;
	socklen_t tolen;
	addr_of(family, lo, port, &to, &tolen);

	/* Each datagram its own codepoint, queued in one tick: nothing leaks between them. */
	static const int order[] = { 2, 0, 3, 1, 3 };
	for (int i = 0; i < 5; i++) {
		udg_send_meta sm = { .flags = UDG_META_ECN, .ecn = order[i] };
		udg_buf b = { "e", 1 };
		cr_assert_eq(udg_socket_send_msg(s[1], &b, 1, (struct sockaddr *)&to, tolen, &sm,
						 sent_ok_cb, &es),
			     0);
	}
	RUN_UNTIL(loop, er.message == 5);
	cr_assert_eq(m.meta, UDG_META_ECN);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(m.ecns[i], order[i], "datagram %d: ecn %d, sent %d", i, m.ecns[i],
			     order[i]);
	RUN_UNTIL(loop, es.sent_ok == 5);
	close_all(loop, s, 2);
}

/* A dual-stack udp6 socket sending to a v4-mapped address goes out as IPv4: the codepoint
 * must still be set. */
Test(meta, ecn_sent_from_a_dual_stack_socket_to_an_ipv4_peer_arrives)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 }, unused = { 0 };
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP4, UDG_META_ECN, &er, &m),
			     meta_socket(loop, UDG_UDP6, UDG_META_ECN, &es, &unused) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "::");
	struct sockaddr_storage to;
	socklen_t tolen;
	addr_of(AF_INET6, "::ffff:127.0.0.1", port, &to, &tolen);
	static const int order[] = { 3, 1, 2 };
	for (int i = 0; i < 3; i++) {
		udg_send_meta sm = { .flags = UDG_META_ECN, .ecn = order[i] };
		udg_buf b = { "m", 1 };
		cr_assert_eq(udg_socket_send_msg(s[1], &b, 1, (struct sockaddr *)&to, tolen, &sm,
						 sent_ok_cb, &es),
			     0);
	}
	RUN_UNTIL(loop, er.message == 3 && es.sent_ok == 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(m.ecns[i], order[i], "datagram %d: ecn %d, sent %d", i, m.ecns[i],
			     order[i]);
	close_all(loop, s, 2);
}

Test(meta, ecn_sent_per_datagram_round_trips_over_ipv4)
{
	ecn_round_trip(UDG_UDP4, "127.0.0.1");
}

Test(meta, ecn_sent_per_datagram_round_trips_over_ipv6)
{
	ecn_round_trip(UDG_UDP6, "::1");
}

static void source_selected(udg_socket_type type, const char *dst, const char *src)
{
	int family = type == UDG_UDP4 ? AF_INET : AF_INET6;
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 }, unused = { 0 };
	udg_socket *s[2] = { meta_socket(loop, type, UDG_META_PKTINFO, &er, &m),
			     meta_socket(loop, type, UDG_META_PKTINFO, &es, &unused) };
	int port = bind_port(s[0], NULL);
	int sport = bind_port(s[1], NULL);
	struct sockaddr_storage to, from;
	socklen_t tolen, fromlen;
	addr_of(family, dst, port, &to, &tolen);
	addr_of(family, src, 0, &from, &fromlen);

	udg_send_meta sm = { .flags = UDG_META_PKTINFO,
			     .ifindex = (int)if_nametoindex("lo"),
			     .src_addr = (struct sockaddr *)&from,
			     .src_addrlen = fromlen };
	udg_buf b = { "src", 3 };
	cr_assert_eq(udg_socket_send_msg(s[1], &b, 1, (struct sockaddr *)&to, tolen, &sm,
					 sent_ok_cb, &es),
		     0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_str_eq(er.from, src, "the receiver saw the chosen source");
	cr_assert_eq(er.from_port, sport, "from the sender's own port");
	cr_assert_str_eq(m.dst, dst);
	RUN_UNTIL(loop, es.sent_ok == 1);
	close_all(loop, s, 2);
}

Test(meta, the_source_address_chosen_per_ipv4_datagram_is_what_the_receiver_sees)
{
	source_selected(UDG_UDP4, "127.0.0.1", "127.0.0.2");
	source_selected(UDG_UDP4, "127.0.0.2", "127.0.0.3");
}

Test(meta, the_source_address_chosen_per_ipv6_datagram_is_what_the_receiver_sees)
{
	source_selected(UDG_UDP6, "::1", "::1");
}

Test(meta, a_source_address_the_host_does_not_have_fails_in_the_callback)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 }, unused = { 0 };
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP4, 0, &er, &m),
			     meta_socket(loop, UDG_UDP4, UDG_META_PKTINFO, &es, &unused) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], NULL);
	struct sockaddr_storage to, from;
	socklen_t tolen, fromlen;
	addr_of(AF_INET, "127.0.0.1", port, &to, &tolen);
	addr_of(AF_INET, "192.0.2.1", 0, &from, &fromlen);
	udg_send_meta sm = { .flags = UDG_META_PKTINFO,
			     .src_addr = (struct sockaddr *)&from,
			     .src_addrlen = fromlen };
	udg_buf b = { "no", 2 };
	cr_assert_eq(
		udg_socket_send_msg(s[1], &b, 1, (struct sockaddr *)&to, tolen, &sm, sent_cb, &es),
		0);
	cr_assert_eq(
		udg_socket_send_msg(s[1], &b, 1, (struct sockaddr *)&to, tolen, NULL, sent_cb, &es),
		0);
	RUN_UNTIL(loop, es.sent == 2 && er.message == 1);
	cr_assert_eq(es.sent_other, 1);
	cr_assert_eq(es.sent_ok, 1, "the send after it is not affected");
	close_all(loop, s, 2);
}

Test(meta, bad_send_metadata_is_refused_and_changes_nothing)
{
	udg_loop *loop = new_loop();
	struct ev e4 = { 0 }, e6 = { 0 }, ep = { 0 };
	struct seen m = { 0 };
	udg_socket *s[3] = { meta_socket(loop, UDG_UDP4, UDG_META_ECN | UDG_META_PKTINFO, &e4, &m),
			     meta_socket(loop, UDG_UDP6, UDG_META_PKTINFO, &e6, &m),
			     new_socket(loop, UDG_UDP4, &ep) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "::1");
	bind_port(s[2], "127.0.0.1");
	struct sockaddr_storage to4, to6, a4, a6;
	socklen_t l4, l6, la4, la6;
	addr_of(AF_INET, "127.0.0.1", port, &to4, &l4);
	addr_of(AF_INET6, "::1", port, &to6, &l6);
	addr_of(AF_INET, "127.0.0.1", 0, &a4, &la4);
	addr_of(AF_INET6, "::1", 0, &a6, &la6);
	udg_buf b = { "x", 1 };
	struct sockaddr *t4 = (struct sockaddr *)&to4, *t6 = (struct sockaddr *)&to6;

	udg_send_meta ecn4 = { .flags = UDG_META_ECN, .ecn = 4 };
	cr_assert_eq(udg_socket_send_msg(s[0], &b, 1, t4, l4, &ecn4, NULL, NULL),
		     UDG_ERR_OUT_OF_RANGE);
	udg_send_meta ecnm = { .flags = UDG_META_ECN, .ecn = -1 };
	cr_assert_eq(udg_socket_send_msg(s[0], &b, 1, t4, l4, &ecnm, NULL, NULL),
		     UDG_ERR_OUT_OF_RANGE);
	/* An IPv6 source on a udp4 socket, and the reverse. */
	udg_send_meta src6 = { .flags = UDG_META_PKTINFO,
			       .src_addr = (struct sockaddr *)&a6,
			       .src_addrlen = la6 };
	cr_assert_eq(udg_socket_send_msg(s[0], &b, 1, t4, l4, &src6, NULL, NULL), -EINVAL);
	udg_send_meta src4 = { .flags = UDG_META_PKTINFO,
			       .src_addr = (struct sockaddr *)&a4,
			       .src_addrlen = la4 };
	cr_assert_eq(udg_socket_send_msg(s[1], &b, 1, t6, l6, &src4, NULL, NULL), -EINVAL);
	/* Metadata the socket did not enable: s[1] has no ECN, s[2] nothing. */
	udg_send_meta ecn1 = { .flags = UDG_META_ECN, .ecn = 1 };
	cr_assert_eq(udg_socket_send_msg(s[1], &b, 1, t6, l6, &ecn1, NULL, NULL),
		     UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_eq(udg_socket_send_msg(s[2], &b, 1, t4, l4, &src4, NULL, NULL),
		     UDG_ERR_INVALID_ARG_VALUE);
	udg_send_meta unknown = { .flags = UDG_META_DROPS };
	cr_assert_eq(udg_socket_send_msg(s[0], &b, 1, t4, l4, &unknown, NULL, NULL),
		     UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_eq(udg_socket_send_msg(s[0], &b, 1, NULL, 0, NULL, NULL, NULL),
		     UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_get_send_queue_count(s[0]), 0, "nothing was accepted");
	cr_assert_eq(udg_socket_get_send_queue_count(s[1]), 0);
	cr_assert_eq(udg_socket_get_send_queue_count(s[2]), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(e4.message, 0, "nothing was sent");
	close_all(loop, s, 3);
}

Test(meta, a_connected_socket_sends_metadata_without_an_address)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	struct seen m = { 0 }, unused = { 0 };
	udg_socket *s[2] = { meta_socket(loop, UDG_UDP4, UDG_META_ECN, &er, &m),
			     meta_socket(loop, UDG_UDP4, UDG_META_ECN, &es, &unused) };
	int port = bind_port(s[0], "127.0.0.1");
	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &es), 0);
	RUN_UNTIL(loop, es.cb == 1);
	cr_assert_eq(es.cb_status, 0);
	struct sockaddr_storage to;
	socklen_t tolen;
	addr_of(AF_INET, "127.0.0.1", port, &to, &tolen);
	udg_send_meta sm = { .flags = UDG_META_ECN, .ecn = 1 };
	udg_buf b = { "c", 1 };
	cr_assert_eq(
		udg_socket_send_msg(s[1], &b, 1, (struct sockaddr *)&to, tolen, &sm, NULL, NULL),
		UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_send_msg(s[1], &b, 1, NULL, 0, &sm, sent_ok_cb, &es), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(m.ecn, 1);
	RUN_UNTIL(loop, es.sent_ok == 1);
	close_all(loop, s, 2);
}

/* ---- Path MTU ----------------------------------------------------------------------------- */

/* A network namespace of this test process alone, whose loopback has a 1280-byte MTU: the
 * host's loopback (64 KiB) cannot make a UDP datagram too big, and its MTU is not ours to
 * change. Skips where namespaces are not allowed. */
static void private_loopback(int mtu)
{
	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("no network namespace here (unshare: %s)", strerror(errno));
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = mtu;
	cr_assert_eq(ioctl(fd, SIOCSIFMTU, &ifr), 0, "SIOCSIFMTU: %s", strerror(errno));
	cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS: %s", strerror(errno));
	close(fd);
}

static void status_of(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s;
	(void)bytes;
	*(int *)user = status;
}

static void df_oversize(udg_socket_type type, const char *lo, int header)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket *s[2] = { new_socket(loop, type, &er), new_socket(loop, type, &es) };
	int port = bind_port(s[0], lo);
	bind_port(s[1], lo);
	int mtu = 0;
	cr_assert_eq(udg_socket_get_mtu(s[1], &mtu), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_set_mtu_discover(s[1], (udg_pmtud)4), UDG_ERR_OUT_OF_RANGE);
	cr_assert_eq(udg_socket_set_mtu_discover(s[1], UDG_PMTUD_DO), 0);
	cr_assert_eq(udg_socket_connect(s[1], port, lo, status_cb, &es), 0);
	RUN_UNTIL(loop, es.cb == 1);
	cr_assert_eq(udg_socket_get_mtu(s[1], &mtu), 0);
	cr_assert_eq(mtu, 1280);

	static char big[1281];
	int fits = 1280 - header;
	int too_big = 1, fitting = 1;
	cr_assert_eq(udg_socket_send(s[1], big, (size_t)fits + 1, 0, NULL, status_of, &too_big), 0);
	cr_assert_eq(udg_socket_send(s[1], big, (size_t)fits, 0, NULL, status_of, &fitting), 0);
	RUN_UNTIL(loop, too_big != 1 && fitting != 1 && er.message == 1);
	cr_assert_eq(too_big, -EMSGSIZE);
	cr_assert_eq(fitting, 0, "the datagram that fits is not affected");
	cr_assert_eq(er.len, (size_t)fits);
	cr_assert_eq(er.message, 1);
	close_all(loop, s, 2);
}

Test(meta, a_dont_fragment_ipv4_datagram_over_the_path_mtu_fails_with_emsgsize)
{
	private_loopback(1280);
	df_oversize(UDG_UDP4, "127.0.0.1", 28);
}

Test(meta, a_dont_fragment_ipv6_datagram_over_the_path_mtu_fails_with_emsgsize)
{
	private_loopback(1280);
	df_oversize(UDG_UDP6, "::1", 48);
}
