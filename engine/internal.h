/* engine/internal.h — what the engine's files share: the loop and socket structs, the tagged op
 * header carried in user_data, the next-tick queue, and the udg__ cross-file functions.
 * Only engine/ includes this (and liburing). Never exported: every symbol here is hidden. */
#ifndef UDG_INTERNAL_H
#define UDG_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "udg.h"

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

/* ---- Tagged operations ------------------------------------------------------------------- */

/* Every SQE's user_data points at one of these (or is 0: a CQE nobody waits for, e.g. the
 * result of an async cancel). The loop dispatches on `kind` with one switch. */
enum udg__op_kind {
	UDG__OP_WAKE = 1, /* eventfd read: posts or stop from another thread */
	UDG__OP_RECV,     /* a socket's multishot recvmsg */
	UDG__OP_SEND,     /* one sendmsg from a send slot */
};

struct udg__op {
	uint8_t kind;
};

/* ---- Next tick --------------------------------------------------------------------------- */

/* A deferred call run by the loop before it waits: how every "never inside the API call"
 * callback is delivered. Intrusive, so queuing never allocates. */
struct udg__tick {
	struct udg__tick *next;
	void (*fn)(struct udg__tick *tick);
	bool queued;
};

/* ---- Resolver ---------------------------------------------------------------------------- */

/* One lookup (the public udg_lookup_req). Embedded in its requester (socket or send slot).
 * `done` runs on the loop thread, from a tick, never inside the call that started it. */
struct udg_lookup_req {
	struct udg__tick tick;
	udg_loop *loop;
	struct udg__resolve_job *job; /* built-in resolver: the worker's job, or NULL */
	void (*done)(struct udg_lookup_req *req);
	int family;                   /* AF_INET or AF_INET6 */
	int port;                     /* copied into addr on success */
	int status;                   /* 0 or negative code */
	bool pending;                 /* started and done not yet run */
	bool custom;                  /* waiting for udg_lookup_done() from a user resolver */
	bool answered;                /* udg_lookup_done() was called */
	udg_socket *owner;            /* the socket the lookup is for */
	struct sockaddr_storage addr; /* the result */
	socklen_t addrlen;
};

/* Start resolving `host` for req->family on the loop's worker; done() runs later unless
 * cancelled. Returns 0 or -ENOMEM. */
UDG__HIDDEN int udg__resolve_start(udg_loop *loop, struct udg_lookup_req *req, const char *host);
/* Forget a pending lookup: done() will not run; the worker's result is dropped. */
UDG__HIDDEN void udg__resolve_cancel(struct udg_lookup_req *req);
/* Join the worker threads (loop teardown). Returns -EBUSY while jobs are outstanding. */
UDG__HIDDEN int udg__resolver_shutdown(udg_loop *loop);

/* ---- Addresses (addr.c) ------------------------------------------------------------------ */

/* Parse a numeric address of `family` (AF_INET/AF_INET6; IPv6 may carry "%ifname") with port
 * into *out. Returns 0 for a literal of that family, 1 when the text is a plausible host name
 * (needs the resolver), -EINVAL for a literal of the other family (Node's "send EINVAL"),
 * UDG_ERR_INVALID_ARG_VALUE for malformed text ("256.1.1.1", "fe80::1%", over-long, bad chars). */
UDG__HIDDEN int udg__addr_parse(int family, const char *text, int port,
				struct sockaddr_storage *out, socklen_t *outlen);
/* The wildcard (0.0.0.0 / ::) or loopback (127.0.0.1 / ::1) address of a family. */
UDG__HIDDEN void udg__addr_any(int family, int port, struct sockaddr_storage *out,
			       socklen_t *outlen);
UDG__HIDDEN void udg__addr_loopback(int family, int port, struct sockaddr_storage *out,
				    socklen_t *outlen);
/* Fill a udg_address from a raw address. */
UDG__HIDDEN void udg__addr_to_public(const struct sockaddr *sa, socklen_t len, udg_address *out);

