/* engine/backend/backend.h — what a backend offers the layer above for one datagram endpoint:
 * the endpoint (udg__io), a queued send (udg__tx), the owner's upcalls, and the calls that
 * queue work for the next flush. These calls never make a syscall and never run a callback:
 * the backend hands queued work to the kernel once per loop iteration and reports back through
 * the upcalls from the loop. Includes no backend's private headers (no liburing.h). */
#ifndef UDG_BACKEND_H
#define UDG_BACKEND_H

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "../core/core.h"

struct udg__io;

/* A datagram to send. The owner fills msg (name, iov) and keeps the memory valid until `sent`
 * reports it; a negative status set before queuing fails it in queue order without the kernel. */
struct udg__tx {
	struct udg__op op; /* the backend's completion (io_uring: the SQE's user_data) */
	struct udg__qnode node;
	struct udg__io *io;
	struct msghdr msg; /* msg_control, when set, holds at most UDG__TX_CTRL_MAX bytes */
	size_t len;        /* the datagram's length (the sum of msg's iovecs) */
	int status;
};

/* The most control bytes a queued send carries (a traffic class, an IPv4 TOS for a dual-stack
 * socket's IPv4 destinations, and an IPv6 pktinfo). */
#define UDG__TX_CTRL_MAX 88

/* The owner's side of an endpoint, called from the loop (never inside an API call). */
struct udg__io_handlers {
	/* One datagram: payload lent for the call; rinfo->truncated when it did not fit. A GRO
	 * train comes as one call per datagram (udg__io_deliver splits it). */
	void (*message)(struct udg__io *io, const void *data, size_t len, const udg_rinfo *rinfo);
	/* A receive error (-errno). `stopped`: receiving ended with it (recv_want is cleared);
	 * the owner calls udg__io_recv_start() again to go on. */
	void (*recv_error)(struct udg__io *io, int err, bool stopped);
	/* After udg__io_recv_stop(): the backend receives nothing more for this endpoint. */
	void (*recv_stopped)(struct udg__io *io);
	/* A queued send finished: res is the bytes sent or -errno. */
	void (*sent)(struct udg__io *io, struct udg__tx *tx, int res);
};

struct udg__io {
	udg_loop *loop;
	const struct udg__io_handlers *h;
	int fd;                      /* -1 while closed */
	bool open;                   /* udg__io_open() ran and udg__io_close() did not */
	bool recv_want;              /* the owner wants datagrams */
	bool recv_active;            /* the backend is receiving (armed / registered) */
	bool recv_stopping;          /* udg__io_recv_stop() was called; recv_stopped() not yet */
	struct udg__list dirty_link; /* in loop->bk->dirty while it has changes to flush */
	struct udg__fifo sendq;      /* accepted, not yet handed to the kernel, in call order */
	unsigned tx_inflight;        /* handed to the kernel, not yet completed */
	bool gso;                    /* queued sends may leave as GSO trains (udg__io_train) */
	unsigned rmeta;              /* UDG_META_* the owner enabled; set before udg__io_open() */
	unsigned rx_ctrl;            /* control bytes each read needs (metadata, GRO; 0: none) */
	uint32_t rx_drops;           /* the kernel's drop count at the last read (SO_MEMINFO) */
	uint64_t kernel_drops;       /* drops seen through rx_drops (the count, unwrapped) */
	union {
		struct {
			struct udg__op recv_op;
			struct msghdr recv_msg; /* the multishot template: name/control sizes */
			bool cancelling;
			struct udg__list low_link; /* parked on an empty buffer ring */
		} uring;
		struct {
			uint32_t events; /* registered epoll events */
			bool registered;
		} epoll;
	} u;
};

/* A backend's endpoint functions (loop->bk->io_ops). */
struct udg__io_ops {
	/* The endpoint's fd exists (bound or adopted): make it known to the backend. */
	int (*open)(struct udg__io *io);
	/* Before the fd is closed: forget it. Nothing may be queued or in flight. */
	void (*close)(struct udg__io *io);
};

UDG__HIDDEN extern const struct udg__backend_ops udg__uring_ops;
UDG__HIDDEN extern const struct udg__io_ops udg__uring_io_ops;
UDG__HIDDEN extern const struct udg__backend_ops udg__epoll_ops;
UDG__HIDDEN extern const struct udg__io_ops udg__epoll_io_ops;

/* ---- Queuing work (owner side; no syscall, no callback) ------------------------------------ */

