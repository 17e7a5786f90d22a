/* engine/backend/io.c — the endpoint bookkeeping every backend shares: opening and closing an
 * endpoint, the dirty list a flush walks, and the in-order completion of sends that failed
 * before reaching the kernel. Cold or trivially short; no syscalls. */
#include "backend.h"

/* The kernel's struct io_uring_recvmsg_out (four 32-bit fields) that precedes the source
 * address in a multishot receive buffer; checked against liburing's in uring.c. */
#define RECVMSG_OUT_BYTES 16

void udg__backend_init(struct udg__backend *b, const struct udg__backend_ops *ops,
		       const struct udg__io_ops *io_ops, udg_loop *loop)
{
	b->ops = ops;
	b->io_ops = io_ops;
	b->loop = loop;
	udg__list_init(&b->dirty);
}

void udg__io_init(struct udg__io *io, udg_loop *loop, const struct udg__io_handlers *h)
{
	*io = (struct udg__io){ .loop = loop, .h = h, .fd = -1 };
	udg__list_init(&io->dirty_link);
	udg__fifo_init(&io->sendq);
}

int udg__io_open(struct udg__io *io, int fd)
{
	assert(!io->open && fd >= 0);
	io->fd = fd;
	int r = io->loop->bk->io_ops->open(io);
	if (r == 0)
		io->open = true;
	else
		io->fd = -1;
	return r;
}

void udg__io_close(struct udg__io *io)
{
	if (!io->open)
		return;
	assert(!udg__io_busy(io));
	if (udg__list_linked(&io->dirty_link))
		udg__list_remove(&io->dirty_link); /* a mark with nothing left to flush */
	io->loop->bk->io_ops->close(io);
	io->open = false;
	io->fd = -1;
}

struct udg__tx *udg__io_take_failed(struct udg__io *io)
{
	struct udg__qnode *n = io->sendq.head;

	if (!n || io->tx_inflight > 0)
		return NULL;
	struct udg__tx *tx = UDG__CONTAINER_OF(n, struct udg__tx, node);
	if (tx->status >= 0)
		return NULL;
	udg__fifo_pop(&io->sendq);
	return tx;
}

void udg__backend_take_dirty(udg_loop *loop, struct udg__list *out)
{
	udg__list_init(out);
	udg__list_splice(out, &loop->bk->dirty);
}

unsigned udg__recv_payload_room(unsigned buf_size)
{
	unsigned overhead = RECVMSG_OUT_BYTES + (unsigned)sizeof(struct sockaddr_in6);
	return buf_size > overhead ? buf_size - overhead : 0;
}
