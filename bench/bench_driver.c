/* bench/bench_driver.c — the fixed side of every benchmark run, identical for all implementations:
 * a sendmmsg blaster (sink scenario), a K-in-flight echo client (echo), a K=1 ping-pong client
 * (latency) and a recvmmsg sink (send scenario). Raw C, batches of BENCH_BATCH. It must never
 * change with the implementation under test, or the comparison means nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

static unsigned char payload[BENCH_BATCH][BENCH_MAX_SIZE];
static struct iovec iov[BENCH_BATCH];
static struct mmsghdr msgs[BENCH_BATCH];

/* Point msgs[i] at payload[i] with `len` bytes; no addresses (connected socket). */
static void setup_msgs(size_t len)
{
	for (int i = 0; i < BENCH_BATCH; i++) {
		bench_fill(payload[i], len);
		iov[i] = (struct iovec){ .iov_base = payload[i], .iov_len = len };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
}

/* Send n datagrams from msgs[] on a connected socket; returns how many the kernel took. */
static int send_batch(int fd, int n, uint64_t *errors)
{
	int done = 0;

	while (done < n) {
		int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);

		if (r >= 0) {
			done += r;
			continue;
		}
		(*errors)++;
		/* ECONNREFUSED (an ICMP from a receiver that is not there) and hard errors end
		 * the batch; the caller's clock decides whether to go on. */
		if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN)
			break;
	}
	return done;
}

static void print_common(const char *role, const struct bench_args *a, uint64_t cpu0)
{
	bench_json_begin();
	bench_json_str("role", role);
	bench_json_u64("size", a->size);
	bench_json_u64("cpu_total_ns", bench_cpu_ns());
	bench_json_u64("cpu_ns", bench_cpu_ns() - cpu0);
}

static int role_blast(const struct bench_args *a)
{
	int fd = bench_udp_connect(a->port);
	uint64_t sent = 0, errors = 0, cpu0 = bench_cpu_ns(), t0 = bench_now_ns();
	uint64_t end = t0 + (uint64_t)(a->duration_s * 1e9), now = t0;

	setup_msgs(a->size);
	while (now < end) {
		sent += (uint64_t)send_batch(fd, BENCH_BATCH, &errors);
		now = bench_now_ns();
	}
	print_common("blast", a, cpu0);
	bench_json_u64("sent", sent);
	bench_json_u64("send_errors", errors);
	bench_json_u64("wall_ns", now - t0);
	bench_json_ctxsw();
	bench_json_end();
	close(fd);
	return 0;
}

static int role_sink(const struct bench_args *a)
{
	int fd = bench_udp_bind(0);
	int rcvbuf = bench_set_rcvbuf(fd, a->rcvbuf, geteuid() == 0);
	uint64_t received = 0, bytes = 0, calls = 0, first = 0, last = 0, cpu0;
	uint64_t give_up = bench_deadline_ns(a->duration_s + BENCH_GRACE_S);

	setup_msgs(BENCH_MAX_SIZE);
	bench_set_rcvtimeo(fd, 20);
	cpu0 = bench_cpu_ns();
	bench_ready(bench_local_port(fd));
	for (;;) {
		int n = recvmmsg(fd, msgs, BENCH_BATCH, MSG_WAITFORONE, NULL);
		uint64_t now = bench_now_ns();

		if (n > 0) {
			calls++;
			received += (uint64_t)n;
			for (int i = 0; i < n; i++)
				bytes += msgs[i].msg_len;
			if (!first)
				first = now;
			last = now;
			continue;
		}
		if (received ? now - last > BENCH_IDLE_MS * 1000000ull : now > give_up)
			break;
	}
	print_common("sink", a, cpu0);
	bench_json_u64("received", received);
	bench_json_u64("bytes", bytes);
	bench_json_u64("recv_calls", calls);
	bench_json_u64("rx_span_ns", last - first);
	bench_json_u64("rcvbuf", (uint64_t)rcvbuf);
	bench_json_ctxsw();
	bench_json_end();
	close(fd);
	return 0;
}

