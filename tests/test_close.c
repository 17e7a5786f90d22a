/* tests/test_close.c — close() as Node has it, with udg's documented order: 'close' once and
 * from the loop, NOT_RUNNING for every later call, no 'message' once close() returned, every
 * accepted send called back exactly once before 'close', and closes that race a pending bind or
 * lookup. Real sockets on 127.0.0.1/::1, ephemeral ports only. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "udg.h"
#include "support.h"

/* after_message: close the socket inside its first 'message', and e->ctx (a socket, or NULL)
 * with it. */
static void close_on_first_message(udg_socket *s, struct ev *e)
{
	if (e->message != 1)
		return;
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	if (e->ctx)
		cr_assert_eq(udg_socket_close(e->ctx, NULL, NULL), 0);
}

/* after_listening: close the socket inside 'listening'. */
static void close_in_listening(udg_socket *s, struct ev *e)
{
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
}

Test(close, closing_twice_is_not_running)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	bind_port(s, "127.0.0.1");

	cr_assert_eq(udg_socket_close(s, close_cb, &e), 0);
	cr_assert_eq(udg_socket_close(s, close_cb, &e), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_close(NULL, NULL, NULL), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.close_cb, 1, "the refused close attached nothing");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, close_fires_once_from_the_loop_and_then_the_callback)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);
	bind_port(s, "::1");

	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	cr_assert_eq(e.listening, 1);
	cr_assert_eq(udg_socket_close(s, close_cb, &e), 0);
	cr_assert_eq(e.close + e.close_cb, 0, "never inside close()");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.close_cb, 1);
	cr_assert_lt(e.close_at, e.close_cb_at);
	cr_assert_eq(e.error, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, a_never_bound_socket_closes_from_the_loop)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_close(s, close_cb, &e), 0);
	cr_assert_eq(e.close, 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.close_cb, 1);
	cr_assert_eq(e.listening, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, every_call_after_close_is_not_running)
{
	udg_loop *loop = new_loop();
	struct ev ep = { 0 }, e = { 0 };
	udg_socket *peer = new_socket(loop, UDG_UDP4, &ep);
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	int port = bind_port(peer, "127.0.0.1");
	bind_port(s, "127.0.0.1");
	cr_assert_eq(udg_socket_connect(s, port, NULL, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	const int nr = UDG_ERR_SOCKET_DGRAM_NOT_RUNNING;
	udg_address a;
	uint32_t v;
	udg_buf b = { "x", 1 };
	udg_bind_options bo;
	udg_bind_options_init(&bo);

	/* rule 55: what Node's healthCheck guards */
	cr_expect_eq(udg_socket_address(s, &a), nr);
	cr_expect_eq(udg_socket_remote_address(s, &a), nr);
	cr_expect_eq(udg_socket_bind(s, 0, NULL, NULL, NULL), nr);
	cr_expect_eq(udg_socket_bind_ex(s, &bo, NULL, NULL), nr);
	cr_expect_eq(udg_socket_send(s, "x", 1, 0, NULL, NULL, NULL), nr);
	cr_expect_eq(udg_socket_send_range(s, "xy", 2, 1, 1, 0, NULL, NULL, NULL), nr);
	cr_expect_eq(udg_socket_sendv(s, &b, 1, 0, NULL, NULL, NULL), nr);
	/* Node's order: the connected-form check comes before the running check */
	cr_expect_eq(udg_socket_send(s, "x", 1, port, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_expect_eq(udg_socket_close(s, NULL, NULL), nr);
	cr_expect_eq(udg_socket_connect(s, port, NULL, NULL, NULL), nr);
	cr_expect_eq(udg_socket_set_multicast_interface(s, "127.0.0.1"), nr);
	cr_expect_eq(udg_socket_add_membership(s, "239.1.2.3", NULL), nr);
	cr_expect_eq(udg_socket_drop_membership(s, "239.1.2.3", NULL), nr);
	cr_expect_eq(udg_socket_add_source_specific_membership(s, "127.0.0.1", "232.1.2.3", NULL),
		     nr);
	cr_expect_eq(udg_socket_drop_source_specific_membership(s, "127.0.0.1", "232.1.2.3", NULL),
		     nr);
	/* section 2M: where Node throws a plain TypeError, udg says NOT_RUNNING uniformly */
	cr_expect_eq(udg_socket_disconnect(s), nr);
	cr_expect_eq(udg_socket_set_broadcast(s, true), nr);
	cr_expect_eq(udg_socket_set_ttl(s, 64), nr);
	cr_expect_eq(udg_socket_set_multicast_ttl(s, 1), nr);
	cr_expect_eq(udg_socket_set_multicast_loopback(s, true), nr);
	cr_expect_eq(udg_socket_get_recv_buffer_size(s, &v), nr);
	cr_expect_eq(udg_socket_get_send_buffer_size(s, &v), nr);
	cr_expect_eq(udg_socket_set_recv_buffer_size(s, 65536), nr);
	cr_expect_eq(udg_socket_set_send_buffer_size(s, 65536), nr);
	cr_expect_eq(udg_socket_get_send_queue_size(s), 0);
	cr_expect_eq(udg_socket_get_send_queue_count(s), 0);
	/* ref/unref are silent no-ops, as Node's return the socket */
	udg_socket_ref(s);
	udg_socket_unref(s);
	cr_assert_eq(udg_socket_close(peer, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(ep.close, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, a_never_bound_closed_socket_refuses_connect_and_send)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);

	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_socket_connect(s, 9, NULL, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_add_membership(s, "ff02::1", NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.listening, 0, "nothing was bound on the way");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, no_message_is_delivered_after_close_returns)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket *r = new_socket(loop, UDG_UDP4, &er);
	udg_socket *s = new_socket(loop, UDG_UDP4, &es);
	int port = bind_port(r, "127.0.0.1");
	er.after_message = close_on_first_message;
	er.ctx = s;

	/* all ten are sent in one iteration, so more are queued when the first is delivered */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(udg_socket_send(s, "0123456789", 10, port, NULL, sent_cb, &es), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(er.message, 1, "closed inside the first 'message'");
	cr_assert_eq(er.close, 1);
	cr_assert_eq(es.close, 1);
	cr_assert_eq(es.sent, 10, "every send called back");
	cr_assert_eq(es.sent_when_closed, 10, "before 'close'");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, every_send_in_flight_calls_back_once_before_close, .timeout = 30)
{
	udg_loop *loop = new_loop();
	struct ev er = { 0 }, es = { 0 };
	udg_socket *r = new_socket(loop, UDG_UDP4, &er);
	udg_socket *s = new_socket(loop, UDG_UDP4, &es);
	int port = bind_port(r, "127.0.0.1");
	bind_port(s, "127.0.0.1");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	cr_assert_eq(es.listening, 1, "sends before 'listening' would wait in the socket's queue");
	static unsigned char payload[100];

	enum { N = 1000 };
	for (int i = 0; i < N; i++)
		cr_assert_eq(udg_socket_send(s, payload, sizeof(payload), port, NULL, sent_cb, &es),
			     0);
	cr_assert_eq(udg_socket_get_send_queue_count(s), N, "all handed to the kernel path");
	cr_assert_eq(udg_socket_close(s, close_cb, &es), 0);
	cr_assert_eq(es.sent, 0, "no callback inside close()");
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0, "a closed socket reports 0");
	cr_assert_eq(udg_socket_get_send_queue_size(s), 0);
	/* the receiver stays open meanwhile: datagrams to a closed port would draw ICMP errors,
	 * which the kernel rate-limits for every test running at the same time */
	while (es.close == 0)
		cr_assert_eq(udg_loop_run(loop, UDG_RUN_ONCE), 1);
	cr_assert_eq(udg_socket_close(r, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(es.sent, N, "every callback exactly once");
	cr_assert_eq(es.sent_ok + es.sent_cancelled, N, "0 or -ECANCELED only (%d other)",
		     es.sent_other);
	cr_assert_eq(es.close, 1);
	cr_assert_eq(es.sent_when_closed, N, "udg's order: every send callback, then 'close'");
	cr_assert_lt(es.sent_at, es.close_at);
	cr_assert_eq(es.close_cb, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* A resolver that holds every request until the test answers them all from a post. */
struct held {
	udg_lookup_req *req[8];
	char host[8][64];
	int n;
	int answered;
};

static void hold_lookup(udg_lookup_req *req, const char *host, int family, void *user)
{
	struct held *h = user;
	cr_assert_lt(h->n, 8);
	snprintf(h->host[h->n], sizeof(h->host[0]), "%s", host);
	h->req[h->n++] = req;
}

static void answer_all(void *arg)
{
	struct held *h = arg;
	for (int i = 0; i < h->n; i++)
		cr_assert_eq(udg_lookup_done(h->req[i], 0, h->host[i]), 0); /* all literals */
	h->answered = h->n;
}

Test(close, close_while_the_implicit_bind_waits_for_a_lookup)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	struct held h = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.lookup = hold_lookup;
	o.lookup_user = &h;
	udg_socket *s = new_socket_opts(loop, &o, &e);

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "127.0.0.1", sent_cb, &e), 0);
	cr_assert_eq(udg_socket_send(s, "y", 1, 9, NULL, sent_cb, &e), 0);
	cr_assert_eq(h.n, 3, "the implicit bind's lookup, then one per send");
	cr_assert_str_eq(h.host[0], "0.0.0.0");
	cr_assert_eq(udg_socket_close(s, close_cb, &e), 0);
	/* the resolver answers after the close; the socket must wait for it */
	cr_assert_eq(udg_loop_post(loop, answer_all, &h), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(h.answered, 3);
	cr_assert_eq(e.listening, 0, "no bind after close");
	cr_assert_eq(e.error, 0);
	cr_assert_eq(e.sent, 2, "each queued send called back once");
	cr_assert_eq(e.sent_cancelled, 2);
	cr_assert_eq(e.sent_when_closed, 2, "before 'close'");
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.close_cb, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, close_while_a_send_resolves_a_hostname)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "localhost", sent_cb, &e), 0);
	cr_assert_eq(udg_socket_send(s, "y", 1, 9, "127.0.0.1", sent_cb, &e), 0,
		     "waits behind the first to keep the order");
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.sent, 2);
	cr_assert_eq(e.sent_cancelled, 2);
	cr_assert_eq(e.sent_when_closed, 2);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.error, 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, close_while_a_hostname_bind_resolves_binds_nothing)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);

	cr_assert_eq(udg_socket_bind(s, 0, "localhost", NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(s, close_cb, &e), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.listening, 0);
	cr_assert_eq(e.error, 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.close_cb, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(close, close_from_the_listening_handler)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);
	e.after_listening = close_in_listening;

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, sent_cb, &e), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.listening, 1);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.sent, 1, "the send accepted before the close still calls back");
	cr_assert_eq(e.sent_when_closed, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

static void close_on_error(udg_socket *s, const udg_error_info *err, void *user)
{
	struct ev *e = user;
	e->error++;
	cr_assert_eq(udg_socket_close(s, close_cb, e), 0);
}

Test(close, close_from_the_error_handler_of_a_failed_bind)
{
	udg_loop *loop = new_loop();
	struct ev ea = { 0 }, eb = { 0 };
	udg_socket *a = new_socket(loop, UDG_UDP4, &ea);
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	udg_socket *b = new_socket_opts(loop, &o, &eb);
	int port = bind_port(a, "127.0.0.1");
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_error = close_on_error;
	o.on_close = on_close;
	o.user = &eb;
	cr_assert_eq(udg_socket_close(b, NULL, NULL), 0);
	cr_assert_eq(udg_socket_new(loop, &o, &b), 0);

	cr_assert_eq(udg_socket_bind(b, port, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(a, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(eb.error, 1);
	cr_assert_eq(eb.close, 2, "the first b closed unused, the second from its 'error'");
	cr_assert_eq(eb.close_cb, 1);
	cr_assert_eq(ea.close, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}
