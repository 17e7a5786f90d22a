/* tests/support.c — the shared test scaffolding declared in tests/support.h: loop and socket
 * helpers and the struct ev recorder's handlers. Linked into every unit test program; it must
 * never decide a test's outcome beyond the few assertions support.h documents. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

udg_loop *new_loop_opts(const udg_loop_options *o)
{
	udg_loop *loop = NULL;
	int r = udg_loop_new(o, &loop);
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("%s", udg_strerror(r));
	cr_assert_eq(r, 0, "udg_loop_new: %s", udg_strerror(r));
	return loop;
}

udg_loop *new_loop(void)
{
	return new_loop_opts(NULL);
}

int bind_port(udg_socket *s, const char *address)
{
	udg_address a;
	cr_assert_eq(udg_socket_bind(s, 0, address, NULL, NULL), 0);
	cr_assert_eq(udg_socket_address(s, &a), 0);
	return a.port;
}

void close_all(udg_loop *loop, udg_socket **socks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(udg_socket_close(socks[i], NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

void run_until_wake_up(udg_timer *t, void *user)
{
}

/* ---- The event recorder ------------------------------------------------------------------ */

void on_listening(udg_socket *s, void *user)
{
	struct ev *e = user;
	e->listening++;
	e->listening_at = ++e->seq;
	e->address_rc = udg_socket_address(s, &e->in_listening);
	cr_assert_eq(e->address_rc, 0, "address() works in 'listening'");
	e->rcvbuf_rc = udg_socket_get_recv_buffer_size(s, &e->rcvbuf);
	if (e->after_listening)
		e->after_listening(s, e);
}

void on_connect(udg_socket *s, void *user)
{
	struct ev *e = user;
	e->connect++;
	e->connect_at = ++e->seq;
}

void on_error(udg_socket *s, const udg_error_info *err, void *user)
{
	struct ev *e = user;
	e->error++;
	e->err = *err;
	e->err_has_address = err->address != NULL;
	snprintf(e->err_address, sizeof(e->err_address), "%s", err->address ? err->address : "");
	snprintf(e->err_syscall, sizeof(e->err_syscall), "%s", err->syscall ? err->syscall : "");
	e->err.address = err->address ? e->err_address : NULL;
	e->err.syscall = err->syscall ? e->err_syscall : NULL;
	if (e->after_error)
		e->after_error(s, e);
}

/* Copies the sender's address so that rinfo stays usable after the callback. */
static void keep_rinfo(struct ev *e, const udg_rinfo *ri)
{
	socklen_t n = ri->addrlen < sizeof(e->from_addr) ? ri->addrlen : sizeof(e->from_addr);
	memcpy(&e->from_addr, ri->addr, n);
	e->rinfo = *ri;
	e->rinfo.addr = (const struct sockaddr *)&e->from_addr;
	e->from_port = ri->port;
	cr_assert_geq(udg_format_address(ri->addr, ri->addrlen, e->from, sizeof(e->from)), 0);
	snprintf(e->from_family, sizeof(e->from_family), "%s", udg_family_name(ri->addr));
}

void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	struct ev *e = user;
	e->message++;
	e->len = len;
	e->total += len;
	memcpy(e->payload, data, len < sizeof(e->payload) ? len : sizeof(e->payload));
	keep_rinfo(e, ri);
	if (len == 4) {
		uint32_t seq;
		memcpy(&seq, data, 4);
		if (seq != e->next_seq)
			e->in_order = false;
		e->next_seq = seq + 1;
	}
	if (e->after_message)
		e->after_message(s, e);
}

void on_close(udg_socket *s, void *user)
{
	struct ev *e = user;
	e->close++;
	e->close_at = ++e->seq;
	e->sent_when_closed = e->sent;
}

void status_cb(udg_socket *s, int status, void *user)
{
	struct ev *e = user;
	e->cb++;
	e->cb_at = ++e->seq;
	e->cb_status = status;
}

void bound_cb(udg_socket *s, int status, void *user)
{
	struct ev *e = user;
	cr_assert_eq(status, 0, "%s", udg_err_name(status));
	e->bound++;
	e->bound_at = ++e->seq;
}

void close_cb(udg_socket *s, void *user)
{
	struct ev *e = user;
	e->close_cb++;
	e->close_cb_at = ++e->seq;
}

void sent_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	struct ev *e = user;
	e->sent++;
	e->sent_at = ++e->seq;
	e->sent_status = status;
	e->sent_bytes = bytes;
	if (status == 0)
		e->sent_ok++;
	else if (status == -ECANCELED)
		e->sent_cancelled++;
	else
		e->sent_other++;
}

socklen_t local_addr(udg_socket *s, struct sockaddr_storage *out)
{
	socklen_t len = sizeof(*out);
	cr_assert_eq(getsockname(udg_socket_fd(s), (struct sockaddr *)out, &len), 0);
	return len;
}

void sent_ok_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	cr_assert_eq(status, 0, "%s", udg_err_name(status));
	sent_cb(s, status, bytes, user);
}

udg_socket *new_socket_opts(udg_loop *loop, udg_socket_options *o, struct ev *e)
{
	o->on_listening = on_listening;
	o->on_connect = on_connect;
	o->on_error = on_error;
	o->on_message = on_message;
	o->on_close = on_close;
	o->user = e;
	e->loop = loop;
	e->in_order = true;
	udg_socket *s = NULL;
	cr_assert_eq(udg_socket_new(loop, o, &s), 0);
	cr_assert_not_null(s);
	return s;
}

udg_socket *new_socket(udg_loop *loop, udg_socket_type type, struct ev *e)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	return new_socket_opts(loop, &o, e);
}
