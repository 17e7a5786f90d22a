/* examples/echo-server.c — a UDP echo server on udg: every datagram goes back to its sender.
 * Usage: echo-server [port] [udp4|udp6]   (defaults: 41234, udp4; Ctrl-C prints stats, exits)
 * Try it: echo-server 41234 & then  echo hello | nc -u -w1 127.0.0.1 41234
 * Uses only the public API. The signal handler only sets a flag: udg_loop_post() allocates, so
 * it is not async-signal-safe; a timer on the loop thread notices the flag instead. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udg.h>

/* How often the loop thread looks at the Ctrl-C flag: short enough to feel immediate. */
#define SIGNAL_POLL_NS (100 * 1000 * 1000ull)

struct server {
	udg_loop *loop;
	udg_socket *sock;
	udg_timer *watch;
	unsigned long long echoed, queue_full, failed;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void on_listening(udg_socket *s, void *user)
{
	udg_address a;

	(void)user;
	if (udg_socket_address(s, &a) == 0)
		printf("echo-server: listening on %s port %d (%s)\n", a.address, a.port, a.family);
}

/* The payload and rinfo are lent for this call only. Sending without a callback makes udg copy
 * the bytes before udg_socket_send_to returns, so nothing here outlives the call. */
static void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
		       void *user)
{
	struct server *srv = user;
	int r = udg_socket_send_to(s, data, len, rinfo->addr, rinfo->addrlen, NULL, NULL);

	if (r == 0)
		srv->echoed++;
	else if (r == UDG_ERR_SEND_QUEUE_FULL)
		srv->queue_full++; /* every send slot busy: UDP may drop, and so do we */
	else
		srv->failed++;
}

static void on_error(udg_socket *s, const udg_error_info *err, void *user)
{
	fprintf(stderr, "echo-server: %s %s%s%s\n", err->syscall ? err->syscall : "error",
		udg_err_name(err->code), err->address ? " " : "", err->address ? err->address : "");
	if (err->syscall && strcmp(err->syscall, "bind") == 0) {
		struct server *srv = user;
		udg_socket_close(s, NULL, NULL);
		udg_timer_free(srv->watch); /* nothing left to watch: let the loop end */
		srv->watch = NULL;
	}
}

static void print_stats(const struct server *srv)
{
	udg_loop_stats st;

	udg_loop_stats_get(srv->loop, &st);
	/* kernel_drops: datagrams that never reached us because the socket's receive queue was
	 * full (the "drops" column of /proc/net/udp); raise SO_RCVBUF if it grows. */
	printf("\necho-server: %llu received, %llu echoed, %llu refused (send queue full), "
	       "%llu failed, %llu dropped by the kernel (receive queue full)\n",
	       (unsigned long long)st.datagrams_received, srv->echoed, srv->queue_full, srv->failed,
	       (unsigned long long)st.kernel_drops);
	printf("echo-server: %llu iterations, %llu enters, %llu SQEs, %llu CQEs, "
	       "%llu receive re-arms (%llu for lack of buffers), %llu send errors\n",
	       (unsigned long long)st.iterations, (unsigned long long)st.enters,
	       (unsigned long long)st.sqes_submitted, (unsigned long long)st.cqes_reaped,
	       (unsigned long long)st.recv_rearms, (unsigned long long)st.recv_enobufs,
	       (unsigned long long)st.send_errors);
}

/* Runs on the loop thread every SIGNAL_POLL_NS: the safe place to react to Ctrl-C. */
static void watch_signal(udg_timer *t, void *user)
{
	struct server *srv = user;

	if (!interrupted)
		return;
	print_stats(srv);
	udg_socket_close(srv->sock, NULL, NULL); /* 'close' fires later; then the loop ends */
	udg_timer_free(t);
	srv->watch = NULL;
}

static int parse_args(int argc, char **argv, int *port, udg_socket_type *type)
{
	*port = 41234;
	*type = UDG_UDP4;
	if (argc > 1) {
		char *end;
		long p = strtol(argv[1], &end, 10);
		if (*end || p < 0 || p > 65535)
			return -1;
		*port = (int)p;
	}
	if (argc > 2) {
		if (strcmp(argv[2], "udp6") == 0)
			*type = UDG_UDP6;
		else if (strcmp(argv[2], "udp4") != 0)
			return -1;
	}
	return argc > 3 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct server srv = { 0 };
	udg_socket_options opts;
	udg_socket_type type;
	int port, r;

	if (parse_args(argc, argv, &port, &type) != 0) {
		fprintf(stderr, "usage: %s [port] [udp4|udp6]\n", argv[0]);
		return 2;
	}
	r = udg_loop_new(NULL, &srv.loop);
	if (r != 0) {
		fprintf(stderr, "echo-server: udg_loop_new: %s\n", udg_strerror(r));
		return 1;
	}
	udg_socket_options_init(&opts, type);
	opts.on_listening = on_listening;
	opts.on_message = on_message;
	opts.on_error = on_error;
	opts.user = &srv;
	r = udg_socket_new(srv.loop, &opts, &srv.sock);
	if (r == 0)
		r = udg_socket_bind(srv.sock, port, NULL, NULL, NULL);
	if (r == 0)
		r = udg_timer_new(srv.loop, &srv.watch);
	if (r == 0)
		r = udg_timer_start(srv.watch, SIGNAL_POLL_NS, SIGNAL_POLL_NS, watch_signal, &srv);
	if (r != 0) {
		fprintf(stderr, "echo-server: %s\n", udg_strerror(r));
		return 1;
	}
	udg_timer_unref(srv.watch);       /* the socket, not the watcher, keeps the loop running */
	setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, also into a pipe */
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);

	r = udg_loop_run(srv.loop, UDG_RUN_DEFAULT);
	if (r < 0)
		fprintf(stderr, "echo-server: udg_loop_run: %s\n", udg_strerror(r));
	if (srv.watch)
		udg_timer_free(srv.watch);
	if (udg_loop_close(srv.loop) != 0)
		fprintf(stderr, "echo-server: the loop still had work\n");
	return r < 0 ? 1 : 0;
}
