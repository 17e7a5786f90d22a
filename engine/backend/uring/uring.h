/* engine/backend/uring/uring.h — the io_uring backend's private state, shared by its hot file
 * (uring.c: flush, wait, reap, receive and send completions) and its cold one (uring_setup.c:
 * ring creation, probes, the provided-buffer ring). The only place liburing.h is included. */
#ifndef UDG_BACKEND_URING_H
#define UDG_BACKEND_URING_H

#include <liburing.h>

#include "../backend.h"

/* The buffer group id of the loop's receive buffer ring. */
#define UDG__BGID 0

/* GSO trains in flight per loop. Each holds the sendmsg header the kernel reads (about 2.2 KB);
 * made with the loop's first train. With all of them in flight further sends go one by one
 * until one completes, so 64 bounds the memory without bounding the rate: 64 trains are up to
 * 8192 datagrams, more than the default send slots. */
#define UDG__URING_TRAINS 64

struct udg__uring_train {
	struct udg__op op; /* the sendmsg's completion */
	struct udg__io *io;
	struct udg__tx *first; /* its datagrams, linked through node.next */
	unsigned count;
	struct udg__uring_train *next_free;
	struct udg__train t;
};

struct udg__uring {
	struct udg__backend base; /* first: loop->bk points here */
	struct io_uring ring;

	/* receive buffer ring (one group shared by all endpoints of the loop) */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	unsigned char *bufs;
	unsigned buf_size, buf_count, buf_mask;
	unsigned buf_returned; /* buffers added since the last ring advance */
	struct udg__list low;  /* endpoints whose multishot stopped on ENOBUFS */

	/* the core's wake eventfd, kept read by one request in the ring */
	struct udg__op wake_op;
	uint64_t wake_value;
	bool wake_armed;

	struct udg__uring_train *trains; /* UDG__URING_TRAINS, or NULL before the first */
	struct udg__uring_train *free_trains;

	int embed_fd;         /* eventfd registered with the ring for udg_loop_fd(), or -1 */
	unsigned last_reaped; /* CQEs of the previous wait: drives batched waiting */
};

static inline struct udg__uring *udg__uring_of(const udg_loop *loop)
{
	return (struct udg__uring *)(void *)loop->bk;
}

/* uring_setup.c */
UDG__HIDDEN int udg__uring_create(udg_loop *loop);
UDG__HIDDEN void udg__uring_destroy(udg_loop *loop);

/* uring.c */
UDG__HIDDEN int udg__uring_wait(udg_loop *loop, int64_t timeout_ns, bool batch);
UDG__HIDDEN int udg__uring_flush(udg_loop *loop);
UDG__HIDDEN int udg__uring_embed_fd(udg_loop *loop);
UDG__HIDDEN bool udg__uring_pending(const udg_loop *loop);
UDG__HIDDEN void udg__uring_wake_complete(struct udg__op *op, int res, uint32_t flags);
/* Read one multishot recvmsg buffer (header, name, control, payload as the kernel lays them out
 * for template tmpl) into rinfo and the payload span; false when it holds no datagram. Never
 * reads outside buf[0..len). Separate from the receive path so it can be fuzzed. */
UDG__HIDDEN bool udg__recv_parse(unsigned char *buf, int len, struct msghdr *tmpl, udg_rinfo *rinfo,
				 const void **payload, size_t *payload_len);

#endif /* UDG_BACKEND_URING_H */
