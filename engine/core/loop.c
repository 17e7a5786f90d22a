/* engine/loop.c — the ring reactor. One iteration: run due timers, posts and next-tick calls;
 * one io_uring_enter submits everything queued and waits; copy a batch of CQEs out, advance the
 * CQ once, dispatch each through its tagged op; give receive buffers back once per batch.
 * This file is the hot path: it never allocates, never formats, never prints. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../internal.h"

/* CQEs copied out per peek. 64 matches the batch a recvmmsg peer uses and keeps the copy on the
 * stack (64 * 16 bytes). */
#define REAP_BATCH 64

/* Batched waiting. On loopback every completion the kernel posts can wake us, so a flood costs a
 * wake-up (and an enter) per datagram unless we ask for several at once. When the previous
 * iteration reaped at least LOAD_MIN_CQES, the next wait asks for twice that many (at most
 * LOAD_MAX_WAIT) but gives up after LOAD_WAIT_NS and takes whatever arrived. When idle (the
 * last iteration saw fewer) we wake on the first one, so K=1 latency is untouched: ping-pong
 * reaps 2 per iteration (the reply's send and the next request), which is why the threshold is 4
 * (at 2, K=1 p50 lost ~10 us to the cap; benchmark suite). The worst case is one LOAD_WAIT_NS
 * delay on the first datagram after a burst ends. */
#define LOAD_MIN_CQES 4
#define LOAD_MAX_WAIT 32
#define LOAD_WAIT_NS 50000

#ifdef UDG_FAULT_INJECTION
/* Test builds only: bits of enum udg__fault set by a test to force an error path. */
unsigned udg__faults;
#endif

