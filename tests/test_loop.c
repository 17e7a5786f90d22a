/* tests/test_loop.c — the ring reactor on a real kernel: run modes, stop, timers, cross-thread
 * posts, embedding through udg_loop_fd, close while busy, io_uring unavailable. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "udg.h"

#define MS 1000000ull

static udg_loop *new_loop(void)
{
	udg_loop *loop = NULL;
	int r = udg_loop_new(NULL, &loop);
	cr_assert_eq(r, 0, "udg_loop_new: %s", udg_strerror(r));
	return loop;
}

/* ---- run modes ---- */

static void count_cb(udg_timer *t, void *user)
{
	(*(int *)user)++;
}

Test(loop, default_run_returns_zero_when_nothing_is_alive)
{
	udg_loop *loop = new_loop();
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(loop, default_run_returns_after_the_last_timer)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 5 * MS, 0, count_cb, &fired), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 1);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(loop, once_blocks_until_an_event_and_runs_it)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 20 * MS, 0, count_cb, &fired), 0);
	uint64_t t0 = udg_loop_now_ns(loop);
	int r = udg_loop_run(loop, UDG_RUN_ONCE);
	cr_assert_eq(fired, 1, "ONCE must block until the timer fires");
	cr_assert_eq(r, 0);
	cr_assert_geq(udg_loop_now_ns(loop) - t0, 20 * MS);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(loop, nowait_never_blocks)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 60000 * MS, 0, count_cb, &fired), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1, "a pending timer is alive work");
	cr_assert_eq(fired, 0);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

struct reentry {
	udg_loop *loop;
	int r;
};

static void reenter_cb(udg_timer *t, void *user)
{
	struct reentry *c = user;
	c->r = udg_loop_run(c->loop, UDG_RUN_NOWAIT);
}

Test(loop, run_from_a_callback_is_refused)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	struct reentry c = { loop, 0 };
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 0, 0, NULL, NULL), -EINVAL, "a timer needs a callback");
	cr_assert_eq(udg_timer_start(t, 0, 0, reenter_cb, &c), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(c.r, -EBUSY);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- stop ---- */

struct stopper {
	udg_loop *loop;
	int fired;
};

static void stop_cb(udg_timer *t, void *user)
{
	struct stopper *s = user;
	s->fired++;
	udg_loop_stop(s->loop);
}

Test(loop, stop_from_a_callback_returns_with_work_alive)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	struct stopper s = { loop, 0 };
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 1 * MS, 1 * MS, stop_cb, &s), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 1);
	cr_assert_eq(s.fired, 1);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 1, "the stop flag is consumed");
	cr_assert_eq(s.fired, 2);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static void *stop_later(void *arg)
{
	usleep(30000);
	udg_loop_stop(arg);
	return NULL;
}

Test(loop, stop_from_another_thread_wakes_a_blocked_loop)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 60000 * MS, 0, count_cb, &fired), 0);
	pthread_t th;
	pthread_create(&th, NULL, stop_later, loop);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 1);
	pthread_join(th, NULL);
	cr_assert_eq(fired, 0);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- timers ---- */

struct order {
	int seq[8];
	int n;
};
struct order_item {
	struct order *o;
	int id;
};

static void order_cb(udg_timer *t, void *user)
{
	struct order_item *it = user;
	it->o->seq[it->o->n++] = it->id;
}

