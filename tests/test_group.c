/* tests/test_group.c — shard groups (engine/group/group.c) and udg_socket_fd() on real loopback
 * sockets: flows spread over the shards by hash and each sticks to one; CPU steering sends a
 * pinned sender's flows to the shard on its CPU; stop under traffic runs every accepted send's
 * callback once and closes every loop; per-shard counters add up to the sum; a shard that fails
 * to start fails the start; bad arguments get their codes and create nothing. The peers are
 * plain blocking sockets on the test's thread, so the shards' threads are the only udg ones. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "support.h"

/* Shards used by the traffic tests: up to 4, never more than the CPUs we may run on. */
#define MAX_SHARDS 4
/* Flows (source ports) per test: enough that a hash sending all of them to one of 2 shards
 * (probability 2^-31) is not a realistic outcome. */
#define FLOWS 32
/* Round trips per flow: a flow has to come back to the same shard every time. */
#define TRIPS 8

struct fixture {
	udg_group *g;
	int shard_port[MAX_SHARDS];       /* udg_socket_address() in on_start */
	int flow_hits[MAX_SHARDS][FLOWS]; /* written by the shard's thread only */
	int cpu_seen[MAX_SHARDS];         /* sched_getcpu() in a post */
	int accepted[MAX_SHARDS], callbacks[MAX_SHARDS], closes[MAX_SHARDS], stops[MAX_SHARDS];
	atomic_int received;
	int fail_shard; /* on_start fails this shard (-1: none) */
	bool reply_with_cb;
};

static unsigned cpus_allowed(void)
{
	cpu_set_t m;
	cr_assert_eq(sched_getaffinity(0, sizeof(m), &m), 0);
	return (unsigned)CPU_COUNT(&m);
}

static unsigned traffic_shards(void)
{
	unsigned n = cpus_allowed();
	return n < MAX_SHARDS ? n : MAX_SHARDS;
}

static int shard_of(struct fixture *f, udg_socket *s)
{
	int i = udg_group_shard_index(f->g, udg_socket_loop(s));
	cr_assert(i >= 0 && i < MAX_SHARDS);
	return i;
}

static void reply_sent(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)status, (void)bytes;
	((struct fixture *)user)->callbacks[shard_of(user, s)]++;
}

/* The echo: a 4-byte flow id comes back as it was; with reply_with_cb the reply is a
 * borrowed constant with a callback, so the send callbacks can be counted. */
static void on_msg(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	static const char pong[4] = "pong";
	struct fixture *f = user;
	int i = shard_of(f, s);
	uint32_t flow = 0;
	if (len == 4)
		memcpy(&flow, data, 4);
	if (flow < FLOWS)
		f->flow_hits[i][flow]++;
	atomic_fetch_add(&f->received, 1);
	if (f->reply_with_cb) {
		if (udg_socket_send_to(s, pong, 4, ri->addr, ri->addrlen, reply_sent, f) == 0)
			f->accepted[i]++;
	} else {
		udg_socket_send_to(s, data, len, ri->addr, ri->addrlen, NULL, NULL);
	}
}

static void on_sock_close(udg_socket *s, void *user)
{
	((struct fixture *)user)->closes[shard_of(user, s)]++;
}

static int on_start(udg_group *g, unsigned index, udg_socket *s, void *user)
{
	struct fixture *f = user;
	udg_address a;
	cr_assert_eq(udg_group_shard_index(g, udg_socket_loop(s)), (int)index);
	if ((int)index == f->fail_shard)
		return -ENOTRECOVERABLE;
	if (udg_socket_address(s, &a) == 0 && index < MAX_SHARDS)
		f->shard_port[index] = a.port;
	return 0;
}

static void on_stop(udg_group *g, unsigned index, udg_socket *s, void *user)
{
	(void)g, (void)s;
	((struct fixture *)user)->stops[index]++;
}

