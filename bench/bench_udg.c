/* bench/bench_udg.c — udg under test, written as a user would write it with the public API only
 * (include "udg.h", default loop options): sink = a counting 'message' handler (--meta: with
 * receive metadata on); echo = the handler sends each datagram back with
 * udg_socket_send_to(rinfo->addr); send = callback-less udg_socket_send on a connected socket
 * until SEND_QUEUE_FULL, then one UDG_RUN_ONCE (over 2 KiB, with a callback: see role_send).
 * Never reaches into engine internals.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "udg.h"

/* The idle check's period: often enough to end a run promptly, rare enough to cost nothing. */
#define TICK_NS (20 * 1000000ull)
/* udg copies a callback-less payload into its send slot up to 2 KiB and onto the heap above
 * (udg_socket_send in include/udg/dgram.h); a caller sending larger datagrams passes a
 * callback and lends its buffer instead, as this sender does over this size. */
#define COPY_LIMIT 2048
/* The metadata the udg-meta row turns on: what a QUIC server asks for. */
#define META_FLAGS (UDG_META_ECN | UDG_META_PKTINFO)

static struct {
	const struct bench_args *a;
	udg_loop *loop;
	udg_socket *sock;
	udg_timer *timer;
	int echo;
	bool listening, connected;
	int error;              /* first asynchronous error, from on_error or connect */
	uint64_t count;         /* datagrams received (sink) or echoed (echo) */
	uint64_t bytes;         /* sink: payload bytes of the datagrams that arrived whole */
	uint64_t truncated;     /* sink: datagrams with rinfo->truncated */
	uint64_t meta_seen;     /* sink --meta: datagrams whose rinfo carried both META_FLAGS */
	uint64_t seen, seen_at; /* idle check: count at its last change, and when */
	uint64_t give_up, cpu0, cpu1, t0, t1;
	uint64_t queue_full, send_errors, accepted;
	udg_loop_stats st0, st1;
	unsigned char payload[BENCH_MAX_DGRAM];
} g;

static void on_error(udg_socket *s, const udg_error_info *err, void *user)
{
	if (!g.error)
		g.error = err->code;
}

static void on_listening(udg_socket *s, void *user)
{
	g.listening = true;
}

static void on_sink_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
			    void *user)
{
	g.count++;
	if (rinfo->truncated)
		g.truncated++;
	else
		g.bytes += len;
}

static void on_meta_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
			    void *user)
{
	on_sink_message(s, data, len, rinfo, user);
	if ((rinfo->meta & META_FLAGS) == META_FLAGS)
		g.meta_seen++;
}

static void on_echo_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
			    void *user)
{
	/* The reply goes to rinfo's raw address (what docs/tuning.md recommends): no formatting
	 * to text and parsing back per datagram. */
	int rc = udg_socket_send_to(s, data, len, rinfo->addr, rinfo->addrlen, NULL, NULL);

	if (rc == 0)
		g.count++;
	else if (rc == UDG_ERR_SEND_QUEUE_FULL)
		g.queue_full++; /* dropped, as a UDP server under overload does */
	else
		g.send_errors++;
}

/* Take the end-of-window snapshot once: CPU and counters, before any teardown work. */
static void snapshot_end(void)
{
	g.t1 = bench_now_ns();
	g.cpu1 = bench_cpu_ns();
	udg_loop_stats_get(g.loop, &g.st1);
}

static void on_tick(udg_timer *t, void *user)
{
	uint64_t now = bench_now_ns();

	if (g.count != g.seen) {
		if (!g.seen)
			g.t0 = now;
		g.seen = g.count;
		g.seen_at = now;
		return;
	}
	if (g.count ? now - g.seen_at > BENCH_IDLE_MS * 1000000ull : now > g.give_up) {
		snapshot_end();
		udg_timer_free(t);
		g.timer = NULL;
		udg_socket_close(g.sock, NULL, NULL);
	}
}

