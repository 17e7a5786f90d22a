/* tests/test_dgram_errors.c — the error table of Node's dgram, row by row, as udg delivers it:
 * what Node throws is a return code here (and changes nothing); what Node emits arrives as
 * 'error' with its syscall, address and port; what Node passes to a callback arrives there.
 * Rows with no C counterpart (block lists, non-integer sizes) are absent on purpose.
 * Real sockets on 127.0.0.1/::1, ephemeral ports only. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "udg.h"
#include "support.h"

/* Fails every lookup of "nowhere.test" with ENOTFOUND; answers literals with themselves. */
static void lookup_fn(udg_lookup_req *req, const char *host, int family, void *user)
{
	if (strcmp(host, "nowhere.test") == 0 || (user && strcmp(host, "0.0.0.0") == 0))
		udg_lookup_done(req, UDG_ERR_ENOTFOUND, NULL);
	else
		udg_lookup_done(req, 0, host);
}

/* ---- Thrown in Node: returned here ---------------------------------------------------------- */

Test(dgram_errors, bad_type_from_create)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket *s = NULL;
	udg_socket_options_init(&o, (udg_socket_type)46);
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_SOCKET_BAD_TYPE);
	cr_assert_str_eq(udg_err_name(UDG_ERR_SOCKET_BAD_TYPE), "ERR_SOCKET_BAD_TYPE");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(dgram_errors, invalid_arg_type_for_missing_values)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	udg_buf bad[2] = { { "ok", 2 }, { NULL, 3 } };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);

	cr_assert_eq(udg_socket_new(NULL, &o, &s), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_new(loop, &o, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_send(s, NULL, 1, 9, NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE,
		     "Node's \"buffer\"");
	cr_assert_eq(udg_socket_sendv(s, bad, 2, 9, NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE,
		     "Node's \"buffer list arguments\"");
	cr_assert_eq(udg_socket_sendv(s, NULL, 1, 9, NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_bind_ex(s, NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_set_multicast_interface(s, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_add_source_specific_membership(s, NULL, "232.1.1.1", NULL),
		     UDG_ERR_INVALID_ARG_TYPE, "Node's \"sourceAddress\"");
	cr_assert_eq(udg_socket_add_source_specific_membership(s, "127.0.0.1", NULL, NULL),
		     UDG_ERR_INVALID_ARG_TYPE, "Node's \"groupAddress\"");
	cr_assert_eq(udg_socket_address(s, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_send(NULL, "x", 1, 9, NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE);
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "nothing was bound by a refused call");
	close_all(loop, &s, 1);
}

Test(dgram_errors, out_of_range_for_buffer_size_options_and_too_many_pieces)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket *s = NULL;
	udg_socket_options_init(&o, UDG_UDP6);
	o.recv_buffer_size = 0x80000000u; /* Node accepts up to 2^32-1 here and fails at bind */
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_OUT_OF_RANGE);
	udg_socket_options_init(&o, UDG_UDP6);
	s = new_socket_opts(loop, &o, &e);
	udg_buf many[UDG_SENDV_MAX + 1];
	for (size_t i = 0; i < UDG_SENDV_MAX + 1; i++)
		many[i] = (udg_buf){ "x", 1 };
	cr_assert_eq(udg_socket_sendv(s, many, UDG_SENDV_MAX + 1, 9, NULL, NULL, NULL),
		     UDG_ERR_OUT_OF_RANGE);
	close_all(loop, &s, 1);
}

Test(dgram_errors, bad_port_for_send_connect_and_bind)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_send(s, "x", 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_send(s, "x", 1, 65536, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_connect(s, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_connect(s, 65536, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_bind(s, -1, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_bind(s, 65536, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_str_eq(udg_err_name(UDG_ERR_SOCKET_BAD_PORT), "ERR_SOCKET_BAD_PORT");
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.listening + e.error, 0, "nothing happened");
	cr_assert_eq(udg_socket_bind(s, 65535, "256.0.0.1", NULL, NULL), 0,
		     "65535 is a valid port; the address is for the resolver");
	RUN_UNTIL(loop, e.error == 1);
	cr_assert(LOOKUP_FAILED(e.err.code), "%s", udg_err_name(e.err.code));
	cr_assert_eq(e.listening, 0);
	close_all(loop, &s, 1);
}

Test(dgram_errors, bad_port_for_a_portless_send_while_connecting_and_after_disconnect)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 }, ep = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &e), new_socket(loop, UDG_UDP4, &ep) };
	int port = bind_port(s[1], "127.0.0.1");

	cr_assert_eq(udg_socket_connect(s[0], port, "localhost", status_cb, &e), 0);
	cr_assert_eq(udg_socket_send(s[0], "x", 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	RUN_UNTIL(loop, e.cb == 1);
	cr_assert_eq(e.cb_status, 0);
	cr_assert_eq(udg_socket_send(s[0], "x", 1, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(udg_socket_disconnect(s[0]), 0);
	cr_assert_eq(udg_socket_send(s[0], "x", 1, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_BAD_PORT);
	close_all(loop, s, 2);
}

Test(dgram_errors, buffer_out_of_bounds_for_offset_and_length)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 }, er = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &e), new_socket(loop, UDG_UDP4, &er) };
	int port = bind_port(s[1], "127.0.0.1");
	const char buf[4] = "abcd";

	cr_assert_eq(udg_socket_send_range(s[0], buf, 4, 5, 0, port, NULL, NULL, NULL),
		     UDG_ERR_BUFFER_OUT_OF_BOUNDS, "offset past the end");
	cr_assert_eq(udg_socket_send_range(s[0], buf, 4, 2, 3, port, NULL, NULL, NULL),
		     UDG_ERR_BUFFER_OUT_OF_BOUNDS, "length past the end");
	cr_assert_eq(udg_socket_send_range(s[0], buf, 4, 1, SIZE_MAX, port, NULL, NULL, NULL),
		     UDG_ERR_BUFFER_OUT_OF_BOUNDS, "no wrap-around");
	cr_assert_eq(udg_socket_send_range(s[0], buf, 4, 4, 0, port, NULL, sent_cb, &e), 0,
		     "offset == length with 0 bytes is an empty datagram");
	RUN_UNTIL(loop, e.sent == 1 && er.message == 1);
	cr_assert_eq(e.sent_status, 0);
	close_all(loop, s, 2);
}

Test(dgram_errors, already_bound_while_binding_or_bound)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "localhost", NULL, NULL), 0,
		     "a hostname: BINDING until resolved");
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), UDG_ERR_SOCKET_ALREADY_BOUND);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.error + e.listening, 0, "closed while resolving: nothing reported");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(dgram_errors, is_connected_and_not_connected)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 }, ep = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &e), new_socket(loop, UDG_UDP4, &ep) };
	int port = bind_port(s[1], "127.0.0.1");
	udg_address a;

	cr_assert_eq(udg_socket_disconnect(s[0]), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_remote_address(s[0], &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_connect(s[0], port, "::1", status_cb, &e), 0);
	cr_assert_eq(udg_socket_connect(s[0], port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED, "while CONNECTING");
	RUN_UNTIL(loop, e.cb == 1);
	cr_assert_eq(e.cb_status, -EINVAL);
	cr_assert_eq(udg_socket_remote_address(s[0], &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED,
		     "after a failed connect");
	cr_assert_eq(udg_socket_connect(s[0], port, NULL, status_cb, &e), 0);
	RUN_UNTIL(loop, e.cb == 2);
	cr_assert_eq(udg_socket_connect(s[0], port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_send(s[0], "x", 1, port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_send(s[0], "x", 1, 0, "127.0.0.1", NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	close_all(loop, s, 2);
}

Test(dgram_errors, not_running_after_close)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	udg_address a;

	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_socket_bind(s, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_address(s, &a), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_remote_address(s, &a), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING,
		     "NOT_RUNNING is checked before NOT_CONNECTED");
	cr_assert_eq(udg_socket_connect(s, 9, NULL, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_add_membership(s, "239.1.1.1", NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_str_eq(udg_err_name(UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
			 "ERR_SOCKET_DGRAM_NOT_RUNNING");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(dgram_errors, missing_args_for_a_membership_without_group)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_add_membership(s, NULL, NULL), UDG_ERR_MISSING_ARGS);
	cr_assert_eq(udg_socket_add_membership(s, "", NULL), UDG_ERR_MISSING_ARGS);
	cr_assert_eq(udg_socket_drop_membership(s, NULL, NULL), UDG_ERR_MISSING_ARGS);
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "a refused membership binds nothing");
	close_all(loop, &s, 1);
}

Test(dgram_errors, socket_buffer_size_when_unbound_or_too_large)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	uint32_t v = 0;

	cr_assert_eq(udg_socket_get_recv_buffer_size(s, &v), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_assert_eq(udg_socket_set_send_buffer_size(s, 65536), UDG_ERR_SOCKET_BUFFER_SIZE);
	bind_port(s, "127.0.0.1");
	cr_assert_eq(udg_socket_set_recv_buffer_size(s, 0x80000000u), UDG_ERR_SOCKET_BUFFER_SIZE,
		     "2^31..2^32-1: Node's native layer refuses them with EINVAL");
	cr_assert_eq(udg_socket_get_recv_buffer_size(s, &v), 0);
	cr_assert_gt(v, 0);
	close_all(loop, &s, 1);
}

Test(dgram_errors, invalid_fd_type_for_a_tcp_fd)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(tcp, 0);
	udg_bind_options bo;
	udg_bind_options_init(&bo);
	bo.fd = tcp;

	cr_assert_eq(udg_socket_bind_ex(s, &bo, NULL, NULL), UDG_ERR_INVALID_FD_TYPE);
	cr_assert_str_eq(udg_err_name(UDG_ERR_INVALID_FD_TYPE), "ERR_INVALID_FD_TYPE");
	close(tcp);
	close_all(loop, &s, 1);
}

/* Node hands every string that is not a strict IP literal to dns.lookup, so "256.1.1.1",
 * "1.2.3.999" and "-" fail with ENOTFOUND (syscall getaddrinfo, the host named) through the
 * callback or 'error', never synchronously. Each call form on its own socket: send and connect
 * also bind implicitly first. */
Test(dgram_errors, malformed_literals_fail_through_the_resolver_for_send_connect_bind)
{
	udg_loop *loop = new_loop();
	struct ev es = { 0 }, esn = { 0 }, ec = { 0 }, ecn = { 0 }, eb = { 0 };
	udg_socket *s[5] = { new_socket(loop, UDG_UDP4, &es), new_socket(loop, UDG_UDP6, &esn),
			     new_socket(loop, UDG_UDP4, &ec), new_socket(loop, UDG_UDP4, &ecn),
			     new_socket(loop, UDG_UDP4, &eb) };

	cr_assert_eq(udg_socket_send(s[0], "x", 1, 9, "256.1.1.1", sent_cb, &es), 0);
	cr_assert_eq(udg_socket_send(s[1], "x", 1, 9, "::1::2", NULL, NULL), 0);
	cr_assert_eq(udg_socket_connect(s[2], 9, "1.2.3.999", status_cb, &ec), 0);
	cr_assert_eq(udg_socket_connect(s[3], 9, "-", NULL, NULL), 0);
	cr_assert_eq(udg_socket_bind(s[4], 0, "-", status_cb, &eb), 0);
	cr_assert_eq(es.sent + ec.cb + eb.cb + esn.error + ecn.error + eb.error, 0,
		     "nothing is reported inside the calls");
	RUN_UNTIL(loop,
		  es.sent == 1 && esn.error == 1 && ec.cb == 1 && ecn.error == 1 && eb.error == 1);

	cr_assert(LOOKUP_FAILED(es.sent_status), "send cb: %s", udg_err_name(es.sent_status));
	cr_assert_eq(es.error, 0, "a send with a callback reports there only");
	cr_assert_eq(es.listening, 1, "the implicit bind itself succeeded");
	cr_assert(LOOKUP_FAILED(esn.err.code), "send 'error': %s", udg_err_name(esn.err.code));
	cr_assert_str_eq(esn.err_syscall, "getaddrinfo");
	cr_assert_str_eq(esn.err_address, "::1::2", "the 'error' names the host");
	cr_assert(LOOKUP_FAILED(ec.cb_status), "connect cb: %s", udg_err_name(ec.cb_status));
	cr_assert_eq(ec.error + ec.connect, 0);
	cr_assert(LOOKUP_FAILED(ecn.err.code), "connect 'error': %s", udg_err_name(ecn.err.code));
	cr_assert_str_eq(ecn.err_syscall, "getaddrinfo");
	cr_assert_str_eq(ecn.err_address, "-");
	cr_assert(LOOKUP_FAILED(eb.err.code), "bind 'error': %s", udg_err_name(eb.err.code));
	cr_assert_str_eq(eb.err_syscall, "getaddrinfo");
	cr_assert_str_eq(eb.err_address, "-");
	cr_assert_eq(eb.cb + eb.listening, 0, "a failed bind calls no bind callback");

	udg_address a;
	cr_assert_eq(udg_socket_remote_address(s[2], &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_address(s[4], &a), -EBADF, "the failed bind left it unbound");
	close_all(loop, s, 5);
}

Test(dgram_errors, a_name_longer_than_255_characters_fails_einval_from_getaddrinfo)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	char name[300];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, name, NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, -EINVAL, "libuv's limit, so Node's: %s", udg_err_name(e.err.code));
	cr_assert_str_eq(e.err_syscall, "getaddrinfo");
	cr_assert(e.err_has_address && strncmp(e.err_address, "aaaa", 4) == 0);
	close_all(loop, &s, 1);
}

Test(dgram_errors, a_failed_send_lookup_names_the_host_with_a_custom_resolver_too)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.lookup = lookup_fn;
	udg_socket *s = new_socket_opts(loop, &o, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	char host[] = "nowhere.test";
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, host, NULL, NULL), 0);
	memset(host, 'X', sizeof(host) - 1); /* the caller's text is only lent for the call */
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, UDG_ERR_ENOTFOUND);
	cr_assert_str_eq(e.err_syscall, "getaddrinfo");
	cr_assert(e.err_has_address, "the 'error' of a failed lookup names its host");
	cr_assert_str_eq(e.err_address, "nowhere.test");
	close_all(loop, &s, 1);
}

Test(dgram_errors, a_failed_implicit_bind_reports_the_wildcard_it_tried)
{
	udg_loop *loop = new_loop();
	struct ev e4 = { 0 }, e6 = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.ipv6_only = true; /* refused on udp4 at bind time: Node's "bind EINVAL 0.0.0.0" */
	udg_socket *s[2] = { new_socket_opts(loop, &o, &e4), NULL };
	udg_socket_options_init(&o, UDG_UDP6);
	o.lookup = lookup_fn;
	udg_socket *t = new_socket_opts(loop, &o, &e6);
	s[1] = t;

	cr_assert_eq(udg_socket_send(s[0], "x", 1, 9, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s[1], "x", 1, 9, "nowhere.test", NULL, NULL), 0);
	RUN_UNTIL(loop, e4.error == 1 && e6.error == 1);
	cr_assert_eq(e4.err.code, -EINVAL);
	cr_assert_str_eq(e4.err_syscall, "bind");
	cr_assert_str_eq(e4.err_address, "0.0.0.0", "the address the implicit bind tried");
	cr_assert_eq(e4.err.port, 0, "no port: an ephemeral one was asked for");
	/* udp6 implicit bind succeeds (its wildcard "::" resolves); the send's lookup fails and
	 * names its host, not the wildcard. */
	cr_assert_eq(e6.err.code, UDG_ERR_ENOTFOUND);
	cr_assert_str_eq(e6.err_address, "nowhere.test");
	close_all(loop, s, 2);
}

Test(dgram_errors, errno_errors_without_an_address_from_option_calls)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	udg_address a;

	cr_assert_eq(udg_socket_set_broadcast(s, true), -EBADF, "setBroadcast EBADF");
	cr_assert_eq(udg_socket_set_ttl(s, 64), -EBADF);
	cr_assert_eq(udg_socket_set_multicast_ttl(s, 1), -EBADF);
	cr_assert_eq(udg_socket_set_multicast_loopback(s, true), -EBADF);
	cr_assert_eq(udg_socket_set_multicast_interface(s, "0.0.0.0"), -EBADF);
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "getsockname EBADF");
	bind_port(s, "127.0.0.1");
	cr_assert_eq(udg_socket_set_ttl(s, 0), -EINVAL, "setTTL EINVAL");
	cr_assert_eq(udg_socket_set_ttl(s, 256), -EINVAL);
	cr_assert_eq(udg_socket_set_multicast_ttl(s, 256), -EINVAL);
	cr_assert_eq(udg_socket_add_membership(s, "127.0.0.1", NULL), -EINVAL,
		     "addMembership EINVAL: not a group");
	cr_assert_eq(udg_socket_add_source_specific_membership(s, "127.0.0.1", "10.0.0.1", NULL),
		     -EINVAL);
	cr_assert_str_eq(udg_err_name(-EINVAL), "EINVAL");
	close_all(loop, &s, 1);
}

