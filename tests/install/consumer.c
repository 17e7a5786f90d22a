/* tests/install/consumer.c — a program as a user of an installed (or subproject) udg writes it:
 * one UDP socket on 127.0.0.1 sends "ping" to itself, and the run ends when it came back.
 * Built by scripts/check-install.sh against the installed headers and library (pkg-config, a
 * meson project using the installed package, and a meson project with udg as a subproject).
 * Exits 0 after the round trip, 1 on any failure, 77 where io_uring cannot run. */
#include <stdio.h>
#include <string.h>
#include <udg.h>

struct state {
	int received;
	udg_address local;
};

static void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
		       void *user)
{
	struct state *st = user;

	(void)rinfo;
	if (len == 4 && memcmp(data, "ping", 4) == 0)
		st->received = 1;
	udg_socket_close(s, NULL, NULL); /* nothing else is alive: the run ends */
}

static void on_listening(udg_socket *s, void *user)
{
	struct state *st = user;

	if (udg_socket_address(s, &st->local) != 0 ||
	    udg_socket_send(s, "ping", 4, st->local.port, st->local.address, NULL, NULL) != 0)
		udg_socket_close(s, NULL, NULL);
}

int main(void)
{
	struct state st = { 0 };
	udg_loop *loop;
	udg_socket *sock;
	udg_socket_options opts;
	int r = udg_loop_new(NULL, &loop);

	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD) {
		printf("consumer: cannot run here: %s\n", udg_strerror(r));
		return 77;
	}
	if (r != 0)
		return 1;
	udg_socket_options_init(&opts, UDG_UDP4);
	opts.on_message = on_message;
	opts.on_listening = on_listening;
	opts.user = &st;
	if (udg_socket_new(loop, &opts, &sock) != 0 ||
	    udg_socket_bind(sock, 0, "127.0.0.1", NULL, NULL) != 0)
		return 1;
	r = udg_loop_run(loop, UDG_RUN_DEFAULT);
	if (r != 0 || udg_loop_close(loop) != 0 || !st.received) {
		fprintf(stderr, "consumer: no round trip (run %d)\n", r);
		return 1;
	}
	printf("consumer: udg %s: 'ping' went round %s port %d\n", udg_version(), st.local.address,
	       st.local.port);
	return 0;
}
