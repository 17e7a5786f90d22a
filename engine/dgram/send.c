/* engine/dgram/send.c — the send path. udg_socket_send* validate, take a slot from the loop's
 * fixed pool, and (once the socket is bound and the destination known) queue it on the
 * socket's endpoint; the backend hands the whole batch to the kernel at the loop's next flush.
 * Completions free the slot, then run the callback, in call order per socket.
 * Hot path: no allocation (except copying a callback-less payload over 2 KiB), no syscall. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dgram.h"

/* ---- The slot pool ------------------------------------------------------------------------ */

int udg__sends_init(struct udg__dgram_loop *d, unsigned count)
{
	d->slots = calloc(count, sizeof(*d->slots));
	if (!d->slots)
		return -ENOMEM;
	udg__fifo_init(&d->free_slots);
	for (unsigned i = 0; i < count; i++)
		udg__fifo_push(&d->free_slots, &d->slots[i].tx.node);
	return 0;
}

void udg__sends_fini(struct udg__dgram_loop *d)
{
	free(d->slots);
	d->slots = NULL;
}

static struct udg__send *slot_get(udg_loop *loop)
{
	struct udg__dgram_loop *d = udg__dgram_of(loop);
	struct udg__qnode *n = udg__fifo_pop(&d->free_slots);

	if (UDG__UNLIKELY(!n))
		return NULL;
	d->slots_used++;
	loop->reqs++;
	return UDG__CONTAINER_OF(n, struct udg__send, tx.node);
}

static void slot_put(udg_loop *loop, struct udg__send *slot)
{
	struct udg__dgram_loop *d = udg__dgram_of(loop);

	if (UDG__UNLIKELY(slot->iov != slot->iov_inline))
		free(slot->iov);
	free(slot->heap_copy);
	slot->heap_copy = NULL;
	/* Last in, first out: the next send reuses the slot (2.6 KB) still in cache instead of
	 * cycling through the whole pool. */
	udg__fifo_push_front(&d->free_slots, &slot->tx.node);
	d->slots_used--;
	loop->reqs--;
}

/* Run a send's callback and release its slot; the slot is free before the callback runs, so
 * the callback can send again even when the pool was exhausted. */
static void slot_finish(udg_socket *s, struct udg__send *slot, int status)
{
	udg_send_cb cb = slot->cb;
	void *user = slot->user;
	size_t bytes = slot->bytes;

	if (status == 0)
		s->loop->stats.datagrams_sent++;
	else
		s->loop->stats.send_errors++;
	slot_put(s->loop, slot);
	if (cb)
		cb(s, status, bytes, user);
}

/* ---- Handing sends to the endpoint ----------------------------------------------------- */

/* Queue a send on the socket's endpoint: the backend hands it to the kernel at the next flush
 * (or, with tx.status set, completes it with that error in call order). */
static void submit(udg_socket *s, struct udg__send *slot)
{
	slot->counted = slot->tx.status == 0;
	if (slot->counted) {
		s->queue_bytes += slot->bytes;
		s->queue_count++;
	}
	s->inflight++;
	udg__io_send(&s->io, &slot->tx);
}

void udg__socket_sent(struct udg__io *io, struct udg__tx *tx, int res)
{
	struct udg__send *slot = UDG__CONTAINER_OF(tx, struct udg__send, tx);
	udg_socket *s = slot->sock;

	s->inflight--;
	if (slot->counted) {
		s->queue_bytes -= slot->bytes;
		s->queue_count--;
	}
	slot_finish(s, slot, res < 0 ? res : 0);
	udg__socket_op_done(s);
}

/* A waiting send that fails before reaching the endpoint: its callback runs from a tick. */
static void waiting_failed_tick(struct udg__tick *t)
{
	struct udg__send *slot = UDG__CONTAINER_OF(t, struct udg__send, tick);
	udg_socket *s = slot->sock;

	s->inflight--;
	slot_finish(s, slot, slot->tx.status);
	udg__socket_op_done(s);
}

static void fail_later(udg_socket *s, struct udg__send *slot, int status)
{
	slot->tx.status = status;
	s->inflight++;
	udg__tick_queue(s->loop, &slot->tick, waiting_failed_tick);
}

static bool slot_ready(const struct udg__send *slot)
{
	return !slot->lookup.pending;
}

/* Submit waiting sends in call order; a send still resolving holds back the ones after it.
 * Nothing leaves before 'listening' has been delivered: its tick flushes the queue (Node's rule
 * 18: 'listening' comes before any queued send is processed). */
