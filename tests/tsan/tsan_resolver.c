/* tests/tsan/tsan_resolver.c — the built-in resolver's worker threads under ThreadSanitizer:
 * sends, binds and connects to "localhost" by the hundred, half of them cancelled by closing
 * their socket while the lookups run. Every send callback must run exactly once. Plain program
 * (no Criterion); exit 0 = clean. */
#include <errno.h>
#include <stdio.h>

#include "udg.h"

#define SOCKETS 20
#define SENDS 50

static unsigned long callbacks, ok, cancelled, received, connects;

static void sent(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s, (void)bytes, (void)user;
	callbacks++;
	ok += status == 0;
	cancelled += status == -ECANCELED;
}

static void on_message(udg_socket *s, const void *d, size_t len, const udg_rinfo *ri, void *u)
{
	(void)s, (void)d, (void)len, (void)ri, (void)u;
	received++;
}

static void on_connect(udg_socket *s, int status, void *user)
{
	(void)s, (void)user;
	connects += status == 0;
}

int main(void)
{
	udg_loop *loop;
	if (udg_loop_new(NULL, &loop) != 0)
		return 77;
	udg_socket_options o;
	udg_socket *sink, *socks[SOCKETS];
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = on_message;
	udg_socket_new(loop, &o, &sink);
	udg_socket_bind(sink, 0, "localhost", NULL, NULL); /* resolved too */
	udg_address sa;
	for (int round = 0; round < 1000 && udg_socket_address(sink, &sa) != 0; round++)
		udg_loop_run(loop, UDG_RUN_ONCE);
	unsigned long issued = 0;
	for (int i = 0; i < SOCKETS; i++) {
		udg_socket_options_init(&o, UDG_UDP4);
		udg_socket_new(loop, &o, &socks[i]);
		if (i % 4 == 3) {
			udg_socket_connect(socks[i], sa.port, "localhost", on_connect, NULL);
			continue;
		}
		for (int k = 0; k < SENDS; k++, issued++)
			udg_socket_send(socks[i], "x", 1, sa.port, "localhost", sent, NULL);
		if (i % 2 == 1)
			udg_socket_close(socks[i], NULL, NULL); /* cancels lookups in flight */
	}
	for (int round = 0; round < 1000 && callbacks < issued; round++)
		udg_loop_run(loop, UDG_RUN_ONCE);
	for (int i = 0; i < SOCKETS; i++)
		if (i % 2 == 0 || i % 4 == 3)
			udg_socket_close(socks[i], NULL, NULL);
	udg_socket_close(sink, NULL, NULL);
	int run = udg_loop_run(loop, UDG_RUN_DEFAULT);
	int rc = udg_loop_close(loop);
	printf("tsan: resolver: sends=%lu callbacks=%lu ok=%lu cancelled=%lu received=%lu "
	       "connects=%lu run=%d close=%d\n",
	       issued, callbacks, ok, cancelled, received, connects, run, rc);
	return callbacks == issued && run == 0 && rc == 0 ? 0 : 1;
}
