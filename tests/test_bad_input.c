/* tests/test_bad_input.c — one table: every public function fed NULL handles, NULL buffers with
 * a length, oversized lengths, out-of-range ports, malformed or wrong-family addresses (both
 * reported asynchronously, as Node does), and calls on a closed socket. Each row names the code it
 * must return; after each row nothing may have changed: bound/connected state, local and remote
 * address, send queue, errno, no callback, and the loop still closes with 0. Fuzzing regressions
 * live here too (rows marked "fuzz:"). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udg.h"

/* The socket a row runs against. */
enum fixture {
	FIX_LOOP,      /* a loop and no socket */
	FIX_UNBOUND,   /* udp4, created, never bound */
	FIX_BOUND,     /* udp4, bound to 127.0.0.1:ephemeral, 'listening' delivered */
	FIX_BOUND6,    /* udp6, bound to ::1 */
	FIX_CONNECTED, /* udp4, bound and connected to a peer, 'connect' delivered */
	FIX_CLOSED,    /* udp4, bound, then udg_socket_close(): its 'close' is still pending */
};

struct ctx {
	udg_loop *loop;
	udg_socket *s;
	int peer_port; /* a bound plain socket on 127.0.0.1, for connect */
	int peer_fd;
	int callbacks;   /* every user callback of the fixture socket, and of the row's calls */
	int last_status; /* of the row's own async callback */
	int async_calls;
};

/* ---- Callbacks: any of them running is a change ------------------------------------------- */

static void ev_cb(udg_socket *s, void *user)
{
	(void)s;
	((struct ctx *)user)->callbacks++;
}

static void msg_cb(udg_socket *s, const void *d, size_t l, const udg_rinfo *ri, void *user)
{
	(void)s, (void)d, (void)l, (void)ri;
	((struct ctx *)user)->callbacks++;
}

static void err_cb(udg_socket *s, const udg_error_info *e, void *user)
{
	(void)s;
	struct ctx *c = user;
	c->callbacks++;
	c->async_calls++;
	c->last_status = e->code;
}

static void status_cb(udg_socket *s, int status, void *user)
{
	(void)s;
	struct ctx *c = user;
	c->callbacks++;
	c->async_calls++;
	c->last_status = status;
}

static void send_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s, (void)bytes;
	struct ctx *c = user;
	c->callbacks++;
	c->async_calls++;
	c->last_status = status;
}

static void post_fn(void *arg)
{
	(void)arg;
}

static void timer_fn(udg_timer *t, void *user)
{
	(void)t, (void)user;
}

/* ---- Test data ---------------------------------------------------------------------------- */

static char payload[64] = "bad input";
static const char long_name[301] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				   "aaaaaaaaaaaa"; /* 300 characters: over DNS's 253 */

/* ---- The calls, one small function per row ------------------------------------------------- */

#define CALL(fn_name, expr)               \
	static int fn_name(struct ctx *c) \
	{                                 \
		(void)c;                  \
		return (expr);            \
	}
#define VOID_CALL(fn_name, stmt)          \
	static int fn_name(struct ctx *c) \
	{                                 \
		(void)c;                  \
		stmt;                     \
		return 0;                 \
	}

/* loop */
CALL(loop_new_null_out, udg_loop_new(NULL, NULL))
static int loop_new_with(unsigned sq, unsigned cq, unsigned size, unsigned count, unsigned slots)
{
	udg_loop_options o;
	udg_loop_options_init(&o);
	o.sq_entries = sq;
	o.cq_entries = cq;
	o.recv_buf_size = size;
	o.recv_buf_count = count;
	o.send_slots = slots;
	udg_loop *l = (udg_loop *)&o; /* must be overwritten with NULL on failure */
	int r = udg_loop_new(&o, &l);
	if (r == 0)
		udg_loop_close(l);
	else if (l != NULL)
		return 1; /* *out left dangling: a distinct, failing code */
	return r;
}
CALL(loop_new_sq_zero, loop_new_with(0, 0, 2048, 1024, 4096))
CALL(loop_new_sq_huge, loop_new_with(1u << 20, 0, 2048, 1024, 4096))
CALL(loop_new_cq_below_sq, loop_new_with(256, 128, 2048, 1024, 4096))
CALL(loop_new_buf_size_tiny, loop_new_with(256, 0, 16, 1024, 4096))
CALL(loop_new_buf_size_huge, loop_new_with(256, 0, UINT_MAX, 1024, 4096))
CALL(loop_new_buf_count_not_pow2, loop_new_with(256, 0, 2048, 1000, 4096))
CALL(loop_new_buf_count_zero, loop_new_with(256, 0, 2048, 0, 4096))
CALL(loop_new_buf_count_huge, loop_new_with(256, 0, 2048, 1u << 16, 4096))
CALL(loop_new_slots_zero, loop_new_with(256, 0, 2048, 1024, 0))
CALL(loop_new_slots_huge, loop_new_with(256, 0, 2048, 1024, UINT_MAX))
CALL(loop_close_null, udg_loop_close(NULL))
CALL(loop_close_busy, udg_loop_close(c->loop))
CALL(loop_run_null, udg_loop_run(NULL, UDG_RUN_NOWAIT))
CALL(loop_post_null_loop, udg_loop_post(NULL, post_fn, NULL))
CALL(loop_post_null_fn, udg_loop_post(c->loop, NULL, NULL))
CALL(loop_fd_null, udg_loop_fd(NULL))
CALL(loop_timeout_null, (int)udg_loop_timeout_ns(NULL))
CALL(loop_features_null, (int)udg_loop_features(NULL))
CALL(loop_features_string_null, udg_loop_features_string(NULL)[0])
CALL(loop_now_null, (int)udg_loop_now_ns(NULL))
VOID_CALL(loop_stop_null, udg_loop_stop(NULL))
VOID_CALL(loop_stats_null, {
	udg_loop_stats st;
	udg_loop_stats_get(NULL, &st);
	udg_loop_stats_get(c->loop, NULL);
})
VOID_CALL(loop_options_init_null, udg_loop_options_init(NULL))

