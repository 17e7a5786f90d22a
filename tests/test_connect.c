/* tests/test_connect.c — connect(), disconnect() and remoteAddress() as Node has them: 'connect'
 * from the loop, the callback's status, IS_CONNECTED / NOT_CONNECTED, failed connects that leave
 * the socket usable, implicit bind, hostnames, and connected sends.
 * Real sockets on 127.0.0.1/::1, ephemeral ports only. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "udg.h"
#include "support.h"

Test(connect, connect_fires_from_the_loop_and_the_callback_gets_zero)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "127.0.0.1");

	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	cr_assert_eq(ec.connect + ec.cb, 0, "never inside connect()");
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.connect, 1);
	cr_assert_eq(ec.cb_status, 0);
	cr_assert_lt(ec.connect_at, ec.cb_at, "the callback is a 'connect' listener");
	cr_assert_eq(ec.error, 0);
	for (int i = 0; i < 3; i++)
		udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(ec.connect, 1, "once");
	cr_assert_eq(ec.cb, 1);
	close_all(loop, s, 2);
}

Test(connect, connecting_twice_is_is_connected)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP6, &ep), new_socket(loop, UDG_UDP6, &ec) };
	int port = bind_port(s[0], "::1");

	cr_assert_eq(udg_socket_connect(s[1], port, "::1", status_cb, &ec), 0);
	cr_assert_eq(udg_socket_connect(s[1], port, "::1", status_cb, &ec),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(udg_socket_connect(s[1], port, "::1", NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_connect(s[1], port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(ec.cb, 1, "the refused connects never call back");
	cr_assert_eq(ec.connect, 1);
	close_all(loop, s, 2);
}

Test(connect, the_port_is_checked_before_anything_else)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_connect(s, 0, "127.0.0.1", status_cb, &e), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_connect(s, 65536, NULL, status_cb, &e), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_connect(s, -1, NULL, status_cb, &e), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_connect(NULL, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_connect(NULL, 9, NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE);
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "a refused connect binds nothing");
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_socket_connect(s, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT,
		     "even on a closed socket");
	cr_assert_eq(udg_socket_connect(s, 9, NULL, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.cb + e.connect, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(connect, disconnect_and_remote_address_need_a_connected_socket)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	udg_address a;

	cr_assert_eq(udg_socket_disconnect(s), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_remote_address(s, &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	bind_port(s, "127.0.0.1");
	cr_assert_eq(udg_socket_disconnect(s), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_remote_address(s, &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	close_all(loop, &s, 1);
}

Test(connect, while_a_hostname_resolves_the_socket_is_not_yet_connected)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "127.0.0.1");
	udg_address a;

	cr_assert_eq(udg_socket_connect(s[1], port, "localhost", status_cb, &ec), 0);
	/* CONNECTING (rule 48): not connected for these calls, yet connected for connect() */
	cr_assert_eq(udg_socket_remote_address(s[1], &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_disconnect(s[1]), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_send(s[1], "x", 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_connect(s[1], port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.cb_status, 0, "%s", udg_err_name(ec.cb_status));
	cr_assert_eq(udg_socket_remote_address(s[1], &a), 0);
	cr_assert_str_eq(a.address, "127.0.0.1");
	cr_assert_eq(a.port, port);
	close_all(loop, s, 2);
}

Test(connect, remote_address_returns_the_peer)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP6, &ep), new_socket(loop, UDG_UDP6, &ec) };
	int port = bind_port(s[0], "::1");
	udg_address a;

	cr_assert_eq(udg_socket_connect(s[1], port, NULL, status_cb, &ec), 0,
		     "no address: the loopback of the family");
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(udg_socket_remote_address(s[1], &a), 0);
	cr_assert_str_eq(a.address, "::1");
	cr_assert_str_eq(a.family, "IPv6");
	cr_assert_eq(a.port, port);
	cr_assert_eq(udg_socket_remote_address(s[1], NULL), UDG_ERR_INVALID_ARG_TYPE);
	close_all(loop, s, 2);
}

