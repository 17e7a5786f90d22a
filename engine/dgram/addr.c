/* engine/addr.c — address text in and out: parsing literals (with IPv6 "%ifname" zones) into
 * sockaddrs, telling literals from text the resolver must see, and formatting sockaddrs as Node
 * does.
 * Cold except udg_format_address, which runs on the receive path when the user asks: it never
 * allocates and looks up interface names only for a link-local address with a scope id (cached
 * per thread for a second).
 * Never resolves host names (that is the resolver's job) and never leaves errno changed. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dgram.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* if_nametoindex/if_indextoname set errno on failure; the API promises not to. */
static unsigned name_to_index(const char *name)
{
	int saved = errno;
	unsigned idx = if_nametoindex(name);
	errno = saved;
	return idx;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!is_digit(*s))
			return false;
	}
	return true;
}

static void fill_in4(const struct in_addr *a, int port, struct sockaddr_storage *out,
		     socklen_t *outlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	memset(out, 0, sizeof(*out));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr = *a;
	*outlen = sizeof(*sin);
}

static void fill_in6(const struct in6_addr *a, uint32_t scope, int port,
		     struct sockaddr_storage *out, socklen_t *outlen)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	memset(out, 0, sizeof(*out));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	sin6->sin6_addr = *a;
	sin6->sin6_scope_id = scope;
	*outlen = sizeof(*sin6);
}

/* "addr%zone": addr must be an IPv6 literal and zone a non-empty interface name. An unknown
 * name gives scope 0, as Node does; a numeric zone is not an interface name on Linux, and
 * Node reports it as EINVAL. Any other text with a '%' is not a literal: 1, the resolver's. */
static int parse_zoned(int family, const char *text, const char *pct, int port,
		       struct sockaddr_storage *out, socklen_t *outlen)
{
	char head[INET6_ADDRSTRLEN];
	size_t head_len = (size_t)(pct - text);
	const char *zone = pct + 1;
	struct in6_addr a6;

	if (head_len >= sizeof(head) || !*zone || strchr(zone, '%'))
		return 1;
	memcpy(head, text, head_len);
	head[head_len] = '\0';
	if (inet_pton(AF_INET6, head, &a6) != 1)
		return 1;
	if (family != AF_INET6)
		return -EINVAL;

	unsigned scope = strlen(zone) < IF_NAMESIZE ? name_to_index(zone) : 0;
	if (scope == 0 && all_digits(zone))
		return -EINVAL;
	fill_in6(&a6, scope, port, out, outlen);
	return 0;
}

/* Only inet_pton's strict forms are literals here, as in Node's isIP(): everything else,
 * including "256.1.1.1", "1.2.3" and "-", is for the resolver, whose answer (ENOTFOUND, or
 * getaddrinfo's legacy reading of "1.2.3" as 1.2.0.3) is Node's too. */
int udg__addr_parse(int family, const char *text, int port, struct sockaddr_storage *out,
		    socklen_t *outlen)
{
	struct in_addr a4;
	struct in6_addr a6;

	assert(family == AF_INET || family == AF_INET6);
	if (!text || !*text)
		return UDG_ERR_INVALID_ARG_VALUE;
	if (inet_pton(AF_INET, text, &a4) == 1) {
		if (family != AF_INET)
			return -EINVAL; /* no IPv4-mapping for udp6: Node's "send EINVAL" */
		fill_in4(&a4, port, out, outlen);
		return 0;
	}
	const char *pct = strchr(text, '%');
	if (pct)
		return parse_zoned(family, text, pct, port, out, outlen);
	if (inet_pton(AF_INET6, text, &a6) == 1) {
		if (family != AF_INET6)
			return -EINVAL;
		fill_in6(&a6, 0, port, out, outlen);
		return 0;
	}
	return 1;
}

void udg__addr_any(int family, int port, struct sockaddr_storage *out, socklen_t *outlen)
{
	if (family == AF_INET) {
		struct in_addr any = { .s_addr = htonl(INADDR_ANY) };
		fill_in4(&any, port, out, outlen);
	} else {
		fill_in6(&in6addr_any, 0, port, out, outlen);
	}
}

void udg__addr_loopback(int family, int port, struct sockaddr_storage *out, socklen_t *outlen)
{
	if (family == AF_INET) {
		struct in_addr lo = { .s_addr = htonl(INADDR_LOOPBACK) };
		fill_in4(&lo, port, out, outlen);
	} else {
		fill_in6(&in6addr_loopback, 0, port, out, outlen);
	}
}

