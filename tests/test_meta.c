/* tests/test_meta.c — datagram metadata (udg extension): the ECN codepoint, destination
 * address and interface a receiver opted into, source address and ECN chosen per send, the
 * kernel's receive-queue drop count in socket and loop stats, path MTU discovery, and the
 * errors for bad input. Real sockets on loopback, both families, ephemeral ports. */
#include <criterion/criterion.h>
#include <errno.h>
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
};

static void keep_meta(udg_socket *s, struct ev *e)
{
	struct seen *m = e->ctx;
	(void)s;
	m->meta = e->rinfo.meta;
	m->ecn = e->rinfo.ecn;
	m->ifindex = e->rinfo.ifindex;
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

/* Metadata takes room in every receive buffer, by the same amount on every backend. */
Test(meta, metadata_room_truncates_the_same_on_every_backend)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.recv_buf_size = 512;
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
	/* 512 - 16 (header) - 32 (address, padded) - 88 (tclass 24, pktinfo 40, drops 24) */
	cr_assert_eq(er.len, 512 - 16 - 32 - 88);
	cr_assert_eq(m.meta, UDG_META_ECN | UDG_META_PKTINFO);
	close_all(loop, s, 2);
}

/* A receiver with the smallest receive queue, flooded while its loop does not run: the kernel
 * drops most of the burst and says so with the next datagram that gets through. */
Test(meta, kernel_drops_are_counted_when_a_stalled_receiver_is_flooded)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 };
	struct seen m = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.metadata = UDG_META_DROPS;
	o.recv_buffer_size = 1; /* the kernel's minimum */
	er.ctx = &m;
	udg_socket *s[1] = { new_socket_opts(loop, &o, &er) };
	int port = bind_port(s[0], "127.0.0.1");

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	static char payload[1000];
	struct iovec iov = { payload, sizeof(payload) };
	struct mmsghdr msgs[64];
	for (int i = 0; i < 64; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &to,
							 .msg_namelen = sizeof(to),
							 .msg_iov = &iov,
							 .msg_iovlen = 1 } };
	cr_assert_eq(sendmmsg(fd, msgs, 64, 0), 64);
	RUN_UNTIL(loop, er.message >= 1);
	udg_socket_stats st;
	cr_assert_eq(udg_socket_stats_get(s[0], &st), 0);
	/* The count comes with a datagram queued after the drops: send one more. */
	int before = er.message;
	cr_assert_eq(sendto(fd, "late", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	RUN_UNTIL(loop, er.message > before && er.len == 4);
	cr_assert_eq(udg_socket_stats_get(s[0], &st), 0);
	cr_assert_gt(st.kernel_drops, 0, "the flood overflowed a minimal receive queue");
	cr_assert_lt(st.kernel_drops, 64);
	cr_assert_eq(st.datagrams_received, (uint64_t)er.message);
	cr_assert_eq(st.kernel_drops + st.datagrams_received, 65, "every datagram accounted for");
	udg_loop_stats ls;
	udg_loop_stats_get(loop, &ls);
	cr_assert_eq(ls.kernel_drops, st.kernel_drops);
	close(fd);
	close_all(loop, s, 1);
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
