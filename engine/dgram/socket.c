/* engine/dgram/socket.c — the socket state machine with Node's dgram semantics: create, bind
 * (explicit, implicit, hostname), connect/disconnect, close, ref/unref, events delivered on the
 * next tick, abort signals and the lookup glue. Cold path: syscalls here happen once per socket
 * or per call, never per datagram. Never runs a user callback inside the call that caused it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dgram.h"

struct udg_abort_signal {
	struct udg__handle handle; /* first: udg_loop_walk() hands out this address */
	udg_loop *loop;
	bool aborted;
	struct udg__list sockets; /* udg_socket.sig_link */
};

static void socket_recv_stopped(struct udg__io *io)
{
	udg__socket_op_done(UDG__CONTAINER_OF(io, udg_socket, io));
}

/* What the backend calls for a socket's endpoint (recv.c, send.c, here). */
static const struct udg__io_handlers socket_io = {
	.message = udg__socket_message,
	.recv_error = udg__socket_recv_error,
	.recv_stopped = socket_recv_stopped,
	.sent = udg__socket_sent,
};

/* ---- The layer's per-loop state ------------------------------------------------------------- */

static int dgram_shutdown(udg_loop *loop)
{
	struct udg__dgram_loop *d = udg__dgram_of(loop);

	if (udg__resolver_shutdown(loop) != 0)
		return -EBUSY;
	assert(d->slots_used == 0 && udg__list_empty(&d->sockets));
	udg__sends_fini(d);
	free(d);
	loop->upper = (struct udg__upper){ 0 };
	return 0;
}

/* Made with the loop's first socket: a loop without sockets pays nothing for send slots. */
struct udg__dgram_loop *udg__dgram_get(udg_loop *loop)
{
	struct udg__dgram_loop *d = udg__dgram_of(loop);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (udg__sends_init(d, loop->opts.send_slots) != 0) {
		free(d);
		return NULL;
	}
	udg__list_init(&d->sockets);
	udg__list_init(&d->rx_pending);
	loop->upper = (struct udg__upper){ .state = d,
					   .shutdown = dgram_shutdown,
					   .stats = udg__dgram_stats,
					   .rx_batch_end = udg__dgram_rx_batch_end };
	return d;
}

/* ---- Liveness ------------------------------------------------------------------------------ */

/* A socket keeps the loop alive while closing (its close must complete), or while referenced
 * and bound or binding (Node: a created, never-bound socket does not). */
static void update_active(udg_socket *s)
{
	bool want = !s->closed && (s->closing || (s->referenced && s->bind_state != UDG__UNBOUND));
	if (want != s->counted) {
		s->counted = want;
		udg__active_add(s->loop, want ? 1 : -1);
	}
}

int udg__socket_check(const udg_socket *s)
{
	if (!s)
		return UDG_ERR_INVALID_ARG_TYPE;
	return s->closing ? UDG_ERR_SOCKET_DGRAM_NOT_RUNNING : 0;
}

/* ---- Events --------------------------------------------------------------------------------- */

static void error_tick(struct udg__tick *t)
{
	udg_socket *s = UDG__CONTAINER_OF(t, udg_socket, ev_error);
	unsigned n = s->err_count;

	s->err_count = 0;
	for (unsigned i = 0; i < n && !s->closing; i++) {
		if (s->opts.on_error)
			s->opts.on_error(s, &s->errs[i], s->opts.user);
	}
	s->inflight--;
	udg__socket_op_done(s);
}

void udg__socket_error(udg_socket *s, int code, const char *syscall, const char *address, int port)
{
	if (s->err_count == UDG__MAX_ERRORS) {
		s->loop->stats.errors_dropped++;
		return;
	}
	unsigned i = s->err_count++;
	s->errs[i] = (udg_error_info){ .code = code, .syscall = syscall, .port = port };
	if (address) {
		snprintf(s->err_addrs[i], sizeof(s->err_addrs[i]), "%s", address);
		s->errs[i].address = s->err_addrs[i];
	}
	if (!s->ev_error.queued) {
		s->inflight++;
		udg__tick_queue(s->loop, &s->ev_error, error_tick);
	}
}

