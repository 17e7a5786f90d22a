/* udg/loop.h — the ring reactor: one io_uring per loop, one loop per thread.
 *
 * A loop owns its ring, its receive buffer ring, its send slots and every socket and timer
 * created on it. All functions here must be called on the loop's thread, except
 * udg_loop_post() and udg_loop_stop(), which are safe from any thread.
 */
#ifndef UDG_LOOP_H
#define UDG_LOOP_H

#include "udg/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How udg_loop_run() waits. */
typedef enum udg_run_mode {
	UDG_RUN_DEFAULT = 0, /* until nothing referenced is alive, or udg_loop_stop() */
	UDG_RUN_ONCE = 1,    /* one iteration; block for an event unless some were already ready */
	UDG_RUN_NOWAIT = 2,  /* one iteration; never block */
} udg_run_mode;

/* Ring features in force, as found by the setup probe (udg_loop_features()). */
enum udg_loop_feature {
	UDG_FEAT_SINGLE_ISSUER = 1u << 0, /* IORING_SETUP_SINGLE_ISSUER (6.0) */
	UDG_FEAT_DEFER_TASKRUN = 1u << 1, /* IORING_SETUP_DEFER_TASKRUN (6.1) */
	UDG_FEAT_SUBMIT_ALL = 1u << 2,    /* IORING_SETUP_SUBMIT_ALL (5.18) */
	UDG_FEAT_COOP_TASKRUN = 1u << 3,  /* IORING_SETUP_COOP_TASKRUN (5.19) */
	UDG_FEAT_EXT_ARG = 1u << 4,       /* IORING_FEAT_EXT_ARG: timed waits in one enter (5.11) */
	UDG_FEAT_NODROP = 1u << 5,        /* IORING_FEAT_NODROP: CQ overflow keeps CQEs (5.5) */
	UDG_FEAT_RECVMSG_MULTISHOT = 1u << 6, /* multishot recvmsg over a buffer ring (6.0) */
	/* udg extension: the loop runs on the epoll backend (recvmmsg/sendmmsg batches) */
	UDG_FEAT_EPOLL = 1u << 7,
	UDG_FEAT_EPOLL_PWAIT2 = 1u << 8, /* epoll_pwait2: nanosecond timer waits (5.11) */
	UDG_FEAT_FALLBACK = 1u << 9,     /* UDG_BACKEND_AUTO fell back from io_uring to epoll */
	/* udg extension: consecutive equal-size sends to one destination leave as one UDP_SEGMENT
	 * sendmsg (Linux 4.18; 64 segments, 128 on newer kernels); both backends. */
	UDG_FEAT_GSO = 1u << 10,
	/* udg extension: io_uring receives into an incremental buffer ring (IOU_PBUF_RING_INC with
	 * min_left, Linux 6.12+): datagrams of every size pack densely into shared chunks and
	 * arrive whole up to 64 KiB. Without it (or with UDG_LOOP_FIXED_RECV_BUFFERS) each
	 * datagram takes one recv_buf_size buffer and larger ones arrive truncated. */
	UDG_FEAT_RECV_INC = 1u << 11,
	/* udg extension: receiving sockets ask for UDP_GRO (Linux 5.0): a coalesced train arrives
	 * in one read and is split into one message per datagram. Set where receive buffers
	 * always hold a whole 64 KiB train. */
	UDG_FEAT_GRO = 1u << 12,
};

/* udg extension: which kernel interface a loop runs on (udg_loop_options.backend). Every
 * backend gives the same API, events, ordering and error codes. */
typedef enum udg_backend {
	UDG_BACKEND_AUTO = 0,  /* io_uring; epoll where io_uring is denied or too old (default).
				  The environment variable UDG_BACKEND=uring|epoll|auto overrides
				  this choice (only this one), for operators. */
	UDG_BACKEND_URING = 1, /* io_uring only: fail with UDG_ERR_IO_URING_UNAVAILABLE or
				  UDG_ERR_KERNEL_TOO_OLD where it cannot run */
	UDG_BACKEND_EPOLL = 2, /* epoll + recvmmsg/sendmmsg only */
} udg_backend;

