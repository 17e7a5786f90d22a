/* tests/test_bind.c — bind() as Node has it: state checks (ALREADY_BOUND, also during an implicit
 * bind), port and address validation, OS bind failures as 'error' events that leave the socket
 * usable, the reuseAddr/ipv6Only flags, dual-stack udp6, and bind({fd}).
 * Real sockets on 127.0.0.1/::1, ephemeral ports only (a port is reused only while it is held). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "udg.h"
#include "support.h"

/* Node's test: after a failed bind the socket is not closed, so the 'error' handler may bind it
 * again. An after_error reaction that does so once, to port, counting its callbacks. */
struct rebind {
	int port;
	bool done;
	int bound;
};

static void rebound(udg_socket *s, int status, void *user)
{
	struct rebind *rb = user;
	cr_assert_eq(status, 0);
	rb->bound++;
}

static void rebind(udg_socket *s, struct ev *e)
{
	struct rebind *rb = e->ctx;
	if (rb->done)
		return;
	rb->done = true;
	cr_assert_eq(udg_socket_bind(s, rb->port, "127.0.0.1", rebound, rb), 0);
}

/* The port an OS-bound socket got (no 'listening' needed for a literal bind). */
static int port_of(udg_socket *s)
{
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), 0);
	return a.port;
}

Test(bind, binding_twice_is_already_bound)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", bound_cb, &e), 0);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", bound_cb, &e),
		     UDG_ERR_SOCKET_ALREADY_BOUND);
	RUN_UNTIL(loop, e.listening == 1);
	cr_assert_eq(udg_socket_bind(s, 0, NULL, bound_cb, &e), UDG_ERR_SOCKET_ALREADY_BOUND);
	udg_bind_options bo;
	udg_bind_options_init(&bo);
	cr_assert_eq(udg_socket_bind_ex(s, &bo, NULL, NULL), UDG_ERR_SOCKET_ALREADY_BOUND);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.bound, 1, "the refused binds never call back");
	cr_assert_eq(e.listening, 1);
	cr_assert_eq(e.error, 0);
	close_all(loop, &s, 1);
}

Test(bind, binding_during_an_implicit_bind_is_already_bound)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, NULL, NULL), 0);
	cr_assert_eq(udg_socket_bind(s, 0, "::1", bound_cb, &e), UDG_ERR_SOCKET_ALREADY_BOUND);
	RUN_UNTIL(loop, e.listening == 1);
	cr_assert_str_eq(e.in_listening.address, "::");
	cr_assert_eq(e.bound, 0);
	close_all(loop, &s, 1);
}

Test(bind, binding_while_a_hostname_bind_resolves_is_already_bound)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "localhost", bound_cb, &e), 0);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), UDG_ERR_SOCKET_ALREADY_BOUND);
	RUN_UNTIL(loop, e.bound == 1);
	cr_assert_eq(e.listening, 1);
	cr_assert_str_eq(e.in_listening.address, "127.0.0.1");
	close_all(loop, &s, 1);
}

Test(bind, ports_outside_0_to_65535_are_bad_port_and_change_nothing)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	/* Node truncates these silently in its async bind; udg refuses them (documented). */
	cr_assert_eq(udg_socket_bind(s, -1, NULL, bound_cb, &e), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_bind(s, 65536, NULL, bound_cb, &e), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_bind(s, INT_MIN, NULL, bound_cb, &e), UDG_ERR_SOCKET_BAD_PORT);
	udg_bind_options bo;
	udg_bind_options_init(&bo);
	bo.port = 70000;
	cr_assert_eq(udg_socket_bind_ex(s, &bo, bound_cb, &e), UDG_ERR_SOCKET_BAD_PORT);
	cr_assert_eq(udg_socket_bind_ex(s, NULL, bound_cb, &e), UDG_ERR_INVALID_ARG_TYPE);
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "still unbound");
	/* A malformed literal is a name for the resolver, as in Node: its failure is an 'error'
	 * and leaves the socket unbound and bindable. */
	cr_assert_eq(udg_socket_bind(s, 0, "256.1.1.1", bound_cb, &e), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert(LOOKUP_FAILED(e.err.code), "%s", udg_err_name(e.err.code));
	cr_assert_str_eq(e.err_syscall, "getaddrinfo");
	cr_assert_str_eq(e.err_address, "256.1.1.1");
	cr_assert_eq(udg_socket_address(s, &a), -EBADF, "still unbound");
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", bound_cb, &e), 0);
	RUN_UNTIL(loop, e.bound == 1);
	cr_assert_eq(e.listening, 1);
	cr_assert_eq(e.error, 1);
	close_all(loop, &s, 1);
}

