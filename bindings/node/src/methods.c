/* bindings/node/src/methods.c — the addon's functions as index.js calls them: a handle-like
 * layer over udg sockets (create, bind, connect, close, options) and sendBatch(), which takes
 * every datagram JS queued during one tick in one call. Argument checking in Node's words is
 * index.js's job: these functions expect well-formed values and return udg's negative codes.
 */
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include "addon.h"

#define ARGS(n)                             \
	size_t argc = (n);                  \
	napi_value argv[(n) > 0 ? (n) : 1]; \
	struct un_state *st;                \
	napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&st)

static int32_t arg_i32(napi_env env, napi_value v)
{
	int32_t x = 0;
	napi_get_value_int32(env, v, &x);
	return x;
}

static uint32_t arg_u32(napi_env env, napi_value v)
{
	uint32_t x = 0;
	napi_get_value_uint32(env, v, &x);
	return x;
}

static bool arg_bool(napi_env env, napi_value v)
{
	bool b = false;
	napi_get_value_bool(env, v, &b);
	return b;
}

/* A string argument into buf; NULL when the value is null or undefined. */
static const char *arg_str(napi_env env, napi_value v, char *buf, size_t len)
{
	napi_valuetype t;
	size_t n = 0;

	napi_typeof(env, v, &t);
	if (t != napi_string)
		return NULL;
	napi_get_value_string_utf8(env, v, buf, len, &n);
	return buf;
}

static napi_value num(napi_env env, double x)
{
	napi_value v;
	napi_create_double(env, x, &v);
	return v;
}

struct un_sock *un_sock_get(struct un_state *st, int32_t id)
{
	if (id < 0 || (uint32_t)id >= st->nsocks)
		return NULL;
	struct un_sock *us = st->socks[id];
	return us && us->s ? us : NULL;
}

/* The C socket's close completed: its slot is reused. */
void un_sock_release(struct un_state *st, struct un_sock *us)
{
	st->socks[us->id] = NULL;
	free(us);
}

/* ---- Events from udg into the batch ------------------------------------------------------- */

static void on_listening(udg_socket *s, void *user)
{
	struct un_sock *us = user;
	(void)s;
	un_row(us->st, UN_LISTENING, us->id);
}

static void on_close(udg_socket *s, void *user)
{
	struct un_sock *us = user;
	(void)s;
	un_row(us->st, UN_CLOSED, us->id);
	us->s = NULL;
	un_sock_release(us->st, us);
}

static void copy_text(char *dst, size_t n, const char *src)
{
	size_t l = src ? strlen(src) : 0;
	if (l >= n)
		l = n - 1;
	memcpy(dst, src ? src : "", l);
	dst[l] = 0;
}

static void on_error(udg_socket *s, const udg_error_info *err, void *user)
{
	struct un_sock *us = user;
	struct un_state *st = us->st;

	(void)s;
	if (st->nerrs == UN_MAX_ERRS)
		un_flush(st);
	struct un_err *e = &st->errs[st->nerrs];
	copy_text(e->syscall, sizeof(e->syscall), err->syscall);
	copy_text(e->address, sizeof(e->address), err->address);
	e->has_address = err->address != NULL;
	e->port = err->port;
	int32_t *r = un_row(st, UN_ERROR, us->id);
	r[2] = err->code;
	r[3] = (int32_t)st->nerrs++;
}

static void on_connect_done(udg_socket *s, int status, void *user)
{
	struct un_sock *us = udg_socket_user(s);
	(void)user;
	un_row(us->st, UN_CONNECT, us->id)[2] = status;
}

static void on_send_done(udg_socket *s, int status, size_t bytes, void *user)
{
	struct un_sock *us = udg_socket_user(s);
	int32_t *r = un_row(us->st, UN_SEND, us->id);
	r[2] = (int32_t)(intptr_t)user;
	r[3] = status;
	r[4] = (int32_t)bytes;
}

/* ---- Sockets ----------------------------------------------------------------------------------
 */