static void listening_tick(struct udg__tick *t)
{
	udg_socket *s = UDG__CONTAINER_OF(t, udg_socket, ev_listening);

	s->inflight--;
	if (!s->closing) {
		if (s->opts.on_listening)
			s->opts.on_listening(s, s->opts.user);
		udg_status_cb cb = s->bind_cb;
		s->bind_cb = NULL;
		if (cb && !s->closing)
			cb(s, 0, s->bind_user);
	}
	/* Node flushes its queue after the 'listening' listeners: queued sends leave now. */
	udg__sends_flush_waiting(s);
	udg__socket_op_done(s);
}

static void connect_tick(struct udg__tick *t)
{
	udg_socket *s = UDG__CONTAINER_OF(t, udg_socket, ev_connect);
	udg_status_cb cb = s->connect_cb;
	int status = s->connect_status;

	s->connect_cb = NULL;
	s->inflight--;
	/* The one place a connect ends. Until its outcome is delivered the socket is CONNECTING
	 * for every call (Node's state until 'connect'): connect() is IS_CONNECTED, so only one
	 * connect is ever in flight; remoteAddress() and disconnect() are NOT_CONNECTED; send()
	 * is an unconnected send and needs a port. connect(2) itself already ran. */
	s->conn_state = status == 0 ? UDG__CONNECTED : UDG__DISCONNECTED;
	if (!s->closing) {
		if (status == 0) {
			if (s->opts.on_connect)
				s->opts.on_connect(s, s->opts.user);
			if (cb && !s->closing)
				cb(s, 0, s->connect_user);
		} else if (cb) {
			cb(s, status, s->connect_user);
		} else if (s->opts.on_error) {
			udg_error_info e = { .code = status,
					     .syscall = s->connect_lookup_failed ? "getaddrinfo"
										 : "connect",
					     .address = s->connect_host,
					     .port = s->connect_port };
			s->opts.on_error(s, &e, s->opts.user);
		}
	}
	udg__socket_op_done(s);
}

/* ---- Creating and binding the OS socket ------------------------------------------------------ */

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) == 0 ? 0 : -errno;
}

static int open_fd(udg_socket *s)
{
	if (s->fd >= 0)
		return 0; /* created earlier by a membership call on an unbound socket */
	/* libuv refuses UV_UDP_IPV6ONLY on an IPv4 socket: Node's bind 'error' is EINVAL. */
	if (s->family == AF_INET && s->opts.ipv6_only)
		return -EINVAL;
	int fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (s->opts.reuse_addr)
		r = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (r == 0 && s->opts.reuse_port)
		r = set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (r == 0 && s->family == AF_INET6)
		r = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, s->opts.ipv6_only ? 1 : 0);
	if (r != 0) {
		close(fd);
		return r;
	}
	s->fd = fd;
	return 0;
}

static void close_fd(udg_socket *s)
{
	if (s->fd >= 0) {
		udg__socket_drops_read(s); /* the kernel's count goes with the fd */
		close(s->fd);
	}
	s->fd = -1;
	s->io.rx_drops = 0; /* a later fd (a bind after a failed one) counts from zero */
}

/* Constructor buffer sizes apply after the OS bind, before 'listening' (Node's order). */
static int apply_buffer_sizes(udg_socket *s)
{
	int r = 0;
	if (s->opts.recv_buffer_size)
		r = set_int_opt(s->fd, SOL_SOCKET, SO_RCVBUF, (int)s->opts.recv_buffer_size);
	if (r == 0 && s->opts.send_buffer_size)
		r = set_int_opt(s->fd, SOL_SOCKET, SO_SNDBUF, (int)s->opts.send_buffer_size);
	return r;
}

