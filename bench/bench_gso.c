/* bench/bench_gso.c — the kernel's ceiling for one bulk UDP flow, the bulk scenario's reference:
 * the sender hands the kernel trains of equal datagrams with UDP_SEGMENT (one sendmsg per train),
 * the receiver turns UDP_GRO on and gets each train back whole in one 64 KiB buffer, split here
 * by the gso_size control message. Roles: sink, send. Raw C, blocking sockets; like bench_mmsg
 * it must stay the plainest code that uses these two options, never a tuned one.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

/* The kernel refuses a train of more segments than UDP_MAX_SEGMENTS (64 until Linux 6.9, 128
 * since) and a train over the IPv4 payload limit: 64 segments fit every kernel with UDP_GRO. */
#define MAX_SEGMENTS 64
/* Receive buffers per recvmmsg: 8 trains of up to 64 KiB (about 430 datagrams of 1200 B) a
 * call; more would only spread the copies over more cache. */
#define GRO_BATCH 8

static void print_result(const char *role, const struct bench_args *a, uint64_t cpu0,
			 uint64_t count, uint64_t wall_ns, int rcvbuf, uint64_t calls,
			 uint64_t bytes, uint64_t truncated, uint64_t trains)
{
	bench_json_begin();
	bench_json_str("impl", "gso");
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
	bench_json_u64("trains", trains);
	bench_json_ctxsw();
	bench_json_end();
}

/* The segment size the kernel reports for a coalesced train, or 0 when the datagram came
 * alone (no UDP_GRO control message). */
static int gro_size(struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			int v;

			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v;
		}
	}
	return 0;
}

static int role_sink(const struct bench_args *a)
{
	static unsigned char bufs[GRO_BATCH][BENCH_BIG_BUF];
	static char ctrl[GRO_BATCH][CMSG_SPACE(sizeof(int))];
	struct iovec iov[GRO_BATCH];
	struct mmsghdr msgs[GRO_BATCH];
	int fd = bench_udp_bind(a->port), one = 1;
	int rcvbuf = bench_set_rcvbuf(fd, a->rcvbuf, 0);
	uint64_t count = 0, bytes = 0, truncated = 0, trains = 0, calls = 0, first = 0, last = 0;
	uint64_t give_up = bench_deadline_ns(a->duration_s + BENCH_GRACE_S), cpu0;

	if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
		perror("bench_gso: setsockopt(UDP_GRO)");
		return 1;
	}
	for (int i = 0; i < GRO_BATCH; i++)
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
	bench_set_rcvtimeo(fd, 20);
	cpu0 = bench_cpu_ns();
	bench_ready(bench_local_port(fd));
	for (;;) {
		/* recvmmsg rewrites the control lengths and flags: set them again every call. */
		for (int i = 0; i < GRO_BATCH; i++)
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i],
								 .msg_iovlen = 1,
								 .msg_control = ctrl[i],
								 .msg_controllen =
									 sizeof(ctrl[i]) } };
		int n = recvmmsg(fd, msgs, GRO_BATCH, MSG_WAITFORONE, NULL);
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
		for (int i = 0; i < n; i++) {
			size_t len = msgs[i].msg_len;
			size_t seg = (size_t)gro_size(&msgs[i].msg_hdr);

			if (seg == 0 || seg > len)
				seg = len;
			/* A train of len bytes holds ceil(len / seg) datagrams, the last may be
			 * short. */
			count += seg ? (len + seg - 1) / seg : 1;
			trains++;
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				truncated++; /* the cut datagram; the whole ones before it count */
				bytes += seg ? len / seg * seg : 0;
			} else {
				bytes += len;
			}
		}
	}
	print_result("sink", a, cpu0, count, last - first, rcvbuf, calls, bytes, truncated, trains);
	close(fd);
	return 0;
}

static int role_send(const struct bench_args *a)
{
	int fd = bench_udp_connect(a->port);
	size_t segs = BENCH_MAX_DGRAM / a->size;
	uint16_t gso;
	unsigned char *train;
	char ctrl[CMSG_SPACE(sizeof(gso))] = { 0 };
	struct iovec iov;
	struct msghdr h;
	struct cmsghdr *c;
	uint64_t sent = 0, trains = 0, calls = 0, cpu0, t0, now, end;

	if (segs > MAX_SEGMENTS)
		segs = MAX_SEGMENTS;
	if (segs < 1)
		segs = 1;
	gso = (uint16_t)a->size;
	train = malloc(segs * a->size);
	if (!train) {
		perror("malloc");
		return 1;
	}
	for (size_t i = 0; i < segs; i++)
		bench_fill(train + i * a->size, a->size);
	iov = (struct iovec){ .iov_base = train, .iov_len = segs * a->size };
	h = (struct msghdr){ .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctrl,
			     .msg_controllen = sizeof(ctrl) };
	c = CMSG_FIRSTHDR(&h);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(gso));
	memcpy(CMSG_DATA(c), &gso, sizeof(gso));
	cpu0 = bench_cpu_ns();
	t0 = now = bench_now_ns();
	end = t0 + (uint64_t)(a->duration_s * 1e9);
	while (now < end) {
		ssize_t r = sendmsg(fd, &h, 0);

		calls++;
		if (r >= 0) {
			sent += segs;
			trains++;
		} else if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN &&
			   errno != ECONNREFUSED) {
			/* EIO: no checksum offload on the route; EINVAL: a kernel without
			 * UDP_SEGMENT. Either way there is no ceiling to measure. */
			perror("bench_gso: sendmsg(UDP_SEGMENT)");
			free(train);
			return 1;
		}
		now = bench_now_ns();
	}
	print_result("send", a, cpu0, sent, now - t0, 0, calls, sent * a->size, 0, trains);
	free(train);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;

	bench_parse_args(argc, argv, &a);
	if (!strcmp(a.role, "sink"))
		return role_sink(&a);
	if (!strcmp(a.role, "send"))
		return role_send(&a);
	fprintf(stderr, "bench_gso: unknown role %s\n", a.role);
	return 2;
}
