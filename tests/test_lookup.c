/* tests/test_lookup.c — the `lookup` option (a custom resolver) and the built-in resolver as the
 * socket uses them: consulted for bind, connect and every unconnected send, literals and the
 * implicit bind's wildcard included; answers delivered later even when given at once; resolver
 * errors passed on unchanged; closes that race a pending lookup.
 * Real sockets on 127.0.0.1/::1, ephemeral ports; the only host name resolved is "localhost". */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "udg.h"
#include "support.h"

/* A scripted resolver: echoes literals, maps one name, fails another, and either answers inside
 * the call or holds the requests for answer_held(). Records every call. */
#define MAX_CALLS 16
struct resolver {
	int calls;
	char host[MAX_CALLS][64];
	int family[MAX_CALLS];
	bool hold;
	udg_lookup_req *held[MAX_CALLS];
	int held_call[MAX_CALLS];
	int nheld;
	const char *map_host, *map_to;
	const char *fail_host;
	int fail_code;
	bool in_call; /* set while inside the lookup function */
};

static void answer(struct resolver *r, udg_lookup_req *req, const char *host)
{
	if (r->fail_host && strcmp(host, r->fail_host) == 0)
		cr_assert_eq(udg_lookup_done(req, r->fail_code, NULL), 0);
	else if (r->map_host && strcmp(host, r->map_host) == 0)
		cr_assert_eq(udg_lookup_done(req, 0, r->map_to), 0);
	else
		cr_assert_eq(udg_lookup_done(req, 0, host), 0);
}

static void lookup_fn(udg_lookup_req *req, const char *host, int family, void *user)
{
	struct resolver *r = user;
	cr_assert_lt(r->calls, MAX_CALLS);
	cr_assert_not_null(host);
	cr_assert_neq(host[0], '\0', "the default host is filled in");
	snprintf(r->host[r->calls], sizeof(r->host[0]), "%s", host);
	r->family[r->calls] = family;
	if (r->hold) {
		r->held[r->nheld] = req;
		r->held_call[r->nheld++] = r->calls;
	} else {
		r->in_call = true;
		answer(r, req, host);
		r->in_call = false;
	}
	r->calls++;
}

static void answer_held(struct resolver *r)
{
	int n = r->nheld;
	r->nheld = 0;
	for (int i = 0; i < n; i++)
		answer(r, r->held[i], r->host[r->held_call[i]]);
}

static void answer_held_post(void *arg)
{
	answer_held(arg);
}

/* A recorded socket whose lookups go to the scripted resolver r (NULL: the built-in one). */
static udg_socket *lookup_socket(udg_loop *loop, udg_socket_type type, struct ev *e,
				 struct resolver *r)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	if (r) {
		o.lookup = lookup_fn;
		o.lookup_user = r;
	}
	return new_socket_opts(loop, &o, e);
}

Test(lookup, is_consulted_for_an_explicit_bind_even_for_a_literal)
{
	udg_loop *loop = new_loop();
	struct resolver r = { 0 };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_str_eq(r.host[0], "127.0.0.1");
	cr_assert_eq(r.family[0], 4);
	cr_assert_eq(e.listening, 0, "answered inside the call, yet nothing happened yet");
	RUN_UNTIL(loop, e.listening == 1);
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), 0);
	cr_assert_str_eq(a.address, "127.0.0.1");
	cr_assert_eq(r.calls, 1);
	close_all(loop, &s, 1);
}

