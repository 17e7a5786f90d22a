/* engine/core/core.h — the loop core every layer builds on: the loop struct, next-tick calls,
 * the op type completions are dispatched through, liveness, timers, posts, and the table of
 * functions a backend gives the core. Nothing here names a socket or a datagram, and nothing
 * here includes a backend's headers. Hidden symbols only; never installed. */
#ifndef UDG_CORE_H
#define UDG_CORE_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "udg.h"
#include "list.h"

#define UDG__HIDDEN __attribute__((visibility("hidden")))
#define UDG__LIKELY(x) __builtin_expect(!!(x), 1)
#define UDG__UNLIKELY(x) __builtin_expect(!!(x), 0)
/* The API never changes errno (syscalls inside it do): restore it when the scope ends. */
static inline void udg__errno_restore(const int *saved)
{
	errno = *saved;
}
#define UDG__PRESERVE_ERRNO \
	int udg__saved_errno __attribute__((cleanup(udg__errno_restore), unused)) = errno
#define UDG__CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define UDG__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Operations ------------------------------------------------------------------------ */

/* Something a backend completes: a kernel request (the io_uring backend carries a pointer to
 * one in each SQE's user_data) or work finished without the kernel. Its owner embeds it and
 * is reached through `complete`; the core never switches on what an op is. `res` is the
 * kernel's result (>= 0 or -errno), `flags` the backend's completion flags. */
struct udg__op;
typedef void (*udg__op_fn)(struct udg__op *op, int res, uint32_t flags);
struct udg__op {
	udg__op_fn complete;
};

/* ---- Next tick ------------------------------------------------------------------------- */

/* A deferred call run by the loop before it waits: how every "never inside the API call"
 * callback is delivered. Intrusive, so queuing never allocates. */
struct udg__tick {
	struct udg__qnode node;
	void (*fn)(struct udg__tick *tick);
	bool queued;
};

/* ---- Handles ----------------------------------------------------------------------------- */

/* Every socket, timer and abort signal starts with one of these while it exists, so the loop
 * can count, walk and name what keeps udg_loop_close() from succeeding. */
struct udg__handle {
	struct udg__list link; /* loop->handle_list, in creation order */
	udg_handle_type type;
};

/* ---- The backend table ----------------------------------------------------------------- */

/* How the loop waits for the kernel. One table per backend (backend/uring, backend/epoll); the
 * loop holds a pointer to the one it runs on. Every function runs on the loop's thread.
 * The endpoint side (start/stop receiving, queued sends) is in backend/backend.h. */
struct udg__backend_ops {
	const char *name; /* "io_uring", "epoll" */
	/* Set up the backend's state for a loop whose options are checked (loop->bk). Returns 0
	 * or a negative code; on failure nothing is left allocated. */
	int (*create)(udg_loop *loop);
	void (*destroy)(udg_loop *loop);
	/* One iteration's kernel work: hand everything queued to the kernel (receive starts and
	 * stops, sends), wait up to timeout_ns (< 0: until an event; 0: do not block) for
	 * events, and complete each. `batch`: the caller accepts a short extra wait under load
	 * to collect several events per wake-up. Returns the events completed, or a negative
	 * code on an error that retrying cannot fix. */
	int (*wait)(udg_loop *loop, int64_t timeout_ns, bool batch);
	/* Hand what is queued to the kernel without waiting (end of a non-blocking run). */
	int (*flush)(udg_loop *loop);
	/* A descriptor that polls readable when the loop has work (udg_loop_fd). */
	int (*embed_fd)(udg_loop *loop);
	/* Anything queued that only the next wait/flush hands over? */
	bool (*pending)(const udg_loop *loop);
};

/* The state every backend's per-loop struct starts with. */
struct udg__io_ops;
struct udg__backend {
	const struct udg__backend_ops *ops;
	const struct udg__io_ops *io_ops; /* its endpoint side (backend/backend.h) */
	udg_loop *loop;
	struct udg__list dirty; /* endpoints with changes for the next flush */
	unsigned gso_segs;      /* UDP_SEGMENT trains: the most segments per send; 0 = none */
	bool gro;               /* every receive buffer holds a whole 64 KiB train: sockets may
				   ask for UDP_GRO (set by the backend's create) */
};

/* ---- The loop ---------------------------------------------------------------------------- */

struct udg__post;
struct udg__resolver;

/* The layer above the core (dgram) keeps its per-loop state here, created on first use;
 * udg_loop_close asks it to shut down (-EBUSY keeps the loop) before freeing anything, and
 * udg_loop_stats_get lets it fill in the counters it keeps itself (NULL: none). */
