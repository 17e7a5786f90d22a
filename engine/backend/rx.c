/* engine/backend/rx.c — the receive side every backend shares: the socket options that make
 * the kernel attach control messages to a read (receive metadata: ECN codepoint, destination
 * address and interface; UDP_GRO's segment size), the one parser for them, and the delivery of
 * a read to the owner, which splits a GRO train into one message per datagram. A socket with
 * no control messages pays one branch here; the parser copies a few bytes and never calls out.
 */
#include <string.h>

#include "backend.h"

/* The control room (a multiple of CMSG_SPACE) the `meta` flags need; 0 for none. IPv6 sizes,
 * the larger of each pair; a dual-stack udp6 socket receiving IPv4 gets IP_TOS (smaller than
 * IPV6_TCLASS) and an IPv6-level pktinfo with a v4-mapped address. */
static unsigned rmeta_space(unsigned meta)
{
	unsigned n = 0;
	if (meta & UDG_META_ECN)
		n += CMSG_SPACE(sizeof(int)); /* IPV6_TCLASS (IP_TOS is one byte) */
	if (meta & UDG_META_PKTINFO)
		n += CMSG_SPACE(sizeof(struct in6_pktinfo));
	return n;
}

static int on(int fd, int level, int name)
{
	int one = 1;
	return setsockopt(fd, level, name, &one, sizeof(one)) == 0 ? 0 : -errno;
}

static int rmeta_enable(int fd, int family, unsigned meta)
{
	int r = 0;
	bool v6 = family == AF_INET6;

	if (meta & UDG_META_ECN) {
		r = v6 ? on(fd, IPPROTO_IPV6, IPV6_RECVTCLASS) : on(fd, IPPROTO_IP, IP_RECVTOS);
		/* A udp6 socket reports IPv4 datagrams' TOS only when asked at the IPv4 level;
		 * a v6-only socket may refuse that, and then never sees IPv4 anyway. */
		if (r == 0 && v6)
			(void)on(fd, IPPROTO_IP, IP_RECVTOS);
	}
	/* A dual-stack udp6 socket reports IPv4 datagrams at the IPv6 level too (v4-mapped). */
	if (r == 0 && (meta & UDG_META_PKTINFO))
		r = v6 ? on(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO) : on(fd, IPPROTO_IP, IP_PKTINFO);
	return r;
}

int udg__io_rx_open(struct udg__io *io, int fd, int family, bool gro)
{
	int r = io->rmeta ? rmeta_enable(fd, family, io->rmeta) : 0;

	if (r != 0)
		return r;
	io->rx_ctrl = rmeta_space(io->rmeta);
	assert(io->rx_ctrl <= UDG__RMETA_SPACE_MAX);
	/* Only where every buffer holds a whole train: a train cut by a short buffer loses
	 * the datagrams past the cut, which one datagram per read would have kept. */
	if (gro && io->loop->bk->gro && on(fd, SOL_UDP, UDP_GRO) == 0)
		io->rx_ctrl += UDG__GRO_CTRL;
	return 0;
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

static void cmsg_take(struct udg__rmeta *m, const struct cmsghdr *c)
{
	const unsigned char *data = CMSG_DATA(c);
	size_t len = c->cmsg_len - CMSG_LEN(0);
	int v;

	if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && len >= sizeof(int)) {
		memcpy(&v, data, sizeof(v));
		m->gro_size = v > 0 ? v : 0;
	} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && len >= 1) {
		m->ecn = data[0] & 3;
		m->meta |= UDG_META_ECN;
	} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS &&
		   len >= sizeof(int)) {
		memcpy(&v, data, sizeof(v));
		m->ecn = v & 3;
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
	}
}

void udg__rmeta_parse(struct udg__rmeta *m, const void *ctrl, size_t ctrl_len)
{
	union {
		struct cmsghdr align;
		unsigned char b[UDG__RX_CTRL_MAX];
	} copy;

	*m = (struct udg__rmeta){ 0 };
	if (ctrl_len > sizeof(copy.b))
		ctrl_len = sizeof(copy.b); /* more than we asked for: the rest is not ours */
	memcpy(copy.b, ctrl, ctrl_len);
	/* glibc's CMSG_NXTHDR checks each header against msg_controllen. */
	struct msghdr mh = { .msg_control = copy.b, .msg_controllen = ctrl_len };
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		/* Neither macro checks that this message's own data is inside the block. */
		size_t left = ctrl_len - (size_t)((unsigned char *)c - copy.b);
		if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > left)
			break;
		cmsg_take(m, c);
	}
}

/* A train: one message per gro_size bytes (the last may be shorter), all with the train's
 * rinfo; a datagram the buffer cut is delivered truncated, those past the cut are lost. */
static void split(struct udg__io *io, udg_rinfo *rinfo, const unsigned char *payload, size_t avail,
		  size_t seg)
{
	udg_loop *loop = io->loop;
	size_t size = rinfo->size, off = 0;
	uint64_t n = 0;

	loop->stats.gro_trains++;
	while (off < size && io->recv_want) {
		size_t len = size - off < seg ? size - off : seg;
		if (off >= avail) {
			loop->stats.recv_truncated += (size - off + seg - 1) / seg;
			break;
		}
		size_t have = avail - off < len ? avail - off : len;
		rinfo->size = len;
		rinfo->truncated = have < len;
		if (UDG__UNLIKELY(rinfo->truncated))
			loop->stats.recv_truncated++;
		n++;
		io->h->message(io, payload + off, have, rinfo);
		off += len;
	}
	loop->stats.gro_datagrams += n;
}

void udg__io_deliver(struct udg__io *io, udg_rinfo *rinfo, const unsigned char *payload,
		     size_t avail, const void *ctrl, size_t ctrl_len)
{
	struct udg__rmeta m; /* rinfo points into it during the upcalls */

	if (UDG__UNLIKELY(ctrl_len != 0)) {
		udg__rmeta_parse(&m, ctrl, ctrl_len);
		rinfo->meta = m.meta;
		rinfo->ecn = m.ecn;
		rinfo->ifindex = m.ifindex;
		if (m.dst_len) {
			rinfo->dst_addr = &m.dst.sa;
			rinfo->dst_addrlen = m.dst_len;
		}
		if (m.gro_size > 0 && (size_t)m.gro_size < rinfo->size) {
			split(io, rinfo, payload, avail, (size_t)m.gro_size);
			return;
		}
	}
	if (UDG__UNLIKELY(rinfo->truncated))
		io->loop->stats.recv_truncated++;
	io->h->message(io, payload, avail, rinfo);
}