Test(lookup, is_consulted_for_the_implicit_bind_wildcard_and_every_unconnected_send)
{
	udg_loop *loop = new_loop();
	struct resolver r = { 0 };
	struct ev es = { 0 }, er = { 0 };
	udg_socket *s[2] = { lookup_socket(loop, UDG_UDP6, &es, &r),
			     lookup_socket(loop, UDG_UDP6, &er, NULL) };
	int port = bind_port(s[1], "::1");

	cr_assert_eq(udg_socket_send(s[0], "a", 1, port, "::1", sent_cb, &es), 0);
	cr_assert_eq(udg_socket_send(s[0], "b", 1, port, "::1", sent_cb, &es), 0);
	cr_assert_eq(udg_socket_send(s[0], "c", 1, port, NULL, sent_cb, &es), 0);
	cr_assert_eq(es.sent, 0, "callbacks never run inside send()");
	RUN_UNTIL(loop, es.sent == 3 && er.message == 3);
	cr_assert_eq(r.calls, 4);
	cr_assert_str_eq(r.host[0], "::", "the implicit bind's wildcard");
	cr_assert_str_eq(r.host[1], "::1");
	cr_assert_str_eq(r.host[2], "::1", "every send, even to the same literal");
	cr_assert_str_eq(r.host[3], "::1", "no address: the default host");
	for (int i = 0; i < 4; i++)
		cr_assert_eq(r.family[i], 6);
	cr_assert_eq(es.sent_status, 0);
	cr_assert_eq(es.listening, 1);
	cr_assert_lt(es.listening_at, es.sent_at);
	cr_assert_eq(er.payload[0], 'c', "in order");
	close_all(loop, s, 2);
}

Test(lookup, is_consulted_for_connect_but_not_for_connected_sends)
{
	udg_loop *loop = new_loop();
	struct resolver r = { 0 };
	struct ev ec = { 0 }, ep = { 0 };
	udg_socket *s[2] = { lookup_socket(loop, UDG_UDP4, &ec, &r),
			     lookup_socket(loop, UDG_UDP4, &ep, NULL) };
	int port = bind_port(s[1], "127.0.0.1");

	cr_assert_eq(udg_socket_bind(s[0], 0, "127.0.0.1", NULL, NULL), 0);
	RUN_UNTIL(loop, ec.listening == 1);
	cr_assert_eq(udg_socket_connect(s[0], port, "127.0.0.1", status_cb, &ec), 0);
	cr_assert_eq(r.calls, 2);
	cr_assert_str_eq(r.host[1], "127.0.0.1");
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.cb_status, 0);
	cr_assert_eq(udg_socket_send(s[0], "one", 3, 0, NULL, sent_cb, &ec), 0);
	cr_assert_eq(udg_socket_send(s[0], "two", 3, 0, NULL, sent_cb, &ec), 0);
	RUN_UNTIL(loop, ec.sent == 2 && ep.message == 2);
	cr_assert_eq(r.calls, 2, "connected sends skip the resolver");
	close_all(loop, s, 2);
}

Test(lookup, connect_on_an_unbound_socket_asks_for_the_wildcard_then_the_peer)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .map_host = "peer.test", .map_to = "127.0.0.1" };
	struct ev ec = { 0 }, ep = { 0 };
	udg_socket *s[2] = { lookup_socket(loop, UDG_UDP4, &ec, &r),
			     lookup_socket(loop, UDG_UDP4, &ep, NULL) };
	int port = bind_port(s[1], "127.0.0.1");
	udg_address a;

	cr_assert_eq(udg_socket_connect(s[0], port, "peer.test", status_cb, &ec), 0);
	RUN_UNTIL(loop, ec.cb == 1);
	cr_assert_eq(ec.cb_status, 0, "%s", udg_err_name(ec.cb_status));
	cr_assert_eq(r.calls, 2);
	cr_assert_str_eq(r.host[0], "0.0.0.0");
	cr_assert_str_eq(r.host[1], "peer.test");
	cr_assert_eq(udg_socket_remote_address(s[0], &a), 0);
	cr_assert_str_eq(a.address, "127.0.0.1");
	cr_assert_eq(a.port, port);
	close_all(loop, s, 2);
}

static void answer_from_timer(udg_timer *t, void *user)
{
	answer_held(user);
	udg_timer_free(t);
}