/* Flags for udg_loop_options.flags. */
enum udg_loop_flag {
	/* Do not ask for DEFER_TASKRUN/SINGLE_ISSUER/COOP_TASKRUN (for comparisons). */
	UDG_LOOP_NO_TASKRUN_FLAGS = 1u << 0,
	/* udg extension: receive into recv_buf_count fixed buffers of recv_buf_size bytes each,
	 * as kernels without incremental buffer rings do: a datagram larger than a buffer's
	 * payload room arrives truncated (rinfo->truncated, stats recv_truncated), and GRO is off
	 * unless a buffer holds 64 KiB. For comparisons and to test that fallback. */
	UDG_LOOP_FIXED_RECV_BUFFERS = 1u << 1,
};

/* Loop options. Fill with udg_loop_options_init(), then change what you need (never fill the
 * struct by hand: its reserved tail must be zero).
 * Memory per loop is about send_slots*2600 bytes (send slots, made with the first socket) plus,
 * on io_uring: sq_entries*64 + cq_entries*16 (ring) + recv_buf_count*recv_buf_size (receive
 * buffers: with UDG_FEAT_RECV_INC that budget is rounded up to a power of two of 256 KiB
 * chunks, at least 4); on epoll: 64 * 64 KiB of address space for one receive batch, of which
 * only the pages large datagrams touch are used (with UDG_LOOP_FIXED_RECV_BUFFERS:
 * min(64, 4 MiB / recv_buf_size) * recv_buf_size). */
typedef struct udg_loop_options {
	unsigned sq_entries; /* submission queue size, rounded up to a power of two; default 256 */
	unsigned cq_entries; /* completion queue size; 0 = the larger of 4 * sq_entries and
				send_slots + recv_buf_count (at most 65536) */
	/* Receive memory shared by the loop's sockets: recv_buf_count (a power of two) buffers of
	 * recv_buf_size bytes (headers + payload) each; defaults 1024 and 2048. With incremental
	 * buffers (UDG_FEAT_RECV_INC) the product is the budget and datagrams pack into it; the
	 * size bounds a datagram only with fixed buffers (UDG_LOOP_FIXED_RECV_BUFFERS). */
	unsigned recv_buf_size;
	unsigned recv_buf_count;
	unsigned send_slots; /* sends accepted but not completed, per loop; default 1024 */
	unsigned flags;      /* enum udg_loop_flag */
	udg_backend backend; /* udg extension; default UDG_BACKEND_AUTO (0) */
	unsigned reserved32; /* zero */
	/* Room for options added later without changing the size (docs/abi.md): a new field
	 * takes slots from here, and zero keeps its default. udg_loop_options_init() zeroes it. */
	uint64_t reserved[4];
} udg_loop_options; /* 64 bytes for every 0.x.y with the same soname and after 1.0 */

/* Counters, monotonically increasing from loop creation (udg_loop_stats()). */
typedef struct udg_loop_stats {
	uint64_t iterations;      /* loop iterations run */
	uint64_t enters;          /* io_uring_enter calls made (submit and/or wait) */
	uint64_t sqes_submitted;  /* SQEs handed to the kernel */
	uint64_t cqes_reaped;     /* CQEs consumed */
	uint64_t sq_full_flushes; /* times a full SQ forced an early submit */
	uint64_t cq_overflows;    /* times the kernel reported CQ overflow (CQEs kept, not lost) */
	uint64_t recv_rearms;     /* multishot receives re-armed (CQE without F_MORE) */
	uint64_t recv_enobufs;    /* re-arms caused by an empty receive buffer ring */
	uint64_t datagrams_received; /* message callbacks delivered */
	uint64_t datagrams_sent;     /* sends completed successfully */
	uint64_t send_errors;        /* sends completed with an error (also those without a
					callback, which Node drops silently) */
	uint64_t errors_dropped;     /* 'error' events lost: more than 4 queued on one socket
					within one tick */
	uint64_t kernel_drops;       /* datagrams the kernel dropped on full receive queues: the
					sum of udg_socket_stats.kernel_drops over the loop's live
					sockets plus what closed ones had (udg extension) */
	uint64_t gso_trains;     /* udg extension: UDP_SEGMENT sends carrying several datagrams */
	uint64_t gso_datagrams;  /* datagrams that left in those trains */
	uint64_t gso_fallbacks;  /* trains the kernel refused; their datagrams went one by one
				    and GSO stayed off for that socket */
	uint64_t gro_trains;     /* udg extension: UDP_GRO reads that held several datagrams */
	uint64_t gro_datagrams;  /* datagrams split out of those reads (each one message) */
	uint64_t recv_truncated; /* datagrams that did not fit their receive buffer: delivered
				    with rinfo->truncated, or cut from a train and lost */
	/* Counters added later take slots from here (docs/abi.md); zero until then. */
	uint64_t reserved[13];
} udg_loop_stats; /* 256 bytes, fixed like udg_loop_options */