Test(bind, the_default_address_is_the_wildcard_of_the_family)
{
	udg_loop *loop = new_loop();
	struct ev e4 = { 0 }, e6 = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &e4), new_socket(loop, UDG_UDP6, &e6) };

	cr_assert_eq(udg_socket_bind(s[0], 0, NULL, NULL, NULL), 0);
	cr_assert_eq(udg_socket_bind(s[1], 0, "", NULL, NULL), 0);
	RUN_UNTIL(loop, e4.listening == 1 && e6.listening == 1);
	cr_assert_str_eq(e4.in_listening.address, "0.0.0.0");
	cr_assert_str_eq(e6.in_listening.address, "::");
	cr_assert_gt(e4.in_listening.port, 0);
	cr_assert_gt(e6.in_listening.port, 0);
	close_all(loop, s, 2);
}

Test(bind, address_in_use_emits_error_and_the_socket_can_bind_again)
{
	udg_loop *loop = new_loop();
	struct ev ea = { 0 }, eb = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &ea), new_socket(loop, UDG_UDP4, &eb) };

	cr_assert_eq(udg_socket_bind(s[0], 0, "127.0.0.1", NULL, NULL), 0);
	int port = port_of(s[0]);
	struct rebind rb = { .port = 0 };
	eb.ctx = &rb;
	eb.after_error = rebind;
	cr_assert_eq(udg_socket_bind(s[1], port, "127.0.0.1", bound_cb, &eb), 0,
		     "an OS bind failure is an event, not a return code");
	cr_assert_eq(eb.error, 0, "'error' never fires inside bind()");
	RUN_UNTIL(loop, rb.bound == 1);
	cr_assert_eq(eb.error, 1);
	cr_assert_eq(eb.err.code, -EADDRINUSE, "%s", udg_err_name(eb.err.code));
	cr_assert_str_eq(eb.err_syscall, "bind");
	cr_assert_str_eq(eb.err_address, "127.0.0.1");
	cr_assert_eq(eb.err.port, port);
	cr_assert_eq(eb.bound, 0, "the failed bind's callback never runs, not even on a rebind");
	cr_assert_eq(eb.listening, 1, "the second bind announced itself once");
	cr_assert_neq(eb.in_listening.port, port);
	cr_assert_eq(eb.close, 0, "a failed bind does not close the socket");
	close_all(loop, s, 2);
}

Test(bind, reuse_addr_lets_two_sockets_share_a_port)
{
	udg_loop *loop = new_loop();
	struct ev ea = { 0 }, eb = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.reuse_addr = true;
	udg_socket *s[2] = { new_socket_opts(loop, &o, &ea), NULL };
	udg_socket_options_init(&o, UDG_UDP4);
	o.reuse_addr = true;
	s[1] = new_socket_opts(loop, &o, &eb);

	cr_assert_eq(udg_socket_bind(s[0], 0, "127.0.0.1", NULL, NULL), 0);
	int port = port_of(s[0]);
	cr_assert_eq(udg_socket_bind(s[1], port, "127.0.0.1", bound_cb, &eb), 0);
	RUN_UNTIL(loop, ea.listening == 1 && eb.listening == 1);
	cr_assert_eq(eb.bound, 1);
	cr_assert_eq(ea.error + eb.error, 0);
	cr_assert_eq(ea.in_listening.port, port);
	cr_assert_eq(eb.in_listening.port, port);
	close_all(loop, s, 2);
}

