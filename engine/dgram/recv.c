/* engine/dgram/recv.c — the socket's side of receiving: each datagram the backend reads goes to
 * the 'message' handler, and receive errors follow one policy on every backend: each is
 * reported as 'error', receiving always goes on (re-started at once, then with a growing delay
 * while errors come in a row), and only an error that can never clear ends it, with one last
 * 'error'. Hot path (udg__socket_message): no allocation, no syscall. */
#include <errno.h>
#include <string.h>

#include "dgram.h"

/* Errors in a row (no datagram between them) re-started at once. A transient error such as
 * ECONNREFUSED from an ICMP port-unreachable is followed by data or by silence, rarely by a
 * burst; past this many, re-starts wait RECV_BACKOFF_MIN_NS, doubling up to
 * RECV_BACKOFF_MAX_NS, so a persistent condition costs a few wake-ups a second, not a spin.
 * A datagram resets both. */
#define RECV_ERRORS_FAST 8
#define RECV_BACKOFF_MIN_NS 1000000ull    /* 1 ms */
#define RECV_BACKOFF_MAX_NS 1000000000ull /* 1 s */

/* ---- Batches (on_message_batch) ------------------------------------------------------------ */

/* Copy a lent address into the batch's own room; the length is bounded by that room. */
static const struct sockaddr *keep_addr(struct sockaddr_in6 *room, const struct sockaddr *sa,
					socklen_t *len)
{
	if (*len > sizeof(*room))
		*len = sizeof(*room);
	memcpy(room, sa, *len);
	return (const struct sockaddr *)room;
}

static void batch_deliver(struct udg__rx_batch *b)
{
	udg_socket *s = b->sock;
	unsigned n = b->n;

	udg__list_remove(&b->link);
	b->n = 0;
	s->loop->stats.datagrams_received += n;
	s->datagrams_received += n;
	s->opts.on_message_batch(s, b->msgs, n, s->opts.user);
}

/* The payload stays where the backend lent it (its buffers go back only after the batch's
 * end); the rinfo's addresses may live on the backend's stack, so they are copied. */
static void batch_add(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo)
{
	struct udg__rx_batch *b = s->batch;
	unsigned i = b->n;
	udg_msg *m = &b->msgs[i];

	m->data = data;
	m->len = len;
	m->rinfo = *rinfo;
	m->rinfo.addr = keep_addr(&b->src[i], rinfo->addr, &m->rinfo.addrlen);
	if (rinfo->dst_addr)
		m->rinfo.dst_addr = keep_addr(&b->dst[i], rinfo->dst_addr, &m->rinfo.dst_addrlen);
	if (b->n++ == 0)
		udg__list_add_tail(&udg__dgram_of(s->loop)->rx_pending, &b->link);
	if (b->n == UDG_MSG_BATCH_MAX)
		batch_deliver(b);
}

void udg__dgram_rx_batch_end(udg_loop *loop)
{
	struct udg__list *pending = &udg__dgram_of(loop)->rx_pending;

	/* A callback may close another socket, which drops its batch from the list. */
	while (!udg__list_empty(pending))
		batch_deliver(UDG__CONTAINER_OF(pending->next, struct udg__rx_batch, link));
}

void udg__rx_batch_drop(udg_socket *s)
{
	if (s->batch && s->batch->n > 0) {
		udg__list_remove(&s->batch->link);
		s->batch->n = 0;
	}
}

/* ---- Datagrams ------------------------------------------------------------------------------ */

void udg__socket_message(struct udg__io *io, const void *data, size_t len, const udg_rinfo *rinfo)
{
	udg_socket *s = UDG__CONTAINER_OF(io, udg_socket, io);

	s->recv_errors = 0;
	if (UDG__UNLIKELY(s->batch != NULL)) {
		batch_add(s, data, len, rinfo);
		return;
	}
	s->loop->stats.datagrams_received++;
	s->datagrams_received++;
	if (s->opts.on_message)
		s->opts.on_message(s, data, len, rinfo, s->opts.user);
}

/* Errors that no retry can clear: the descriptor or the request itself is broken. */
static bool recv_error_is_final(int err)
{
	return err == -EBADF || err == -ENOTSOCK || err == -EINVAL || err == -EFAULT ||
	       err == -EOPNOTSUPP;
}

static void recv_retry_fire(udg_timer *t, void *user)
{
	udg_socket *s = user;

	(void)t;
	if (!s->closing)
		udg__io_recv_start(&s->io);
}

/* Re-start receiving after `delay_ns` on an unreferenced timer (it must not keep the loop
 * alive by itself). Falls back to re-starting now if the timer cannot be made. */
static void recv_retry_later(udg_socket *s, uint64_t delay_ns)
{
	if (!s->recv_retry && udg_timer_new(s->loop, &s->recv_retry) != 0) {
		udg__io_recv_start(&s->io);
		return;
	}
	udg_timer_unref(s->recv_retry);
	if (udg_timer_start(s->recv_retry, delay_ns, 0, recv_retry_fire, s) != 0)
		udg__io_recv_start(&s->io);
}

void udg__socket_recv_error(struct udg__io *io, int err, bool stopped)
{
	udg_socket *s = UDG__CONTAINER_OF(io, udg_socket, io);

	if (s->closing)
		return;
	if (recv_error_is_final(err)) {
		/* Said once; the socket stays open (sends may still work) but receives no more. */
		if (!stopped)
			udg__io_recv_stop(io);
		if (!s->recv_dead)
			udg__socket_error(s, err, "recvmsg", NULL, 0);
		s->recv_dead = true;
		return;
	}
	/* e.g. ECONNREFUSED from an ICMP port-unreachable on a connected socket. */
	udg__socket_error(s, err, "recvmsg", NULL, 0);
	if (!stopped)
		return;
	if (++s->recv_errors <= RECV_ERRORS_FAST) {
		udg__io_recv_start(io);
		return;
	}
	/* The delay follows from the count: 1 ms for the first past the fast ones, doubling. */
	unsigned doublings = s->recv_errors - RECV_ERRORS_FAST - 1;
	uint64_t delay = RECV_BACKOFF_MAX_NS;
	if (doublings < 10 && (RECV_BACKOFF_MIN_NS << doublings) < RECV_BACKOFF_MAX_NS)
		delay = RECV_BACKOFF_MIN_NS << doublings;
	recv_retry_later(s, delay);
}

void udg__recv_retry_free(udg_socket *s)
{
	if (s->recv_retry) {
		udg_timer_free(s->recv_retry);
		s->recv_retry = NULL;
	}
}
