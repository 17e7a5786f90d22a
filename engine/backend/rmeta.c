/* engine/backend/rmeta.c — receive metadata, the same on every backend: the socket options that
 * make the kernel attach control messages to each datagram (ECN codepoint, destination address
 * and interface, the receive-queue drop count), the control room they take, and the one parser
 * both backends feed each datagram's control messages to. Only sockets that opted in pay for
 * it; the parser is on their hot path, so it copies a few bytes and never calls out. */
#include <string.h>

#include "backend.h"

/* IPv6 sizes, the larger of each pair; a udp6 socket receiving IPv4 gets IPv6-level messages. */
unsigned udg__rmeta_space(unsigned meta)
{
	unsigned n = 0;
	if (meta & UDG_META_ECN)
		n += CMSG_SPACE(sizeof(int)); /* IPV6_TCLASS (IP_TOS is one byte) */
	if (meta & UDG_META_PKTINFO)
		n += CMSG_SPACE(sizeof(struct in6_pktinfo));
	if (meta & UDG_META_DROPS)
		n += CMSG_SPACE(sizeof(uint32_t));
	return n;
}

static int on(int fd, int level, int name)
{
	int one = 1;
	return setsockopt(fd, level, name, &one, sizeof(one)) == 0 ? 0 : -errno;
}

int udg__rmeta_enable(int fd, int family, unsigned meta)
{
	int r = 0;
	bool v6 = family == AF_INET6;

	if (meta & UDG_META_ECN)
		r = v6 ? on(fd, IPPROTO_IPV6, IPV6_RECVTCLASS) : on(fd, IPPROTO_IP, IP_RECVTOS);
	/* A dual-stack udp6 socket reports IPv4 datagrams at the IPv6 level too (v4-mapped). */
	if (r == 0 && (meta & UDG_META_PKTINFO))
		r = v6 ? on(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO) : on(fd, IPPROTO_IP, IP_PKTINFO);
	if (r == 0 && (meta & UDG_META_DROPS))
		r = on(fd, SOL_SOCKET, SO_RXQ_OVFL);
	return r;
}

/* Control data may sit unaligned in a receive buffer: read it by copying. */
static void dst4(struct udg__rmeta *m, const struct in_pktinfo *pi)
{
	m->dst.in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr = pi->ipi_addr };
	m->dst_len = sizeof(m->dst.in);
	m->ifindex = pi->ipi_ifindex;
	m->meta |= UDG_META_PKTINFO;
}

static void dst6(struct udg__rmeta *m, const struct in6_pktinfo *pi)
{
	m->dst.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_addr = pi->ipi6_addr };
	/* A link-local destination is only meaningful with its interface. */
	if (IN6_IS_ADDR_LINKLOCAL(&pi->ipi6_addr))
		m->dst.in6.sin6_scope_id = pi->ipi6_ifindex;
	m->dst_len = sizeof(m->dst.in6);
	m->ifindex = (int)pi->ipi6_ifindex;
	m->meta |= UDG_META_PKTINFO;
}

void udg__rmeta_cmsg(struct udg__rmeta *m, const struct cmsghdr *c)
{
	const unsigned char *data = CMSG_DATA(c);
	size_t len = c->cmsg_len - CMSG_LEN(0);

	if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && len >= 1) {
		m->ecn = data[0] & 3;
		m->meta |= UDG_META_ECN;
	} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS &&
		   len >= sizeof(int)) {
		int tclass;
		memcpy(&tclass, data, sizeof(tclass));
		m->ecn = tclass & 3;
		m->meta |= UDG_META_ECN;
	} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		   len >= sizeof(struct in_pktinfo)) {
		struct in_pktinfo pi;
		memcpy(&pi, data, sizeof(pi));
		dst4(m, &pi);
	} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
		   len >= sizeof(struct in6_pktinfo)) {
		struct in6_pktinfo pi;
		memcpy(&pi, data, sizeof(pi));
		dst6(m, &pi);
	} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
		   len >= sizeof(uint32_t)) {
		memcpy(&m->drops, data, sizeof(m->drops));
		m->has_drops = true;
	}
}

void udg__rmeta_finish(struct udg__io *io, struct udg__rmeta *m, udg_rinfo *rinfo)
{
	rinfo->meta = m->meta;
	rinfo->ecn = m->ecn;
	rinfo->ifindex = m->ifindex;
	if (m->dst_len) {
		rinfo->dst_addr = &m->dst.sa;
		rinfo->dst_addrlen = m->dst_len;
	}
	/* The kernel's count is cumulative (32 bits, wrapping) and comes only with datagrams
	 * queued after a drop: count what it grew by since the last one. */
	if (m->has_drops) {
		uint32_t delta = m->drops - io->rx_drops;
		if (delta != 0 && delta < 0x80000000u) {
			io->rx_drops = m->drops;
			io->kernel_drops += delta;
			io->loop->stats.kernel_drops += delta;
		}
	}
}