/* The socket is bound: start receiving and announce 'listening' on the next tick. Fails only
 * when the backend cannot take the descriptor (epoll_ctl: -ENOMEM, -ENOSPC). */
static int became_bound(udg_socket *s)
{
	int r = udg__socket_meta_open(s);
	if (r == 0)
		r = udg__io_open(&s->io, s->fd);
	if (r != 0)
		return r;
	s->bind_state = UDG__BOUND;
	update_active(s);
	udg__io_recv_start(&s->io);
	s->inflight++;
	udg__tick_queue(s->loop, &s->ev_listening, listening_tick);
	return 0;
}

static void do_connect(udg_socket *s);

/* connect_status while the peer's address is being resolved (status codes are 0 or negative):
 * a bind that completes meanwhile must not connect to an address not yet known. */
#define CONNECT_RESOLVING 1

/* A failed bind leaves the socket UNBOUND and usable, as in Node (a later bind may succeed). Sends
 * and a connect that waited for this bind fail: their callbacks run with the bind's error (a
 * deliberate fix: Node never calls them), and 'error' fires once for the bind. */
static void bind_failed(udg_socket *s, int code, const char *syscall, const char *address, int port)
{
	close_fd(s);
	s->last_bind_error = code;
	s->bind_state = UDG__UNBOUND;
	s->bind_cb = NULL;
	update_active(s);
	udg__socket_error(s, code, syscall, address, port);
	udg__sends_fail_waiting(s, code);
	if (s->connect_queued) {
		s->connect_queued = false;
		udg__lookup_cancel(s, &s->clookup); /* a later connect() may start it again */
		s->connect_status = code;
		s->inflight++;
		udg__tick_queue(s->loop, &s->ev_connect, connect_tick);
	}
}

/* Create the OS socket if needed and bind(2) it. Returns 0 or -errno. */
static int os_bind(udg_socket *s, const struct sockaddr_storage *addr, socklen_t len)
{
	int r = open_fd(s);
	if (r == 0 && bind(s->fd, (const struct sockaddr *)addr, len) != 0)
		r = -errno;
	return r;
}

/* OS bind to a resolved address; then receiving, buffer sizes, 'listening'. */
static void bind_to(udg_socket *s, const struct sockaddr_storage *addr, socklen_t len,
		    const char *text, int port)
{
	int r = os_bind(s, addr, len);
	if (r == 0)
		r = apply_buffer_sizes(s);
	if (r == 0)
		r = became_bound(s);
	if (r != 0) {
		bind_failed(s, r, "bind", text, port);
		return;
	}
	if (s->connect_queued && s->connect_status != CONNECT_RESOLVING) {
		s->connect_queued = false;
		do_connect(s);
	}
}

static void bind_lookup_done(struct udg_lookup_req *req)
{
	udg_socket *s = UDG__CONTAINER_OF(req, udg_socket, lookup);

	if (s->closing)
		return; /* closed while resolving: Node neither binds nor emits anything */
	if (req->status != 0) {
		bind_failed(s, req->status, "getaddrinfo", s->pending_host, s->bind_port);
		return;
	}
	bind_to(s, &req->addr, req->addrlen, s->pending_host, s->bind_port);
}

/* Resolve (or parse) `address` and bind. The state is BINDING until the OS bind ran. */
static int bind_start(udg_socket *s, int port, const char *address)
{
	bool wildcard = !address || !address[0];
	struct sockaddr_storage addr;
	socklen_t len = 0;
	int kind = 1;

	if (!s->opts.lookup) {
		if (wildcard) {
			udg__addr_any(s->family, port, &addr, &len);
			kind = 0;
		} else {
			kind = udg__addr_parse(s->family, address, port, &addr, &len);
		}
		if (kind < 0 && kind != -EINVAL)
			return kind;
	}
	s->bind_state = UDG__BINDING;
	s->bind_port = port;
	snprintf(s->pending_host, sizeof(s->pending_host), "%s",
		 wildcard ? (s->family == AF_INET ? "0.0.0.0" : "::") : address);
	update_active(s);
	if (kind == 0) {
		bind_to(s, &addr, len, s->pending_host, port);
	} else if (kind == -EINVAL) {
		bind_failed(s, -EINVAL, "bind", s->pending_host, port);
	} else {
		/* The caller's text, not the copy: a name too long for the copy still reaches
		 * the resolver whole (and fails there, as in Node). */
		int r = udg__lookup_start(s, &s->lookup, wildcard ? s->pending_host : address, port,
					  bind_lookup_done);
		if (r != 0) {
			s->bind_state = UDG__UNBOUND;
			update_active(s);
			return r;
		}
	}
	return 0;
}

