/* bench/bench_epoll.c — the classic reactor: level-triggered epoll over a non-blocking socket,
 * one recvfrom/sendto per datagram, read until EAGAIN. Roles: sink, echo, send. It is the
 * ordinary "epoll UDP server" shape, with no batching tricks; it must not grow any.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

static unsigned char buf[BENCH_MAX_SIZE];

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int watch(int fd, uint32_t events)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("epoll");
		return -1;
	}
	return ep;
}

/* What a receiver saw beyond its count: payload bytes of the datagrams that arrived whole, and
 * how many arrived shorter than the sender's --size (cut by the receive buffer). */
static uint64_t bytes, truncated;

static void print_result(const char *role, const struct bench_args *a, uint64_t cpu0,
			 uint64_t count, uint64_t wall_ns, int rcvbuf, uint64_t calls,
			 uint64_t dropped)
{
	bench_json_begin();
	bench_json_str("impl", "epoll");
	bench_json_str("role", role);
	bench_json_u64("size", a->size);
	bench_json_u64("count", count);
	bench_json_u64("cpu_ns", bench_cpu_ns() - cpu0);
	bench_json_u64("cpu_total_ns", bench_cpu_ns());
	bench_json_u64("wall_ns", wall_ns);
	bench_json_u64("rcvbuf", (uint64_t)rcvbuf);
	bench_json_u64("syscalls", calls);
	bench_json_u64("send_dropped", dropped);
	bench_json_u64("bytes", bytes);
	bench_json_u64("truncated", truncated);
	bench_json_ctxsw();
	bench_json_end();
}

/* sink and echo: wait for readability, drain the socket, until the driver goes quiet. */
static int serve(const struct bench_args *a, int echo)
{
	int fd = bench_udp_bind(a->port);
	int rcvbuf = bench_set_rcvbuf(fd, a->rcvbuf, 0);
	int ep = watch(fd, EPOLLIN);
	uint64_t count = 0, calls = 0, dropped = 0, first = 0, last = 0, cpu0;
	uint64_t give_up = bench_deadline_ns(a->duration_s + BENCH_GRACE_S);

	if (ep < 0)
		return 1;
	set_nonblock(fd);
	cpu0 = bench_cpu_ns();
	bench_ready(bench_local_port(fd));
	for (;;) {
		struct epoll_event ev;
		int n = epoll_wait(ep, &ev, 1, 20);
		uint64_t now = bench_now_ns();

		calls++;
		if (n <= 0) {
			if (count ? now - last > BENCH_IDLE_MS * 1000000ull : now > give_up)
				break;
			continue;
		}
		if (!first)
			first = now;
		for (;;) {
			struct sockaddr_storage from;
			socklen_t fromlen = sizeof(from);
			ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
					     &fromlen);

			calls++;
			if (r < 0)
				break; /* EAGAIN: drained */
			if (!echo) {
				count++;
				if ((size_t)r == a->size)
					bytes += (size_t)r;
				else
					truncated++;
				continue;
			}
			calls++;
			if (sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, fromlen) < 0)
				dropped++; /* UDP: a full send buffer drops, as a plain server does
					    */
			else
				count++;
		}
		last = bench_now_ns();
	}
	print_result(echo ? "echo" : "sink", a, cpu0, count, last - first, rcvbuf, calls, dropped);
	close(ep);
	close(fd);
	return 0;
}

/* send: write until EAGAIN, then wait for writability. */
static int role_send(const struct bench_args *a)
{
	int fd = bench_udp_connect(a->port);
	int ep = watch(fd, EPOLLOUT);
	uint64_t sent = 0, calls = 0, cpu0 = bench_cpu_ns(), t0 = bench_now_ns(), now = t0;
	uint64_t end = t0 + (uint64_t)(a->duration_s * 1e9);

	if (ep < 0)
		return 1;
	set_nonblock(fd);
	bench_fill(buf, a->size);
	while (now < end) {
		/* Check the clock once per BENCH_BATCH sends, like the other senders. */
		for (int i = 0; i < BENCH_BATCH; i++) {
			calls++;
			if (send(fd, buf, a->size, 0) >= 0) {
				sent++;
				continue;
			}
			if (errno == EAGAIN || errno == ENOBUFS) {
				struct epoll_event ev;

				calls++;
				epoll_wait(ep, &ev, 1, 10);
			}
			break;
		}
		now = bench_now_ns();
	}
	print_result("send", a, cpu0, sent, now - t0, 0, calls, 0);
	close(ep);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;

	bench_parse_args(argc, argv, &a);
	bench_require_size(&a, BENCH_MAX_SIZE, "bench_epoll");
	if (!strcmp(a.role, "sink"))
		return serve(&a, 0);
	if (!strcmp(a.role, "echo"))
		return serve(&a, 1);
	if (!strcmp(a.role, "send"))
		return role_send(&a);
	fprintf(stderr, "bench_epoll: unknown role %s\n", a.role);
	return 2;
}
