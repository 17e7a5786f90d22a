/* engine/dgram/meta.c — the udg extensions a QUIC, DNS or media server needs beside Node's API:
 * receive metadata switched on per socket (the backends parse it, backend/rmeta.c), the
 * control messages of a send with metadata (ECN codepoint, source address and interface),
 * path MTU discovery, and the per-socket and per-loop counters (the kernel's drops, read on
 * demand). Only udg_socket_send_msg's checks and control-message building run per datagram;
 * the rest is cold. */
#include <errno.h>
#include <string.h>
#include <linux/sock_diag.h>

#include "dgram.h"

/* ---- Receive ------------------------------------------------------------------------------ */

int udg__socket_meta_open(udg_socket *s)
{
	/* UDG_META_DROPS is accepted and asks for nothing: the stats read the kernel's count on
	 * demand (below), so SO_RXQ_OVFL would only cost every datagram control-message room. */
	s->io.rmeta = s->opts.metadata & ~(unsigned)UDG_META_DROPS;
	int saved = errno;
	int r = udg__io_rx_open(&s->io, s->fd, s->family, !(s->opts.offload & UDG_OFFLOAD_NO_GRO));
	errno = saved;
	return r;
}

/* ---- Counters ------------------------------------------------------------------------------ */

/* The kernel's sk_drops: datagrams it dropped for this socket, nearly always because the receive
 * queue was full (also a bad checksum or a socket filter). The same counter SO_RXQ_OVFL attaches
 * to datagrams and /proc/net/udp shows as "drops", read here with SO_MEMINFO (Linux 4.12) at no
 * cost per datagram. It is 32 bits and wraps: each read adds what it grew by since the last. */
uint64_t udg__socket_drops_read(udg_socket *s)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	if (s->fd >= 0 && getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof(mem[0])) {
		s->io.kernel_drops += (uint32_t)(mem[SK_MEMINFO_DROPS] - s->io.rx_drops);
		s->io.rx_drops = mem[SK_MEMINFO_DROPS];
	}
	return s->io.kernel_drops;
}

/* The count changes in the kernel, not in the socket: reading it updates the unwrapped copy,
 * so the const of the public signature is cast away (no socket is ever const itself). */
UDG_EXPORT int udg_socket_stats_get(const udg_socket *s, udg_socket_stats *out)
{
	UDG__PRESERVE_ERRNO;
	if (!s || !out)
		return UDG_ERR_INVALID_ARG_TYPE;
	*out = (udg_socket_stats){
		.datagrams_received = s->datagrams_received,
		.kernel_drops = udg__socket_drops_read((udg_socket *)s),
	};
	return 0;
}

/* One getsockopt per live socket: the loop's counter costs nothing until someone reads it. */
void udg__dgram_stats(const udg_loop *loop, udg_loop_stats *out)
{
	UDG__PRESERVE_ERRNO;
	struct udg__dgram_loop *d = udg__dgram_of(loop);
	uint64_t drops = d->closed_drops;

	for (struct udg__list *n = d->sockets.next; n != &d->sockets; n = n->next)
		drops += udg__socket_drops_read(UDG__CONTAINER_OF(n, udg_socket, link));
	out->kernel_drops = drops;
}

/* ---- Send ----------------------------------------------------------------------------------- */

int udg__send_meta_check(const udg_socket *s, const udg_send_meta *m)
{
	if (!m)
		return 0;
	if (m->flags & ~(unsigned)(UDG_META_ECN | UDG_META_PKTINFO))
		return UDG_ERR_INVALID_ARG_VALUE;
	/* Metadata is a per-socket opt-in in both directions. */
	if (m->flags & ~s->opts.metadata)
		return UDG_ERR_INVALID_ARG_VALUE;
	if ((m->flags & UDG_META_ECN) && (m->ecn < 0 || m->ecn > 3))
		return UDG_ERR_OUT_OF_RANGE;
	if ((m->flags & UDG_META_PKTINFO) && m->ifindex < 0)
		return UDG_ERR_OUT_OF_RANGE;
	if ((m->flags & UDG_META_PKTINFO) && m->src_addr) {
		socklen_t need = s->family == AF_INET ? sizeof(struct sockaddr_in)
						      : sizeof(struct sockaddr_in6);
		if (m->src_addr->sa_family != s->family || m->src_addrlen < need)
			return -EINVAL;
	}
	return 0;
}