static void options(udg_group_options *o, struct fixture *f, unsigned shards, udg_steer steer)
{
	udg_group_options_init(o, UDG_UDP4);
	o->shards = shards;
	o->steer = steer;
	o->address = "127.0.0.1";
	o->socket.on_message = on_msg;
	o->socket.on_close = on_sock_close;
	o->socket.user = f;
	o->on_start = on_start;
	o->on_stop = on_stop;
	o->user = f;
}

/* A started group; skips where io_uring is missing (the shard's loop creation fails). */
static udg_group *start_group(struct fixture *f, unsigned shards, udg_steer steer)
{
	udg_group_options o;
	options(&o, f, shards, steer);
	f->fail_shard = -1;
	cr_assert_eq(udg_group_new(&o, &f->g), 0);
	int r = udg_group_start(f->g);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD) {
		udg_group_free(f->g);
		cr_skip_test("%s", udg_strerror(r));
	}
	cr_assert_eq(r, 0, "start: %s", udg_err_name(r));
	return f->g;
}

/* One client socket per flow, bound to its own ephemeral port; replies within 5 s or fail. */
static int client(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void round_trip(int fd, int port, uint32_t flow)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint32_t back = ~flow;
	cr_assert_eq(sendto(fd, &flow, 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	cr_assert_eq(recv(fd, &back, 4, 0), 4, "no echo for flow %u: %s", flow, strerror(errno));
	cr_assert_eq(back, flow);
}

/* FLOWS flows, TRIPS round trips each, interleaved so every flow is in play all along. */
static void run_flows(struct fixture *f)
{
	int fds[FLOWS];
	for (int i = 0; i < FLOWS; i++)
		fds[i] = client();
	for (int t = 0; t < TRIPS; t++)
		for (uint32_t i = 0; i < FLOWS; i++)
			round_trip(fds[i], udg_group_port(f->g), i);
	for (int i = 0; i < FLOWS; i++)
		close(fds[i]);
}

/* The shard each flow went to; fails if a flow went to two. */
static void flow_owners(struct fixture *f, unsigned n, int owner[FLOWS])
{
	for (int fl = 0; fl < FLOWS; fl++) {
		owner[fl] = -1;
		for (unsigned s = 0; s < n; s++) {
			if (!f->flow_hits[s][fl])
				continue;
			cr_assert_eq(owner[fl], -1, "flow %d reached shards %d and %u", fl,
				     owner[fl], s);
			cr_assert_eq(f->flow_hits[s][fl], TRIPS);
			owner[fl] = (int)s;
		}
		cr_assert_neq(owner[fl], -1, "flow %d reached no shard", fl);
	}
}

/* ---- udg_socket_fd ------------------------------------------------------------------------ */

Test(socket_fd, exists_from_the_bind_until_close)
{
	struct ev e = { 0 };
	udg_loop *loop = new_loop();
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	cr_assert_eq(udg_socket_fd(NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_fd(s), -EBADF, "no OS socket before the bind");
	int port = bind_port(s, "127.0.0.1");
	int fd = udg_socket_fd(s);
	cr_assert_geq(fd, 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0, "the fd is the bound socket");
	cr_assert_eq(ntohs(a.sin_port), port);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_socket_fd(s), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- Bad arguments ------------------------------------------------------------------------ */

static void refused(udg_group_options *o, int code)
{
	udg_group *g = (udg_group *)(uintptr_t)1; /* a sentinel: must stay untouched */
	cr_assert_eq(udg_group_new(o, &g), code, "expected %s", udg_err_name(code));
	cr_assert_eq(g, (udg_group *)(uintptr_t)1);
}

Test(group, bad_arguments_get_their_codes_and_create_nothing)
{
	udg_group_options o;
	udg_group *g = NULL;
	cpu_set_t m;
	int in_mask = -1, outside = -1;
	cr_assert_eq(sched_getaffinity(0, sizeof(m), &m), 0);
	for (int c = CPU_SETSIZE - 1; c >= 0; c--) {
		if (CPU_ISSET(c, &m))
			in_mask = c; /* ends as the lowest CPU we may use */
		else
			outside = c;
	}
	int list[2] = { in_mask, in_mask };

	cr_assert_eq(udg_group_new(NULL, &g), UDG_ERR_INVALID_ARG_TYPE);
	udg_group_options_init(&o, UDG_UDP4);
	cr_assert_eq(udg_group_new(&o, NULL), UDG_ERR_INVALID_ARG_TYPE);
	o.shards = cpus_allowed() + 1;
	refused(&o, UDG_ERR_OUT_OF_RANGE); /* more shards than CPUs to run them */
	udg_group_options_init(&o, UDG_UDP4);
	o.cpus = list;
	o.cpu_count = 0;
	refused(&o, UDG_ERR_MISSING_ARGS); /* an empty CPU list */
	o.cpus = NULL;
	o.cpu_count = 1;
	refused(&o, UDG_ERR_INVALID_ARG_TYPE);
	o.cpus = list;
	o.cpu_count = 2;
	refused(&o, UDG_ERR_INVALID_ARG_VALUE); /* a CPU twice */
	list[0] = -1;
	o.cpu_count = 1;
	refused(&o, UDG_ERR_OUT_OF_RANGE);
	if (outside >= 0) {
		list[0] = outside;
		refused(&o, UDG_ERR_OUT_OF_RANGE); /* not in the affinity mask */
	}
	list[0] = in_mask;
	o.shards = 2;
	refused(&o, UDG_ERR_OUT_OF_RANGE); /* a list of 1 for 2 shards */
	udg_group_options_init(&o, UDG_UDP4);
	o.steer = (udg_steer)7;
	refused(&o, UDG_ERR_INVALID_ARG_VALUE);
	udg_group_options_init(&o, UDG_UDP4);
	o.socket.type = (udg_socket_type)5;
	refused(&o, UDG_ERR_SOCKET_BAD_TYPE);
	udg_group_options_init(&o, UDG_UDP4);
	o.port = 65536;
	refused(&o, UDG_ERR_SOCKET_BAD_PORT);
	o.port = -1;
	refused(&o, UDG_ERR_SOCKET_BAD_PORT);

	/* 0 shards means one per CPU in the mask; a one-CPU list means one shard on it. */
	udg_group_options_init(&o, UDG_UDP4);
	cr_assert_eq(udg_group_new(&o, &g), 0);
	cr_assert_eq(udg_group_shards(g), cpus_allowed());
	cr_assert_eq(udg_group_shard_cpu(g, 0), in_mask);
	cr_assert_eq(udg_group_shard_cpu(g, udg_group_shards(g)), -1);
	cr_assert_null(udg_group_shard_loop(g, 0), "no loop before start");
	cr_assert_eq(udg_group_post(g, 0, (udg_post_cb)abort, NULL), UDG_ERR_LOOP_CLOSED);
	cr_assert_eq(udg_group_post(g, 99, (udg_post_cb)abort, NULL), UDG_ERR_OUT_OF_RANGE);
	udg_loop_stats st;
	cr_assert_eq(udg_group_stats(g, 0, &st), UDG_ERR_LOOP_CLOSED);
	cr_assert_eq(udg_group_stats(g, (int)udg_group_shards(g), &st), UDG_ERR_OUT_OF_RANGE);
	cr_assert_eq(udg_group_stop(g), 0, "stopping a group that never started is a no-op");
	cr_assert_eq(udg_group_free(g), 0);
	o.cpus = list;
	o.cpu_count = 1;
	cr_assert_eq(udg_group_new(&o, &g), 0);
	cr_assert_eq(udg_group_shards(g), 1);
	cr_assert_eq(udg_group_free(g), 0);
	cr_assert_eq(udg_group_start(NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_group_free(NULL), 0);
}

/* ---- Traffic ------------------------------------------------------------------------------ */

struct cpu_note {
	struct fixture *f;
	unsigned index;
};

static void note_cpu_of(void *arg)
{
	struct cpu_note *c = arg;
	c->f->cpu_seen[c->index] = sched_getcpu();
}

Test(group, flows_spread_over_the_shards_and_each_sticks_to_one)
{
	static struct fixture f;
	unsigned n = traffic_shards();
	start_group(&f, n, UDG_STEER_HASH);
	int owner[FLOWS], used[MAX_SHARDS] = { 0 }, shards_used = 0;
	struct cpu_note notes[MAX_SHARDS];

	cr_assert_neq(udg_group_port(f.g), 0, "port 0 gave the group an ephemeral port");
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(f.shard_port[i], udg_group_port(f.g),
			     "every shard bound the same port");
		cr_assert_not_null(udg_group_shard_socket(f.g, i));
		notes[i] = (struct cpu_note){ .f = &f, .index = i };
		cr_assert_eq(udg_group_post(f.g, i, note_cpu_of, &notes[i]), 0);
	}
	run_flows(&f);
	cr_assert_eq(udg_group_stop(f.g), 0, "every shard's loop closed with 0");
	cr_assert_eq(udg_group_post(f.g, 0, note_cpu_of, &notes[0]), UDG_ERR_LOOP_CLOSED);
	flow_owners(&f, n, owner);
	for (int fl = 0; fl < FLOWS; fl++)
		used[owner[fl]]++;
	for (unsigned i = 0; i < n; i++) {
		shards_used += used[i] > 0;
		cr_assert_eq(f.cpu_seen[i], udg_group_shard_cpu(f.g, i), "shard %u is pinned", i);
		cr_assert_eq(f.stops[i], 1);
		cr_assert_eq(f.closes[i], 1, "the user heard 'close' once per shard");
	}
	cr_assert_eq(shards_used, (int)n, "%d flows over %u shards used only %d", FLOWS, n,
		     shards_used);
	cr_assert_eq(udg_group_free(f.g), 0);
}

static void pin_self(int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof(one), &one), 0);
}

Test(group, cpu_steering_sends_a_pinned_senders_flows_to_the_shard_on_its_cpu)
{
	static struct fixture f;
	unsigned n = traffic_shards();
	cpu_set_t all;
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	start_group(&f, n, UDG_STEER_CPU);
	int owner[FLOWS];

	/* Loopback delivers in the sender's softirq, on the sender's CPU. */
	for (unsigned k = 0; k < n; k++) {
		memset(f.flow_hits, 0, sizeof(f.flow_hits));
		pin_self(udg_group_shard_cpu(f.g, k));
		run_flows(&f);
		/* The hits are the shards' writes; a post that runs after them on each shard makes
		 * them visible here (udg_group_stats() waits for its posts). */
		udg_loop_stats st;
		cr_assert_eq(udg_group_stats(f.g, -1, &st), 0);
		flow_owners(&f, n, owner);
		for (int fl = 0; fl < FLOWS; fl++)
			cr_assert_eq(owner[fl], (int)k,
				     "sender on CPU %d: flow %d went to shard %d",
				     udg_group_shard_cpu(f.g, k), fl, owner[fl]);
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
	cr_assert_eq(udg_group_free(f.g), 0);
}

Test(group, per_shard_counters_add_up_to_the_sum)
{
	static struct fixture f;
	unsigned n = traffic_shards();
	start_group(&f, n, UDG_STEER_HASH);
	udg_loop_stats sum, one, added = { 0 };
	run_flows(&f);

	for (int after_stop = 0; after_stop < 2; after_stop++) {
		memset(&added, 0, sizeof(added));
		/* Nothing is in flight now (every echo came back), so the counters stand still. */
		for (unsigned i = 0; i < n; i++) {
			cr_assert_eq(udg_group_stats(f.g, (int)i, &one), 0);
			added.datagrams_received += one.datagrams_received;
			added.datagrams_sent += one.datagrams_sent;
			added.send_errors += one.send_errors;
		}
		cr_assert_eq(udg_group_stats(f.g, -1, &sum), 0);
		cr_assert_eq(sum.datagrams_received, FLOWS * TRIPS);
		cr_assert_eq(sum.datagrams_sent, FLOWS * TRIPS);
		cr_assert_eq(added.datagrams_received, sum.datagrams_received);
		cr_assert_eq(added.datagrams_sent, sum.datagrams_sent);
		cr_assert_eq(added.send_errors, 0);
		cr_assert_geq(sum.iterations, n);
		if (!after_stop)
			cr_assert_eq(udg_group_stop(f.g), 0);
	}
	cr_assert_eq(udg_group_free(f.g), 0);
}

/* ---- Stop -------------------------------------------------------------------------------- */

struct blaster {
	int port;
	atomic_bool quit;
	long sent;
};

static void *blast(void *arg)
{
	struct blaster *b = arg;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)b->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0)
		return NULL;
	/* Many source ports, so every shard gets traffic; errors after the stop are expected. */
	for (uint32_t i = 0; !atomic_load(&b->quit); i++) {
		int one = socket(AF_INET, SOCK_DGRAM, 0);
		for (int j = 0; j < 64 && one >= 0; j++)
			if (sendto(one, &i, 4, 0, (struct sockaddr *)&to, sizeof(to)) == 4)
				b->sent++;
		if (one >= 0)
			close(one);
	}
	close(fd);
	return NULL;
}

Test(group, stop_under_traffic_runs_every_send_callback_once_and_closes_every_loop)
{
	static struct fixture f;
	unsigned n = traffic_shards();
	f.reply_with_cb = true;
	start_group(&f, n, UDG_STEER_HASH);
	struct blaster b = { .port = udg_group_port(f.g) };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, blast, &b), 0);

	for (int i = 0; i < 5000 && atomic_load(&f.received) < 2000; i++)
		usleep(1000);
	cr_assert_geq(atomic_load(&f.received), 2000, "traffic is flowing");
	int r = udg_group_stop(f.g); /* while the blaster still sends */
	atomic_store(&b.quit, true);
	pthread_join(t, NULL);
	cr_assert_eq(r, 0, "every loop closed: %s", udg_err_name(r));
	int total = 0;
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(f.callbacks[i], f.accepted[i], "shard %u: %d accepted, %d callbacks",
			     i, f.accepted[i], f.callbacks[i]);
		cr_assert_eq(f.closes[i], 1);
		cr_assert_eq(f.stops[i], 1);
		total += f.accepted[i];
	}
	cr_assert_gt(total, 0);
	cr_assert_null(udg_group_shard_loop(f.g, 0), "no loop after the stop");
	cr_assert_eq(udg_group_stop(f.g), 0, "a second stop is a no-op");
	cr_assert_eq(udg_group_free(f.g), 0);
}

