/* tests/test_resolver.c — the built-in resolver (engine/resolver.c): results, error mapping,
 * delivery on the loop thread, cancellation, request accounting and worker thread lifetime.
 * Calls the hidden udg__resolve_* functions directly (tests link the static library).
 * Resolves "localhost" and literals (no network), and one name under ".invalid", which goes to
 * DNS when there is one: the test expects whatever this machine's getaddrinfo says, mapped. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../engine/dgram/dgram.h"

/* A name that cannot exist (RFC 6761 reserves ".invalid"). */
#define NO_SUCH_HOST "no-such-host.invalid"
/* Enough lookups to queue far more jobs than there are workers. */
#define MANY_LOOKUPS 1000

struct lookup {
	struct udg_lookup_req req;
	int calls;
	pthread_t thread;
	bool during_start;
};

static bool in_start; /* set around udg__resolve_start() calls */

static void on_done(struct udg_lookup_req *req)
{
	struct lookup *l = UDG__CONTAINER_OF(req, struct lookup, req);

	l->calls++;
	l->thread = pthread_self();
	if (in_start)
		l->during_start = true;
}

static void lookup_init(struct lookup *l, int family, int port)
{
	memset(l, 0, sizeof(*l));
	l->req.family = family;
	l->req.port = port;
	l->req.done = on_done;
}

static int start(udg_loop *loop, struct lookup *l, const char *host)
{
	in_start = true;
	int rc = udg__resolve_start(loop, &l->req, host);
	in_start = false;
	return rc;
}

static udg_loop *loop_new(void)
{
	udg_loop *loop = NULL;

	cr_assert_eq(udg_loop_new(NULL, &loop), 0);
	cr_assert_not_null(loop);
	return loop;
}

/* Run until nothing is alive: a lookup in flight must keep the loop running. */
static void run_until_drained(udg_loop *loop)
{
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(loop->reqs, 0);
}

static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The documented mapping, applied to what this machine's getaddrinfo answers. */
static int expected_status(const char *host, int family)
{
	const struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL;

	errno = 0;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	int err = errno;
	if (rc == 0) {
		freeaddrinfo(res);
		return 0;
	}
	if (rc == EAI_NONAME || rc == EAI_NODATA)
		return UDG_ERR_ENOTFOUND;
	if (rc == EAI_AGAIN)
		return UDG_ERR_EAI_AGAIN;
	if (rc == EAI_MEMORY)
		return -ENOMEM;
	if (rc == EAI_SYSTEM)
		return err > 0 ? -err : UDG_ERR_EAI_FAIL;
	return UDG_ERR_EAI_FAIL;
}

static void assert_ipv4_loopback(const struct lookup *l, int port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->req.addr;

	cr_assert_eq(l->req.status, 0, "status %d", l->req.status);
	cr_assert_eq(l->req.addrlen, sizeof(struct sockaddr_in));
	cr_assert_eq(sin->sin_family, AF_INET);
	cr_assert_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_assert_eq(ntohs(sin->sin_port), port);
}