static void print_result(const char *role, int rcvbuf)
{
	bench_json_begin();
	bench_json_str("impl", "udg");
	bench_json_str("version", udg_version());
	bench_json_str("role", role);
	bench_json_u64("size", g.a->size);
	bench_json_u64("count", g.count);
	bench_json_u64("cpu_ns", g.cpu1 - g.cpu0);
	bench_json_u64("cpu_total_ns", bench_cpu_ns());
	bench_json_u64("wall_ns", g.t1 - g.t0);
	bench_json_u64("rcvbuf", (uint64_t)rcvbuf);
	bench_json_str("features", udg_loop_features_string(g.loop));
	bench_json_u64("accepted", g.accepted);
	bench_json_u64("queue_full", g.queue_full);
	bench_json_u64("send_errors", g.send_errors);
	bench_json_u64("error", (uint64_t)-g.error);
	bench_json_u64("bytes", g.bytes);
	bench_json_u64("truncated", g.truncated);
	bench_json_u64("metadata", g.a->meta ? META_FLAGS : 0);
	bench_json_u64("meta_seen", g.meta_seen);
	/* Loop counters over the measured window. */
	bench_json_u64("iterations", g.st1.iterations - g.st0.iterations);
	bench_json_u64("enters", g.st1.enters - g.st0.enters);
	bench_json_u64("sqes_submitted", g.st1.sqes_submitted - g.st0.sqes_submitted);
	bench_json_u64("cqes_reaped", g.st1.cqes_reaped - g.st0.cqes_reaped);
	bench_json_u64("sq_full_flushes", g.st1.sq_full_flushes - g.st0.sq_full_flushes);
	bench_json_u64("cq_overflows", g.st1.cq_overflows - g.st0.cq_overflows);
	bench_json_u64("recv_rearms", g.st1.recv_rearms - g.st0.recv_rearms);
	bench_json_u64("recv_enobufs", g.st1.recv_enobufs - g.st0.recv_enobufs);
	bench_json_u64("datagrams_received", g.st1.datagrams_received - g.st0.datagrams_received);
	bench_json_u64("datagrams_sent", g.st1.datagrams_sent - g.st0.datagrams_sent);
	bench_json_ctxsw();
	bench_json_end();
}

static int fail(const char *what, int code)
{
	fprintf(stderr, "bench_udg: %s: %s (%s)\n", what, udg_strerror(code), udg_err_name(code));
	return 1;
}

/* Run the loop without blocking until *flag is set, an error arrived, or 5 s passed. Setup
 * only: UDG_RUN_ONCE would block in its wait even after this iteration's callbacks (listening,
 * connect) already ran, with nothing else to wake it before the driver starts. */
static int run_until(const bool *flag)
{
	uint64_t give_up = bench_deadline_ns(5.0);

	while (!*flag && !g.error) {
		int rc = udg_loop_run(g.loop, UDG_RUN_NOWAIT);

		if (rc < 0)
			return rc;
		if (bench_now_ns() > give_up)
			return -ETIMEDOUT;
	}
	return g.error;
}

static int serve(const struct bench_args *a, int echo)
{
	udg_socket_options o;
	udg_address addr;
	uint32_t rcvbuf = 0;
	int rc;

	g.echo = echo;
	udg_socket_options_init(&o, UDG_UDP4);
	o.recv_buffer_size = (uint32_t)a->rcvbuf;
	o.on_message = echo ? on_echo_message : a->meta ? on_meta_message : on_sink_message;
	if (a->meta)
		o.metadata = META_FLAGS;
	o.on_listening = on_listening;
	o.on_error = on_error;
	rc = udg_socket_new(g.loop, &o, &g.sock);
	if (rc == 0)
		rc = udg_socket_bind(g.sock, a->port, "127.0.0.1", NULL, NULL);
	if (rc == 0)
		rc = run_until(&g.listening);
	if (rc == 0)
		rc = udg_socket_address(g.sock, &addr);
	if (rc != 0)
		return fail("bind", rc);
	udg_socket_get_recv_buffer_size(g.sock, &rcvbuf);
	rc = udg_timer_new(g.loop, &g.timer);
	if (rc == 0)
		rc = udg_timer_start(g.timer, TICK_NS, TICK_NS, on_tick, NULL);
	if (rc != 0)
		return fail("timer", rc);
	g.give_up = bench_deadline_ns(a->duration_s + BENCH_GRACE_S);
	udg_loop_stats_get(g.loop, &g.st0);
	g.cpu0 = bench_cpu_ns();
	bench_ready(addr.port);
	rc = udg_loop_run(g.loop, UDG_RUN_DEFAULT);
	if (rc < 0)
		return fail("run", rc);
	print_result(echo ? "echo" : "sink", (int)rcvbuf);
	return 0;
}