/* ---- Emitted in Node: 'error' here ------------------------------------------------------ */

Test(dgram_errors, a_failed_os_bind_is_an_error_event_with_address_and_port)
{
	udg_loop *loop = new_loop();
	struct ev ea = { 0 }, eb = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP6, &ea), new_socket(loop, UDG_UDP6, &eb) };
	int port = bind_port(s[0], "::1");

	cr_assert_eq(udg_socket_bind(s[1], port, "::1", status_cb, &eb), 0);
	cr_assert_eq(eb.error, 0, "never inside bind()");
	RUN_UNTIL(loop, eb.error == 1);
	cr_assert_eq(eb.err.code, -EADDRINUSE);
	cr_assert_str_eq(udg_err_name(eb.err.code), "EADDRINUSE");
	cr_assert_str_eq(eb.err_syscall, "bind");
	cr_assert_str_eq(eb.err_address, "::1");
	cr_assert_eq(eb.err.port, port);
	cr_assert_eq(eb.cb, 0);
	close_all(loop, s, 2);
}

Test(dgram_errors, a_bind_with_port_zero_reports_port_zero)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	/* an address this host does not have: EADDRNOTAVAIL, and no port in Node's message */
	cr_assert_eq(udg_socket_bind(s, 0, "192.0.2.1", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, -EADDRNOTAVAIL, "%s", udg_err_name(e.err.code));
	cr_assert_str_eq(e.err_syscall, "bind");
	cr_assert_str_eq(e.err_address, "192.0.2.1");
	cr_assert_eq(e.err.port, 0);
	close_all(loop, &s, 1);
}

