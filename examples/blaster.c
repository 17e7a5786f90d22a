/* examples/blaster.c — sends N datagrams of S bytes to host:port as fast as the API allows.
 * Usage: blaster <host> <port> [count=100000] [size=64]
 *   e.g. echo-server 41234 &  blaster 127.0.0.1 41234 1000000 64
 * When every send slot is in use (UDG_ERR_SEND_QUEUE_FULL) it runs the loop once to let
 * completions free slots, then goes on: backpressure, never a silent drop. Public API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udg.h>

/* UDP over IPv4 carries at most 65507 payload bytes (65535 - 20 IP - 8 UDP). */
#define SIZE_MAX_UDP 65507

struct blaster {
	bool connected;
	int connect_status;
	unsigned long long ok, failed, queue_full_waits;
	int first_error;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_connect(udg_socket *s, int status, void *user)
{
	struct blaster *b = user;

	b->connected = status == 0;
	b->connect_status = status != 0 ? status : 1;
	udg_loop_stop(udg_socket_loop(s)); /* back to main(), which starts blasting */
}

/* The payload was borrowed (a callback was given): the buffer is free again once this runs. */
static void on_sent(udg_socket *s, int status, size_t bytes, void *user)
{
	struct blaster *b = user;

	(void)s;
	(void)bytes;
	if (status == 0) {
		b->ok++;
		return;
	}
	if (b->failed++ == 0)
		b->first_error = status;
}

static int parse_count(const char *text, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v = strtoull(text, &end, 10);

	if (*end || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Send `count` datagrams; a full slot pool means "run the loop once, then retry". */
static int blast(udg_loop *loop, udg_socket *s, const unsigned char *payload, size_t size,
		 unsigned long long count, struct blaster *b)
{
	for (unsigned long long i = 0; i < count;) {
		int r = udg_socket_send(s, payload, size, 0, NULL, on_sent, b);
		if (r == 0) {
			i++;
			continue;
		}
		if (r != UDG_ERR_SEND_QUEUE_FULL)
			return r;
		b->queue_full_waits++;
		r = udg_loop_run(loop, UDG_RUN_ONCE);
		if (r < 0)
			return r;
	}
	return 0;
}

static void report(udg_loop *loop, const struct blaster *b, size_t size, double secs)
{
	udg_loop_stats st;

	udg_loop_stats_get(loop, &st);
	printf("blaster: %llu sent, %llu failed in %.3f s: %.0f datagrams/s, %.3f Gbit/s payload\n",
	       b->ok, b->failed, secs, (double)b->ok / secs,
	       (double)b->ok * (double)size * 8 / secs / 1e9);
	if (b->failed)
		printf("blaster: first error %s (%s)\n", udg_err_name(b->first_error),
		       udg_strerror(b->first_error));
	printf("blaster: %llu enters (%.3f per datagram), %llu SQ-full flushes, "
	       "%llu waits for a free send slot\n",
	       (unsigned long long)st.enters, b->ok ? (double)st.enters / (double)b->ok : 0.0,
	       (unsigned long long)st.sq_full_flushes, b->queue_full_waits);
	/* Replies (an echo server's) arrive while we blast and are not read: the kernel drops
	 * what its receive queue cannot hold. The socket is closed by now; the loop kept its
	 * count. */
	printf("blaster: %llu datagrams received back, %llu dropped by the kernel "
	       "(receive queue full)\n",
	       (unsigned long long)st.datagrams_received, (unsigned long long)st.kernel_drops);
}

int main(int argc, char **argv)
{
	unsigned long long count = 100000, size = 64, port;
	struct blaster b = { 0 };
	udg_socket_options opts;
	udg_loop *loop;
	udg_socket *s;
	int r;

	if (argc < 3 || argc > 5 || parse_count(argv[2], 65535, &port) != 0 ||
	    (argc > 3 && parse_count(argv[3], ~0ull, &count) != 0) ||
	    (argc > 4 && parse_count(argv[4], SIZE_MAX_UDP, &size) != 0)) {
		fprintf(stderr, "usage: %s <host> <port> [count] [size 1..%d]\n", argv[0],
			SIZE_MAX_UDP);
		return 2;
	}
	unsigned char *payload = malloc(size);
	if (!payload)
		return 1;
	memset(payload, 'x', size);

	r = udg_loop_new(NULL, &loop);
	if (r != 0) {
		fprintf(stderr, "blaster: udg_loop_new: %s\n", udg_strerror(r));
		return 1;
	}
	/* A ':' can only be an IPv6 literal; anything else is IPv4 text or a host name. */
	udg_socket_options_init(&opts, strchr(argv[1], ':') ? UDG_UDP6 : UDG_UDP4);
	r = udg_socket_new(loop, &opts, &s);
	if (r == 0) /* connect once: the name is resolved once, sends carry no address */
		r = udg_socket_connect(s, (int)port, argv[1], on_connect, &b);
	if (r == 0 && udg_loop_run(loop, UDG_RUN_DEFAULT) < 0) /* until on_connect stops it */
		r = -1;
	if (r != 0 || !b.connected) {
		int code = r != 0 ? r : b.connect_status;
		fprintf(stderr, "blaster: connect %s:%llu: %s\n", argv[1], port,
			udg_strerror(code));
		return 1;
	}

	double start = now_s();
	r = blast(loop, s, payload, size, count, &b);
	if (r != 0)
		fprintf(stderr, "blaster: send: %s (%s)\n", udg_err_name(r), udg_strerror(r));
	/* close waits for the sends still in flight; their callbacks run before 'close'. */
	udg_socket_close(s, NULL, NULL);
	if (udg_loop_run(loop, UDG_RUN_DEFAULT) < 0)
		fprintf(stderr, "blaster: the loop failed while draining\n");
	report(loop, &b, size, now_s() - start);
	free(payload);
	return udg_loop_close(loop) == 0 && r == 0 ? 0 : 1;
}
