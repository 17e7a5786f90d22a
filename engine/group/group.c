/* engine/group/group.c — shard groups (udg/group.h): N threads, each with its own loop and its
 * own SO_REUSEPORT socket on one address and port, started and stopped with one call each.
 * Built only on the public loop and socket API (plus udg_socket_fd() for the steering program),
 * so it runs on whichever backend a loop uses; it must never reach into loop or socket internals.
 * Cold code: nothing here runs per datagram (the message handler is the user's, unwrapped). */
#include <errno.h>
#include <linux/filter.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "udg.h"
#include "udg/group.h"

/* Host names are at most 253 bytes; the rest is room for the NUL. */
#define GROUP_ADDRESS_MAX 256
/* The keep-alive timer only has to exist (it holds the loop open until the stop); an hour
 * between its empty wake-ups costs nothing measurable. */
#define KEEPALIVE_NS (3600ull * 1000000000ull)

enum group_state { GROUP_IDLE, GROUP_STARTING, GROUP_RUNNING, GROUP_STOPPED };

struct shard {
	udg_group *g;
	unsigned index;
	int cpu;
	pthread_t thread;
	bool thread_made; /* pthread_create succeeded and nobody has claimed the join yet */
	/* Under g->mu: what other threads may see. */
	bool ready;       /* the start finished on this shard, well or not */
	bool accepting;   /* posts are accepted: loop is valid */
	bool ended;       /* the thread has closed its loop (or failed) and is about to exit */
	bool final_valid; /* final holds the loop's last counters */
	int result;       /* start error, then the end error */
	udg_loop *loop;
	udg_socket *sock;
	udg_loop_stats final;
	/* The shard's own thread only. */
	udg_loop *my_loop;
	udg_socket *my_sock; /* NULL once 'close' has fired */
	udg_timer *keepalive;
	bool bind_done, bound;
	int bind_status;
};

struct udg_group {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned n;
	struct shard *shards;
	udg_group_options opts; /* a copy; cpus and loop point at nothing of the caller's */
	udg_loop_options loop_opts;
	bool has_loop_opts;
	char address[GROUP_ADDRESS_MAX];
	udg_socket_options sock_opts; /* opts.socket with reuse_port and the two trampolines */
	int port;                     /* the bound port, once shard 0 has bound */
	int state;                    /* enum group_state, under mu */
	bool stop_asked;              /* under mu */
	bool stop_early;              /* under mu: a stop came while the start was running */
};

/* The shard whose thread this is, or NULL: how the trampolines and the thread checks find it. */
static __thread struct shard *tls_shard;

static bool on_shard_thread(const udg_group *g)
{
	return tls_shard && tls_shard->g == g;
}

/* ---- Options -------------------------------------------------------------------------------- */

void udg_group_options_init(udg_group_options *opts, udg_socket_type type)
{
	if (!opts)
		return;
	*opts = (udg_group_options){ .pin = true, .steer = UDG_STEER_HASH };
	udg_socket_options_init(&opts->socket, type);
}

/* The CPU list is checked against the affinity mask: a shard pinned outside it could not run
 * there, and a CPU-steered shard on a CPU that never receives would never see a datagram. */
static int check_cpus(const udg_group_options *o, const cpu_set_t *mask)
{
	if (o->cpus && o->cpu_count == 0)
		return UDG_ERR_MISSING_ARGS;
	if (!o->cpus && o->cpu_count > 0)
		return UDG_ERR_INVALID_ARG_TYPE;
	for (size_t i = 0; i < o->cpu_count; i++) {
		int c = o->cpus[i];
		if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, mask))
			return UDG_ERR_OUT_OF_RANGE;
		for (size_t j = 0; j < i; j++)
			if (o->cpus[j] == c)
				return UDG_ERR_INVALID_ARG_VALUE;
	}
	if (o->cpus && o->shards != 0 && o->shards != o->cpu_count)
		return UDG_ERR_OUT_OF_RANGE;
	return 0;
}

