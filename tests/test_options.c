/* tests/test_options.c — socket option setters on real sockets: the order of checks (handle,
 * arguments, OS socket), TTL ranges, loopback, broadcast and the multicast interface, each
 * confirmed with getsockopt on the bound socket. Reads s->fd through engine/internal.h. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "../engine/dgram/dgram.h"

struct fixture {
	udg_loop *loop;
	int bound;
};

static udg_loop *new_loop(void)
{
	udg_loop *loop = NULL;
	int r = udg_loop_new(NULL, &loop);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("%s", udg_strerror(r));
	cr_assert_eq(r, 0, "udg_loop_new: %s", udg_strerror(r));
	return loop;
}

static udg_socket *new_socket(udg_loop *loop, udg_socket_type type)
{
	udg_socket_options o;
	udg_socket *s = NULL;
	udg_socket_options_init(&o, type);
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	return s;
}

static void on_bound(udg_socket *s, int status, void *user)
{
	struct fixture *f = user;
	cr_assert_eq(status, 0);
	if (++f->bound == 1)
		udg_loop_stop(f->loop);
}

/* A socket bound to the loopback address of its family, 'listening' delivered. */
static udg_socket *bound_socket(udg_loop *loop, udg_socket_type type)
{
	struct fixture f = { .loop = loop };
	udg_socket *s = new_socket(loop, type);
	cr_assert_eq(udg_socket_bind(s, 0, type == UDG_UDP4 ? "127.0.0.1" : "::1", on_bound, &f),
		     0);
	udg_loop_run(loop, UDG_RUN_DEFAULT);
	cr_assert_eq(f.bound, 1);
	cr_assert_geq(s->fd, 0);
	return s;
}

static void close_and_free(udg_loop *loop, udg_socket *s)
{
	if (s)
		cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static int get_int(const udg_socket *s, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	cr_assert_eq(getsockopt(s->fd, level, name, &v, &len), 0, "getsockopt: %s",
		     strerror(errno));
	return v;
}

Test(options, setters_on_an_unbound_socket_report_ebadf)
{
	udg_loop *loop = new_loop();
	for (int fam = 0; fam < 2; fam++) {
		udg_socket *s = new_socket(loop, fam ? UDG_UDP6 : UDG_UDP4);
		cr_expect_eq(udg_socket_set_broadcast(s, true), -EBADF);
		cr_expect_eq(udg_socket_set_ttl(s, 64), -EBADF);
		cr_expect_eq(udg_socket_set_multicast_ttl(s, 1), -EBADF);
		cr_expect_eq(udg_socket_set_multicast_loopback(s, false), -EBADF);
		cr_expect_eq(udg_socket_set_multicast_interface(s, fam ? "::%lo" : "127.0.0.1"),
			     -EBADF);
		/* arguments are checked before the socket */
		cr_expect_eq(udg_socket_set_ttl(s, 0), -EINVAL);
		cr_expect_eq(udg_socket_set_multicast_ttl(s, 256), -EINVAL);
		cr_expect_eq(udg_socket_set_multicast_interface(s, "bogus"), -EINVAL);
		cr_expect_eq(s->fd, -1, "a failed setter must not create the OS socket");
		cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	}
	close_and_free(loop, NULL);
}

Test(options, setters_on_a_closed_socket_report_not_running)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP4);
	uint32_t v;

	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	/* the handle stays valid until 'close' has been delivered by the loop */
	cr_expect_eq(udg_socket_set_broadcast(s, true), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_ttl(s, 64), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_ttl(s, 0), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_multicast_ttl(s, 1), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_multicast_loopback(s, true), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "127.0.0.1"),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_multicast_interface(s, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_add_membership(s, "239.1.1.1", NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_drop_membership(s, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_add_source_specific_membership(s, "127.0.0.1", "232.1.1.1", NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_drop_source_specific_membership(s, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_get_recv_buffer_size(s, &v), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_get_send_buffer_size(s, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_recv_buffer_size(s, 4096), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_set_send_buffer_size(s, 4096), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_expect_eq(udg_socket_get_send_queue_size(s), 0);
	cr_expect_eq(udg_socket_get_send_queue_count(s), 0);
	close_and_free(loop, NULL);
}

Test(options, a_null_socket_is_invalid_arg_type)
{
	uint32_t v;
	cr_expect_eq(udg_socket_set_broadcast(NULL, true), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_set_ttl(NULL, 64), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_set_multicast_ttl(NULL, 1), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_set_multicast_loopback(NULL, true), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_set_multicast_interface(NULL, "127.0.0.1"),
		     UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_add_membership(NULL, "239.1.1.1", NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_drop_membership(NULL, "239.1.1.1", NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(
		udg_socket_add_source_specific_membership(NULL, "127.0.0.1", "232.1.1.1", NULL),
		UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(
		udg_socket_drop_source_specific_membership(NULL, "127.0.0.1", "232.1.1.1", NULL),
		UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_get_recv_buffer_size(NULL, &v), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_set_send_buffer_size(NULL, 4096), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_get_send_queue_size(NULL), 0);
	cr_expect_eq(udg_socket_get_send_queue_count(NULL), 0);
}

Test(options, ttl_accepts_1_to_255_only)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP4);

	cr_expect_eq(udg_socket_set_ttl(s, 0), -EINVAL);
	cr_expect_eq(udg_socket_set_ttl(s, 256), -EINVAL);
	cr_expect_eq(udg_socket_set_ttl(s, -1), -EINVAL);
	cr_expect_eq(udg_socket_set_ttl(s, 1), 0);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_TTL), 1);
	cr_expect_eq(udg_socket_set_ttl(s, 255), 0);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_TTL), 255);
	cr_expect_eq(udg_socket_set_ttl(s, 0), -EINVAL);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_TTL), 255, "a refused value changes nothing");
	close_and_free(loop, s);
}

Test(options, multicast_ttl_accepts_0_to_255)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP4);

	cr_expect_eq(udg_socket_set_multicast_ttl(s, 0), 0);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_TTL), 0);
	cr_expect_eq(udg_socket_set_multicast_ttl(s, 255), 0);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_TTL), 255);
	cr_expect_eq(udg_socket_set_multicast_ttl(s, 256), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_ttl(s, -1), -EINVAL);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_TTL), 255);
	close_and_free(loop, s);
}