Test(resolver, localhost_for_ipv4_gives_127_0_0_1_with_the_port_set)
{
	udg_loop *loop = loop_new();
	struct lookup l;

	lookup_init(&l, AF_INET, 4242);
	cr_assert_eq(start(loop, &l, "localhost"), 0);
	cr_assert(l.req.pending);
	cr_assert_eq(l.calls, 0);
	run_until_drained(loop);
	cr_assert_eq(l.calls, 1);
	cr_assert_not(l.req.pending);
	cr_assert_null(l.req.job);
	assert_ipv4_loopback(&l, 4242);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, an_ipv6_literal_resolves_with_its_port_set)
{
	udg_loop *loop = loop_new();
	struct lookup l;

	lookup_init(&l, AF_INET6, 65535);
	cr_assert_eq(start(loop, &l, "::1"), 0);
	run_until_drained(loop);
	cr_assert_eq(l.calls, 1);

	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l.req.addr;
	cr_assert_eq(l.req.status, 0, "status %d", l.req.status);
	cr_assert_eq(l.req.addrlen, sizeof(struct sockaddr_in6));
	cr_assert_eq(sin6->sin6_family, AF_INET6);
	cr_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	cr_assert_eq(ntohs(sin6->sin6_port), 65535);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, a_name_that_does_not_exist_reports_the_mapped_getaddrinfo_error)
{
	udg_loop *loop = loop_new();
	struct lookup l;
	int want = expected_status(NO_SUCH_HOST, AF_INET);

	/* ENOTFOUND where the name is answered (locally or by DNS); EAI_AGAIN without any DNS. */
	cr_assert(want == UDG_ERR_ENOTFOUND || want == UDG_ERR_EAI_AGAIN, "getaddrinfo -> %d",
		  want);
	lookup_init(&l, AF_INET, 53);
	cr_assert_eq(start(loop, &l, NO_SUCH_HOST), 0);
	run_until_drained(loop);
	cr_assert_eq(l.calls, 1);
	cr_assert_eq(l.req.status, want, "status %d, want %d", l.req.status, want);
	cr_assert_not(l.req.pending);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, done_runs_on_the_loop_thread_and_never_inside_start)
{
	udg_loop *loop = loop_new();
	struct lookup l[2];

	lookup_init(&l[0], AF_INET, 1);
	lookup_init(&l[1], AF_INET, 2);
	cr_assert_eq(start(loop, &l[0], "localhost"), 0);
	/* Give the worker time to answer before the second start: still no done() inside it. */
	nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	cr_assert_eq(start(loop, &l[1], "127.0.0.1"), 0);
	cr_assert_eq(l[0].calls + l[1].calls, 0);
	run_until_drained(loop);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(l[i].calls, 1);
		cr_assert(pthread_equal(l[i].thread, pthread_self()));
		cr_assert_not(l[i].during_start);
	}
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, cancel_before_completion_means_done_never_runs)
{
	udg_loop *loop = loop_new();
	struct lookup l;

	lookup_init(&l, AF_INET, 9);
	cr_assert_eq(start(loop, &l, "localhost"), 0);
	udg__resolve_cancel(&l.req);
	cr_assert_not(l.req.pending);
	cr_assert_null(l.req.job);
	run_until_drained(loop);
	cr_assert_eq(l.calls, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, cancel_after_the_worker_answered_drops_the_result)
{
	udg_loop *loop = loop_new();
	struct lookup l;

	lookup_init(&l, AF_INET, 9);
	cr_assert_eq(start(loop, &l, "localhost"), 0);
	/* The worker answers and posts while the loop is not running; the post is still queued. */
	nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	udg__resolve_cancel(&l.req);
	cr_assert_eq(udg_loop_close(loop), -EBUSY); /* the posted job still counts */
	run_until_drained(loop);
	cr_assert_eq(l.calls, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, cancelling_half_of_many_lookups_runs_done_only_for_the_rest)
{
	udg_loop *loop = loop_new();
	struct lookup *l = calloc(MANY_LOOKUPS, sizeof(*l));

	cr_assert_not_null(l);
	for (int i = 0; i < MANY_LOOKUPS; i++) {
		lookup_init(&l[i], AF_INET, i + 1);
		cr_assert_eq(start(loop, &l[i], "localhost"), 0);
	}
	for (int i = 1; i < MANY_LOOKUPS; i += 2)
		udg__resolve_cancel(&l[i].req);
	run_until_drained(loop);
	for (int i = 0; i < MANY_LOOKUPS; i++) {
		cr_assert_eq(l[i].calls, i % 2 == 0 ? 1 : 0, "lookup %d ran %d times", i,
			     l[i].calls);
		if (i % 2 == 0)
			assert_ipv4_loopback(&l[i], i + 1);
	}
	free(l);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, a_thousand_lookups_in_flight_all_complete_exactly_once)
{
	udg_loop *loop = loop_new();
	struct lookup *l = calloc(MANY_LOOKUPS, sizeof(*l));

	cr_assert_not_null(l);
	for (int i = 0; i < MANY_LOOKUPS; i++) {
		lookup_init(&l[i], AF_INET, i + 1);
		cr_assert_eq(start(loop, &l[i], i % 2 ? "localhost" : "127.0.0.1"), 0);
	}
	cr_assert_eq(loop->reqs, MANY_LOOKUPS);
	run_until_drained(loop);
	for (int i = 0; i < MANY_LOOKUPS; i++) {
		cr_assert_eq(l[i].calls, 1, "lookup %d ran %d times", i, l[i].calls);
		cr_assert_not(l[i].during_start);
		assert_ipv4_loopback(&l[i], i + 1);
	}
	free(l);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, loop_close_is_busy_while_a_lookup_is_outstanding)
{
	udg_loop *loop = loop_new();
	struct lookup l;

	lookup_init(&l, AF_INET, 7);
	cr_assert_eq(start(loop, &l, "localhost"), 0);
	cr_assert_eq(udg_loop_close(loop), -EBUSY);
	run_until_drained(loop);
	cr_assert_eq(l.calls, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(resolver, shutdown_is_busy_while_jobs_are_outstanding_and_joins_the_workers_after)
{
	int before = thread_count();
	udg_loop *loop = loop_new();
	struct lookup l;

	cr_assert_eq(udg__resolver_shutdown(loop), 0); /* no resolver yet: nothing to do */
	lookup_init(&l, AF_INET, 7);
	cr_assert_eq(start(loop, &l, "localhost"), 0);
	cr_assert_not_null(loop->resolver);
	cr_assert_eq(udg__resolver_shutdown(loop), -EBUSY);
	run_until_drained(loop);
	cr_assert_eq(udg__resolver_shutdown(loop), 0);
	cr_assert_null(loop->resolver);
	cr_assert_eq(thread_count(), before);

	/* The pool comes back on the next lookup. */
	lookup_init(&l, AF_INET, 8);
	cr_assert_eq(start(loop, &l, "localhost"), 0);
	run_until_drained(loop);
	cr_assert_eq(l.calls, 1);
	assert_ipv4_loopback(&l, 8);
	cr_assert_eq(udg_loop_close(loop), 0);
	cr_assert_eq(thread_count(), before);
}

Test(resolver, the_pool_stays_within_two_threads_and_leaves_none_after_close)
{
	int before = thread_count();
	udg_loop *loop = loop_new();
	struct lookup *l = calloc(MANY_LOOKUPS, sizeof(*l));

	cr_assert_not_null(l);
	for (int i = 0; i < MANY_LOOKUPS; i++) {
		lookup_init(&l[i], AF_INET, 1);
		cr_assert_eq(start(loop, &l[i], "localhost"), 0);
	}
	int during = thread_count();
	cr_assert(during > before && during <= before + 2, "%d threads, %d before", during, before);
	run_until_drained(loop);
	for (int i = 0; i < MANY_LOOKUPS; i++)
		cr_assert_eq(l[i].calls, 1);
	free(l);
	cr_assert_eq(udg_loop_close(loop), 0);
	cr_assert_eq(thread_count(), before);
}

/* True if every worker (every thread but this one) blocks SIGINT, SIGTERM and SIGUSR1. */
static bool workers_block_signals(void)
{
	char path[300], line[256];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int self = gettid(), workers = 0;
	bool ok = true;
	const unsigned long want =
		1ul << (SIGINT - 1) | 1ul << (SIGTERM - 1) | 1ul << (SIGUSR1 - 1);

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f);
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "SigBlk:", 7) == 0)
				ok = ok && (strtoul(line + 7, NULL, 16) & want) == want;
		fclose(f);
		workers++;
	}
	closedir(d);
	return ok && workers > 0;
}

Test(resolver, worker_threads_block_every_signal_the_application_might_handle)
{
	sigset_t none;
	udg_loop *loop = loop_new();
	struct lookup l;

	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	lookup_init(&l, AF_INET, 1);
	cr_assert_eq(start(loop, &l, "localhost"), 0);
	run_until_drained(loop);
	cr_assert_eq(l.calls, 1);
	cr_assert(workers_block_signals());
	cr_assert_eq(udg_loop_close(loop), 0);
}