static struct udg__send *waiting_head(const udg_socket *s)
{
	struct udg__qnode *n = s->waiting.head;
	return n ? UDG__CONTAINER_OF(n, struct udg__send, tx.node) : NULL;
}

/* A failed one goes through the endpoint too, so its callback keeps its place in call order. */
void udg__sends_flush_waiting(udg_socket *s)
{
	struct udg__send *slot;

	if (s->bind_state != UDG__BOUND || s->closing || s->ev_listening.queued)
		return;
	while ((slot = waiting_head(s)) != NULL && slot_ready(slot)) {
		udg__fifo_pop(&s->waiting);
		submit(s, slot);
	}
}

void udg__sends_fail_waiting(udg_socket *s, int status)
{
	struct udg__qnode *n = udg__fifo_take(&s->waiting);

	while (n) {
		struct udg__send *slot = UDG__CONTAINER_OF(n, struct udg__send, tx.node);
		n = n->next;
		slot->tx.node.next = NULL;
		if (slot->lookup.pending) {
			/* A custom resolver still holds the request: the failure is delivered when
			 * it answers (see lookup_done). */
			slot->tx.status = status;
			udg__lookup_cancel(s, &slot->lookup);
			if (slot->lookup.pending)
				continue;
		}
		fail_later(s, slot, status);
	}
}

static void wait_append(udg_socket *s, struct udg__send *slot)
{
	udg__fifo_push(&s->waiting, &slot->tx.node);
}

/* A send's destination lookup finished (tick on the loop thread). */
static void send_lookup_done(struct udg_lookup_req *req)
{
	struct udg__send *slot = UDG__CONTAINER_OF(req, struct udg__send, lookup);
	udg_socket *s = slot->sock;

	if (slot->tx.status != 0 || s->closing) {
		/* cancelled by close or a failed bind while a custom resolver held it */
		fail_later(s, slot, slot->tx.status ? slot->tx.status : -ECANCELED);
		return;
	}
	if (req->status != 0) {
		/* Node: a lookup error goes to the callback, or to 'error' without one. */
		slot->tx.status = req->status;
		if (!slot->cb)
			udg__socket_error(s, req->status, "getaddrinfo", req->name, slot->port);
	} else {
		memcpy(&slot->addr, &req->addr, req->addrlen);
		slot->tx.msg.msg_namelen = req->addrlen;
	}
	udg__sends_flush_waiting(s);
}

/* ---- The public send calls ------------------------------------------------------------------ */

/* Copy the pieces into the slot. Without a callback the caller may reuse its memory as soon as
 * we return, so the bytes are copied too (into the slot up to 2 KiB). */