static unsigned char *put(struct msghdr *msg, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *c =
		(struct cmsghdr *)(void *)((unsigned char *)msg->msg_control + msg->msg_controllen);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	msg->msg_controllen += CMSG_SPACE(len);
	return CMSG_DATA(c);
}

static void pktinfo(struct msghdr *msg, int family, const udg_send_meta *m)
{
	if (family == AF_INET) {
		struct in_pktinfo pi = { .ipi_ifindex = m->ifindex };
		if (m->src_addr)
			pi.ipi_spec_dst = ((const struct sockaddr_in *)m->src_addr)->sin_addr;
		put(msg, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
		return;
	}
	struct in6_pktinfo pi = { .ipi6_ifindex = (unsigned)m->ifindex };
	if (m->src_addr)
		pi.ipi6_addr = ((const struct sockaddr_in6 *)m->src_addr)->sin6_addr;
	put(msg, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
}

void udg__send_meta_fill(struct udg__send *slot, int family, const udg_send_meta *m)
{
	struct msghdr *msg = &slot->tx.msg;

	if (!m || !m->flags)
		return;
	_Static_assert(2 * CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) <=
			       UDG__TX_CTRL_MAX,
		       "a send's control block fits its slot");
	msg->msg_control = slot->ctrl.b;
	msg->msg_controllen = 0;
	if (m->flags & UDG_META_ECN) {
		int tos = m->ecn;
		/* A udp6 socket sends to IPv4 (v4-mapped) destinations through the IPv4 path,
		 * which reads only IPv4-level messages; the IPv6 path ignores those. */
		put(msg, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
		if (family == AF_INET6)
			put(msg, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
	}
	if (m->flags & UDG_META_PKTINFO)
		pktinfo(msg, family, m);
}

/* ---- Path MTU ------------------------------------------------------------------------------- */

UDG_EXPORT int udg_socket_set_mtu_discover(udg_socket *s, udg_pmtud mode)
{
	static const int v4[] = { [UDG_PMTUD_WANT] = IP_PMTUDISC_WANT,
				  [UDG_PMTUD_DONT] = IP_PMTUDISC_DONT,
				  [UDG_PMTUD_DO] = IP_PMTUDISC_DO,
				  [UDG_PMTUD_PROBE] = IP_PMTUDISC_PROBE };
	static const int v6[] = { [UDG_PMTUD_WANT] = IPV6_PMTUDISC_WANT,
				  [UDG_PMTUD_DONT] = IPV6_PMTUDISC_DONT,
				  [UDG_PMTUD_DO] = IPV6_PMTUDISC_DO,
				  [UDG_PMTUD_PROBE] = IPV6_PMTUDISC_PROBE };
	UDG__PRESERVE_ERRNO;
	int r = udg__socket_check(s);
	if (r)
		return r;
	if ((unsigned)mode > UDG_PMTUD_PROBE)
		return UDG_ERR_OUT_OF_RANGE;
	if (s->fd < 0)
		return -EBADF;
	int v = v4[mode];
	if (s->family == AF_INET)
		return setsockopt(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)) == 0 ? 0
											  : -errno;
	int w = v6[mode];
	if (setsockopt(s->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &w, sizeof(w)) != 0)
		return -errno;
	/* A dual-stack socket's IPv4 traffic follows the IPv4 option: best effort. */
	(void)setsockopt(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	return 0;
}

UDG_EXPORT int udg_socket_get_mtu(udg_socket *s, int *out)
{
	UDG__PRESERVE_ERRNO;
	if (!out)
		return UDG_ERR_INVALID_ARG_TYPE;
	int r = udg__socket_check(s);
	if (r)
		return r;
	if (s->conn_state != UDG__CONNECTED)
		return UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED;
	int mtu = 0;
	socklen_t len = sizeof(mtu);
	if (s->family == AF_INET)
		r = getsockopt(s->fd, IPPROTO_IP, IP_MTU, &mtu, &len);
	else
		r = getsockopt(s->fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &len);
	if (r != 0)
		return -errno;
	*out = mtu;
	return 0;
}