Test(timer, fire_in_deadline_order_and_ties_in_start_order)
{
	udg_loop *loop = new_loop();
	struct order o = { { 0 }, 0 };
	/* deadlines (ms): 30, 10, 20, 10, 10 → ids 1 3 4 2 0 */
	const uint64_t ms[] = { 30, 10, 20, 10, 10 };
	udg_timer *t[5];
	struct order_item it[5];
	for (int i = 0; i < 5; i++) {
		it[i] = (struct order_item){ &o, i };
		cr_assert_eq(udg_timer_new(loop, &t[i]), 0);
	}
	/* Start the equal-deadline timers back to back with one deadline: use 0 delay offsets
	 * computed relative to the first start so ties are exact. */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(udg_timer_start(t[i], ms[i] * MS, 0, order_cb, &it[i]), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(o.n, 5);
	/* 10 ms timers were started in the order 1, 3, 4 and their deadlines increase with the
	 * start time, so the order is fully determined. */
	cr_assert_eq(o.seq[0], 1);
	cr_assert_eq(o.seq[1], 3);
	cr_assert_eq(o.seq[2], 4);
	cr_assert_eq(o.seq[3], 2);
	cr_assert_eq(o.seq[4], 0);
	for (int i = 0; i < 5; i++)
		udg_timer_free(t[i]);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, zero_timeouts_fire_in_start_order)
{
	udg_loop *loop = new_loop();
	struct order o = { { 0 }, 0 };
	udg_timer *t[6];
	struct order_item it[6];
	for (int i = 0; i < 6; i++) {
		it[i] = (struct order_item){ &o, i };
		cr_assert_eq(udg_timer_new(loop, &t[i]), 0);
		cr_assert_eq(udg_timer_start(t[i], 0, 0, order_cb, &it[i]), 0);
	}
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(o.n, 6);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(o.seq[i], i);
		udg_timer_free(t[i]);
	}
	cr_assert_eq(udg_loop_close(loop), 0);
}

struct repeat {
	int fired;
	int limit;
};

static void repeat_cb(udg_timer *t, void *user)
{
	struct repeat *r = user;
	if (++r->fired == r->limit)
		udg_timer_stop(t);
}

Test(timer, repeating_timer_fires_until_stopped)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	struct repeat rep = { 0, 5 };
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 1 * MS, 2 * MS, repeat_cb, &rep), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(rep.fired, 5);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static void free_self_cb(udg_timer *t, void *user)
{
	(*(int *)user)++;
	udg_timer_free(t);
}

Test(timer, a_timer_may_free_itself_in_its_callback)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 1 * MS, 1 * MS, free_self_cb, &fired), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, a_stopped_timer_never_fires)
{
	udg_loop *loop = new_loop();
	udg_timer *a, *b;
	int fa = 0, fb = 0;
	cr_assert_eq(udg_timer_new(loop, &a), 0);
	cr_assert_eq(udg_timer_new(loop, &b), 0);
	cr_assert_eq(udg_timer_start(a, 5 * MS, 0, count_cb, &fa), 0);
	cr_assert_eq(udg_timer_start(b, 10 * MS, 0, count_cb, &fb), 0);
	cr_assert_eq(udg_timer_stop(a), 0);
	cr_assert_eq(udg_timer_stop(a), 0, "stopping twice is harmless");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fa, 0);
	cr_assert_eq(fb, 1);
	udg_timer_free(a);
	udg_timer_free(b);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(timer, an_unreferenced_timer_does_not_keep_the_loop_alive)
{
	udg_loop *loop = new_loop();
	udg_timer *t, *ref;
	int fired = 0, fired_ref = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 50 * MS, 0, count_cb, &fired), 0);
	udg_timer_unref(t);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 0, "run returned without waiting for the unreferenced timer");
	/* It still fires while something else keeps the loop running. */
	cr_assert_eq(udg_timer_new(loop, &ref), 0);
	cr_assert_eq(udg_timer_start(ref, 100 * MS, 0, count_cb, &fired_ref), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 1);
	cr_assert_eq(fired_ref, 1);
	udg_timer_ref(t);
	udg_timer_free(t);
	udg_timer_free(ref);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- posts ---- */

#define POST_THREADS 4
#define POSTS_PER_THREAD 25000

struct post_state {
	udg_loop *loop;
	int last[POST_THREADS];
	long total;
	bool in_order;
};
struct post_arg {
	struct post_state *st;
	int thread;
	int seq;
};
struct poster {
	struct post_state *st;
	int thread;
	struct post_arg *args;
};

static void post_cb(void *arg)
{
	struct post_arg *a = arg;
	if (a->seq != a->st->last[a->thread] + 1)
		a->st->in_order = false;
	a->st->last[a->thread] = a->seq;
	a->st->total++;
}

static void *poster_main(void *arg)
{
	struct poster *p = arg;
	for (int i = 0; i < POSTS_PER_THREAD; i++) {
		p->args[i] = (struct post_arg){ p->st, p->thread, i };
		while (udg_loop_post(p->st->loop, post_cb, &p->args[i]) == -ENOMEM)
			usleep(100);
	}
	return NULL;
}