static int check_options(const udg_group_options *o, const cpu_set_t *mask)
{
	int r = check_cpus(o, mask);
	if (r)
		return r;
	if (!o->cpus && o->shards > (unsigned)CPU_COUNT(mask))
		return UDG_ERR_OUT_OF_RANGE;
	if (o->steer != UDG_STEER_HASH && o->steer != UDG_STEER_CPU)
		return UDG_ERR_INVALID_ARG_VALUE;
	if (o->socket.type != UDG_UDP4 && o->socket.type != UDG_UDP6)
		return UDG_ERR_SOCKET_BAD_TYPE;
	if (o->socket.signal)
		return UDG_ERR_INVALID_ARG_VALUE;
	if (o->port < 0 || o->port > 65535)
		return UDG_ERR_SOCKET_BAD_PORT;
	if (o->address && strlen(o->address) >= GROUP_ADDRESS_MAX)
		return UDG_ERR_INVALID_ARG_VALUE;
	return 0;
}

/* Shard i's CPU: the list's i-th entry, or the mask's i-th CPU. */
static void assign_cpus(udg_group *g, const udg_group_options *o, const cpu_set_t *mask)
{
	int c = -1;
	for (unsigned i = 0; i < g->n; i++) {
		if (o->cpus) {
			g->shards[i].cpu = o->cpus[i];
			continue;
		}
		do
			c++;
		while (!CPU_ISSET(c, mask));
		g->shards[i].cpu = c;
	}
}

static void on_error_trampoline(udg_socket *s, const udg_error_info *err, void *user);
static void on_close_trampoline(udg_socket *s, void *user);

static void copy_options(udg_group *g, const udg_group_options *o)
{
	g->opts = *o;
	g->opts.cpus = NULL;
	g->opts.cpu_count = 0;
	g->has_loop_opts = o->loop != NULL;
	if (o->loop)
		g->loop_opts = *o->loop;
	g->opts.loop = NULL;
	if (o->address)
		strcpy(g->address, o->address);
	g->opts.address = NULL;
	g->port = o->port;
	/* The shards' sockets: the template plus reuse_port, and two handlers the group needs to
	 * see first (a failed bind fails the start; 'close' ends the shard's socket). */
	g->sock_opts = o->socket;
	g->sock_opts.reuse_port = true;
	g->sock_opts.on_error = on_error_trampoline;
	g->sock_opts.on_close = on_close_trampoline;
}

int udg_group_new(const udg_group_options *opts, udg_group **out)
{
	cpu_set_t mask;
	if (!opts || !out)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (sched_getaffinity(0, sizeof(mask), &mask) != 0)
		return -errno;
	int r = check_options(opts, &mask);
	if (r)
		return r;
	udg_group *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->n = opts->shards ? opts->shards
			    : (opts->cpus ? (unsigned)opts->cpu_count : (unsigned)CPU_COUNT(&mask));
	g->shards = calloc(g->n, sizeof(*g->shards));
	if (!g->shards || pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g->shards);
		free(g);
		return -ENOMEM;
	}
	if (pthread_cond_init(&g->cv, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		free(g->shards);
		free(g);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < g->n; i++)
		g->shards[i] = (struct shard){ .g = g, .index = i };
	assign_cpus(g, opts, &mask);
	copy_options(g, opts);
	*out = g;
	return 0;
}

/* ---- The shard's socket events ------------------------------------------------------------ */

static void bound_cb(udg_socket *s, int status, void *user)
{
	struct shard *sh = user;
	(void)s;
	sh->bind_done = true;
	sh->bound = status == 0;
	sh->bind_status = status;
}

/* A bind failure during the start is the start's result, not an event: the user never saw
 * this socket. Everything else goes to the user's handler. */
static void on_error_trampoline(udg_socket *s, const udg_error_info *err, void *user)
{
	struct shard *sh = tls_shard;
	if (sh && !sh->bind_done) {
		sh->bind_done = true;
		sh->bind_status = err->code;
		return;
	}
	if (sh && sh->g->opts.socket.on_error)
		sh->g->opts.socket.on_error(s, err, user);
}

/* The user hears 'close' only for a socket whose 'listening' it heard. */
static void on_close_trampoline(udg_socket *s, void *user)
{
	struct shard *sh = tls_shard;
	if (!sh)
		return;
	sh->my_sock = NULL;
	pthread_mutex_lock(&sh->g->mu);
	sh->sock = NULL; /* udg_group_shard_socket() never hands out a freed socket */
	pthread_mutex_unlock(&sh->g->mu);
	if (sh->bound && sh->g->opts.socket.on_close)
		sh->g->opts.socket.on_close(s, user);
}

/* ---- Steering by CPU ------------------------------------------------------------------------ */