static void stop_from_handler(udg_socket *s, const void *d, size_t len, const udg_rinfo *ri,
			      void *user)
{
	struct fixture *f = user;
	(void)s, (void)d, (void)len, (void)ri;
	/* On a shard thread: only asks. */
	if (udg_group_stop(f->g) == 0)
		atomic_fetch_add(&f->received, 1);
}

Test(group, a_handler_stops_the_group_and_the_owner_waits)
{
	static struct fixture f;
	udg_group_options o;
	options(&o, &f, traffic_shards(), UDG_STEER_HASH);
	o.socket.on_message = stop_from_handler;
	f.fail_shard = -1;
	cr_assert_eq(udg_group_new(&o, &f.g), 0);
	int r = udg_group_start(f.g);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("%s", udg_strerror(r));
	cr_assert_eq(r, 0);
	cr_assert_eq(udg_group_start(f.g), -EALREADY);
	int fd = client();
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)udg_group_port(f.g)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	cr_assert_eq(udg_group_wait(f.g), 0, "returns once the handler's stop finished");
	cr_assert_geq(atomic_load(&f.received), 1);
	for (unsigned i = 0; i < udg_group_shards(f.g); i++)
		cr_assert_eq(f.closes[i], 1);
	close(fd);
	cr_assert_eq(udg_group_free(f.g), 0);
}