static int32_t sock_slot(struct un_state *st)
{
	if (st->nsocks == st->socks_cap) {
		uint32_t cap = st->socks_cap ? st->socks_cap * 2 : 64;
		struct un_sock **n = realloc(st->socks, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		st->socks = n;
		st->socks_cap = cap;
	}
	for (uint32_t i = 0; i < st->nsocks; i++)
		if (!st->socks[i])
			return (int32_t)i;
	st->socks[st->nsocks] = NULL;
	return (int32_t)st->nsocks++;
}

/* create(type 4|6, reuseAddr, ipv6Only, reusePort, recvBufferSize, sendBufferSize) -> id */
static napi_value m_create(napi_env env, napi_callback_info info)
{
	ARGS(6);
	udg_socket_options o;
	int32_t id = sock_slot(st);

	if (id < 0)
		return num(env, id);
	struct un_sock *us = calloc(1, sizeof(*us));
	if (!us)
		return num(env, -ENOMEM);
	udg_socket_options_init(&o, arg_i32(env, argv[0]) == 6 ? UDG_UDP6 : UDG_UDP4);
	o.reuse_addr = arg_bool(env, argv[1]);
	o.ipv6_only = arg_bool(env, argv[2]);
	o.reuse_port = arg_bool(env, argv[3]);
	o.recv_buffer_size = arg_u32(env, argv[4]);
	o.send_buffer_size = arg_u32(env, argv[5]);
	o.on_message = un_on_message;
	o.on_listening = on_listening;
	o.on_close = on_close;
	o.on_error = on_error;
	o.user = us;
	us->st = st;
	us->id = id;
	int r = udg_socket_new(st->loop, &o, &us->s);
	if (r < 0) {
		free(us);
		return num(env, r);
	}
	st->socks[id] = us;
	return num(env, id);
}

#define SOCK_OR_RETURN(idx)                                            \
	struct un_sock *us = un_sock_get(st, arg_i32(env, argv[idx])); \
	if (!us)                                                       \
	return num(env, UDG_ERR_SOCKET_DGRAM_NOT_RUNNING)

/* bind(id, address, port, fd) -> 0 | code; 'listening' or 'error' follows in a batch. */
static napi_value m_bind(napi_env env, napi_callback_info info)
{
	ARGS(4);
	SOCK_OR_RETURN(0);
	char addr[UDG_ADDRSTRLEN * 2];
	udg_bind_options bo;

	udg_bind_options_init(&bo);
	bo.address = arg_str(env, argv[1], addr, sizeof(addr));
	bo.port = arg_i32(env, argv[2]);
	bo.fd = arg_i32(env, argv[3]);
	int r = udg_socket_bind_ex(us->s, &bo, NULL, NULL);
	un_mark_dirty(st);
	return num(env, r);
}

/* connect(id, address, port) -> 0 | code; a CONNECT row with the status follows. */
static napi_value m_connect(napi_env env, napi_callback_info info)
{
	ARGS(3);
	SOCK_OR_RETURN(0);
	char addr[UDG_ADDRSTRLEN * 2];

	int r = udg_socket_connect(us->s, arg_i32(env, argv[2]),
				   arg_str(env, argv[1], addr, sizeof(addr)), on_connect_done,
				   NULL);
	un_mark_dirty(st);
	return num(env, r);
}

static napi_value m_disconnect(napi_env env, napi_callback_info info)
{
	ARGS(1);
	SOCK_OR_RETURN(0);
	return num(env, udg_socket_disconnect(us->s));
}

/* close(id): receiving stops now; a CLOSED row comes when udg has finished with the socket. */
static napi_value m_close(napi_env env, napi_callback_info info)
{
	ARGS(1);
	SOCK_OR_RETURN(0);
	int r = udg_socket_close(us->s, NULL, NULL);
	un_mark_dirty(st);
	return num(env, r);
}

static napi_value address_array(napi_env env, int r, const udg_address *a)
{
	napi_value arr, v;

	if (r < 0)
		return num(env, r);
	napi_create_array_with_length(env, 3, &arr);
	napi_create_string_utf8(env, a->address, NAPI_AUTO_LENGTH, &v);
	napi_set_element(env, arr, 0, v);
	napi_create_string_utf8(env, a->family, NAPI_AUTO_LENGTH, &v);
	napi_set_element(env, arr, 1, v);
	napi_set_element(env, arr, 2, num(env, a->port));
	return arr;
}

/* address(id, remote) -> [address, family, port] | code */
static napi_value m_address(napi_env env, napi_callback_info info)
{
	ARGS(2);
	SOCK_OR_RETURN(0);
	udg_address a;
	int r = arg_bool(env, argv[1]) ? udg_socket_remote_address(us->s, &a)
				       : udg_socket_address(us->s, &a);
	return address_array(env, r, &a);
}

/* setopt(id, which, value): 0 broadcast, 1 ttl, 2 multicast ttl, 3 multicast loopback. */
static napi_value m_setopt(napi_env env, napi_callback_info info)
{
	ARGS(3);
	SOCK_OR_RETURN(0);
	int v = arg_i32(env, argv[2]);

	switch (arg_i32(env, argv[1])) {
	case 0:
		return num(env, udg_socket_set_broadcast(us->s, v != 0));
	case 1:
		return num(env, udg_socket_set_ttl(us->s, v));
	case 2:
		return num(env, udg_socket_set_multicast_ttl(us->s, v));
	default:
		return num(env, udg_socket_set_multicast_loopback(us->s, v != 0));
	}
}

static napi_value m_mcast_iface(napi_env env, napi_callback_info info)
{
	ARGS(2);
	SOCK_OR_RETURN(0);
	char ifc[UDG_ADDRSTRLEN * 2];
	return num(env, udg_socket_set_multicast_interface(
				us->s, arg_str(env, argv[1], ifc, sizeof(ifc))));
}

/* membership(id, add, source|null, group, iface|null) */
static napi_value m_membership(napi_env env, napi_callback_info info)
{
	ARGS(5);
	SOCK_OR_RETURN(0);
	char src[UDG_ADDRSTRLEN * 2], grp[UDG_ADDRSTRLEN * 2], ifc[UDG_ADDRSTRLEN * 2];
	bool add = arg_bool(env, argv[1]);
	const char *s = arg_str(env, argv[2], src, sizeof(src));
	const char *g = arg_str(env, argv[3], grp, sizeof(grp));
	const char *i = arg_str(env, argv[4], ifc, sizeof(ifc));
	int r;

	if (s)
		r = add ? udg_socket_add_source_specific_membership(us->s, s, g, i)
			: udg_socket_drop_source_specific_membership(us->s, s, g, i);
	else
		r = add ? udg_socket_add_membership(us->s, g, i)
			: udg_socket_drop_membership(us->s, g, i);
	return num(env, r);
}

/* bufferSize(id, recv, size): size 0 reads; returns the kernel's value or a code. */
static napi_value m_buffer_size(napi_env env, napi_callback_info info)
{
	ARGS(3);
	SOCK_OR_RETURN(0);
	bool recv = arg_bool(env, argv[1]);
	double size = 0;
	uint32_t out = 0;
	int r;

	napi_get_value_double(env, argv[2], &size);
	if (size > 0) {
		r = recv ? udg_socket_set_recv_buffer_size(us->s, (uint32_t)size)
			 : udg_socket_set_send_buffer_size(us->s, (uint32_t)size);
		if (r < 0)
			return num(env, r);
	}
	r = recv ? udg_socket_get_recv_buffer_size(us->s, &out)
		 : udg_socket_get_send_buffer_size(us->s, &out);
	return num(env, r < 0 ? r : (double)out);
}

/* queue(id, count) -> bytes or requests in flight in udg */
static napi_value m_queue(napi_env env, napi_callback_info info)
{
	ARGS(2);
	SOCK_OR_RETURN(0);
	return num(env, (double)(arg_bool(env, argv[1]) ? udg_socket_get_send_queue_count(us->s)
							: udg_socket_get_send_queue_size(us->s)));
}

/* addAddr(text) -> id of a destination address (numeric, "%zone" allowed) | code */
static napi_value m_add_addr(napi_env env, napi_callback_info info)
{
	ARGS(1);
	char text[UDG_ADDRSTRLEN * 2];
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL;

	if (!arg_str(env, argv[0], text, sizeof(text)))
		return num(env, UDG_ERR_INVALID_ARG_VALUE);
	if (getaddrinfo(text, NULL, &hints, &res) != 0) {
		/* An unknown zone name means scope 0, as libuv reads it (Node rule 69). */
		char *pct = strchr(text, '%');
		if (!pct)
			return num(env, UDG_ERR_INVALID_ARG_VALUE);
		*pct = 0;
		if (getaddrinfo(text, NULL, &hints, &res) != 0)
			return num(env, UDG_ERR_INVALID_ARG_VALUE);
	}
	if (st->ndst == st->dst_cap) {
		uint32_t cap = st->dst_cap ? st->dst_cap * 2 : 64;
		struct un_dst *n = realloc(st->dst, cap * sizeof(*n));
		if (!n) {
			freeaddrinfo(res);
			return num(env, -ENOMEM);
		}
		st->dst = n;
		st->dst_cap = cap;
	}
	struct un_dst *d = &st->dst[st->ndst];
	memcpy(&d->ss, res->ai_addr, res->ai_addrlen);
	d->len = res->ai_addrlen;
	freeaddrinfo(res);
	return num(env, st->ndst++);
}

/* clearAddrs(): JS dropped its map of destination ids (it does so between batches only). */
static napi_value m_clear_addrs(napi_env env, napi_callback_info info)
{
	ARGS(0);
	st->ndst = 0;
	return NULL;
}

/* ---- sendBatch ---------------------------------------------------------------------------- */

/* Datagram descriptors in the meta Int32Array, UN_META cells each:
 * [sock, dst id or -1 (connected), port, pieces, req id (0: none), result]. */
#define UN_META 6
/* Pieces in the Float64Array, 3 cells each: [entry, byte offset, byte length], where entry
 * indexes the call's array of distinct buffers (an ArrayBuffer, or a view of a
 * SharedArrayBuffer, whose offset the piece's already includes). */
#define UN_PIECE 3
/* Buffers resolved per handle scope. */
#define UN_ENT_SCOPE 64

/* One datagram of the batch to udg. */
static int send_one(struct un_state *st, const int32_t *m, udg_buf *bufs, size_t n)
{
	struct un_sock *us = un_sock_get(st, m[0]);
	udg_send_cb cb = m[4] ? on_send_done : NULL;
	void *user = (void *)(intptr_t)m[4];

	if (!us)
		return UDG_ERR_SOCKET_DGRAM_NOT_RUNNING;
	if (m[1] < 0)
		return udg_socket_sendv(us->s, bufs, n, 0, NULL, cb, user);
	if ((uint32_t)m[1] >= st->ndst)
		return -EINVAL;
	struct sockaddr_storage ss = st->dst[m[1]].ss;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)m[2]);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)m[2]);
	return udg_socket_sendv_to(us->s, bufs, n, (struct sockaddr *)&ss, st->dst[m[1]].len, cb,
				   user);
}