UDG__HIDDEN void udg__io_init(struct udg__io *io, udg_loop *loop, const struct udg__io_handlers *h);
UDG__HIDDEN int udg__io_open(struct udg__io *io, int fd);
UDG__HIDDEN void udg__io_close(struct udg__io *io);

static inline void udg__io_mark(struct udg__io *io)
{
	if (!udg__list_linked(&io->dirty_link))
		udg__list_add_tail(&io->loop->bk->dirty, &io->dirty_link);
}

static inline void udg__io_recv_start(struct udg__io *io)
{
	io->recv_want = true;
	io->recv_stopping = false;
	udg__io_mark(io);
}

/* Receiving stops at the next flush; recv_stopped() is called once nothing more can arrive
 * (at once from the loop when nothing was active). */
static inline void udg__io_recv_stop(struct udg__io *io)
{
	io->recv_want = false;
	io->recv_stopping = true;
	udg__io_mark(io);
}

static inline void udg__io_send(struct udg__io *io, struct udg__tx *tx)
{
	tx->io = io;
	udg__fifo_push(&io->sendq, &tx->node);
	udg__io_mark(io);
}

/* Anything queued, in the kernel, or receiving? (an endpoint can close only when idle; a mark
 * on the dirty list with none of these left is nothing to wait for) */
static inline bool udg__io_busy(const struct udg__io *io)
{
	return io->recv_active || io->recv_stopping || io->tx_inflight > 0 ||
	       !udg__fifo_empty(&io->sendq);
}

/* ---- Shared by the backends ---------------------------------------------------------------- */

UDG__HIDDEN void udg__backend_init(struct udg__backend *b, const struct udg__backend_ops *ops,
				   const struct udg__io_ops *io_ops, udg_loop *loop);

/* The next queued tx that failed before reaching the kernel, if it may complete now: its
 * callback keeps call order, so it waits for the sends queued before it. */
UDG__HIDDEN struct udg__tx *udg__io_take_failed(struct udg__io *io);
/* The dirty endpoints of this flush, moved to *out (the loop's list is left empty for new
 * marks). The walker unlinks each endpoint before it handles it, so an upcall that queues more
 * work re-marks it for the next flush instead of being lost. */
UDG__HIDDEN void udg__backend_take_dirty(udg_loop *loop, struct udg__list *out);
/* ---- GSO trains (gso.c): several queued sends in one sendmsg ------------------------------ */

/* iovecs one train may take: a train ends when the next datagram's would not fit (128
 * single-piece datagrams fill it, the most segments any kernel accepts). */
#define UDG__TRAIN_IOV 128
/* A train's control room: its datagrams' shared control messages plus UDP_SEGMENT. */
#define UDG__TRAIN_CTRL (UDG__TX_CTRL_MAX + 32)

/* The sendmsg of a train (kept by the backend until the kernel has taken it). */
struct udg__train {
	struct msghdr msg;
	union {
		struct cmsghdr align;
		unsigned char b[UDG__TRAIN_CTRL];
	} ctrl;
	struct iovec iov[UDG__TRAIN_IOV];
};

/* How many queued sends from `first` on (linked through node.next, in queue order) can leave as
 * one UDP_SEGMENT train: the same destination and control messages, the same length (the last
 * may be shorter), at most the loop's segment limit and UDG__DGRAM_TRAIN_MAX bytes, none that
 * failed before the kernel. 1 when no train forms (GSO off, or nothing to join). iov_room caps
 * the iovecs the train may use; *iovs says how many it needs. */
UDG__HIDDEN unsigned udg__io_train(const struct udg__io *io, const struct udg__tx *first,
				   unsigned iov_room, unsigned *iovs);
/* Build the train of the n sends from first (udg__io_train's answer, n >= 2) into t, using its
 * iov[0..iovs). */
UDG__HIDDEN void udg__train_fill(struct udg__train *t, const struct udg__tx *first, unsigned n);
/* A train failed with err: true when that means GSO does not work for this socket's path
 * (route without checksum offload, old kernel, IPsec: EIO, EINVAL, EMSGSIZE, EOPNOTSUPP, ...);
 * GSO is then off for the endpoint, counted in the loop's stats, and the caller sends the
 * train's datagrams again one by one. false: the error belongs to every datagram of it. */