/* ---- Send slots ---------------------------------------------------------------------------- */

/* Copies of callback-less payloads up to this size live inside the slot; larger ones are copied
 * to the heap (rare: only datagrams over 2 KiB sent without a callback). */
#define UDG__SEND_INLINE 2048
/* The largest UDP payload the IP length field allows (IPv4 limits it further to 65507). */
#define UDG__DGRAM_MAX 65535
/* Pieces kept inline per slot; udg_socket_sendv accepts up to UDG_SENDV_MAX via the heap. */
#define UDG__SEND_IOV_INLINE 4

struct udg__send {
	struct udg__op op;
	struct udg__send *next; /* free list, or the socket's waiting/in-flight queue */
	udg_socket *sock;
	udg_send_cb cb;
	void *user;
	size_t bytes;  /* datagram length */
	int port;      /* destination port for error reports (0 when connected) */
	bool has_addr; /* msg_name is used (unconnected) */
	struct msghdr msg;
	struct sockaddr_storage addr;
	struct iovec *iov; /* iov_inline or heap */
	struct iovec iov_inline[UDG__SEND_IOV_INLINE];
	void *heap_copy;       /* heap copy of a large callback-less payload */
	struct udg__tick tick; /* completion delivered without the kernel (errors, cancels) */
	int status;
	struct udg_lookup_req lookup; /* hostname destinations (and custom resolvers) */
	unsigned char inline_data[UDG__SEND_INLINE];
};

/* ---- Sockets ------------------------------------------------------------------------------ */

/* 'error' events queued per socket between two ticks; more are counted, not kept. */
#define UDG__MAX_ERRORS 4

enum udg__bind_state { UDG__UNBOUND, UDG__BINDING, UDG__BOUND };
enum udg__conn_state { UDG__DISCONNECTED, UDG__CONNECTING, UDG__CONNECTED };

struct udg_socket {
	udg_loop *loop;
	int fd;                     /* -1 until the OS socket exists */
	int family;                 /* AF_INET or AF_INET6 */
	udg_socket_options opts;    /* a copy: handlers, user, flags, sizes, resolver */
	uint8_t bind_state;         /* enum udg__bind_state */
	uint8_t conn_state;         /* enum udg__conn_state */
	bool closing;               /* close() was called */
	bool closed;                /* 'close' has fired; the struct is about to be freed */
	bool referenced;            /* ref()/unref() */
	bool counted;               /* counted in loop->active_refs */
	bool recv_armed;            /* the multishot recvmsg is in the kernel */
	bool recv_wanted;           /* re-arm when possible (ENOBUFS waits for buffers) */
	uint8_t recv_errors_in_row; /* receive errors since the last datagram */
	struct udg__op recv_op;
	struct msghdr recv_msg; /* the template multishot recvmsg reads name/control sizes from */
	unsigned inflight;      /* SQEs of this socket in the kernel (recv, sends, cancels) */
	size_t queue_bytes;     /* getSendQueueSize */
	size_t queue_count;     /* getSendQueueCount */
	struct udg__send *wait_head, *wait_tail; /* sends waiting for bind or lookup */
	/* bind/connect in progress */
	udg_status_cb bind_cb;
	void *bind_user;
	udg_status_cb connect_cb;
	void *connect_user;
	int connect_port;
	bool connect_queued; /* connect waits for bind */
	int connect_status;
	bool connect_lookup_failed; /* the failure came from the resolver: syscall "getaddrinfo" */
	struct udg_lookup_req lookup;  /* bind lookup */
	struct udg_lookup_req clookup; /* connect lookup; clookup.addr is the peer */
	int last_bind_error;
	/* the last literal destination parsed by send(), reused while it repeats */
	char dst_cache_text[UDG_ADDRSTRLEN];
	int dst_cache_port;
	socklen_t dst_cache_len; /* 0: empty */
	struct sockaddr_storage dst_cache_addr;
	int bind_port;
	char pending_host[256]; /* the bind's host, for its lookup and errors */
	char connect_host[256]; /* the connect's host: a connect may start during a bind */
	/* events delivered on the next tick */
	struct udg__tick ev_listening, ev_connect, ev_close, ev_error;
	udg_error_info errs[UDG__MAX_ERRORS]; /* queued 'error' events */
	char err_addrs[UDG__MAX_ERRORS][UDG_ADDRSTRLEN];
	unsigned err_count;
	udg_event_cb close_cb;
	void *close_user;
	udg_event_cb dispose_cb;
	void *dispose_user;
	/* abort signal membership */
	udg_socket *sig_next, *sig_prev;
	/* loop's socket list */
	udg_socket *next, *prev;
};