Test(dgram_errors, a_receive_error_is_an_error_event_without_address)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 }, ep = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &e), new_socket(loop, UDG_UDP4, &ep) };
	int port = bind_port(s[1], "127.0.0.1");
	cr_assert_eq(udg_socket_connect(s[0], port, NULL, status_cb, &e), 0);
	cr_assert_eq(udg_socket_close(s[1], NULL, NULL), 0);
	RUN_UNTIL(loop, e.cb == 1 && ep.close == 1);

	cr_assert_eq(udg_socket_send(s[0], "x", 1, 0, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, -ECONNREFUSED);
	cr_assert_str_eq(e.err_syscall, "recvmsg");
	cr_assert_not(e.err_has_address);
	cr_assert_eq(e.err.port, 0);
	close_all(loop, s, 1);
}

Test(dgram_errors, a_failed_connect_without_callback_is_an_error_event)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	bind_port(s, "127.0.0.1");

	cr_assert_eq(udg_socket_connect(s, 7777, "::1", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, -EINVAL);
	cr_assert_str_eq(e.err_syscall, "connect");
	cr_assert_str_eq(e.err_address, "::1");
	cr_assert_eq(e.err.port, 7777);
	close_all(loop, &s, 1);
}

Test(dgram_errors, resolver_errors_reach_error_for_bind_and_callbacks_for_send_and_connect)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.lookup = lookup_fn;
	udg_socket *s = new_socket_opts(loop, &o, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "nowhere.test", status_cb, &e), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, UDG_ERR_ENOTFOUND, "E for a bind lookup");
	cr_assert_str_eq(udg_err_name(e.err.code), "ENOTFOUND");
	cr_assert_eq(e.cb, 0);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "nowhere.test", sent_cb, &e), 0);
	RUN_UNTIL(loop, e.sent == 1);
	cr_assert_eq(e.sent_status, UDG_ERR_ENOTFOUND, "CB for a send lookup");
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "nowhere.test", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 2);
	cr_assert_eq(e.err.code, UDG_ERR_ENOTFOUND, "E for a send lookup without callback");
	cr_assert_eq(udg_socket_connect(s, 9, "nowhere.test", status_cb, &e), 0);
	RUN_UNTIL(loop, e.cb == 1);
	cr_assert_eq(e.cb_status, UDG_ERR_ENOTFOUND, "CB for a connect lookup");
	cr_assert_eq(e.error, 2);
	close_all(loop, &s, 1);
}

