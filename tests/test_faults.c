/* tests/test_faults.c — the engine under the conditions that break naive reactors: an empty
 * receive buffer ring, a full SQ, an overflowing CQ, close in the middle of a flood or of a
 * thousand sends, ICMP errors, oversized datagrams, a tiny send buffer, resolver failures,
 * aborts mid-flight and (with -Dfault_injection=true) injected setup failures.
 * Every case counts callbacks exactly; none may hang: each run is bounded by a watchdog. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "udg.h"

/* ---- Helpers ------------------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void watchdog_cb(udg_timer *t, void *user)
{
	(void)t;
	(void)user;
}

/* Run the loop one iteration at a time until *flag, or until `secs` passed. A repeating timer
 * keeps each iteration short, so a condition that never comes true fails instead of hanging. */
static bool run_until(udg_loop *loop, const volatile bool *flag, double secs)
{
	udg_timer *t;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 5000000, 5000000, watchdog_cb, NULL), 0);
	double deadline = now_s() + secs;
	while (!*flag && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	udg_timer_free(t);
	return *flag;
}

/* Run to completion, bounded: an unreferenced guard timer stops the loop after `secs`, so a
 * hang is a failure with a message, not a killed test. */
struct guard {
	udg_loop *loop;
	bool fired;
};

static void guard_cb(udg_timer *t, void *user)
{
	struct guard *g = user;
	(void)t;
	g->fired = true;
	udg_loop_stop(g->loop);
}

static void run_all(udg_loop *loop, double secs)
{
	struct guard g = { loop, false };
	udg_timer *t;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, (uint64_t)(secs * 1e9), 0, guard_cb, &g), 0);
	udg_timer_unref(t);
	int r = udg_loop_run(loop, UDG_RUN_DEFAULT);
	udg_timer_free(t);
	cr_assert(!g.fired, "the loop did not finish within %g s", secs);
	cr_assert_eq(r, 0);
}

/* A loop with the sizes given (0: the default). `bufs` asks for that many fixed receive buffers:
 * a pool an incremental ring would hold thousands of datagrams in. */
static udg_loop *new_loop(unsigned sq, unsigned cq, unsigned bufs, unsigned slots)
{
	udg_loop_options o;
	udg_loop_options_init(&o);
	if (sq)
		o.sq_entries = sq;
	if (cq)
		o.cq_entries = cq;
	if (bufs) {
		o.recv_buf_count = bufs;
		o.flags |= UDG_LOOP_FIXED_RECV_BUFFERS;
	}
	if (slots)
		o.send_slots = slots;
	udg_loop *loop;
	cr_assert_eq(udg_loop_new(&o, &loop), 0);
	return loop;
}

struct peer {
	udg_socket *sock;
	bool listening;
	int port;
	int messages;
	int errors;
	int last_error;
	const char *last_syscall;
	int closes;
	int messages_after_close;
	bool closed_called;
	int close_at; /* close the socket from its message callback at this count (0 = never) */
};

static void on_listening(udg_socket *s, void *user)
{
	struct peer *p = user;
	udg_address a;
	cr_assert_eq(udg_socket_address(s, &a), 0);
	p->port = a.port;
	p->listening = true;
}

static void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	struct peer *p = user;
	(void)data;
	(void)len;
	(void)ri;
	if (p->closed_called)
		p->messages_after_close++;
	p->messages++;
	if (p->close_at && p->messages == p->close_at) {
		cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
		p->closed_called = true;
	}
}

static void on_error(udg_socket *s, const udg_error_info *e, void *user)
{
	struct peer *p = user;
	(void)s;
	p->errors++;
	p->last_error = e->code;
	p->last_syscall = e->syscall;
}

static void on_close(udg_socket *s, void *user)
{
	struct peer *p = user;
	(void)s;
	p->closes++;
}

