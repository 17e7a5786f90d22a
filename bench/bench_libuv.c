/* bench/bench_libuv.c — libuv as its documentation recommends for UDP throughput: a handle made
 * with uv_udp_init_ex(UV_UDP_RECVMMSG) and a multi-datagram receive buffer, uv_udp_try_send with
 * a uv_udp_send fallback on EAGAIN. Roles: sink, echo, send. Ordinary usage only: no reaching
 * into libuv's internals or the raw fd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bench_common.h"

/* libuv splits the receive buffer into 64 KiB slots, one datagram each, and reads at most 20
 * per recvmmsg (UV__MMSG_MAXWIDTH in 1.44): 20 slots give it the widest batch it supports. */
#define LIBUV_SLOT (64 * 1024)
#define LIBUV_SLOTS 20

static struct {
	const struct bench_args *a;
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_timer_t timer;
	uv_idle_t idle;
	int echo;
	uint64_t count, fallbacks, give_up, end, t0, cpu0;
	uint64_t seen, seen_at; /* idle check: count at the last change, and when */
	uint64_t first, last;   /* send role: its start and end */
	uint64_t bytes;         /* sink: payload bytes of the datagrams that arrived whole */
	uint64_t truncated;     /* sink: datagrams libuv flagged UV_UDP_PARTIAL */
	unsigned char payload[BENCH_MAX_SIZE];
} g;

static char recv_area[LIBUV_SLOT * LIBUV_SLOTS];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init(recv_area, sizeof(recv_area));
}

struct copy_req {
	uv_udp_send_t req;
	char data[];
};

static void on_copy_sent(uv_udp_send_t *req, int status)
{
	if (status == 0)
		g.count++;
	free(req);
}

/* The try_send fallback: queue a copy (the receive area is reused after this callback). */
static void echo_queued(const uv_buf_t *buf, ssize_t len, const struct sockaddr *to)
{
	struct copy_req *r = malloc(sizeof(*r) + (size_t)len);
	uv_buf_t b;

	if (!r)
		return;
	memcpy(r->data, buf->base, (size_t)len);
	b = uv_buf_init(r->data, (unsigned)len);
	g.fallbacks++;
	if (uv_udp_send(&r->req, &g.udp, &b, 1, to, on_copy_sent) < 0)
		free(r);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		    unsigned flags)
{
	/* nread == 0 with addr == NULL: "nothing more" or the UV_UDP_MMSG_FREE notice. */
	if (nread < 0 || addr == NULL)
		return;
	if (!g.echo) {
		g.count++;
		if (flags & UV_UDP_PARTIAL)
			g.truncated++;
		else
			g.bytes += (uint64_t)nread;
		return;
	}
	uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
	int r = uv_udp_try_send(h, &b, 1, addr);

	if (r >= 0)
		g.count++;
	else if (r == UV_EAGAIN)
		echo_queued(buf, nread, addr);
}

static void finish(const char *role, int rcvbuf)
{
	bench_json_begin();
	bench_json_str("impl", "libuv");
	bench_json_str("version", uv_version_string());
	bench_json_str("role", role);
	bench_json_u64("size", g.a->size);
	bench_json_u64("count", g.count);
	bench_json_u64("cpu_ns", bench_cpu_ns() - g.cpu0);
	bench_json_u64("cpu_total_ns", bench_cpu_ns());
	bench_json_u64("wall_ns", g.last - g.first);
	bench_json_u64("rcvbuf", (uint64_t)rcvbuf);
	bench_json_u64("send_fallbacks", g.fallbacks);
	bench_json_u64("bytes", g.bytes);
	bench_json_u64("truncated", g.truncated);
	bench_json_ctxsw();
	bench_json_end();
}

/* Every 20 ms: done once datagrams came and then stopped for BENCH_IDLE_MS (no clock read per
 * datagram: that would bill libuv for the benchmark's own bookkeeping). */
static void on_tick(uv_timer_t *t)
{
	uint64_t now = bench_now_ns();

	if (g.count != g.seen) {
		if (!g.seen)
			g.first = now;
		g.seen = g.count;
		g.seen_at = g.last = now;
		return;
	}
	if (g.count ? now - g.seen_at > BENCH_IDLE_MS * 1000000ull : now > g.give_up) {
		uv_udp_recv_stop(&g.udp);
		uv_timer_stop(t);
		uv_stop(g.loop);
	}
}

