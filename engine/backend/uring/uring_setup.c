/* engine/backend/uring/uring_setup.c — the io_uring backend's cold, once-per-loop work: create
 * the ring with the best flags the kernel accepts, register the receive buffer ring, record what
 * we got. Nothing here runs per datagram. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "uring.h"

/* Setup flag sets, best first. DEFER_TASKRUN (6.1) needs SINGLE_ISSUER (6.0): completions are
 * then posted only when we enter the kernel to wait, so no IPI or task-work interrupts the loop
 * thread mid-callback. SUBMIT_ALL (5.18) keeps submitting after one bad SQE. COOP_TASKRUN (5.19)
 * is the fallback that at least avoids interrupting the thread. Each tier is tried in order and
 * we step down on EINVAL (an older kernel that does not know a flag). */
static const unsigned setup_tiers[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
	IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
	IORING_SETUP_SUBMIT_ALL,
	0,
};

static unsigned features_of(unsigned setup_flags, unsigned kernel_features)
{
	unsigned f = 0;

	if (setup_flags & IORING_SETUP_SINGLE_ISSUER)
		f |= UDG_FEAT_SINGLE_ISSUER;
	if (setup_flags & IORING_SETUP_DEFER_TASKRUN)
		f |= UDG_FEAT_DEFER_TASKRUN;
	if (setup_flags & IORING_SETUP_SUBMIT_ALL)
		f |= UDG_FEAT_SUBMIT_ALL;
	if (setup_flags & IORING_SETUP_COOP_TASKRUN)
		f |= UDG_FEAT_COOP_TASKRUN;
	if (kernel_features & IORING_FEAT_EXT_ARG)
		f |= UDG_FEAT_EXT_ARG;
	if (kernel_features & IORING_FEAT_NODROP)
		f |= UDG_FEAT_NODROP;
	return f;
}

static void features_describe(udg_loop *loop)
{
	static const char *const names[] = {
		"SINGLE_ISSUER", "DEFER_TASKRUN", "SUBMIT_ALL",        "COOP_TASKRUN",
		"EXT_ARG",       "NODROP",        "RECVMSG_MULTISHOT",
	};
	size_t off = strlen(loop->features_str);
	bool first = true;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(loop->features & (1u << i)))
			continue;
		int n = snprintf(loop->features_str + off, sizeof(loop->features_str) - off, "%s%s",
				 first ? "" : "|", names[i]);
		first = false;
		if (n < 0 || (size_t)n >= sizeof(loop->features_str) - off)
			break;
		off += (size_t)n;
	}
	if (loop->features & UDG_FEAT_RECV_INC)
		snprintf(loop->features_str + off, sizeof(loop->features_str) - off, "|RECV_INC");
}

/* Multishot recvmsg arrived in 6.0; there is no opcode-level probe for the multishot flag. */
static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

static int ring_create(udg_loop *loop, struct udg__uring *u)
{
	int r = -EINVAL;

	if (UDG__FAULT(UDG__FAULT_RING_SETUP_EPERM))
		r = -EPERM;
	for (size_t i = 0; r == -EINVAL && i < sizeof(setup_tiers) / sizeof(setup_tiers[0]); i++) {
		unsigned flags = setup_tiers[i];
		if ((loop->opts.flags & UDG_LOOP_NO_TASKRUN_FLAGS) &&
		    (flags & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
			      IORING_SETUP_SINGLE_ISSUER)))
			continue;
		struct io_uring_params p = {
			.flags = flags | IORING_SETUP_CQSIZE,
			.cq_entries = loop->opts.cq_entries,
		};
		r = io_uring_queue_init_params(loop->opts.sq_entries, &u->ring, &p);
		if (r == 0) {
			loop->features = features_of(flags, p.features);
			return 0;
		}
	}
	if (r == -EPERM || r == -ENOSYS || r == -EACCES) {
		snprintf(loop->features_str, sizeof(loop->features_str),
			 "io_uring_setup refused with %s", udg_err_name(r));
		return UDG_ERR_IO_URING_UNAVAILABLE;
	}
	return r;
}

/* Register the buffer ring at `mem`. Incremental: with IOU_PBUF_RING_INC in the flags (liburing
 * 2.3 calls that field `pad`) and min_left, a u32 at the start of the reserved words, where
 * kernels that do not know it refuse a non-zero value with EINVAL: that refusal is the probe. */
static int bufring_register(struct udg__uring *u, void *mem, bool inc)
{
	struct io_uring_buf_reg reg = {
		.ring_addr = (uintptr_t)mem,
		.ring_entries = u->buf_count,
		.bgid = UDG__BGID,
	};
	if (inc) {
		uint32_t min_left = UDG__RX_RECORD_MAX;
		if (UDG__FAULT(UDG__FAULT_BUFRING_INC_EINVAL))
			return -EINVAL; /* test builds: a kernel that does not know the flag */
		reg.pad = IOU_PBUF_RING_INC;
		memcpy(&reg.resv[0], &min_left, sizeof(min_left));
	}
	return io_uring_register_buf_ring(&u->ring, &reg, 0);
}

