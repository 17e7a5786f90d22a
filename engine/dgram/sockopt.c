/* engine/sockopt.c — Node's socket option methods: broadcast, TTLs, multicast interface and
 * loopback, (source-specific) memberships, kernel buffer sizes and send-queue introspection.
 * Cold: every call is one setsockopt/getsockopt. Checks run in one order everywhere: the handle
 * (NULL, closed), then the arguments, then the OS socket. Never leaves errno changed and never
 * changes anything when it returns an error, except that a membership call binds first. */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <string.h>

#include "dgram.h"

/* One option, named per family: udp4 uses the first pair, udp6 the second. */
struct family_opt {
	int level4, name4;
	int level6, name6;
};

static const struct family_opt opt_broadcast = {
	.level4 = SOL_SOCKET, .name4 = SO_BROADCAST, .level6 = SOL_SOCKET, .name6 = SO_BROADCAST
};
static const struct family_opt opt_ttl = {
	.level4 = IPPROTO_IP, .name4 = IP_TTL, .level6 = IPPROTO_IPV6, .name6 = IPV6_UNICAST_HOPS
};
static const struct family_opt opt_mcast_ttl = { .level4 = IPPROTO_IP,
						 .name4 = IP_MULTICAST_TTL,
						 .level6 = IPPROTO_IPV6,
						 .name6 = IPV6_MULTICAST_HOPS };
static const struct family_opt opt_mcast_loop = { .level4 = IPPROTO_IP,
						  .name4 = IP_MULTICAST_LOOP,
						  .level6 = IPPROTO_IPV6,
						  .name6 = IPV6_MULTICAST_LOOP };

/* setsockopt as -errno, with errno as the caller left it. */
static int setopt(const udg_socket *s, int level, int name, const void *val, socklen_t len)
{
	int saved = errno;
	int r = setsockopt(s->fd, level, name, val, len) == 0 ? 0 : -errno;
	errno = saved;
	return r;
}

/* The int-valued setters: an unbound socket has no OS socket yet, which Node reports as
 * "<method> EBADF", as Node reports it. */
static int set_int(const udg_socket *s, const struct family_opt *o, int value)
{
	if (s->fd < 0)
		return -EBADF;
	if (s->family == AF_INET6)
		return setopt(s, o->level6, o->name6, &value, sizeof(value));
	return setopt(s, o->level4, o->name4, &value, sizeof(value));
}

int udg_socket_set_broadcast(udg_socket *s, bool flag)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	return set_int(s, &opt_broadcast, flag ? 1 : 0);
}

int udg_socket_set_ttl(udg_socket *s, int ttl)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	/* The range is checked before the socket, as libuv does: setTTL(0) is EINVAL unbound. */
	if (ttl < 1 || ttl > 255)
		return -EINVAL;
	return set_int(s, &opt_ttl, ttl);
}

int udg_socket_set_multicast_ttl(udg_socket *s, int ttl)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	if (ttl < 0 || ttl > 255)
		return -EINVAL;
	return set_int(s, &opt_mcast_ttl, ttl);
}

int udg_socket_set_multicast_loopback(udg_socket *s, bool flag)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	return set_int(s, &opt_mcast_loop, flag ? 1 : 0);
}

/* ---- Address arguments ------------------------------------------------------------------- */

/* A multicast group literal of the socket's family; anything else is Node's "EINVAL". */
static int parse_group(int family, const char *text, struct sockaddr_storage *out)
{
	socklen_t len;
	if (udg__addr_parse(family, text, 0, out, &len) != 0)
		return -EINVAL;
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)out;
		return IN_MULTICAST(ntohl(sin->sin_addr.s_addr)) ? 0 : -EINVAL;
	}
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)out;
	return IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr) ? 0 : -EINVAL;
}

/* A unicast source literal of the socket's family. */
static int parse_source(int family, const char *text, struct sockaddr_storage *out)
{
	socklen_t len;
	return udg__addr_parse(family, text, 0, out, &len) == 0 ? 0 : -EINVAL;
}

/* udp4 interface: NULL is the kernel's choice (INADDR_ANY), otherwise an IPv4 literal. */
static int parse_iface4(const char *iface, struct in_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!iface) {
		out->s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (udg__addr_parse(AF_INET, iface, 0, &ss, &len) != 0)
		return -EINVAL;
	*out = ((const struct sockaddr_in *)&ss)->sin_addr;
	return 0;
}

/* udp6 interface: NULL is the kernel's choice (index 0); "addr%ifname" or "%ifname" names the
 * interface by its zone, as libuv reads only the scope id. An unknown name means the default
 * (index 0), as in Node. A multicast address is never an interface. */
