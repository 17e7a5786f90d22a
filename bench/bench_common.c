/* bench/bench_common.c — shared helpers of the benchmark role programs (see bench_common.h).
 * Plain POSIX only; exits the program on setup failure (a benchmark that cannot set up has no
 * result to report). Never used on a measured hot path except bench_now_ns.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --role ROLE --port P --size N --duration S [--inflight K] [--rcvbuf "
		"B] [--meta]\n",
		prog);
	exit(2);
}

void bench_parse_args(int argc, char **argv, struct bench_args *a)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "port", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "inflight", required_argument, NULL, 'k' },
		{ "rcvbuf", required_argument, NULL, 'b' },
		{ "meta", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (struct bench_args){ .role = NULL,
				  .port = 0,
				  .size = 64,
				  .duration_s = 1.0,
				  .inflight = 64,
				  .rcvbuf = 4 << 20,
				  .meta = 0 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			a->role = optarg;
			break;
		case 'p':
			a->port = atoi(optarg);
			break;
		case 's':
			a->size = (size_t)atol(optarg);
			break;
		case 'd':
			a->duration_s = atof(optarg);
			break;
		case 'k':
			a->inflight = atoi(optarg);
			break;
		case 'b':
			a->rcvbuf = atoi(optarg);
			break;
		case 'm':
			a->meta = 1;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!a->role || a->size < 8 || a->size > BENCH_MAX_DGRAM || a->port < 0 ||
	    a->port > 65535 || a->duration_s <= 0 || a->inflight < 1 || a->inflight > 4096)
		usage(argv[0]);
}

void bench_require_size(const struct bench_args *a, size_t max, const char *prog)
{
	if (a->size > max) {
		fprintf(stderr, "%s: --size %zu is over this program's %zu-byte buffers\n", prog,
			a->size, max);
		exit(2);
	}
}

size_t bench_recv_buf_size(size_t size)
{
	return size <= BENCH_MAX_SIZE ? BENCH_MAX_SIZE : BENCH_BIG_BUF;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_deadline_ns(double seconds)
{
	return bench_now_ns() + (uint64_t)(seconds * 1e9);
}

uint64_t bench_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static struct sockaddr_in loopback(int port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_port = htons((uint16_t)port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

int bench_udp_bind(int port)
{
	struct sockaddr_in sin = loopback(port);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("bind");
		exit(1);
	}
	return fd;
}

int bench_udp_connect(int port)
{
	struct sockaddr_in sin = loopback(port);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

int bench_local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	return ntohs(sin.sin_port);
}

int bench_get_rcvbuf(int fd)
{
	int val = 0;
	socklen_t len = sizeof(val);

	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &val, &len);
	return val;
}

int bench_set_rcvbuf(int fd, int bytes, int force)
{
	/* SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; fall back quietly. */
	if (!force || setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	return bench_get_rcvbuf(fd);
}

void bench_set_rcvtimeo(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

void bench_ready(int port)
{
	printf("READY %d\n", port);
	fflush(stdout);
}

/* One result line: about 25 fields of at most ~60 bytes each. */
static char json_buf[4096];
static size_t json_len;

static void json_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void json_append(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (json_len >= sizeof(json_buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(json_buf + json_len, sizeof(json_buf) - json_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		json_len += (size_t)n;
	if (json_len >= sizeof(json_buf))
		json_len = sizeof(json_buf) - 1; /* truncated: the orchestrator reports bad JSON */
}

static void json_key(const char *key)
{
	json_append("%s\"%s\": ", json_len > 1 ? ", " : "", key);
}

void bench_json_begin(void)
{
	json_len = 0;
	json_append("{");
}

void bench_json_str(const char *key, const char *val)
{
	json_key(key);
	json_append("\"%s\"", val);
}

void bench_json_u64(const char *key, uint64_t val)
{
	json_key(key);
	json_append("%llu", (unsigned long long)val);
}

void bench_json_f64(const char *key, double val)
{
	json_key(key);
	json_append("%.6g", val);
}

void bench_json_ctxsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	bench_json_u64("vcsw", (uint64_t)ru.ru_nvcsw);
	bench_json_u64("ivcsw", (uint64_t)ru.ru_nivcsw);
}

void bench_json_end(void)
{
	printf("%.*s}\n", (int)json_len, json_buf);
	fflush(stdout);
}

void bench_fill(void *buf, size_t size)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < size; i++)
		p[i] = (unsigned char)('a' + i % 26);
}