/* The base and length of every distinct buffer of the call: one N-API lookup per buffer, not
 * per piece. A detached buffer resolves to length 0, so its pieces fail the bounds check. */
static bool resolve_entries(napi_env env, struct un_state *st, napi_value list)
{
	uint32_t n = 0;

	napi_get_array_length(env, list, &n);
	if (n > st->ents_cap) {
		uint32_t cap = st->ents_cap ? st->ents_cap : 64;
		while (cap < n)
			cap *= 2;
		struct un_ent *e = realloc(st->ents, cap * sizeof(*e));
		if (!e)
			return false;
		st->ents = e;
		st->ents_cap = cap;
	}
	for (uint32_t i = 0; i < n;) {
		napi_handle_scope scope;
		napi_open_handle_scope(env, &scope);
		for (uint32_t end = i + UN_ENT_SCOPE; i < n && i < end; i++) {
			napi_value v;
			void *data = NULL;
			size_t len = 0;
			napi_typedarray_type t;
			napi_get_element(env, list, i, &v);
			if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok) {
				size_t count = 0;
				if (napi_get_typedarray_info(env, v, &t, &count, &data, NULL,
							     NULL) == napi_ok)
					len = count; /* JS passes Uint8Array views only */
				else
					data = NULL, len = 0;
			}
			st->ents[i] = (struct un_ent){ .base = data, .len = data ? len : 0 };
		}
		napi_close_handle_scope(env, scope);
	}
	return true;
}

