/* tests/fuzz/fuzz_send.c — libFuzzer target for the send argument checks: udg_socket_send,
 * send_range, sendv and send_to with fuzzed offsets, lengths, piece counts, ports and address
 * text, on unbound, bound and connected sockets; then close and run the loop. Every accepted
 * send must call back exactly once, never inside the call; errno must not change.
 * Safety: traffic only ever reaches this process's own sink sockets on loopback. Every valid
 * port is rewritten to a sink's, every literal that is not loopback to loopback and every
 * host name to "localhost", so the checks still see the text but nothing leaves the machine. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../engine/dgram/dgram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

static uint64_t take64(struct reader *r)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | take8(r);
	return v;
}

static udg_loop *loop;
static int sink_fd[2] = { -1, -1 }, sink_port[2];
static int callbacks, accepted_with_cb, connected_ok;

static void open_sinks(void)
{
	for (int f = 0; f < 2; f++) {
		struct sockaddr_storage ss;
		socklen_t len;
		udg__addr_loopback(f ? AF_INET6 : AF_INET, 0, &ss, &len);
		sink_fd[f] = socket(f ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (sink_fd[f] < 0 || bind(sink_fd[f], (struct sockaddr *)&ss, len) != 0)
			abort();
		len = sizeof(ss);
		getsockname(sink_fd[f], (struct sockaddr *)&ss, &len);
		sink_port[f] = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
}

static void drain_sinks(void)
{
	char buf[70000];
	for (int f = 0; f < 2; f++)
		while (recv(sink_fd[f], buf, sizeof(buf), MSG_DONTWAIT) >= 0)
			;
}

static void send_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s, (void)status, (void)bytes, (void)user;
	callbacks++;
}

static void connect_cb(udg_socket *s, int status, void *user)
{
	(void)s, (void)user;
	connected_ok = status == 0;
}

/* Rewrite a destination so that it can only be loopback; keep text the checks must refuse.
 * Every non-literal (a name, or a malformed literal such as "256.1.1.1") would go to the
 * system resolver: "localhost" keeps that path without asking DNS. */
static const char *safe_address(int family, const char *text)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int kind = udg__addr_parse(family, text, 1, &ss, &len);
	if (kind == 1)
		return "localhost";
	if (kind != 0)
		return text; /* empty (the default host), or the other family (EINVAL later) */
	if (family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127
			       ? text
			       : "127.0.0.1";
	return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr) ? text : "::1";
}

static bool known_code(int r)
{
	switch (r) {
	case 0:
	case UDG_ERR_INVALID_ARG_TYPE:
	case UDG_ERR_OUT_OF_RANGE:
	case UDG_ERR_SOCKET_BAD_PORT:
	case UDG_ERR_BUFFER_OUT_OF_BOUNDS:
	case UDG_ERR_SOCKET_DGRAM_IS_CONNECTED:
	case UDG_ERR_SOCKET_DGRAM_NOT_RUNNING:
	case UDG_ERR_INVALID_ARG_VALUE:
	case UDG_ERR_SEND_QUEUE_FULL:
	case -EINVAL:
	case -ENOMEM:
		return true;
	default:
		return false;
	}
}

static int one_send(udg_socket *s, int fi, struct reader *r, const uint8_t *payload,
		    size_t payload_len)
{
	int family = fi ? AF_INET6 : AF_INET;
	uint8_t mode = take8(r);
	bool with_cb = mode & 0x80;
	int port = (int)(int32_t)(uint32_t)take64(r);
	if (port >= 1 && port <= 65535)
		port = sink_port[fi];
	if (mode & 0x40)
		port = 0; /* the connected form */
	char text[300];
	uint8_t tlen = take8(r);
	const char *address = NULL;
	if (tlen != 0xff) {
		size_t n = tlen < r->n ? tlen : r->n;
		n = n < sizeof(text) - 1 ? n : sizeof(text) - 1;
		memcpy(text, r->p, n);
		text[n] = '\0';
		r->p += n, r->n -= n;
		address = safe_address(family, text);
	}
	udg_send_cb cb = with_cb ? send_cb : NULL;
	int before = callbacks;
	errno = 777;
	int ret;
	switch (mode & 3) {
	case 0:
		ret = udg_socket_send(s, payload_len ? payload : NULL, payload_len, port, address,
				      cb, NULL);
		break;
	case 1: {
		size_t off = (size_t)take64(r), len = (size_t)take64(r);
		if (take8(r) & 1) /* mostly in range, so the happy path is explored too */
			off %= payload_len + 1, len %= payload_len - off + 1;
		ret = udg_socket_send_range(s, payload, payload_len, off, len, port, address, cb,
					    NULL);
		break;
	}
	case 2: {
		udg_buf bufs[UDG_SENDV_MAX + 2];
		size_t n = take8(r) % (UDG_SENDV_MAX + 2), used = 0;
		for (size_t i = 0; i < n; i++) {
			size_t len = payload_len - used ? take8(r) % (payload_len - used + 1) : 0;
			bool null_base = (take8(r) & 0x1f) == 0;
			bufs[i] = (udg_buf){ null_base ? NULL : payload + used, len };
			used += len;
		}
		ret = udg_socket_sendv(s, (take8(r) & 0x3f) == 0 ? NULL : bufs, n, port, address,
				       cb, NULL);
		break;
	}
	default: {
		struct sockaddr_storage ss;
		socklen_t len;
		uint8_t f = take8(r);
		udg__addr_loopback((f & 1) ? AF_INET6 : AF_INET, port < 0 ? 0 : port & 0xffff, &ss,
				   &len);
		if (f & 2)
			ss.ss_family = (sa_family_t)take8(r); /* any family, even nonsense */
		len = (socklen_t)(take8(r) % (sizeof(ss) + 1));
		ret = udg_socket_send_to(s, payload, payload_len, (f & 4) ? NULL : (void *)&ss, len,
					 cb, NULL);
		break;
	}
	}
	if (errno != 777 || callbacks != before || !known_code(ret))
		abort();
	if (ret == 0 && with_cb)
		accepted_with_cb++;
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop) {
		if (udg_loop_new(NULL, &loop) != 0)
			abort();
		open_sinks();
	}
	struct reader r = { data, size };
	uint8_t setup = take8(&r);
	int fi = setup & 1;
	udg_socket_options o;
	udg_socket_options_init(&o, fi ? UDG_UDP6 : UDG_UDP4);
	udg_socket *s;
	if (udg_socket_new(loop, &o, &s) != 0)
		abort();
	callbacks = accepted_with_cb = 0;
	connected_ok = 0;
	if (setup & 2)
		udg_socket_bind(s, 0, fi ? "::1" : "127.0.0.1", NULL, NULL);
	if (setup & 4) {
		udg_socket_connect(s, sink_port[fi], NULL, connect_cb, NULL);
		for (int i = 0; i < 4; i++)
			udg_loop_run(loop, UDG_RUN_NOWAIT);
	}
	/* The tail of the input is the payload; the head drives up to 4 sends. */
	size_t payload_len = r.n / 2;
	const uint8_t *payload = data + size - payload_len;
	r.n -= payload_len;
	int sends = 1 + ((setup >> 3) & 3);
	for (int i = 0; i < sends; i++)
		one_send(s, fi, &r, payload, payload_len);
	if (udg_socket_close(s, NULL, NULL) != 0)
		abort();
	if (udg_loop_run(loop, UDG_RUN_DEFAULT) != 0)
		abort();
	if (callbacks != accepted_with_cb)
		abort(); /* each accepted send calls back exactly once */
	drain_sinks();
	return 0;
}
