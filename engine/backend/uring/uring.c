/* engine/backend/uring/uring.c — the io_uring backend's hot path. Each wait: turn the dirty
 * endpoints' queued work into SQEs (multishot recvmsg arms and cancels, one sendmsg per queued
 * datagram), one io_uring_enter submits them and waits, a batch of CQEs is copied out, the CQ is
 * advanced once, and each completion goes to its op. Receive buffers go back once per batch.
 * Never allocates, never formats; SQEs are written only here, from the loop, never from an
 * API call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "uring.h"

/* backend/io.c sizes receive payloads without liburing: keep its header size in step. */
_Static_assert(sizeof(struct io_uring_recvmsg_out) == 16, "recvmsg_out is four 32-bit fields");

/* CQEs copied out per peek. 64 matches the batch a recvmmsg peer uses and keeps the copy on the
 * stack (64 * 16 bytes). */
#define REAP_BATCH 64

/* Batched waiting. On loopback every completion the kernel posts can wake us, so a flood costs a
 * wake-up (and an enter) per datagram unless we ask for several at once. When the previous
 * wait reaped at least LOAD_MIN_CQES, the next one asks for twice that many (at most
 * LOAD_MAX_WAIT) but gives up after LOAD_WAIT_NS and takes whatever arrived. When idle (the
 * last wait saw fewer) we wake on the first one, so K=1 latency is untouched: ping-pong reaps 2
 * per wait (the reply's send and the next request), which is why the threshold is 4 (at 2, K=1
 * p50 lost ~10 us to the cap; benchmark suite). The worst case is one LOAD_WAIT_NS delay on
 * the first datagram after a burst ends. */
#define LOAD_MIN_CQES 4
#define LOAD_MAX_WAIT 32
#define LOAD_WAIT_NS 50000

/* A CQE copied out of the ring, so the CQ can advance before callbacks run. */
struct cqe_copy {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

/* ---- SQEs ------------------------------------------------------------------------------ */

/* An SQE, submitting what is queued when the SQ is full. NULL when the kernel refuses to take
 * more right now (EBUSY/EAGAIN: its CQ overflow list or request memory is full) or fails: the
 * caller leaves the rest queued for the next iteration, after this one has reaped. */
static struct io_uring_sqe *get_sqe(udg_loop *loop, int *err)
{
	struct udg__uring *u = udg__uring_of(loop);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	while (UDG__UNLIKELY(!sqe)) {
		int r;
		if (UDG__FAULT(UDG__FAULT_SUBMIT_EBUSY)) {
#ifdef UDG_FAULT_INJECTION
			udg__faults &= ~(unsigned)UDG__FAULT_SUBMIT_EBUSY; /* one refusal */
#endif
			r = -EBUSY;
		} else {
			r = io_uring_submit(&u->ring);
		}
		loop->stats.enters++;
		loop->stats.sq_full_flushes++;
		if (r < 0 && r != -EINTR) {
			*err = r == -EBUSY || r == -EAGAIN ? 0 : r;
			return NULL;
		}
		if (r > 0)
			loop->stats.sqes_submitted += (unsigned)r;
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

/* ---- Receive ----------------------------------------------------------------------------- */

static void recv_complete(struct udg__op *op, int res, uint32_t flags);

static bool recv_arm(struct udg__io *io, int *err)
{
	struct io_uring_sqe *sqe = get_sqe(io->loop, err);

	if (!sqe)
		return false;
	/* The kernel reads msg_namelen/msg_controllen from this template once per arm and lays
	 * each datagram out in the buffer as: recvmsg_out header, name, control, payload.
	 * MSG_TRUNC makes the header's payloadlen the datagram's true size (rinfo.size) when it
	 * did not fit; the CQE's length stays bounded by the buffer. */
	int fd = UDG__FAULT(UDG__FAULT_RECV_EBADF) ? -1 : io->fd; /* test builds: a broken fd */
	io_uring_prep_recvmsg_multishot(sqe, fd, &io->u.uring.recv_msg, MSG_TRUNC);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = UDG__BGID;
	io_uring_sqe_set_data(sqe, &io->u.uring.recv_op);
	io->recv_active = true;
	return true;
}

static bool recv_cancel(struct udg__io *io, int *err)
{
	struct io_uring_sqe *sqe = get_sqe(io->loop, err);

	if (!sqe)
		return false;
	io_uring_prep_cancel(sqe, &io->u.uring.recv_op, 0);
	io_uring_sqe_set_data(sqe, NULL); /* the cancel's own result: nobody waits for it */
	io->u.uring.cancelling = true;
	return true;
}

static void buf_return(struct udg__uring *u, unsigned bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->buf_size, u->buf_size,
			      (unsigned short)bid, u->buf_mask, (int)u->buf_returned);
	u->buf_returned++;
}

/* After each reap batch: publish the returned buffers with one advance, then mark the endpoints
 * whose multishot stopped on ENOBUFS (the ring was empty; now it is not) for re-arming. */
static void buffers_returned(struct udg__uring *u)
{
	if (u->buf_returned > 0) {
		io_uring_buf_ring_advance(u->br, (int)u->buf_returned);
		u->buf_returned = 0;
	}
	/* Every lent buffer is back by now (payloads are lent only for the callback), so the ring
	 * has room again even when this batch returned none. */
	while (UDG__UNLIKELY(!udg__list_empty(&u->low))) {
		struct udg__list *n = u->low.next;
		udg__list_remove(n);
		udg__io_mark(UDG__CONTAINER_OF(n, struct udg__io, u.uring.low_link));
	}
}

bool udg__recv_parse(const unsigned char *buf, size_t len, const struct msghdr *tmpl,
		     struct udg__recv_rec *r)
{
	struct io_uring_recvmsg_out o;
	size_t head = sizeof(o) + tmpl->msg_namelen + tmpl->msg_controllen;