static void keepalive_cb(udg_timer *t, void *user)
{
	struct post_state *st = user;
	if (st->total == (long)POST_THREADS * POSTS_PER_THREAD)
		udg_timer_stop(t);
}

Test(post, posts_from_four_threads_run_exactly_once_in_per_thread_order)
{
	udg_loop *loop = new_loop();
	struct post_state st = { .loop = loop, .in_order = true };
	for (int i = 0; i < POST_THREADS; i++)
		st.last[i] = -1;
	struct poster p[POST_THREADS];
	pthread_t th[POST_THREADS];
	for (int i = 0; i < POST_THREADS; i++) {
		p[i] = (struct poster){ &st, i, calloc(POSTS_PER_THREAD, sizeof(struct post_arg)) };
		pthread_create(&th[i], NULL, poster_main, &p[i]);
	}
	/* A repeating timer keeps the loop alive until every post has run. */
	udg_timer *t;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 1 * MS, 1 * MS, keepalive_cb, &st), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	for (int i = 0; i < POST_THREADS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(st.total, (long)POST_THREADS * POSTS_PER_THREAD);
	cr_assert(st.in_order);
	for (int i = 0; i < POST_THREADS; i++) {
		cr_assert_eq(st.last[i], POSTS_PER_THREAD - 1);
		free(p[i].args);
	}
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static void *post_once_later(void *arg)
{
	usleep(30000);
	struct post_arg *a = arg;
	udg_loop_post(a->st->loop, post_cb, a);
	return NULL;
}

Test(post, a_post_wakes_a_blocked_once_run)
{
	udg_loop *loop = new_loop();
	struct post_state st = { .loop = loop, .in_order = true };
	st.last[0] = -1;
	struct post_arg a = { &st, 0, 0 };
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 60000 * MS, 0, count_cb, &fired), 0);
	pthread_t th;
	pthread_create(&th, NULL, post_once_later, &a);
	while (st.total == 0)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	pthread_join(th, NULL);
	cr_assert_eq(st.total, 1);
	cr_assert_eq(fired, 0);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(post, a_post_never_runs_inside_the_call)
{
	udg_loop *loop = new_loop();
	struct post_state st = { .loop = loop, .in_order = true };
	st.last[0] = -1;
	struct post_arg a = { &st, 0, 0 };
	cr_assert_eq(udg_loop_post(loop, post_cb, &a), 0);
	cr_assert_eq(st.total, 0);
	cr_assert_eq(udg_loop_close(loop), -EBUSY, "a pending post is alive work");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(st.total, 1);
	cr_assert_eq(udg_loop_post(NULL, post_cb, &a), -EINVAL);
	cr_assert_eq(udg_loop_post(loop, NULL, &a), -EINVAL);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- embedding ---- */

Test(loop, a_loop_driven_by_its_fd_with_epoll_and_nowait_runs_timers_and_posts)
{
	udg_loop *loop = new_loop();
	struct post_state st = { .loop = loop, .in_order = true };
	st.last[0] = -1;
	struct post_arg a = { &st, 0, 0 };
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 20 * MS, 0, count_cb, &fired), 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, udg_loop_fd(loop), &ev), 0);
	pthread_t th;
	pthread_create(&th, NULL, post_once_later, &a);
	int guard = 0;
	while ((fired == 0 || st.total == 0) && guard++ < 1000) {
		int64_t ns = udg_loop_timeout_ns(loop);
		int ms = ns < 0 ? 1000 : (int)((ns + 999999) / 1000000);
		struct epoll_event out;
		epoll_wait(ep, &out, 1, ms);
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	}
	pthread_join(th, NULL);
	cr_assert_eq(fired, 1);
	cr_assert_eq(st.total, 1);
	cr_assert_lt(guard, 100, "the fd must wake epoll, not a busy spin (%d rounds)", guard);
	close(ep);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static void *send_later(void *arg)
{
	usleep(30000);
	int port = *(int *)arg;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
	close(fd);
	return NULL;
}

