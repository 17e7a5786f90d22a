/* tests/test_buffers.c — kernel buffer sizes and send-queue introspection: errors before bind,
 * Linux's doubling, set(0) as a get, sizes over INT_MAX, the createSocket sizes applied before
 * 'listening', and empty queues on a fresh socket. Reads s->fd through engine/internal.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "../engine/dgram/dgram.h"

struct fixture {
	udg_loop *loop;
	int listening;
	int bound;
	uint32_t rcv_at_listening, snd_at_listening;
	int rcv_rc, snd_rc;
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

static udg_socket *new_socket(udg_loop *loop, const udg_socket_options *o)
{
	udg_socket *s = NULL;
	cr_assert_eq(udg_socket_new(loop, o, &s), 0);
	return s;
}

static void on_bound(udg_socket *s, int status, void *user)
{
	struct fixture *f = user;
	cr_assert_eq(status, 0);
	f->bound++;
	udg_loop_stop(f->loop);
}

static udg_socket *bound_socket(udg_loop *loop)
{
	struct fixture f = { .loop = loop };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	udg_socket *s = new_socket(loop, &o);
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", on_bound, &f), 0);
	udg_loop_run(loop, UDG_RUN_DEFAULT);
	cr_assert_eq(f.bound, 1);
	return s;
}

static void close_and_free(udg_loop *loop, udg_socket *s)
{
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static int kernel_size(const udg_socket *s, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);
	cr_assert_eq(getsockopt(s->fd, SOL_SOCKET, name, &v, &len), 0);
	return v;
}

Test(buffers, sizes_before_bind_are_socket_buffer_size_errors)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	udg_socket *s = new_socket(loop, &o);
	uint32_t v = 99;

	cr_expect_eq(udg_socket_get_recv_buffer_size(s, &v), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(udg_socket_get_send_buffer_size(s, &v), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(udg_socket_set_recv_buffer_size(s, 8192), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(udg_socket_set_send_buffer_size(s, 8192), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(udg_socket_set_recv_buffer_size(s, 0), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(v, 99, "a failed get stores nothing");
	close_and_free(loop, s);
}

Test(buffers, set_then_get_returns_the_doubled_kernel_value)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop);
	uint32_t v = 0;

	/* 16 KiB is above the kernel minimums and below any sane rmem_max/wmem_max. */
	cr_assert_eq(udg_socket_set_recv_buffer_size(s, 16384), 0);
	cr_assert_eq(udg_socket_get_recv_buffer_size(s, &v), 0);
	cr_expect_geq(v, 2 * 16384, "Linux doubles SO_RCVBUF: got %u", v);
	cr_expect_eq(v, (uint32_t)kernel_size(s, SO_RCVBUF));

	cr_assert_eq(udg_socket_set_send_buffer_size(s, 16384), 0);
	cr_assert_eq(udg_socket_get_send_buffer_size(s, &v), 0);
	cr_expect_geq(v, 2 * 16384, "Linux doubles SO_SNDBUF: got %u", v);
	cr_expect_eq(v, (uint32_t)kernel_size(s, SO_SNDBUF));
	close_and_free(loop, s);
}

Test(buffers, set_zero_acts_as_a_get)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop);
	int rcv = kernel_size(s, SO_RCVBUF), snd = kernel_size(s, SO_SNDBUF);

	cr_expect_eq(udg_socket_set_recv_buffer_size(s, 0), 0);
	cr_expect_eq(udg_socket_set_send_buffer_size(s, 0), 0);
	cr_expect_eq(kernel_size(s, SO_RCVBUF), rcv);
	cr_expect_eq(kernel_size(s, SO_SNDBUF), snd);
	close_and_free(loop, s);
}

Test(buffers, sizes_over_int_max_are_refused_and_change_nothing)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop);
	int rcv = kernel_size(s, SO_RCVBUF), snd = kernel_size(s, SO_SNDBUF);

	cr_expect_eq(udg_socket_set_recv_buffer_size(s, (uint32_t)INT_MAX + 1),
		     UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(udg_socket_set_recv_buffer_size(s, UINT32_MAX), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(udg_socket_set_send_buffer_size(s, (uint32_t)INT_MAX + 1),
		     UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(udg_socket_set_send_buffer_size(s, UINT32_MAX), UDG_ERR_SOCKET_BUFFER_SIZE);
	cr_expect_eq(kernel_size(s, SO_RCVBUF), rcv);
	cr_expect_eq(kernel_size(s, SO_SNDBUF), snd);
	close_and_free(loop, s);
}

Test(buffers, get_without_an_output_is_invalid_arg_type)
{
	udg_loop *loop = new_loop();
	udg_socket *s = bound_socket(loop);
	cr_expect_eq(udg_socket_get_recv_buffer_size(s, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_expect_eq(udg_socket_get_send_buffer_size(s, NULL), UDG_ERR_INVALID_ARG_TYPE);
	close_and_free(loop, s);
}

Test(buffers, send_queue_is_empty_on_a_fresh_socket)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	udg_socket *s = new_socket(loop, &o);

	cr_expect_eq(udg_socket_get_send_queue_size(s), 0);
	cr_expect_eq(udg_socket_get_send_queue_count(s), 0);
	close_and_free(loop, s);

	loop = new_loop();
	s = bound_socket(loop);
	cr_expect_eq(udg_socket_get_send_queue_size(s), 0);
	cr_expect_eq(udg_socket_get_send_queue_count(s), 0);
	close_and_free(loop, s);
}

static void record_sizes(udg_socket *s, void *user)
{
	struct fixture *f = user;
	f->listening++;
	f->rcv_rc = udg_socket_get_recv_buffer_size(s, &f->rcv_at_listening);
	f->snd_rc = udg_socket_get_send_buffer_size(s, &f->snd_at_listening);
	udg_loop_stop(f->loop);
}

Test(buffers, create_options_are_applied_before_listening)
{
	udg_loop *loop = new_loop();
	struct fixture f = { .loop = loop };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.recv_buffer_size = 65536;
	o.send_buffer_size = 32768;
	o.on_listening = record_sizes;
	o.user = &f;
	udg_socket *s = new_socket(loop, &o);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	udg_loop_run(loop, UDG_RUN_DEFAULT);
	cr_assert_eq(f.listening, 1);
	cr_expect_eq(f.rcv_rc, 0);
	cr_expect_eq(f.snd_rc, 0);
	cr_expect_geq(f.rcv_at_listening, 2 * 65536, "SO_RCVBUF at 'listening': %u",
		      f.rcv_at_listening);
	cr_expect_geq(f.snd_at_listening, 2 * 32768, "SO_SNDBUF at 'listening': %u",
		      f.snd_at_listening);
	close_and_free(loop, s);
}
