/* examples/multicast-listener.c — joins a multicast group and prints every datagram it receives.
 * Usage: multicast-listener <group> [port] [interface]
 *   e.g. multicast-listener 239.1.2.3 41234            (udp4; interface = its IPv4 address)
 *        multicast-listener ff02::1:3 41234 %eth0      (udp6; interface = "%ifname")
 * Uses only the public API; the SIGINT handler only sets a flag that a loop timer reads. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udg.h>

/* How often the loop thread looks at the Ctrl-C flag. */
#define SIGNAL_POLL_NS (100 * 1000 * 1000ull)
/* Bytes of each payload shown; the rest is summarised by the size. */
#define SHOW_MAX 64

struct listener {
	const char *group;
	const char *iface; /* NULL: the kernel chooses */
	udg_socket *sock;
	udg_timer *watch;
	unsigned long long count;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The socket is bound: join the group now (bind first, so the port is the one asked for). */
static void on_listening(udg_socket *s, void *user)
{
	struct listener *l = user;
	udg_address a;
	int r = udg_socket_add_membership(s, l->group, l->iface);

	if (r != 0) {
		fprintf(stderr, "multicast-listener: addMembership %s: %s (%s)\n", l->group,
			udg_err_name(r), udg_strerror(r));
		udg_socket_close(s, NULL, NULL);
		return;
	}
	if (udg_socket_address(s, &a) == 0)
		printf("multicast-listener: joined %s, listening on port %d\n", l->group, a.port);
}

/* Lent data: print it now, keep nothing. */
static void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
		       void *user)
{
	struct listener *l = user;
	const unsigned char *p = data;
	char from[UDG_ADDRSTRLEN];

	(void)s;
	if (udg_format_address(rinfo->addr, rinfo->addrlen, from, sizeof(from)) < 0)
		strcpy(from, "?");
	l->count++;
	printf("%s port %d, %zu bytes%s: ", from, rinfo->port, rinfo->size,
	       rinfo->truncated ? " (truncated)" : "");
	for (size_t i = 0; i < len && i < SHOW_MAX; i++)
		putchar(isprint(p[i]) ? p[i] : '.');
	printf("%s\n", len > SHOW_MAX ? "..." : "");
	fflush(stdout);
}

static void on_error(udg_socket *s, const udg_error_info *err, void *user)
{
	(void)user;
	fprintf(stderr, "multicast-listener: %s %s\n", err->syscall ? err->syscall : "error",
		udg_err_name(err->code));
	if (err->syscall && strcmp(err->syscall, "bind") == 0)
		udg_socket_close(s, NULL, NULL);
}

/* Once the socket is gone the watcher has nothing to do; free it so the loop can end. */
static void on_close(udg_socket *s, void *user)
{
	struct listener *l = user;

	(void)s;
	udg_timer_free(l->watch);
	l->watch = NULL;
}

static void watch_signal(udg_timer *t, void *user)
{
	struct listener *l = user;

	(void)t;
	if (!interrupted)
		return;
	udg_socket_stats st = { 0 };
	udg_socket_stats_get(l->sock, &st);
	printf("\nmulticast-listener: %llu datagrams, %llu dropped by the kernel "
	       "(receive queue full)\n",
	       l->count, (unsigned long long)st.kernel_drops);
	/* Leaving the group is what close does anyway; shown here for completeness. */
	udg_socket_drop_membership(l->sock, l->group, l->iface);
	udg_socket_close(l->sock, NULL, NULL);
}

int main(int argc, char **argv)
{
	struct listener l = { 0 };
	udg_socket_options opts;
	udg_loop *loop;
	int port = 41234, r;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s <group> [port] [interface]\n", argv[0]);
		return 2;
	}
	l.group = argv[1];
	if (argc > 2)
		port = atoi(argv[2]);
	if (argc > 3)
		l.iface = argv[3];

	r = udg_loop_new(NULL, &loop);
	if (r != 0) {
		fprintf(stderr, "multicast-listener: udg_loop_new: %s\n", udg_strerror(r));
		return 1;
	}
	udg_socket_options_init(&opts, strchr(l.group, ':') ? UDG_UDP6 : UDG_UDP4);
	opts.reuse_addr = true; /* several listeners may share the group's port */
	opts.on_listening = on_listening;
	opts.on_message = on_message;
	opts.on_error = on_error;
	opts.on_close = on_close;
	opts.user = &l;
	r = udg_socket_new(loop, &opts, &l.sock);
	if (r == 0)
		r = udg_socket_bind(l.sock, port, NULL, NULL, NULL);
	if (r == 0)
		r = udg_timer_new(loop, &l.watch);
	if (r == 0)
		r = udg_timer_start(l.watch, SIGNAL_POLL_NS, SIGNAL_POLL_NS, watch_signal, &l);
	if (r != 0) {
		fprintf(stderr, "multicast-listener: %s (%s)\n", udg_err_name(r), udg_strerror(r));
		return 1;
	}
	udg_timer_unref(l.watch);
	setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, also into a pipe */
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);

	r = udg_loop_run(loop, UDG_RUN_DEFAULT);
	if (r < 0)
		fprintf(stderr, "multicast-listener: udg_loop_run: %s\n", udg_strerror(r));
	if (l.watch)
		udg_timer_free(l.watch);
	udg_loop_close(loop);
	return r < 0 ? 1 : 0;
}