	if (UDG__UNLIKELY(len < head))
		return false;
	memcpy(&o, buf, sizeof(o));
	/* A zero-length read without a peer address is not a datagram (Node ignores it too). */
	if (UDG__UNLIKELY(o.namelen == 0))
		return false;
	socklen_t namelen = o.namelen < tmpl->msg_namelen ? o.namelen : tmpl->msg_namelen;
	if (namelen > sizeof(r->name))
		namelen = sizeof(r->name);
	r->name.in6 = (struct sockaddr_in6){ 0 };
	memcpy(&r->name, buf + sizeof(o), namelen);
	r->ctrl = buf + sizeof(o) + tmpl->msg_namelen;
	r->ctrl_len = o.controllen < tmpl->msg_controllen ? o.controllen : tmpl->msg_controllen;
	r->payload = buf + head;
	r->avail = len - head < o.payloadlen ? len - head : o.payloadlen;
	r->rinfo = (udg_rinfo){
		.addr = &r->name.sa,
		.addrlen = namelen,
		.port = ntohs(r->name.in6.sin6_port), /* same offset in _in */
		.size = o.payloadlen,
		.truncated = (o.flags & MSG_TRUNC) != 0,
	};
	return true;
}

static void deliver(struct udg__io *io, const unsigned char *buf, size_t len)
{
	struct udg__recv_rec r; /* rinfo points into it during the upcall */

	if (UDG__LIKELY(udg__recv_parse(buf, len, &io->u.uring.recv_msg, &r)))
		udg__io_deliver(io, &r.rinfo, r.payload, r.avail, r.ctrl, r.ctrl_len);
}

/* The multishot stopped (no F_MORE): buffers ran out, an error, our cancel, or the kernel
 * ended it (CQ overflow). Decide what comes next. */
static void recv_ended(udg_loop *loop, struct udg__io *io, int res)
{
	struct udg__uring *u = udg__uring_of(loop);

	io->recv_active = false;
	io->u.uring.cancelling = false;
	if (!io->recv_want) {
		if (io->recv_stopping) {
			io->recv_stopping = false;
			io->h->recv_stopped(io);
		}
		return;
	}
	loop->stats.recv_rearms++;
	if (res == -ENOBUFS) {
		/* Wait for buffers: marked for re-arming once this batch returned its buffers. */
		loop->stats.recv_enobufs++;
		udg__list_add_tail(&u->low, &io->u.uring.low_link);
		return;
	}
	if (res < 0 && res != -ECANCELED) {
		io->recv_want = false;
		io->h->recv_error(io, res, true); /* the owner decides whether to go on */
		return;
	}
	udg__io_mark(io); /* re-armed by the next flush */
}

static void recv_complete(struct udg__op *op, int res, uint32_t flags)
{
	struct udg__io *io = UDG__CONTAINER_OF(op, struct udg__io, u.uring.recv_op);
	udg_loop *loop = io->loop;

	if (flags & IORING_CQE_F_BUFFER) {
		struct udg__uring *u = udg__uring_of(loop);
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		unsigned char *buf = u->bufs + (size_t)bid * u->buf_size;
		size_t len = res > 0 ? (size_t)res : 0;
		if (u->inc) {
			/* The record follows the ones before it in this chunk. */
			uint32_t at = u->filled[bid];
			buf += at;
			if (UDG__UNLIKELY(len > u->buf_size - at))
				len = u->buf_size - at; /* never past the chunk */
			u->filled[bid] = at + (uint32_t)len;
		}
		/* A stop (close) ends delivery at once, even for datagrams already reaped. */
		if (UDG__LIKELY(res >= 0 && io->recv_want))
			deliver(io, buf, len);
		if (!u->inc || !(flags & IORING_CQE_F_BUF_MORE)) {
			if (u->inc)
				u->filled[bid] = 0;
			buf_return(u, bid);
		}
	} else if (res < 0 && (flags & IORING_CQE_F_MORE) && io->recv_want) {
		io->h->recv_error(io, res, false);
	}
	if (!(flags & IORING_CQE_F_MORE))
		recv_ended(loop, io, res);
}

/* ---- Send --------------------------------------------------------------------------------- */

static void send_complete(struct udg__op *op, int res, uint32_t flags)
{
	struct udg__tx *tx = UDG__CONTAINER_OF(op, struct udg__tx, op);
	struct udg__io *io = tx->io;

	(void)flags;
	io->tx_inflight--;
	/* A failed send queued behind this one waited for it to keep call order. */
	if (io->tx_inflight == 0 && !udg__fifo_empty(&io->sendq))
		udg__io_mark(io);
	io->h->sent(io, tx, res);
}

static struct udg__uring_train *train_get(struct udg__uring *u)
{
	if (UDG__UNLIKELY(!u->trains)) {
		u->trains = calloc(UDG__URING_TRAINS, sizeof(*u->trains));
		if (!u->trains)
			return NULL; /* out of memory: the datagrams go one by one */
		for (unsigned i = 0; i < UDG__URING_TRAINS; i++) {
			u->trains[i].next_free = u->free_trains;
			u->free_trains = &u->trains[i];
		}
	}
	struct udg__uring_train *t = u->free_trains;
	if (t)
		u->free_trains = t->next_free;
	return t;
}

/* A train's sendmsg completed: every datagram of it gets its own `sent`, in order, with its own
 * length (or the train's error). A train GSO cannot carry goes back to the front of the queue,
 * to leave one by one; nothing is reported for it yet. */
static void train_complete(struct udg__op *op, int res, uint32_t flags)
{
	struct udg__uring_train *t = UDG__CONTAINER_OF(op, struct udg__uring_train, op);
	struct udg__uring *u = udg__uring_of(t->io->loop);
	struct udg__io *io = t->io;
	struct udg__tx *tx = t->first;
	unsigned n = t->count;

	(void)flags;
	t->next_free = u->free_trains;
	u->free_trains = t;
	io->tx_inflight -= n;
	if (res < 0 && udg__io_train_failed(io, res)) {
		udg__fifo_push_front_chain(&io->sendq, &tx->node, n);
		udg__io_mark(io);
		return;
	}
	if (res >= 0) {
		io->loop->stats.gso_trains++;
		io->loop->stats.gso_datagrams += n;
	}
	if (io->tx_inflight == 0 && !udg__fifo_empty(&io->sendq))
		udg__io_mark(io);
	/* The last callback may close and free the socket: read each link before its call. */
	for (unsigned i = 0; i < n; i++) {
		struct udg__tx *next =
			i + 1 < n ? UDG__CONTAINER_OF(tx->node.next, struct udg__tx, node) : NULL;
		tx->node.next = NULL;
		io->h->sent(io, tx, res < 0 ? res : (int)tx->len);
		tx = next;
	}
}

/* The train starting at the head of the send queue, if one forms and a train slot is free:
 * its datagrams leave the queue; NULL sends the head alone. */
static struct udg__uring_train *train_take(struct udg__io *io, unsigned *n)
{
	struct udg__uring *u = udg__uring_of(io->loop);
	struct udg__tx *first = UDG__CONTAINER_OF(io->sendq.head, struct udg__tx, node);
	unsigned iovs;