/* Implicit bind of send()/connect(): wildcard address, ephemeral port, no callback. */
int udg__socket_bind_implicit(udg_socket *s)
{
	return bind_start(s, 0, NULL);
}

int udg__socket_bind_wildcard_now(udg_socket *s)
{
	if (s->fd >= 0)
		return 0;
	struct sockaddr_storage addr;
	socklen_t len;
	udg__addr_any(s->family, 0, &addr, &len);
	int r = os_bind(s, &addr, len);
	if (r != 0)
		close_fd(s);
	return r;
}

/* bind({fd}): adopt an existing UDP socket of the right family as it is. */
static int adopt_fd(udg_socket *s, int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(type);

	if (s->fd >= 0)
		return -EBUSY; /* a membership call made the OS socket: libuv's open() says EBUSY */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
		return errno == ENOTSOCK ? UDG_ERR_INVALID_FD_TYPE : -errno;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
		return -errno;
	if (type != SOCK_DGRAM || (domain != AF_INET && domain != AF_INET6))
		return UDG_ERR_INVALID_FD_TYPE;
	if (domain != s->family)
		return -EAFNOSUPPORT;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return -errno;
	s->fd = fd;
	int r = apply_buffer_sizes(s);
	if (r == 0)
		r = became_bound(s);
	if (r != 0)
		s->fd = -1;
	return r;
}

/* ---- Public: create ------------------------------------------------------------------------ */

UDG_EXPORT void udg_socket_options_init(udg_socket_options *opts, udg_socket_type type)
{
	if (opts)
		*opts = (udg_socket_options){ .type = type };
}

UDG_EXPORT void udg_bind_options_init(udg_bind_options *opts)
{
	if (opts)
		*opts = (udg_bind_options){ .port = 0, .address = NULL, .fd = -1 };
}

static void signal_link(udg_socket *s);
static void signal_unlink(udg_socket *s);

UDG_EXPORT int udg_socket_new(udg_loop *loop, const udg_socket_options *opts, udg_socket **out)
{
	UDG__PRESERVE_ERRNO;
	if (!loop || !opts || !out)
		return UDG_ERR_INVALID_ARG_TYPE;
	*out = NULL;
	if (opts->type != UDG_UDP4 && opts->type != UDG_UDP6)
		return UDG_ERR_SOCKET_BAD_TYPE;
	/* Node validates 0..2^32-1 here and then fails asynchronously at bind for sizes the
	 * kernel cannot take (> INT_MAX); we refuse them up front instead. */
	if (opts->recv_buffer_size > INT_MAX || opts->send_buffer_size > INT_MAX)
		return UDG_ERR_OUT_OF_RANGE;
	if (opts->metadata & ~(unsigned)UDG__META_ALL)
		return UDG_ERR_INVALID_ARG_VALUE;
	if (opts->offload & ~(unsigned)UDG__OFFLOAD_ALL)
		return UDG_ERR_INVALID_ARG_VALUE;
	if (opts->on_message && opts->on_message_batch)
		return UDG_ERR_INVALID_ARG_VALUE; /* one way to receive */
	if (udg__loop_forked(loop))
		return UDG_ERR_LOOP_FORKED;
	struct udg__dgram_loop *d = udg__dgram_get(loop);
	udg_socket *s = d ? calloc(1, sizeof(*s)) : NULL;
	if (!s)
		return -ENOMEM;
	if (opts->on_message_batch) {
		s->batch = calloc(1, sizeof(*s->batch));
		if (!s->batch) {
			free(s);
			return -ENOMEM;
		}
		s->batch->sock = s;
		udg__list_init(&s->batch->link);
	}
	s->loop = loop;
	s->fd = -1;
	s->family = opts->type == UDG_UDP4 ? AF_INET : AF_INET6;
	s->opts = *opts;
	s->referenced = true;
	udg__io_init(&s->io, loop, &socket_io);
	s->io.gso = loop->bk->gso_segs > 0 && !(opts->offload & UDG_OFFLOAD_NO_GSO);
	udg__fifo_init(&s->waiting);
	udg__list_init(&s->sig_link);
	udg__list_add_tail(&d->sockets, &s->link);
	udg__handle_add(loop, &s->handle, UDG_HANDLE_SOCKET);
	*out = s;
	if (opts->signal) {
		if (opts->signal->aborted)
			udg_socket_close(s, NULL, NULL); /* 'close' fires from the loop */
		else
			signal_link(s);
	}
	return 0;
}

