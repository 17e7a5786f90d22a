/* engine/resolver.c — the built-in host name resolver: getaddrinfo on a small per-loop worker
 * pool, results handed back to the loop thread with udg_loop_post().
 * Cold path: lookups allocate. Workers touch only their job, never a udg_lookup_req, a socket or
 * the ring; a request's done() runs only on the loop thread, never inside udg__resolve_start().
 * A successful udg__resolver_shutdown() leaves no thread running. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dgram.h"

/* Lookups are rare (bind, connect, sends to names). Two workers keep one slow DNS answer from
 * stalling every other lookup of the loop, without a thread per lookup. */
#define UDG__RESOLVER_THREADS 2

/* A worker retries a post refused for lack of memory after this pause (1 ms): the result must
 * reach the loop thread, which is the only one allowed to free the job. */
#define UDG__POST_RETRY_NS 1000000L

struct udg__resolve_job {
	struct udg__resolve_job *next, *prev; /* the pool's queue, while queued */
	udg_loop *loop;
	struct udg_lookup_req *req; /* NULL once cancelled; read and written on the loop thread */
	bool started;               /* a worker took it off the queue (under the pool lock) */
	int family;
	int status; /* written by the worker, read by the loop thread after the post */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[]; /* NUL-terminated copy */
};

struct udg__resolver {
	pthread_mutex_t lock;
	pthread_cond_t cond;                  /* workers wait here for jobs or exit */
	struct udg__resolve_job *head, *tail; /* queued, not yet started */
	unsigned queued;                      /* jobs on the queue */
	unsigned idle;                        /* workers waiting on cond */
	bool exiting;                         /* shutdown: workers return */
	unsigned jobs; /* outstanding: from start until freed (loop thread only) */
	unsigned nthreads;
	pthread_t threads[UDG__RESOLVER_THREADS];
};

/* ---- Worker side -------------------------------------------------------------------------- */

/* getaddrinfo's codes in Node's names. Node reports EAI_NODATA and EAI_NONAME as ENOTFOUND. */
static int gai_status(int rc, int err)
{
	switch (rc) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		return UDG_ERR_ENOTFOUND;
	case EAI_AGAIN:
		return UDG_ERR_EAI_AGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return err > 0 ? -err : UDG_ERR_EAI_FAIL;
	default:
		return UDG_ERR_EAI_FAIL;
	}
}

/* Resolve one job into job->status/addr. No AI_ADDRCONFIG: it makes "localhost" fail for
 * AF_INET6 on hosts whose only IPv6 address is the loopback (containers). */
static void job_resolve(struct udg__resolve_job *job)
{
	const struct addrinfo hints = {
		.ai_family = job->family,
		.ai_socktype = SOCK_DGRAM,
	};
	struct addrinfo *res = NULL;

	/* libuv refuses a name longer than its 255-character buffer before getaddrinfo runs, so
	 * Node reports "getaddrinfo EINVAL" for one; so do we, without asking the system. */
	if (strlen(job->host) >= UDG__HOST_TEXT) {
		job->status = -EINVAL;
		return;
	}
	errno = 0;
	int rc = getaddrinfo(job->host, NULL, &hints, &res);
	if (rc != 0) {
		job->status = gai_status(rc, errno);
		return;
	}
	if (res == NULL || res->ai_family != job->family || res->ai_addr == NULL ||
	    res->ai_addrlen > sizeof(job->addr)) {
		job->status = UDG_ERR_EAI_FAIL;
	} else {
		memcpy(&job->addr, res->ai_addr, res->ai_addrlen);
		job->addrlen = res->ai_addrlen;
		job->status = 0;
	}
	freeaddrinfo(res);
}

static void job_finish(void *arg);

/* Hand a resolved job to its loop. After a successful post the job belongs to the loop thread:
 * the worker must not touch it again. */
static void job_post(struct udg__resolve_job *job)
{
	const struct timespec pause = { .tv_nsec = UDG__POST_RETRY_NS };
	udg_loop *loop = job->loop;
	int rc;

	/* Only -ENOMEM can refuse it: the loop cannot close while the job counts in loop->reqs. */
	while ((rc = udg_loop_post(loop, job_finish, job)) == -ENOMEM)
		nanosleep(&pause, NULL);
	assert(rc == 0);
}

static void *worker_main(void *arg)
{
	struct udg__resolver *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (r->head == NULL && !r->exiting) {
			r->idle++;
			pthread_cond_wait(&r->cond, &r->lock);
			r->idle--;
		}
		if (r->head == NULL)
			break; /* exiting, and shutdown only runs with no jobs left */
		struct udg__resolve_job *job = r->head;
		r->head = job->next;
		if (r->head != NULL)
			r->head->prev = NULL;
		else
			r->tail = NULL;
		r->queued--;
		job->next = job->prev = NULL;
		job->started = true;
		pthread_mutex_unlock(&r->lock);

		job_resolve(job);
		job_post(job);

		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* ---- Loop side ---------------------------------------------------------------------------- */

/* Start one more worker, with every signal blocked so the application's handlers never run on
 * it (the mask is inherited from the creating thread). Called with r->lock held. */
static int worker_spawn(struct udg__resolver *r)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&r->threads[r->nthreads], NULL, worker_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	r->nthreads++;
	return 0;
}