/* timers */
CALL(timer_new_null_loop, ({
	     udg_timer *t = NULL;
	     udg_timer_new(NULL, &t);
     }))
CALL(timer_new_null_out, udg_timer_new(c->loop, NULL))
CALL(timer_start_null, udg_timer_start(NULL, 1, 0, timer_fn, NULL))
static int timer_start_null_cb(struct ctx *c)
{
	udg_timer *t;
	cr_assert_eq(udg_timer_new(c->loop, &t), 0);
	int r = udg_timer_start(t, 1, 0, NULL, NULL);
	udg_timer_free(t);
	return r;
}
CALL(timer_stop_null, udg_timer_stop(NULL))
VOID_CALL(timer_ref_unref_free_null, {
	udg_timer_ref(NULL);
	udg_timer_unref(NULL);
	udg_timer_free(NULL);
})

/* errors */
CALL(err_name_never_null, udg_err_name(INT_MIN) != NULL && udg_err_name(0) != NULL &&
					  udg_err_name(1) != NULL && udg_err_name(INT_MAX) != NULL
				  ? 0
				  : 1)
CALL(strerror_never_null,
     udg_strerror(INT_MIN) != NULL && udg_strerror(-4096) != NULL && udg_strerror(INT_MAX) != NULL
	     ? 0
	     : 1)

/* socket creation */
static int socket_new_with(struct ctx *c, int type, uint32_t rcv, uint32_t snd)
{
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.type = (udg_socket_type)type;
	o.recv_buffer_size = rcv;
	o.send_buffer_size = snd;
	udg_socket *s = (udg_socket *)&o;
	int r = udg_socket_new(c->loop, &o, &s);
	if (r == 0) {
		udg_socket_close(s, NULL, NULL);
		return 1; /* must not succeed */
	}
	return s == NULL ? r : 2;
}
CALL(socket_new_null_loop, ({
	     udg_socket_options o;
	     udg_socket *s;
	     udg_socket_options_init(&o, UDG_UDP4);
	     udg_socket_new(NULL, &o, &s);
     }))
CALL(socket_new_null_opts, ({
	     udg_socket *s;
	     udg_socket_new(c->loop, NULL, &s);
     }))
CALL(socket_new_null_out, ({
	     udg_socket_options o;
	     udg_socket_options_init(&o, UDG_UDP4);
	     udg_socket_new(c->loop, &o, NULL);
     }))
CALL(socket_new_type_zero, socket_new_with(c, 0, 0, 0))
CALL(socket_new_type_5, socket_new_with(c, 5, 0, 0))
CALL(socket_new_type_negative, socket_new_with(c, -4, 0, 0))
CALL(socket_new_rcvbuf_over_int_max, socket_new_with(c, UDG_UDP4, (uint32_t)INT_MAX + 1, 0))
CALL(socket_new_sndbuf_over_int_max, socket_new_with(c, UDG_UDP4, 0, UINT32_MAX))
VOID_CALL(options_init_null, {
	udg_socket_options_init(NULL, UDG_UDP4);
	udg_bind_options_init(NULL);
})
CALL(socket_user_null, udg_socket_user(NULL) == NULL && udg_socket_loop(NULL) == NULL ? 0 : 1)

/* bind */
CALL(bind_null_socket, udg_socket_bind(NULL, 0, NULL, status_cb, c))
CALL(bind_port_negative, udg_socket_bind(c->s, -1, NULL, status_cb, c))
CALL(bind_port_65536, udg_socket_bind(c->s, 65536, NULL, status_cb, c))
CALL(bind_port_int_max, udg_socket_bind(c->s, INT_MAX, NULL, status_cb, c))
CALL(bind_port_int_min, udg_socket_bind(c->s, INT_MIN, NULL, status_cb, c))
CALL(bind_bad_octet, udg_socket_bind(c->s, 0, "256.1.1.1", status_cb, c))
CALL(bind_short_mapped, udg_socket_bind(c->s, 0, "::ffff:1.2.3", status_cb, c))
CALL(bind_empty_zone, udg_socket_bind(c->s, 0, "fe80::1%", status_cb, c))
CALL(bind_300_chars, udg_socket_bind(c->s, 0, long_name, status_cb, c))
CALL(bind_space_in_name, udg_socket_bind(c->s, 0, "local host", status_cb, c))
CALL(bind_newline_in_name, udg_socket_bind(c->s, 0, "localhost\n", status_cb, c))
CALL(bind_dash, udg_socket_bind(c->s, 0, "-", status_cb, c))
CALL(bind_wrong_family_literal, udg_socket_bind(c->s, 0, "::1", status_cb, c))
CALL(bind_port_in_use, udg_socket_bind(c->s, c->peer_port, "127.0.0.1", status_cb, c))
CALL(bind_again, udg_socket_bind(c->s, 0, NULL, status_cb, c))
CALL(bind_ex_null_opts, udg_socket_bind_ex(c->s, NULL, status_cb, c))
static int bind_ex_fd(struct ctx *c, int fd)
{
	udg_bind_options o;
	udg_bind_options_init(&o);
	o.fd = fd;
	return udg_socket_bind_ex(c->s, &o, status_cb, c);
}
static int bind_ex_pipe(struct ctx *c)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	int r = bind_ex_fd(c, p[0]);
	close(p[0]);
	close(p[1]);
	return r;
}
static int bind_ex_tcp(struct ctx *c)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int r = bind_ex_fd(c, fd);
	close(fd);
	return r;
}
CALL(bind_ex_closed_fd, bind_ex_fd(c, 1000000))