/* sendBatch(n, meta Int32Array, pieces Float64Array, buffers Array) -> datagrams taken. Each
 * datagram's synchronous result goes to its meta[5] (0 or a negative code). It stops before the
 * first one refused with SEND_QUEUE_FULL: JS keeps that one and the rest for later. */
static napi_value m_send_batch(napi_env env, napi_callback_info info)
{
	ARGS(4);
	uint32_t n = (uint32_t)arg_i32(env, argv[0]), i = 0;
	int32_t *meta = NULL;
	double *pieces = NULL;
	size_t meta_len = 0, pieces_len = 0, k = 0;
	uint32_t nents = 0;
	napi_typedarray_type t;
	udg_buf bufs[UDG_SENDV_MAX];

	napi_get_typedarray_info(env, argv[1], &t, &meta_len, (void **)&meta, NULL, NULL);
	napi_get_typedarray_info(env, argv[2], &t, &pieces_len, (void **)&pieces, NULL, NULL);
	if (meta_len < (size_t)n * UN_META || !resolve_entries(env, st, argv[3]))
		return num(env, 0);
	napi_get_array_length(env, argv[3], &nents);
	st->in_js++;
	for (; i < n; i++) {
		int32_t *m = meta + (size_t)i * UN_META;
		size_t np = (size_t)m[3], k0 = k;
		int r = 0;

		/* JS joins lists of more than UDG_SENDV_MAX pieces into one before queueing. */
		if (np > UDG_SENDV_MAX || (k + np) * UN_PIECE > pieces_len) {
			m[5] = UDG_ERR_OUT_OF_RANGE;
			k += np;
			continue;
		}
		for (size_t j = 0; j < np; j++, k++) {
			const double *p = pieces + k * UN_PIECE;
			double off = p[1], len = p[2];
			/* Written as "not inside" so that a NaN fails too. */
			if (!(p[0] >= 0 && p[0] < (double)nents && off >= 0 && len >= 0)) {
				r = UDG_ERR_BUFFER_OUT_OF_BOUNDS;
				continue;
			}
			const struct un_ent *e = &st->ents[(uint32_t)p[0]];
			if (!(off + len <= (double)e->len)) {
				r = UDG_ERR_BUFFER_OUT_OF_BOUNDS;
				continue;
			}
			bufs[j] = (udg_buf){ .base = e->base + (size_t)off, .len = (size_t)len };
		}
		if (r == 0)
			r = send_one(st, m, bufs, np);
		if (r == UDG_ERR_SEND_QUEUE_FULL) {
			k = k0;
			st->want_wake = true;
			break;
		}
		m[5] = r;
	}
	st->in_js--;
	un_mark_dirty(st);
	return num(env, i);
}

