/* engine/backend/epoll/epoll.c — the fallback backend, for where io_uring is denied (container
 * seccomp profiles, kernel.io_uring_disabled, gVisor): level-triggered epoll, receives in
 * recvmmsg batches, sends in sendmmsg batches, the core's eventfd for wake-ups, timers through
 * the wait's timeout. Same upcalls, same order and timing as the io_uring backend: work queued
 * by API calls is handed to the kernel at the next flush, never inside the call.
 * Hot path: no allocation; one sendmmsg per socket per flush, one recvmmsg per ready batch. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../backend.h"

/* Datagrams per recvmmsg/sendmmsg: the batch a raw mmsg program uses, and what the io_uring
 * backend copies per reap. */
#define BATCH 64
/* recvmmsg rounds per ready socket per wait: up to 256 datagrams before the next socket's
 * turn (level-triggered epoll reports the rest again). */
#define RECV_ROUNDS 4
/* Fixed receive buffers (UDG_LOOP_FIXED_RECV_BUFFERS) take BATCH * recv_buf_size bytes unless
 * that exceeds this (large buffers: fewer of them, at least one). Otherwise each of the BATCH
 * buffers holds the largest datagram or GRO train: 4 MiB of address space, of which a page or
 * two per buffer is touched until large datagrams come. */
#define RECV_MEM_MAX (4u << 20)
/* Events taken per epoll_wait. */
#define EVENTS 64
/* GSO trains per sendmmsg (each up to 128 datagrams; their headers live in the backend). */
#define EP_TRAINS 16

struct udg__epoll {
	struct udg__backend base; /* first: loop->bk points here */
	int epfd;
	bool pwait2;    /* epoll_pwait2 (5.11): nanosecond timeouts; else epoll_wait in ms */
	unsigned room;  /* payload bytes per receive buffer (fixed: as the io_uring backend's) */
	bool fixed;     /* UDG_LOOP_FIXED_RECV_BUFFERS: room follows recv_buf_size */
	unsigned batch; /* receive buffers */
	unsigned done;  /* completions the current flush delivered (sends, stops) */
	unsigned char *bufs;
	size_t bufs_bytes;
	struct mmsghdr rmsgs[BATCH];
	struct iovec riovs[BATCH];
	struct sockaddr_in6 rnames[BATCH];
	/* Control room per receive buffer, used only by endpoints with metadata or GRO. */
	union {
		struct cmsghdr align;
		unsigned char b[UDG__RX_CTRL_MAX];
	} rctrl[BATCH];
	struct mmsghdr smsgs[BATCH];
	struct udg__train trains[EP_TRAINS];
};

static struct udg__epoll *epoll_of(const udg_loop *loop)
{
	return (struct udg__epoll *)(void *)loop->bk;
}

/* ---- Registration --------------------------------------------------------------------- */

/* Register exactly `events`. With none wanted the fd leaves the set: epoll reports EPOLLERR
 * even when not asked for, and a socket that neither receives nor waits to send must not wake
 * the loop. */
static int io_update(struct udg__epoll *ep, struct udg__io *io, uint32_t events)
{
	if (events == io->u.epoll.events && io->u.epoll.registered == (events != 0))
		return 0;
	struct epoll_event ev = { .events = events, .data.ptr = io };
	int op = events == 0              ? EPOLL_CTL_DEL
		 : io->u.epoll.registered ? EPOLL_CTL_MOD
					  : EPOLL_CTL_ADD;
	if (op == EPOLL_CTL_DEL && !io->u.epoll.registered)
		return 0;
	if (epoll_ctl(ep->epfd, op, io->fd, &ev) != 0)
		return -errno;
	io->u.epoll.registered = events != 0;
	io->u.epoll.events = events;
	return 0;
}

/* ---- Receive ---------------------------------------------------------------------------- */