/* udg extension: what a loop owns (udg_loop_walk()). */
typedef enum udg_handle_type {
	UDG_HANDLE_SOCKET = 1,       /* the handle is a udg_socket * */
	UDG_HANDLE_TIMER = 2,        /* a udg_timer * */
	UDG_HANDLE_ABORT_SIGNAL = 3, /* a udg_abort_signal * */
} udg_handle_type;

typedef void (*udg_post_cb)(void *arg);
typedef void (*udg_walk_cb)(udg_handle_type type, void *handle, void *arg);
typedef void (*udg_timer_cb)(udg_timer *timer, void *user);

/* Fill options with the defaults. */
UDG_EXPORT void udg_loop_options_init(udg_loop_options *opts);

/* Create a loop. opts may be NULL (defaults). On success stores the loop in *out, returns 0.
 * With UDG_BACKEND_AUTO a loop where io_uring is refused or too old runs on epoll instead
 * (udg_loop_features() then has UDG_FEAT_EPOLL | UDG_FEAT_FALLBACK, and the features string
 * says why).
 * ERRORS: UDG_ERR_IO_URING_UNAVAILABLE (UDG_BACKEND_URING: io_uring_setup refused by seccomp,
 *   sysctl kernel.io_uring_disabled, ENOSYS); UDG_ERR_KERNEL_TOO_OLD (UDG_BACKEND_URING on
 *   Linux < 6.0: no multishot recvmsg); UDG_ERR_INVALID_ARG_VALUE (an unknown flag bit or
 *   backend, or a bad UDG_BACKEND value in the environment); UDG_ERR_OUT_OF_RANGE (an option
 *   out of range); -ENOMEM; other -errno from setup. */
UDG_EXPORT int udg_loop_new(const udg_loop_options *opts, udg_loop **out);

/* Free a loop. Returns -EBUSY (and frees nothing) while sockets, timers or requests are alive:
 * close them and run the loop until their callbacks ran, then close again. Returns 0 when freed.
 * udg_loop_describe() says what is still alive; udg_loop_walk() visits it. */
UDG_EXPORT int udg_loop_close(udg_loop *loop);

/* Run the loop. Returns 1 if referenced work remains (stopped early, or ONCE/NOWAIT),
 * 0 if nothing referenced is alive, -EINVAL for a NULL loop or an unknown mode, or a negative
 * code on a fatal ring error. Not reentrant: calling it from a callback returns -EBUSY. */
UDG_EXPORT int udg_loop_run(udg_loop *loop, udg_run_mode mode);

/* Make the current (or next) udg_loop_run() return after the iteration in progress.
 * Safe from any thread and async-signal-safe (no lock, no allocation); wakes a blocked loop. */
UDG_EXPORT void udg_loop_stop(udg_loop *loop);

/* Run fn(arg) on the loop's thread, in post order, during a later iteration. Safe from any
 * thread; wakes a blocked loop. A pending post keeps udg_loop_run() going until it ran.
 * Returns 0, -EINVAL (NULL loop or fn), -ENOMEM, or UDG_ERR_LOOP_CLOSED. */
UDG_EXPORT int udg_loop_post(udg_loop *loop, udg_post_cb fn, void *arg);

/* A file descriptor that polls readable when the loop has work (completions or posts), for
 * embedding into another event loop: poll it, then call udg_loop_run(loop, UDG_RUN_NOWAIT);
 * use udg_loop_timeout_ns() as the poll timeout (timers, and work that needs no kernel event).
 * It is an eventfd registered with the ring, created on the first call (later calls return the
 * same fd); it may wake spuriously. The fd belongs to the loop: do not close or read it.
 * Returns the fd, -EINVAL (NULL loop), or -errno from eventfd / the registration. */
UDG_EXPORT int udg_loop_fd(udg_loop *loop);

/* Nanoseconds until the next timer is due (0 if due or work is pending), -1 if none can fire
 * (no timer, or only UDG_TIMER_NEVER ones). Never more than INT64_MAX, never another negative
 * value. */
UDG_EXPORT int64_t udg_loop_timeout_ns(const udg_loop *loop);

/* Features in force (enum udg_loop_feature bits). */
UDG_EXPORT unsigned udg_loop_features(const udg_loop *loop);