UDG_EXPORT void *udg_socket_user(const udg_socket *s)
{
	return s ? s->opts.user : NULL;
}

UDG_EXPORT udg_loop *udg_socket_loop(const udg_socket *s)
{
	return s ? s->loop : NULL;
}

/* ---- Public: bind ------------------------------------------------------------------------- */

static int bind_ex(udg_socket *s, const udg_bind_options *opts, udg_status_cb cb, void *user)
{
	int r = udg__socket_check(s);
	if (r != 0)
		return r;
	if (!opts)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (s->bind_state != UDG__UNBOUND)
		return UDG_ERR_SOCKET_ALREADY_BOUND;
	if (opts->fd >= 0) {
		r = adopt_fd(s, opts->fd);
	} else {
		/* Node's async bind truncates bad ports silently; we refuse them (documented). */
		if (opts->port < 0 || opts->port > 65535)
			return UDG_ERR_SOCKET_BAD_PORT;
		s->bind_cb = cb;
		s->bind_user = user;
		r = bind_start(s, opts->port, opts->address);
		if (r != 0) {
			s->bind_cb = NULL;
			return r;
		}
		return 0;
	}
	if (r == 0) {
		s->bind_cb = cb;
		s->bind_user = user;
	}
	return r;
}

UDG_EXPORT int udg_socket_bind_ex(udg_socket *s, const udg_bind_options *opts, udg_status_cb cb,
				  void *user)
{
	/* socket(), bind() and the checks of an adopted fd set errno; the API must not. */
	UDG__PRESERVE_ERRNO;
	return bind_ex(s, opts, cb, user);
}

UDG_EXPORT int udg_socket_bind(udg_socket *s, int port, const char *address, udg_status_cb cb,
			       void *user)
{
	udg_bind_options o;
	udg_bind_options_init(&o);
	o.port = port;
	o.address = address;
	return udg_socket_bind_ex(s, &o, cb, user);
}

/* ---- Public: connect -------------------------------------------------------------------- */

static void do_connect(udg_socket *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->clookup.addr;
	int status = 0;

	if (s->connect_status == 0 && connect(s->fd, sa, s->clookup.addrlen) != 0)
		status = -errno;
	else
		status = s->connect_status;
	s->connect_status = status; /* the state changes when connect_tick delivers it */
	s->inflight++;
	udg__tick_queue(s->loop, &s->ev_connect, connect_tick);
}

static void connect_lookup_done(struct udg_lookup_req *req)
{
	udg_socket *s = UDG__CONTAINER_OF(req, udg_socket, clookup);

	if (s->closing || s->connect_status != CONNECT_RESOLVING)
		return; /* closed, or failed meanwhile by the bind it waited for */
	s->connect_status = req->status;
	s->connect_lookup_failed = req->status != 0;
	if (s->bind_state == UDG__BOUND) {
		s->connect_queued = false;
		do_connect(s);
	}
	/* else: still binding; bind_to() runs the connect once bound. */
}