	*n = udg__io_train(io, first, UDG__TRAIN_IOV, &iovs);
	if (*n < 2)
		return NULL;
	struct udg__uring_train *t = train_get(u);
	if (!t)
		return NULL;
	udg__train_fill(&t->t, first, *n);
	t->op.complete = train_complete;
	t->io = io;
	t->first = first;
	t->count = *n;
	/* Detach the train from the queue; its datagrams stay linked to each other. */
	udg__fifo_pop_chain(&io->sendq, *n);
	return t;
}

/* The endpoint's queued sends become SQEs, in order: a train per run of datagrams GSO can
 * join, one sendmsg per other datagram. Returns false when the SQ could not take them all (the
 * rest stays queued). */
static bool flush_sends(struct udg__io *io, int *err)
{
	struct udg__tx *tx;

	while (!udg__fifo_empty(&io->sendq)) {
		if ((tx = udg__io_take_failed(io)) != NULL) {
			io->h->sent(io, tx, tx->status);
			continue;
		}
		tx = UDG__CONTAINER_OF(io->sendq.head, struct udg__tx, node);
		if (tx->status < 0)
			break; /* a failed send waits for the ones in the kernel before it */
		struct io_uring_sqe *sqe = get_sqe(io->loop, err);
		if (!sqe)
			return false;
		unsigned n;
		struct udg__uring_train *t = io->gso ? train_take(io, &n) : NULL;
		if (t) {
			io_uring_prep_sendmsg(sqe, io->fd, &t->t.msg, 0);
			io_uring_sqe_set_data(sqe, &t->op);
			io->tx_inflight += n;
			continue;
		}
		udg__fifo_pop(&io->sendq);
		tx->op.complete = send_complete;
		io_uring_prep_sendmsg(sqe, io->fd, &tx->msg, 0);
		io_uring_sqe_set_data(sqe, &tx->op);
		io->tx_inflight++;
	}
	return true;
}

/* ---- Flush -------------------------------------------------------------------------------- */

static bool flush_io(struct udg__io *io, int *err)
{
	if (io->recv_want && !io->recv_active && !udg__list_linked(&io->u.uring.low_link)) {
		if (!recv_arm(io, err))
			return false;
	} else if (!io->recv_want && io->recv_active && !io->u.uring.cancelling) {
		if (!recv_cancel(io, err))
			return false;
	} else if (io->recv_stopping && !io->recv_active) {
		if (udg__list_linked(&io->u.uring.low_link))
			udg__list_remove(&io->u.uring.low_link); /* parked on ENOBUFS */
		io->recv_stopping = false;
		io->h->recv_stopped(io); /* nothing in the kernel: stopped now */
	}
	return flush_sends(io, err);
}

static void wake_arm(struct udg__uring *u, udg_loop *loop, int *err)
{
	struct io_uring_sqe *sqe = get_sqe(loop, err);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, loop->wake_fd, &u->wake_value, sizeof(u->wake_value), 0);
	io_uring_sqe_set_data(sqe, &u->wake_op);
	u->wake_armed = true;
}

void udg__uring_wake_complete(struct udg__op *op, int res, uint32_t flags)
{
	struct udg__uring *u = UDG__CONTAINER_OF(op, struct udg__uring, wake_op);
	udg_loop *loop = (udg_loop *)u->base.loop;

	(void)res;
	(void)flags;
	/* Re-armed by the next flush; posts appended from now on write the eventfd again. */
	u->wake_armed = false;
	udg__wake_consumed(loop);
}

int udg__uring_flush(udg_loop *loop)
{
	struct udg__uring *u = udg__uring_of(loop);
	struct udg__list todo, *n, *tmp;
	int err = 0;

	if (UDG__UNLIKELY(!u->wake_armed))
		wake_arm(u, loop, &err);
	udg__backend_take_dirty(loop, &todo);
	UDG__LIST_FOR_EACH_SAFE(n, tmp, &todo)
	{
		struct udg__io *io = UDG__CONTAINER_OF(n, struct udg__io, dirty_link);
		udg__list_remove(n);
		if (!flush_io(io, &err)) {
			/* The SQ is full and the kernel takes no more now: the rest waits for the
			 * next iteration, after this one's reap made room. */
			udg__io_mark(io);
			udg__list_splice(&loop->bk->dirty, &todo);
			break;
		}
	}
	return err;
}

/* ---- Wait, reap, dispatch ----------------------------------------------------------------- */

static void dispatch(const struct cqe_copy *c)
{
	struct udg__op *op = (struct udg__op *)(uintptr_t)c->user_data;

	if (op)
		op->complete(op, c->res, c->flags);
}

/* Copy a batch out and advance the CQ before any callback runs, so the kernel has the whole CQ
 * to post into while callbacks work. Bounded by the CQ size per wait so a flood cannot keep one
 * iteration going forever. */
static unsigned reap(udg_loop *loop)
{
	struct udg__uring *u = udg__uring_of(loop);
	struct io_uring *ring = &u->ring;
	struct io_uring_cqe *cqes[REAP_BATCH];
	struct cqe_copy batch[REAP_BATCH];
	unsigned total = 0, n;

	do {
		if (UDG__UNLIKELY(IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW))
			loop->stats.cq_overflows++;
		n = io_uring_peek_batch_cqe(ring, cqes, REAP_BATCH);
		for (unsigned i = 0; i < n; i++)
			batch[i] = (struct cqe_copy){ cqes[i]->user_data, cqes[i]->res,
						      cqes[i]->flags };
		io_uring_cq_advance(ring, n);
		for (unsigned i = 0; i < n; i++)
			dispatch(&batch[i]);
		total += n;
		udg__rx_batch_end(loop); /* batch handlers read the buffers before they go back */
		buffers_returned(u);
	} while (n == REAP_BATCH && total < ring->cq.ring_entries);
	loop->stats.cqes_reaped += total;
	return total;
}

/* Reset the embedding eventfd before entering the kernel: whatever signalled it is processed by
 * this wait, and anything arriving later signals it again. */
static void embed_drain(struct udg__uring *u)
{
	uint64_t v;
	ssize_t n = read(u->embed_fd, &v, sizeof(v));
	(void)n;
}

/* One io_uring_enter: submit everything queued, and either wait for a completion (or the
 * timeout) or just collect what is there. Interruptions and timeouts are not errors. */
static int enter(udg_loop *loop, int64_t timeout, bool batch)
{
	struct udg__uring *u = udg__uring_of(loop);
	struct io_uring *ring = &u->ring;
	unsigned queued = io_uring_sq_ready(ring);
	struct io_uring_cqe *cqe = NULL;
	int r;

	if (timeout == 0) {
		/* Without DEFER_TASKRUN completions are already visible: skip the syscall when
		 * there is nothing to submit. With it, only an enter runs the deferred work. */
		if (queued == 0 && !(loop->features & UDG_FEAT_DEFER_TASKRUN))
			return 0;
		r = io_uring_submit_and_get_events(ring);
	} else {
		unsigned want = 1;
		if (batch && u->last_reaped >= LOAD_MIN_CQES) {
			want = u->last_reaped * 2;
			if (want > LOAD_MAX_WAIT)
				want = LOAD_MAX_WAIT;
			if (timeout < 0 || timeout > LOAD_WAIT_NS)
				timeout = LOAD_WAIT_NS;
		}
		if (timeout >= 0) {
			struct __kernel_timespec ts = {
				.tv_sec = timeout / 1000000000,
				.tv_nsec = timeout % 1000000000,
			};
			r = io_uring_submit_and_wait_timeout(ring, &cqe, want, &ts, NULL);
		} else {
			r = io_uring_submit_and_wait(ring, 1);
		}
	}
	loop->stats.enters++;
	loop->stats.sqes_submitted += queued - io_uring_sq_ready(ring);
	if (r == -ETIME || r == -EINTR || r == -EAGAIN || r == -EBUSY)
		return 0;
	return r < 0 ? r : 0;
}

int udg__uring_wait(udg_loop *loop, int64_t timeout_ns, bool batch)
{
	struct udg__uring *u = udg__uring_of(loop);

	if (u->embed_fd >= 0)
		embed_drain(u);
	int r = udg__uring_flush(loop);
	if (r == 0)
		r = enter(loop, udg__loop_has_ready(loop) ? 0 : timeout_ns, batch);
	if (r < 0)
		return r;
	u->last_reaped = reap(loop);
	return (int)u->last_reaped;
}

/* The table's flush (end of a non-blocking run): prepare the SQEs and submit them now, without
 * waiting; the wait's own flush leaves the submit to its io_uring_enter. */
static int flush_and_submit(udg_loop *loop)
{
	struct udg__uring *u = udg__uring_of(loop);
	int r = udg__uring_flush(loop);
	unsigned queued = io_uring_sq_ready(&u->ring);

	if (r != 0 || queued == 0)
		return r;
	r = io_uring_submit(&u->ring);
	loop->stats.enters++;
	if (r > 0)
		loop->stats.sqes_submitted += (unsigned)r;
	/* Refused for now (CQ overflow backlog, interrupted): the next run submits them. */
	return r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR ? r : 0;
}

bool udg__uring_pending(const udg_loop *loop)
{
	const struct udg__uring *u = udg__uring_of(loop);
	return !udg__list_empty(&loop->bk->dirty) || io_uring_sq_ready(&u->ring) > 0;
}

/* With DEFER_TASKRUN the ring fd does not poll readable when completions are pending: they
 * are only posted when we enter the kernel. An eventfd registered with the ring is signalled as
 * work arrives in either mode, so embedding uses that. Created on first use: an unembedded loop
 * pays nothing for it. */
int udg__uring_embed_fd(udg_loop *loop)
{
	struct udg__uring *u = udg__uring_of(loop);

	if (u->embed_fd >= 0)
		return u->embed_fd;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	int r = io_uring_register_eventfd(&u->ring, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	u->embed_fd = fd;
	return fd;
}

/* ---- Endpoints ---------------------------------------------------------------------------- */

static int io_open(struct udg__io *io)
{
	io->u.uring.recv_op.complete = recv_complete;
	/* Room for either family's source address, and for the control messages the owner's
	 * metadata needs (none by default); padded so those messages are aligned. */
	io->u.uring.recv_msg = (struct msghdr){ .msg_namelen = sizeof(struct sockaddr_in6) };
	if (io->rx_ctrl) {
		io->u.uring.recv_msg.msg_namelen += UDG__RMETA_NAME_PAD;
		io->u.uring.recv_msg.msg_controllen = io->rx_ctrl;
	}
	io->u.uring.cancelling = false;
	udg__list_init(&io->u.uring.low_link);
	return 0;
}

static void io_close(struct udg__io *io)
{
	assert(!udg__list_linked(&io->u.uring.low_link));
}

const struct udg__io_ops udg__uring_io_ops = {
	.open = io_open,
	.close = io_close,
};

const struct udg__backend_ops udg__uring_ops = {
	.name = "io_uring",
	.create = udg__uring_create,
	.destroy = udg__uring_destroy,
	.wait = udg__uring_wait,
	.flush = flush_and_submit,
	.embed_fd = udg__uring_embed_fd,
	.pending = udg__uring_pending,
};