static void recv_batch(struct udg__epoll *ep, struct udg__io *io)
{
	/* With fixed buffers metadata takes payload room as it does in an io_uring buffer: the
	 * same truncation on both backends. */
	unsigned room =
		ep->fixed ? udg__io_payload_room(io, io->loop->opts.recv_buf_size) : ep->room;
	for (int round = 0; round < RECV_ROUNDS; round++) {
		for (unsigned i = 0; i < ep->batch; i++) {
			struct msghdr *m = &ep->rmsgs[i].msg_hdr;
			m->msg_namelen = sizeof(ep->rnames[i]);
			m->msg_control = io->rx_ctrl ? ep->rctrl[i].b : NULL;
			m->msg_controllen = io->rx_ctrl;
			ep->riovs[i].iov_len = room;
		}
		/* MSG_TRUNC: msg_len is the datagram's true size when it did not fit. */
		int n = recvmmsg(io->fd, ep->rmsgs, ep->batch, MSG_DONTWAIT | MSG_TRUNC, NULL);
		if (n < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			if (err != EAGAIN)
				io->h->recv_error(io, -err, false);
			return;
		}
		for (int i = 0; i < n && io->recv_want; i++) {
			struct msghdr *m = &ep->rmsgs[i].msg_hdr;
			unsigned size = ep->rmsgs[i].msg_len;
			if (UDG__UNLIKELY(m->msg_namelen == 0))
				continue; /* not a datagram (Node ignores it too) */
			udg_rinfo rinfo = {
				.addr = m->msg_name,
				.addrlen = m->msg_namelen,
				.port = ntohs(ep->rnames[i].sin6_port), /* same offset in _in */
				.size = size,
				.truncated = (m->msg_flags & MSG_TRUNC) != 0,
			};
			udg__io_deliver(io, &rinfo, m->msg_iov[0].iov_base,
					size < room ? size : room, m->msg_control,
					m->msg_control ? m->msg_controllen : 0);
		}
		udg__rx_batch_end(io->loop); /* before the next round reuses the buffers */
		if ((unsigned)n < ep->batch || !io->recv_want)
			return;
	}
}

/* ---- Send ----------------------------------------------------------------------------------- */

/* Report the first k queued sends as sent with res (bytes, or -errno for all of them). */
static void sends_done(struct udg__epoll *ep, struct udg__io *io, unsigned k, int res)
{
	for (unsigned j = 0; j < k; j++) {
		struct udg__tx *tx =
			UDG__CONTAINER_OF(udg__fifo_pop(&io->sendq), struct udg__tx, node);
		ep->done++;
		io->h->sent(io, tx, res < 0 ? res : (int)tx->len);
	}
}

/* Fill ep->smsgs from the head of the send queue: one message per datagram, or per GSO train
 * of datagrams (counts[k] of them). Returns the messages. */
static unsigned batch_fill(struct udg__epoll *ep, struct udg__io *io, unsigned counts[BATCH])
{
	unsigned k = 0, trains = 0, iovs;
	const struct udg__qnode *n = io->sendq.head;

	while (n && k < BATCH) {
		const struct udg__tx *tx = UDG__CONTAINER_OF(n, struct udg__tx, node);
		if (tx->status < 0)
			break; /* completes after the ones before it */
		unsigned c = trains < EP_TRAINS ? udg__io_train(io, tx, UDG__TRAIN_IOV, &iovs) : 1;
		if (c > 1) {
			udg__train_fill(&ep->trains[trains], tx, c);
			ep->smsgs[k].msg_hdr = ep->trains[trains++].msg;
		} else {
			ep->smsgs[k].msg_hdr = tx->msg;
		}
		counts[k++] = c;
		for (unsigned j = 0; j < c; j++)
			n = n->next;
	}
	return k;
}

/* The endpoint's queued sends leave in sendmmsg batches, in order, trains as one message each.
 * Returns true when the socket buffer is full (EAGAIN): the rest waits for EPOLLOUT. */