Test(bind, reuse_addr_on_the_second_socket_alone_is_address_in_use)
{
	udg_loop *loop = new_loop();
	struct ev ea = { 0 }, eb = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	udg_socket *s[2] = { new_socket_opts(loop, &o, &ea), NULL };
	o.reuse_addr = true;
	s[1] = new_socket_opts(loop, &o, &eb);

	cr_assert_eq(udg_socket_bind(s[0], 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_bind(s[1], port_of(s[0]), "127.0.0.1", bound_cb, &eb), 0);
	RUN_UNTIL(loop, eb.error == 1);
	cr_assert_eq(eb.err.code, -EADDRINUSE);
	cr_assert_eq(eb.listening + eb.bound, 0);
	close_all(loop, s, 2);
}

Test(bind, ipv6_only_on_udp4_fails_the_bind_with_einval)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.ipv6_only = true;
	udg_socket *s = new_socket_opts(loop, &o, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", bound_cb, &e), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, -EINVAL, "%s", udg_err_name(e.err.code));
	cr_assert_str_eq(e.err_syscall, "bind");
	cr_assert_str_eq(e.err_address, "127.0.0.1");
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.listening + e.bound, 0);
	close_all(loop, &s, 1);
}

Test(bind, a_literal_of_the_other_family_fails_the_bind_with_einval)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "::1", bound_cb, &e), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, -EINVAL);
	cr_assert_str_eq(e.err_syscall, "bind");
	cr_assert_str_eq(e.err_address, "::1");
	cr_assert_eq(e.listening + e.bound, 0);
	/* still usable */
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", bound_cb, &e), 0);
	RUN_UNTIL(loop, e.bound == 1);
	cr_assert_eq(e.listening, 1);
	close_all(loop, &s, 1);
}

Test(bind, dual_stack_udp6_receives_ipv4_senders_as_mapped_addresses)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP6, &er), new_socket(loop, UDG_UDP4, &es) };

	cr_assert_eq(udg_socket_bind(s[0], 0, "::", NULL, NULL), 0);
	cr_assert_eq(udg_socket_bind(s[1], 0, "127.0.0.1", NULL, NULL), 0);
	int sender_port = port_of(s[1]);
	cr_assert_eq(udg_socket_send(s[1], "v4", 2, port_of(s[0]), "127.0.0.1", NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(er.len, 2);
	cr_assert_eq(memcmp(er.payload, "v4", 2), 0);
	cr_assert_str_eq(er.from, "::ffff:127.0.0.1");
	cr_assert_str_eq(er.from_family, "IPv6");
	cr_assert_eq(er.from_port, sender_port);
	close_all(loop, s, 2);
}

Test(bind, ipv6_only_udp6_does_not_receive_ipv4)
{
	udg_loop *loop = new_loop();
	struct ev e6 = { 0 }, e4 = { 0 }, es4 = { 0 }, es6 = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP6);
	o.ipv6_only = true;
	udg_socket *s[4] = { new_socket_opts(loop, &o, &e6), new_socket(loop, UDG_UDP4, &e4),
			     new_socket(loop, UDG_UDP4, &es4), new_socket(loop, UDG_UDP6, &es6) };

	cr_assert_eq(udg_socket_bind(s[0], 0, "::", NULL, NULL), 0);
	int port = port_of(s[0]);
	/* The IPv4 side of the port stays free: a udp4 socket can take it without reuse. */
	cr_assert_eq(udg_socket_bind(s[1], port, "127.0.0.1", bound_cb, &e4), 0);
	cr_assert_eq(udg_socket_send(s[2], "four", 4, port, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s[3], "six", 3, port, "::1", NULL, NULL), 0);
	RUN_UNTIL(loop, e6.message == 1 && e4.message == 1);
	/* one more round trip through the loop: nothing else arrives */
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e4.bound, 1);
	cr_assert_eq(e4.error + e6.error, 0);
	cr_assert_eq(e6.message, 1);
	cr_assert_eq(e6.len, 3);
	cr_assert_str_eq(e6.from, "::1");
	cr_assert_eq(e4.message, 1);
	cr_assert_eq(e4.len, 4);
	cr_assert_str_eq(e4.from, "127.0.0.1");
	close_all(loop, s, 4);
}

Test(bind, fd_adopts_an_existing_udp_socket)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	int port = ntohs(sin.sin_port);
	udg_socket *s[2] = { new_socket(loop, UDG_UDP4, &er), new_socket(loop, UDG_UDP4, &es) };

	udg_bind_options bo;
	udg_bind_options_init(&bo);
	cr_assert_eq(bo.fd, -1, "the default is no fd");
	bo.fd = fd;
	cr_assert_eq(udg_socket_bind_ex(s[0], &bo, bound_cb, &er), 0);
	cr_assert_eq(er.listening, 0);
	cr_assert_eq(udg_socket_bind_ex(s[0], &bo, NULL, NULL), UDG_ERR_SOCKET_ALREADY_BOUND);
	cr_assert_eq(udg_socket_send(s[1], "fd", 2, port, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, er.message == 1);
	cr_assert_eq(er.listening, 1);
	cr_assert_eq(er.bound, 1);
	cr_assert_eq(er.in_listening.port, port, "the adopted socket keeps its address");
	cr_assert_eq(memcmp(er.payload, "fd", 2), 0);
	close_all(loop, s, 2);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "the socket owned the fd and closed it");
}