static int serve(const struct bench_args *a, int echo)
{
	struct sockaddr_in sin;
	struct sockaddr_in bound;
	int namelen = sizeof(bound), rcvbuf = a->rcvbuf, got = 0;

	g.echo = echo;
	uv_ip4_addr("127.0.0.1", a->port, &sin);
	if (uv_udp_init_ex(g.loop, &g.udp, AF_INET | UV_UDP_RECVMMSG) < 0 ||
	    uv_udp_bind(&g.udp, (const struct sockaddr *)&sin, 0) < 0) {
		fprintf(stderr, "bench_libuv: bind failed\n");
		return 1;
	}
	uv_recv_buffer_size((uv_handle_t *)&g.udp, &rcvbuf);
	uv_recv_buffer_size((uv_handle_t *)&g.udp, &got);
	uv_udp_getsockname(&g.udp, (struct sockaddr *)&bound, &namelen);
	uv_timer_init(g.loop, &g.timer);
	uv_timer_start(&g.timer, on_tick, 20, 20);
	g.give_up = bench_deadline_ns(a->duration_s + BENCH_GRACE_S);
	uv_udp_recv_start(&g.udp, on_alloc, on_recv);
	g.cpu0 = bench_cpu_ns();
	bench_ready(ntohs(bound.sin_port));
	uv_run(g.loop, UV_RUN_DEFAULT);
	finish(echo ? "echo" : "sink", got);
	return 0;
}

static void on_idle(uv_idle_t *idle);

static void on_fallback_sent(uv_udp_send_t *req, int status)
{
	if (status == 0)
		g.count++;
	uv_idle_start(&g.idle, on_idle);
}

/* Send a batch per loop iteration; on EAGAIN queue one send and wait for its completion. */
static void on_idle(uv_idle_t *idle)
{
	static uv_udp_send_t req;
	uv_buf_t b = uv_buf_init((char *)g.payload, (unsigned)g.a->size);

	g.last = bench_now_ns();
	if (g.last >= g.end) {
		uv_idle_stop(idle);
		uv_stop(g.loop);
		return;
	}
	for (int i = 0; i < BENCH_BATCH; i++) {
		int r = uv_udp_try_send(&g.udp, &b, 1, NULL);

		if (r >= 0) {
			g.count++;
			continue;
		}
		if (r == UV_EAGAIN &&
		    uv_udp_send(&req, &g.udp, &b, 1, NULL, on_fallback_sent) == 0) {
			g.fallbacks++;
			uv_idle_stop(idle);
		}
		break;
	}
}

static int role_send(const struct bench_args *a)
{
	struct sockaddr_in sin;

	uv_ip4_addr("127.0.0.1", a->port, &sin);
	bench_fill(g.payload, a->size);
	if (uv_udp_init(g.loop, &g.udp) < 0 ||
	    uv_udp_connect(&g.udp, (const struct sockaddr *)&sin) < 0) {
		fprintf(stderr, "bench_libuv: connect failed\n");
		return 1;
	}
	uv_idle_init(g.loop, &g.idle);
	g.cpu0 = bench_cpu_ns();
	g.first = g.t0 = bench_now_ns();
	g.end = g.t0 + (uint64_t)(a->duration_s * 1e9);
	uv_idle_start(&g.idle, on_idle);
	uv_run(g.loop, UV_RUN_DEFAULT);
	finish("send", 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	int rc;

	bench_parse_args(argc, argv, &a);
	bench_require_size(&a, BENCH_MAX_SIZE, "bench_libuv");
	g.a = &a;
	g.loop = uv_default_loop();
	if (!strcmp(a.role, "sink") || !strcmp(a.role, "echo"))
		rc = serve(&a, !strcmp(a.role, "echo"));
	else if (!strcmp(a.role, "send"))
		rc = role_send(&a);
	else {
		fprintf(stderr, "bench_libuv: unknown role %s\n", a.role);
		return 2;
	}
	return rc;
}