static bool flush_sends(struct udg__epoll *ep, struct udg__io *io)
{
	unsigned counts[BATCH];

	for (;;) {
		struct udg__tx *tx;
		while ((tx = udg__io_take_failed(io)) != NULL) {
			ep->done++;
			io->h->sent(io, tx, tx->status);
		}
		unsigned k = batch_fill(ep, io, counts);
		if (k == 0)
			return false;
		int sent = sendmmsg(io->fd, ep->smsgs, k, MSG_DONTWAIT);
		if (sent < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			if (err == EAGAIN)
				return true;
			/* The first message failed: a train GSO cannot carry goes again one
			 * datagram at a time; otherwise its datagrams get the error and the rest go
			 * on. */
			if (counts[0] > 1 && udg__io_train_failed(io, -err))
				continue;
			sends_done(ep, io, counts[0], -err);
			continue;
		}
		for (int i = 0; i < sent; i++) {
			if (counts[i] > 1) {
				io->loop->stats.gso_trains++;
				io->loop->stats.gso_datagrams += counts[i];
			}
			sends_done(ep, io, counts[i], (int)ep->smsgs[i].msg_len);
		}
	}
}

/* ---- Flush ---------------------------------------------------------------------------------- */

static int flush_io(struct udg__epoll *ep, struct udg__io *io)
{
	bool stopped = io->recv_stopping && !io->recv_want;

	io->recv_active = io->recv_want;
	if (stopped)
		io->recv_stopping = false;
	bool blocked = flush_sends(ep, io);
	uint32_t events = (io->recv_active ? EPOLLIN : 0) | (blocked ? EPOLLOUT : 0);
	int r = io->open ? io_update(ep, io, events) : 0;
	if (stopped) {
		ep->done++;
		io->h->recv_stopped(io);
	}
	return r;
}

static int ep_flush(udg_loop *loop)
{
	struct udg__epoll *ep = epoll_of(loop);
	struct udg__list todo, *n, *tmp;
	int err = 0;

	udg__backend_take_dirty(loop, &todo);
	UDG__LIST_FOR_EACH_SAFE(n, tmp, &todo)
	{
		struct udg__io *io = UDG__CONTAINER_OF(n, struct udg__io, dirty_link);
		udg__list_remove(n);
		int r = flush_io(ep, io);
		if (r != 0 && err == 0)
			err = r; /* epoll_ctl out of memory: the loop reports it */
	}
	return err;
}

/* ---- Wait and dispatch ------------------------------------------------------------------------
 */

static int wait_events(struct udg__epoll *ep, struct epoll_event *evs, int64_t timeout_ns)
{
	if (ep->pwait2) {
		struct timespec ts = { .tv_sec = timeout_ns / 1000000000,
				       .tv_nsec = timeout_ns % 1000000000 };
		return (int)syscall(SYS_epoll_pwait2, ep->epfd, evs, EVENTS,
				    timeout_ns < 0 ? NULL : &ts, NULL, (size_t)8);
	}
	/* Milliseconds, rounded up: waking early would spin until the timer is due. A wait past
	 * INT_MAX ms (24 days; a timer that never fires) is cut there: the loop just waits again.
	 */
	int ms = -1;
	if (timeout_ns >= 0)
		ms = timeout_ns / 1000000 >= INT_MAX ? INT_MAX
						     : (int)((timeout_ns + 999999) / 1000000);
	return epoll_wait(ep->epfd, evs, EVENTS, ms);
}

static void wake_drain(udg_loop *loop)
{
	uint64_t v;
	ssize_t n = read(loop->wake_fd, &v, sizeof(v));
	(void)n;
	udg__wake_consumed(loop);
}

static int ep_wait(udg_loop *loop, int64_t timeout_ns, bool batch)
{
	struct udg__epoll *ep = epoll_of(loop);
	struct epoll_event evs[EVENTS];

	(void)batch; /* level-triggered receives already batch under load */
	ep->done = 0;
	int r = ep_flush(loop);
	if (r != 0)
		return r;
	/* Sends complete inside the flush here (the io_uring backend's complete in the wait): the
	 * loop must look at what they changed (liveness, ticks) before it may block. */
	if (ep->done > 0 || udg__loop_has_ready(loop))
		timeout_ns = 0;
	int n = wait_events(ep, evs, timeout_ns);
	loop->stats.enters++;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct udg__io *io = evs[i].data.ptr;
		if (!io) {
			wake_drain(loop);
			continue;
		}
		if ((evs[i].events & EPOLLOUT) && !udg__fifo_empty(&io->sendq))
			udg__io_mark(io); /* room in the socket buffer: sent by the next flush */
		if ((evs[i].events & (EPOLLIN | EPOLLERR)) && io->recv_want && io->recv_active)
			recv_batch(ep, io);
	}
	loop->stats.cqes_reaped += (unsigned)n;
	return n + (int)ep->done;
}

