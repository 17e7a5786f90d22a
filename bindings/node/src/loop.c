/* bindings/node/src/loop.c — runs the udg loop on Node's libuv loop and carries what it
 * delivers into JS in batches: one JS call per udg_loop_run, never one per datagram.
 *
 * uv_poll watches udg_loop_fd(); a uv_timer is kept at udg_loop_timeout_ns(); a uv_check runs
 * the loop after each libuv iteration in which JS queued sends. The message callback copies
 * payloads into a pool ArrayBuffer JS shares and writes rows into an Int32Array JS shares;
 * un_flush() calls JS, which makes each message a view of the pool. Nothing here allocates per
 * datagram or per batch: one ArrayBuffer per UN_POOL_BYTES of payload.
 */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "addon.h"

/* NOWAIT runs made per wakeup while udg still has ready work (timeout 0) or the last run
 * delivered datagrams: sends queued by callbacks of one run are submitted by the next, and
 * datagrams that arrived while JS handled a batch are taken without another turn of Node's
 * loop (an epoll_pwait and Node's per-iteration work, which cost more than the run that finds
 * nothing). Bounded so a busy socket cannot starve Node's other handles; the zero timer or the
 * poll handle picks up what is left. */
#define UN_RUNS_PER_WAKEUP 8

static void pump(struct un_state *st);