Test(options, broadcast_and_multicast_loopback_toggle)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP4);

	cr_expect_eq(udg_socket_set_broadcast(s, true), 0);
	cr_expect_eq(get_int(s, SOL_SOCKET, SO_BROADCAST), 1);
	cr_expect_eq(udg_socket_set_broadcast(s, false), 0);
	cr_expect_eq(get_int(s, SOL_SOCKET, SO_BROADCAST), 0);
	cr_expect_eq(udg_socket_set_multicast_loopback(s, false), 0);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_LOOP), 0);
	cr_expect_eq(udg_socket_set_multicast_loopback(s, true), 0);
	cr_expect_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_LOOP), 1);
	close_and_free(loop, s);
}

Test(options, udp6_uses_the_ipv6_options)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP6);

	cr_expect_eq(udg_socket_set_ttl(s, 7), 0);
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 7);
	cr_expect_eq(udg_socket_set_ttl(s, 256), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_ttl(s, 0), 0);
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 0);
	cr_expect_eq(udg_socket_set_multicast_ttl(s, 9), 0);
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 9);
	cr_expect_eq(udg_socket_set_multicast_loopback(s, false), 0);
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
	cr_expect_eq(udg_socket_set_broadcast(s, true), 0);
	cr_expect_eq(get_int(s, SOL_SOCKET, SO_BROADCAST), 1);
	close_and_free(loop, s);
}

Test(options, udp4_multicast_interface_takes_an_interface_address)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP4);
	struct in_addr a;
	socklen_t len = sizeof(a);

	cr_expect_eq(udg_socket_set_multicast_interface(s, "127.0.0.1"), 0);
	cr_assert_eq(getsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, &a, &len), 0);
	cr_expect_eq(a.s_addr, htonl(INADDR_LOOPBACK));
	cr_expect_eq(udg_socket_set_multicast_interface(s, "0.0.0.0"), 0);
	len = sizeof(a);
	cr_assert_eq(getsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, &a, &len), 0);
	cr_expect_eq(a.s_addr, htonl(INADDR_ANY));

	/* a multicast address is no interface: the kernel finds no interface with it */
	cr_expect_lt(udg_socket_set_multicast_interface(s, "224.0.0.2"), 0);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "::"), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "256.0.0.1"), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "lo"), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, ""), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, NULL), UDG_ERR_INVALID_ARG_TYPE);
	close_and_free(loop, s);
}

Test(options, udp6_multicast_interface_takes_a_zone)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP6);
	int lo = (int)if_nametoindex("lo");
	cr_assert_neq(lo, 0);

	cr_expect_eq(udg_socket_set_multicast_interface(s, "::%lo"), 0);
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_IF), lo);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "::%nosuchif0"), 0,
		     "an unknown name means the default interface");
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_IF), 0);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "%lo"), 0);
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_IF), lo);

	cr_expect_eq(udg_socket_set_multicast_interface(s, "127.0.0.1"), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "ff02::1"), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "::%1"), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "%"), -EINVAL);
	cr_expect_eq(udg_socket_set_multicast_interface(s, ""), -EINVAL);
	cr_expect_eq(get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_IF), lo, "refusals change nothing");
	close_and_free(loop, s);
}

Test(options, setters_leave_errno_alone)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop, UDG_UDP4);

	errno = 777;
	cr_expect_lt(udg_socket_set_multicast_interface(s, "224.0.0.2"), 0);
	cr_expect_eq(udg_socket_set_ttl(s, 0), -EINVAL);
	cr_expect_eq(udg_socket_set_ttl(s, 9), 0);
	cr_expect_eq(errno, 777);
	close_and_free(loop, s);
}
