/* tests/test_signal.c — Node's options.signal as udg_abort_signal, and [Symbol.asyncDispose] as
 * udg_socket_dispose: an already-aborted signal closes the socket on creation ('close' from the
 * loop), an abort closes every open socket created with it and only those, an abort while
 * binding binds nothing, and dispose closes once with its callback from the loop.
 * Real sockets on 127.0.0.1/::1, ephemeral ports only. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "udg.h"
#include "support.h"

/* after_message: abort e->ctx (a udg_abort_signal) from the first 'message'. */
static void abort_on_first_message(udg_socket *s, struct ev *e)
{
	if (e->message == 1)
		udg_abort_signal_abort(e->ctx);
}

/* A recorded socket created with the abort signal sig. */
static udg_socket *signal_socket(udg_loop *loop, udg_socket_type type, struct ev *e,
				 udg_abort_signal *sig)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.signal = sig;
	return new_socket_opts(loop, &o, e);
}

Test(signal, an_already_aborted_signal_closes_the_socket_on_creation)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig;
	struct ev e = { 0 };
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	cr_assert_not(udg_abort_signal_aborted(sig));
	udg_abort_signal_abort(sig);
	cr_assert(udg_abort_signal_aborted(sig));

	udg_socket *s = signal_socket(loop, UDG_UDP4, &e, sig);
	cr_assert_eq(e.close, 0, "'close' comes from the loop, not from udg_socket_new");
	cr_assert_eq(udg_socket_bind(s, 0, NULL, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.listening + e.error, 0);
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, an_abort_closes_every_open_socket_created_with_it_and_no_other, .timeout = 20)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	struct ev er = { 0 }, es = { 0 }, eu = { 0 }, eo = { 0 };
	udg_socket *r = signal_socket(loop, UDG_UDP4, &er, sig);
	udg_socket *s = signal_socket(loop, UDG_UDP4, &es, sig);
	signal_socket(loop, UDG_UDP6, &eu, sig); /* never bound */
	udg_socket *other = new_socket(loop, UDG_UDP4, &eo);
	int port = bind_port(r, "127.0.0.1");
	bind_port(other, "127.0.0.1");
	er.after_message = abort_on_first_message;
	er.ctx = sig;

	/* aborted mid-flight, from inside the first 'message' */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(udg_socket_send(s, "data", 4, port, NULL, sent_cb, &es), 0);
	while (er.close + es.close + eu.close < 3)
		cr_assert_eq(udg_loop_run(loop, UDG_RUN_ONCE), 1, "the other socket is still open");
	cr_assert_eq(er.message, 1, "no 'message' after the abort closed the receiver");
	cr_assert_eq(er.close, 1);
	cr_assert_eq(es.close, 1);
	cr_assert_eq(es.sent, 5, "every send called back");
	cr_assert_eq(es.sent_when_closed, 5, "before 'close'");
	cr_assert_eq(eu.close, 1, "never bound, closed all the same");
	cr_assert_eq(eo.close, 0);
	cr_assert_eq(udg_socket_send(other, "x", 1, port, NULL, NULL, NULL), 0, "still usable");
	udg_abort_signal_abort(sig); /* twice: nothing more happens */
	cr_assert_eq(udg_socket_close(other, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(eo.close, 1);
	cr_assert_eq(er.close + es.close + eu.close, 3, "each socket closed exactly once");
	cr_assert_eq(er.error + es.error + eu.error + eo.error, 0);
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, an_abort_after_close_does_nothing_more)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	struct ev e = { 0 };
	udg_socket *s = signal_socket(loop, UDG_UDP4, &e, sig);
	bind_port(s, "127.0.0.1");

	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	udg_abort_signal_abort(sig);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, an_abort_while_binding_binds_nothing)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	struct ev e = { 0 };
	udg_socket *s = signal_socket(loop, UDG_UDP4, &e, sig);

	cr_assert_eq(udg_socket_bind(s, 0, "localhost", bound_cb, &e), 0);
	udg_abort_signal_abort(sig);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.listening, 0, "no 'listening'");
	cr_assert_eq(e.bound, 0);
	cr_assert_eq(e.error, 0, "no 'error'");
	cr_assert_eq(e.close, 1);
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, an_abort_with_a_queued_send_cancels_it_before_close)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	struct ev e = { 0 };
	udg_socket *s = signal_socket(loop, UDG_UDP4, &e, sig);

	cr_assert_eq(udg_socket_send(s, "x", 1, 9, "localhost", sent_cb, &e), 0);
	udg_abort_signal_abort(sig);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.sent, 1);
	cr_assert_eq(e.sent_cancelled, 1);
	cr_assert_eq(e.sent_when_closed, 1, "udg's order: the send's callback, then 'close'");
	cr_assert_eq(e.close, 1);
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, a_freed_signal_leaves_its_sockets_open)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	struct ev e = { 0 };
	udg_socket *s = signal_socket(loop, UDG_UDP6, &e, sig);
	bind_port(s, "::1");

	cr_assert_eq(udg_loop_close(loop), -EBUSY, "the signal belongs to the loop too");
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	cr_assert_eq(e.listening, 1);
	cr_assert_eq(e.close, 0);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, signal_calls_refuse_null)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig = NULL;

	cr_assert_eq(udg_abort_signal_new(NULL, &sig), -EINVAL);
	cr_assert_eq(udg_abort_signal_new(loop, NULL), -EINVAL);
	cr_assert_not(udg_abort_signal_aborted(NULL));
	udg_abort_signal_abort(NULL);
	udg_abort_signal_free(NULL);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, dispose_closes_an_open_socket_and_calls_back_from_the_loop)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP4, &e);
	bind_port(s, "127.0.0.1");

	cr_assert_eq(udg_socket_dispose(s, close_cb, &e), 0);
	cr_assert_eq(e.close_cb + e.close, 0, "nothing inside dispose()");
	cr_assert_eq(udg_socket_send(s, "x", 1, 9, NULL, NULL, NULL),
		     UDG_ERR_SOCKET_DGRAM_NOT_RUNNING, "dispose closed it");
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.close_cb, 1);
	cr_assert_lt(e.close_at, e.close_cb_at, "resolves when 'close' fires");
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, dispose_of_a_closing_socket_succeeds_with_the_pending_close)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s = new_socket(loop, UDG_UDP6, &e);
	bind_port(s, "::1");

	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_socket_dispose(s, close_cb, &e), 0, "already closed: succeeds");
	cr_assert_eq(e.close_cb, 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1, "one close only");
	cr_assert_eq(e.close_cb, 1);
	cr_assert_eq(udg_socket_dispose(NULL, close_cb, &e), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(signal, dispose_of_a_socket_closed_by_its_signal_succeeds)
{
	udg_loop *loop = new_loop();
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	udg_abort_signal_abort(sig);
	struct ev e = { 0 };
	udg_socket *s = signal_socket(loop, UDG_UDP4, &e, sig);

	cr_assert_eq(udg_socket_dispose(s, close_cb, &e), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(e.close, 1);
	cr_assert_eq(e.close_cb, 1);
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_close(loop), 0);
}