Test(lookup, an_answer_given_on_a_later_iteration_is_used)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .hold = true };
	struct ev es = { 0 }, er = { 0 };
	udg_socket *s[2] = { lookup_socket(loop, UDG_UDP4, &es, &r),
			     lookup_socket(loop, UDG_UDP4, &er, NULL) };
	int port = bind_port(s[1], "127.0.0.1");
	udg_timer *t;

	cr_assert_eq(udg_socket_send(s[0], "late", 4, port, NULL, sent_cb, &es), 0);
	cr_assert_eq(r.nheld, 2);
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 20000000, 0, answer_from_timer, &r), 0);
	RUN_UNTIL(loop, es.sent == 1 && er.message == 1);
	cr_assert_eq(es.sent_status, 0);
	cr_assert_eq(es.listening, 1);
	cr_assert_eq(memcmp(er.payload, "late", 4), 0);
	close_all(loop, s, 2);
}

Test(lookup, send_errors_reach_the_callback_unchanged)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .fail_host = "nowhere.test", .fail_code = UDG_ERR_ENOTFOUND };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "nowhere.test", sent_cb, &e), 0);
	RUN_UNTIL(loop, e.sent == 1);
	cr_assert_eq(e.sent_status, UDG_ERR_ENOTFOUND, "%s", udg_err_name(e.sent_status));
	r.fail_code = -EHOSTUNREACH; /* any code, even a plain errno, is passed as it is */
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "nowhere.test", sent_cb, &e), 0);
	RUN_UNTIL(loop, e.sent == 2);
	cr_assert_eq(e.sent_status, -EHOSTUNREACH);
	cr_assert_eq(e.error, 0, "with a callback there is no 'error'");
	close_all(loop, &s, 1);
}

Test(lookup, a_send_error_without_a_callback_is_an_error_event)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .fail_host = "nowhere.test", .fail_code = UDG_ERR_EAI_AGAIN };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP6, &e, &r);

	cr_assert_eq(udg_socket_bind(s, 0, "::1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "nowhere.test", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, UDG_ERR_EAI_AGAIN);
	cr_assert_str_eq(e.err_syscall, "getaddrinfo");
	close_all(loop, &s, 1);
}

Test(lookup, a_bind_lookup_error_is_an_error_event_and_the_socket_can_bind_again)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .fail_host = "nowhere.test", .fail_code = UDG_ERR_ENOTFOUND };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_bind(s, 0, "nowhere.test", status_cb, &e), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, UDG_ERR_ENOTFOUND);
	cr_assert_eq(e.listening, 0);
	cr_assert_eq(e.cb, 0, "the bind callback runs on success only");
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", status_cb, &e), 0);
	RUN_UNTIL(loop, e.cb == 1);
	cr_assert_eq(e.listening, 1);
	close_all(loop, &s, 1);
}

Test(lookup, a_connect_lookup_error_reaches_the_callback_or_the_error_event)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .fail_host = "nowhere.test", .fail_code = UDG_ERR_ENOTFOUND };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);
	udg_address a;

	cr_assert_eq(udg_socket_connect(s, 9, "nowhere.test", status_cb, &e), 0);
	RUN_UNTIL(loop, e.cb == 1);
	cr_assert_eq(e.cb_status, UDG_ERR_ENOTFOUND);
	cr_assert_eq(e.error + e.connect, 0);
	cr_assert_eq(udg_socket_remote_address(s, &a), UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED);
	cr_assert_eq(udg_socket_connect(s, 9, "nowhere.test", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, UDG_ERR_ENOTFOUND);
	cr_assert_str_eq(e.err_syscall, "getaddrinfo", "the resolver failed, not connect(2)");
	cr_assert_eq(e.cb, 1);
	close_all(loop, &s, 1);
}

Test(lookup, an_implicit_bind_lookup_error_is_an_error_event)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .fail_host = "0.0.0.0", .fail_code = -EACCES };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, sent_cb, &e), 0);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1 && e.sent == 1);
	cr_assert_eq(e.err.code, -EACCES);
	cr_assert_eq(e.sent_status, -EACCES, "udg also fails the queued send (Node drops it)");
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	cr_assert_eq(e.error, 1, "one 'error' for the bind, none per send");
	cr_assert_eq(e.listening, 0);
	close_all(loop, &s, 1);
}