Test(dgram_errors, an_implicit_bind_lookup_error_is_always_an_error_event)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.lookup = lookup_fn;
	o.lookup_user = &e; /* also fail the wildcard */
	udg_socket *s = new_socket_opts(loop, &o, &e);

	cr_assert_eq(udg_socket_connect(s, 9, "127.0.0.1", status_cb, &e), 0);
	RUN_UNTIL(loop, e.error == 1 && e.cb == 1);
	cr_assert_eq(e.err.code, UDG_ERR_ENOTFOUND);
	cr_assert_str_eq(e.err_syscall, "getaddrinfo", "the resolver failed, not bind(2)");
	cr_assert_eq(e.cb_status, UDG_ERR_ENOTFOUND, "udg also fails the waiting connect");
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, sent_cb, &e), 0,
		     "the next send starts a new implicit bind");
	RUN_UNTIL(loop, e.error == 2 && e.sent == 1);
	cr_assert_eq(e.sent_status, UDG_ERR_ENOTFOUND);
	cr_assert_eq(e.listening, 0);
	close_all(loop, &s, 1);
}

/* ---- Passed to the send callback in Node ------------------------------------------------ */

Test(dgram_errors, a_kernel_send_error_reaches_the_callback_and_is_dropped_without_one)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	bind_port(s, "127.0.0.1");
	static unsigned char big[65508]; /* one byte over the IPv4 UDP payload limit */
	udg_loop_stats before, after;

	RUN_UNTIL(loop, e.listening == 1);
	cr_assert_eq(udg_socket_send(s, big, sizeof(big), 9, NULL, sent_cb, &e), 0);
	RUN_UNTIL(loop, e.sent == 1);
	cr_assert_eq(e.sent_status, -EMSGSIZE);
	udg_loop_stats_get(loop, &before);
	cr_assert_eq(udg_socket_send(s, big, sizeof(big), 9, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, (udg_loop_stats_get(loop, &after), after.send_errors > before.send_errors));
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.error, 0, "Node swallows kernel send errors without a callback");
	close_all(loop, &s, 1);
}

