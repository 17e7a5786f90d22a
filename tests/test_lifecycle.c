/* tests/test_lifecycle.c — a socket's life from creation to 'close': option validation, the
 * 'listening' event (never synchronous, once, address() usable in it), constructor buffer sizes,
 * and Node's ref/unref liveness rules for udg_loop_run(DEFAULT).
 * Real sockets on 127.0.0.1/::1 and ephemeral ports only; no test may depend on another. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "udg.h"
#include "support.h"

/* Close, let 'close' arrive, free the loop. */
static void finish(udg_loop *loop, udg_socket *s, struct ev *e)
{
	int before = e->close;
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(e->close, before, "'close' never fires inside close()");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e->close, before + 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(lifecycle, a_bad_type_or_missing_argument_creates_nothing)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket *s = (udg_socket *)&o; /* must be overwritten with NULL */

	udg_socket_options_init(&o, (udg_socket_type)5);
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_SOCKET_BAD_TYPE);
	cr_assert_null(s);
	udg_socket_options_init(&o, (udg_socket_type)0);
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_SOCKET_BAD_TYPE);
	udg_socket_options_init(&o, UDG_UDP4);
	cr_assert_eq(udg_socket_new(NULL, &o, &s), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_new(loop, NULL, &s), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_new(loop, &o, NULL), UDG_ERR_INVALID_ARG_TYPE);
	o.recv_buffer_size = (uint32_t)INT_MAX + 1;
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_OUT_OF_RANGE);
	o.recv_buffer_size = 0;
	o.send_buffer_size = UINT32_MAX;
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_OUT_OF_RANGE);
	cr_assert_null(s);
	cr_assert_eq(udg_loop_close(loop), 0, "no socket was created");
}

Test(lifecycle, the_user_pointer_and_loop_are_kept)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);

	cr_assert_eq(udg_socket_user(s), &e);
	cr_assert_eq(udg_socket_loop(s), loop);
	cr_assert_null(udg_socket_user(NULL));
	cr_assert_null(udg_socket_loop(NULL));
	finish(loop, s, &e);
}

Test(lifecycle, a_never_bound_socket_does_not_keep_the_loop_alive)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	udg_address a;

	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0, "run returns at once");
	cr_assert_eq(e.listening + e.close + e.error, 0);
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "no OS socket yet");
	cr_assert_eq(udg_loop_close(loop), -EBUSY, "the socket still belongs to the loop");
	finish(loop, s, &e);
}

Test(lifecycle, listening_is_never_synchronous_fires_once_and_address_works_in_it)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", bound_cb, &e), 0);
	cr_assert_eq(e.listening, 0, "not inside bind(), even for a literal");
	cr_assert_eq(e.bound, 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1, "a bound socket is alive");
	cr_assert_eq(e.listening, 1);
	cr_assert_eq(e.address_rc, 0);
	cr_assert_str_eq(e.in_listening.address, "127.0.0.1");
	cr_assert_str_eq(e.in_listening.family, "IPv4");
	cr_assert_gt(e.in_listening.port, 0);
	cr_assert_eq(e.bound, 1);
	cr_assert_lt(e.listening_at, e.bound_at, "the bind callback is a 'listening' listener");
	for (int i = 0; i < 3; i++)
		udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.listening, 1, "once per bind");
	cr_assert_eq(e.bound, 1);
	finish(loop, s, &e);
}

Test(lifecycle, listening_on_udp6_reports_an_ipv6_address)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "::1", NULL, NULL), 0);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.listening, 1);
	cr_assert_str_eq(e.in_listening.address, "::1");
	cr_assert_str_eq(e.in_listening.family, "IPv6");
	cr_assert_gt(e.in_listening.port, 0);
	finish(loop, s, &e);
}

Test(lifecycle, an_implicit_bind_emits_listening_once_before_the_send_callback)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	/* To our own port would need the port first; a closed port on loopback is fine. */
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "127.0.0.1", sent_cb, &e), 0);
	cr_assert_eq(udg_socket_send(s, "y", 1, 9, "127.0.0.1", sent_cb, &e), 0);
	cr_assert_eq(e.listening + e.sent, 0);
	while (e.sent < 2)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	cr_assert_eq(e.listening, 1, "one implicit bind for both sends");
	cr_assert_lt(e.listening_at, e.sent_at);
	cr_assert_eq(e.address_rc, 0);
	cr_assert_str_eq(e.in_listening.address, "0.0.0.0", "the wildcard");
	cr_assert_gt(e.in_listening.port, 0, "an ephemeral port");
	finish(loop, s, &e);
}

Test(lifecycle, constructor_buffer_sizes_are_applied_before_listening)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_listening = on_listening;
	o.on_close = on_close;
	o.user = &e;
	o.recv_buffer_size = 32768;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.listening, 1);
	cr_assert_eq(e.rcvbuf_rc, 0);
	cr_assert_eq(e.rcvbuf, 2 * 32768, "Linux doubles what was set");
	finish(loop, s, &e);
}

Test(lifecycle, a_bound_unrefd_socket_does_not_keep_the_loop_alive)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	cr_assert_eq(e.listening, 1);
	udg_socket_unref(s);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0,
		     "returns although the socket is bound");
	udg_socket_ref(s);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1, "referenced again: alive");
	udg_socket_unref(s);
	udg_socket_unref(s);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0, "unref is idempotent");
	finish(loop, s, &e);
}

Test(lifecycle, unref_before_bind_survives_the_bind)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);

	udg_socket_unref(s);
	cr_assert_eq(udg_socket_bind(s, 0, "::1", NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.listening, 1, "'listening' is still delivered before run returns");
	finish(loop, s, &e);
}

Test(lifecycle, unref_before_an_implicit_bind_survives_it)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	udg_socket_unref(s);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, sent_cb, &e), 0);
	/* the send itself is pending work until its callback ran */
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.sent, 1);
	cr_assert_eq(e.listening, 1);
	finish(loop, s, &e);
}

Test(lifecycle, ref_and_unref_are_harmless_on_null_and_after_close)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	udg_socket_ref(NULL);
	udg_socket_unref(NULL);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	udg_socket_unref(s); /* a closing socket keeps the loop alive until 'close' */
	udg_socket_ref(s);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.listening, 0, "closed before 'listening' was delivered");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(lifecycle, the_loop_cannot_close_while_a_socket_is_open)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_loop_close(loop), -EBUSY);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_close(loop), -EBUSY, "'close' has not been delivered yet");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}