/* udg extension: the backend the loop runs on (UDG_BACKEND_URING or UDG_BACKEND_EPOLL; never
 * AUTO). UDG_BACKEND_AUTO for a NULL loop. */
UDG_EXPORT udg_backend udg_loop_backend(const udg_loop *loop);

/* Human-readable backend and features, e.g. "io_uring: SINGLE_ISSUER|DEFER_TASKRUN|..." or
 * "epoll (io_uring unavailable: ...): epoll|EPOLL_PWAIT2". Static storage in the loop; valid
 * until the loop is freed. */
UDG_EXPORT const char *udg_loop_features_string(const udg_loop *loop);

/* Copy the loop's counters into *out. NOTES: kernel_drops is read from the kernel now, one
 * getsockopt per live socket (udg_socket_stats_get); the other counters are plain copies. */
UDG_EXPORT void udg_loop_stats_get(const udg_loop *loop, udg_loop_stats *out);

/* The loop's cached monotonic clock, in nanoseconds, updated once per iteration. */
UDG_EXPORT uint64_t udg_loop_now_ns(const udg_loop *loop);

/* udg extension: a pointer of the application's, kept with the loop (NULL at creation). */
UDG_EXPORT void udg_loop_set_user(udg_loop *loop, void *user);
UDG_EXPORT void *udg_loop_user(const udg_loop *loop);

/* udg extension: call cb(type, handle, arg) for every socket, timer and abort signal of the
 * loop that is not yet freed, in creation order (libuv's uv_walk). cb may close or free the
 * handle it is given, and only that one. Returns the number of handles visited, or -EINVAL
 * (NULL loop or cb). */
UDG_EXPORT int udg_loop_walk(udg_loop *loop, udg_walk_cb cb, void *arg);

/* udg extension: "socket", "timer", "abort signal" ("unknown" otherwise). Static storage. */
UDG_EXPORT const char *udg_handle_type_name(udg_handle_type type);

/* udg extension: what keeps the loop alive or udg_loop_close() busy, as one line of text:
 * every live handle by type and address, requests in flight, referenced active handles,
 * queued posts and events. Writes at most len bytes including the NUL (like snprintf) and
 * returns the length the whole text needs, or -EINVAL (NULL loop, or NULL buf with len > 0). */
UDG_EXPORT int udg_loop_describe(const udg_loop *loop, char *buf, size_t len);

/* ---- Timers ------------------------------------------------------------------------------ */

/* "Never" for udg_timer_start(): a timeout (or repeat) that reaches UDG_TIMER_NEVER, or whose
 * deadline (now + value) would pass it, saturates to a deadline that never comes. Such a timer
 * stays active: it never fires, and while referenced it keeps udg_loop_run(DEFAULT) waiting for
 * other events, like any active timer (unref or stop it if that is not wanted). */
#define UDG_TIMER_NEVER UINT64_MAX

/* Create a timer (inactive). Returns 0 and stores it in *out, or -EINVAL / -ENOMEM. */
UDG_EXPORT int udg_timer_new(udg_loop *loop, udg_timer **out);

/* Arm: first fire after timeout_ns, then every repeat_ns if non-zero. Re-arming an active timer
 * moves it. Ties fire in the order the timers were started. Every value is valid: deadlines
 * saturate at UDG_TIMER_NEVER instead of wrapping, so a huge timeout never fires early, a
 * repeat whose next deadline would pass the clock's range never fires again, and a repeating
 * timer fires at most once per loop iteration. Returns 0, -EINVAL (NULL timer or cb) or
 * -ENOMEM (the timer heap could not grow; the timer is then inactive). The callback runs on
 * the loop thread, never inside this call. */
UDG_EXPORT int udg_timer_start(udg_timer *timer, uint64_t timeout_ns, uint64_t repeat_ns,
			       udg_timer_cb cb, void *user);

/* Disarm; the callback will not run. Safe on an inactive timer. Returns 0 or -EINVAL. */
UDG_EXPORT int udg_timer_stop(udg_timer *timer);

/* A referenced active timer keeps udg_loop_run(DEFAULT) going; an unreferenced one does not.
 * Timers start referenced. */
UDG_EXPORT void udg_timer_ref(udg_timer *timer);
UDG_EXPORT void udg_timer_unref(udg_timer *timer);

/* Stop and free a timer. Safe from its own callback. */
UDG_EXPORT void udg_timer_free(udg_timer *timer);

#ifdef __cplusplus
}
#endif

#endif /* UDG_LOOP_H */