struct udg__upper {
	void *state;
	int (*shutdown)(udg_loop *loop);
	void (*stats)(const udg_loop *loop, udg_loop_stats *out);
	/* The backend delivered a batch of reads and is about to take their buffers back. */
	void (*rx_batch_end)(udg_loop *loop);
};

struct udg_loop {
	struct udg__backend *bk; /* the backend's state; bk->ops is its table */
	unsigned features;
	char features_str[224];
	bool running;
	atomic_bool stop_requested;
	uint64_t now_ns;
	unsigned fork_gen; /* udg__fork_gen when created: a different one means a forked child */
	udg_loop_stats stats;
	udg_loop_options opts;

	/* liveness (Node's ref/unref): the loop runs while any of these is non-zero */
	unsigned active_refs; /* referenced active sockets and timers */
	unsigned reqs;        /* requests in flight: sends, lookups, closes */
	unsigned handles;     /* every socket, timer, signal not yet freed (udg_loop_close) */
	struct udg__list handle_list; /* the same, as struct udg__handle */
	void *user;                   /* udg_loop_set_user() */

	/* next tick */
	struct udg__fifo ticks;

	/* timers: min-heap on (deadline, seq) */
	udg_timer **heap;
	size_t heap_len, heap_cap;
	uint64_t timer_seq;

	/* cross-thread posts and wake-ups: posters append under post_lock and write wake_fd
	 * (an eventfd the backend watches) once per drain */
	pthread_mutex_t post_lock;
	struct udg__post *post_head, *post_tail;
	atomic_uint post_count;
	atomic_bool wake_pending;
	bool closed_for_posts;
	int wake_fd;

	struct udg__upper upper;
	struct udg__resolver *resolver; /* getaddrinfo workers, created on first lookup */
};

/* Backends call this after each batch of receive upcalls, before the buffers go back. */
static inline void udg__rx_batch_end(udg_loop *loop)
{
	if (loop->upper.rx_batch_end)
		loop->upper.rx_batch_end(loop);
}

/* Queue fn to run on the loop's next tick (idempotent while queued). */
UDG__HIDDEN void udg__tick_queue(udg_loop *loop, struct udg__tick *t,
				 void (*fn)(struct udg__tick *));
/* Work that runs without the kernel is queued (a backend's flush may queue some through its
 * upcalls): its wait must not block then. */
static inline bool udg__loop_has_ready(const udg_loop *loop)
{
	return !udg__fifo_empty(&loop->ticks);
}
/* A socket, timer or abort signal comes to life / is freed. */
UDG__HIDDEN void udg__handle_add(udg_loop *loop, struct udg__handle *h, udg_handle_type type);
UDG__HIDDEN void udg__handle_remove(udg_loop *loop, struct udg__handle *h);
/* Liveness accounting. */
UDG__HIDDEN void udg__active_add(udg_loop *loop, int delta);
/* Is this loop usable from the calling process? (false in a child after fork) */
UDG__HIDDEN bool udg__loop_forked(const udg_loop *loop);

/* timer.c */
UDG__HIDDEN unsigned udg__timers_run(udg_loop *loop); /* returns the timers fired */
UDG__HIDDEN int64_t udg__timers_next_ns(const udg_loop *loop);
UDG__HIDDEN uint64_t udg__clock_ns(void);

/* post.c */
UDG__HIDDEN int udg__post_init(udg_loop *loop);
UDG__HIDDEN void udg__post_fini(udg_loop *loop);
UDG__HIDDEN unsigned udg__posts_run(udg_loop *loop); /* returns the posts run */
/* The backend saw wake_fd readable and consumed its counter: later posts must write again. */
UDG__HIDDEN void udg__wake_consumed(udg_loop *loop);
/* Close to posts if nothing is queued: 0, or -EBUSY (a post is pending). */
UDG__HIDDEN int udg__posts_close(udg_loop *loop);

/* backend/select.c: pick and create the backend loop->opts asks for. */
UDG__HIDDEN int udg__backend_create(udg_loop *loop);

/* Fault hooks, compiled only with -Dfault_injection=true (test builds). */
#ifdef UDG_FAULT_INJECTION
enum udg__fault {
	UDG__FAULT_RING_SETUP_EPERM = 1,   /* io_uring_setup refused */
	UDG__FAULT_BUFRING_INC_EINVAL = 2, /* an incremental buffer ring refused (before 6.12) */
	UDG__FAULT_SUBMIT_EBUSY = 4,       /* the next SQ-full flush is refused once */
	UDG__FAULT_RECV_EBADF = 8,         /* receive arms use a bad fd (a persistent error) */
};
extern UDG__HIDDEN unsigned udg__faults;
#define UDG__FAULT(f) (udg__faults & (f))
#else
#define UDG__FAULT(f) 0
#endif

#endif /* UDG_CORE_H */
