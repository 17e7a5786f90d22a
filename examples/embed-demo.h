/* examples/embed-demo.h — the udg side shared by the three embedding examples (embed-epoll.c,
 * embed-libuv.c, embed-glib.c), which differ only in the host event loop that drives udg.
 * An echo server on 127.0.0.1; with --self-test also a client that sends DEMO_PINGS datagrams
 * through it, DEMO_WINDOW at a time, each echo sending the next from inside the callback, and
 * closes both sockets when every echo came back, so the udg loop ends by itself. */
#ifndef EMBED_DEMO_H
#define EMBED_DEMO_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udg.h>

#define DEMO_PINGS 2000
#define DEMO_WINDOW 8
#define DEMO_PORT 41234    /* without --self-test */
#define DEMO_DEADLINE_S 20 /* a self-test that hangs fails instead (SIGALRM) */

struct demo {
	udg_socket *server, *client;
	int server_port;
	int sent, echoed;
	bool self_test;
	unsigned long host_wakeups; /* counted by the host loop: how often it ran udg */
};

static void demo_echo(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
		      void *user)
{
	(void)user;
	udg_socket_send_to(s, data, len, rinfo->addr, rinfo->addrlen, NULL, NULL);
}

static void demo_send_next(struct demo *d)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "ping %d", d->sent);

	if (udg_socket_send(d->client, msg, (size_t)n, d->server_port, "127.0.0.1", NULL, NULL) ==
	    0)
		d->sent++;
}

/* The client got an echo: send the next ping, or close everything after the last one. */
static void demo_reply(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
		       void *user)
{
	struct demo *d = user;

	(void)s, (void)data, (void)len, (void)rinfo;
	if (++d->echoed == DEMO_PINGS) {
		udg_socket_close(d->client, NULL, NULL);
		udg_socket_close(d->server, NULL, NULL);
	} else if (d->sent < DEMO_PINGS) {
		demo_send_next(d);
	}
}

static void demo_listening(udg_socket *s, void *user)
{
	struct demo *d = user;
	udg_address a;

	if (udg_socket_address(s, &a) != 0)
		return;
	d->server_port = a.port;
	printf("echo server on %s port %d\n", a.address, a.port);
	for (int i = 0; d->self_test && i < DEMO_WINDOW; i++)
		demo_send_next(d);
}

/* Creates the server (and the client for --self-test) on loop. Returns 0 or a udg code. */
static int demo_start(struct demo *d, udg_loop *loop, int argc, char **argv)
{
	udg_socket_options o;
	int r;

	memset(d, 0, sizeof(*d));
	d->self_test = argc > 1 && strcmp(argv[1], "--self-test") == 0;
	if (d->self_test)
		alarm(DEMO_DEADLINE_S);
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = demo_echo;
	o.on_listening = demo_listening;
	o.user = d;
	if ((r = udg_socket_new(loop, &o, &d->server)) != 0 ||
	    (r = udg_socket_bind(d->server, d->self_test ? 0 : DEMO_PORT, "127.0.0.1", NULL,
				 NULL)) != 0)
		return r;
	if (!d->self_test)
		return 0;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = demo_reply;
	o.user = d;
	if ((r = udg_socket_new(loop, &o, &d->client)) != 0)
		return r;
	return udg_socket_bind(d->client, 0, "127.0.0.1", NULL, NULL);
}

/* The self-test's verdict, printed; the exit status for main. */
static int demo_finish(const struct demo *d, const char *host)
{
	bool ok = d->echoed == DEMO_PINGS;

	printf("%s: %d pings, %d echoes, %lu host wake-ups running udg: %s\n", host, d->sent,
	       d->echoed, d->host_wakeups, ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}

/* A udg timeout (ns, -1 = none) as a host loop's millisecond timeout, rounded up. */
static int demo_timeout_ms(int64_t ns)
{
	return ns < 0 ? -1 : (int)((ns + 999999) / 1000000);
}

#endif /* EMBED_DEMO_H */
