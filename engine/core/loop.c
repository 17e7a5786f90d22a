/* engine/core/loop.c — the loop. One iteration: run due timers, posts and next-tick calls, then
 * one backend wait hands everything queued to the kernel, waits for events (or the next timer)
 * and completes each through its op. The loop knows no socket and no ring: the backend table
 * (core.h) is all it calls. This file never allocates after udg_loop_new and never prints. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

#ifdef UDG_FAULT_INJECTION
/* Test builds only: bits of enum udg__fault set by a test to force an error path. */
unsigned udg__faults;
#endif

/* Flushes at the end of a non-blocking run: a completion delivered by one may queue another
 * send (an echo); a few rounds hand those over too, and the bound keeps the run short. */
#define NOWAIT_FLUSH_ROUNDS 4

/* ---- The run loop ------------------------------------------------------------------------ */

static bool loop_alive(const udg_loop *loop)
{
	return loop->active_refs > 0 || loop->reqs > 0 || !udg__fifo_empty(&loop->ticks) ||
	       atomic_load_explicit(&loop->post_count, memory_order_relaxed) > 0;
}

static unsigned run_ticks(udg_loop *loop);

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

/* How long the backend may wait: not at all when something is ready or nothing can happen,
 * else until the next timer (-1: none). */
static int64_t wait_timeout(const udg_loop *loop, udg_run_mode mode, bool ran)
{
	bool block = mode != UDG_RUN_NOWAIT && !(mode == UDG_RUN_ONCE && ran) &&
		     udg__fifo_empty(&loop->ticks) && loop_alive(loop);
	return block ? udg__timers_next_ns(loop) : 0;
}

/* A non-blocking run returns with nothing queued: what its callbacks sent is with the kernel,
 * so an embedding loop need not run us again just to submit it. */
static int flush_queued(udg_loop *loop)
{
	int r = 0;

	for (int i = 0; i < NOWAIT_FLUSH_ROUNDS && r >= 0 && loop->bk->ops->pending(loop); i++)
		r = loop->bk->ops->flush(loop);
	return r;
}

UDG_EXPORT int udg_loop_run(udg_loop *loop, udg_run_mode mode)
{
	if (!loop || (mode != UDG_RUN_DEFAULT && mode != UDG_RUN_ONCE && mode != UDG_RUN_NOWAIT))
		return -EINVAL;
	if (udg__loop_forked(loop))
		return UDG_ERR_LOOP_FORKED;
	if (loop->running)
		return -EBUSY;
	UDG__PRESERVE_ERRNO;
	loop->running = true;
	int r = 0;

	for (;;) {
		bool ran = run_ready(loop);
		if (atomic_load(&loop->stop_requested))
			break;
		r = loop->bk->ops->wait(loop, wait_timeout(loop, mode, ran),
					mode == UDG_RUN_DEFAULT);
		if (r < 0)
			break;
		loop->stats.iterations++;
		if (mode != UDG_RUN_DEFAULT) {
			/* ONCE/NOWAIT: deliver what the wait brought (a due timer, a post), and
			 * hand over what that queued. */
			run_ready(loop);
			r = flush_queued(loop);
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
	udg__fifo_push(&loop->ticks, &t->node);
}

/* Run the ticks queued so far; ticks queued by these callbacks wait for the next round (the
 * loop then does not block), so a callback that re-queues itself cannot starve the kernel. */
static unsigned run_ticks(udg_loop *loop)
{
	struct udg__qnode *n = udg__fifo_take(&loop->ticks);
	unsigned ran = 0;

	while (n) {
		struct udg__qnode *next = n->next;
		struct udg__tick *t = UDG__CONTAINER_OF(n, struct udg__tick, node);
		t->queued = false;
		n->next = NULL;
		t->fn(t);
		n = next;
		ran++;
	}
	return ran;
}

/* ---- Liveness and fork ---------------------------------------------------------------------- */

void udg__active_add(udg_loop *loop, int delta)
{
	assert(delta > 0 || loop->active_refs >= (unsigned)-delta);
	loop->active_refs += (unsigned)delta;
}

/* Bumped in every child a fork makes: a loop created under an older value belongs to an
 * ancestor, whose ring (a SINGLE_ISSUER ring refuses the child with EEXIST) and threads the
 * child does not have. Checking it costs one load. */
static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void)
{
	atomic_fetch_add(&fork_gen, 1);
}

static void fork_hook(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

bool udg__loop_forked(const udg_loop *loop)
{
	return UDG__UNLIKELY(loop->fork_gen !=
			     atomic_load_explicit(&fork_gen, memory_order_relaxed));
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
	if (o->flags & ~(unsigned)(UDG_LOOP_NO_TASKRUN_FLAGS | UDG_LOOP_FIXED_RECV_BUFFERS))
		return UDG_ERR_INVALID_ARG_VALUE; /* a flag this version does not know */
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
	pthread_once(&fork_once, fork_hook);
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
	loop->fork_gen = atomic_load(&fork_gen);
	udg__fifo_init(&loop->ticks);
	udg__list_init(&loop->handle_list);
	r = udg__post_init(loop);
	if (r != 0)
		goto fail_free;
	r = udg__backend_create(loop);
	if (r != 0)
		goto fail_post;
	loop->now_ns = udg__clock_ns();
	*out = loop;
	return 0;

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
	if (udg__loop_forked(loop))
		return UDG_ERR_LOOP_FORKED;
	if (loop->running || loop->handles > 0 || loop_alive(loop) || loop->bk->ops->pending(loop))
		return -EBUSY;
	if (loop->upper.shutdown && loop->upper.shutdown(loop) != 0)
		return -EBUSY;
	/* Closed to posters under their lock, and only when none is queued: a post that returned
	 * 0 always runs, and no poster writes the wake-up descriptor once it is closed. */
	if (udg__posts_close(loop) != 0)
		return -EBUSY;
	loop->bk->ops->destroy(loop);
	udg__post_fini(loop);
	free(loop->heap);
	free(loop);
	return 0;
}

/* ---- Introspection ------------------------------------------------------------------------- */

UDG_EXPORT int udg_loop_fd(udg_loop *loop)
{
	if (!loop)
		return -EINVAL;
	if (udg__loop_forked(loop))
		return UDG_ERR_LOOP_FORKED;
	UDG__PRESERVE_ERRNO;
	return loop->bk->ops->embed_fd(loop);
}

UDG_EXPORT int64_t udg_loop_timeout_ns(const udg_loop *loop)
{
	if (!loop)
		return -1;
	if (!udg__fifo_empty(&loop->ticks) || atomic_load(&loop->post_count) > 0 ||
	    loop->bk->ops->pending(loop))
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
	if (!loop || !out)
		return;
	*out = loop->stats;
	if (loop->upper.stats)
		loop->upper.stats(loop, out);
}

UDG_EXPORT uint64_t udg_loop_now_ns(const udg_loop *loop)
{
	return loop ? loop->now_ns : 0;
}