/* A classic-BPF reuseport program: the receiving CPU → the index of the socket on it. The
 * result indexes the reuseport group in join order, which is shard order because the shards
 * bind one after the other. A CPU with no shard returns an index past the group, and the
 * kernel then falls back to its hash (reuseport_select_sock, Linux 4.5+). Chosen over
 * SO_INCOMING_CPU, which reuseport selection honours only on recent kernels. */
static int attach_cpu_program(udg_group *g, int fd)
{
	size_t len = 2 + 2 * (size_t)g->n;
	struct sock_filter *code = calloc(len, sizeof(*code));
	if (!code)
		return -ENOMEM;
	code[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_CPU);
	for (unsigned i = 0; i < g->n; i++) {
		/* if (A == cpu_i) return i; else skip that return */
		code[1 + 2 * i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							       (unsigned)g->shards[i].cpu, 0, 1);
		code[2 + 2 * i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, i);
	}
	code[len - 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
	struct sock_fprog prog = { .len = (unsigned short)len, .filter = code };
	int r = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == 0
			? 0
			: -errno;
	free(code);
	return r;
}

/* ---- One shard's thread --------------------------------------------------------------------- */

static int shard_bind(struct shard *sh)
{
	udg_group *g = sh->g;
	pthread_mutex_lock(&g->mu);
	int port = g->port; /* shard 0's ephemeral port once it has one */
	pthread_mutex_unlock(&g->mu);
	int r = udg_socket_bind(sh->my_sock, port, g->address[0] ? g->address : NULL, bound_cb, sh);
	/* The bind's outcome comes from the loop: 'listening' then bound_cb, or 'error'. A
	 * binding socket keeps the loop alive, so a run returning 0 without either is a bug. */
	while (r == 0 && !sh->bind_done) {
		r = udg_loop_run(sh->my_loop, UDG_RUN_ONCE);
		if (r == 0 && !sh->bind_done)
			r = -EPROTO;
		else if (r > 0)
			r = 0;
	}
	if (r == 0 && sh->bind_done)
		r = sh->bind_status;
	return r;
}

/* After the bind: shard 0 publishes the port and installs the steering program. */
static int shard_after_bind(struct shard *sh)
{
	udg_group *g = sh->g;
	if (sh->index > 0)
		return 0;
	udg_address a;
	int r = udg_socket_address(sh->my_sock, &a);
	if (r)
		return r;
	pthread_mutex_lock(&g->mu);
	g->port = a.port;
	pthread_mutex_unlock(&g->mu);
	if (g->opts.steer == UDG_STEER_CPU)
		r = attach_cpu_program(g, udg_socket_fd(sh->my_sock));
	return r;
}

static void keepalive_cb(udg_timer *t, void *user)
{
	(void)t, (void)user;
}

static int shard_setup(struct shard *sh)
{
	udg_group *g = sh->g;
	int r = udg_loop_new(g->has_loop_opts ? &g->loop_opts : NULL, &sh->my_loop);
	if (r)
		return r;
	r = udg_socket_new(sh->my_loop, &g->sock_opts, &sh->my_sock);
	if (r)
		return r;
	r = shard_bind(sh);
	if (r == 0)
		r = shard_after_bind(sh);
	if (r == 0 && g->opts.on_start)
		r = g->opts.on_start(g, sh->index, sh->my_sock, g->opts.user);
	if (r == 0)
		r = udg_timer_new(sh->my_loop, &sh->keepalive);
	if (r == 0)
		r = udg_timer_start(sh->keepalive, KEEPALIVE_NS, KEEPALIVE_NS, keepalive_cb, NULL);
	return r;
}

/* Posted by udg_group_stop(): the user's on_stop, then the socket closes; the loop ends once
 * every send callback and the 'close' ran. */
static void shard_stop_fn(void *arg)
{
	struct shard *sh = arg;
	udg_group *g = sh->g;
	if (g->opts.on_stop)
		g->opts.on_stop(g, sh->index, sh->my_sock, g->opts.user);
	udg_timer_free(sh->keepalive);
	sh->keepalive = NULL;
	if (sh->my_sock)
		udg_socket_close(sh->my_sock, NULL, NULL); /* NOT_RUNNING if the user closed it */
}

/* Close what the shard made, run until nothing is left, keep the counters, free the loop. */
static int shard_teardown(struct shard *sh)
{
	udg_group *g = sh->g;
	if (!sh->my_loop)
		return 0;
	udg_timer_free(sh->keepalive);
	sh->keepalive = NULL;
	if (sh->my_sock)
		udg_socket_close(sh->my_sock, NULL, NULL);
	/* No post is accepted from here on; one accepted before is run by this drain. */
	pthread_mutex_lock(&g->mu);
	sh->accepting = false;
	pthread_mutex_unlock(&g->mu);
	int r;
	while ((r = udg_loop_run(sh->my_loop, UDG_RUN_DEFAULT)) > 0)
		;
	udg_loop_stats st;
	udg_loop_stats_get(sh->my_loop, &st);
	int c = udg_loop_close(sh->my_loop);
	pthread_mutex_lock(&g->mu);
	sh->final = st;
	sh->final_valid = true;
	sh->loop = NULL;
	sh->sock = NULL;
	pthread_mutex_unlock(&g->mu);
	sh->my_loop = NULL;
	return r < 0 ? r : c;
}

static void shard_serve(struct shard *sh)
{
	int r;
	/* 1: someone called udg_loop_stop() on this loop; a shard runs until the group stops. */
	while ((r = udg_loop_run(sh->my_loop, UDG_RUN_DEFAULT)) > 0)
		;
	int t = shard_teardown(sh);
	pthread_mutex_lock(&sh->g->mu);
	sh->result = r < 0 ? r : t;
	sh->ended = true;
	pthread_cond_broadcast(&sh->g->cv);
	pthread_mutex_unlock(&sh->g->mu);
}

static void *shard_main(void *arg)
{
	struct shard *sh = arg;
	udg_group *g = sh->g;
	tls_shard = sh;
	int r = shard_setup(sh);
	if (r) {
		shard_teardown(sh); /* a failed start is reported by its first error */
		pthread_mutex_lock(&g->mu);
		sh->result = r;
		sh->ready = sh->ended = true;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		return NULL;
	}
	pthread_mutex_lock(&g->mu);
	sh->loop = sh->my_loop;
	sh->sock = sh->my_sock;
	sh->accepting = true;
	sh->ready = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	shard_serve(sh);
	return NULL;
}

/* ---- Start, stop, wait ---------------------------------------------------------------------- */

static int spawn(struct shard *sh)
{
	pthread_attr_t attr;
	int r = pthread_attr_init(&attr);
	if (r)
		return -r;
	if (sh->g->opts.pin) {
		/* Pinned before it runs: the loop's memory is first touched on its own CPU. */
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(sh->cpu, &one);
		r = pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
	}
	if (r == 0)
		r = pthread_create(&sh->thread, &attr, shard_main, sh);
	pthread_attr_destroy(&attr);
	if (r == 0)
		sh->thread_made = true;
	return -r;
}

/* Ask every accepting shard to stop. Under mu. */
static void ask_stop_locked(udg_group *g)
{
	if (g->stop_asked)
		return;
	g->stop_asked = true;
	for (unsigned i = 0; i < g->n; i++) {
		struct shard *sh = &g->shards[i];
		/* A post fails only for lack of memory; the shard then stops when it can. */
		if (sh->accepting && udg_loop_post(sh->loop, shard_stop_fn, sh) != 0)
			sh->result = -ENOMEM;
	}
}

/* Wait for every created thread to end, join it, and return the first error. */
static int join_all(udg_group *g)
{
	int first = 0;
	pthread_mutex_lock(&g->mu);
	for (unsigned i = 0; i < g->n; i++) {
		struct shard *sh = &g->shards[i];
		while (sh->thread_made && !sh->ended)
			pthread_cond_wait(&g->cv, &g->mu);
		bool mine = sh->thread_made;
		sh->thread_made = false; /* one caller joins each thread */
		if (mine) {
			pthread_mutex_unlock(&g->mu);
			pthread_join(sh->thread, NULL);
			pthread_mutex_lock(&g->mu);
		}
		if (!first && sh->result)
			first = sh->result;
	}
	pthread_mutex_unlock(&g->mu);
	return first;
}

/* Start shards in order, each after the previous one bound: the join order of the reuseport
 * group is then shard order, which the CPU program relies on. */
static int start_shards(udg_group *g)
{
	for (unsigned i = 0; i < g->n; i++) {
		struct shard *sh = &g->shards[i];
		int r = spawn(sh);
		if (r)
			return r;
		pthread_mutex_lock(&g->mu);
		while (!sh->ready)
			pthread_cond_wait(&g->cv, &g->mu);
		r = sh->result;
		pthread_mutex_unlock(&g->mu);
		if (r)
			return r;
	}
	return 0;
}

static void reset_shards(udg_group *g)
{
	for (unsigned i = 0; i < g->n; i++) {
		struct shard *sh = &g->shards[i];
		*sh = (struct shard){ .g = g, .index = i, .cpu = sh->cpu };
	}
	g->port = g->opts.port;
	g->stop_asked = false;
}

int udg_group_start(udg_group *g)
{
	if (!g)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (on_shard_thread(g))
		return -EDEADLK;
	pthread_mutex_lock(&g->mu);
	int state = g->state;
	if (state == GROUP_IDLE)
		g->state = GROUP_STARTING;
	pthread_mutex_unlock(&g->mu);
	if (state != GROUP_IDLE)
		return -EALREADY;
	int r = start_shards(g);
	pthread_mutex_lock(&g->mu);
	if (!r)
		g->state = GROUP_RUNNING;
	if (r || g->stop_early)
		ask_stop_locked(g);
	g->stop_early = false;
	pthread_mutex_unlock(&g->mu);
	if (r) {
		join_all(g); /* the failing shard's code is the answer, not the others' */
		pthread_mutex_lock(&g->mu);
		reset_shards(g);
		g->state = GROUP_IDLE;
		pthread_mutex_unlock(&g->mu);
	}
	return r;
}

int udg_group_wait(udg_group *g)
{
	if (!g)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (on_shard_thread(g))
		return -EDEADLK;
	pthread_mutex_lock(&g->mu);
	int state = g->state;
	pthread_mutex_unlock(&g->mu);
	if (state == GROUP_IDLE || state == GROUP_STARTING)
		return 0;
	int r = join_all(g);
	pthread_mutex_lock(&g->mu);
	g->state = GROUP_STOPPED;
	pthread_mutex_unlock(&g->mu);
	return r;
}

int udg_group_stop(udg_group *g)
{
	if (!g)
		return UDG_ERR_INVALID_ARG_TYPE;
	pthread_mutex_lock(&g->mu);
	bool running = g->state == GROUP_RUNNING || g->state == GROUP_STOPPED;
	if (running)
		ask_stop_locked(g);
	else if (g->state == GROUP_STARTING)
		g->stop_early = true; /* udg_group_start() asks once every shard serves */
	pthread_mutex_unlock(&g->mu);
	if (!running || on_shard_thread(g))
		return 0;
	return udg_group_wait(g);
}

int udg_group_free(udg_group *g)
{
	if (!g)
		return 0;
	if (on_shard_thread(g))
		return -EDEADLK;
	udg_group_stop(g);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g->shards);
	free(g);
	return 0;
}