UDG_EXPORT int udg_socket_connect(udg_socket *s, int port, const char *address, udg_status_cb cb,
				  void *user)
{
	UDG__PRESERVE_ERRNO;
	/* Node checks the port before any other argument or state. */
	if (port < 1 || port > 65535)
		return UDG_ERR_SOCKET_BAD_PORT;
	int r = udg__socket_check(s);
	if (r != 0)
		return r;
	if (s->conn_state != UDG__DISCONNECTED)
		return UDG_ERR_SOCKET_DGRAM_IS_CONNECTED;
	bool has_address = address && address[0];
	int kind = 1;
	struct udg_lookup_req *req = &s->clookup;
	if (!s->opts.lookup) {
		if (has_address) {
			kind = udg__addr_parse(s->family, address, port, &req->addr, &req->addrlen);
		} else {
			udg__addr_loopback(s->family, port, &req->addr, &req->addrlen);
			kind = 0;
		}
		if (kind < 0 && kind != -EINVAL)
			return kind;
	}
	s->conn_state = UDG__CONNECTING;
	s->connect_cb = cb;
	s->connect_user = user;
	s->connect_port = port;
	s->connect_status = kind == 1 ? CONNECT_RESOLVING : kind == -EINVAL ? -EINVAL : 0;
	s->connect_lookup_failed = false;
	snprintf(s->connect_host, sizeof(s->connect_host), "%s",
		 has_address ? address : (s->family == AF_INET ? "127.0.0.1" : "::1"));
	s->connect_queued = true;
	if (s->bind_state == UDG__UNBOUND) {
		r = udg__socket_bind_implicit(s);
		if (r != 0) {
			s->conn_state = UDG__DISCONNECTED;
			s->connect_queued = false;
			return r;
		}
		if (!s->connect_queued)
			return 0; /* the implicit bind failed and reported it */
	}
	if (kind == 1) {
		r = udg__lookup_start(s, req, has_address ? address : s->connect_host, port,
				      connect_lookup_done);
		if (r != 0) {
			s->conn_state = UDG__DISCONNECTED;
			s->connect_queued = false;
			return r;
		}
		return 0;
	}
	if (s->bind_state == UDG__BOUND) {
		s->connect_queued = false;
		do_connect(s);
	}
	return 0;
}

UDG_EXPORT int udg_socket_disconnect(udg_socket *s)
{
	UDG__PRESERVE_ERRNO;
	int r = udg__socket_check(s);
	if (r != 0)
		return r;
	if (s->conn_state != UDG__CONNECTED)
		return UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED; /* also while CONNECTING (as in Node)
							    */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	if (connect(s->fd, &unspec, sizeof(unspec)) != 0)
		return -errno;
	s->conn_state = UDG__DISCONNECTED;
	return 0;
}

