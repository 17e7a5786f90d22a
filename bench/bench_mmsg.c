/* bench/bench_mmsg.c — the ratio base: raw recvmmsg/sendmmsg in batches of BENCH_BATCH, blocking
 * sockets, no event loop. Roles: sink (count), echo (send each batch back to its senders), send
 * (sendmmsg flat out on a connected socket). It must stay the plainest fast code a C programmer
 * would write; every other implementation is reported relative to it. Datagrams over
 * BENCH_MAX_SIZE (the large scenario) get 64 KiB receive buffers, LARGE_BATCH per call.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

/* 64 KiB receive buffers, 16 per recvmmsg: 1 MiB a call stays near the cache, and a call's
 * overhead is nothing beside copying 16 large datagrams out. */
#define LARGE_BATCH 16

static unsigned char *bufs; /* `batch` buffers of `stride` bytes, or one when `shared` */
static size_t stride;
static int batch;
static bool shared;
static struct sockaddr_storage names[BENCH_BATCH];
static struct iovec iov[BENCH_BATCH];
static struct mmsghdr msgs[BENCH_BATCH];

/* Buffers for --size: BENCH_BATCH of BENCH_MAX_SIZE bytes as always, or for large datagrams
 * LARGE_BATCH receive buffers of 64 KiB. A large sender's messages all point at one buffer:
 * the other senders send one buffer over and over too, and 64 distinct 64 KiB buffers would
 * bill this one alone for cache misses. */
static void alloc_bufs(size_t size, bool sender)
{
	bool large = size > BENCH_MAX_SIZE;

	stride = bench_recv_buf_size(size);
	batch = large && !sender ? LARGE_BATCH : BENCH_BATCH;
	shared = large && sender;
	bufs = calloc(shared ? 1 : (size_t)batch, stride);
	if (!bufs) {
		perror("calloc");
		exit(1);
	}
}

static unsigned char *buf_of(int i)
{
	return shared ? bufs : bufs + (size_t)i * stride;
}

/* Point every message at its buffer; with_names: room for the source address (echo). */
static void setup_msgs(size_t len, int with_names)
{
	for (int i = 0; i < batch; i++) {
		bench_fill(buf_of(i), len);
		iov[i] = (struct iovec){ .iov_base = buf_of(i), .iov_len = len };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = with_names ? &names[i] : NULL,
							 .msg_namelen =
								 with_names ? sizeof(names[i]) : 0,
							 .msg_iov = &iov[i],
							 .msg_iovlen = 1 } };
	}
}

/* Sink: payload bytes of the datagrams that arrived whole, and how many arrived cut
 * (MSG_TRUNC). */
static uint64_t bytes, truncated;

static void print_result(const char *role, const struct bench_args *a, uint64_t cpu0,
			 uint64_t count, uint64_t wall_ns, int rcvbuf, uint64_t calls)
{
	bench_json_begin();
	bench_json_str("impl", "mmsg");
	bench_json_str("role", role);
	bench_json_u64("size", a->size);
	bench_json_u64("count", count);
	bench_json_u64("cpu_ns", bench_cpu_ns() - cpu0);
	bench_json_u64("cpu_total_ns", bench_cpu_ns());
	bench_json_u64("wall_ns", wall_ns);
	bench_json_u64("rcvbuf", (uint64_t)rcvbuf);
	bench_json_u64("syscalls", calls);
	bench_json_u64("bytes", bytes);
	bench_json_u64("truncated", truncated);
	bench_json_ctxsw();
	bench_json_end();
}

/* sink and echo: receive batches until the driver has been quiet for BENCH_IDLE_MS. */
static int serve(const struct bench_args *a, int echo)
{
	int fd = bench_udp_bind(a->port);
	int rcvbuf = bench_set_rcvbuf(fd, a->rcvbuf, 0);
	uint64_t count = 0, calls = 0, first = 0, last = 0, cpu0;
	uint64_t give_up = bench_deadline_ns(a->duration_s + BENCH_GRACE_S);

	alloc_bufs(a->size, false);
	setup_msgs(stride, echo);
	/* The idle check needs the blocking recvmmsg to come back now and then. */
	bench_set_rcvtimeo(fd, 20);
	cpu0 = bench_cpu_ns();
	bench_ready(bench_local_port(fd));
	for (;;) {
		int n = recvmmsg(fd, msgs, (unsigned)batch, MSG_WAITFORONE, NULL);
		uint64_t now = bench_now_ns();

		calls++;
		if (n <= 0) {
			if (count ? now - last > BENCH_IDLE_MS * 1000000ull : now > give_up)
				break;
			continue;
		}
		if (!first)
			first = now;
		last = now;
		if (!echo) {
			count += (uint64_t)n;
			for (int i = 0; i < n; i++) {
				if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
					truncated++;
				else
					bytes += msgs[i].msg_len;
			}
			continue;
		}
		/* Echo: each message goes back to its source with the length it arrived with. */
		for (int i = 0; i < n; i++)
			iov[i].iov_len = msgs[i].msg_len;
		int sent = sendmmsg(fd, msgs, (unsigned)n, 0);

		calls++;
		count += sent > 0 ? (uint64_t)sent : 0;
		for (int i = 0; i < n; i++) {
			iov[i].iov_len = stride;
			msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
		}
	}
	print_result(echo ? "echo" : "sink", a, cpu0, count, last - first, rcvbuf, calls);
	close(fd);
	free(bufs);
	return 0;
}

static int role_send(const struct bench_args *a)
{
	int fd = bench_udp_connect(a->port);
	uint64_t sent = 0, calls = 0, cpu0 = bench_cpu_ns(), t0 = bench_now_ns(), now = t0;
	uint64_t end = t0 + (uint64_t)(a->duration_s * 1e9);

	alloc_bufs(a->size, true);
	setup_msgs(a->size, 0);
	while (now < end) {
		int n = sendmmsg(fd, msgs, (unsigned)batch, 0);

		calls++;
		if (n > 0)
			sent += (uint64_t)n;
		else if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN &&
			 errno != ECONNREFUSED)
			break;
		now = bench_now_ns();
	}
	print_result("send", a, cpu0, sent, now - t0, 0, calls);
	close(fd);
	free(bufs);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;

	bench_parse_args(argc, argv, &a);
	if (!strcmp(a.role, "sink"))
		return serve(&a, 0);
	if (!strcmp(a.role, "echo"))
		return serve(&a, 1);
	if (!strcmp(a.role, "send"))
		return role_send(&a);
	fprintf(stderr, "bench_mmsg: unknown role %s\n", a.role);
	return 2;
}