/* ---- Accessors ------------------------------------------------------------------------------ */

unsigned udg_group_shards(const udg_group *g)
{
	return g ? g->n : 0;
}

/* The const accessors lock too: the fields they read change on the shard threads. */
static pthread_mutex_t *mu_of(const udg_group *g)
{
	return (pthread_mutex_t *)&g->mu;
}

int udg_group_port(const udg_group *g)
{
	if (!g)
		return 0;
	pthread_mutex_lock(mu_of(g));
	int port = g->state == GROUP_RUNNING || g->state == GROUP_STOPPED ? g->port : 0;
	pthread_mutex_unlock(mu_of(g));
	return port;
}

int udg_group_shard_cpu(const udg_group *g, unsigned index)
{
	return g && index < g->n ? g->shards[index].cpu : -1;
}

udg_loop *udg_group_shard_loop(const udg_group *g, unsigned index)
{
	if (!g || index >= g->n)
		return NULL;
	pthread_mutex_lock(mu_of(g));
	udg_loop *l = g->state == GROUP_RUNNING ? g->shards[index].loop : NULL;
	pthread_mutex_unlock(mu_of(g));
	return l;
}

udg_socket *udg_group_shard_socket(const udg_group *g, unsigned index)
{
	if (!g || index >= g->n)
		return NULL;
	pthread_mutex_lock(mu_of(g));
	udg_socket *s = g->state == GROUP_RUNNING ? g->shards[index].sock : NULL;
	pthread_mutex_unlock(mu_of(g));
	return s;
}