/* ---- Loop-wide ---------------------------------------------------------------------------- */

static napi_value m_ref(napi_env env, napi_callback_info info)
{
	ARGS(1);
	un_set_ref(st, arg_bool(env, argv[0]));
	return NULL;
}

static napi_value m_err_name(napi_env env, napi_callback_info info)
{
	ARGS(1);
	napi_value v;
	napi_create_string_utf8(env, udg_err_name(arg_i32(env, argv[0])), NAPI_AUTO_LENGTH, &v);
	return v;
}

static napi_value m_strerror(napi_env env, napi_callback_info info)
{
	ARGS(1);
	napi_value v;
	napi_create_string_utf8(env, udg_strerror(arg_i32(env, argv[0])), NAPI_AUTO_LENGTH, &v);
	return v;
}

/* Environment teardown (process exit, a worker ending): stop the uv handles; the loop and its
 * sockets are freed with the process. */
static void cleanup(void *arg)
{
	struct un_state *st = arg;
	un_embed_stop(st);
}

/* Loop options for Node: receive buffers hold a full 64 KiB datagram (node:dgram never
 * truncates) and 4096 send slots let one tick of a send loop be accepted at once.
 * UDG_NODE_RECV_BUF_SIZE / UDG_NODE_RECV_BUF_COUNT / UDG_NODE_SEND_SLOTS override. */