/* send and its variants */
CALL(send_null_socket, udg_socket_send(NULL, payload, 1, 9, NULL, send_cb, c))
CALL(send_null_buf_with_len, udg_socket_send(c->s, NULL, 10, c->peer_port, NULL, send_cb, c))
CALL(send_port_zero, udg_socket_send(c->s, payload, 1, 0, NULL, send_cb, c))
CALL(send_port_negative, udg_socket_send(c->s, payload, 1, -5, NULL, send_cb, c))
CALL(send_port_65536, udg_socket_send(c->s, payload, 1, 65536, NULL, send_cb, c))
CALL(send_bad_octet, udg_socket_send(c->s, payload, 1, 9, "256.1.1.1", send_cb, c))
CALL(send_bad_last_octet, udg_socket_send(c->s, payload, 1, 9, "1.2.3.999", send_cb, c))
CALL(send_short_mapped, udg_socket_send(c->s, payload, 1, 9, "::ffff:1.2.3", send_cb, c))
CALL(send_empty_zone, udg_socket_send(c->s, payload, 1, 9, "fe80::1%", send_cb, c))
CALL(send_300_chars, udg_socket_send(c->s, payload, 1, 9, long_name, send_cb, c))
CALL(send_wrong_family, udg_socket_send(c->s, payload, 1, c->peer_port, "::1", send_cb, c))
CALL(send_wrong_family6, udg_socket_send(c->s, payload, 1, c->peer_port, "127.0.0.1", send_cb, c))
CALL(send_connected_with_port, udg_socket_send(c->s, payload, 1, 9, NULL, send_cb, c))
CALL(send_connected_with_address, udg_socket_send(c->s, payload, 1, 0, "127.0.0.1", send_cb, c))
CALL(send_on_closed, udg_socket_send(c->s, payload, 1, 9, NULL, send_cb, c))
CALL(send_range_null_socket, udg_socket_send_range(NULL, payload, 4, 0, 4, 9, NULL, send_cb, c))
CALL(send_range_null_buf, udg_socket_send_range(c->s, NULL, 4, 0, 4, 9, NULL, send_cb, c))
CALL(send_range_offset_past_end, udg_socket_send_range(c->s, payload, 4, 5, 0, 9, NULL, send_cb, c))
CALL(send_range_length_past_end, udg_socket_send_range(c->s, payload, 4, 2, 3, 9, NULL, send_cb, c))
CALL(send_range_wrapping_sum,
     udg_socket_send_range(c->s, payload, 4, 2, SIZE_MAX, 9, NULL, send_cb, c))
CALL(send_range_huge_offset,
     udg_socket_send_range(c->s, payload, 4, SIZE_MAX, 1, 9, NULL, send_cb, c))
CALL(sendv_null_bufs, udg_socket_sendv(c->s, NULL, 2, 9, NULL, send_cb, c))
static int sendv_too_many(struct ctx *c)
{
	udg_buf bufs[UDG_SENDV_MAX + 1];
	for (size_t i = 0; i < UDG_SENDV_MAX + 1; i++)
		bufs[i] = (udg_buf){ payload, 1 };
	return udg_socket_sendv(c->s, bufs, UDG_SENDV_MAX + 1, c->peer_port, NULL, send_cb, c);
}
static int sendv_null_piece(struct ctx *c)
{
	udg_buf bufs[3] = { { payload, 1 }, { NULL, 5 }, { payload, 1 } };
	return udg_socket_sendv(c->s, bufs, 3, c->peer_port, NULL, send_cb, c);
}
/* fuzz: the pieces' lengths add up past SIZE_MAX; the wrapped sum must not size the copy. */
static int sendv_wrapping_total(struct ctx *c)
{
	udg_buf bufs[2] = { { payload, SIZE_MAX }, { payload, 2 } };
	return udg_socket_sendv(c->s, bufs, 2, c->peer_port, NULL, NULL, NULL);
}
static int sendv_wrapping_total_cb(struct ctx *c)
{
	udg_buf bufs[3] = { { payload, SIZE_MAX / 2 + 1 },
			    { payload, SIZE_MAX / 2 + 1 },
			    { payload, 8 } };
	return udg_socket_sendv(c->s, bufs, 3, c->peer_port, NULL, send_cb, c);
}
CALL(send_to_null_addr, udg_socket_send_to(c->s, payload, 1, NULL, 16, send_cb, c))
static int send_to_with(struct ctx *c, int family, socklen_t len, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = (sa_family_t)family;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return udg_socket_send_to(c->s, payload, 1, (struct sockaddr *)&ss, len, send_cb, c);
}
CALL(send_to_short_len, send_to_with(c, AF_INET, 4, 9))
CALL(send_to_zero_len, send_to_with(c, AF_INET, 0, 9))
CALL(send_to_wrong_family, send_to_with(c, AF_INET6, sizeof(struct sockaddr_in6), 9))
CALL(send_to_unix_family, send_to_with(c, AF_UNIX, sizeof(struct sockaddr_storage), 9))
CALL(send_to_port_zero, send_to_with(c, AF_INET, sizeof(struct sockaddr_in), 0))
CALL(send_to_connected, send_to_with(c, AF_INET, sizeof(struct sockaddr_in), 9))
CALL(send_to_closed, send_to_with(c, AF_INET, sizeof(struct sockaddr_in), 9))
CALL(sendv_to_null_bufs, ({
	     struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };
	     udg_socket_sendv_to(c->s, NULL, 1, (struct sockaddr *)&sin, sizeof(sin), send_cb, c);
     }))