static void on_connected(udg_socket *s, int status, void *user)
{
	if (status < 0)
		g.error = status;
	g.connected = true;
}

static void on_sent(udg_socket *s, int status, size_t bytes, void *user)
{
	if (status < 0)
		g.send_errors++;
}

static int role_send(const struct bench_args *a)
{
	/* The payload never changes, so it can be lent for as long as udg needs it. */
	udg_send_cb cb = a->size > COPY_LIMIT ? on_sent : NULL;
	udg_socket_options o;
	uint64_t end, now;
	int rc;

	bench_fill(g.payload, a->size);
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_error = on_error;
	rc = udg_socket_new(g.loop, &o, &g.sock);
	if (rc == 0)
		rc = udg_socket_connect(g.sock, a->port, "127.0.0.1", on_connected, NULL);
	if (rc == 0)
		rc = run_until(&g.connected);
	if (rc != 0)
		return fail("connect", rc);
	udg_loop_stats_get(g.loop, &g.st0);
	g.cpu0 = bench_cpu_ns();
	g.t0 = now = bench_now_ns();
	end = g.t0 + (uint64_t)(a->duration_s * 1e9);
	while (now < end) {
		/* Read the clock once per BENCH_BATCH sends, like the other senders. */
		for (int i = 0; i < BENCH_BATCH; i++) {
			rc = udg_socket_send(g.sock, g.payload, a->size, 0, NULL, cb, NULL);
			if (rc == 0) {
				g.accepted++;
				continue;
			}
			if (rc != UDG_ERR_SEND_QUEUE_FULL)
				return fail("send", rc);
			g.queue_full++;
			rc = udg_loop_run(g.loop, UDG_RUN_ONCE);
			if (rc < 0)
				return fail("run", rc);
		}
		now = bench_now_ns();
	}
	/* Every accepted datagram reaches the kernel inside the measured window. */
	while (udg_socket_get_send_queue_count(g.sock) > 0 && !g.error) {
		rc = udg_loop_run(g.loop, UDG_RUN_ONCE);
		if (rc < 0)
			return fail("run", rc);
	}
	snapshot_end();
	g.count = g.st1.datagrams_sent - g.st0.datagrams_sent;
	udg_socket_close(g.sock, NULL, NULL);
	rc = udg_loop_run(g.loop, UDG_RUN_DEFAULT);
	if (rc < 0)
		return fail("run", rc);
	print_result("send", 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	int rc;

	bench_parse_args(argc, argv, &a);
	g.a = &a;
	rc = udg_loop_new(NULL, &g.loop);
	if (rc != 0)
		return fail("udg_loop_new", rc);
	if (!strcmp(a.role, "probe")) {
		/* The orchestrator's pre-flight: can a loop be made here, and with what. */
		bench_json_begin();
		bench_json_str("impl", "udg");
		bench_json_str("version", udg_version());
		bench_json_str("features", udg_loop_features_string(g.loop));
		bench_json_end();
	} else if (!strcmp(a.role, "sink") || !strcmp(a.role, "echo")) {
		rc = serve(&a, !strcmp(a.role, "echo"));
	} else if (!strcmp(a.role, "send")) {
		rc = role_send(&a);
	} else {
		fprintf(stderr, "bench_udg: unknown role %s\n", a.role);
		return 2;
	}
	if (rc == 0 && udg_loop_close(g.loop) != 0)
		fprintf(stderr, "bench_udg: udg_loop_close: loop still busy\n");
	return rc;
}
