/* engine/timer.c — timers: a binary min-heap ordered by (deadline, start sequence), so ties fire
 * in the order they were started. The loop waits until the heap's top deadline in the same
 * io_uring_enter that submits its SQEs; no timer ever costs an SQE. Never allocates per fire.
 * Deadline arithmetic saturates at UDG_TIMER_NEVER: no input can wrap a deadline into the past. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core.h"

#define TIMER_INACTIVE SIZE_MAX

struct udg_timer {
	struct udg__handle handle; /* first: udg_loop_walk() hands out this address */
	udg_loop *loop;
	uint64_t deadline_ns;
	uint64_t repeat_ns;
	uint64_t seq;      /* start order: breaks deadline ties */
	size_t heap_index; /* TIMER_INACTIVE when not in the heap */
	udg_timer_cb cb;
	void *user;
	bool referenced;
};

uint64_t udg__clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* now + delta, saturated: a deadline past the clock's range is UDG_TIMER_NEVER, never a wrapped
 * value in the past (which would fire at once, or re-fire a repeat forever in one pass). */
static uint64_t deadline_after(uint64_t now, uint64_t delta)
{
	return delta >= UDG_TIMER_NEVER - now ? UDG_TIMER_NEVER : now + delta;
}

static bool before(const udg_timer *a, const udg_timer *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

static void heap_set(udg_loop *loop, size_t i, udg_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i;
}

static void sift_up(udg_loop *loop, size_t i)
{
	udg_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void sift_down(udg_loop *loop, size_t i)
{
	udg_timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len && before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!before(loop->heap[child], t))
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

static void heap_remove(udg_loop *loop, udg_timer *t)
{
	size_t i = t->heap_index;
	udg_timer *last = loop->heap[--loop->heap_len];

	t->heap_index = TIMER_INACTIVE;
	if (last == t)
		return;
	heap_set(loop, i, last);
	sift_down(loop, i);
	sift_up(loop, last->heap_index);
}

static int heap_insert(udg_loop *loop, udg_timer *t)
{
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		udg_timer **h = realloc(loop->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		loop->heap = h;
		loop->heap_cap = cap;
	}
	t->seq = loop->timer_seq++;
	heap_set(loop, loop->heap_len++, t);
	sift_up(loop, t->heap_index);
	return 0;
}

static void set_active(udg_timer *t, bool active)
{
	if (t->referenced)
		udg__active_add(t->loop, active ? 1 : -1);
}

UDG_EXPORT int udg_timer_new(udg_loop *loop, udg_timer **out)
{
	UDG__PRESERVE_ERRNO;
	if (!loop || !out)
		return -EINVAL;
	udg_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->heap_index = TIMER_INACTIVE;
	t->referenced = true;
	udg__handle_add(loop, &t->handle, UDG_HANDLE_TIMER);
	*out = t;
	return 0;
}

UDG_EXPORT int udg_timer_start(udg_timer *t, uint64_t timeout_ns, uint64_t repeat_ns,
			       udg_timer_cb cb, void *user)
{
	UDG__PRESERVE_ERRNO;
	if (!t || !cb)
		return -EINVAL;
	udg_loop *loop = t->loop;
	bool was_active = t->heap_index != TIMER_INACTIVE;

	if (was_active)
		heap_remove(loop, t);
	/* Measured from the loop's cached clock, refreshed here so a timer started long after the
	 * iteration began does not fire early. */
	loop->now_ns = udg__clock_ns();
	t->deadline_ns = deadline_after(loop->now_ns, timeout_ns);
	t->repeat_ns = repeat_ns;
	t->cb = cb;
	t->user = user;
	int r = heap_insert(loop, t);
	if (r != 0) {
		if (was_active)
			set_active(t, false);
		return r;
	}
	if (!was_active)
		set_active(t, true);
	return 0;
}

UDG_EXPORT int udg_timer_stop(udg_timer *t)
{
	if (!t)
		return -EINVAL;
	if (t->heap_index != TIMER_INACTIVE) {
		heap_remove(t->loop, t);
		set_active(t, false);
	}
	return 0;
}

UDG_EXPORT void udg_timer_ref(udg_timer *t)
{
	if (!t || t->referenced)
		return;
	t->referenced = true;
	if (t->heap_index != TIMER_INACTIVE)
		udg__active_add(t->loop, 1);
}

UDG_EXPORT void udg_timer_unref(udg_timer *t)
{
	if (!t || !t->referenced)
		return;
	if (t->heap_index != TIMER_INACTIVE)
		udg__active_add(t->loop, -1);
	t->referenced = false;
}

UDG_EXPORT void udg_timer_free(udg_timer *t)
{
	if (!t)
		return;
	udg_timer_stop(t);
	udg__handle_remove(t->loop, &t->handle);
	free(t);
}

/* Fire every timer due at the iteration's start. A repeating timer is re-queued before its
 * callback runs (so the callback may stop or free it); its next deadline is at least now + 1
 * (saturated, never wrapped), so it waits for the next iteration, which bounds this loop. A
 * deadline of UDG_TIMER_NEVER is never due. */
unsigned udg__timers_run(udg_loop *loop)
{
	uint64_t now = loop->now_ns;
	unsigned fired = 0;

	while (loop->heap_len > 0) {
		udg_timer *t = loop->heap[0];
		if (t->deadline_ns > now || t->deadline_ns == UDG_TIMER_NEVER)
			break;
		heap_remove(loop, t);
		if (t->repeat_ns) {
			t->deadline_ns = deadline_after(now, t->repeat_ns);
			if (heap_insert(loop, t) != 0)
				set_active(t, false);
		} else {
			set_active(t, false);
		}
		fired++;
		t->cb(t, t->user);
	}
	return fired;
}

/* -1 when no timer can fire (none, or only UDG_TIMER_NEVER ones: the heap's top is the
 * earliest); otherwise the wait, clamped to INT64_MAX (292 years) so it never turns negative. */
int64_t udg__timers_next_ns(const udg_loop *loop)
{
	if (loop->heap_len == 0 || loop->heap[0]->deadline_ns == UDG_TIMER_NEVER)
		return -1;
	uint64_t d = loop->heap[0]->deadline_ns;
	uint64_t now = udg__clock_ns();
	if (d <= now)
		return 0;
	return d - now > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(d - now);
}
