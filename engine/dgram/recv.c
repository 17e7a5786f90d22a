/* engine/recv.c — the receive path: one multishot recvmsg per socket over the loop's provided
 * buffer ring. Each CQE is one datagram in one buffer; the payload is lent to the message
 * callback and the buffer goes back to the ring right after it, with one ring advance per
 * reap batch. Hot path: no allocation, no formatting, no syscalls beyond the loop's enter. */
#include <errno.h>
#include <string.h>

#include "../internal.h"

/* Receive errors in a row (no datagram between them) after which we stop re-arming. A transient
 * error such as ECONNREFUSED from one ICMP message is followed by data or by silence, never by
 * a burst of 8 immediate failures; a persistent one (EBADF, EINVAL) would otherwise re-arm and
 * fail once per loop iteration forever. */
#define RECV_ERRORS_MAX 8

void udg__recv_arm(udg_socket *s)
{
	struct io_uring_sqe *sqe = udg__sqe(s->loop);

	/* The kernel reads msg_namelen/msg_controllen from this template once per arm and lays
	 * each datagram out in the buffer as: recvmsg_out header, name, control, payload.
	 * MSG_TRUNC makes the header's payloadlen the datagram's true size (rinfo.size) when it
	 * did not fit; the CQE's length stays bounded by the buffer. */
	int fd = UDG__FAULT(UDG__FAULT_RECV_EBADF) ? -1 : s->fd; /* test builds: a broken fd */
	io_uring_prep_recvmsg_multishot(sqe, fd, &s->recv_msg, MSG_TRUNC);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = UDG__BGID;
	io_uring_sqe_set_data(sqe, &s->recv_op);
	s->recv_armed = true;
	s->recv_wanted = false;
	s->inflight++;
}

void udg__buf_return(udg_loop *loop, unsigned bid)
{
	io_uring_buf_ring_add(loop->br, loop->bufs + (size_t)bid * loop->buf_size, loop->buf_size,
			      (unsigned short)bid, loop->buf_mask, (int)loop->buf_returned);
	loop->buf_returned++;
}

/* After each reap batch: publish the returned buffers with one advance, then re-arm the sockets
 * whose multishot stopped on ENOBUFS (the ring was empty; now it is not). */
void udg__recv_buffers_returned(udg_loop *loop)
{
	if (loop->buf_returned > 0) {
		io_uring_buf_ring_advance(loop->br, (int)loop->buf_returned);
		loop->buf_returned = 0;
	}
	/* Every lent buffer is back by now (payloads are lent only for the callback), so the ring
	 * has room again even when this batch returned none. */
	if (UDG__LIKELY(loop->bufs_low == 0))
		return;
	loop->bufs_low = 0;
	for (udg_socket *s = loop->sockets; s; s = s->next) {
		if (s->recv_wanted && !s->recv_armed && !s->closing)
			udg__recv_arm(s);
	}
}

bool udg__recv_parse(unsigned char *buf, int len, struct msghdr *tmpl, udg_rinfo *rinfo,
		     const void **payload, size_t *payload_len)
{
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, len, tmpl);

	if (UDG__UNLIKELY(!o))
		return false;
	/* A zero-length read without a peer address is not a datagram (Node ignores it too). */
	if (UDG__UNLIKELY(o->namelen == 0))
		return false;
	const struct sockaddr *sa = io_uring_recvmsg_name(o);
	unsigned avail = io_uring_recvmsg_payload_length(o, len, tmpl);
	*rinfo = (udg_rinfo){
		.addr = sa,
		.addrlen = o->namelen < tmpl->msg_namelen ? o->namelen : tmpl->msg_namelen,
		.port = ntohs(((const struct sockaddr_in *)sa)->sin_port), /* same offset in _in6 */
		.size = o->payloadlen,
		.truncated = (o->flags & MSG_TRUNC) != 0,
	};
	*payload = io_uring_recvmsg_payload(o, tmpl);
	*payload_len = avail < o->payloadlen ? avail : o->payloadlen;
	return true;
}

static void deliver(udg_socket *s, unsigned char *buf, int len)
{
	udg_rinfo rinfo;
	const void *payload;
	size_t payload_len;

	if (UDG__UNLIKELY(!udg__recv_parse(buf, len, &s->recv_msg, &rinfo, &payload, &payload_len)))
		return;
	s->loop->stats.datagrams_received++;
	if (s->opts.on_message)
		s->opts.on_message(s, payload, payload_len, &rinfo, s->opts.user);
}

void udg__recv_complete(udg_loop *loop, struct udg__op *op, int res, unsigned flags)
{
	udg_socket *s = UDG__CONTAINER_OF(op, udg_socket, recv_op);

	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		/* close() stops delivery at once, even for datagrams already reaped. */
		if (UDG__LIKELY(res >= 0 && !s->closing))
			deliver(s, loop->bufs + (size_t)bid * loop->buf_size, res);
		udg__buf_return(loop, bid);
		s->recv_errors_in_row = 0;
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED && !s->closing) {
		/* e.g. ECONNREFUSED from an ICMP port-unreachable on a connected socket. */
		udg__socket_error(s, res, "recvmsg", NULL, 0);
	}
	if (flags & IORING_CQE_F_MORE)
		return;

	/* The multishot ended: buffers ran out (ENOBUFS), an error, or our cancel. */
	s->recv_armed = false;
	s->inflight--;
	if (s->closing) {
		udg__socket_op_done(s);
		return;
	}
	if (res < 0 && res != -ENOBUFS && ++s->recv_errors_in_row > RECV_ERRORS_MAX) {
		/* The same failure over and over (a descriptor broken under us): each was reported
		 * as 'error'; stop instead of spinning the loop on re-arms. */
		return;
	}
	loop->stats.recv_rearms++;
	if (res == -ENOBUFS) {
		/* Wait for buffers: re-armed by udg__recv_buffers_returned after this batch. */
		loop->stats.recv_enobufs++;
		s->recv_wanted = true;
		loop->bufs_low++;
		return;
	}
	udg__recv_arm(s);
}