static int fill_payload(udg_loop *loop, struct udg__send *slot, const udg_buf *bufs, size_t n,
			size_t total, bool copy)
{
	slot->iov = slot->iov_inline;
	if (copy) {
		unsigned char *dst = slot->inline_data;
		if (total > sizeof(slot->inline_data)) {
			dst = slot->heap_copy = malloc(total);
			if (!dst)
				return -ENOMEM;
		}
		size_t off = 0;
		for (size_t i = 0; i < n; i++) {
			if (bufs[i].len)
				memcpy(dst + off, bufs[i].base, bufs[i].len);
			off += bufs[i].len;
		}
		slot->iov[0] = (struct iovec){ .iov_base = dst, .iov_len = total };
		slot->tx.msg.msg_iovlen = 1;
		return 0;
	}
	if (n > UDG__SEND_IOV_INLINE) {
		slot->iov = malloc(n * sizeof(*slot->iov));
		if (!slot->iov) {
			slot->iov = slot->iov_inline;
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++)
		slot->iov[i] =
			(struct iovec){ .iov_base = (void *)bufs[i].base, .iov_len = bufs[i].len };
	slot->tx.msg.msg_iovlen = n;
	return 0;
}

/* Where an unconnected send goes: 0 with *dst filled for a literal (the last one is cached per
 * socket, so a server answering the same peers parses nothing), 1 when a lookup is needed (any
 * other text, malformed literals included: Node resolves them and reports ENOTFOUND through the
 * callback or 'error'), or -EINVAL for a literal of the other family (reported through the
 * callback, as Node does). */
static int resolve_dest(udg_socket *s, int port, const char *address, struct sockaddr_storage *dst,
			socklen_t *dstlen)
{
	if (s->opts.lookup)
		return 1;
	if (!address || !address[0]) {
		udg__addr_loopback(s->family, port, dst, dstlen);
		return 0;
	}
	if (s->dst_cache_len && s->dst_cache_port == port &&
	    strcmp(s->dst_cache_text, address) == 0) {
		memcpy(dst, &s->dst_cache_addr, s->dst_cache_len);
		*dstlen = s->dst_cache_len;
		return 0;
	}
	int kind = udg__addr_parse(s->family, address, port, dst, dstlen);
	if (kind == 0 && strlen(address) < sizeof(s->dst_cache_text)) {
		strcpy(s->dst_cache_text, address);
		s->dst_cache_port = port;
		memcpy(&s->dst_cache_addr, dst, *dstlen);
		s->dst_cache_len = *dstlen;
	}
	return kind;
}

static size_t payload_size(const udg_buf *bufs, size_t n, int *err)
{
	size_t total = 0;

	*err = 0;
	if (UDG__UNLIKELY(n > UDG_SENDV_MAX))
		*err = UDG_ERR_OUT_OF_RANGE;
	for (size_t i = 0; i < n && !*err; i++) {
		if (UDG__UNLIKELY(!bufs[i].base && bufs[i].len))
			*err = UDG_ERR_INVALID_ARG_TYPE;
		else if (UDG__UNLIKELY(bufs[i].len > SIZE_MAX - total))
			*err = UDG_ERR_OUT_OF_RANGE; /* a wrapped sum would size the copy */
		total += bufs[i].len;
	}
	return total;
}

/* One validated send call, as the public entry points hand it to accept_send(). */
struct send_req {
	const udg_buf *bufs;
	size_t n, total;
	int port;                   /* destination port (0 when connected) */
	int kind;                   /* resolve_dest(): 0 literal, 1 lookup, -EINVAL other family */
	const struct sockaddr *dst; /* kind 0 and unconnected: the destination, dstlen bytes */
	socklen_t dstlen;
	const char *address;       /* kind 1: the host to look up */
	const udg_send_meta *meta; /* udg_socket_send_msg(), else NULL */
	udg_send_cb cb;
	void *user;
};

/* Take a slot and queue the datagram: straight to the socket's endpoint when the socket is
 * bound, nothing is waiting ahead of it and the destination is known; otherwise behind the
 * waiting sends. */
static int accept_send(udg_socket *s, const struct send_req *q)
{
	bool connected = s->conn_state == UDG__CONNECTED;
	struct udg__send *slot = slot_get(s->loop);

	if (UDG__UNLIKELY(!slot))
		return UDG_ERR_SEND_QUEUE_FULL;
	slot->sock = s;
	slot->cb = q->cb;
	slot->user = q->user;
	slot->bytes = q->total;
	slot->tx.len = q->total;
	slot->port = connected ? 0 : q->port;
	slot->tx.status = 0;
	slot->lookup.pending = false;
	slot->tx.msg = (struct msghdr){ .msg_name = NULL };
	if (UDG__UNLIKELY(q->meta != NULL))
		udg__send_meta_fill(slot, s->family, q->meta);
	/* No UDP datagram is larger than 65535 bytes: such a send fails with EMSGSIZE, as the
	 * kernel would fail it, but without copying it to the heap or asking the kernel. */
	bool too_big = q->total > UDG__DGRAM_MAX;
	int r = too_big ? 0 : fill_payload(s->loop, slot, q->bufs, q->n, q->total, q->cb == NULL);
	if (UDG__UNLIKELY(r != 0)) {
		slot_put(s->loop, slot);
		return r;
	}
	slot->tx.msg.msg_iov = slot->iov;
	if (!connected) {
		slot->tx.msg.msg_name = &slot->addr;
		if (q->kind == 0) {
			memcpy(&slot->addr, q->dst, q->dstlen);
			slot->tx.msg.msg_namelen = q->dstlen;
		}
	}

	if (UDG__UNLIKELY(s->bind_state == UDG__UNBOUND)) {
		r = udg__socket_bind_implicit(s);
		if (r != 0) {
			slot_put(s->loop, slot);
			return r;
		}
		if (s->bind_state == UDG__UNBOUND) {
			/* The implicit bind failed at once: 'error' is queued; this send's
			 * callback gets the same error (Node would never call it). */
			fail_later(s, slot, s->last_bind_error);
			return 0;
		}
	}
	if (UDG__LIKELY(q->kind == 0 && !too_big && s->bind_state == UDG__BOUND &&
			udg__fifo_empty(&s->waiting) && !s->ev_listening.queued)) {
		submit(s, slot);
		return 0;
	}
	if (too_big)
		slot->tx.status = -EMSGSIZE;
	else if (q->kind == -EINVAL)
		slot->tx.status = -EINVAL; /* Node: "send EINVAL" through the callback */
	wait_append(s, slot);
	if (q->kind == 1 && !too_big) {
		r = udg__lookup_start(s, &slot->lookup, q->address, q->port, send_lookup_done);
		if (r != 0) {
			slot->tx.status = r;
			slot->lookup.pending = false;
		}
	}
	udg__sends_flush_waiting(s);
	return 0;
}

/* Validate in Node's order (shape → connected → port → address → running), then accept. */
static int send_common(udg_socket *s, const udg_buf *bufs, size_t n, int port, const char *address,
		       udg_send_cb cb, void *user)
{
	UDG__PRESERVE_ERRNO;
	if (UDG__UNLIKELY(!s))
		return UDG_ERR_INVALID_ARG_TYPE;
	int err;
	size_t total = payload_size(bufs, n, &err);
	if (UDG__UNLIKELY(err))
		return err;
	bool connected = s->conn_state == UDG__CONNECTED;
	bool has_address = address && address[0];
	if (connected && (port != 0 || has_address))
		return UDG_ERR_SOCKET_DGRAM_IS_CONNECTED;
	if (!connected && (port < 1 || port > 65535))
		return UDG_ERR_SOCKET_BAD_PORT;

	struct sockaddr_storage dst;
	struct send_req q = { .bufs = bufs,
			      .n = n,
			      .total = total,
			      .port = port,
			      .dst = (const struct sockaddr *)&dst,
			      .address = has_address ? address : NULL,
			      .cb = cb,
			      .user = user };
	if (!connected) {
		q.kind = resolve_dest(s, port, address, &dst, &q.dstlen);
		if (q.kind < 0 && q.kind != -EINVAL)
			return q.kind;
	}
	if (UDG__UNLIKELY(s->closing))
		return UDG_ERR_SOCKET_DGRAM_NOT_RUNNING;
	return accept_send(s, &q);
}

/* Check a raw-address send and describe it in *q, changing nothing: the raw-address and
 * metadata extensions and each item of a batch go through it. No text, no lookup (a custom
 * resolver is not consulted). meta NULL is the plain raw-address send, whose addr is required;
 * with meta (none at all is &none) addr NULL means the connected peer. The socket's running
 * state is the caller's last check. */
static int check_to(const udg_socket *s, const udg_buf *bufs, size_t n, const struct sockaddr *addr,
		    socklen_t addrlen, const udg_send_meta *meta, struct send_req *q)
{
	if (UDG__UNLIKELY(!bufs && n))
		return UDG_ERR_INVALID_ARG_TYPE;
	bool connected = s->conn_state == UDG__CONNECTED;
	if (UDG__UNLIKELY(!addr && !(meta && connected)))
		return UDG_ERR_INVALID_ARG_TYPE; /* only send_msg may omit it, when connected */
	int err;
	size_t total = payload_size(bufs, n, &err);
	if (UDG__UNLIKELY(err))
		return err;
	if (connected && addr)
		return UDG_ERR_SOCKET_DGRAM_IS_CONNECTED;
	if (UDG__UNLIKELY((err = udg__send_meta_check(s, meta)) != 0))
		return err;
	*q = (struct send_req){ .bufs = bufs, .n = n, .total = total, .meta = meta };
	if (addr) {
		/* Read straight from the caller's address (copied once, into the slot). */
		q->dst = addr;
		q->dstlen = s->family == AF_INET ? sizeof(struct sockaddr_in)
						 : sizeof(struct sockaddr_in6);
		if (addr->sa_family != s->family || addrlen < q->dstlen)
			return -EINVAL;
		q->port = ntohs(((const struct sockaddr_in *)addr)->sin_port); /* same in _in6 */
		if (q->port == 0)
			return UDG_ERR_SOCKET_BAD_PORT;
	}
	return 0;
}

static int send_to_common(udg_socket *s, const udg_buf *bufs, size_t n, const struct sockaddr *addr,
			  socklen_t addrlen, const udg_send_meta *meta, udg_send_cb cb, void *user)
{
	UDG__PRESERVE_ERRNO;
	if (UDG__UNLIKELY(!s))
		return UDG_ERR_INVALID_ARG_TYPE;
	struct send_req q;
	int err = check_to(s, bufs, n, addr, addrlen, meta, &q);
	if (UDG__UNLIKELY(err))
		return err;
	if (UDG__UNLIKELY(s->closing))
		return UDG_ERR_SOCKET_DGRAM_NOT_RUNNING;
	q.cb = cb;
	q.user = user;
	return accept_send(s, &q);
}

UDG_EXPORT int udg_socket_send_to(udg_socket *s, const void *buf, size_t len,
				  const struct sockaddr *addr, socklen_t addrlen, udg_send_cb cb,
				  void *user)
{
	udg_buf one = { buf, len };
	return send_to_common(s, &one, 1, addr, addrlen, NULL, cb, user);
}

UDG_EXPORT int udg_socket_sendv_to(udg_socket *s, const udg_buf *bufs, size_t n,
				   const struct sockaddr *addr, socklen_t addrlen, udg_send_cb cb,
				   void *user)
{
	return send_to_common(s, bufs, n, addr, addrlen, NULL, cb, user);
}

static const udg_send_meta no_meta = { 0 };

/* The metadata extension: the raw-address send with control messages (meta.c builds them in
 * the slot, so nothing is allocated). meta NULL is a plain send; addr NULL needs a connection. */
UDG_EXPORT int udg_socket_send_msg(udg_socket *s, const udg_buf *bufs, size_t n,
				   const struct sockaddr *addr, socklen_t addrlen,
				   const udg_send_meta *meta, udg_send_cb cb, void *user)
{
	return send_to_common(s, bufs, n, addr, addrlen, meta ? meta : &no_meta, cb, user);
}

static int check_item(const udg_socket *s, const udg_send_item *it, struct send_req *q)
{
	return check_to(s, it->bufs, it->n, it->addr, it->addrlen, it->meta ? it->meta : &no_meta,
			q);
}

/* The batch extension: each item is a udg_socket_send_msg. Every item is checked before any is
 * taken, so bad input anywhere refuses the whole call; then they are accepted in order through
 * the single-datagram path (slot, implicit bind, queue) until one is not, and the count so far
 * is returned. The endpoint's flush turns runs of equal datagrams into GSO trains as for
 * separate calls. Checking twice costs a walk over the pieces, not a copy or a syscall. */
UDG_EXPORT int udg_socket_send_batch(udg_socket *s, const udg_send_item *items, size_t n,
				     udg_send_cb cb)
{
	UDG__PRESERVE_ERRNO;
	if (UDG__UNLIKELY(!s || (!items && n)))
		return UDG_ERR_INVALID_ARG_TYPE;
	struct send_req q;
	for (size_t i = 0; i < n; i++) {
		int err = check_item(s, &items[i], &q);
		if (UDG__UNLIKELY(err))
			return err;
	}
	if (UDG__UNLIKELY(s->closing))
		return UDG_ERR_SOCKET_DGRAM_NOT_RUNNING;
	/* Every accepted item holds a slot, so the count stays below send_slots (<= 2^20). */
	size_t done = 0;
	for (; done < n; done++) {
		int r = check_item(s, &items[done], &q); /* passed above; accepting changes no
							    state an item is checked against */
		if (r == 0) {
			q.cb = cb;
			q.user = items[done].user;
			r = accept_send(s, &q);
		}
		if (UDG__UNLIKELY(r != 0))
			return done ? (int)done : r;
	}
	return (int)done;
}

UDG_EXPORT int udg_socket_send(udg_socket *s, const void *buf, size_t len, int port,
			       const char *address, udg_send_cb cb, void *user)
{
	udg_buf one = { buf, len };
	return send_common(s, &one, 1, port, address, cb, user);
}

UDG_EXPORT int udg_socket_send_range(udg_socket *s, const void *buf, size_t buf_len, size_t offset,
				     size_t length, int port, const char *address, udg_send_cb cb,
				     void *user)
{
	if (!s)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (!buf && buf_len)
		return UDG_ERR_INVALID_ARG_TYPE;
	if (offset > buf_len || length > buf_len - offset)
		return UDG_ERR_BUFFER_OUT_OF_BOUNDS;
	udg_buf one = { buf ? (const unsigned char *)buf + offset : NULL, length };
	return send_common(s, &one, 1, port, address, cb, user);
}

UDG_EXPORT int udg_socket_sendv(udg_socket *s, const udg_buf *bufs, size_t n, int port,
				const char *address, udg_send_cb cb, void *user)
{
	if (!bufs && n)
		return UDG_ERR_INVALID_ARG_TYPE;
	return send_common(s, bufs, n, port, address, cb, user);
}