Test(connect, a_connected_socket_sends_to_its_peer_without_an_address)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	int cport = bind_port(s[1], "127.0.0.1");

	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(udg_socket_send(s[1], "one", 3, 0, NULL, sent_ok_cb, &ec), 0);
	cr_assert_eq(udg_socket_send(s[1], "two", 3, 0, "", sent_ok_cb, &ec), 0);
	cr_assert_eq(udg_socket_send(s[1], "x", 1, port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED, "even the peer's own port");
	cr_assert_eq(udg_socket_send(s[1], "x", 1, 0, "127.0.0.1", NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	RUN_UNTIL(loop, ep.message == 2 && ec.sent == 2);
	cr_assert_eq(ep.from_port, cport);
	cr_assert_eq(memcmp(ep.payload, "two", 3), 0);
	close_all(loop, s, 2);
}

Test(connect, after_disconnect_send_needs_a_port_again_and_connect_works_again)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	udg_address a;

	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(udg_socket_disconnect(s[1]), 0);
	cr_assert_eq(udg_socket_remote_address(s[1], &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_disconnect(s[1]), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_send(s[1], "x", 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_send(s[1], "addr", 4, port, "127.0.0.1", sent_ok_cb, &ec), 0);
	RUN_UNTIL(loop, ep.message == 1 && ec.sent == 1);
	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 2);
	cr_assert_eq(ec.connect, 2, "'connect' fires again");
	cr_assert_eq(ec.cb_status, 0);
	cr_assert_eq(udg_socket_remote_address(s[1], &a), 0);
	cr_assert_eq(a.port, port);
	close_all(loop, s, 2);
}

Test(connect, a_failed_connect_calls_back_with_the_error_and_the_socket_stays_usable)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "127.0.0.1");
	udg_address a;

	/* an IPv6 literal on a udp4 socket fails asynchronously, as Node's connect EINVAL */
	cr_assert_eq(udg_socket_connect(s[1], port, "::1", status_cb, &ec), 0);
	cr_assert_eq(ec.cb, 0);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.cb_status, -EINVAL, "%s", udg_err_name(ec.cb_status));
	cr_assert_eq(ec.connect, 0, "no 'connect' on failure");
	cr_assert_eq(ec.error, 0, "with a callback there is no 'error'");
	cr_assert_eq(udg_socket_remote_address(s[1], &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 2);
	cr_assert_eq(ec.cb_status, 0);
	cr_assert_eq(ec.connect, 1);
	cr_assert_eq(udg_socket_remote_address(s[1], &a), 0);
	close_all(loop, s, 2);
}

Test(connect, a_failed_connect_without_callback_emits_error)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);
	bind_port(s, "::1");

	cr_assert_eq(udg_socket_connect(s, 4242, "127.0.0.1", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, -EINVAL);
	cr_assert_str_eq(e.err_syscall, "connect");
	cr_assert_str_eq(e.err_address, "127.0.0.1");
	cr_assert_eq(e.err.port, 4242);
	cr_assert_eq(e.connect, 0);
	close_all(loop, &s, 1);
}

Test(connect, connect_on_an_unbound_socket_binds_implicitly)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	udg_address a;

	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	cr_assert_eq(udg_socket_bind(s[1], 0, NULL, NULL, NULL), UDG_ERR_SOCKET_ALREADY_BOUND);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.listening, 1);
	cr_assert_lt(ec.listening_at, ec.connect_at, "'listening' first, then 'connect'");
	cr_assert_eq(udg_socket_address(s[1], &a), 0);
	cr_assert_gt(a.port, 0);
	cr_assert_eq(udg_socket_send(s[1], "hi", 2, 0, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, ep.message == 1);
	cr_assert_eq(ep.from_port, a.port);
	close_all(loop, s, 2);
}

Test(connect, a_hostname_connect_on_an_unbound_socket_reaches_the_peer)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	udg_address a;

	cr_assert_eq(udg_socket_connect(s[1], port, "localhost", status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.cb_status, 0, "%s", udg_err_name(ec.cb_status));
	cr_assert_eq(ec.connect, 1);
	cr_assert_eq(ec.listening, 1);
	cr_assert_eq(udg_socket_remote_address(s[1], &a), 0);
	cr_assert_str_eq(a.address, "127.0.0.1");
	cr_assert_eq(a.port, port);
	cr_assert_eq(udg_socket_send(s[1], "named", 5, 0, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, ep.message == 1);
	close_all(loop, s, 2);
}

Test(connect, connect_during_a_pending_bind_runs_after_listening)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");

	cr_assert_eq(udg_socket_bind(s[1], 0, "localhost", NULL, NULL), 0);
	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.cb_status, 0, "%s", udg_err_name(ec.cb_status));
	cr_assert_eq(ec.listening, 1);
	cr_assert_lt(ec.listening_at, ec.connect_at);
	close_all(loop, s, 2);
}

Test(connect, a_failed_implicit_bind_fails_the_waiting_connect)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.ipv6_only = true; /* makes every bind of a udp4 socket fail with EINVAL */
	o.on_error = on_error;
	o.on_connect = on_connect;
	o.user = &e;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);

	cr_assert_eq(udg_socket_connect(s, 9, "127.0.0.1", status_cb, &e), 0);
	RUN_UNTIL(loop, e.cb == 1 && e.error == 1);
	cr_assert_eq(e.err.code, -EINVAL);
	cr_assert_str_eq(e.err_syscall, "bind");
	cr_assert_eq(e.cb_status, -EINVAL, "udg also fails the waiting connect (Node drops it)");
	cr_assert_eq(e.connect, 0);
	cr_assert_eq(udg_socket_connect(s, 9, "localhost", status_cb, &e), 0,
		     "the connect state went back to DISCONNECTED");
	RUN_UNTIL(loop, e.cb == 2 && e.error == 2);
	cr_assert_eq(e.cb_status, -EINVAL);
	close_all(loop, &s, 1);
}

