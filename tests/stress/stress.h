/* tests/stress/stress.h — what the stress programs share: the scale knob, self-checking
 * datagrams (sequence number, length and checksum derived from the sender and the sequence),
 * and the kernel's loss counters (/proc/net/udp drops per socket, /proc/net/snmp, softnet).
 * Header-only so each program is one file; never used by the library itself. */
#ifndef UDG_STRESS_H
#define UDG_STRESS_H

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "udg.h"

/* ---- Scale and reporting -------------------------------------------------------------------- */

/* STRESS_SCALE=1 is the full size `make stress` runs; without it the programs run a tenth, so a
 * plain `meson test --suite stress` stays short. */
static inline double stress_scale(void)
{
	const char *e = getenv("STRESS_SCALE");
	double s = e ? strtod(e, NULL) : 0.1;
	if (!(s > 0))
		s = 0.1;
	if (s > 100)
		s = 100;
	return s;
}

static inline uint64_t scaled(uint64_t full)
{
	uint64_t n = (uint64_t)((double)full * stress_scale());
	return n ? n : 1;
}

static inline double stress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int stress_failures;

/* A failed check: printed at once, counted, and the program exits 1 at the end. */
__attribute__((format(printf, 1, 2))) static inline void stress_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "stress: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	stress_failures++;
}

#define STRESS_CHECK(cond, ...)                   \
	do {                                      \
		if (!(cond))                      \
			stress_fail(__VA_ARGS__); \
	} while (0)

/* ---- Self-checking datagrams ------------------------------------------------------------------
 */

#define DGRAM_MAX 1472 /* the largest payload that fits a 1500-byte MTU over IPv4 */
#define DGRAM_HDR 12   /* seq, sender id, checksum */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* The length of datagram `seq` from sender `id`: 0..1472, uniform. */
static inline size_t dgram_len(uint32_t id, uint32_t seq)
{
	return (size_t)(mix64(((uint64_t)id << 32) | seq) % (DGRAM_MAX + 1));
}

static inline uint32_t fnv1a(const unsigned char *p, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Fill buf with datagram (id, seq); returns its length. A datagram shorter than the header
 * carries a fixed pattern of its length (it cannot carry a sequence number). */
static inline size_t dgram_fill(unsigned char *buf, uint32_t id, uint32_t seq)
{
	size_t len = dgram_len(id, seq);
	if (len < DGRAM_HDR) {
		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)(0xa0 + len + i);
		return len;
	}
	uint64_t x = mix64(((uint64_t)seq << 32) | id | 1);
	for (size_t i = DGRAM_HDR; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	uint32_t crc = fnv1a(buf + DGRAM_HDR, len - DGRAM_HDR, 2166136261u ^ (uint32_t)len);
	memcpy(buf, &seq, 4);
	memcpy(buf + 4, &id, 4);
	memcpy(buf + 8, &crc, 4);
	return len;
}

enum dgram_verdict { DGRAM_OK, DGRAM_SHORT_OK, DGRAM_CORRUPT };

/* Check a received datagram: the checksum over its payload and its length against the one its
 * (id, seq) must have. */
static inline enum dgram_verdict dgram_check(const void *data, size_t len, uint32_t *id,
					     uint32_t *seq)
{
	const unsigned char *p = data;
	if (len < DGRAM_HDR) {
		for (size_t i = 0; i < len; i++)
			if (p[i] != (unsigned char)(0xa0 + len + i))
				return DGRAM_CORRUPT;
		return DGRAM_SHORT_OK;
	}
	uint32_t crc;
	memcpy(seq, p, 4);
	memcpy(id, p + 4, 4);
	memcpy(&crc, p + 8, 4);
	if (fnv1a(p + DGRAM_HDR, len - DGRAM_HDR, 2166136261u ^ (uint32_t)len) != crc)
		return DGRAM_CORRUPT;
	if (dgram_len(*id, *seq) != len)
		return DGRAM_CORRUPT;
	return DGRAM_OK;
}

/* A bitmap of sequence numbers seen, for duplicates. */
struct seen {
	uint64_t *bits;
	uint64_t n;
};

static inline void seen_init(struct seen *s, uint64_t n)
{
	s->n = n;
	s->bits = calloc(n / 64 + 1, sizeof(uint64_t));
}

/* Returns true when seq was already seen (a duplicate); seq outside the range is corrupt. */
static inline bool seen_mark(struct seen *s, uint64_t seq)
{
	uint64_t bit = 1ULL << (seq % 64);
	bool dup = (s->bits[seq / 64] & bit) != 0;
	s->bits[seq / 64] |= bit;
	return dup;
}

/* ---- Kernel counters ------------------------------------------------------------------------- */

/* Datagrams the kernel dropped for the UDP sockets bound to local `port` (the "drops" column of
 * /proc/net/udp and /proc/net/udp6: receive buffer full, checksum, filter). Counted per socket,
 * so other processes' traffic never shows up here. */
static inline uint64_t udp_port_drops(int port)
{
	static const char *const files[] = { "/proc/net/udp", "/proc/net/udp6" };
	uint64_t total = 0;

	for (int f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "r");
		if (!fp)
			continue;
		char line[512];
		if (!fgets(line, sizeof(line), fp)) {
			fclose(fp);
			continue;
		}
		while (fgets(line, sizeof(line), fp)) {
			char local[64];
			unsigned long long drops = 0;
			/* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
			if (sscanf(line, " %*s %63s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
				   local, &drops) != 2)
				continue;
			char *colon = strrchr(local, ':');
			if (colon && (int)strtol(colon + 1, NULL, 16) == port)
				total += drops;
		}
		fclose(fp);
	}
	return total;
}

struct udp_snmp {
	uint64_t in_errors, rcvbuf_errors;
};

/* The namespace-wide UDP counters (shared with every other process in this network namespace:
 * informative unless the program runs in a namespace of its own). */
static inline struct udp_snmp udp_snmp_read(void)
{
	struct udp_snmp s = { 0, 0 };
	FILE *fp = fopen("/proc/net/snmp", "r");
	if (!fp)
		return s;
	char head[1024], vals[1024];
	while (fgets(head, sizeof(head), fp)) {
		if (strncmp(head, "Udp:", 4) != 0 || !fgets(vals, sizeof(vals), fp))
			continue;
		unsigned long long v[6] = { 0 };
		/* InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors ... */
		if (sscanf(vals, "Udp: %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5]) >= 5) {
			s.in_errors = v[2];
			s.rcvbuf_errors = v[4];
		}
		break;
	}
	fclose(fp);
	return s;
}

/* Packets dropped before any socket saw them (per-CPU backlog full), summed over CPUs. */
static inline uint64_t softnet_dropped(void)
{
	FILE *fp = fopen("/proc/net/softnet_stat", "r");
	uint64_t total = 0;
	if (!fp)
		return 0;
	unsigned processed, dropped;
	char rest[512];
	while (fscanf(fp, "%x %x", &processed, &dropped) == 2) {
		total += dropped;
		if (!fgets(rest, sizeof(rest), fp))
			break;
	}
	fclose(fp);
	return total;
}

static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own fd */
}

static inline int local_port(udg_socket *s)
{
	udg_address a;
	return udg_socket_address(s, &a) == 0 ? a.port : -1;
}

#endif /* UDG_STRESS_H */
