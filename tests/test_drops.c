/* tests/test_drops.c — the kernel's receive-queue drops in socket and loop stats (udg extension):
 * every socket has the count, read from the kernel when asked, with no option; it equals what
 * SO_MEMINFO and /proc/net/udp say; a closed socket's drops stay in its loop's total. The
 * receivers have the smallest receive queue the kernel allows and are flooded by a plain socket
 * while their loop does not run. Real sockets on loopback, both families, ephemeral ports. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "udg.h"
#include "support.h"

/* Datagrams per flood and their size: 64 KB against a receive queue of a few KB. */
#define FLOOD 64
#define FLOOD_SIZE 1000

/* A receiver whose receive queue is the kernel's minimum (SO_RCVBUF 1 is raised to it). */
static udg_socket *small_receiver(udg_loop *loop, udg_socket_type type, unsigned meta, struct ev *e,
				  const char *lo, int *port)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.recv_buffer_size = 1;
	o.metadata = meta;
	udg_socket *s = new_socket_opts(loop, &o, e);
	*port = bind_port(s, lo);
	return s;
}

/* FLOOD datagrams to lo:port in one sendmmsg from a plain socket: the udg loop does not run. */
static void flood(int family, int port)
{
	struct sockaddr_storage to = { 0 };
	socklen_t tolen;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&to;
		*a = (struct sockaddr_in){ .sin_family = AF_INET,
					   .sin_port = htons((uint16_t)port) };
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		tolen = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
		*a = (struct sockaddr_in6){ .sin6_family = AF_INET6,
					    .sin6_port = htons((uint16_t)port),
					    .sin6_addr = in6addr_loopback };
		tolen = sizeof(*a);
	}
	int fd = socket(family, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	static char payload[FLOOD_SIZE];
	struct iovec iov = { payload, sizeof(payload) };
	struct mmsghdr msgs[FLOOD];
	for (int i = 0; i < FLOOD; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &to,
							 .msg_namelen = tolen,
							 .msg_iov = &iov,
							 .msg_iovlen = 1 } };
	cr_assert_eq(sendmmsg(fd, msgs, FLOOD, 0), FLOOD);
	close(fd);
}

/* The "drops" column of the socket bound to local `port` in /proc/net/udp or udp6; -1 when the
 * port has no socket. */
static long long proc_drops(int family, int port)
{
	FILE *fp = fopen(family == AF_INET ? "/proc/net/udp" : "/proc/net/udp6", "r");
	cr_assert_not_null(fp);
	char line[512];
	long long found = -1;
	cr_assert_not_null(fgets(line, sizeof(line), fp)); /* the header */
	while (found < 0 && fgets(line, sizeof(line), fp)) {
		char local[64];
		long long drops;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops */
		if (sscanf(line, " %*s %63s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %lld", local,
			   &drops) != 2)
			continue;
		const char *colon = strrchr(local, ':');
		if (colon && strtol(colon + 1, NULL, 16) == port)
			found = drops;
	}
	fclose(fp);
	return found;
}

/* The kernel's count read directly, as the test's own cross-check of what udg reports. */
static uint64_t meminfo_drops(udg_socket *s)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);
	cr_assert_eq(getsockopt(udg_socket_fd(s), SOL_SOCKET, SO_MEMINFO, mem, &len), 0);
	return mem[SK_MEMINFO_DROPS];
}

static uint64_t drops_of(udg_socket *s)
{
	udg_socket_stats st;
	cr_assert_eq(udg_socket_stats_get(s, &st), 0);
	return st.kernel_drops;
}

static uint64_t loop_drops(udg_loop *loop)
{
	udg_loop_stats ls;
	udg_loop_stats_get(loop, &ls);
	return ls.kernel_drops;
}

/* Waits, without running the udg loop, until cond holds (the kernel may finish delivering a
 * flood after sendmmsg returns, from a softirq): 10 ms steps, 5 s at most. */
#define WAIT_UNTIL(cond)                                                                    \
	do {                                                                                \
		for (int i_ = 0; i_ < 500 && !(cond); i_++)                                 \
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL); \
		cr_assert((cond), "timed out waiting for " #cond);                          \
	} while (0)

/* Flood a receiver whose loop is stalled: the count is there before the loop runs again (no
 * datagram has to get through first); once every datagram is accounted for, it equals the
 * kernel's own figures, and the loop's total is the socket's. */