static int stop_in_on_start(udg_group *g, unsigned index, udg_socket *s, void *user)
{
	(void)s, (void)user;
	return index == 0 ? udg_group_stop(g) : 0; /* on a shard thread: only asks */
}

Test(group, a_stop_asked_during_the_start_takes_effect_once_every_shard_serves)
{
	static struct fixture f;
	udg_group_options o;
	options(&o, &f, traffic_shards(), UDG_STEER_HASH);
	o.on_start = stop_in_on_start;
	cr_assert_eq(udg_group_new(&o, &f.g), 0);
	int r = udg_group_start(f.g);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("%s", udg_strerror(r));
	cr_assert_eq(r, 0);
	cr_assert_eq(udg_group_wait(f.g), 0, "returns: the stop reached every shard");
	for (unsigned i = 0; i < udg_group_shards(f.g); i++)
		cr_assert_eq(f.stops[i], 1, "shard %u stopped", i);
	cr_assert_eq(udg_group_free(f.g), 0);
}

Test(group, a_host_name_address_is_resolved_by_each_shard)
{
	static struct fixture f;
	udg_group_options o;
	options(&o, &f, traffic_shards(), UDG_STEER_HASH);
	o.address = "localhost";
	f.fail_shard = -1;
	cr_assert_eq(udg_group_new(&o, &f.g), 0);
	int r = udg_group_start(f.g);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("%s", udg_strerror(r));
	cr_assert_eq(r, 0, "%s", udg_err_name(r));
	run_flows(&f); /* the clients send to 127.0.0.1 */
	cr_assert_eq(udg_group_stop(f.g), 0);
	cr_assert_eq(udg_group_free(f.g), 0);

	o.address = "no-such-host.invalid";
	cr_assert_eq(udg_group_new(&o, &f.g), 0);
	r = udg_group_start(f.g);
	cr_assert(r == UDG_ERR_ENOTFOUND || r == UDG_ERR_EAI_AGAIN || r == UDG_ERR_EAI_FAIL,
		  "a failed lookup fails the start: %s", udg_err_name(r));
	cr_assert_eq(udg_group_free(f.g), 0);
}

