/* tests/tsan/tsan_group.c — shard groups under ThreadSanitizer: a group of up to 4 shards
 * serves a blaster while every message posts work to the next shard (udg_group_post), the main
 * thread reads the counters of running shards (udg_group_stats), and a third thread stops the
 * group mid-traffic. Every accepted post must run exactly once, every accepted send's callback
 * must run once, and every loop must close. Plain program (no Criterion); exit 0 = clean. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "udg.h"

#define MAX_SHARDS 4

static udg_group *group;
static unsigned nshards;
static atomic_long posts_accepted, posts_ran, received;
static long accepted[MAX_SHARDS], callbacks[MAX_SHARDS]; /* each shard writes its own */
static atomic_bool quit;

static void hop(void *arg)
{
	(void)arg;
	atomic_fetch_add(&posts_ran, 1);
}

static void sent(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)status, (void)bytes, (void)user;
	callbacks[udg_group_shard_index(group, udg_socket_loop(s))]++;
}

static void on_message(udg_socket *s, const void *d, size_t len, const udg_rinfo *ri, void *u)
{
	static const char pong[4] = "pong";
	(void)d, (void)len, (void)u;
	int i = udg_group_shard_index(group, udg_socket_loop(s));
	atomic_fetch_add(&received, 1);
	if (udg_socket_send_to(s, pong, 4, ri->addr, ri->addrlen, sent, NULL) == 0)
		accepted[i]++;
	/* Cross-shard work: may be refused once the other shard has closed. */
	if (udg_group_post(group, ((unsigned)i + 1) % nshards, hop, NULL) == 0)
		atomic_fetch_add(&posts_accepted, 1);
}

static void *blaster(void *arg)
{
	int port = *(int *)arg;
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	while (!atomic_load(&quit)) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0); /* a new source port: a new flow */
		if (fd < 0)
			continue;
		for (int j = 0; j < 16; j++)
			sendto(fd, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to));
		close(fd);
	}
	return NULL;
}

static void *stopper(void *arg)
{
	(void)arg;
	while (atomic_load(&received) < 3000)
		usleep(1000);
	udg_group_stop(group);
	return NULL;
}

int main(void)
{
	cpu_set_t m;
	udg_group_options o;
	sched_getaffinity(0, sizeof(m), &m);
	nshards = CPU_COUNT(&m) < MAX_SHARDS ? (unsigned)CPU_COUNT(&m) : MAX_SHARDS;
	udg_group_options_init(&o, UDG_UDP4);
	o.shards = nshards;
	o.address = "127.0.0.1";
	o.socket.on_message = on_message;
	if (udg_group_new(&o, &group) != 0)
		return 1;
	int r = udg_group_start(group);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		return 77;
	if (r != 0) {
		fprintf(stderr, "start: %s\n", udg_err_name(r));
		return 1;
	}
	int port = udg_group_port(group);
	pthread_t b, s;
	pthread_create(&b, NULL, blaster, &port);
	pthread_create(&s, NULL, stopper, NULL);
	udg_loop_stats st;
	long reads = 0;
	while (udg_group_stats(group, -1, &st) == 0 && udg_group_shard_loop(group, 0))
		reads++;
	pthread_join(s, NULL);
	r = udg_group_stop(group); /* joins, after the stopper's request */
	atomic_store(&quit, true);
	pthread_join(b, NULL);
	udg_group_stats(group, -1, &st);

	long acc = 0, cbs = 0;
	for (unsigned i = 0; i < nshards; i++)
		acc += accepted[i], cbs += callbacks[i];
	int ok = r == 0 && acc == cbs && atomic_load(&posts_accepted) == atomic_load(&posts_ran) &&
		 (long)st.datagrams_received == atomic_load(&received);
	printf("tsan: group of %u shards: %ld received, %ld sends = %ld callbacks, %ld posts = %ld "
	       "run, %ld stats reads, stop returned %d\n",
	       nshards, atomic_load(&received), acc, cbs, atomic_load(&posts_accepted),
	       atomic_load(&posts_ran), reads, r);
	udg_group_free(group);
	return ok ? 0 : 1;
}