static void embed_message(udg_socket *s, const void *d, size_t n, const udg_rinfo *ri, void *u)
{
	(*(int *)u)++;
}

Test(loop, the_loop_fd_wakes_epoll_for_a_datagram_and_a_post_with_no_timer_due)
{
	for (int variant = 0; variant < 2; variant++) {
		udg_loop_options lo;
		udg_loop_options_init(&lo);
		lo.flags = variant ? UDG_LOOP_NO_TASKRUN_FLAGS : 0;
		udg_loop *loop;
		cr_assert_eq(udg_loop_new(&lo, &loop), 0);
		int got = 0;
		udg_socket_options o;
		udg_socket_options_init(&o, UDG_UDP4);
		o.on_message = embed_message;
		o.user = &got;
		udg_socket *s;
		cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
		cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
		udg_address a;
		cr_assert_eq(udg_socket_address(s, &a), 0);
		int fd = udg_loop_fd(loop);
		cr_assert_geq(fd, 0);
		cr_assert_eq(udg_loop_fd(loop), fd, "the same fd every time");
		int ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
		struct post_state st = { .loop = loop, .in_order = true };
		st.last[0] = -1;
		struct post_arg pa = { &st, 0, 0 };
		pthread_t th1, th2;
		pthread_create(&th1, NULL, send_later, &a.port);
		pthread_create(&th2, NULL, post_once_later, &pa);
		int rounds = 0, timeouts = 0;
		while ((got == 0 || st.total == 0) && rounds++ < 200) {
			struct epoll_event out;
			/* No timer is armed: only the fd can end a long wait early. A zero timeout
			 * means work is queued for the kernel (the receive SQE before the first
			 * run), as an embedder must honour. */
			int ms = udg_loop_timeout_ns(loop) == 0 ? 0 : 2000;
			if (epoll_wait(ep, &out, 1, ms) == 0 && ms > 0)
				timeouts++;
			cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
		}
		pthread_join(th1, NULL);
		pthread_join(th2, NULL);
		cr_assert_eq(got, 1, "variant %d", variant);
		cr_assert_eq(st.total, 1, "variant %d", variant);
		cr_assert_eq(timeouts, 0, "variant %d: epoll had to time out", variant);
		cr_assert_lt(rounds, 50, "variant %d: no busy spin (%d rounds)", variant, rounds);
		close(ep);
		cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
		cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
		cr_assert_eq(udg_loop_close(loop), 0);
	}
}

static void connected_cb(udg_socket *s, int status, void *user)
{
	(*(int *)user)++;
}

Test(loop, once_returns_after_delivering_ready_events_without_blocking)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	int connected = 0, guard_fired = 0;
	cr_assert_eq(udg_socket_connect(s, 9, "127.0.0.1", connected_cb, &connected), 0);
	/* The guard only fires if ONCE blocks waiting for a kernel event that never comes. */
	udg_timer *guard;
	cr_assert_eq(udg_timer_new(loop, &guard), 0);
	cr_assert_eq(udg_timer_start(guard, 2000 * MS, 0, count_cb, &guard_fired), 0);
	cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	cr_assert_eq(connected, 1, "the 'connect' tick ran in this ONCE round");
	cr_assert_eq(guard_fired, 0, "ONCE must not block after it delivered events");
	udg_timer_free(guard);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- close ---- */

Test(loop, close_while_alive_returns_busy_and_succeeds_after)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 1 * MS, 0, count_cb, &fired), 0);
	cr_assert_eq(udg_loop_close(loop), -EBUSY);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), -EBUSY, "a timer handle is still allocated");
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(loop, options_out_of_range_are_refused)
{
	udg_loop_options o;
	udg_loop *loop = (udg_loop *)0x1;
	udg_loop_options_init(&o);
	o.recv_buf_count = 1000; /* not a power of two */
	cr_assert_eq(udg_loop_new(&o, &loop), UDG_ERR_OUT_OF_RANGE);
	cr_assert_null(loop);
	udg_loop_options_init(&o);
	o.sq_entries = 0;
	cr_assert_eq(udg_loop_new(&o, &loop), UDG_ERR_OUT_OF_RANGE);
	cr_assert_eq(udg_loop_new(NULL, NULL), -EINVAL);
}