/* A CQE copied out of the ring, so the CQ can advance before callbacks run. */
struct cqe_copy {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

/* ---- The run loop ------------------------------------------------------------------------ */

static bool loop_alive(const udg_loop *loop)
{
	return loop->active_refs > 0 || loop->reqs > 0 || loop->tick_head != NULL ||
	       loop->stash != NULL ||
	       atomic_load_explicit(&loop->post_count, memory_order_relaxed) > 0;
}

static unsigned run_ticks(udg_loop *loop);
static int enter(udg_loop *loop, bool block, bool batch);
static unsigned reap(udg_loop *loop);
static void embed_drain(udg_loop *loop);

/* Timers, posts and next-tick calls: everything that runs without waiting on the kernel.
 * Returns whether any of them ran (ONCE then does not block). */
static bool run_ready(udg_loop *loop)
{
	loop->now_ns = udg__clock_ns();
	unsigned ran = udg__timers_run(loop);
	ran += udg__posts_run(loop);
	ran += run_ticks(loop);
	return ran > 0;
}

UDG_EXPORT int udg_loop_run(udg_loop *loop, udg_run_mode mode)
{
	if (!loop || (mode != UDG_RUN_DEFAULT && mode != UDG_RUN_ONCE && mode != UDG_RUN_NOWAIT))
		return -EINVAL;
	if (loop->running)
		return -EBUSY;
	UDG__PRESERVE_ERRNO;
	loop->running = true;
	int r = 0;
	if (loop->embed_fd >= 0)
		embed_drain(loop);

	for (;;) {
		bool ran = run_ready(loop);
		if (atomic_load(&loop->stop_requested))
			break;
		/* Block only when nothing is ready to run and something can still happen; ONCE
		 * promises one round of events, so it does not block after delivering some. */
		bool block = mode != UDG_RUN_NOWAIT && !(mode == UDG_RUN_ONCE && ran) &&
			     loop->tick_head == NULL && !loop->stash && loop_alive(loop);
		r = enter(loop, block, mode == UDG_RUN_DEFAULT);
		if (r < 0)
			break;
		loop->last_reaped = reap(loop);
		loop->stats.iterations++;
		if (mode != UDG_RUN_DEFAULT) {
			/* ONCE/NOWAIT: deliver what the wait brought (a due timer, a post). */
			run_ready(loop);
			break;
		}
		if (atomic_load(&loop->stop_requested) || !loop_alive(loop))
			break;
	}
	atomic_store(&loop->stop_requested, false);
	loop->running = false;
	if (r < 0)
		return r;
	return loop_alive(loop) ? 1 : 0;
}

/* ---- Next tick ----------------------------------------------------------------------------- */

void udg__tick_queue(udg_loop *loop, struct udg__tick *t, void (*fn)(struct udg__tick *))
{
	if (t->queued)
		return;
	t->queued = true;
	t->fn = fn;
	t->next = NULL;
	*loop->tick_tail = t;
	loop->tick_tail = &t->next;
}

/* Run the ticks queued so far; ticks queued by these callbacks wait for the next round (the
 * loop then does not block), so a callback that re-queues itself cannot starve the ring. */
static unsigned run_ticks(udg_loop *loop)
{
	struct udg__tick *t = loop->tick_head;
	unsigned ran = 0;

	loop->tick_head = NULL;
	loop->tick_tail = &loop->tick_head;
	while (t) {
		struct udg__tick *next = t->next;
		t->queued = false;
		t->next = NULL;
		t->fn(t);
		t = next;
		ran++;
	}
	return ran;
}

/* ---- Submit and wait ------------------------------------------------------------------------ */

static void stash_cqes(udg_loop *loop);

struct io_uring_sqe *udg__sqe(udg_loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	/* SQ full: hand what is queued to the kernel now (no callbacks run here) and retry. With
	 * SUBMIT_ALL every queued SQE is consumed. Should the kernel refuse to take them (EBUSY
	 * or EAGAIN: its CQ overflow list or request memory is full), move the posted CQEs into
	 * the stash to make room; they are dispatched by the next reap, never inside this call. */
	while (UDG__UNLIKELY(!sqe)) {
		int r;
		if (UDG__FAULT(UDG__FAULT_SUBMIT_EBUSY)) {
#ifdef UDG_FAULT_INJECTION
			udg__faults &= ~(unsigned)UDG__FAULT_SUBMIT_EBUSY; /* one refusal */
#endif
			r = -EBUSY;
		} else {
			r = io_uring_submit(&loop->ring);
		}
		loop->stats.enters++;
		loop->stats.sq_full_flushes++;
		if (r > 0)
			loop->stats.sqes_submitted += (unsigned)r;
		else if (r < 0 && r != -EINTR)
			stash_cqes(loop);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

/* One io_uring_enter: submit everything callbacks queued, and either wait for a completion (or
 * the next timer) or just collect what is there. Interruptions and timeouts are not errors.
 * Only the default run mode batches its waits: ONCE promises to block for an event. */
static int enter(udg_loop *loop, bool block, bool batch)
{
	struct io_uring *ring = &loop->ring;
	unsigned queued = io_uring_sq_ready(ring);
	struct io_uring_cqe *cqe = NULL;
	int r;

	if (!block) {
		/* Without DEFER_TASKRUN completions are already visible: skip the syscall when
		 * there is nothing to submit. With it, only an enter runs the deferred work. */
		if (queued == 0 && !(loop->features & UDG_FEAT_DEFER_TASKRUN))
			return 0;
		r = io_uring_submit_and_get_events(ring);
	} else {
		int64_t timeout = udg__timers_next_ns(loop);
		unsigned want = 1;
		if (batch && loop->last_reaped >= LOAD_MIN_CQES) {
			want = loop->last_reaped * 2;
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

/* ---- Reap and dispatch --------------------------------------------------------------------- */

/* Completions taken out of the CQ while an API call needed SQ room; they wait here for the
 * next reap. Allocated only on that rare path, freed with the loop. */
struct udg__stash {
	size_t len, cap;
	struct cqe_copy cqes[];
};

static void stash_cqes(udg_loop *loop)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&loop->ring, head, cqe)
	{
		struct udg__stash *st = loop->stash;
		if (!st || st->len == st->cap) {
			size_t cap = st ? st->cap * 2 : 256;
			st = realloc(st, sizeof(*st) + cap * sizeof(st->cqes[0]));
			if (!st)
				break; /* leave the rest in the CQ: nothing is lost */
			if (!loop->stash)
				st->len = 0;
			st->cap = cap;
			loop->stash = st;
		}
		st->cqes[st->len++] = (struct cqe_copy){ cqe->user_data, cqe->res, cqe->flags };
		n++;
	}
	io_uring_cq_advance(&loop->ring, n);
	loop->stats.cqes_reaped += n;
}

static void dispatch(udg_loop *loop, const struct cqe_copy *c);

static void dispatch_stash(udg_loop *loop)
{
	struct udg__stash *st = loop->stash;

	/* Dispatch may stash more (a callback filling the SQ): take the list first. */
	loop->stash = NULL;
	for (size_t i = 0; i < st->len; i++)
		dispatch(loop, &st->cqes[i]);
	free(st);
	udg__recv_buffers_returned(loop);
}

static void dispatch(udg_loop *loop, const struct cqe_copy *c)
{
	struct udg__op *op = (struct udg__op *)(uintptr_t)c->user_data;

	if (!op)
		return; /* a cancel's own result: nobody waits for it */
	switch (op->kind) {
	case UDG__OP_RECV:
		udg__recv_complete(loop, op, c->res, c->flags);
		break;
	case UDG__OP_SEND:
		udg__send_complete(loop, op, c->res);
		break;
	case UDG__OP_WAKE:
		udg__wake_complete(loop);
		break;
	default:
		assert(!"unknown op kind");
	}
}

/* Copy a batch out and advance the CQ before any callback runs: a callback may submit and
 * wait (SQ full) and the kernel then has the whole CQ to post into. Bounded by the CQ size per
 * iteration so a flood cannot keep one iteration going forever. */
static unsigned reap(udg_loop *loop)
{
	struct io_uring *ring = &loop->ring;
	struct io_uring_cqe *cqes[REAP_BATCH];
	struct cqe_copy batch[REAP_BATCH];
	unsigned total = 0, n;

	if (UDG__UNLIKELY(loop->stash))
		dispatch_stash(loop);
	do {
		if (UDG__UNLIKELY(IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW))
			loop->stats.cq_overflows++;
		n = io_uring_peek_batch_cqe(ring, cqes, REAP_BATCH);
		for (unsigned i = 0; i < n; i++)
			batch[i] = (struct cqe_copy){ cqes[i]->user_data, cqes[i]->res,
						      cqes[i]->flags };
		io_uring_cq_advance(ring, n);
		for (unsigned i = 0; i < n; i++)
			dispatch(loop, &batch[i]);
		total += n;
		udg__recv_buffers_returned(loop);
	} while (n == REAP_BATCH && total < ring->cq.ring_entries);
	loop->stats.cqes_reaped += total;
	return total;
}

/* ---- Liveness ------------------------------------------------------------------------------ */

void udg__active_add(udg_loop *loop, int delta)
{
	assert(delta > 0 || loop->active_refs >= (unsigned)-delta);
	loop->active_refs += (unsigned)delta;
}

/* ---- Creation and teardown (cold, but short enough to live with the loop) ------------------ */

UDG_EXPORT void udg_loop_options_init(udg_loop_options *opts)
{
	if (!opts)
		return;
	*opts = (udg_loop_options){
		.sq_entries = 256,
		.cq_entries = 0,
		.recv_buf_size = 2048,
		.recv_buf_count = 1024,
		.send_slots = 1024,
		.flags = 0,
	};
}

static int options_check(udg_loop_options *o)
{
	if (o->sq_entries == 0 || o->sq_entries > 32768)
		return UDG_ERR_OUT_OF_RANGE;
	if (o->cq_entries == 0) {
		/* Room for every send slot and every receive buffer to complete in one round:
		 * a sender that fills its pool then overflowed a 4*sq CQ thousands of times a
		 * second, and the kernel's overflow path cost 6-10% of its CPU (benchmark suite).
		 */
		unsigned want = o->send_slots + o->recv_buf_count;
		o->cq_entries = want > o->sq_entries * 4 ? want : o->sq_entries * 4;
		if (o->cq_entries > 65536)
			o->cq_entries = 65536;
	}
	if (o->cq_entries < o->sq_entries || o->cq_entries > 65536)
		return UDG_ERR_OUT_OF_RANGE;
	/* The buffer must hold the recvmsg header, a sockaddr_in6 and a useful payload. */
	if (o->recv_buf_size < 256 || o->recv_buf_size > (1u << 20))
		return UDG_ERR_OUT_OF_RANGE;
	/* Buffer ids are 16 bits; the ring size must be a power of two. */
	if (o->recv_buf_count == 0 || o->recv_buf_count > 32768 ||
	    (o->recv_buf_count & (o->recv_buf_count - 1)))
		return UDG_ERR_OUT_OF_RANGE;
	if (o->send_slots == 0 || o->send_slots > (1u << 20))
		return UDG_ERR_OUT_OF_RANGE;
	return 0;
}

UDG_EXPORT int udg_loop_new(const udg_loop_options *opts, udg_loop **out)
{
	UDG__PRESERVE_ERRNO;
	if (!out)
		return -EINVAL;
	*out = NULL;
	udg_loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	if (opts)
		loop->opts = *opts;
	else
		udg_loop_options_init(&loop->opts);
	int r = options_check(&loop->opts);
	if (r != 0)
		goto fail_free;
	loop->tick_tail = &loop->tick_head;
	loop->embed_fd = -1;
	r = udg__post_init(loop);
	if (r != 0)
		goto fail_free;
	r = udg__ring_setup(loop);
	if (r != 0)
		goto fail_post;
	r = udg__sends_init(loop);
	if (r != 0)
		goto fail_ring;
	udg__wake_arm(loop);
	loop->now_ns = udg__clock_ns();
	*out = loop;
	return 0;

fail_ring:
	udg__ring_teardown(loop);
fail_post:
	udg__post_fini(loop);
fail_free:
	free(loop);
	return r;
}

UDG_EXPORT int udg_loop_close(udg_loop *loop)
{
	UDG__PRESERVE_ERRNO;
	if (!loop)
		return -EINVAL;
	if (loop->running || loop->handles > 0 || loop_alive(loop) || loop->slots_used > 0 ||
	    loop->stash)
		return -EBUSY;
	if (udg__resolver_shutdown(loop) != 0)
		return -EBUSY;
	pthread_mutex_lock(&loop->post_lock);
	loop->closed_for_posts = true;
	pthread_mutex_unlock(&loop->post_lock);
	udg__sends_fini(loop);
	if (loop->embed_fd >= 0)
		close(loop->embed_fd);
	udg__ring_teardown(loop);
	udg__post_fini(loop);
	free(loop->heap);
	free(loop);
	return 0;
}

/* ---- Introspection ------------------------------------------------------------------------- */

/* With DEFER_TASKRUN the ring fd does not poll readable when completions are pending: they
 * are only posted when we enter the kernel. An eventfd registered with the ring is signalled as
 * work arrives in either mode, so embedding uses that. Created on first use: an unembedded loop
 * pays nothing for it. */
UDG_EXPORT int udg_loop_fd(udg_loop *loop)
{
	if (!loop)
		return -EINVAL;
	if (loop->embed_fd >= 0)
		return loop->embed_fd;
	UDG__PRESERVE_ERRNO;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	int r = io_uring_register_eventfd(&loop->ring, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	loop->embed_fd = fd;
	return fd;
}

/* Reset the embedding eventfd before entering the kernel: whatever signalled it is processed by
 * this run, and anything arriving later signals it again. */
static void embed_drain(udg_loop *loop)
{
	uint64_t v;
	ssize_t n = read(loop->embed_fd, &v, sizeof(v));
	(void)n;
}

UDG_EXPORT int64_t udg_loop_timeout_ns(const udg_loop *loop)
{
	if (!loop)
		return -1;
	if (loop->tick_head || loop->stash || atomic_load(&loop->post_count) > 0 ||
	    io_uring_sq_ready(&loop->ring) > 0)
		return 0;
	return udg__timers_next_ns(loop);
}

UDG_EXPORT unsigned udg_loop_features(const udg_loop *loop)
{
	return loop ? loop->features : 0;
}

UDG_EXPORT const char *udg_loop_features_string(const udg_loop *loop)
{
	return loop ? loop->features_str : "";
}

UDG_EXPORT void udg_loop_stats_get(const udg_loop *loop, udg_loop_stats *out)
{
	if (loop && out)
		*out = loop->stats;
}

UDG_EXPORT uint64_t udg_loop_now_ns(const udg_loop *loop)
{
	return loop ? loop->now_ns : 0;
}
