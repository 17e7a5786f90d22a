/* bench/bench_common.h — what every benchmark role program shares: argument parsing, clocks,
 * CPU time from getrusage, socket buffer setup, the READY handshake and the one-line JSON result.
 * Benchmark-side code only: the library never includes this, and nothing here may depend on udg.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Largest payload the fixed-buffer role programs handle (the driver, epoll, libuv): the classic
 * scenarios use 64, 512 and 1400, the bulk scenario 1200. */
#define BENCH_MAX_SIZE 2048
/* Largest payload any role accepts: the largest IPv4 UDP datagram (65535 - 20 - 8), which the
 * large scenario sends. Programs that take it size their buffers from --size. */
#define BENCH_MAX_DGRAM 65507
/* A receive buffer that holds any datagram (and a whole UDP_GRO train). */
#define BENCH_BIG_BUF 65536
/* Datagrams per recvmmsg/sendmmsg call in the raw programs (the mmsg base and the drivers). */
#define BENCH_BATCH 64
/* A receiver is done once it got something and then nothing for this long: the driver has
 * stopped. Long enough to ride out a scheduler hiccup, short enough to keep runs quick. */
#define BENCH_IDLE_MS 150
/* A receiver that never gets anything gives up this long after its duration. */
#define BENCH_GRACE_S 5.0

struct bench_args {
	const char *role;  /* sink | echo | send (impls); blast | echo-client | latency-client |
			      sink (driver) */
	int port;          /* port to bind (0 = ephemeral, announced) or to send to */
	size_t size;       /* payload bytes */
	double duration_s; /* how long to send / drive */
	int inflight;      /* echo client: datagrams kept in flight */
	int rcvbuf;        /* SO_RCVBUF to ask for, bytes */
	int meta;          /* --meta: udg only, receive metadata on (the udg-meta row) */
};

/* Parse --role --port --size --duration [--inflight K] [--rcvbuf B] [--meta]. Sizes up to
 * BENCH_MAX_DGRAM are accepted. Exits with usage on error. */
void bench_parse_args(int argc, char **argv, struct bench_args *a);
/* Exit with a message (status 2) when --size is above `max`: for programs whose buffers are
 * fixed at BENCH_MAX_SIZE. */
void bench_require_size(const struct bench_args *a, size_t max, const char *prog);
/* Receive buffer bytes per datagram for --size: BENCH_MAX_SIZE up to it (what the classic
 * scenarios always used), BENCH_BIG_BUF above. */
size_t bench_recv_buf_size(size_t size);

uint64_t bench_now_ns(void);
/* User + system CPU time of this process (all threads), ns. */
uint64_t bench_cpu_ns(void);
/* Deadline helper: now + seconds. */
uint64_t bench_deadline_ns(double seconds);

/* A UDP socket on 127.0.0.1, bound to port (0 = ephemeral). Returns fd; exits on failure. */
int bench_udp_bind(int port);
/* A UDP socket connected to 127.0.0.1:port. Returns fd; exits on failure. */
int bench_udp_connect(int port);
/* The bound port of fd. */
int bench_local_port(int fd);
/* Ask for `bytes` of receive buffer (SO_RCVBUFFORCE first when `force`), return what the kernel
 * granted (SO_RCVBUF read back: the kernel doubles the request). */
int bench_set_rcvbuf(int fd, int bytes, int force);
int bench_get_rcvbuf(int fd);
/* Set a receive timeout on a blocking socket. */
void bench_set_rcvtimeo(int fd, int ms);

/* Tell the orchestrator we are bound and listening: "READY <port>" on stdout, flushed. */
void bench_ready(int port);

/* One JSON object on one stdout line, built field by field. */
void bench_json_begin(void);
void bench_json_str(const char *key, const char *val);
void bench_json_u64(const char *key, uint64_t val);
void bench_json_f64(const char *key, double val);
void bench_json_end(void);
/* Add this process's voluntary and involuntary context switches ("vcsw", "ivcsw"). */
void bench_json_ctxsw(void);

/* Fill a payload of `size` bytes with a recognisable pattern. */
void bench_fill(void *buf, size_t size);

#endif /* BENCH_COMMON_H */
