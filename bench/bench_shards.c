/* bench/bench_shards.c — the `shards` scenario: how receiving scales with cores. For n = 1..N
 * (N = the CPUs in the affinity mask) it runs n raw recvmmsg receivers, each on its own port
 * and fed by its own blaster, then a udg shard group of n shards steered by CPU and fed by n
 * blasters on the group's port. Blaster k and receiver k are pinned to the k-th CPU: loopback
 * delivers in the sender's softirq, so that CPU is where the datagram arrives. It prints one
 * scaling table: datagrams/s received, receiver CPU ns per datagram (the receiver threads' own
 * CPU time), udg/raw, and the steering accuracy (the share of datagrams that reached the shard
 * on their blaster's CPU). Measures only; asserts nothing.
 * Usage: bench_shards [--duration S] [--size B] [--max-shards N] */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "udg.h"

/* What each receiver asks for, as the rest of the suite (run.py's RCVBUF). */
#define SHARDS_RCVBUF (4 << 20)
/* Traffic runs this long before the window opens: threads pinned, buffers warm. */
#define WARMUP_S 0.2
#define MAX_PAIRS 256

/* One receiver (raw thread or udg shard), on its own cache line: owners write, main reads. */
struct rx {
	_Alignas(64) atomic_uint_fast64_t got;
	atomic_uint_fast64_t on_own_cpu; /* udg: payload tag == shard index */
	clockid_t clock;                 /* the receiving thread's CPU clock */
	atomic_bool clock_set;
	int fd, cpu;
	pthread_t thread;
	atomic_bool *done; /* raw: set when the run is over */
};

struct run {
	unsigned n;
	int cpus[MAX_PAIRS];
	size_t size;
	struct rx rx[MAX_PAIRS];
	pthread_t blasters[MAX_PAIRS];
	int blast_port[MAX_PAIRS];
	atomic_bool quit, rx_done;
};

struct blast_arg {
	struct run *run;
	unsigned k;
};

static struct blast_arg blast_args[MAX_PAIRS];