UDG__HIDDEN bool udg__io_train_failed(struct udg__io *io, int err);
/* Once per loop (backend creation): can this kernel segment UDP (4.18), and how many segments
 * may one send carry (64, 128 from 6.x)? Sets loop->bk->gso_segs (0: no GSO). Clears
 * loop->bk->gro, which the backend set when its buffers hold a train, when the kernel has no
 * UDP_GRO (5.0). */
UDG__HIDDEN void udg__gso_probe(udg_loop *loop);

/* ---- The receive side every backend shares (rx.c) ---------------------------------------- */

/* With control messages the io_uring backend's fixed buffers lay the source address out in 32
 * bytes, not 28, and the epoll backend gives up the same 4 bytes of payload room, so
 * truncation with fixed buffers stays the same on both. */
#define UDG__RMETA_NAME_PAD 4
/* The most control bytes any metadata combination needs (IPv6 sizes: tclass, pktinfo). */
#define UDG__RMETA_SPACE_MAX 64
#ifndef UDP_GRO
#define UDP_GRO 104 /* linux/udp.h, Linux 5.0; Debian 12's libc headers may lack it */
#endif
/* UDP_GRO's control message (the train's segment size, an int). */
#define UDG__GRO_CTRL CMSG_SPACE(sizeof(int))
/* The most control bytes one read carries. */
#define UDG__RX_CTRL_MAX (UDG__RMETA_SPACE_MAX + UDG__GRO_CTRL)
/* The largest UDP payload (IPv6: 65535 less the UDP header; IPv4's is 20 bytes less) and so
 * the longest GRO train one read returns. */
#define UDG__RX_PAYLOAD_MAX 65527u
/* The most bytes one read lays out in an io_uring buffer (recvmsg header, padded source
 * address, control room, payload): an incremental buffer always keeps this much room. */
#define UDG__RX_RECORD_MAX                                                                      \
	(16u + (unsigned)sizeof(struct sockaddr_in6) + UDG__RMETA_NAME_PAD + UDG__RX_CTRL_MAX + \
	 UDG__RX_PAYLOAD_MAX)

/* What the control messages of one read said. */
struct udg__rmeta {
	unsigned meta; /* UDG_META_ECN / UDG_META_PKTINFO seen */
	int ecn;
	int ifindex;
	int gro_size; /* UDP_GRO: the train's segment size; 0 when the read is one datagram */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} dst;
	socklen_t dst_len;
};

/* At bind, before udg__io_open(): ask the kernel for the control messages of io->rmeta on fd
 * (family AF_INET/AF_INET6) and for UDP_GRO when `gro` and the loop's buffers allow it; sets
 * io->rx_ctrl to the control room that takes. A refused UDP_GRO only leaves GRO off. */
UDG__HIDDEN int udg__io_rx_open(struct udg__io *io, int fd, int family, bool gro);
/* Parse ctrl[0..ctrl_len) (any alignment: it is copied first) into *m. */
UDG__HIDDEN void udg__rmeta_parse(struct udg__rmeta *m, const void *ctrl, size_t ctrl_len);

/* Hand one read to the owner: rinfo has the source (addr, addrlen, port), size (the read's
 * true length) and truncated set; payload[0..avail) are the bytes present; ctrl[0..ctrl_len)
 * its control messages (any alignment). A GRO train becomes one message per datagram, in
 * order, sharing the rinfo, and stops when the owner stops receiving (a close in a callback).
 * Datagrams that did not fit are counted in the loop's recv_truncated. */
UDG__HIDDEN void udg__io_deliver(struct udg__io *io, udg_rinfo *rinfo, const unsigned char *payload,
				 size_t avail, const void *ctrl, size_t ctrl_len);

/* The receive payload a buffer of `buf_size` bytes holds after the recvmsg header and the
 * largest source address: the same on every backend, so truncation does not depend on it. */
UDG__HIDDEN unsigned udg__recv_payload_room(unsigned buf_size);
/* Does a fixed buffer of buf_size bytes hold a whole GRO train with any control messages? */
static inline bool udg__recv_room_holds_train(unsigned buf_size)
{
	return buf_size >= UDG__RX_RECORD_MAX;
}
/* The same for one endpoint: less the control room its metadata takes. */
static inline unsigned udg__io_payload_room(const struct udg__io *io, unsigned buf_size)
{
	unsigned room = udg__recv_payload_room(buf_size);
	unsigned ctrl = io->rx_ctrl ? io->rx_ctrl + UDG__RMETA_NAME_PAD : 0;
	return room > ctrl ? room - ctrl : 0;
}

#endif /* UDG_BACKEND_H */