static void on_timer(uv_timer_t *t)
{
	pump(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	pump(p->data);
}

static void on_check(uv_check_t *c)
{
	struct un_state *st = c->data;

	if (st->dirty)
		pump(st);
}

/* The timer follows udg's next deadline. While sends wait to be submitted it fires at once and
 * holds Node open, so a datagram sent just before an unref() still leaves (as in node:dgram,
 * where libuv writes it inside send()). */
static void arm_timer(struct un_state *st)
{
	int64_t ns = udg_loop_timeout_ns(st->loop);

	if (st->dirty)
		ns = 0;
	if (ns < 0) {
		uv_timer_stop(&st->timer);
		return;
	}
	if (st->dirty)
		uv_ref((uv_handle_t *)&st->timer);
	else
		uv_unref((uv_handle_t *)&st->timer);
	uv_timer_start(&st->timer, on_timer, (uint64_t)((ns + 999999) / 1000000), 0);
}

int un_embed_start(struct un_state *st)
{
	int fd = udg_loop_fd(st->loop);

	if (fd < 0)
		return fd;
	uv_poll_init(st->uv, &st->poll, fd);
	uv_timer_init(st->uv, &st->timer);
	uv_check_init(st->uv, &st->check);
	st->poll.data = st->timer.data = st->check.data = st;
	uv_poll_start(&st->poll, UV_READABLE, on_poll);
	uv_check_start(&st->check, on_check);
	uv_unref((uv_handle_t *)&st->poll);
	uv_unref((uv_handle_t *)&st->timer);
	uv_unref((uv_handle_t *)&st->check);
	st->handles_live = true;
	return 0;
}

void un_embed_stop(struct un_state *st)
{
	if (!st->handles_live)
		return;
	st->handles_live = false;
	uv_poll_stop(&st->poll);
	uv_timer_stop(&st->timer);
	uv_check_stop(&st->check);
	uv_close((uv_handle_t *)&st->poll, NULL);
	uv_close((uv_handle_t *)&st->timer, NULL);
	uv_close((uv_handle_t *)&st->check, NULL);
}

/* JS counts what keeps Node alive (referenced bound sockets, sends with callbacks, closes and
 * connects in progress) and tells us when the count leaves or reaches zero. */
void un_set_ref(struct un_state *st, bool on)
{
	if (!st->handles_live || st->refd == on)
		return;
	st->refd = on;
	if (on)
		uv_ref((uv_handle_t *)&st->poll);
	else
		uv_unref((uv_handle_t *)&st->poll);
}

void un_mark_dirty(struct un_state *st)
{
	if (st->dirty || !st->handles_live)
		return;
	st->dirty = true;
	arm_timer(st);
}

static void pump(struct un_state *st)
{
	if (st->in_run || !st->handles_live)
		return;
	for (int i = 0; i < UN_RUNS_PER_WAKEUP; i++) {
		st->dirty = false;
		st->run_msgs = 0;
		st->in_run = true;
		udg_loop_run(st->loop, UDG_RUN_NOWAIT);
		st->in_run = false;
		un_flush(st);
		if (!st->dirty && st->run_msgs == 0 && udg_loop_timeout_ns(st->loop) != 0)
			break;
	}
	if (st->handles_live)
		arm_timer(st);
}

/* ---- The batch ------------------------------------------------------------------------------ */

/* The next row, flushing first when the rows are full. */
int32_t *un_row(struct un_state *st, enum un_kind kind, int32_t sock)
{
	if (st->nrows == st->row_cap)
		un_flush(st);
	int32_t *r = st->rows + (size_t)st->nrows * UN_ROW;
	st->nrows++;
	r[0] = (int32_t)kind;
	r[1] = sock;
	return r;
}

static uint32_t src_hash(const struct sockaddr_in6 *k)
{
	const uint32_t *w = (const uint32_t *)&k->sin6_addr;
	uint32_t h = (uint32_t)k->sin6_family * 0x9e3779b1u ^ k->sin6_scope_id;

	for (int i = 0; i < 4; i++)
		h = (h ^ w[i]) * 0x01000193u;
	return h ^ (h >> 15);
}

/* The source address without its port, as the key of the cache. IPv4 sits in the first four
 * bytes of sin6_addr. */
static void src_key(const udg_rinfo *ri, struct sockaddr_in6 *k)
{
	memset(k, 0, sizeof(*k));
	if (ri->addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ri->addr;
		k->sin6_family = AF_INET;
		memcpy(&k->sin6_addr, &a->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ri->addr;
		k->sin6_family = AF_INET6;
		k->sin6_addr = a->sin6_addr;
		k->sin6_scope_id = a->sin6_scope_id;
	}
}

/* The id of a source address; a new one is formatted into JS at the next flush. When the table
 * is half full it restarts (after a flush, so no row names an old id). */
static int32_t src_id(struct un_state *st, const udg_rinfo *ri)
{
	struct sockaddr_in6 k;

	src_key(ri, &k);
	uint32_t i = src_hash(&k) & (UN_SRC_SLOTS - 1);
	for (;; i = (i + 1) & (UN_SRC_SLOTS - 1)) {
		struct un_src *e = &st->src[i];
		if (e->sa.sin6_family == 0)
			break;
		if (e->sa.sin6_family == k.sin6_family && e->sa.sin6_scope_id == k.sin6_scope_id &&
		    memcmp(&e->sa.sin6_addr, &k.sin6_addr, 16) == 0)
			return e->id;
	}
	if (st->src_used >= UN_SRC_SLOTS / 2) {
		un_flush(st);
		memset(st->src, 0, sizeof(*st->src) * UN_SRC_SLOTS);
		st->src_used = 0;
		st->src_reset = true;
		return src_id(st, ri);
	}
	st->src[i].sa = k;
	st->src[i].id = (int32_t)i;
	st->src_used++;
	st->src_new[st->src_new_n++] = (int32_t)i;
	return (int32_t)i;
}

/* Room for len more payload bytes in the pool. A full pool is replaced, after the rows that
 * point into it have been flushed (each batch refers to one pool only). */
static bool pool_room(struct un_state *st, size_t len)
{
	napi_env env = st->env;
	napi_handle_scope scope;
	napi_value ab;
	void *data = NULL;

	if (st->pool && st->pool_used + len <= st->pool_cap)
		return true;
	un_flush(st);
	if (st->pool_ref) {
		napi_delete_reference(env, st->pool_ref);
		st->pool_ref = NULL;
		st->pool = NULL;
	}
	napi_open_handle_scope(env, &scope);
	napi_status s = napi_create_arraybuffer(env, st->pool_cap, &data, &ab);
	if (s == napi_ok)
		s = napi_create_reference(env, ab, 1, &st->pool_ref);
	napi_close_handle_scope(env, scope);
	if (s != napi_ok)
		return false;
	st->pool = data;
	st->pool_used = 0;
	return len <= st->pool_cap;
}

void un_on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo, void *user)
{
	struct un_sock *us = user;
	struct un_state *st = us->st;

	(void)s;
	if (!pool_room(st, len))
		return; /* no memory for a pool: the datagram is dropped, as the kernel would */
	int32_t src = src_id(st, rinfo);
	int32_t *r = un_row(st, UN_MSG, us->id);
	st->run_msgs++;
	if (len)
		memcpy(st->pool + st->pool_used, data, len);
	r[2] = (int32_t)st->pool_used;
	r[3] = (int32_t)len;
	r[4] = rinfo->port;
	r[5] = src;
	r[6] = (int32_t)rinfo->size;
	st->pool_used += (uint32_t)len;
}

/* The text of a cached source address (formatted with its scope, as rinfo.address shows it). */
static napi_value src_text(struct un_state *st, int32_t id)
{
	const struct un_src *e = &st->src[id];
	char text[UDG_ADDRSTRLEN];
	napi_value v;

	if (e->sa.sin6_family == AF_INET) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		memcpy(&a.sin_addr, &e->sa.sin6_addr, 4);
		udg_format_address((const struct sockaddr *)&a, sizeof(a), text, sizeof(text));
	} else {
		udg_format_address((const struct sockaddr *)&e->sa, sizeof(e->sa), text,
				   sizeof(text));
	}
	napi_create_string_latin1(st->env, text, NAPI_AUTO_LENGTH, &v);
	return v;
}