/* Incremental chunks for the loop's receive budget (recv_buf_count * recv_buf_size): a power
 * of two of them, at least UDG__INC_CHUNKS_MIN. */
static unsigned inc_chunks(const udg_loop *loop)
{
	uint64_t budget = (uint64_t)loop->opts.recv_buf_count * loop->opts.recv_buf_size;
	unsigned n = UDG__INC_CHUNKS_MIN;
	while ((uint64_t)n * UDG__INC_CHUNK < budget && n < 32768)
		n <<= 1;
	return n;
}

static void buf_geometry(struct udg__uring *u, const udg_loop *loop, bool inc)
{
	u->inc = inc;
	u->buf_size = inc ? UDG__INC_CHUNK : loop->opts.recv_buf_size;
	u->buf_count = inc ? inc_chunks(loop) : loop->opts.recv_buf_count;
	u->buf_mask = (unsigned)io_uring_buf_ring_mask(u->buf_count);
}

/* The receive buffer ring: buf_count entries of 16 bytes in page-aligned memory shared with the
 * kernel (liburing 2.3 has no io_uring_setup_buf_ring; we map and register it ourselves), and
 * one contiguous block of buf_count * buf_size payload buffers. Incremental chunks where the
 * kernel has them (and the loop did not ask for fixed buffers), else fixed buffers. */
static int bufring_create(struct udg__uring *u, udg_loop *loop)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	bool inc = !(loop->opts.flags & UDG_LOOP_FIXED_RECV_BUFFERS);

	buf_geometry(u, loop, inc);
	/* Sized for the larger geometry, so a refused incremental ring can fall back in place. */
	unsigned most =
		u->buf_count > loop->opts.recv_buf_count ? u->buf_count : loop->opts.recv_buf_count;
	size_t bytes = most * sizeof(struct io_uring_buf);
	u->br_bytes = (bytes + page - 1) & ~(page - 1);
	void *mem =
		mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	u->br = mem;
	io_uring_buf_ring_init(u->br);

	int r = bufring_register(u, mem, inc);
	if (r == -EINVAL && inc) {
		buf_geometry(u, loop, false); /* a kernel before incremental buffers */
		r = bufring_register(u, mem, false);
	}
	if (r != 0) {
		munmap(mem, u->br_bytes);
		u->br = NULL;
		return r == -EINVAL ? UDG_ERR_KERNEL_TOO_OLD : r;
	}
	if (u->inc) {
		u->filled = calloc(u->buf_count, sizeof(*u->filled));
		if (!u->filled)
			return -ENOMEM;
	}
	u->bufs = mmap(NULL, (size_t)u->buf_count * u->buf_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u->bufs == MAP_FAILED) {
		u->bufs = NULL;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < u->buf_count; i++)
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * u->buf_size, u->buf_size,
				      (unsigned short)i, u->buf_mask, (int)i);
	io_uring_buf_ring_advance(u->br, (int)u->buf_count);
	/* GRO trains need a whole 64 KiB read in every buffer. */
	loop->bk->gro = u->inc || udg__recv_room_holds_train(u->buf_size);
	if (u->inc)
		loop->features |= UDG_FEAT_RECV_INC;
	return 0;
}

int udg__uring_create(udg_loop *loop)
{
	struct udg__uring *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	udg__backend_init(&u->base, &udg__uring_ops, &udg__uring_io_ops, loop);
	u->embed_fd = -1;
	u->wake_op.complete = udg__uring_wake_complete;
	udg__list_init(&u->low);
	int r = ring_create(loop, u);
	if (r != 0) {
		free(u);
		return r;
	}
	loop->bk = &u->base;
	r = bufring_create(u, loop);
	/* Without multishot recvmsg (6.0) every receive arm would fail with EINVAL: refuse the
	 * loop up front with a clear error instead (the automatic choice then falls back). */
	if (r == 0 && !kernel_at_least(6, 0))
		r = UDG_ERR_KERNEL_TOO_OLD;
	if (r != 0) {
		snprintf(loop->features_str, sizeof(loop->features_str), "%s",
			 r == UDG_ERR_KERNEL_TOO_OLD ? "no multishot recvmsg or buffer rings"
						     : udg_err_name(r));
		udg__uring_destroy(loop);
		return r;
	}
	loop->features |= UDG_FEAT_RECVMSG_MULTISHOT;
	features_describe(loop);
	return 0;
}

void udg__uring_destroy(udg_loop *loop)
{
	struct udg__uring *u = udg__uring_of(loop);

	if (!u)
		return;
	if (u->embed_fd >= 0)
		close(u->embed_fd);
	if (u->br) {
		io_uring_unregister_buf_ring(&u->ring, UDG__BGID);
		munmap(u->br, u->br_bytes);
	}
	if (u->bufs)
		munmap(u->bufs, (size_t)u->buf_count * u->buf_size);
	free(u->filled);
	free(u->trains);
	io_uring_queue_exit(&u->ring);
	free(u);
	loop->bk = NULL;
}