static int role_echo_client(const struct bench_args *a)
{
	int fd = bench_udp_connect(a->port);
	int k = a->inflight < BENCH_BATCH ? a->inflight : BENCH_BATCH;
	uint64_t trips = 0, sent = 0, timeouts = 0, lost = 0, errors = 0, cpu0 = bench_cpu_ns();
	uint64_t t0, end, now;
	int64_t outstanding;

	setup_msgs(a->size);
	bench_set_rcvbuf(fd, a->rcvbuf, geteuid() == 0);
	/* A window lost to a drop would stall the client: after 50 ms of silence refill it. */
	bench_set_rcvtimeo(fd, 50);
	t0 = now = bench_now_ns();
	end = t0 + (uint64_t)(a->duration_s * 1e9);
	outstanding = send_batch(fd, k, &errors);
	sent += (uint64_t)outstanding;
	while (now < end) {
		int n = recvmmsg(fd, msgs, BENCH_BATCH, MSG_WAITFORONE, NULL);

		now = bench_now_ns();
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
				break;
			timeouts++;
			lost += outstanding > 0 ? (uint64_t)outstanding : 0;
			outstanding = send_batch(fd, k, &errors);
			sent += (uint64_t)outstanding;
			continue;
		}
		trips += (uint64_t)n;
		outstanding -= n;
		/* Refill the window to k. */
		n = send_batch(fd, k - (int)(outstanding > 0 ? outstanding : 0), &errors);
		outstanding += n;
		sent += (uint64_t)n;
	}
	print_common("echo-client", a, cpu0);
	bench_json_u64("round_trips", trips);
	bench_json_u64("sent", sent);
	bench_json_u64("timeouts", timeouts);
	bench_json_u64("lost", lost);
	bench_json_u64("send_errors", errors);
	bench_json_u64("wall_ns", now - t0);
	bench_json_ctxsw();
	bench_json_end();
	close(fd);
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* Percentile of sorted samples, nearest rank. */
static uint32_t pct(const uint32_t *s, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)n);

	return n ? s[i < n ? i : n - 1] : 0;
}

static int role_latency_client(const struct bench_args *a)
{
	int fd = bench_udp_connect(a->port);
	/* At most ~one sample per microsecond of duration; a loopback RTT is well above that. */
	size_t cap = (size_t)(a->duration_s * 1e6) + 16, n = 0;
	uint32_t *samples = malloc(cap * sizeof(*samples));
	uint64_t seq = 0, timeouts = 0, stale = 0, cpu0 = bench_cpu_ns(), t0, end, now, sum = 0;
	unsigned char rbuf[BENCH_MAX_SIZE];

	if (!samples)
		return 1;
	setup_msgs(a->size);
	bench_set_rcvtimeo(fd, 100);
	t0 = now = bench_now_ns();
	end = t0 + (uint64_t)(a->duration_s * 1e9);
	while (now < end && n < cap) {
		uint64_t start = bench_now_ns();

		seq++;
		memcpy(payload[0], &seq, sizeof(seq));
		if (send(fd, payload[0], a->size, 0) < 0) {
			timeouts++;
			usleep(1000);
			now = bench_now_ns();
			continue;
		}
		for (;;) {
			ssize_t r = recv(fd, rbuf, sizeof(rbuf), 0);
			uint64_t got;

			if (r < 0) {
				if (errno == EINTR)
					continue;
				timeouts++;
				break;
			}
			memcpy(&got, rbuf, sizeof(got));
			if (r < (ssize_t)sizeof(got) || got != seq) {
				stale++; /* a late echo of a datagram we already gave up on */
				continue;
			}
			now = bench_now_ns();
			samples[n++] = (uint32_t)(now - start);
			sum += now - start;
			break;
		}
		now = bench_now_ns();
	}
	qsort(samples, n, sizeof(*samples), cmp_u32);
	print_common("latency-client", a, cpu0);
	bench_json_u64("samples", n);
	bench_json_u64("timeouts", timeouts);
	bench_json_u64("stale", stale);
	bench_json_u64("wall_ns", now - t0);
	bench_json_u64("min_ns", pct(samples, n, 0));
	bench_json_u64("p50_ns", pct(samples, n, 50));
	bench_json_u64("p90_ns", pct(samples, n, 90));
	bench_json_u64("p99_ns", pct(samples, n, 99));
	bench_json_u64("p999_ns", pct(samples, n, 99.9));
	bench_json_u64("max_ns", n ? samples[n - 1] : 0);
	bench_json_f64("mean_ns", n ? (double)sum / (double)n : 0);
	bench_json_ctxsw();
	bench_json_end();
	free(samples);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;

	bench_parse_args(argc, argv, &a);
	bench_require_size(&a, BENCH_MAX_SIZE, "bench_driver");
	if (!strcmp(a.role, "blast"))
		return role_blast(&a);
	if (!strcmp(a.role, "sink"))
		return role_sink(&a);
	if (!strcmp(a.role, "echo-client"))
		return role_echo_client(&a);
	if (!strcmp(a.role, "latency-client"))
		return role_latency_client(&a);
	fprintf(stderr, "bench_driver: unknown role %s\n", a.role);
	return 2;
}