static napi_value new_addresses(struct un_state *st)
{
	napi_env env = st->env;
	napi_value arr, v;

	if (st->src_new_n == 0) {
		napi_get_null(env, &arr);
		return arr;
	}
	napi_create_array_with_length(env, st->src_new_n * 2, &arr);
	for (uint32_t i = 0; i < st->src_new_n; i++) {
		napi_create_int32(env, st->src_new[i], &v);
		napi_set_element(env, arr, i * 2, v);
		napi_set_element(env, arr, i * 2 + 1, src_text(st, st->src_new[i]));
	}
	return arr;
}

static napi_value error_records(struct un_state *st)
{
	napi_env env = st->env;
	napi_value arr, rec, v;

	if (st->nerrs == 0) {
		napi_get_null(env, &arr);
		return arr;
	}
	napi_create_array_with_length(env, st->nerrs, &arr);
	for (uint32_t i = 0; i < st->nerrs; i++) {
		const struct un_err *e = &st->errs[i];
		napi_create_array_with_length(env, 3, &rec);
		napi_create_string_utf8(env, e->syscall, NAPI_AUTO_LENGTH, &v);
		napi_set_element(env, rec, 0, v);
		if (e->has_address)
			napi_create_string_utf8(env, e->address, NAPI_AUTO_LENGTH, &v);
		else
			napi_get_null(env, &v);
		napi_set_element(env, rec, 1, v);
		napi_create_int32(env, e->port, &v);
		napi_set_element(env, rec, 2, v);
		napi_set_element(env, arr, i, rec);
	}
	return arr;
}

/* Hand the rows to JS: onBatch(nrows, pool, newAddresses, errors, resetAddresses), the last
 * three null/false when there are none. From a libuv callback this is a make_callback (Node then
 * runs the nextTick queue and microtasks); from inside an addon call JS made it is a plain
 * call. */
void un_flush(struct un_state *st)
{
	napi_env env = st->env;
	napi_handle_scope scope;
	napi_value argv[5], fn, recv, result;

	if (st->nrows == 0 && st->src_new_n == 0 && !st->want_wake)
		return;
	st->want_wake = false;
	napi_open_handle_scope(env, &scope);
	napi_create_uint32(env, st->nrows, &argv[0]);
	if (st->pool_ref)
		napi_get_reference_value(env, st->pool_ref, &argv[1]);
	else
		napi_get_undefined(env, &argv[1]);
	argv[2] = new_addresses(st);
	argv[3] = error_records(st);
	napi_get_boolean(env, st->src_reset, &argv[4]);
	st->nrows = st->src_new_n = st->nerrs = 0;
	st->src_reset = false;

	napi_get_reference_value(env, st->on_batch, &fn);
	napi_get_reference_value(env, st->resource, &recv);
	if (st->in_js) {
		napi_call_function(env, recv, fn, 5, argv, &result);
	} else {
		napi_make_callback(env, st->actx, recv, fn, 5, argv, &result);
	}
	/* An exception thrown by a listener leaves here as Node's uncaught exception. */
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending && !st->in_js) {
		napi_value exc;
		napi_get_and_clear_last_exception(env, &exc);
		napi_fatal_exception(env, exc);
	}
	napi_close_handle_scope(env, scope);
}