static struct udg__resolver *resolver_get(udg_loop *loop)
{
	if (loop->resolver != NULL)
		return loop->resolver;
	if (!udg__dgram_get(loop)) /* its shutdown joins our workers at udg_loop_close */
		return NULL;

	struct udg__resolver *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		return NULL;
	}
	if (pthread_cond_init(&r->cond, NULL) != 0) {
		pthread_mutex_destroy(&r->lock);
		free(r);
		return NULL;
	}
	loop->resolver = r;
	return r;
}

/* Free a job on the loop thread: the only place an outstanding job stops counting. */
static void job_free(udg_loop *loop, struct udg__resolve_job *job)
{
	struct udg__resolver *r = loop->resolver;

	assert(r != NULL && r->jobs > 0 && loop->reqs > 0);
	r->jobs--;
	loop->reqs--;
	free(job);
}

/* The posted half of a lookup, on the loop thread: deliver unless cancelled, then free. */
static void job_finish(void *arg)
{
	struct udg__resolve_job *job = arg;
	struct udg_lookup_req *req = job->req;

	assert(job->started);
	if (req != NULL) {
		assert(req->job == job && req->pending);
		req->job = NULL;
		req->status = job->status;
		if (job->status == 0) {
			memcpy(&req->addr, &job->addr, job->addrlen);
			req->addrlen = job->addrlen;
			if (job->family == AF_INET)
				((struct sockaddr_in *)&req->addr)->sin_port = htons(req->port);
			else
				((struct sockaddr_in6 *)&req->addr)->sin6_port = htons(req->port);
		}
		req->pending = false;
	}
	/* Free first: done() may start another lookup on the same req, or end the loop's work. */
	job_free(job->loop, job);
	if (req != NULL)
		udg__lookup_deliver(req);
}

int udg__resolve_start(udg_loop *loop, struct udg_lookup_req *req, const char *host)
{
	assert(loop != NULL && req != NULL && host != NULL && req->done != NULL);
	assert(req->family == AF_INET || req->family == AF_INET6);
	assert(!req->pending);

	struct udg__resolver *r = resolver_get(loop);
	if (r == NULL)
		return -ENOMEM;
	size_t len = strlen(host);
	struct udg__resolve_job *job = calloc(1, sizeof(*job) + len + 1);
	if (job == NULL)
		return -ENOMEM;
	job->loop = loop;
	job->req = req;
	job->family = req->family;
	memcpy(job->host, host, len + 1);

	pthread_mutex_lock(&r->lock);
	/* Another worker only when the queue outgrows the idle ones (at most the bound). */
	if (r->queued + 1 > r->idle && r->nthreads < UDG__RESOLVER_THREADS) {
		int rc = worker_spawn(r);
		if (rc != 0 && r->nthreads == 0) {
			pthread_mutex_unlock(&r->lock);
			free(job);
			return -ENOMEM; /* EAGAIN from pthread_create: out of threads or memory */
		}
	}
	job->prev = r->tail;
	if (r->tail != NULL)
		r->tail->next = job;
	else
		r->head = job;
	r->tail = job;
	r->queued++;
	r->jobs++;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);

	loop->reqs++;
	req->loop = loop;
	req->job = job;
	req->status = 0;
	req->custom = false;
	req->pending = true;
	return 0;
}

void udg__resolve_cancel(struct udg_lookup_req *req)
{
	struct udg__resolve_job *job = req->job;

	req->pending = false;
	if (job == NULL)
		return;
	req->job = NULL;
	assert(job->req == req);
	job->req = NULL;

	/* A job no worker has taken yet leaves the queue now; a started one is freed by
	 * job_finish() when its result arrives, and counts until then. */
	udg_loop *loop = job->loop;
	struct udg__resolver *r = loop->resolver;
	pthread_mutex_lock(&r->lock);
	bool queued = !job->started;
	if (queued) {
		if (job->prev != NULL)
			job->prev->next = job->next;
		else
			r->head = job->next;
		if (job->next != NULL)
			job->next->prev = job->prev;
		else
			r->tail = job->prev;
		r->queued--;
	}
	pthread_mutex_unlock(&r->lock);
	if (queued)
		job_free(loop, job);
}

int udg__resolver_shutdown(udg_loop *loop)
{
	struct udg__resolver *r = loop->resolver;

	if (r == NULL)
		return 0;
	if (r->jobs > 0)
		return -EBUSY;

	pthread_mutex_lock(&r->lock);
	assert(r->head == NULL && r->queued == 0);
	r->exiting = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);

	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
	loop->resolver = NULL;
	return 0;
}