Test(lookup, a_non_numeric_answer_is_invalid_arg_value)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .map_host = "127.0.0.1", .map_to = "not-an-address" };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	RUN_UNTIL(loop, e.error == 1);
	cr_assert_eq(e.err.code, UDG_ERR_INVALID_ARG_VALUE, "%s", udg_err_name(e.err.code));
	cr_assert_eq(e.listening, 0);
	close_all(loop, &s, 1);
}

Test(lookup, an_answer_of_the_other_family_fails_the_send_with_einval)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .map_host = "six.test", .map_to = "::1" };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "six.test", sent_cb, &e), 0);
	RUN_UNTIL(loop, e.sent == 1);
	cr_assert_eq(e.sent_status, -EINVAL, "%s", udg_err_name(e.sent_status));
	close_all(loop, &s, 1);
}

Test(lookup, lookup_done_refuses_null_and_a_second_answer)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .hold = true };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_lookup_done(NULL, 0, "127.0.0.1"), -EINVAL);
	cr_assert_eq(udg_socket_bind(s, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(r.nheld, 1);
	udg_lookup_req *req = r.held[0];
	cr_assert_eq(udg_lookup_done(req, 0, "0.0.0.0"), 0);
	cr_assert_eq(udg_lookup_done(req, 0, "0.0.0.0"), -EINVAL, "exactly once");
	RUN_UNTIL(loop, e.listening == 1);
	cr_assert_eq(e.error, 0);
	close_all(loop, &s, 1);
}

Test(lookup, localhost_is_resolved_by_the_builtin_resolver)
{
	udg_loop *loop = new_loop();
	struct ev es = { 0 }, er = { 0 };
	udg_socket *s[2] = { lookup_socket(loop, UDG_UDP4, &es, NULL),
			     lookup_socket(loop, UDG_UDP4, &er, NULL) };
	udg_address a;

	cr_assert_eq(udg_socket_bind(s[1], 0, "localhost", NULL, NULL), 0);
	cr_assert_eq(udg_socket_address(s[1], &a), -EBADF, "not bound until resolved");
	RUN_UNTIL(loop, er.listening == 1);
	cr_assert_eq(udg_socket_address(s[1], &a), 0);
	cr_assert_str_eq(a.address, "127.0.0.1");
	cr_assert_eq(udg_socket_send(s[0], "by name", 7, a.port, "localhost", sent_cb, &es), 0);
	RUN_UNTIL(loop, es.sent == 1 && er.message == 1);
	cr_assert_eq(es.sent_status, 0);
	cr_assert_eq(er.len, 7);
	cr_assert_eq(memcmp(er.payload, "by name", 7), 0);
	close_all(loop, s, 2);
}

Test(lookup, close_while_a_custom_bind_lookup_is_pending_binds_nothing)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .hold = true };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", status_cb, &e), 0);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_post(loop, answer_held_post, &r), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(e.listening, 0, "no bind, no 'listening'");
	cr_assert_eq(e.cb, 0);
	cr_assert_eq(e.error, 0, "no 'error'");
	cr_assert_eq(e.close, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(lookup, close_while_a_custom_bind_lookup_fails_reports_nothing)
{
	udg_loop *loop = new_loop();
	struct resolver r = { .hold = true, .fail_host = "127.0.0.1", .fail_code = -EIO };
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, &r);

	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_post(loop, answer_held_post, &r), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.error, 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(lookup, close_while_a_connect_lookup_is_pending_connects_nothing)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = lookup_socket(loop, UDG_UDP4, &e, NULL);

	cr_assert_eq(udg_socket_connect(s, 9, "localhost", status_cb, &e), 0);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.connect + e.cb + e.error, 0, "as Node: the late result is ignored");
	cr_assert_eq(e.close, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}