/* Check a socket handle: NULL → UDG_ERR_INVALID_ARG_TYPE; closing/closed → NOT_RUNNING. */
UDG__HIDDEN int udg__socket_check(const udg_socket *s);
/* Create the OS socket and bind it to the wildcard, port 0, now (membership on an unbound
 * socket, as libuv does). Returns 0 or a negative code. */
UDG__HIDDEN int udg__socket_bind_wildcard_now(udg_socket *s);
/* send()/connect() on an UNBOUND socket: bind to the wildcard, ephemeral port. */
UDG__HIDDEN int udg__socket_bind_implicit(udg_socket *s);
/* Queue an 'error' event (delivered on the next tick; several may queue). */
UDG__HIDDEN void udg__socket_error(udg_socket *s, int code, const char *syscall,
				   const char *address, int port);
/* Start a lookup for a socket (custom resolver if set, else the built-in one). */
UDG__HIDDEN int udg__lookup_start(udg_socket *s, struct udg_lookup_req *req, const char *host,
				  int port, void (*done)(struct udg_lookup_req *req));
/* Cancel a pending lookup (a custom one keeps the socket until udg_lookup_done). */
UDG__HIDDEN void udg__lookup_cancel(udg_socket *s, struct udg_lookup_req *req);
/* Sends waiting for bind or lookups go out once possible, in call order. */
UDG__HIDDEN void udg__sends_flush_waiting(udg_socket *s);
/* Fail every waiting send with `status` (callbacks run from ticks). */
UDG__HIDDEN void udg__sends_fail_waiting(udg_socket *s, int status);

/* ---- The loop ----------------------------------------------------------------------------- */

struct udg__post;

struct udg_loop {
	struct io_uring ring;
	unsigned features;
	char features_str[160];
	bool running;
	atomic_bool stop_requested;
	uint64_t now_ns;
	unsigned last_reaped; /* CQEs of the previous iteration: drives batched waiting */
	udg_loop_stats stats;
	udg_loop_options opts;

	/* liveness (Node's ref/unref): the loop runs while any of these is non-zero */
	unsigned active_refs; /* referenced active sockets and timers */
	unsigned reqs;        /* requests in flight: sends, lookups, closes */
	unsigned handles;     /* every socket, timer, signal not yet freed (udg_loop_close) */

	/* next tick */
	struct udg__tick *tick_head, **tick_tail;

	/* timers: min-heap on (deadline, seq) */
	udg_timer **heap;
	size_t heap_len, heap_cap;
	uint64_t timer_seq;

	/* cross-thread posts and wake-ups */
	pthread_mutex_t post_lock;
	struct udg__post *post_head, *post_tail;
	atomic_uint post_count;
	atomic_bool wake_pending;
	bool closed_for_posts;
	int wake_fd;
	uint64_t wake_value;
	struct udg__op wake_op;
	bool wake_armed;

	/* receive buffer ring (one group shared by all sockets of the loop) */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	unsigned char *bufs;
	unsigned buf_size, buf_count, buf_mask;
	unsigned buf_returned; /* buffers added since the last ring advance */
	unsigned bufs_out;     /* buffers currently lent to callbacks / not yet returned */
	unsigned bufs_low;     /* sockets parked on ENOBUFS (re-armed when buffers return) */