static void stalled_receiver(udg_socket_type type, const char *lo, unsigned meta)
{
	int family = type == UDG_UDP4 ? AF_INET : AF_INET6;
	udg_loop *loop = new_loop();
	struct ev er = { 0 };
	int port;
	udg_socket *s[1] = { small_receiver(loop, type, meta, &er, lo, &port) };
	cr_assert_eq(drops_of(s[0]), 0);

	flood(family, port);
	WAIT_UNTIL(drops_of(s[0]) > 0);
	cr_assert_eq(er.message, 0, "the loop has not run since the flood");
	RUN_UNTIL(loop, er.message + drops_of(s[0]) == FLOOD);
	cr_assert_gt(er.message, 0, "the queue held some datagrams");
	uint64_t drops = drops_of(s[0]);
	cr_assert_eq(drops, meminfo_drops(s[0]));
	cr_assert_eq((long long)drops, proc_drops(family, port));
	cr_assert_eq(loop_drops(loop), drops);
	udg_socket_stats st;
	cr_assert_eq(udg_socket_stats_get(s[0], &st), 0);
	cr_assert_eq(st.datagrams_received, (uint64_t)er.message);
	close_all(loop, s, 1);
}

Test(drops, a_stalled_ipv4_receiver_counts_the_kernels_drops_without_any_option)
{
	stalled_receiver(UDG_UDP4, "127.0.0.1", 0);
}

Test(drops, a_stalled_ipv6_receiver_counts_the_kernels_drops_without_any_option)
{
	stalled_receiver(UDG_UDP6, "::1", 0);
}

/* The flag from before drops were read on demand is accepted and changes nothing. */
Test(drops, the_drops_metadata_flag_gives_the_same_count)
{
	stalled_receiver(UDG_UDP4, "127.0.0.1", UDG_META_DROPS);
}

struct close_check {
	udg_loop *loop;
	uint64_t want;
	uint64_t seen_in_close; /* the loop's total inside the close callback */
	uint64_t socket_in_close;
	int closed;
};

static void closed_cb(udg_socket *s, void *user)
{
	struct close_check *c = user;
	c->seen_in_close = loop_drops(c->loop);
	c->socket_in_close = drops_of(s);
	c->closed++;
}

/* Two flooded receivers; one closes. Its drops stay in the loop's total (counted once, also
 * inside its close callback) though the kernel's row for it is gone, and the other socket's
 * later drops add to them. */
Test(drops, a_closed_socket_keeps_its_drops_in_the_loops_total)
{
	udg_loop *loop = new_loop();
	struct ev ea = { 0 }, eb = { 0 };
	int pa, pb;
	udg_socket *s[2] = { small_receiver(loop, UDG_UDP4, 0, &ea, "127.0.0.1", &pa),
			     small_receiver(loop, UDG_UDP6, 0, &eb, "::1", &pb) };
	flood(AF_INET, pa);
	flood(AF_INET6, pb);
	RUN_UNTIL(loop,
		  ea.message + drops_of(s[0]) == FLOOD && eb.message + drops_of(s[1]) == FLOOD);
	uint64_t da = drops_of(s[0]), db = drops_of(s[1]);
	cr_assert_gt(da, 0);
	cr_assert_gt(db, 0);
	cr_assert_eq(loop_drops(loop), da + db);

	struct close_check c = { .loop = loop, .want = da + db };
	cr_assert_eq(udg_socket_close(s[0], closed_cb, &c), 0);
	RUN_UNTIL(loop, c.closed == 1);
	cr_assert_eq(c.seen_in_close, da + db, "counted once while the socket is being freed");
	cr_assert_eq(c.socket_in_close, da, "the socket keeps its count after its fd is closed");
	cr_assert_eq(proc_drops(AF_INET, pa), -1, "the kernel forgot the closed socket");
	cr_assert_eq(loop_drops(loop), da + db);

	int before = eb.message;
	flood(AF_INET6, pb);
	RUN_UNTIL(loop, eb.message - before + drops_of(s[1]) - db == FLOOD);
	uint64_t db2 = drops_of(s[1]);
	cr_assert_gt(db2, db);
	cr_assert_eq(loop_drops(loop), da + db2);
	cr_assert_eq((long long)db2, proc_drops(AF_INET6, pb));
	close_all(loop, s + 1, 1);
}

/* A socket without an OS socket yet has nothing to read and reports zero. */
Test(drops, an_unbound_socket_has_no_drops)
{
	udg_loop *loop = new_loop();
	struct ev e = { 0 };
	udg_socket *s[1] = { new_socket(loop, UDG_UDP4, &e) };
	cr_assert_eq(udg_socket_fd(s[0]), -EBADF);
	cr_assert_eq(drops_of(s[0]), 0);
	cr_assert_eq(loop_drops(loop), 0);
	close_all(loop, s, 1);
}