static void pin(int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

static uint64_t thread_cpu_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Blaster k: sendmmsg batches as fast as they go; byte 0 of every payload says who sent it. */
static void *blaster(void *arg)
{
	struct blast_arg *a = arg;
	struct run *r = a->run;
	static _Thread_local unsigned char buf[BENCH_MAX_SIZE];
	struct iovec iov = { .iov_base = buf, .iov_len = r->size };
	struct mmsghdr msgs[BENCH_BATCH];
	pin(r->cpus[a->k]);
	bench_fill(buf, r->size);
	buf[0] = (unsigned char)a->k;
	for (int i = 0; i < BENCH_BATCH; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	int fd = bench_udp_connect(r->blast_port[a->k]);
	while (!atomic_load_explicit(&r->quit, memory_order_relaxed))
		sendmmsg(fd, msgs, BENCH_BATCH, 0); /* ECONNREFUSED between runs is expected */
	close(fd);
	return NULL;
}

static void start_blasters(struct run *r)
{
	for (unsigned k = 0; k < r->n; k++) {
		blast_args[k] = (struct blast_arg){ .run = r, .k = k };
		pthread_create(&r->blasters[k], NULL, blaster, &blast_args[k]);
	}
}

static void stop_blasters(struct run *r)
{
	atomic_store(&r->quit, true);
	for (unsigned k = 0; k < r->n; k++)
		pthread_join(r->blasters[k], NULL);
}

/* ---- The raw base: one recvmmsg receiver per port ------------------------------------------ */

static void *raw_receiver(void *arg)
{
	struct rx *x = arg;
	static _Thread_local unsigned char bufs[BENCH_BATCH][BENCH_MAX_SIZE];
	struct iovec iov[BENCH_BATCH];
	struct mmsghdr msgs[BENCH_BATCH];
	pin(x->cpu);
	pthread_getcpuclockid(pthread_self(), &x->clock);
	atomic_store(&x->clock_set, true);
	for (int i = 0; i < BENCH_BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = BENCH_MAX_SIZE };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	/* The receive timeout lets the loop see the end of the run after the blasters stop. */
	while (!atomic_load_explicit(x->done, memory_order_relaxed)) {
		int got = recvmmsg(x->fd, msgs, BENCH_BATCH, MSG_WAITFORONE, NULL);
		if (got > 0)
			atomic_store_explicit(&x->got,
					      atomic_load_explicit(&x->got, memory_order_relaxed) +
						      (unsigned)got,
					      memory_order_relaxed);
	}
	return NULL;
}

/* ---- udg: a shard group steered by CPU ----------------------------------------------------- */

static udg_group *group;

static void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	struct run *r = user;
	(void)ri;
	int i = udg_group_shard_index(group, udg_socket_loop(s));
	struct rx *x = &r->rx[i];
	atomic_store_explicit(&x->got, atomic_load_explicit(&x->got, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (len > 0 && *(const unsigned char *)data == (unsigned char)i)
		atomic_store_explicit(&x->on_own_cpu,
				      atomic_load_explicit(&x->on_own_cpu, memory_order_relaxed) +
					      1,
				      memory_order_relaxed);
}

static int on_start(udg_group *g, unsigned index, udg_socket *s, void *user)
{
	struct run *r = user;
	(void)g, (void)s;
	pthread_getcpuclockid(pthread_self(), &r->rx[index].clock);
	atomic_store(&r->rx[index].clock_set, true);
	return 0;
}

/* ---- One measurement ---------------------------------------------------------------------- */

struct result {
	double per_s, cpu_ns, accuracy;
};

/* Warm up, then count received datagrams and receiver CPU over `duration` seconds. */
static struct result measure(struct run *r, double duration)
{
	uint64_t got0 = 0, got1 = 0, cpu0 = 0, cpu1 = 0, own0 = 0, own1 = 0;
	usleep((useconds_t)(WARMUP_S * 1e6));
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < r->n; i++) {
		got0 += atomic_load(&r->rx[i].got);
		own0 += atomic_load(&r->rx[i].on_own_cpu);
		cpu0 += thread_cpu_ns(r->rx[i].clock);
	}
	usleep((useconds_t)(duration * 1e6));
	uint64_t t1 = bench_now_ns();
	for (unsigned i = 0; i < r->n; i++) {
		got1 += atomic_load(&r->rx[i].got);
		own1 += atomic_load(&r->rx[i].on_own_cpu);
		cpu1 += thread_cpu_ns(r->rx[i].clock);
	}
	uint64_t got = got1 - got0;
	return (struct result){ .per_s = (double)got * 1e9 / (double)(t1 - t0),
				.cpu_ns = got ? (double)(cpu1 - cpu0) / (double)got : 0,
				.accuracy = got ? 100.0 * (double)(own1 - own0) / (double)got : 0 };
}

static void reset(struct run *r)
{
	atomic_store(&r->quit, false);
	for (unsigned i = 0; i < r->n; i++) {
		atomic_store(&r->rx[i].got, 0);
		atomic_store(&r->rx[i].on_own_cpu, 0);
		atomic_store(&r->rx[i].clock_set, false);
		r->rx[i].cpu = r->cpus[i];
	}
}

static struct result run_raw(struct run *r, double duration)
{
	reset(r);
	atomic_store(&r->rx_done, false);
	for (unsigned i = 0; i < r->n; i++) {
		struct rx *x = &r->rx[i];
		x->fd = bench_udp_bind(0);
		bench_set_rcvbuf(x->fd, SHARDS_RCVBUF, geteuid() == 0);
		bench_set_rcvtimeo(x->fd, 50);
		x->done = &r->rx_done;
		r->blast_port[i] = bench_local_port(x->fd);
		pthread_create(&x->thread, NULL, raw_receiver, x);
		while (!atomic_load(&x->clock_set))
			sched_yield();
	}
	start_blasters(r);
	struct result res = measure(r, duration);
	res.accuracy = -1; /* one port per receiver: no steering involved */
	stop_blasters(r);
	atomic_store(&r->rx_done, true);
	for (unsigned i = 0; i < r->n; i++) {
		pthread_join(r->rx[i].thread, NULL);
		close(r->rx[i].fd);
	}
	return res;
}

static int run_udg(struct run *r, double duration, struct result *res)
{
	udg_group_options o;
	reset(r);
	udg_group_options_init(&o, UDG_UDP4);
	o.shards = r->n;
	o.cpus = r->cpus;
	o.cpu_count = r->n;
	o.steer = UDG_STEER_CPU;
	o.address = "127.0.0.1";
	o.socket.recv_buffer_size = SHARDS_RCVBUF;
	o.socket.on_message = on_message;
	o.socket.user = r;
	o.on_start = on_start;
	o.user = r;
	int e = udg_group_new(&o, &group);
	if (e == 0)
		e = udg_group_start(group);
	if (e != 0) {
		udg_group_free(group);
		return e;
	}
	for (unsigned k = 0; k < r->n; k++)
		r->blast_port[k] = udg_group_port(group);
	start_blasters(r);
	*res = measure(r, duration);
	stop_blasters(r);
	e = udg_group_free(group);
	return e;
}

/* ---- Main ------------------------------------------------------------------------------- */

static void parse(int argc, char **argv, double *duration, size_t *size, unsigned *max)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--duration"))
			*duration = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--size"))
			*size = (size_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--max-shards"))
			*max = (unsigned)atoi(argv[i + 1]);
	}
	if (*size < 1 || *size > BENCH_MAX_SIZE || *duration <= 0) {
		fprintf(stderr,
			"usage: bench_shards [--duration S] [--size 1..%d] "
			"[--max-shards N]\n",
			BENCH_MAX_SIZE);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	static struct run r;
	double duration = 1.0;
	size_t size = 64;
	unsigned max = 0, ncpu = 0;
	cpu_set_t mask;
	parse(argc, argv, &duration, &size, &max);
	setvbuf(stdout, NULL, _IOLBF, 0); /* each row as it is measured, also through a pipe */
	sched_getaffinity(0, sizeof(mask), &mask);
	for (int c = 0; c < CPU_SETSIZE && ncpu < MAX_PAIRS; c++)
		if (CPU_ISSET(c, &mask))
			r.cpus[ncpu++] = c;
	if (max == 0 || max > ncpu)
		max = ncpu;
	r.size = size;
	printf("== shards: n pinned blasters -> n receivers on the same n CPUs, %zu-byte "
	       "datagrams, %.1f s per point, CPUs in the mask: %u\n",
	       size, duration, ncpu);
	printf("%-7s %16s %14s %16s %14s %8s %9s\n", "shards", "raw mmsg dgr/s", "raw ns/dgram",
	       "udg group dgr/s", "udg ns/dgram", "udg/raw", "steered");
	for (unsigned n = 1; n <= max; n++) {
		struct result raw, udg;
		r.n = n;
		raw = run_raw(&r, duration);
		int e = run_udg(&r, duration, &udg);
		if (e != 0) {
			printf("%-7u %16.0f %14.0f  udg group failed: %s\n", n, raw.per_s,
			       raw.cpu_ns, udg_strerror(e));
			continue;
		}
		printf("%-7u %16.0f %14.0f %16.0f %14.0f %8.2f %8.1f%%\n", n, raw.per_s, raw.cpu_ns,
		       udg.per_s, udg.cpu_ns, raw.per_s ? udg.per_s / raw.per_s : 0, udg.accuracy);
		fflush(stdout);
	}
	printf("(ns/dgram: the receiving threads' CPU time per datagram received; loopback's "
	       "softirq work is charged to the blasters. steered: datagrams that reached the "
	       "shard on their blaster's CPU)\n");
	return 0;
}