static int parse_iface6(const char *iface, unsigned *ifindex)
{
	char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
	struct sockaddr_storage ss;
	socklen_t len;

	*ifindex = 0;
	if (!iface)
		return 0;
	if (iface[0] == '%') {
		if (strlen(iface) >= sizeof(text) - 2)
			return -EINVAL;
		text[0] = text[1] = ':';
		strcpy(text + 2, iface);
		iface = text;
	}
	if (udg__addr_parse(AF_INET6, iface, 0, &ss, &len) != 0)
		return -EINVAL;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
	if (IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr))
		return -EINVAL;
	*ifindex = sin6->sin6_scope_id;
	return 0;
}

int udg_socket_set_multicast_interface(udg_socket *s, const char *iface)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	if (!iface)
		return UDG_ERR_INVALID_ARG_TYPE;

	if (s->family == AF_INET) {
		/* "0.0.0.0" resets to the default. A multicast address is refused by the kernel
		 * (EADDRNOTAVAIL: no interface has it), as in Node. */
		struct in_addr a;
		r = parse_iface4(iface, &a);
		if (r)
			return r;
		if (s->fd < 0)
			return -EBADF;
		return setopt(s, IPPROTO_IP, IP_MULTICAST_IF, &a, sizeof(a));
	}
	unsigned ifindex;
	r = parse_iface6(iface, &ifindex);
	if (r)
		return r;
	if (s->fd < 0)
		return -EBADF;
	int idx = (int)ifindex;
	return setopt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx));
}

/* ---- Memberships ------------------------------------------------------------------------- */

/* Memberships work on an unbound socket: libuv binds it to the wildcard, port 0, on the spot
 * (as Node does), and Node's tests rely on that. Called only after every argument was accepted. */
static int ensure_bound(udg_socket *s)
{
	return s->fd >= 0 ? 0 : udg__socket_bind_wildcard_now(s);
}

static int membership4(udg_socket *s, const struct sockaddr_storage *group, const char *iface,
		       bool join)
{
	struct ip_mreq mreq = {
		.imr_multiaddr = ((const struct sockaddr_in *)group)->sin_addr,
	};
	int r = parse_iface4(iface, &mreq.imr_interface);
	if (r == 0)
		r = ensure_bound(s);
	if (r)
		return r;
	return setopt(s, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mreq,
		      sizeof(mreq));
}

static int membership6(udg_socket *s, const struct sockaddr_storage *group, const char *iface,
		       bool join)
{
	struct ipv6_mreq mreq = {
		.ipv6mr_multiaddr = ((const struct sockaddr_in6 *)group)->sin6_addr,
	};
	int r = parse_iface6(iface, &mreq.ipv6mr_interface);
	if (r == 0)
		r = ensure_bound(s);
	if (r)
		return r;
	return setopt(s, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mreq,
		      sizeof(mreq));
}

static int membership(udg_socket *s, const char *group, const char *iface, bool join)
{
	struct sockaddr_storage g;
	int r = udg__socket_check(s);
	if (r)
		return r;
	if (!group || !*group)
		return UDG_ERR_MISSING_ARGS;
	r = parse_group(s->family, group, &g);
	if (r)
		return r;
	return s->family == AF_INET ? membership4(s, &g, iface, join)
				    : membership6(s, &g, iface, join);
}

int udg_socket_add_membership(udg_socket *s, const char *group, const char *iface)
{
	return membership(s, group, iface, true);
}

int udg_socket_drop_membership(udg_socket *s, const char *group, const char *iface)
{
	return membership(s, group, iface, false);
}

static int source_membership4(udg_socket *s, const struct sockaddr_storage *src,
			      const struct sockaddr_storage *group, const char *iface, bool join)
{
	struct ip_mreq_source mreq = {
		.imr_multiaddr = ((const struct sockaddr_in *)group)->sin_addr,
		.imr_sourceaddr = ((const struct sockaddr_in *)src)->sin_addr,
	};
	int r = parse_iface4(iface, &mreq.imr_interface);
	if (r == 0)
		r = ensure_bound(s);
	if (r)
		return r;
	return setopt(s, IPPROTO_IP, join ? IP_ADD_SOURCE_MEMBERSHIP : IP_DROP_SOURCE_MEMBERSHIP,
		      &mreq, sizeof(mreq));
}

