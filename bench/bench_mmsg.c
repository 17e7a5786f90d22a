/* bench/bench_mmsg.c — the ratio base: raw recvmmsg/sendmmsg in batches of BENCH_BATCH, blocking
 * sockets, no event loop. Roles: sink (count), echo (send each batch back to its senders), send
 * (sendmmsg flat out on a connected socket). It must stay the plainest fast code a C programmer
 * would write; every other implementation is reported relative to it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

static unsigned char bufs[BENCH_BATCH][BENCH_MAX_SIZE];
static struct sockaddr_storage names[BENCH_BATCH];
static struct iovec iov[BENCH_BATCH];
static struct mmsghdr msgs[BENCH_BATCH];

/* Point every message at its buffer; with_names: room for the source address (echo). */
static void setup_msgs(size_t len, int with_names)
{
	for (int i = 0; i < BENCH_BATCH; i++) {
		bench_fill(bufs[i], len);
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = with_names ? &names[i] : NULL,
							 .msg_namelen =
								 with_names ? sizeof(names[i]) : 0,
							 .msg_iov = &iov[i],
							 .msg_iovlen = 1 } };
	}
}

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

	setup_msgs(BENCH_MAX_SIZE, echo);
	/* The idle check needs the blocking recvmmsg to come back now and then. */
	bench_set_rcvtimeo(fd, 20);
	cpu0 = bench_cpu_ns();
	bench_ready(bench_local_port(fd));
	for (;;) {
		int n = recvmmsg(fd, msgs, BENCH_BATCH, MSG_WAITFORONE, NULL);
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
			continue;
		}
		/* Echo: each message goes back to its source with the length it arrived with. */
		for (int i = 0; i < n; i++)
			iov[i].iov_len = msgs[i].msg_len;
		int sent = sendmmsg(fd, msgs, (unsigned)n, 0);

		calls++;
		count += sent > 0 ? (uint64_t)sent : 0;
		for (int i = 0; i < n; i++) {
			iov[i].iov_len = BENCH_MAX_SIZE;
			msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
		}
	}
	print_result(echo ? "echo" : "sink", a, cpu0, count, last - first, rcvbuf, calls);
	close(fd);
	return 0;
}

static int role_send(const struct bench_args *a)
{
	int fd = bench_udp_connect(a->port);
	uint64_t sent = 0, calls = 0, cpu0 = bench_cpu_ns(), t0 = bench_now_ns(), now = t0;
	uint64_t end = t0 + (uint64_t)(a->duration_s * 1e9);

	setup_msgs(a->size, 0);
	while (now < end) {
		int n = sendmmsg(fd, msgs, BENCH_BATCH, 0);

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
