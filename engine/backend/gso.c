/* engine/backend/gso.c — UDP GSO beneath the per-datagram send: which queued sends can leave
 * as one UDP_SEGMENT sendmsg (a train), building its header without copying a payload byte, what
 * a failed train means, and the once-per-loop probe of the kernel's segment limit. Shared by
 * both backends; no syscalls except in the probe, no allocation. */
#include <errno.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

/* Debian 12's headers know UDP_SEGMENT (4.18); keep the build independent of them anyway. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* The payload one train may carry. The kernel allows 65507 bytes over IPv4 (65535 less the IP
 * and UDP headers) and 65527 over IPv6; one bound for both keeps trains family-blind. */
#define TRAIN_BYTES_MAX 65507u
/* The segment limit of kernels 4.18 to 6.x (UDP_MAX_SEGMENTS); newer ones take 128. */
#define SEGS_OLD 64u
#define SEGS_NEW 128u

static bool same_dest(const struct msghdr *a, const struct msghdr *b)
{
	return a->msg_namelen == b->msg_namelen &&
	       (a->msg_namelen == 0 || memcmp(a->msg_name, b->msg_name, a->msg_namelen) == 0) &&
	       a->msg_controllen == b->msg_controllen &&
	       (a->msg_controllen == 0 ||
		memcmp(a->msg_control, b->msg_control, a->msg_controllen) == 0);
}

unsigned udg__io_train(const struct udg__io *io, const struct udg__tx *first, unsigned iov_room,
		       unsigned *iovs)
{
	unsigned max = io->loop->bk->gso_segs;
	size_t seg = first->len, total = first->len;
	unsigned n = 1;

	*iovs = (unsigned)first->msg.msg_iovlen;
	if (!io->gso || max < 2 || seg == 0 || first->status < 0 || *iovs > iov_room)
		return 1;
	for (const struct udg__qnode *q = first->node.next; q && n < max; q = q->next) {
		const struct udg__tx *tx = UDG__CONTAINER_OF(q, struct udg__tx, node);
		/* Equal sizes, the last may be shorter: a shorter one ends the train. */
		if (tx->status < 0 || tx->len == 0 || tx->len > seg ||
		    total + tx->len > TRAIN_BYTES_MAX ||
		    *iovs + (unsigned)tx->msg.msg_iovlen > iov_room ||
		    !same_dest(&first->msg, &tx->msg))
			break;
		*iovs += (unsigned)tx->msg.msg_iovlen;
		total += tx->len;
		n++;
		if (tx->len < seg)
			break;
	}
	return n;
}

void udg__train_fill(struct udg__train *t, const struct udg__tx *first, unsigned n)
{
	const struct udg__tx *tx = first;
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		for (size_t j = 0; j < tx->msg.msg_iovlen; j++)
			t->iov[k++] = tx->msg.msg_iov[j];
		if (i + 1 < n)
			tx = UDG__CONTAINER_OF(tx->node.next, struct udg__tx, node);
	}
	/* The datagrams' own control messages (all equal), then the segment size. */
	size_t own = first->msg.msg_controllen;
	assert(own <= UDG__TX_CTRL_MAX);
	if (own)
		memcpy(t->ctrl.b, first->msg.msg_control, own);
	t->msg = (struct msghdr){
		.msg_name = first->msg.msg_name,
		.msg_namelen = first->msg.msg_namelen,
		.msg_iov = t->iov,
		.msg_iovlen = k,
		.msg_control = t->ctrl.b,
		.msg_controllen = own + CMSG_SPACE(sizeof(uint16_t)),
	};
	struct cmsghdr *c = (struct cmsghdr *)(void *)(t->ctrl.b + own);
	memset(c, 0, CMSG_SPACE(sizeof(uint16_t))); /* the padding goes to the kernel too */
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	uint16_t size = (uint16_t)first->len;
	memcpy(CMSG_DATA(c), &size, sizeof(size));
}

bool udg__io_train_failed(struct udg__io *io, int err)
{
	/* EIO: the route's device cannot checksum (the kernel refuses GSO without it); EINVAL:
	 * a kernel without UDP_SEGMENT, or a segment over the route's MTU; EMSGSIZE: the train
	 * exceeds what the path takes; EOPNOTSUPP/ENOPROTOOPT: not for this socket. A socket
	 * with UDP checksums off (SO_NO_CHECK) gets EINVAL, and IPsec EIO. Each datagram may
	 * still go through alone. */
	bool fallback = err == -EIO || err == -EINVAL || err == -EMSGSIZE || err == -EOPNOTSUPP ||
			err == -ENOPROTOOPT;
	if (fallback) {
		io->gso = false;
		io->loop->stats.gso_fallbacks++;
	}
	return fallback;
}

/* One send of n 1-byte segments to ourselves: accepted when the kernel's limit is >= n. */
static bool segs_accepted(int fd, const struct sockaddr_in *self, unsigned n)
{
	static const unsigned char bytes[SEGS_NEW + 1];
	union {
		struct cmsghdr align;
		unsigned char b[CMSG_SPACE(sizeof(uint16_t))];
	} ctrl = { 0 };
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = n };
	struct msghdr m = {
		.msg_name = (void *)self,
		.msg_namelen = sizeof(*self),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl.b,
		.msg_controllen = sizeof(ctrl.b),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	uint16_t one = 1;
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(one));
	memcpy(CMSG_DATA(c), &one, sizeof(one));
	return sendmsg(fd, &m, MSG_DONTWAIT) == (ssize_t)n;
}

void udg__gso_probe(udg_loop *loop)
{
	struct sockaddr_in self = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(self);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	loop->bk->gso_segs = 0;
	if (fd < 0) {
		loop->bk->gro = false;
		return;
	}
	/* GRO (5.0) as well: the backend said whether its buffers hold a train, the kernel says
	 * whether it has the option. */
	int one = 1;
	if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) != 0)
		loop->bk->gro = false;
	/* A kernel without UDP_SEGMENT refuses the option: no GSO at all. */
	int size = 1;
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof(size)) != 0) {
		close(fd);
		return;
	}
	/* Without a loopback to send to (a bare network namespace) assume the old limit, which
	 * every kernel with UDP_SEGMENT accepts. */
	loop->bk->gso_segs = SEGS_OLD;
	if (bind(fd, (struct sockaddr *)&self, sizeof(self)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&self, &len) == 0 &&
	    segs_accepted(fd, &self, SEGS_OLD + 1))
		loop->bk->gso_segs = SEGS_NEW;
	close(fd);
}