int udg_group_shard_index(const udg_group *g, const udg_loop *loop)
{
	if (!g || !loop)
		return UDG_ERR_INVALID_ARG_TYPE;
	/* A handler asking about its own loop: no lock. */
	if (on_shard_thread(g) && tls_shard->my_loop == loop)
		return (int)tls_shard->index;
	int r = UDG_ERR_INVALID_ARG_VALUE;
	pthread_mutex_lock(mu_of(g));
	for (unsigned i = 0; i < g->n && r < 0; i++)
		if (g->shards[i].loop == loop)
			r = (int)i;
	pthread_mutex_unlock(mu_of(g));
	return r;
}

int udg_group_post(udg_group *g, unsigned index, udg_post_cb fn, void *arg)
{
	if (!g || !fn)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (index >= g->n)
		return UDG_ERR_OUT_OF_RANGE;
	pthread_mutex_lock(&g->mu);
	struct shard *sh = &g->shards[index];
	int r = sh->accepting ? udg_loop_post(sh->loop, fn, arg) : UDG_ERR_LOOP_CLOSED;
	pthread_mutex_unlock(&g->mu);
	return r;
}

/* ---- Counters ------------------------------------------------------------------------------- */

/* Every field of udg_loop_stats is a uint64_t counter, so a sum is element-wise. */
_Static_assert(sizeof(udg_loop_stats) % sizeof(uint64_t) == 0, "udg_loop_stats: uint64 only");