/* connect, disconnect, addresses */
CALL(connect_null_socket, udg_socket_connect(NULL, 9, NULL, status_cb, c))
CALL(connect_null_socket_bad_port, udg_socket_connect(NULL, 0, NULL, status_cb, c))
CALL(connect_port_zero, udg_socket_connect(c->s, 0, NULL, status_cb, c))
CALL(connect_port_65536, udg_socket_connect(c->s, 65536, NULL, status_cb, c))
CALL(connect_port_negative, udg_socket_connect(c->s, -1, NULL, status_cb, c))
CALL(connect_bad_octet, udg_socket_connect(c->s, 9, "256.1.1.1", status_cb, c))
CALL(connect_empty_zone, udg_socket_connect(c->s, 9, "fe80::1%", status_cb, c))
CALL(connect_300_chars, udg_socket_connect(c->s, 9, long_name, status_cb, c))
CALL(connect_again, udg_socket_connect(c->s, c->peer_port, NULL, status_cb, c))
CALL(connect_wrong_family, udg_socket_connect(c->s, c->peer_port, "::1", status_cb, c))
CALL(disconnect_null, udg_socket_disconnect(NULL))
CALL(disconnect_not_connected, udg_socket_disconnect(c->s))
CALL(remote_null, ({
	     udg_address a;
	     udg_socket_remote_address(NULL, &a);
     }))
CALL(remote_not_connected, ({
	     udg_address a;
	     udg_socket_remote_address(c->s, &a);
     }))
CALL(remote_null_out, udg_socket_remote_address(c->s, NULL))
CALL(address_null, ({
	     udg_address a;
	     udg_socket_address(NULL, &a);
     }))
CALL(address_null_out, udg_socket_address(c->s, NULL))
CALL(address_unbound, ({
	     udg_address a;
	     udg_socket_address(c->s, &a);
     }))

/* close, dispose, ref */
CALL(close_null, udg_socket_close(NULL, ev_cb, c))
CALL(close_again, udg_socket_close(c->s, ev_cb, c))
CALL(dispose_null, udg_socket_dispose(NULL, ev_cb, c))
VOID_CALL(ref_unref_null, {
	udg_socket_ref(NULL);
	udg_socket_unref(NULL);
})

/* options */
CALL(broadcast_null, udg_socket_set_broadcast(NULL, true))
CALL(ttl_null, udg_socket_set_ttl(NULL, 64))
CALL(ttl_zero, udg_socket_set_ttl(c->s, 0))
CALL(ttl_256, udg_socket_set_ttl(c->s, 256))
CALL(ttl_negative, udg_socket_set_ttl(c->s, -1))
CALL(mttl_negative, udg_socket_set_multicast_ttl(c->s, -1))
CALL(mttl_256, udg_socket_set_multicast_ttl(c->s, 256))
CALL(mloop_null, udg_socket_set_multicast_loopback(NULL, true))
CALL(miface_null_socket, udg_socket_set_multicast_interface(NULL, "0.0.0.0"))
CALL(miface_null, udg_socket_set_multicast_interface(c->s, NULL))
CALL(miface_malformed, udg_socket_set_multicast_interface(c->s, "1.2.3"))
CALL(miface_300_chars, udg_socket_set_multicast_interface(c->s, long_name))
CALL(ttl_on_unbound, udg_socket_set_ttl(c->s, 64))
CALL(ttl_on_closed, udg_socket_set_ttl(c->s, 64))
CALL(add_membership_null_socket, udg_socket_add_membership(NULL, "239.1.1.1", NULL))
CALL(add_membership_null_group, udg_socket_add_membership(c->s, NULL, NULL))
CALL(add_membership_empty_group, udg_socket_add_membership(c->s, "", NULL))
CALL(add_membership_bad_octet, udg_socket_add_membership(c->s, "256.1.1.1", NULL))
CALL(add_membership_unicast, udg_socket_add_membership(c->s, "127.0.0.1", NULL))
CALL(add_membership_wrong_family, udg_socket_add_membership(c->s, "ff12::1", NULL))
CALL(add_membership_300_chars, udg_socket_add_membership(c->s, long_name, NULL))
CALL(drop_membership_never_joined, udg_socket_drop_membership(c->s, "239.1.1.1", NULL))
CALL(add_membership_on_closed, udg_socket_add_membership(c->s, "239.1.1.1", NULL))
CALL(ssm_null_source, udg_socket_add_source_specific_membership(c->s, NULL, "232.1.1.1", NULL))
CALL(ssm_null_group, udg_socket_add_source_specific_membership(c->s, "127.0.0.1", NULL, NULL))
CALL(ssm_bad_source,
     udg_socket_add_source_specific_membership(c->s, "256.1.1.1", "232.1.1.1", NULL))
CALL(ssm_wrong_family_source,
     udg_socket_add_source_specific_membership(c->s, "::1", "232.1.1.1", NULL))
CALL(ssm_null_socket,
     udg_socket_drop_source_specific_membership(NULL, "127.0.0.1", "232.1.1.1", NULL))

/* buffer sizes and queue */
CALL(get_rcvbuf_null_socket, ({
	     uint32_t v;
	     udg_socket_get_recv_buffer_size(NULL, &v);
     }))
CALL(get_rcvbuf_null_out, udg_socket_get_recv_buffer_size(c->s, NULL))
CALL(get_sndbuf_null_out, udg_socket_get_send_buffer_size(c->s, NULL))
CALL(get_rcvbuf_unbound, ({
	     uint32_t v;
	     udg_socket_get_recv_buffer_size(c->s, &v);
     }))