Test(loop, features_report_what_the_probe_found)
{
	udg_loop *loop = new_loop();
	unsigned f = udg_loop_features(loop);
	const char *s = udg_loop_features_string(loop);
	cr_assert_not_null(s);
	if (f & UDG_FEAT_DEFER_TASKRUN) {
		cr_assert(f & UDG_FEAT_SINGLE_ISSUER, "DEFER_TASKRUN needs SINGLE_ISSUER");
		cr_assert_not_null(strstr(s, "DEFER_TASKRUN"));
	}
	udg_loop_options o;
	udg_loop_options_init(&o);
	o.flags = UDG_LOOP_NO_TASKRUN_FLAGS;
	udg_loop *plain;
	cr_assert_eq(udg_loop_new(&o, &plain), 0);
	cr_assert_eq(udg_loop_features(plain) & (UDG_FEAT_DEFER_TASKRUN | UDG_FEAT_COOP_TASKRUN),
		     0);
	cr_assert_eq(udg_loop_close(plain), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- io_uring unavailable ---- */

/* A seccomp filter that makes io_uring_setup fail with EPERM, as container runtimes do. */
static int deny_io_uring_setup(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Container runtimes deny io_uring_setup with EPERM: io_uring required fails with a documented
 * error; the automatic choice falls back to epoll and says why. */
Test(loop, io_uring_blocked_by_seccomp_fails_when_required_and_falls_back_to_epoll_otherwise)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (deny_io_uring_setup() != 0)
			_exit(3);
		udg_loop_options o;
		udg_loop_options_init(&o);
		o.backend = UDG_BACKEND_URING;
		udg_loop *loop = (udg_loop *)0x1;
		int r = udg_loop_new(&o, &loop);
		if (r != UDG_ERR_IO_URING_UNAVAILABLE || loop != NULL)
			_exit(1);
		if (strcmp(udg_err_name(r), "UNKNOWN") == 0 ||
		    strstr(udg_strerror(r), "io_uring") == NULL)
			_exit(2);
		if (unsetenv("UDG_BACKEND") != 0 || udg_loop_new(NULL, &loop) != 0)
			_exit(4);
		unsigned f = udg_loop_features(loop);
		if (udg_loop_backend(loop) != UDG_BACKEND_EPOLL || !(f & UDG_FEAT_EPOLL) ||
		    !(f & UDG_FEAT_FALLBACK))
			_exit(5);
		if (!strstr(udg_loop_features_string(loop), "EPERM"))
			_exit(6);
		_exit(udg_loop_close(loop) == 0 ? 0 : 7);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child must not crash");
	cr_assert_eq(WEXITSTATUS(status), 0, "child exit code %d", WEXITSTATUS(status));
}

Test(loop, the_backend_is_chosen_by_option_and_by_udg_backend_for_the_automatic_choice)
{
	const char *saved = getenv("UDG_BACKEND");
	char keep[16] = "";
	if (saved)
		snprintf(keep, sizeof(keep), "%s", saved);
	udg_loop_options o;
	udg_loop_options_init(&o);
	udg_loop *loop;

	o.backend = UDG_BACKEND_EPOLL;
	cr_assert_eq(udg_loop_new(&o, &loop), 0);
	cr_assert_eq(udg_loop_backend(loop), UDG_BACKEND_EPOLL);
	/* EPOLL_PWAIT2 where the kernel (and a tool such as valgrind) knows epoll_pwait2 */
	/* then the backend-independent offloads, such as "|GSO(128)" */
	const char *want =
		udg_loop_features(loop) & UDG_FEAT_EPOLL_PWAIT2 ? "epoll|EPOLL_PWAIT2" : "epoll";
	const char *got = udg_loop_features_string(loop);
	cr_assert_eq(strncmp(got, want, strlen(want)), 0, "features: %s", got);
	cr_assert(got[strlen(want)] == '\0' || got[strlen(want)] == '|', "features: %s", got);
	cr_assert_eq(udg_loop_close(loop), 0);

	setenv("UDG_BACKEND", "epoll", 1);
	o.backend = UDG_BACKEND_AUTO;
	cr_assert_eq(udg_loop_new(&o, &loop), 0);
	cr_assert_eq(udg_loop_backend(loop), UDG_BACKEND_EPOLL, "the variable picks epoll");
	cr_assert_eq(udg_loop_close(loop), 0);
	o.backend = UDG_BACKEND_URING;
	int r = udg_loop_new(&o, &loop);
	if (r != UDG_ERR_IO_URING_UNAVAILABLE) { /* not when run under the seccomp wrapper */
		cr_assert_eq(r, 0);
		cr_assert_eq(udg_loop_backend(loop), UDG_BACKEND_URING, "an explicit choice wins");
		cr_assert(udg_loop_features(loop) & UDG_FEAT_RECVMSG_MULTISHOT);
		cr_assert_not_null(strstr(udg_loop_features_string(loop), "io_uring: "));
		cr_assert_eq(udg_loop_close(loop), 0);
	}

	setenv("UDG_BACKEND", "kqueue", 1);
	o.backend = UDG_BACKEND_AUTO;
	loop = (udg_loop *)0x1;
	cr_assert_eq(udg_loop_new(&o, &loop), UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_null(loop);
	unsetenv("UDG_BACKEND");
	o.backend = (udg_backend)7;
	cr_assert_eq(udg_loop_new(&o, &loop), UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_eq(udg_loop_backend(NULL), UDG_BACKEND_AUTO);
	if (keep[0])
		setenv("UDG_BACKEND", keep, 1);
}

Test(loop, an_unknown_run_mode_is_refused)
{
	udg_loop *loop = new_loop();
	cr_assert_eq(udg_loop_run(loop, (udg_run_mode)7), -EINVAL);
	cr_assert_eq(udg_loop_run(NULL, UDG_RUN_DEFAULT), -EINVAL);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- hostile use: fork, flags, posts racing close, embedded echoes ---- */

Test(loop, a_child_after_fork_gets_loop_forked_from_every_call_and_never_spins)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		udg_socket_options o;
		udg_socket_options_init(&o, UDG_UDP4);
		udg_socket *s;
		int rc = 0;
		if (udg_loop_run(loop, UDG_RUN_DEFAULT) != UDG_ERR_LOOP_FORKED)
			rc |= 1;
		if (udg_loop_run(loop, UDG_RUN_NOWAIT) != UDG_ERR_LOOP_FORKED)
			rc |= 2;
		if (udg_loop_post(loop, (udg_post_cb)free, NULL) != UDG_ERR_LOOP_FORKED)
			rc |= 4;
		if (udg_socket_new(loop, &o, &s) != UDG_ERR_LOOP_FORKED)
			rc |= 8;
		if (udg_loop_fd(loop) != UDG_ERR_LOOP_FORKED)
			rc |= 16;
		if (udg_loop_close(loop) != UDG_ERR_LOOP_FORKED)
			rc |= 32;
		/* A loop the child makes itself works. */
		udg_loop *mine;
		if (udg_loop_new(NULL, &mine) != 0 || udg_loop_run(mine, UDG_RUN_NOWAIT) != 0 ||
		    udg_loop_close(mine) != 0)
			rc |= 64;
		_exit(rc);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child must not crash or hang");
	cr_assert_eq(WEXITSTATUS(status), 0, "child checks failed: mask %d", WEXITSTATUS(status));
	/* The parent's loop is untouched. */
	int fired = 0;
	cr_assert_eq(udg_timer_start(t, 1 * MS, 0, count_cb, &fired), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 1);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(loop, an_unknown_loop_flag_is_refused)
{
	udg_loop_options o;
	udg_loop_options_init(&o);
	o.flags = 1u << 9;
	udg_loop *loop = (udg_loop *)0x1;
	cr_assert_eq(udg_loop_new(&o, &loop), UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_null(loop);
}

struct racer {
	udg_loop *loop;
	atomic_int accepted;
	atomic_int ran;
	atomic_bool go;
};

static void racer_post(void *arg)
{
	atomic_fetch_add(&((struct racer *)arg)->ran, 1);
}

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	while (!atomic_load(&r->go))
		;
	for (;;) {
		int rc = udg_loop_post(r->loop, racer_post, r);
		if (rc == UDG_ERR_LOOP_CLOSED)
			return NULL;
		cr_assert_eq(rc, 0);
		atomic_fetch_add(&r->accepted, 1);
	}
}

/* The loop closes to posts only when none is queued, under the posters' lock: every post that
 * returned 0 runs. (udg__posts_close is the step udg_loop_close takes; calling it directly lets
 * the poster keep racing without touching a freed loop.) */
int udg__posts_close(udg_loop *loop);

Test(loop, a_post_racing_close_either_runs_or_is_refused_never_lost)
{
	for (int round = 0; round < 50; round++) {
		struct racer r = { .loop = new_loop() };
		pthread_t th;
		pthread_create(&th, NULL, racer_main, &r);
		atomic_store(&r.go, true);
		while (udg__posts_close(r.loop) != 0)
			cr_assert_geq(udg_loop_run(r.loop, UDG_RUN_NOWAIT), 0);
		pthread_join(th, NULL);
		cr_assert_eq(udg_loop_run(r.loop, UDG_RUN_NOWAIT), 0);
		cr_assert_eq(atomic_load(&r.ran), atomic_load(&r.accepted), "round %d", round);
		cr_assert_eq(udg_loop_close(r.loop), 0);
	}
}

static void echo_back(udg_socket *s, const void *d, size_t n, const udg_rinfo *ri, void *u)
{
	udg_socket_send_to(s, d, n, ri->addr, ri->addrlen, NULL, NULL);
}

/* An embedder polls the loop's fd and runs it non-blocking: a reply queued by a callback must
 * reach the kernel in that same run, or nothing would ever make the fd readable again. */
Test(loop, a_nonblocking_run_hands_the_sends_its_callbacks_queued_to_the_kernel)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = echo_back;
	udg_socket *echo, *client;
	cr_assert_eq(udg_socket_new(loop, &o, &echo), 0);
	cr_assert_eq(udg_socket_bind(echo, 0, "127.0.0.1", NULL, NULL), 0);
	int got = 0;
	o.on_message = embed_message;
	o.user = &got;
	cr_assert_eq(udg_socket_new(loop, &o, &client), 0);
	cr_assert_eq(udg_socket_bind(client, 0, "127.0.0.1", NULL, NULL), 0);
	udg_address ea;
	cr_assert_eq(udg_socket_address(echo, &ea), 0);
	int fd = udg_loop_fd(loop);
	cr_assert_geq(fd, 0);
	cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0); /* 'listening' of both */
	int runs = 0;
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(udg_socket_send(client, "e", 1, ea.port, "127.0.0.1", NULL, NULL), 0);
		while (got <= i) {
			cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
			runs++;
			if (got > i)
				break;
			/* Nothing may be left queued for the kernel: only it can wake us now. */
			cr_assert_neq(udg_loop_timeout_ns(loop), 0,
				      "echo %d: a non-blocking run returned with work queued", i);
			struct pollfd p = { .fd = fd, .events = POLLIN };
			cr_assert_eq(poll(&p, 1, 2000), 1,
				     "echo %d: nothing woke the embedder (a queued send was kept)",
				     i);
		}
	}
	cr_assert_leq(runs, 200 * 4, "%d runs for 200 echoes", runs);
	cr_assert_eq(udg_socket_close(echo, NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(client, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static udg_loop *signal_loop;

static void stop_from_handler(int sig)
{
	(void)sig;
	udg_loop_stop(signal_loop);
}

/* udg_loop_stop is the documented way out of a signal handler: it must end a run blocked in
 * the kernel, with nothing else ready, and leave the loop usable. */
Test(loop, a_stop_from_a_signal_handler_ends_a_blocked_run)
{
	udg_loop *loop = new_loop();
	udg_timer *t;
	int fired = 0;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 60000 * MS, 0, count_cb, &fired), 0); /* keeps it alive */
	signal_loop = loop;
	struct sigaction sa = { .sa_handler = stop_from_handler };
	struct sigaction old;
	cr_assert_eq(sigaction(SIGALRM, &sa, &old), 0);
	struct itimerval it = { .it_value = { .tv_usec = 20000 } };
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 1, "stopped with the timer still alive");
	sigaction(SIGALRM, &old, NULL);
	cr_assert_eq(fired, 0);
	cr_assert_eq(udg_timer_start(t, 1 * MS, 0, count_cb, &fired), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(fired, 1);
	udg_timer_free(t);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- what a loop owns: user data, walk, describe ---- */

struct walked {
	int sockets, timers, signals;
	void *first;
	udg_loop *loop;
};

static void walk_count(udg_handle_type type, void *handle, void *arg)
{
	struct walked *w = arg;
	if (!w->first)
		w->first = handle;
	if (type == UDG_HANDLE_SOCKET)
		w->sockets++;
	else if (type == UDG_HANDLE_TIMER)
		w->timers++;
	else if (type == UDG_HANDLE_ABORT_SIGNAL)
		w->signals++;
}

static void walk_close(udg_handle_type type, void *handle, void *arg)
{
	if (type == UDG_HANDLE_SOCKET)
		cr_assert_eq(udg_socket_close(handle, NULL, NULL), 0);
	else if (type == UDG_HANDLE_TIMER)
		udg_timer_free(handle); /* freeing the handle being visited is allowed */
	else if (type == UDG_HANDLE_ABORT_SIGNAL)
		udg_abort_signal_free(handle);
}

Test(loop, walk_visits_every_live_handle_and_describe_names_them_until_close_succeeds)
{
	udg_loop *loop = new_loop();
	int mark;
	cr_assert_null(udg_loop_user(loop));
	udg_loop_set_user(loop, &mark);
	cr_assert_eq(udg_loop_user(loop), &mark);
	cr_assert_null(udg_loop_user(NULL));

	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	udg_socket *s1, *s2;
	cr_assert_eq(udg_socket_new(loop, &o, &s1), 0);
	cr_assert_eq(udg_socket_new(loop, &o, &s2), 0);
	cr_assert_eq(udg_socket_bind(s2, 0, "127.0.0.1", NULL, NULL), 0);
	udg_timer *t;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);

	struct walked w = { 0 };
	cr_assert_eq(udg_loop_walk(loop, walk_count, &w), 4);
	cr_assert_eq(w.sockets, 2);
	cr_assert_eq(w.timers, 1);
	cr_assert_eq(w.signals, 1);
	cr_assert_eq(w.first, s1, "creation order");
	cr_assert_eq(udg_loop_walk(NULL, walk_count, &w), -EINVAL);
	cr_assert_eq(udg_loop_walk(loop, NULL, &w), -EINVAL);

	cr_assert_eq(udg_loop_close(loop), -EBUSY);
	char text[512], tiny[8];
	int n = udg_loop_describe(loop, text, sizeof(text));
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(text));
	cr_assert_not_null(strstr(text, "4 handles"), "%s", text);
	char want[64];
	snprintf(want, sizeof(want), "socket %p", (void *)s2);
	cr_assert_not_null(strstr(text, want), "names the bound socket: %s", text);
	snprintf(want, sizeof(want), "timer %p", (void *)t);
	cr_assert_not_null(strstr(text, want), "%s", text);
	cr_assert_eq(udg_loop_describe(loop, tiny, sizeof(tiny)), n,
		     "the full length, as snprintf");
	cr_assert_eq(strlen(tiny), sizeof(tiny) - 1);
	cr_assert_eq(udg_loop_describe(loop, NULL, 0), n);
	cr_assert_eq(udg_loop_describe(loop, NULL, 4), -EINVAL);
	cr_assert_str_eq(udg_handle_type_name(UDG_HANDLE_ABORT_SIGNAL), "abort signal");
	cr_assert_str_eq(udg_handle_type_name((udg_handle_type)99), "unknown");

	/* Shut down through the walk: close or free whatever is left, then run. */
	cr_assert_eq(udg_loop_walk(loop, walk_close, NULL), 4);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	memset(&w, 0, sizeof(w));
	cr_assert_eq(udg_loop_walk(loop, walk_count, &w), 0);
	cr_assert_eq(udg_loop_describe(loop, text, sizeof(text)) > 0, 1);
	cr_assert_not_null(strstr(text, "0 handles"), "%s", text);
	cr_assert_eq(udg_loop_close(loop), 0);
}