Test(dgram_errors, a_family_mismatch_reaches_the_send_callback_as_einval)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "127.0.0.1", sent_cb, &e), 0,
		     "accepted: Node reports it asynchronously");
	cr_assert_eq(e.sent, 0);
	RUN_UNTIL(loop, e.sent == 1);
	cr_assert_eq(e.sent_status, -EINVAL);
	cr_assert_eq(e.error, 0);
	close_all(loop, &s, 1);
}

/* ---- udg's own conditions ----------------------------------------------------------------- */

Test(dgram_errors, send_queue_full_when_every_slot_is_taken)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.send_slots = 2;
	udg_loop *loop = new_loop_opts(&lo);
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_send(s, "a", 1, 9, NULL, sent_cb, &e), 0);
	cr_assert_eq(udg_socket_send(s, "b", 1, 9, NULL, sent_cb, &e), 0);
	cr_assert_eq(udg_socket_send(s, "c", 1, 9, NULL, sent_cb, &e), UDG_ERR_SEND_QUEUE_FULL);
	RUN_UNTIL(loop, e.sent == 2);
	cr_assert_eq(udg_socket_send(s, "d", 1, 9, NULL, sent_cb, &e), 0, "slots come back");
	RUN_UNTIL(loop, e.sent == 3);
	cr_assert_eq(e.sent_status, 0);
	close_all(loop, &s, 1);
}