/* IPv6 has no ip_mreq_source; the protocol-independent MCAST_* API (RFC 3678) does both. */
static int source_membership6(udg_socket *s, const struct sockaddr_storage *src,
			      const struct sockaddr_storage *group, const char *iface, bool join)
{
	struct group_source_req req;
	unsigned ifindex;

	memset(&req, 0, sizeof(req));
	int r = parse_iface6(iface, &ifindex);
	if (r == 0)
		r = ensure_bound(s);
	if (r)
		return r;
	req.gsr_interface = ifindex;
	memcpy(&req.gsr_group, group, sizeof(struct sockaddr_in6));
	memcpy(&req.gsr_source, src, sizeof(struct sockaddr_in6));
	return setopt(s, IPPROTO_IPV6, join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP,
		      &req, sizeof(req));
}

static int source_membership(udg_socket *s, const char *source, const char *group,
			     const char *iface, bool join)
{
	struct sockaddr_storage src, g;
	int r = udg__socket_check(s);
	if (r)
		return r;
	if (!source || !group)
		return UDG_ERR_INVALID_ARG_TYPE;
	r = parse_source(s->family, source, &src);
	if (r == 0)
		r = parse_group(s->family, group, &g);
	if (r)
		return r;
	return s->family == AF_INET ? source_membership4(s, &src, &g, iface, join)
				    : source_membership6(s, &src, &g, iface, join);
}

int udg_socket_add_source_specific_membership(udg_socket *s, const char *source, const char *group,
					      const char *iface)
{
	return source_membership(s, source, group, iface, true);
}

int udg_socket_drop_source_specific_membership(udg_socket *s, const char *source, const char *group,
					       const char *iface)
{
	return source_membership(s, source, group, iface, false);
}

/* ---- Buffer sizes ------------------------------------------------------------------------ */

/* Set (size > 0) and/or read (out != NULL, or size == 0: Node's set(0) is a get) SO_RCVBUF or
 * SO_SNDBUF. Every failure is ERR_SOCKET_BUFFER_SIZE, as Node wraps them: no OS socket yet
 * (EBADF), or a size the kernel takes as negative (> INT_MAX: EINVAL in Node's native layer). */
static int buffer_size(udg_socket *s, int name, uint32_t size, uint32_t *out)
{
	if (size > INT_MAX || s->fd < 0)
		return UDG_ERR_SOCKET_BUFFER_SIZE;

	int saved = errno;
	int r = 0, v = (int)size;
	socklen_t len = sizeof(v);
	if (size > 0 && setsockopt(s->fd, SOL_SOCKET, name, &v, sizeof(v)) != 0)
		r = UDG_ERR_SOCKET_BUFFER_SIZE;
	else if ((size == 0 || out) && getsockopt(s->fd, SOL_SOCKET, name, &v, &len) != 0)
		r = UDG_ERR_SOCKET_BUFFER_SIZE;
	errno = saved;
	if (r == 0 && out)
		*out = (uint32_t)v;
	return r;
}

static int get_size(udg_socket *s, int name, uint32_t *out)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	if (!out)
		return UDG_ERR_INVALID_ARG_TYPE;
	return buffer_size(s, name, 0, out);
}

static int set_size(udg_socket *s, int name, uint32_t size)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	return buffer_size(s, name, size, NULL);
}

int udg_socket_get_recv_buffer_size(udg_socket *s, uint32_t *out)
{
	return get_size(s, SO_RCVBUF, out);
}

int udg_socket_get_send_buffer_size(udg_socket *s, uint32_t *out)
{
	return get_size(s, SO_SNDBUF, out);
}

int udg_socket_set_recv_buffer_size(udg_socket *s, uint32_t size)
{
	return set_size(s, SO_RCVBUF, size);
}

int udg_socket_set_send_buffer_size(udg_socket *s, uint32_t size)
{
	return set_size(s, SO_SNDBUF, size);
}

/* ---- Send queue -------------------------------------------------------------------------- */

/* The counters live in the socket and are kept by send.c; a closed socket reports 0. */
size_t udg_socket_get_send_queue_size(const udg_socket *s)
{
	return s && !s->closing ? s->queue_bytes : 0;
}

size_t udg_socket_get_send_queue_count(const udg_socket *s)
{
	return s && !s->closing ? s->queue_count : 0;
}

/* ---- The OS socket ----------------------------------------------------------------------- */

/* Extension: the fd exists from the OS bind (or a membership call's implicit bind) until
 * close; a closed socket answers like every other option call. */
int udg_socket_fd(const udg_socket *s)
{
	int r = udg__socket_check(s);
	if (r)
		return r;
	return s->fd >= 0 ? s->fd : -EBADF;
}