	/* send slots */
	struct udg__send *slots;
	struct udg__send *free_slots;
	unsigned slots_used;

	int embed_fd; /* eventfd registered with the ring for udg_loop_fd(), or -1 */

	/* CQEs moved out of a full CQ during an API call, dispatched by the next reap */
	struct udg__stash *stash;

	/* sockets */
	udg_socket *sockets;
	struct udg__resolver *resolver;
};

/* The buffer group id used for the loop's receive buffer ring. */
#define UDG__BGID 0

/* Queue fn to run on the loop's next tick (idempotent while queued). */
UDG__HIDDEN void udg__tick_queue(udg_loop *loop, struct udg__tick *t,
				 void (*fn)(struct udg__tick *));
/* Get an SQE, submitting queued ones first when the SQ is full (never fails). */
UDG__HIDDEN struct io_uring_sqe *udg__sqe(udg_loop *loop);
/* Liveness accounting. */
UDG__HIDDEN void udg__active_add(udg_loop *loop, int delta);
/* Return one receive buffer to the ring (advanced once per reap batch). */
UDG__HIDDEN void udg__buf_return(udg_loop *loop, unsigned bid);

/* ring_setup.c */
UDG__HIDDEN int udg__ring_setup(udg_loop *loop);
UDG__HIDDEN void udg__ring_teardown(udg_loop *loop);

/* timer.c */
UDG__HIDDEN unsigned udg__timers_run(udg_loop *loop); /* returns the timers fired */
UDG__HIDDEN int64_t udg__timers_next_ns(const udg_loop *loop);
UDG__HIDDEN uint64_t udg__clock_ns(void);

/* post.c */
UDG__HIDDEN int udg__post_init(udg_loop *loop);
UDG__HIDDEN void udg__post_fini(udg_loop *loop);
UDG__HIDDEN unsigned udg__posts_run(udg_loop *loop); /* returns the posts run */
UDG__HIDDEN void udg__wake_arm(udg_loop *loop);
UDG__HIDDEN void udg__wake(udg_loop *loop);
UDG__HIDDEN void udg__wake_complete(udg_loop *loop);

/* recv.c / send.c / dgram.c: completions */
UDG__HIDDEN void udg__recv_complete(udg_loop *loop, struct udg__op *op, int res, unsigned flags);
UDG__HIDDEN void udg__send_complete(udg_loop *loop, struct udg__op *op, int res);
UDG__HIDDEN void udg__recv_arm(udg_socket *s);
UDG__HIDDEN void udg__recv_buffers_returned(udg_loop *loop);
/* Read one multishot recvmsg buffer (header, name, control, payload as the kernel lays them out
 * for template tmpl) into rinfo and the payload span; false when it holds no datagram. Never
 * reads outside buf[0..len). Factored out of the receive path so it can be fuzzed. */
UDG__HIDDEN bool udg__recv_parse(unsigned char *buf, int len, struct msghdr *tmpl, udg_rinfo *rinfo,
				 const void **payload, size_t *payload_len);
UDG__HIDDEN void udg__socket_op_done(udg_socket *s);
UDG__HIDDEN int udg__sends_init(udg_loop *loop);
UDG__HIDDEN void udg__sends_fini(udg_loop *loop);

/* Fault hooks, compiled only with -Dfault_injection=true (test builds). */
#ifdef UDG_FAULT_INJECTION
enum udg__fault {
	UDG__FAULT_RING_SETUP_EPERM = 1, /* io_uring_setup refused */
	UDG__FAULT_SUBMIT_EBUSY = 4,     /* the next SQ-full flush is refused once */
	UDG__FAULT_RECV_EBADF = 8,       /* receive arms use a bad fd (a persistent error) */
};
extern UDG__HIDDEN unsigned udg__faults;
#define UDG__FAULT(f) (udg__faults & (f))
#else
#define UDG__FAULT(f) 0
#endif

#endif /* UDG_INTERNAL_H */