static udg_socket *new_peer(udg_loop *loop, struct peer *p, uint32_t sndbuf, uint32_t rcvbuf)
{
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_listening = on_listening;
	o.on_message = on_message;
	o.on_error = on_error;
	o.on_close = on_close;
	o.send_buffer_size = sndbuf;
	o.recv_buffer_size = rcvbuf;
	o.user = p;
	cr_assert_eq(udg_socket_new(loop, &o, &p->sock), 0);
	return p->sock;
}

static void bind_peer(udg_loop *loop, struct peer *p)
{
	cr_assert_eq(udg_socket_bind(p->sock, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert(run_until(loop, &p->listening, 5), "'listening' never came");
}

/* A plain blocking UDP socket: the flood source that udg does not control. */
static int raw_socket(int *port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	if (port)
		*port = ntohs(sin.sin_port);
	return fd;
}

static void raw_send(int fd, int port, const void *buf, size_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
}

/* Per-send bookkeeping: each send's user pointer is its own slot, so a callback that runs twice
 * or never is caught, not just a wrong total. */
struct sendrec {
	int calls;
	int status;
	size_t bytes;
	int order; /* global completion order */
};

static int completion_counter;

static void send_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	struct sendrec *r = user;
	(void)s;
	r->calls++;
	r->status = status;
	r->bytes = bytes;
	r->order = ++completion_counter;
}

static void close_all_and_finish(udg_loop *loop, udg_socket **socks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (socks[i])
			udg_socket_close(socks[i], NULL, NULL);
	run_all(loop, 10);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- Receive side: an empty buffer ring ------------------------------------------------------ */

Test(faults, empty_buffer_ring_under_flood_recovers_and_traffic_continues)
{
	/* Four buffers for a hundred queued datagrams: the multishot receive must stop on ENOBUFS
	 * many times and be re-armed each time the buffers come back. */
	udg_loop *loop = new_loop(0, 0, 4, 0);
	struct peer rx = { 0 };
	new_peer(loop, &rx, 0, 1 << 20);
	bind_peer(loop, &rx);
	int fd = raw_socket(NULL);
	char payload[64] = { 0 };
	for (int i = 0; i < 100; i++)
		raw_send(fd, rx.port, payload, sizeof(payload));
	double deadline = now_s() + 10;
	while (rx.messages < 100 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(rx.messages, 100, "received %d of 100", rx.messages);
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	if (udg_loop_backend(loop) == UDG_BACKEND_URING) { /* epoll has no buffer ring */
		cr_assert_gt(st.recv_enobufs, 0, "four buffers for 100 datagrams never ran out?");
		cr_assert_geq(st.recv_rearms, st.recv_enobufs);
	}

	/* After recovery the socket still receives. */
	for (int i = 0; i < 20; i++)
		raw_send(fd, rx.port, payload, sizeof(payload));
	deadline = now_s() + 10;
	while (rx.messages < 120 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(rx.messages, 120);
	cr_assert_eq(rx.errors, 0, "ENOBUFS is never an error to the user");
	close(fd);
	udg_socket *socks[] = { rx.sock };
	close_all_and_finish(loop, socks, 1);
	cr_assert_eq(rx.closes, 1);
}

/* ---- Submission side: a full SQ and an overflowing CQ ------------------------------------------
 */

#define BURST 10000

Test(faults, ten_thousand_sends_through_an_eight_entry_sq_all_complete)
{
	udg_loop *loop = new_loop(8, 0, 0, 16384);
	struct peer rx = { 0 }, tx = { 0 };
	new_peer(loop, &rx, 0, 4 << 20);
	bind_peer(loop, &rx);
	new_peer(loop, &tx, 0, 0);
	bind_peer(loop, &tx);

	struct sendrec *recs = calloc(BURST, sizeof(*recs));
	char payload[32] = "sq-full";
	/* One burst with no callback in between: every 8th SQE forces an early submit. Half of
	 * the sends have a callback; the other half are copied and counted in the stats. */
	for (int i = 0; i < BURST; i++) {
		bool with_cb = (i % 2) == 0;
		cr_assert_eq(udg_socket_send(tx.sock, payload, sizeof(payload), rx.port,
					     "127.0.0.1", with_cb ? send_cb : NULL,
					     with_cb ? &recs[i] : NULL),
			     0, "send %d refused", i);
	}
	cr_assert_eq(udg_socket_get_send_queue_count(tx.sock), BURST);
	udg_socket_close(tx.sock, NULL, NULL);
	udg_socket_close(rx.sock, NULL, NULL);
	run_all(loop, 20);
	for (int i = 0; i < BURST; i += 2) {
		cr_assert_eq(recs[i].calls, 1, "send %d: %d callbacks", i, recs[i].calls);
		cr_assert_eq(recs[i].status, 0);
	}
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	if (udg_loop_backend(loop) == UDG_BACKEND_URING) /* epoll has no SQ */
		cr_assert_gt(st.sq_full_flushes, 0);
	cr_assert_eq(st.datagrams_sent + st.send_errors, BURST);
	cr_assert_eq(st.send_errors, 0);
	free(recs);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(faults, cq_overflow_loses_no_completion_and_every_callback_runs_once)
{
	/* A 16-entry CQ and thousands of completions arriving together: the kernel keeps the
	 * overflow (NODROP) and the reactor must drain it without losing or repeating one. */
	udg_loop *loop = new_loop(8, 16, 0, 8192);
	struct peer rx = { 0 }, tx1 = { 0 }, tx2 = { 0 };
	new_peer(loop, &rx, 0, 4 << 20);
	bind_peer(loop, &rx);
	new_peer(loop, &tx1, 0, 0);
	bind_peer(loop, &tx1);
	new_peer(loop, &tx2, 0, 0);
	bind_peer(loop, &tx2);

	enum { N = 4000 };
	struct sendrec *recs = calloc(N, sizeof(*recs));
	static char payload[N][8];
	for (int i = 0; i < N; i++) {
		memcpy(payload[i], &i, sizeof(i));
		udg_socket *s = (i & 1) ? tx1.sock : tx2.sock;
		cr_assert_eq(udg_socket_send(s, payload[i], sizeof(payload[i]), rx.port, NULL,
					     send_cb, &recs[i]),
			     0);
	}
	double deadline = now_s() + 20;
	int done = 0;
	while (done < N && now_s() < deadline) {
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
		done = 0;
		for (int i = 0; i < N; i++)
			done += recs[i].calls;
	}
	for (int i = 0; i < N; i++) {
		cr_assert_eq(recs[i].calls, 1, "send %d: %d callbacks", i, recs[i].calls);
		cr_assert_eq(recs[i].status, 0, "send %d: %d", i, recs[i].status);
		cr_assert_eq(recs[i].bytes, 8);
	}
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	cr_assert_eq(st.datagrams_sent, N);
	cr_log_info("cq_overflows=%llu sq_full_flushes=%llu", (unsigned long long)st.cq_overflows,
		    (unsigned long long)st.sq_full_flushes);
	udg_socket *socks[] = { rx.sock, tx1.sock, tx2.sock };
	close_all_and_finish(loop, socks, 3);
	free(recs);
}

/* ---- Close in the middle of things --------------------------------------------------------------
 */

Test(faults, close_during_a_flood_stops_delivery_at_once)
{
	udg_loop *loop = new_loop(0, 0, 0, 0);
	struct peer rx = { .close_at = 50 };
	new_peer(loop, &rx, 0, 4 << 20);
	bind_peer(loop, &rx);
	int fd = raw_socket(NULL);
	char payload[256] = { 0 };
	for (int i = 0; i < 500; i++)
		raw_send(fd, rx.port, payload, sizeof(payload));
	run_all(loop, 10);
	cr_assert_eq(rx.messages, 50, "no 'message' after close (got %d)", rx.messages);
	cr_assert_eq(rx.messages_after_close, 0);
	cr_assert_eq(rx.closes, 1);
	/* The flood keeps coming at a port nobody listens on any more: nothing reaches us. */
	for (int i = 0; i < 100; i++)
		raw_send(fd, rx.port, payload, sizeof(payload));
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	close(fd);
	cr_assert_eq(udg_loop_close(loop), 0);
}

struct close_rec {
	int closes;
	int sends_done_at_close;
};

static void close_counted(udg_socket *s, void *user)
{
	struct close_rec *c = user;
	(void)s;
	c->closes++;
	c->sends_done_at_close = completion_counter;
}

Test(faults, close_with_a_thousand_sends_in_flight_runs_every_callback_once_then_close)
{
	udg_loop *loop = new_loop(0, 0, 0, 0);
	struct peer rx = { 0 }, tx = { 0 };
	new_peer(loop, &rx, 0, 4 << 20);
	bind_peer(loop, &rx);
	new_peer(loop, &tx, 0, 0);
	bind_peer(loop, &tx);

	enum { N = 1000, NAMED = 100 };
	struct sendrec recs[N] = { { 0 } };
	char payload[100] = { 0 };
	completion_counter = 0;
	for (int i = 0; i < N; i++) {
		/* The last hundred go to a host name: they wait for the resolver and are cancelled
		 * by the close; the others are already SQEs. */
		const char *to = i >= N - NAMED ? "localhost" : "127.0.0.1";
		cr_assert_eq(udg_socket_send(tx.sock, payload, sizeof(payload), rx.port, to,
					     send_cb, &recs[i]),
			     0);
	}
	struct close_rec c = { 0 };
	cr_assert_eq(udg_socket_close(tx.sock, close_counted, &c), 0);
	cr_assert_eq(udg_socket_close(tx.sock, NULL, NULL), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(completion_counter, 0, "no callback inside close()");
	udg_socket_close(rx.sock, NULL, NULL);
	run_all(loop, 20);
	int ok = 0, cancelled = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_eq(recs[i].calls, 1, "send %d: %d callbacks", i, recs[i].calls);
		cr_assert(recs[i].status == 0 || recs[i].status == -ECANCELED, "send %d: %d", i,
			  recs[i].status);
		ok += recs[i].status == 0;
		cancelled += recs[i].status == -ECANCELED;
	}
	cr_assert_eq(c.closes, 1);
	cr_assert_eq(tx.closes, 1);
	cr_assert_eq(c.sends_done_at_close, N, "'close' fired before every send callback ran");
	cr_assert_geq(cancelled, 1, "the sends waiting for the resolver are cancelled");
	cr_log_info("close with sends in flight: %d sent, %d cancelled", ok, cancelled);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- Kernel-reported errors --------------------------------------------------------------- */

/* Connect to 127.0.0.1:port and run until 'connect' was delivered: until then the socket is
 * CONNECTING (as in Node) and a port-less send would be an unconnected one. */
static void connect_and_wait(udg_loop *loop, udg_socket *sock, int port)
{
	udg_address peer;
	cr_assert_eq(udg_socket_connect(sock, port, "127.0.0.1", NULL, NULL), 0);
	double deadline = now_s() + 5;
	while (udg_socket_remote_address(sock, &peer) != 0 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(udg_socket_remote_address(sock, &peer), 0, "'connect' was delivered");
}

Test(faults, icmp_port_unreachable_on_a_connected_socket_is_an_error_event_and_receiving_goes_on)
{
	udg_loop *loop = new_loop(0, 0, 0, 0);
	int port;
	int gone = raw_socket(&port);
	close(gone); /* nobody listens on `port` now: the kernel answers with ICMP */

	struct peer s = { 0 };
	new_peer(loop, &s, 0, 0);
	bind_peer(loop, &s);
	connect_and_wait(loop, s.sock, port);
	struct sendrec r1 = { 0 };
	cr_assert_eq(udg_socket_send(s.sock, "ping", 4, 0, NULL, send_cb, &r1), 0);
	double deadline = now_s() + 5;
	while ((s.errors == 0 || r1.calls == 0) && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(r1.calls, 1);
	cr_assert_eq(s.errors, 1, "the ICMP error reaches 'error' once (got %d)", s.errors);
	cr_assert_eq(s.last_error, -ECONNREFUSED, "got %d", s.last_error);
	cr_assert_str_eq(s.last_syscall, "recvmsg");

	/* Someone listens on the port again: the connected socket still receives from it. */
	int back = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(back, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(back, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(back);
		udg_socket *socks[] = { s.sock };
		close_all_and_finish(loop, socks, 1);
		cr_skip_test("port %d was taken by another process in between", port);
	}
	raw_send(back, s.port, "pong", 4);
	deadline = now_s() + 5;
	while (s.messages == 0 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(s.messages, 1, "receiving continues after the error");
	close(back);
	udg_socket *socks[] = { s.sock };
	close_all_and_finish(loop, socks, 1);
	cr_assert_eq(s.errors, 1);
}

/* A client retrying while its server restarts: many ICMP errors in a row (past the count that
 * is re-armed at once, into the backoff) never leave the socket deaf. */
Test(faults, a_connected_socket_hears_its_server_again_after_twelve_icmp_errors_in_a_row)
{
	udg_loop *loop = new_loop(0, 0, 0, 0);
	int port;
	int gone = raw_socket(&port);
	close(gone);

	struct peer s = { 0 };
	new_peer(loop, &s, 0, 0);
	bind_peer(loop, &s);
	connect_and_wait(loop, s.sock, port);
	for (int i = 1; i <= 12; i++) {
		struct sendrec r = { 0 };
		cr_assert_eq(udg_socket_send(s.sock, "ping", 4, 0, NULL, send_cb, &r), 0);
		double deadline = now_s() + 5;
		while ((s.errors < i || r.calls == 0) && now_s() < deadline)
			cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
		cr_assert_eq(s.errors, i, "error %d reported (got %d)", i, s.errors);
		cr_assert_eq(s.last_error, -ECONNREFUSED);
	}
	int back = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(back, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(back);
		udg_socket *socks[] = { s.sock };
		close_all_and_finish(loop, socks, 1);
		cr_skip_test("port %d was taken by another process in between", port);
	}
	for (int i = 0; i < 5; i++)
		raw_send(back, s.port, "pong", 4);
	double deadline = now_s() + 5;
	while (s.messages < 5 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	cr_assert_eq(s.messages, 5, "every reply arrives after the errors (got %d)", s.messages);
	close(back);
	udg_socket *socks[] = { s.sock };
	close_all_and_finish(loop, socks, 1);
}

Test(faults, a_datagram_over_65507_bytes_fails_with_emsgsize_through_the_callback)
{
	udg_loop *loop = new_loop(0, 0, 0, 0);
	struct peer rx = { 0 }, tx = { 0 };
	new_peer(loop, &rx, 0, 1 << 20);
	bind_peer(loop, &rx);
	new_peer(loop, &tx, 0, 0);
	bind_peer(loop, &tx);
	size_t big = 65508; /* 65535 - 20 (IPv4) - 8 (UDP) + 1 */
	char *buf = calloc(1, big);
	struct sendrec too_big = { 0 }, largest = { 0 };
	cr_assert_eq(udg_socket_send(tx.sock, buf, big, rx.port, NULL, send_cb, &too_big), 0);
	cr_assert_eq(udg_socket_send(tx.sock, buf, big - 1, rx.port, NULL, send_cb, &largest), 0);
	double deadline = now_s() + 5;
	while (!(too_big.calls && largest.calls) && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(too_big.calls, 1);
	cr_assert_eq(too_big.status, -EMSGSIZE, "got %d", too_big.status);
	cr_assert_eq(too_big.bytes, big);
	cr_assert_eq(largest.calls, 1);
	cr_assert_eq(largest.status, 0, "65507 bytes is the IPv4 maximum and is sent");
	cr_assert_eq(tx.errors, 0, "a send error with a callback is not an 'error' event");
	udg_socket *socks[] = { rx.sock, tx.sock };
	close_all_and_finish(loop, socks, 2);
	free(buf);
}

Test(faults, a_tiny_send_buffer_reports_every_send_through_its_callback)
{
	udg_loop *loop = new_loop(0, 0, 0, 4096); /* all 2000 sends accepted in one go */
	struct peer rx = { 0 }, tx = { 0 };
	new_peer(loop, &rx, 0, 4 << 20);
	bind_peer(loop, &rx);
	new_peer(loop, &tx, 1, 0); /* the kernel raises it to its minimum (4608 bytes) */
	bind_peer(loop, &tx);
	uint32_t sndbuf = 0;
	cr_assert_eq(udg_socket_get_send_buffer_size(tx.sock, &sndbuf), 0);
	cr_assert_lt(sndbuf, 16384, "SO_SNDBUF is %u", sndbuf);

	enum { N = 2000 };
	struct sendrec *recs = calloc(N, sizeof(*recs));
	static char payload[1400];
	for (int i = 0; i < N; i++)
		cr_assert_eq(udg_socket_send(tx.sock, payload, sizeof(payload), rx.port, NULL,
					     send_cb, &recs[i]),
			     0);
	double deadline = now_s() + 20;
	int calls = 0;
	while (calls < N && now_s() < deadline) {
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
		calls = 0;
		for (int i = 0; i < N; i++)
			calls += recs[i].calls;
	}
	int ok = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_eq(recs[i].calls, 1, "send %d: %d callbacks", i, recs[i].calls);
		ok += recs[i].status == 0;
	}
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	cr_assert_eq(st.datagrams_sent + st.send_errors, N, "callbacks == sends, none dropped");
	cr_assert_eq(st.datagrams_sent, (uint64_t)ok);
	cr_log_info("tiny SO_SNDBUF=%u: %d of %d sent, %d failed", sndbuf, ok, N, N - ok);
	udg_socket *socks[] = { rx.sock, tx.sock };
	close_all_and_finish(loop, socks, 2);
	free(recs);
}

/* ---- Resolver and abort ------------------------------------------------------------------- */

Test(faults, a_host_that_does_not_resolve_fails_the_send_through_its_callback)
{
	udg_loop *loop = new_loop(0, 0, 0, 0);
	struct peer tx = { 0 };
	new_peer(loop, &tx, 0, 0);
	struct sendrec r = { 0 };
	cr_assert_eq(udg_socket_send(tx.sock, "x", 1, 9, "no-such-host.invalid", send_cb, &r), 0);
	double deadline = now_s() + 30;
	while (r.calls == 0 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert(r.status == UDG_ERR_ENOTFOUND || r.status == UDG_ERR_EAI_AGAIN, "got %d (%s)",
		  r.status, udg_err_name(r.status));
	cr_assert_eq(tx.errors, 0, "with a callback the lookup error goes to it, not to 'error'");

	/* Without a callback it is an 'error' event from getaddrinfo. */
	cr_assert_eq(udg_socket_send(tx.sock, "x", 1, 9, "no-such-host.invalid", NULL, NULL), 0);
	deadline = now_s() + 30;
	while (tx.errors == 0 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_ONCE), 0);
	cr_assert_eq(tx.errors, 1);
	cr_assert_str_eq(tx.last_syscall, "getaddrinfo");
	udg_socket *socks[] = { tx.sock };
	close_all_and_finish(loop, socks, 1);
}

struct abort_ctx {
	udg_abort_signal *sig;
	struct peer *rx;
	int fire_at;
};

static void abort_on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			     void *user)
{
	struct abort_ctx *a = user;
	(void)s;
	(void)data;
	(void)len;
	(void)ri;
	if (++a->rx->messages == a->fire_at)
		udg_abort_signal_abort(a->sig);
}

Test(faults, abort_fired_mid_flight_closes_every_socket_and_completes_every_send_once)
{
	udg_loop *loop = new_loop(0, 0, 0, 0);
	udg_abort_signal *sig;
	cr_assert_eq(udg_abort_signal_new(loop, &sig), 0);
	struct peer rx = { 0 };
	struct abort_ctx actx = { .sig = sig, .rx = &rx, .fire_at = 10 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = abort_on_message;
	o.signal = sig;
	o.user = &actx;
	cr_assert_eq(udg_socket_new(loop, &o, &rx.sock), 0);
	cr_assert_eq(udg_socket_bind(rx.sock, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 1);
	udg_address ra;
	cr_assert_eq(udg_socket_address(rx.sock, &ra), 0);

	enum { SENDERS = 3, PER = 300 };
	struct peer tx[SENDERS] = { { 0 } };
	struct sendrec recs[SENDERS][PER] = { { { 0 } } };
	char payload[64] = { 0 };
	for (int k = 0; k < SENDERS; k++) {
		udg_socket_options so;
		udg_socket_options_init(&so, UDG_UDP4);
		so.signal = sig;
		so.on_close = on_close;
		so.on_error = on_error;
		so.user = &tx[k];
		cr_assert_eq(udg_socket_new(loop, &so, &tx[k].sock), 0);
		for (int i = 0; i < PER; i++) {
			/* Some to a host name, so lookups are in flight when the abort fires. */
			const char *to = (i % 10 == 9) ? "localhost" : "127.0.0.1";
			cr_assert_eq(udg_socket_send(tx[k].sock, payload, sizeof(payload), ra.port,
						     to, send_cb, &recs[k][i]),
				     0);
		}
	}
	run_all(loop, 20);
	cr_assert(udg_abort_signal_aborted(sig));
	cr_assert_geq(rx.messages, actx.fire_at);
	for (int k = 0; k < SENDERS; k++) {
		cr_assert_eq(tx[k].closes, 1);
		for (int i = 0; i < PER; i++) {
			cr_assert_eq(recs[k][i].calls, 1, "sender %d send %d: %d callbacks", k, i,
				     recs[k][i].calls);
			cr_assert(recs[k][i].status == 0 || recs[k][i].status == -ECANCELED);
		}
	}
	/* Sockets created after the abort close at once. */
	udg_socket *late;
	udg_socket_options lo;
	udg_socket_options_init(&lo, UDG_UDP4);
	lo.signal = sig;
	struct peer lp = { 0 };
	lo.on_close = on_close;
	lo.user = &lp;
	cr_assert_eq(udg_socket_new(loop, &lo, &late), 0);
	run_all(loop, 5);
	cr_assert_eq(lp.closes, 1);
	udg_abort_signal_free(sig);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* ---- Injected faults (only with -Dfault_injection=true) ------------------------------------ */

/* The engine defines this hidden variable only when built with fault hooks; a weak reference
 * lets the same test source build either way and skip when the hooks are absent. */
extern unsigned udg__faults __attribute__((weak));
#define FAULT_RING_SETUP_EPERM 1u /* UDG__FAULT_RING_SETUP_EPERM in engine/internal.h */

Test(faults, injected_ring_setup_eperm_gives_io_uring_unavailable_when_io_uring_is_required)
{
	if (&udg__faults == NULL)
		cr_skip_test("the engine was built without -Dfault_injection=true");
	udg_loop_options o;
	udg_loop_options_init(&o);
	o.backend = UDG_BACKEND_URING;
	udg__faults = FAULT_RING_SETUP_EPERM;
	udg_loop *loop = (udg_loop *)0x1;
	int r = udg_loop_new(&o, &loop);
	udg__faults = 0;
	cr_assert_eq(r, UDG_ERR_IO_URING_UNAVAILABLE, "got %d", r);
	cr_assert_null(loop);
	/* The fault is gone: the next loop works. */
	cr_assert_eq(udg_loop_new(NULL, &loop), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}

#define FAULT_BUFRING_INC_EINVAL 2u /* UDG__FAULT_BUFRING_INC_EINVAL */

struct sizes {
	int n;
	size_t len[2], size[2];
	bool truncated[2];
};

static void on_sized(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	struct sizes *z = user;
	(void)s;
	(void)data;
	if (z->n < 2) {
		z->len[z->n] = len;
		z->size[z->n] = ri->size;
		z->truncated[z->n] = ri->truncated;
	}
	z->n++;
}

/* A kernel before incremental buffer rings refuses the registration with EINVAL: the loop
 * registers fixed buffers instead, so a datagram over recv_buf_size - 44 bytes is cut (and
 * said to be), small ones are untouched, and GRO stays off (a buffer could cut a train). */
Test(faults, a_kernel_without_incremental_buffers_gets_fixed_buffers_and_reports_truncation)
{
	if (&udg__faults == NULL)
		cr_skip_test("the engine was built without -Dfault_injection=true");
	udg_loop_options o;
	udg_loop_options_init(&o);
	o.backend = UDG_BACKEND_URING;
	udg__faults = FAULT_BUFRING_INC_EINVAL;
	udg_loop *loop = NULL;
	int r = udg_loop_new(&o, &loop);
	udg__faults = 0;
	if (r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD)
		cr_skip_test("no io_uring here (%s)", udg_err_name(r));
	cr_assert_eq(r, 0, "%s", udg_err_name(r));
	cr_assert_not(udg_loop_features(loop) & UDG_FEAT_RECV_INC);
	cr_assert_null(strstr(udg_loop_features_string(loop), "RECV_INC"));
	cr_assert_not(udg_loop_features(loop) & UDG_FEAT_GRO);

	struct sizes z = { 0 };
	udg_socket_options so;
	udg_socket_options_init(&so, UDG_UDP4);
	so.on_message = on_sized;
	so.user = &z;
	udg_socket *rx;
	cr_assert_eq(udg_socket_new(loop, &so, &rx), 0);
	cr_assert_eq(udg_socket_bind(rx, 0, "127.0.0.1", NULL, NULL), 0);
	cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	udg_address a;
	cr_assert_eq(udg_socket_address(rx, &a), 0);
	int fd = raw_socket(NULL);
	static char big[3000];
	raw_send(fd, a.port, big, sizeof(big));
	raw_send(fd, a.port, "tiny", 4);
	double deadline = now_s() + 5;
	while (z.n < 2 && now_s() < deadline)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(z.n, 2);
	cr_assert(z.truncated[0]);
	cr_assert_eq(z.size[0], 3000, "the true size is reported");
	cr_assert_eq(z.len[0], 2048 - 44, "a default fixed buffer's payload room");
	cr_assert_not(z.truncated[1]);
	cr_assert_eq(z.len[1], 4);
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	cr_assert_eq(st.recv_truncated, 1);
	close(fd);
	udg_socket *socks[] = { rx };
	close_all_and_finish(loop, socks, 1);
}

#define FAULT_RECV_EBADF 8u /* UDG__FAULT_RECV_EBADF */

struct broken {
	int errors;
	int last_code;
	int timer_fired;
};

static void broken_error(udg_socket *s, const udg_error_info *err, void *user)
{
	struct broken *b = user;
	b->errors++;
	b->last_code = err->code;
}

static void broken_timer(udg_timer *t, void *user)
{
	((struct broken *)user)->timer_fired++;
}

Test(faults, a_receive_error_that_cannot_clear_is_reported_once_and_the_loop_does_not_spin)
{
	if (&udg__faults == NULL)
		cr_skip_test("the engine was built without -Dfault_injection=true");
	udg_loop *loop = new_loop(0, 0, 0, 0);
	struct broken b = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_error = broken_error;
	o.user = &b;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	udg__faults |= FAULT_RECV_EBADF;
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL), 0);
	/* Re-arming a broken descriptor would fail once per iteration forever: run 100 ms. */
	udg_timer *t;
	cr_assert_eq(udg_timer_new(loop, &t), 0);
	cr_assert_eq(udg_timer_start(t, 100 * 1000000ull, 0, broken_timer, &b), 0);
	udg_socket_unref(s);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	udg__faults &= ~FAULT_RECV_EBADF;
	cr_assert_eq(b.timer_fired, 1);
	cr_assert_eq(b.last_code, -EBADF);
	cr_assert_eq(b.errors, 1, "an error no retry clears is said once (got %d)", b.errors);
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	cr_assert_lt(st.iterations, 100, "the loop did not spin (%llu iterations)",
		     (unsigned long long)st.iterations);
	udg_timer_free(t);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_DEFAULT), 0);
	cr_assert_eq(udg_loop_close(loop), 0);
}
