/* tests/test_timer.c — timer inputs at the edges of the clock: timeouts and repeats whose
 * deadlines would wrap saturate to UDG_TIMER_NEVER, never fire early, and never re-fire inside
 * one loop pass; what udg_loop_timeout_ns() reports for them. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "udg.h"

#define MS 1000000ull

static udg_loop *new_loop(void)
{
	udg_loop *loop = NULL;
	int r = udg_loop_new(NULL, &loop);
	cr_assert_eq(r, 0, "udg_loop_new: %s", udg_strerror(r));
	return loop;
}

/* Counts fires; stops the timer at the second fire so that a timer that would re-fire forever
 * inside one pass (the bug this guards against) ends the pass with a count of 2, not a hang. */
static void count_then_stop_cb(udg_timer *t, void *user)
{
	if (++*(int *)user >= 2)
		udg_timer_stop(t);
}

static udg_timer *started(udg_loop *loop, uint64_t timeout, uint64_t repeat, int *count)
{
	udg_timer *t;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, timeout, repeat, count_then_stop_cb, count), 0);
	return t;
}

Test(timer, a_never_timeout_does_not_fire)
{
	udg_loop *loop = new_loop();
	int fired = 0;
	udg_timer *t = started(loop, UDG_TIMER_NEVER, 0, &fired);

	for (int i = 0; i < 3; i++)
		cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1, "the timer is still active");
	cr_assert_eq(fired, 0, "UINT64_MAX must not wrap to a deadline in the past");
	cr_assert_eq(udg_loop_timeout_ns(loop), -1, "nothing can fire: wait on the fd alone");
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, every_timeout_whose_deadline_would_wrap_saturates_to_never)
{
	udg_loop *loop = new_loop();
	int fired = 0;
	uint64_t now = udg_loop_now_ns(loop);
	/* now + x wraps for each of these (the clock only grows): just past the range, half of
	 * now past it, and the largest value short of UDG_TIMER_NEVER. */
	const uint64_t near_wrap[] = { UINT64_MAX - now + 1, UINT64_MAX - now / 2, UINT64_MAX - 1 };
	udg_timer *t[3];

	for (int i = 0; i < 3; i++)
		t[i] = started(loop, near_wrap[i], 0, &fired);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	cr_assert_eq(fired, 0);
	cr_assert_eq(udg_loop_timeout_ns(loop), -1);
	for (int i = 0; i < 3; i++)
		udg_timer_free(t[i]);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, a_never_repeat_fires_once_and_not_again_in_the_same_pass)
{
	udg_loop *loop = new_loop();
	int fired = 0;
	udg_timer *t = started(loop, 0, UDG_TIMER_NEVER, &fired);

	cr_assert_eq(udg_loop_run(loop, UDG_RUN_ONCE), 1);
	cr_assert_eq(fired, 1, "a repeat of UINT64_MAX wrapped to now - 1 and re-fired");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1, "still active, never due");
	cr_assert_eq(fired, 1);
	cr_assert_eq(udg_loop_timeout_ns(loop), -1);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, a_repeat_that_wraps_after_a_late_start_also_saturates)
{
	udg_loop *loop = new_loop();
	int fired = 0;
	/* Any repeat above UINT64_MAX - now wraps; this one does for every clock value. */
	udg_timer *t = started(loop, 1 * MS, UINT64_MAX - 1, &fired);
	udg_timer *guard;
	int guard_fired = 0;

	cr_assert_eq(udg_timer_new(loop, &guard), 0);
	cr_assert_eq(udg_timer_start(guard, 5 * MS, 0, count_then_stop_cb, &guard_fired), 0);
	while (guard_fired == 0)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	cr_assert_eq(fired, 1);
	udg_timer_free(t);
	udg_timer_free(guard);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, a_huge_finite_timeout_reports_a_positive_wait)
{
	udg_loop *loop = new_loop();
	int fired = 0;
	/* 2^63 ns + 1000 s: a deadline that does not wrap, but a wait that does not fit an int64_t
	 * (the slack covers the clock's progress between start and the query). */
	udg_timer *t = started(loop, (uint64_t)INT64_MAX + 1000000 * MS, 0, &fired);

	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1, "submits the loop's first SQEs");
	int64_t wait = udg_loop_timeout_ns(loop);
	cr_assert_eq(wait, INT64_MAX, "a wait past INT64_MAX is clamped, got %lld",
		     (long long)wait);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	cr_assert_eq(fired, 0);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, an_unreferenced_never_timer_lets_the_default_run_return)
{
	udg_loop *loop = new_loop();
	int fired = 0;
	udg_timer *t = started(loop, UDG_TIMER_NEVER, UDG_TIMER_NEVER, &fired);

	udg_timer_unref(t);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 0);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, restarting_a_never_timer_with_a_short_timeout_fires_it)
{
	udg_loop *loop = new_loop();
	int fired = 0;
	udg_timer *t = started(loop, UDG_TIMER_NEVER, 0, &fired);

	cr_assert_eq(udg_timer_start(t, 1 * MS, 0, count_then_stop_cb, &fired), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 1);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}
