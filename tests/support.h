/* tests/support.h — the scaffolding the Criterion socket tests share: loops that skip where
 * io_uring is missing, ephemeral binds, RUN_UNTIL, close_all, and one event recorder (struct ev)
 * that new_socket() wires into a socket. Test code only: never linked into the library, and it
 * never hides an assertion a test makes (each test still states what it checks). */
#ifndef UDG_TESTS_SUPPORT_H
#define UDG_TESTS_SUPPORT_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "udg.h"

/* ---- Loops and sockets ------------------------------------------------------------------- */

/* A new loop with options o (NULL: the defaults). Skips the test when io_uring is unavailable
 * or the kernel is too old; any other failure fails it. */
udg_loop *new_loop_opts(const udg_loop_options *o);

/* new_loop_opts(NULL). */
udg_loop *new_loop(void);

/* Binds s to port 0 on address (NULL: the wildcard) and returns the ephemeral port it got. */
int bind_port(udg_socket *s, const char *address);

/* The address a bound socket receives on (getsockname of its fd); returns its length. */
socklen_t local_addr(udg_socket *s, struct sockaddr_storage *out);

/* Closes the n sockets, runs the loop until nothing is alive, then frees the loop: the usual
 * last line of a test, so every test ends with udg_loop_close(loop) == 0. */
void close_all(udg_loop *loop, udg_socket **socks, size_t n);

/* What the system resolver answers for a name that does not exist: ENOTFOUND, or EAI_AGAIN
 * where no DNS server answers at all. */
#define LOOKUP_FAILED(code) ((code) == UDG_ERR_ENOTFOUND || (code) == UDG_ERR_EAI_AGAIN)

/* RUN_UNTIL's waking timer callback: does nothing, the wakeup is the point. */
void run_until_wake_up(udg_timer *t, void *user);

/* Runs loop ONCE at a time until cond holds. A 10 ms repeating timer keeps each run short, and
 * 500 runs (about 5 s) is the limit, so a broken engine fails the test instead of hanging it. */
#define RUN_UNTIL(loop, cond)                                                                      \
	do {                                                                                       \
		udg_timer *t_;                                                                     \
		cr_assert_eq(udg_timer_new((loop), &t_), 0);                                       \
		cr_assert_eq(udg_timer_start(t_, 10000000, 10000000, run_until_wake_up, NULL), 0); \
		for (int i_ = 0; i_ < 500 && !(cond); i_++)                                        \
			cr_assert_geq(udg_loop_run((loop), UDG_RUN_ONCE), 0);                      \
		udg_timer_free(t_);                                                                \
		cr_assert((cond), "timed out waiting for " #cond);                                 \
	} while (0)

/* ---- The event recorder ------------------------------------------------------------------ */

/* Bytes of each payload kept: the default receive buffer size, so a default loop's datagram is
 * never cut short in the copy. */
#define EV_PAYLOAD_MAX 2048

/* What one socket's handlers and callbacks saw. Zero it, then give it to new_socket(). Every
 * recorded event takes a stamp ++seq into its *_at field, so tests compare the order of events
 * (stamps are only ever compared, never counted). Strings and addresses are copies: the
 * callbacks' own pointers are only lent for the call. */
struct ev {
	udg_loop *loop; /* set by new_socket() */
	int seq;

	/* events */
	int listening, listening_at;
	int connect, connect_at;
	int error;
	int message;
	int close, close_at;

	/* completion callbacks given to calls */
	int cb, cb_at, cb_status;       /* status_cb (bind or connect) */
	int bound, bound_at;            /* bound_cb (a bind that must succeed) */
	int close_cb, close_cb_at;      /* close_cb (close or dispose) */
	int sent, sent_at, sent_status; /* sent_cb and sent_ok_cb, sent_at the last one */
	size_t sent_bytes;
	int sent_ok, sent_cancelled, sent_other; /* by status: 0, -ECANCELED, anything else */
	int sent_when_closed;                    /* sent when 'close' fired */

	/* what the last 'listening' saw */
	udg_address in_listening; /* address() in the handler */
	int address_rc;
	uint32_t rcvbuf; /* the receive buffer size in the handler */
	int rcvbuf_rc;

	/* the last 'error'; err.address and err.syscall point at the copies below (or are NULL) */
	udg_error_info err;
	char err_address[UDG_ADDRSTRLEN];
	char err_syscall[16];
	bool err_has_address;

	/* the last 'message'; rinfo.addr points at from_addr */
	size_t len, total; /* total: the bytes of every message */
	char payload[EV_PAYLOAD_MAX];
	udg_rinfo rinfo;
	struct sockaddr_storage from_addr;
	char from[UDG_ADDRSTRLEN];
	char from_family[8];
	int from_port;
	/* 4-byte messages carry a uint32_t sequence from 0: in_order stays true while it counts up
	 */
	bool in_order;
	uint32_t next_seq;

	/* a test's own reaction, called after the event was recorded (NULL: none), with ctx for
	 * its own data */
	void (*after_listening)(udg_socket *s, struct ev *e);
	void (*after_error)(udg_socket *s, struct ev *e);
	void (*after_message)(udg_socket *s, struct ev *e);
	void *ctx;
};

/* Event handlers: count, stamp, copy, then call the test's after_* reaction. user is the ev.
 * on_listening also asserts that address() works inside 'listening'. */
void on_listening(udg_socket *s, void *user);
void on_connect(udg_socket *s, void *user);
void on_error(udg_socket *s, const udg_error_info *err, void *user);
void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user);
void on_close(udg_socket *s, void *user);

/* A bind or connect callback: counts cb, stamps cb_at, keeps the status. */
void status_cb(udg_socket *s, int status, void *user);

/* A bind callback for a bind that must succeed: asserts status 0, counts bound, stamps
 * bound_at. */
void bound_cb(udg_socket *s, int status, void *user);

/* A close or dispose callback: counts close_cb, stamps close_cb_at. */
void close_cb(udg_socket *s, void *user);

/* A send callback: counts sent and sent_ok/sent_cancelled/sent_other, stamps sent_at, keeps
 * the status and the byte count. */
void sent_cb(udg_socket *s, int status, size_t bytes, void *user);

/* sent_cb for a send that must succeed: asserts status 0 first. */
void sent_ok_cb(udg_socket *s, int status, size_t bytes, void *user);

/* A socket made from the caller's options o with the ev handlers above wired to e (o's other
 * fields, such as lookup or signal, are kept). Sets e->loop and e->in_order. */
udg_socket *new_socket_opts(udg_loop *loop, udg_socket_options *o, struct ev *e);

/* new_socket_opts() with the default options of type. */
udg_socket *new_socket(udg_loop *loop, udg_socket_type type, struct ev *e);

#endif