UDG_EXPORT int udg_socket_remote_address(udg_socket *s, udg_address *out)
{
	UDG__PRESERVE_ERRNO;
	int r = udg__socket_check(s);
	if (r != 0)
		return r;
	if (s->conn_state != UDG__CONNECTED)
		return UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED;
	if (!out)
		return UDG_ERR_INVALID_ARG_TYPE;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(s->fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	udg__addr_to_public((struct sockaddr *)&ss, len, out);
	return 0;
}

UDG_EXPORT int udg_socket_address(udg_socket *s, udg_address *out)
{
	UDG__PRESERVE_ERRNO;
	int r = udg__socket_check(s);
	if (r != 0)
		return r;
	if (!out)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (s->fd < 0)
		return -EBADF;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	udg__addr_to_public((struct sockaddr *)&ss, len, out);
	return 0;
}

/* ---- Public: close ------------------------------------------------------------------------ */

static void close_tick(struct udg__tick *t)
{
	udg_socket *s = UDG__CONTAINER_OF(t, udg_socket, ev_close);
	udg_loop *loop = s->loop;

	assert(s->inflight == 0);
	udg__io_close(&s->io);
	close_fd(s);
	s->closed = true;
	update_active(s);
	if (s->opts.on_close)
		s->opts.on_close(s, s->opts.user);
	if (s->close_cb)
		s->close_cb(s, s->close_user);
	if (s->dispose_cb)
		s->dispose_cb(s, s->dispose_user);
	/* Leaves the loop's live sockets and joins its closed total in one step, so the loop's
	 * kernel_drops counts it exactly once, also inside the callbacks above. */
	udg__list_remove(&s->link);
	udg__dgram_of(loop)->closed_drops += s->io.kernel_drops;
	udg__handle_remove(loop, &s->handle);
	loop->reqs--;
	free(s->batch);
	free(s);
}

void udg__socket_op_done(udg_socket *s)
{
	if (s->closing && s->inflight == 0 && !udg__io_busy(&s->io) && !s->ev_close.queued &&
	    !s->closed)
		udg__tick_queue(s->loop, &s->ev_close, close_tick);
}

UDG_EXPORT int udg_socket_close(udg_socket *s, udg_event_cb cb, void *user)
{
	UDG__PRESERVE_ERRNO;
	int r = udg__socket_check(s);
	if (r != 0)
		return r;
	s->closing = true;
	s->close_cb = cb;
	s->close_user = user;
	s->loop->reqs++; /* the close itself is pending work until 'close' fires */
	signal_unlink(s);
	udg__lookup_cancel(s, &s->lookup);
	udg__lookup_cancel(s, &s->clookup);
	s->connect_queued = false;
	/* Every accepted send gets its callback exactly once: waiting ones are cancelled now,
	 * the ones in the kernel complete (or fail) on their own. */
	udg__sends_fail_waiting(s, -ECANCELED);
	udg__recv_retry_free(s);
	udg__rx_batch_drop(s); /* no 'message' after close, batched or not */
	if (s->io.open)
		udg__io_recv_stop(&s->io); /* sends already queued on it still go out */
	update_active(s);
	udg__socket_op_done(s);
	return 0;
}

UDG_EXPORT int udg_socket_dispose(udg_socket *s, udg_event_cb cb, void *user)
{
	if (!s)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (s->dispose_cb)
		return -EALREADY;
	s->dispose_cb = cb;
	s->dispose_user = user;
	if (s->closing)
		return 0; /* runs with the pending 'close' */
	return udg_socket_close(s, NULL, NULL);
}

UDG_EXPORT void udg_socket_ref(udg_socket *s)
{
	if (!s || s->closing)
		return;
	s->referenced = true;
	update_active(s);
}

UDG_EXPORT void udg_socket_unref(udg_socket *s)
{
	if (!s || s->closing)
		return;
	s->referenced = false;
	update_active(s);
}

/* ---- Lookups ------------------------------------------------------------------------------- */

static void custom_lookup_tick(struct udg__tick *t)
{
	struct udg_lookup_req *req = UDG__CONTAINER_OF(t, struct udg_lookup_req, tick);
	udg_socket *s = req->owner;

	req->pending = false;
	req->custom = false;
	s->inflight--;
	udg__lookup_deliver(req);
	udg__socket_op_done(s);
}

int udg__lookup_start(udg_socket *s, struct udg_lookup_req *req, const char *host, int port,
		      void (*done)(struct udg_lookup_req *req))
{
	req->loop = s->loop;
	req->owner = s;
	req->done = done;
	req->family = s->family;
	req->port = port;
	req->status = 0;
	req->pending = true;
	req->answered = false;
	if (!host || !host[0])
		host = s->family == AF_INET ? "127.0.0.1" : "::1";
	/* Kept for done(): a failed lookup's 'error' names the host, and a send's text belongs to
	 * its caller only during the call. Lookups are the cold path: they allocate anyway. */
	req->host = strdup(host);
	if (!req->host) {
		req->pending = false;
		return -ENOMEM;
	}
	if (s->opts.lookup) {
		/* The user's resolver holds req until udg_lookup_done: the socket stays until
		 * then, even when closed. */
		req->custom = true;
		s->inflight++;
		s->opts.lookup(req, host, s->family == AF_INET ? 4 : 6, s->opts.lookup_user);
		return 0;
	}
	req->custom = false;
	req->pending = false; /* udg__resolve_start() marks it pending (and asserts it was not) */
	int r = udg__resolve_start(s->loop, req, host);
	if (r != 0) {
		req->pending = false;
		free(req->host);
		req->host = NULL;
	}
	return r;
}

void udg__lookup_deliver(struct udg_lookup_req *req)
{
	char *host = req->host;

	/* Detached first: done() may start another lookup on the same request. */
	req->host = NULL;
	req->name = host;
	req->done(req);
	free(host);
}

void udg__lookup_cancel(udg_socket *s, struct udg_lookup_req *req)
{
	if (!req->pending || req->custom)
		return; /* a custom resolver still answers; the done callback sees `closing` */
	udg__resolve_cancel(req);
	req->pending = false;
	free(req->host);
	req->host = NULL;
}

UDG_EXPORT int udg_lookup_done(udg_lookup_req *req, int status, const char *address)
{
	UDG__PRESERVE_ERRNO;
	if (!req || !req->pending || !req->custom || req->answered)
		return -EINVAL;
	req->answered = true;
	if (status == 0) {
		if (!address)
			status = UDG_ERR_INVALID_ARG_TYPE;
		else
			status = udg__addr_parse(req->family, address, req->port, &req->addr,
						 &req->addrlen);
		if (status == 1)
			status = UDG_ERR_INVALID_ARG_VALUE; /* a resolver must answer numerically */
	}
	req->status = status;
	/* Deferred, so a resolver answering inside its own call still runs done() later. */
	udg__tick_queue(req->loop, &req->tick, custom_lookup_tick);
	return 0;
}

/* ---- Abort signals ------------------------------------------------------------------------ */

static void signal_link(udg_socket *s)
{
	udg__list_add_tail(&s->opts.signal->sockets, &s->sig_link);
}

static void signal_unlink(udg_socket *s)
{
	if (!s->opts.signal)
		return;
	udg__list_remove(&s->sig_link);
	s->opts.signal = NULL;
}

static udg_socket *signal_first(udg_abort_signal *sig)
{
	if (udg__list_empty(&sig->sockets))
		return NULL;
	return UDG__CONTAINER_OF(sig->sockets.next, udg_socket, sig_link);
}

UDG_EXPORT int udg_abort_signal_new(udg_loop *loop, udg_abort_signal **out)
{
	UDG__PRESERVE_ERRNO;
	if (!loop || !out)
		return -EINVAL;
	udg_abort_signal *sig = calloc(1, sizeof(*sig));
	if (!sig)
		return -ENOMEM;
	sig->loop = loop;
	udg__list_init(&sig->sockets);
	udg__handle_add(loop, &sig->handle, UDG_HANDLE_ABORT_SIGNAL);
	*out = sig;
	return 0;
}

UDG_EXPORT void udg_abort_signal_abort(udg_abort_signal *sig)
{
	if (!sig || sig->aborted)
		return;
	sig->aborted = true;
	udg_socket *s;
	while ((s = signal_first(sig)) != NULL)
		udg_socket_close(s, NULL, NULL); /* unlinks it */
}

UDG_EXPORT bool udg_abort_signal_aborted(const udg_abort_signal *sig)
{
	return sig && sig->aborted;
}

UDG_EXPORT void udg_abort_signal_free(udg_abort_signal *sig)
{
	if (!sig)
		return;
	udg_socket *s;
	while ((s = signal_first(sig)) != NULL)
		signal_unlink(s);
	udg__handle_remove(sig->loop, &sig->handle);
	free(sig);
}
