/* tests/tsan/tsan_posts.c — the thread-safe entry points under ThreadSanitizer: 8 threads post
 * 20 000 callbacks each and one more keeps calling udg_loop_stop() while the loop thread runs
 * timers and traffic. Every post must run exactly once, in per-thread order. Plain program (no
 * Criterion, whose worker processes TSan cannot follow); exit 0 = clean. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "udg.h"

#define POSTERS 8
#define POSTS 20000

static udg_loop *loop;
static uint32_t next_seq[POSTERS];
static unsigned long ran, disorder;
static atomic_int posters_left = POSTERS;
static atomic_bool stopper_quit;

static void post_fn(void *arg)
{
	uintptr_t u = (uintptr_t)arg;
	unsigned poster = (unsigned)(u >> 32);
	uint32_t seq = (uint32_t)u;
	if (seq != next_seq[poster])
		disorder++;
	next_seq[poster] = seq + 1;
	ran++;
}

static void *poster(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	for (uint32_t i = 0; i < POSTS; i++)
		while (udg_loop_post(loop, post_fn, (void *)((id << 32) | i)) != 0)
			;
	atomic_fetch_sub(&posters_left, 1);
	return NULL;
}

static void *stopper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopper_quit))
		udg_loop_stop(loop);
	return NULL;
}

static void on_message(udg_socket *s, const void *d, size_t len, const udg_rinfo *ri, void *u)
{
	(void)d, (void)len;
	(*(unsigned long *)u)++;
	udg_socket_send_to(s, "pong", 4, ri->addr, ri->addrlen, NULL, NULL);
}

int main(void)
{
	if (udg_loop_new(NULL, &loop) != 0)
		return 77;
	unsigned long pings = 0, pongs = 0;
	udg_socket_options o;
	udg_socket *a, *b;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = on_message;
	o.user = &pings;
	udg_socket_new(loop, &o, &a);
	udg_socket_bind(a, 0, "127.0.0.1", NULL, NULL);
	o.user = &pongs;
	udg_socket_new(loop, &o, &b);
	udg_socket_bind(b, 0, "127.0.0.1", NULL, NULL);
	udg_address aa;
	udg_socket_address(a, &aa);
	udg_socket_send(b, "ping", 4, aa.port, NULL, NULL, NULL); /* a ping-pong that never ends */

	pthread_t t[POSTERS + 1];
	for (uintptr_t i = 0; i < POSTERS; i++)
		pthread_create(&t[i], NULL, poster, (void *)i);
	pthread_create(&t[POSTERS], NULL, stopper, NULL);
	while (atomic_load(&posters_left) > 0 || ran < (unsigned long)POSTERS * POSTS)
		udg_loop_run(loop, UDG_RUN_ONCE);
	atomic_store(&stopper_quit, true);
	for (int i = 0; i <= POSTERS; i++)
		pthread_join(t[i], NULL);
	udg_socket_close(a, NULL, NULL);
	udg_socket_close(b, NULL, NULL);
	while (udg_loop_run(loop, UDG_RUN_DEFAULT) != 0)
		; /* a stop requested by the stopper may end one run early */
	int rc = udg_loop_close(loop);
	printf("tsan: posts: ran=%lu out_of_order=%lu ping_pongs=%lu close=%d\n", ran, disorder,
	       pings + pongs, rc);
	return ran == (unsigned long)POSTERS * POSTS && disorder == 0 && rc == 0 ? 0 : 1;
}
