/* engine/backend/uring/uring.h — the io_uring backend's private state, shared by its hot file
 * (uring.c: flush, wait, reap, receive and send completions) and its cold one (uring_setup.c:
 * ring creation, probes, the provided-buffer ring). The only place liburing.h is included. */
#ifndef UDG_BACKEND_URING_H
#define UDG_BACKEND_URING_H

#include <liburing.h>

#include "../backend.h"

/* The buffer group id of the loop's receive buffer ring. */
#define UDG__BGID 0

/* Incremental provided buffers (Linux 6.12; not in liburing 2.3's headers). A ring registered
 * with IOU_PBUF_RING_INC lets one buffer take many reads back to back; a CQE with
 * IORING_CQE_F_BUF_MORE says the kernel goes on filling that buffer, one without it that the
 * buffer is ours again. min_left (a u32 in the registration's reserved words, also newer)
 * retires a buffer once less than that is left, so no read is ever cut at a buffer's tail. */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2u
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1u << 4)
#endif
/* One incremental buffer: 256 KiB holds three full-size records and about 2400 64-byte ones;
 * at most a quarter of it is left unused when it retires. */
#define UDG__INC_CHUNK (256u << 10)
/* The fewest chunks a loop gets, so several can fill while others wait to be re-added. */
#define UDG__INC_CHUNKS_MIN 4u

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
	bool inc;         /* incremental: buf_count chunks of UDG__INC_CHUNK, filled back to back */
	uint32_t *filled; /* inc: bytes of each chunk the kernel has filled (by buffer id) */
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
/* One multishot recvmsg record, read out of its buffer. */
struct udg__recv_rec {
	udg_rinfo rinfo; /* addr points at `name` */
	union {
		struct sockaddr sa;
		struct sockaddr_in6 in6;
	} name; /* the source address, copied: a record may sit at any alignment */
	const unsigned char *payload;
	size_t avail; /* payload bytes present (< rinfo.size when truncated) */
	const unsigned char *ctrl;
	size_t ctrl_len; /* control bytes (unaligned; udg__rmeta_parse copies them) */
};

/* Read one record (recvmsg_out header, name, control, payload as the kernel lays them out for
 * template tmpl, at any alignment) into *r; false when it holds no datagram. Never reads
 * outside buf[0..len). Separate from the receive path so it can be fuzzed. */
UDG__HIDDEN bool udg__recv_parse(const unsigned char *buf, size_t len, const struct msghdr *tmpl,
				 struct udg__recv_rec *r);

#endif /* UDG_BACKEND_URING_H */