Test(connect, a_failed_connect_on_an_unbound_socket_reports_the_peer_address)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_connect(s, 4243, "::1", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.listening, 1, "the implicit bind itself succeeded");
	cr_assert_eq(e.err.code, -EINVAL);
	cr_assert_str_eq(e.err_syscall, "connect");
	cr_assert_str_eq(e.err_address, "::1", "the connect's address, not the bind's wildcard");
	cr_assert_eq(e.err.port, 4243);
	close_all(loop, &s, 1);
}

Test(connect, a_connect_failing_at_once_is_connecting_until_reported)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.ipv6_only = true; /* every bind of this udp4 socket fails */
	o.on_error = on_error;
	o.on_close = on_close;
	o.user = &e;
	udg_socket *s[2];
	cr_assert_eq(udg_socket_new(loop, &o, &s[0]), 0);
	s[1] = new_socket(loop, UDG_UDP4, &e);
	bind_port(s[1], "127.0.0.1");

	/* both failures are decided inside connect(); neither may start a second connect */
	cr_assert_eq(udg_socket_connect(s[0], 9, NULL, status_cb, &e), 0);
	cr_assert_eq(udg_socket_connect(s[0], 9, NULL, status_cb, &e),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_connect(s[1], 9, "::1", status_cb, &e), 0);
	cr_assert_eq(udg_socket_connect(s[1], 9, NULL, status_cb, &e),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	RUN_UNTIL(loop, e.cb == 2);
	cr_assert_eq(e.cb_status, -EINVAL);
	cr_assert_eq(e.error, 1, "the bind's");
	cr_assert_eq(udg_socket_close(s[0], NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(s[1], NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 2, "nothing left in flight");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(connect, disconnect_before_connect_was_reported_is_not_connected)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "127.0.0.1");

	/* Node is CONNECTING until 'connect': disconnect() then throws NOT_CONNECTED */
	cr_assert_eq(udg_socket_connect(s[1], port, NULL, status_cb, &ec), 0);
	cr_assert_eq(udg_socket_disconnect(s[1]), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_connect(s[1], port, NULL, status_cb, &ec),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.connect, 1);
	cr_assert_eq(udg_socket_disconnect(s[1]), 0);
	cr_assert_eq(udg_socket_connect(s[1], port, NULL, status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 2);
	cr_assert_eq(ec.connect, 2);
	close_all(loop, s, 2);
}

/* One state, every call agreeing: from connect() until 'connect' is delivered the socket is
 * CONNECTING (Node's model), even when the peer is a literal and connect(2) already ran. */
static void connecting_state_checks(udg_socket *c, struct ev *ep, int port)
{
	udg_address a;

	cr_assert_eq(udg_socket_remote_address(c, &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_disconnect(c), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_send(c, "x", 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT,
		     "a port-less send is an unconnected send with no port");
	cr_assert_eq(udg_socket_connect(c, port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	/* An explicit destination is still an ordinary unconnected send, as in Node. */
	cr_assert_eq(udg_socket_send(c, "abc", 3, port, "127.0.0.1", sent_ok_cb, ep), 0);
}

static void connected_state_checks(udg_socket *c, struct ev *ec, int port)
{
	udg_address a;

	cr_assert_eq(ec->connect, 1);
	cr_assert_eq(ec->cb_status, 0);
	cr_assert_eq(udg_socket_remote_address(c, &a), 0);
	cr_assert_str_eq(a.address, "127.0.0.1");
	cr_assert_eq(a.port, port);
	cr_assert_eq(udg_socket_send(c, "x", 1, port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_send(c, "defg", 4, 0, NULL, sent_ok_cb, ec), 0);
}

Test(connect, a_literal_connect_is_connecting_for_every_call_until_connect_is_delivered)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, ec = { 0 }, eu = { 0 };
	udg_socket *s[3] = { new_socket(loop, UDG_UDP4, &ep), new_socket(loop, UDG_UDP4, &ec),
			     new_socket(loop, UDG_UDP4, &eu) };
	int port = bind_port(s[0], "127.0.0.1");
	bind_port(s[1], "127.0.0.1");

	/* s[1] is bound (connect(2) runs inside the call); s[2] binds implicitly first. */
	cr_assert_eq(udg_socket_connect(s[1], port, "127.0.0.1", status_cb, &ec), 0);
	cr_assert_eq(udg_socket_connect(s[2], port, "127.0.0.1", status_cb, &eu), 0);
	connecting_state_checks(s[1], &ep, port);
	connecting_state_checks(s[2], &ep, port);
	RUN_UNTIL(loop, ec.cb == 1 && eu.cb == 1 && ep.message == 2);
	cr_assert_eq(ep.len, 3, "the unconnected sends made while connecting arrived");

	connected_state_checks(s[1], &ec, port);
	connected_state_checks(s[2], &eu, port);
	RUN_UNTIL(loop, ep.message == 4 && ec.sent_ok == 1 && eu.sent_ok == 1);
	cr_assert_eq(ep.len, 4);
	cr_assert_eq(udg_socket_disconnect(s[1]), 0, "connected: disconnect agrees");
	close_all(loop, s, 3);
}