/* ---- Failed starts ------------------------------------------------------------------------ */

Test(group, a_shard_that_fails_to_start_fails_the_start_and_the_others_are_joined)
{
	static struct fixture f;
	udg_group_options o;
	unsigned n = traffic_shards();
	if (n < 2)
		cr_skip_test("needs 2 CPUs for a second shard");
	options(&o, &f, n, UDG_STEER_HASH);
	cr_assert_eq(udg_group_new(&o, &f.g), 0);
	f.fail_shard = 1;
	int r = udg_group_start(f.g);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("%s", udg_strerror(r));
	cr_assert_eq(r, -ENOTRECOVERABLE, "shard 1's code: %s", udg_err_name(r));
	cr_assert_eq(f.stops[0], 1, "shard 0 was stopped");
	cr_assert_eq(f.closes[0], 1);
	cr_assert_eq(f.closes[1], 1, "shard 1 had bound: its 'listening' has its 'close'");
	cr_assert_eq(f.stops[1], 0, "shard 1 never served");
	cr_assert_null(udg_group_shard_loop(f.g, 0));

	/* A failed start leaves the group startable. */
	f.fail_shard = -1;
	cr_assert_eq(udg_group_start(f.g), 0);
	run_flows(&f);
	cr_assert_eq(udg_group_free(f.g), 0, "free stops and joins");
	cr_assert_eq(f.stops[0], 2);
}

Test(group, a_port_taken_without_reuse_port_fails_the_start_with_eaddrinuse)
{
	static struct fixture f;
	udg_group_options o;
	int fd = client(); /* 127.0.0.1, ephemeral port, no SO_REUSEPORT */
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	options(&o, &f, traffic_shards(), UDG_STEER_HASH);
	o.port = ntohs(a.sin_port);
	cr_assert_eq(udg_group_new(&o, &f.g), 0);
	int r = udg_group_start(f.g);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("%s", udg_strerror(r));
	cr_assert_eq(r, -EADDRINUSE, "%s", udg_err_name(r));
	cr_assert_eq(f.closes[0], 0, "the user never saw the socket that failed to bind");
	cr_assert_eq(udg_group_port(f.g), 0);
	close(fd);
	cr_assert_eq(udg_group_free(f.g), 0);
}