Test(bind, fd_of_a_tcp_socket_or_a_pipe_is_invalid_fd_type)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	int p[2];
	cr_assert_geq(tcp, 0);
	cr_assert_eq(pipe(p), 0);

	udg_bind_options bo;
	udg_bind_options_init(&bo);
	bo.fd = tcp;
	cr_assert_eq(udg_socket_bind_ex(s, &bo, bound_cb, &e), UDG_ERR_INVALID_FD_TYPE);
	bo.fd = p[0];
	cr_assert_eq(udg_socket_bind_ex(s, &bo, bound_cb, &e), UDG_ERR_INVALID_FD_TYPE);
	cr_assert_neq(fcntl(tcp, F_GETFD), -1, "a refused fd is left alone");
	close(tcp);
	close(p[0]);
	close(p[1]);
	/* the socket is still unbound and usable */
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", bound_cb, &e), 0);
	RUN_UNTIL(loop, e.bound == 1);
	cr_assert_eq(e.listening, 1);
	close_all(loop, &s, 1);
}

Test(bind, fd_that_is_closed_is_ebadf)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	close(fd);

	udg_bind_options bo;
	udg_bind_options_init(&bo);
	bo.fd = fd;
	cr_assert_eq(udg_socket_bind_ex(s, &bo, bound_cb, &e), -EBADF);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.listening + e.bound + e.error, 0);
	close_all(loop, &s, 1);
}

Test(bind, the_callback_runs_after_listening_once_and_only_on_success)
{
	udg_loop *loop = new_loop();
	struct ev ea = { 0 }, eb = { 0 };
	udg_socket *s[2] = { new_socket(loop, UDG_UDP6, &ea), new_socket(loop, UDG_UDP6, &eb) };

	cr_assert_eq(udg_socket_bind(s[0], 0, "::1", bound_cb, &ea), 0);
	cr_assert_eq(udg_socket_bind(s[1], port_of(s[0]), "::1", bound_cb, &eb), 0);
	RUN_UNTIL(loop, ea.bound == 1 && eb.error == 1);
	for (int i = 0; i < 3; i++)
		udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(ea.bound, 1);
	cr_assert_eq(ea.listening, 1);
	cr_assert_eq(eb.bound, 0);
	cr_assert_eq(eb.listening, 0);
	cr_assert_eq(eb.error, 1);
	cr_assert_str_eq(eb.err_address, "::1");
	close_all(loop, s, 2);
}

Test(bind, fd_of_the_other_family_is_refused)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	int fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
	cr_assert_geq(fd6, 0);

	udg_bind_options bo;
	udg_bind_options_init(&bo);
	bo.fd = fd6;
	cr_assert_eq(udg_socket_bind_ex(s, &bo, bound_cb, &e), -EAFNOSUPPORT);
	cr_assert_neq(fcntl(fd6, F_GETFD), -1, "a refused fd is left alone");
	close(fd6);
	close_all(loop, &s, 1);
}

Test(bind, fd_after_a_membership_created_the_socket_is_ebusy)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	udg_address a;

	/* libuv binds the OS socket for a membership on an unbound socket (rule 63), whatever
	 * the kernel then says about the group */
	udg_socket_add_membership(s, "239.1.2.3", NULL);
	cr_assert_eq(udg_socket_address(s, &a), 0);
	cr_assert_str_eq(a.address, "0.0.0.0");
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	udg_bind_options bo;
	udg_bind_options_init(&bo);
	bo.fd = fd;
	cr_assert_eq(udg_socket_bind_ex(s, &bo, bound_cb, &e), -EBUSY,
		     "Node's \"open EBUSY\": the handle already has a socket");
	cr_assert_neq(fcntl(fd, F_GETFD), -1);
	close(fd);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.bound + e.listening, 0);
	close_all(loop, &s, 1);
}
