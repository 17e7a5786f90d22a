/* tests/valgrind/enter_slices.c — an LD_PRELOAD shim for `make valgrind` only: valgrind 3.19 runs
 * io_uring_enter while holding its thread lock, so while a loop waits in the kernel no other
 * thread of the process runs (a post, udg_loop_stop, a resolver worker), and the wait only ends
 * when its timeout does. The shim cuts liburing's blocking waits into 10 ms slices, returning
 * early when a completion is ready, and yields between slices so other threads get their turn. The
 * engine code under test is unchanged; never use this outside valgrind. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <time.h>

#define SLICE_NS 10000000LL

typedef int (*wait_timeout_fn)(struct io_uring *, struct io_uring_cqe **, unsigned,
			       struct __kernel_timespec *, sigset_t *);

static wait_timeout_fn real_wait_timeout(void)
{
	static wait_timeout_fn fn;
	if (!fn)
		fn = (wait_timeout_fn)dlsym(RTLD_NEXT, "io_uring_submit_and_wait_timeout");
	return fn;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wait in slices until wait_nr completions, a completion after a slice, an error, or the
 * deadline (-1: none). The first slice submits what is queued, as the real call would. */
static int sliced(struct io_uring *ring, struct io_uring_cqe **cqe, unsigned wait_nr,
		  long long deadline, sigset_t *sigmask)
{
	for (;;) {
		long long left = deadline < 0 ? SLICE_NS : deadline - now_ns();
		if (left <= 0)
			return -ETIME;
		struct __kernel_timespec ts = { .tv_sec = 0,
						.tv_nsec = left < SLICE_NS ? left : SLICE_NS };
		int r = real_wait_timeout()(ring, cqe, wait_nr, &ts, sigmask);
		/* liburing reports a slice that submitted SQEs and then timed out as the number
		 * submitted, not -ETIME: only what is in the CQ tells a wake-up from a timeout. */
		if (r < 0 && r != -ETIME)
			return r;
		if (io_uring_cq_ready(ring) >= wait_nr)
			return 0;
		if (io_uring_cq_ready(ring) > 0)
			return -ETIME; /* some completions: the caller treats a timeout as a wake-up
					*/
		sched_yield();         /* valgrind hands its thread lock over here */
	}
}

int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	struct io_uring_cqe *cqe;
	int r = sliced(ring, &cqe, wait_nr, -1, NULL);
	return r == -ETIME ? 0 : r;
}

int io_uring_submit_and_wait_timeout(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
				     unsigned wait_nr, struct __kernel_timespec *ts,
				     sigset_t *sigmask)
{
	long long deadline = ts ? now_ns() + ts->tv_sec * 1000000000LL + ts->tv_nsec : -1;
	return sliced(ring, cqe_ptr, wait_nr, deadline, sigmask);
}