static void stats_add(udg_loop_stats *sum, const udg_loop_stats *x)
{
	uint64_t *d = (uint64_t *)sum;
	const uint64_t *s = (const uint64_t *)x;
	for (size_t i = 0; i < sizeof(*sum) / sizeof(uint64_t); i++)
		d[i] += s[i];
}

struct stats_req {
	udg_group *g;
	udg_loop_stats sum;
	unsigned pending;
};

struct stats_ask {
	struct stats_req *req;
	struct shard *sh;
};

/* On the shard's thread: its counters into the caller's sum. */
static void stats_fn(void *arg)
{
	struct stats_ask *a = arg;
	udg_loop_stats st;
	udg_loop_stats_get(a->sh->my_loop, &st);
	pthread_mutex_lock(&a->req->g->mu);
	stats_add(&a->req->sum, &st);
	a->req->pending--;
	pthread_cond_broadcast(&a->req->g->cv);
	pthread_mutex_unlock(&a->req->g->mu);
}

/* Ask the running shards in [lo, hi) for their counters; the rest report their final ones,
 * waited for when a shard is between its last post and its loop's close. Under mu. */
static int stats_collect_locked(udg_group *g, unsigned lo, unsigned hi, struct stats_req *req,
				struct stats_ask *asks)
{
	int r = 0;
	for (unsigned i = lo; i < hi; i++) {
		struct shard *sh = &g->shards[i];
		asks[i - lo] = (struct stats_ask){ .req = req, .sh = NULL };
		if (!sh->accepting)
			continue;
		asks[i - lo].sh = sh;
		int p = udg_loop_post(sh->loop, stats_fn, &asks[i - lo]);
		if (p == 0)
			req->pending++;
		else if (!r)
			r = p;
	}
	for (unsigned i = lo; i < hi; i++) {
		struct shard *sh = &g->shards[i];
		if (asks[i - lo].sh)
			continue;
		while (!sh->final_valid && sh->thread_made && !sh->ended)
			pthread_cond_wait(&g->cv, &g->mu);
		stats_add(&req->sum, &sh->final);
	}
	while (req->pending > 0)
		pthread_cond_wait(&g->cv, &g->mu);
	return r;
}

int udg_group_stats(udg_group *g, int index, udg_loop_stats *out)
{
	if (!g || !out)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (index < -1 || index >= (int)g->n)
		return UDG_ERR_OUT_OF_RANGE;
	if (on_shard_thread(g))
		return -EDEADLK;
	unsigned lo = index < 0 ? 0 : (unsigned)index, hi = index < 0 ? g->n : lo + 1;
	struct stats_ask *asks = calloc(hi - lo, sizeof(*asks));
	if (!asks)
		return -ENOMEM;
	struct stats_req req = { .g = g };
	int r;
	pthread_mutex_lock(&g->mu);
	if (g->state == GROUP_IDLE || g->state == GROUP_STARTING)
		r = UDG_ERR_LOOP_CLOSED;
	else
		r = stats_collect_locked(g, lo, hi, &req, asks);
	pthread_mutex_unlock(&g->mu);
	free(asks);
	if (r == 0)
		*out = req.sum;
	return r;
}