static void loop_options(udg_loop_options *o)
{
	const char *v;

	udg_loop_options_init(o);
	o->recv_buf_size = 65536 + 256;
	o->recv_buf_count = 1024;
	o->send_slots = 4096;
	if ((v = getenv("UDG_NODE_RECV_BUF_SIZE")))
		o->recv_buf_size = (unsigned)strtoul(v, NULL, 10);
	if ((v = getenv("UDG_NODE_RECV_BUF_COUNT")))
		o->recv_buf_count = (unsigned)strtoul(v, NULL, 10);
	if ((v = getenv("UDG_NODE_SEND_SLOTS")))
		o->send_slots = (unsigned)strtoul(v, NULL, 10);
}

/* init(rows Int32Array, onBatch) -> 0 | code: creates the loop and embeds it. */
static napi_value m_init(napi_env env, napi_callback_info info)
{
	ARGS(2);
	napi_typedarray_type t;
	size_t len = 0;
	napi_value res, name;
	udg_loop_options o;

	if (st->loop)
		return num(env, 0);
	napi_get_typedarray_info(env, argv[0], &t, &len, (void **)&st->rows, NULL, NULL);
	st->row_cap = (uint32_t)(len / UN_ROW);
	napi_create_reference(env, argv[0], 1, &st->rows_ref);
	napi_create_reference(env, argv[1], 1, &st->on_batch);
	napi_create_object(env, &res);
	napi_create_reference(env, res, 1, &st->resource);
	napi_create_string_utf8(env, "udg", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, res, name, &st->actx);
	napi_get_uv_event_loop(env, (struct uv_loop_s **)&st->uv);
	st->src = calloc(UN_SRC_SLOTS, sizeof(*st->src));
	st->src_new = calloc(UN_SRC_SLOTS, sizeof(*st->src_new));
	if (!st->src || !st->src_new || st->row_cap == 0)
		return num(env, -ENOMEM);
	loop_options(&o);
	st->pool_cap = o.recv_buf_size > UN_POOL_BYTES ? o.recv_buf_size : UN_POOL_BYTES;
	int r = udg_loop_new(&o, &st->loop);
	if (r < 0)
		return num(env, r);
	r = un_embed_start(st);
	if (r < 0)
		return num(env, r);
	napi_add_env_cleanup_hook(env, cleanup, st);
	return num(env, 0);
}

static void free_state(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	(void)data; /* the loop may still own sockets at teardown: leave it to the process */
}

NAPI_MODULE_INIT()
{
	static const struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
		{ "init", m_init },
		{ "create", m_create },
		{ "bind", m_bind },
		{ "connect", m_connect },
		{ "disconnect", m_disconnect },
		{ "close", m_close },
		{ "address", m_address },
		{ "setopt", m_setopt },
		{ "setMulticastInterface", m_mcast_iface },
		{ "membership", m_membership },
		{ "bufferSize", m_buffer_size },
		{ "queue", m_queue },
		{ "addAddr", m_add_addr },
		{ "clearAddrs", m_clear_addrs },
		{ "sendBatch", m_send_batch },
		{ "ref", m_ref },
		{ "errName", m_err_name },
		{ "strerror", m_strerror },
	};
	struct un_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->env = env;
	napi_set_instance_data(env, st, free_state, NULL);
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		napi_value f;
		napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, st, &f);
		napi_set_named_property(env, exports, fns[i].name, f);
	}
	return exports;
}