CALL(set_rcvbuf_unbound, udg_socket_set_recv_buffer_size(c->s, 65536))
CALL(set_rcvbuf_over_int_max, udg_socket_set_recv_buffer_size(c->s, (uint32_t)INT_MAX + 1))
CALL(set_sndbuf_over_int_max, udg_socket_set_send_buffer_size(c->s, UINT32_MAX))
CALL(set_sndbuf_on_closed, udg_socket_set_send_buffer_size(c->s, 65536))
CALL(queue_null,
     (int)(udg_socket_get_send_queue_size(NULL) + udg_socket_get_send_queue_count(NULL)))

/* addresses */
static int format_with(int family, socklen_t len, size_t buflen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	char buf[UDG_ADDRSTRLEN];
	return udg_format_address((struct sockaddr *)&ss, len, buflen ? buf : NULL, buflen);
}
CALL(format_null_sa, ({
	     char b[64];
	     udg_format_address(NULL, 16, b, sizeof(b));
     }))
CALL(format_null_buf, format_with(AF_INET, sizeof(struct sockaddr_in), 0))
CALL(format_short_in4, format_with(AF_INET, sizeof(struct sockaddr_in) - 1, 64))
CALL(format_short_in6, format_with(AF_INET6, sizeof(struct sockaddr_in6) - 1, 64))
CALL(format_unix, format_with(AF_UNIX, sizeof(struct sockaddr_storage), 64))
CALL(format_buf_too_small, ({
	     struct sockaddr_in sin = { .sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	     char b[9];
	     udg_format_address((struct sockaddr *)&sin, sizeof(sin), b, sizeof(b));
     }))
CALL(family_name_null, udg_family_name(NULL)[0])
CALL(lookup_done_null, udg_lookup_done(NULL, 0, "127.0.0.1"))

/* abort signals */
CALL(signal_new_null_loop, ({
	     udg_abort_signal *g;
	     udg_abort_signal_new(NULL, &g);
     }))
CALL(signal_new_null_out, udg_abort_signal_new(c->loop, NULL))
VOID_CALL(signal_null_ops, {
	udg_abort_signal_abort(NULL);
	cr_assert(!udg_abort_signal_aborted(NULL));
	udg_abort_signal_free(NULL);
})

/* ---- The table ----------------------------------------------------------------------------- */

struct row {
	const char *name;
	enum fixture fix;
	int (*call)(struct ctx *c);
	int expect;       /* the synchronous return */
	bool async;       /* the call is accepted and reports exactly once through its callback */
	int async_expect; /* ... with this status */
};

#define ROW(f, fn, code)                   \
	{                                  \
#fn, f, fn, code, false, 0 \
	}
#define ASYNC_ROW(f, fn, code)            \
	{                                 \
#fn, f, fn, 0, true, code \
	}
/* Text that is not a literal goes to the system resolver, as in Node: it fails there with
 * ENOTFOUND, or EAI_AGAIN where no DNS server answers (both accepted for these rows). */
#define LOOKUP_FAILS 1
#define LOOKUP_ROW(f, fn) ASYNC_ROW(f, fn, LOOKUP_FAILS)

static struct row rows[] = {
	ROW(FIX_LOOP, loop_new_null_out, -EINVAL),
	ROW(FIX_LOOP, loop_new_sq_zero, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_sq_huge, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_cq_below_sq, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_buf_size_tiny, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_buf_size_huge, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_buf_count_not_pow2, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_buf_count_zero, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_buf_count_huge, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_slots_zero, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_new_slots_huge, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, loop_close_null, -EINVAL),
	ROW(FIX_BOUND, loop_close_busy, -EBUSY),
	ROW(FIX_LOOP, loop_run_null, -EINVAL),
	ROW(FIX_LOOP, loop_post_null_loop, -EINVAL),
	ROW(FIX_LOOP, loop_post_null_fn, -EINVAL),
	ROW(FIX_LOOP, loop_fd_null, -EINVAL),
	ROW(FIX_LOOP, loop_timeout_null, -1),
	ROW(FIX_LOOP, loop_features_null, 0),
	ROW(FIX_LOOP, loop_features_string_null, 0),
	ROW(FIX_LOOP, loop_now_null, 0),
	ROW(FIX_LOOP, loop_stop_null, 0),
	ROW(FIX_LOOP, loop_stats_null, 0),
	ROW(FIX_LOOP, loop_options_init_null, 0),
	ROW(FIX_LOOP, timer_new_null_loop, -EINVAL),
	ROW(FIX_LOOP, timer_new_null_out, -EINVAL),
	ROW(FIX_LOOP, timer_start_null, -EINVAL),
	ROW(FIX_LOOP, timer_start_null_cb, -EINVAL),
	ROW(FIX_LOOP, timer_stop_null, -EINVAL),
	ROW(FIX_LOOP, timer_ref_unref_free_null, 0),
	ROW(FIX_LOOP, err_name_never_null, 0),
	ROW(FIX_LOOP, strerror_never_null, 0),
	ROW(FIX_LOOP, socket_new_null_loop, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, socket_new_null_opts, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, socket_new_null_out, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, socket_new_type_zero, UDG_ERR_SOCKET_BAD_TYPE),
	ROW(FIX_LOOP, socket_new_type_5, UDG_ERR_SOCKET_BAD_TYPE),
	ROW(FIX_LOOP, socket_new_type_negative, UDG_ERR_SOCKET_BAD_TYPE),
	ROW(FIX_LOOP, socket_new_rcvbuf_over_int_max, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, socket_new_sndbuf_over_int_max, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_LOOP, options_init_null, 0),
	ROW(FIX_LOOP, socket_user_null, 0),

	ROW(FIX_LOOP, bind_null_socket, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_UNBOUND, bind_port_negative, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_UNBOUND, bind_port_65536, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_UNBOUND, bind_port_int_max, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_UNBOUND, bind_port_int_min, UDG_ERR_SOCKET_BAD_PORT),
	LOOKUP_ROW(FIX_UNBOUND, bind_bad_octet),
	LOOKUP_ROW(FIX_UNBOUND, bind_short_mapped),
	/* getaddrinfo: EAI_ADDRFAMILY (an IPv6-looking name for AF_INET), udg's EAI_FAIL */
	ASYNC_ROW(FIX_UNBOUND, bind_empty_zone, UDG_ERR_EAI_FAIL),
	ASYNC_ROW(FIX_UNBOUND, bind_300_chars, -EINVAL), /* Node: getaddrinfo EINVAL */
	LOOKUP_ROW(FIX_UNBOUND, bind_space_in_name),
	LOOKUP_ROW(FIX_UNBOUND, bind_newline_in_name),
	LOOKUP_ROW(FIX_UNBOUND, bind_dash),
	ASYNC_ROW(FIX_UNBOUND, bind_wrong_family_literal, -EINVAL),
	ASYNC_ROW(FIX_UNBOUND, bind_port_in_use, -EADDRINUSE),
	ROW(FIX_BOUND, bind_again, UDG_ERR_SOCKET_ALREADY_BOUND),
	ROW(FIX_CONNECTED, bind_again, UDG_ERR_SOCKET_ALREADY_BOUND),
	ROW(FIX_CLOSED, bind_again, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_UNBOUND, bind_ex_null_opts, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_UNBOUND, bind_ex_pipe, UDG_ERR_INVALID_FD_TYPE),
	ROW(FIX_UNBOUND, bind_ex_tcp, UDG_ERR_INVALID_FD_TYPE),
	ROW(FIX_UNBOUND, bind_ex_closed_fd, -EBADF),

	ROW(FIX_LOOP, send_null_socket, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, send_null_buf_with_len, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_UNBOUND, send_null_buf_with_len, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, send_port_zero, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_UNBOUND, send_port_zero, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_BOUND, send_port_negative, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_BOUND, send_port_65536, UDG_ERR_SOCKET_BAD_PORT),
	/* On an unbound socket these also bind it implicitly: see test_lookup.c. */
	LOOKUP_ROW(FIX_BOUND, send_bad_octet),
	LOOKUP_ROW(FIX_BOUND, send_bad_last_octet),
	LOOKUP_ROW(FIX_BOUND, send_short_mapped),
	LOOKUP_ROW(FIX_BOUND6, send_short_mapped),
	LOOKUP_ROW(FIX_BOUND6, send_empty_zone),
	ASYNC_ROW(FIX_BOUND, send_300_chars, -EINVAL),
	ASYNC_ROW(FIX_BOUND, send_wrong_family, -EINVAL),
	ASYNC_ROW(FIX_BOUND6, send_wrong_family6, -EINVAL),
	ROW(FIX_CONNECTED, send_connected_with_port, UDG_ERR_SOCKET_DGRAM_IS_CONNECTED),
	ROW(FIX_CONNECTED, send_connected_with_address, UDG_ERR_SOCKET_DGRAM_IS_CONNECTED),
	ROW(FIX_CLOSED, send_on_closed, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_LOOP, send_range_null_socket, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, send_range_null_buf, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, send_range_offset_past_end, UDG_ERR_BUFFER_OUT_OF_BOUNDS),
	ROW(FIX_BOUND, send_range_length_past_end, UDG_ERR_BUFFER_OUT_OF_BOUNDS),
	ROW(FIX_BOUND, send_range_wrapping_sum, UDG_ERR_BUFFER_OUT_OF_BOUNDS),
	ROW(FIX_BOUND, send_range_huge_offset, UDG_ERR_BUFFER_OUT_OF_BOUNDS),
	ROW(FIX_BOUND, sendv_null_bufs, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, sendv_too_many, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_BOUND, sendv_null_piece, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, sendv_wrapping_total, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_BOUND, sendv_wrapping_total_cb, UDG_ERR_OUT_OF_RANGE),
	ROW(FIX_BOUND, send_to_null_addr, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, send_to_short_len, -EINVAL),
	ROW(FIX_BOUND, send_to_zero_len, -EINVAL),
	ROW(FIX_BOUND, send_to_wrong_family, -EINVAL),
	ROW(FIX_BOUND, send_to_unix_family, -EINVAL),
	ROW(FIX_BOUND, send_to_port_zero, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_UNBOUND, send_to_port_zero, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_CONNECTED, send_to_connected, UDG_ERR_SOCKET_DGRAM_IS_CONNECTED),
	ROW(FIX_CLOSED, send_to_closed, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_BOUND, sendv_to_null_bufs, UDG_ERR_INVALID_ARG_TYPE),

	ROW(FIX_LOOP, connect_null_socket, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, connect_null_socket_bad_port, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_BOUND, connect_port_zero, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_UNBOUND, connect_port_zero, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_BOUND, connect_port_65536, UDG_ERR_SOCKET_BAD_PORT),
	ROW(FIX_BOUND, connect_port_negative, UDG_ERR_SOCKET_BAD_PORT),
	LOOKUP_ROW(FIX_BOUND, connect_bad_octet),
	LOOKUP_ROW(FIX_BOUND6, connect_empty_zone),
	ASYNC_ROW(FIX_BOUND, connect_300_chars, -EINVAL),
	ROW(FIX_CONNECTED, connect_again, UDG_ERR_SOCKET_DGRAM_IS_CONNECTED),
	ROW(FIX_CLOSED, connect_again, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ASYNC_ROW(FIX_BOUND, connect_wrong_family, -EINVAL),
	ROW(FIX_LOOP, disconnect_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, disconnect_not_connected, UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED),
	ROW(FIX_UNBOUND, disconnect_not_connected, UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED),
	ROW(FIX_CLOSED, disconnect_not_connected, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_LOOP, remote_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, remote_not_connected, UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED),
	ROW(FIX_CLOSED, remote_not_connected, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_CONNECTED, remote_null_out, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, address_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, address_null_out, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_UNBOUND, address_unbound, -EBADF),
	ROW(FIX_CLOSED, address_unbound, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),

	ROW(FIX_LOOP, close_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_CLOSED, close_again, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_LOOP, dispose_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, ref_unref_null, 0),

	ROW(FIX_LOOP, broadcast_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, ttl_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, ttl_zero, -EINVAL),
	ROW(FIX_BOUND, ttl_256, -EINVAL),
	ROW(FIX_BOUND, ttl_negative, -EINVAL),
	ROW(FIX_BOUND, mttl_negative, -EINVAL),
	ROW(FIX_BOUND, mttl_256, -EINVAL),
	ROW(FIX_LOOP, mloop_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_LOOP, miface_null_socket, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, miface_null, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, miface_malformed, -EINVAL),
	ROW(FIX_BOUND, miface_300_chars, -EINVAL),
	ROW(FIX_UNBOUND, ttl_on_unbound, -EBADF),
	ROW(FIX_CLOSED, ttl_on_closed, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_LOOP, add_membership_null_socket, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, add_membership_null_group, UDG_ERR_MISSING_ARGS),
	ROW(FIX_BOUND, add_membership_empty_group, UDG_ERR_MISSING_ARGS),
	ROW(FIX_BOUND, add_membership_bad_octet, -EINVAL),
	ROW(FIX_UNBOUND, add_membership_bad_octet, -EINVAL),
	ROW(FIX_BOUND, add_membership_unicast, -EINVAL),
	ROW(FIX_BOUND, add_membership_wrong_family, -EINVAL),
	ROW(FIX_BOUND, add_membership_300_chars, -EINVAL),
	ROW(FIX_BOUND, drop_membership_never_joined, -EADDRNOTAVAIL),
	ROW(FIX_CLOSED, add_membership_on_closed, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_BOUND, ssm_null_source, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, ssm_null_group, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, ssm_bad_source, -EINVAL),
	ROW(FIX_BOUND, ssm_wrong_family_source, -EINVAL),
	ROW(FIX_LOOP, ssm_null_socket, UDG_ERR_INVALID_ARG_TYPE),

	ROW(FIX_LOOP, get_rcvbuf_null_socket, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, get_rcvbuf_null_out, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_BOUND, get_sndbuf_null_out, UDG_ERR_INVALID_ARG_TYPE),
	ROW(FIX_UNBOUND, get_rcvbuf_unbound, UDG_ERR_SOCKET_BUFFER_SIZE),
	ROW(FIX_UNBOUND, set_rcvbuf_unbound, UDG_ERR_SOCKET_BUFFER_SIZE),
	ROW(FIX_BOUND, set_rcvbuf_over_int_max, UDG_ERR_SOCKET_BUFFER_SIZE),
	ROW(FIX_BOUND, set_sndbuf_over_int_max, UDG_ERR_SOCKET_BUFFER_SIZE),
	ROW(FIX_CLOSED, set_sndbuf_on_closed, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
	ROW(FIX_LOOP, queue_null, 0),

	ROW(FIX_LOOP, format_null_sa, -EINVAL),
	ROW(FIX_LOOP, format_null_buf, -EINVAL),
	ROW(FIX_LOOP, format_short_in4, -EINVAL),
	ROW(FIX_LOOP, format_short_in6, -EINVAL),
	ROW(FIX_LOOP, format_unix, -EINVAL),
	ROW(FIX_LOOP, format_buf_too_small, -ENOSPC),
	ROW(FIX_LOOP, family_name_null, 0),
	ROW(FIX_LOOP, lookup_done_null, -EINVAL),
	ROW(FIX_LOOP, signal_new_null_loop, -EINVAL),
	ROW(FIX_LOOP, signal_new_null_out, -EINVAL),
	ROW(FIX_LOOP, signal_null_ops, 0),
};

/* ---- Fixtures and the "nothing changed" snapshot --------------------------------------------- */

static const char *fixture_name(enum fixture f)
{
	static const char *const names[] = { "loop",   "unbound",   "bound",
					     "bound6", "connected", "closed" };
	return names[f];
}

static void settle(struct ctx *c, int rounds)
{
	for (int i = 0; i < rounds; i++)
		cr_assert_geq(udg_loop_run(c->loop, UDG_RUN_NOWAIT), 0);
}

static void fixture_connect_cb(udg_socket *s, int status, void *user)
{
	(void)s;
	cr_assert_eq(status, 0);
	((struct ctx *)user)->async_calls++;
}

static void setup(struct ctx *c, enum fixture f)
{
	memset(c, 0, sizeof(*c));
	c->peer_fd = -1;
	cr_assert_eq(udg_loop_new(NULL, &c->loop), 0);
	if (f == FIX_LOOP)
		return;
	/* A plain socket to connect and send to: it never runs a udg callback. */
	c->peer_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(c->peer_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	getsockname(c->peer_fd, (struct sockaddr *)&sin, &len);
	c->peer_port = ntohs(sin.sin_port);

	udg_socket_options o;
	udg_socket_options_init(&o, f == FIX_BOUND6 ? UDG_UDP6 : UDG_UDP4);
	o.on_message = msg_cb;
	o.on_error = err_cb;
	o.user = c;
	cr_assert_eq(udg_socket_new(c->loop, &o, &c->s), 0);
	if (f == FIX_UNBOUND)
		return;
	cr_assert_eq(udg_socket_bind(c->s, 0, f == FIX_BOUND6 ? "::1" : "127.0.0.1", NULL, NULL),
		     0);
	settle(c, 3);
	if (f == FIX_CONNECTED) {
		cr_assert_eq(udg_socket_connect(c->s, c->peer_port, NULL, fixture_connect_cb, c),
			     0);
		for (int i = 0; i < 100 && c->async_calls == 0; i++)
			settle(c, 1);
		cr_assert_eq(c->async_calls, 1);
		c->async_calls = 0;
	}
	if (f == FIX_CLOSED)
		cr_assert_eq(udg_socket_close(c->s, NULL, NULL), 0);
	cr_assert_eq(c->callbacks, 0, "the fixture ran a user callback");
}

struct snapshot {
	int addr_rc, remote_rc;
	udg_address addr, remote;
	size_t qsize, qcount;
};

static void snap(const struct ctx *c, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	if (!c->s)
		return;
	s->addr_rc = udg_socket_address(c->s, &s->addr);
	s->remote_rc = udg_socket_remote_address(c->s, &s->remote);
	s->qsize = udg_socket_get_send_queue_size(c->s);
	s->qcount = udg_socket_get_send_queue_count(c->s);
}

static void assert_unchanged(const struct row *r, const struct snapshot *a,
			     const struct snapshot *b)
{
	cr_assert_eq(a->addr_rc, b->addr_rc, "%s: address() went from %d to %d", r->name,
		     a->addr_rc, b->addr_rc);
	cr_assert_str_eq(a->addr.address, b->addr.address, "%s: the local address changed",
			 r->name);
	cr_assert_eq(a->addr.port, b->addr.port, "%s: the local port changed", r->name);
	cr_assert_eq(a->remote_rc, b->remote_rc, "%s: remoteAddress() went from %d to %d", r->name,
		     a->remote_rc, b->remote_rc);
	cr_assert_eq(a->remote.port, b->remote.port, "%s: the peer changed", r->name);
	cr_assert_eq(b->qsize, 0, "%s: %zu bytes queued", r->name, b->qsize);
	cr_assert_eq(b->qcount, 0, "%s: %zu sends queued", r->name, b->qcount);
}

static void teardown(struct ctx *c, enum fixture f)
{
	if (c->s && f != FIX_CLOSED)
		cr_assert_eq(udg_socket_close(c->s, NULL, NULL), 0);
	cr_assert_geq(udg_loop_run(c->loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(c->loop), 0);
	if (c->peer_fd >= 0)
		close(c->peer_fd);
}

static void free_indexes(struct criterion_test_params *p)
{
	cr_free(p->params);
}

/* Rows are passed by index: Criterion runs each in a fresh worker process, where pointers
 * inside a copied parameter would not be valid. */
ParameterizedTestParameters(bad_input, every_row_returns_its_code_and_changes_nothing)
{
	size_t n = sizeof(rows) / sizeof(rows[0]);
	int *idx = cr_malloc(n * sizeof(*idx));
	for (size_t i = 0; i < n; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, n, free_indexes);
}

ParameterizedTest(int *index, bad_input, every_row_returns_its_code_and_changes_nothing)
{
	const struct row *r = &rows[*index];
	struct ctx c;
	struct snapshot before, after;

	setup(&c, r->fix);
	snap(&c, &before);
	errno = 4242;
	if (getenv("BAD_INPUT_TRACE"))
		fprintf(stderr, "row %s [%s]\n", r->name, fixture_name(r->fix));
	int got = r->call(&c);
	cr_assert_eq(errno, 4242, "%s [%s]: errno changed to %d", r->name, fixture_name(r->fix),
		     errno);
	cr_assert_eq(got, r->expect, "%s [%s]: returned %d (%s), expected %d (%s)", r->name,
		     fixture_name(r->fix), got, udg_err_name(got), r->expect,
		     udg_err_name(r->expect));
	cr_assert_eq(c.callbacks, 0, "%s: a callback ran inside the call", r->name);
	snap(&c, &after);
	assert_unchanged(r, &before, &after);
	if (r->fix == FIX_CLOSED) {
		/* Its pending 'close' frees the socket on the next iteration: nothing more to
		 * look at, but the loop must still wind down to 0. */
		teardown(&c, r->fix);
		cr_assert_eq(c.callbacks, 0, "%s: a callback ran after the call", r->name);
		return;
	}
	/* Let anything the call might have queued happen. */
	/* A lookup row waits for a worker thread and maybe a DNS server: up to 10 s. */
	for (int i = 0; i < 10000 && c.async_calls < (r->async ? 1 : 0); i++) {
		settle(&c, 1);
		if (i >= 200 && c.async_calls == 0)
			usleep(1000);
	}
	settle(&c, 3);
	snap(&c, &after);
	if (r->async) {
		cr_assert_eq(c.async_calls, 1, "%s: %d callbacks, expected exactly one", r->name,
			     c.async_calls);
		if (r->async_expect == LOOKUP_FAILS)
			cr_assert(c.last_status == UDG_ERR_ENOTFOUND ||
					  c.last_status == UDG_ERR_EAI_AGAIN,
				  "%s: reported %d (%s), expected a failed lookup", r->name,
				  c.last_status, udg_err_name(c.last_status));
		else
			cr_assert_eq(c.last_status, r->async_expect,
				     "%s: reported %d (%s), expected %d", r->name, c.last_status,
				     udg_err_name(c.last_status), r->async_expect);
		cr_assert_eq(c.callbacks, 1, "%s: other callbacks ran", r->name);
	} else {
		cr_assert_eq(c.callbacks, 0, "%s: a callback ran after the call", r->name);
	}
	assert_unchanged(r, &before, &after);
	teardown(&c, r->fix);
}