static bool ep_pending(const udg_loop *loop)
{
	return !udg__list_empty(&loop->bk->dirty);
}

static int ep_embed_fd(udg_loop *loop)
{
	return epoll_of(loop)->epfd;
}

/* ---- Endpoints --------------------------------------------------------------------------------
 */

static int io_open(struct udg__io *io)
{
	io->u.epoll.events = 0;
	io->u.epoll.registered = false;
	return 0;
}

static void io_close(struct udg__io *io)
{
	io_update(epoll_of(io->loop), io, 0);
}

/* ---- Creation -----------------------------------------------------------------------------------
 */

/* epoll_pwait2 arrived in 5.11; a seccomp profile may also deny it. One zero-timeout call
 * tells. */
static bool probe_pwait2(int epfd)
{
	struct epoll_event ev;
	struct timespec zero = { 0 };
	return syscall(SYS_epoll_pwait2, epfd, &ev, 1, &zero, NULL, (size_t)8) >= 0;
}

static void ep_destroy(udg_loop *loop)
{
	struct udg__epoll *ep = epoll_of(loop);

	if (!ep)
		return;
	if (ep->bufs)
		munmap(ep->bufs, ep->bufs_bytes);
	if (ep->epfd >= 0)
		close(ep->epfd);
	free(ep);
	loop->bk = NULL;
}

static void describe(udg_loop *loop, const struct udg__epoll *ep)
{
	size_t off = strlen(loop->features_str);
	snprintf(loop->features_str + off, sizeof(loop->features_str) - off, "epoll%s",
		 ep->pwait2 ? "|EPOLL_PWAIT2" : "");
}

static int ep_create(udg_loop *loop)
{
	struct udg__epoll *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	udg__backend_init(&ep->base, &udg__epoll_ops, &udg__epoll_io_ops, loop);
	loop->bk = &ep->base;
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ep->epfd < 0) {
		int r = -errno;
		ep->epfd = -1;
		ep_destroy(loop);
		return r;
	}
	unsigned size = loop->opts.recv_buf_size;
	ep->fixed = (loop->opts.flags & UDG_LOOP_FIXED_RECV_BUFFERS) != 0;
	ep->room = ep->fixed ? udg__recv_payload_room(size) : UDG__RX_PAYLOAD_MAX;
	ep->batch = !ep->fixed || size * BATCH <= RECV_MEM_MAX ? BATCH : RECV_MEM_MAX / size;
	if (ep->batch == 0)
		ep->batch = 1;
	/* Fixed buffers: the same rule as the io_uring backend's, so both truncate alike. */
	loop->bk->gro = !ep->fixed || udg__recv_room_holds_train(size);
	ep->bufs_bytes = (size_t)ep->batch * ep->room;
	ep->bufs = mmap(NULL, ep->bufs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (ep->bufs == MAP_FAILED) {
		ep->bufs = NULL;
		ep_destroy(loop);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < ep->batch; i++) {
		ep->riovs[i] = (struct iovec){ ep->bufs + (size_t)i * ep->room, ep->room };
		ep->rmsgs[i].msg_hdr = (struct msghdr){ .msg_name = &ep->rnames[i],
							.msg_iov = &ep->riovs[i],
							.msg_iovlen = 1 };
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) != 0) {
		int r = -errno;
		ep_destroy(loop);
		return r;
	}
	ep->pwait2 = probe_pwait2(ep->epfd);
	loop->features |= UDG_FEAT_EPOLL | (ep->pwait2 ? UDG_FEAT_EPOLL_PWAIT2 : 0);
	describe(loop, ep);
	return 0;
}

const struct udg__io_ops udg__epoll_io_ops = {
	.open = io_open,
	.close = io_close,
};

const struct udg__backend_ops udg__epoll_ops = {
	.name = "epoll",
	.create = ep_create,
	.destroy = ep_destroy,
	.wait = ep_wait,
	.flush = ep_flush,
	.embed_fd = ep_embed_fd,
	.pending = ep_pending,
};