/* Dotted quad without inet_ntop's generality; returns the length (7..15). */
static size_t format_in4(const struct in_addr *a, char *p)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;
	char *start = p;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = '.';
	}
	p[-1] = '\0';
	return (size_t)(p - 1 - start);
}

/* Interface names for link-local scope ids, cached per thread: if_indextoname opens a netlink
 * socket per call (about 8 us), which made formatting a link-local sender 80 times slower than
 * any other address. A name is kept IFNAME_TTL_NS (one second) from its lookup, so a renamed or
 * removed interface shows within a second. Per thread, so no lock; a few entries, since a
 * receiver sees few interfaces. An unknown index is cached too (as an empty name). */
#define IFNAME_CACHE 4
#define IFNAME_TTL_NS 1000000000ull

struct ifname_entry {
	unsigned index;         /* 0 = unused slot */
	uint64_t looked_up_ns;  /* CLOCK_MONOTONIC_COARSE at the lookup */
	char name[IF_NAMESIZE]; /* "" when the index named no interface */
};

static _Thread_local struct ifname_entry ifname_cache[IFNAME_CACHE];
static _Thread_local unsigned ifname_next; /* round-robin victim */

static uint64_t coarse_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The interface name of index, or "" when there is none; never changes errno. */
static const char *ifname_of(unsigned index)
{
	uint64_t now = coarse_now_ns();
	struct ifname_entry *e = NULL;

	for (unsigned i = 0; i < IFNAME_CACHE; i++) {
		if (ifname_cache[i].index == index) {
			e = &ifname_cache[i];
			if (now - e->looked_up_ns < IFNAME_TTL_NS)
				return e->name;
			break; /* stale: look it up again in the same slot */
		}
	}
	if (!e)
		e = &ifname_cache[ifname_next++ % IFNAME_CACHE];

	int saved = errno;
	if (!if_indextoname(index, e->name))
		e->name[0] = '\0';
	errno = saved;
	e->index = index;
	e->looked_up_ns = now;
	return e->name;
}

/* IPv6 text, plus "%ifname" (or "%<index>" for an interface that is gone) for a link-local
 * address with a scope id (Node's AddressToJS). tmp has UDG_ADDRSTRLEN bytes. */
static size_t format_in6(const struct sockaddr_in6 *sin6, char *tmp)
{
	if (!inet_ntop(AF_INET6, &sin6->sin6_addr, tmp, INET6_ADDRSTRLEN))
		return 0; /* cannot happen: the buffer is large enough */
	size_t n = strlen(tmp);
	if (!IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) || sin6->sin6_scope_id == 0)
		return n;

	const char *ifname = ifname_of(sin6->sin6_scope_id);
	int m = ifname[0] ? snprintf(tmp + n, UDG_ADDRSTRLEN - n, "%%%s", ifname)
			  : snprintf(tmp + n, UDG_ADDRSTRLEN - n, "%%%u", sin6->sin6_scope_id);
	return n + (size_t)m;
}

int udg_format_address(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	char tmp[UDG_ADDRSTRLEN];
	size_t n;

	if (!sa || !buf)
		return -EINVAL;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		n = format_in4(&((const struct sockaddr_in *)sa)->sin_addr, tmp);
	else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		n = format_in6((const struct sockaddr_in6 *)sa, tmp);
	else
		return -EINVAL;
	if (n == 0)
		return -EINVAL;
	if (n >= buflen)
		return -ENOSPC;
	memcpy(buf, tmp, n + 1);
	return (int)n;
}

const char *udg_family_name(const struct sockaddr *sa)
{
	if (!sa)
		return "";
	if (sa->sa_family == AF_INET)
		return "IPv4";
	if (sa->sa_family == AF_INET6)
		return "IPv6";
	return "";
}

void udg__addr_to_public(const struct sockaddr *sa, socklen_t len, udg_address *out)
{
	memset(out, 0, sizeof(*out));
	if (udg_format_address(sa, len, out->address, sizeof(out->address)) < 0)
		return; /* unknown family: empty address and family, port 0 */
	snprintf(out->family, sizeof(out->family), "%s", udg_family_name(sa));
	/* sin_port and sin6_port sit at the same offset. */
	out->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
}
