/* engine/dgram/dgram.h — what the dgram layer's files share: the socket and send-slot structs,
 * lookups, addresses and the udg__ functions between socket.c, send.c, recv.c, resolver.c,
 * sockopt.c and addr.c. The layer talks to the kernel only through backend/backend.h and never
 * includes a backend's private header. Hidden symbols only; never installed. */
#ifndef UDG_DGRAM_INTERNAL_H
#define UDG_DGRAM_INTERNAL_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "../backend/backend.h"

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
	char *host;                   /* heap copy of the name, while pending (cold path) */
	const char *name;             /* the name asked for: valid only inside done() */
	struct sockaddr_storage addr; /* the result */
	socklen_t addrlen;
};

/* Start resolving `host` for req->family on the loop's worker; done() runs later unless
 * cancelled. Returns 0 or -ENOMEM. */
UDG__HIDDEN int udg__resolve_start(udg_loop *loop, struct udg_lookup_req *req, const char *host);
/* Run a finished lookup's done() with req->name set, then free the name (resolver.c and the
 * custom-resolver tick both deliver through it). req may be reused or gone after the call. */
UDG__HIDDEN void udg__lookup_deliver(struct udg_lookup_req *req);
/* Forget a pending lookup: done() will not run; the worker's result is dropped. */
UDG__HIDDEN void udg__resolve_cancel(struct udg_lookup_req *req);
/* ---- Addresses (addr.c) ------------------------------------------------------------------ */

/* Parse a numeric address of `family` (AF_INET/AF_INET6; IPv6 may carry "%ifname") with port
 * into *out. Returns 0 for a literal of that family, -EINVAL for a literal of the other family
 * or a numeric zone (Node's "EINVAL"), 1 for any other non-empty text: as in Node, it goes to
 * the resolver ("256.1.1.1", "-", "fe80::1%" and over-long names fail there, asynchronously).
 * NULL or "" gives UDG_ERR_INVALID_ARG_VALUE (callers substitute the default host first). */
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
	struct udg__tx tx; /* what the backend sends: tx.msg, tx.status (a failure before the
			      kernel), tx.node (the free list, the socket's waiting queue, or the
			      endpoint's send queue) */
	udg_socket *sock;
	udg_send_cb cb;
	void *user;
	size_t bytes; /* datagram length */
	int port;     /* destination port for error reports (0 when connected) */
	bool counted; /* counted in the socket's send queue size/count */
	struct sockaddr_storage addr;
	struct iovec *iov; /* iov_inline or heap */
	struct iovec iov_inline[UDG__SEND_IOV_INLINE];
	void *heap_copy;       /* heap copy of a large callback-less payload */
	struct udg__tick tick; /* completion delivered without the backend (errors, cancels) */
	struct udg_lookup_req lookup; /* hostname destinations (and custom resolvers) */
	/* Control messages of udg_socket_send_msg (ECN, source address): tx.msg points here. */
	union {
		struct cmsghdr align;
		unsigned char b[UDG__TX_CTRL_MAX];
	} ctrl;
	unsigned char inline_data[UDG__SEND_INLINE];
};

/* The dgram layer's per-loop state (loop->upper.state), created with the loop's first socket. */
struct udg__dgram_loop {
	struct udg__send *slots;     /* opts.send_slots of them */
	struct udg__fifo free_slots; /* of slot->tx.node */
	unsigned slots_used;
	struct udg__list sockets;    /* every socket not yet freed (udg_socket.link) */
	struct udg__list rx_pending; /* batches with datagrams to hand over (recv.c) */
	uint64_t closed_drops;       /* kernel drops of the sockets freed so far (meta.c) */
};

/* The state, made on first use (a socket or a lookup); NULL when out of memory. */
UDG__HIDDEN struct udg__dgram_loop *udg__dgram_get(udg_loop *loop);

static inline struct udg__dgram_loop *udg__dgram_of(const udg_loop *loop)
{
	return (struct udg__dgram_loop *)loop->upper.state;
}

/* ---- Sockets ------------------------------------------------------------------------------ */

/* 'error' events queued per socket between two ticks; more are counted, not kept. */
#define UDG__MAX_ERRORS 4

/* Room for a host name as 'error' events and connect/bind errors repeat it: the longest name a
 * lookup can take (libuv's, and so Node's, limit of 255 characters) plus its NUL. */
#define UDG__HOST_TEXT 256

/* Datagrams gathered for a socket's on_message_batch until the backend's batch of reads ends
 * (recv.c): 8 KiB, made with the socket when it asks for batches. */
struct udg__rx_batch {
	udg_socket *sock;
	struct udg__list link; /* in the loop's rx_pending while n > 0 */
	unsigned n;
	udg_msg msgs[UDG_MSG_BATCH_MAX];
	struct sockaddr_in6 src[UDG_MSG_BATCH_MAX]; /* msgs[i].rinfo.addr: lent pointers copied */
	struct sockaddr_in6 dst[UDG_MSG_BATCH_MAX]; /* msgs[i].rinfo.dst_addr */
};

enum udg__bind_state { UDG__UNBOUND, UDG__BINDING, UDG__BOUND };
enum udg__conn_state { UDG__DISCONNECTED, UDG__CONNECTING, UDG__CONNECTED };

struct udg_socket {
	struct udg__handle handle; /* first: udg_loop_walk() hands out this address */
	udg_loop *loop;
	int fd;                  /* -1 until the OS socket exists */
	int family;              /* AF_INET or AF_INET6 */
	udg_socket_options opts; /* a copy: handlers, user, flags, sizes, resolver */
	uint8_t bind_state;      /* enum udg__bind_state */
	uint8_t conn_state;      /* enum udg__conn_state */
	bool closing;            /* close() was called */
	bool closed;             /* 'close' has fired; the struct is about to be freed */
	bool referenced;         /* ref()/unref() */
	bool counted;            /* counted in loop->active_refs */
	bool recv_dead;          /* a receive error that cannot clear was reported */
	struct udg__io io;       /* the backend's endpoint: receiving, queued sends */
	udg_timer *recv_retry;   /* re-starts receiving after repeated errors (lazily made) */
	unsigned recv_errors;    /* receive errors since the last datagram (the backoff) */
	unsigned inflight;  /* outstanding work besides the endpoint's: sends handed to it, ticks,
			       custom lookups */
	size_t queue_bytes; /* getSendQueueSize */
	size_t queue_count; /* getSendQueueCount */
	uint64_t datagrams_received; /* udg_socket_stats_get */
	struct udg__rx_batch *batch; /* with on_message_batch */
	struct udg__fifo waiting;    /* sends waiting for bind or lookup (slot->tx.node) */
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
	char pending_host[UDG__HOST_TEXT]; /* the bind's host, for its errors */
	char connect_host[UDG__HOST_TEXT]; /* the connect's host: a connect may start during a bind
					    */
	/* events delivered on the next tick */
	struct udg__tick ev_listening, ev_connect, ev_close, ev_error;
	udg_error_info errs[UDG__MAX_ERRORS];            /* queued 'error' events */
	char err_addrs[UDG__MAX_ERRORS][UDG__HOST_TEXT]; /* a lookup error names the host */
	unsigned err_count;
	udg_event_cb close_cb;
	void *close_user;
	udg_event_cb dispose_cb;
	void *dispose_user;
	struct udg__list sig_link; /* abort signal membership */
	struct udg__list link;     /* the loop's sockets */
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
/* The endpoint upcalls (recv.c, send.c). */
UDG__HIDDEN void udg__socket_message(struct udg__io *io, const void *data, size_t len,
				     const udg_rinfo *rinfo);
UDG__HIDDEN void udg__socket_recv_error(struct udg__io *io, int err, bool stopped);
/* The loop's rx_batch_end hook: hand every gathered batch over. */
UDG__HIDDEN void udg__dgram_rx_batch_end(udg_loop *loop);
/* Closing: a gathered batch is not handed over. */
UDG__HIDDEN void udg__rx_batch_drop(udg_socket *s);
UDG__HIDDEN void udg__socket_sent(struct udg__io *io, struct udg__tx *tx, int res);
/* Called whenever one of the socket's outstanding operations ends: the last one of a closing
 * socket lets 'close' fire. */
UDG__HIDDEN void udg__socket_op_done(udg_socket *s);
/* Closing: stop and free the receive retry timer. */
UDG__HIDDEN void udg__recv_retry_free(udg_socket *s);
/* Send slots (send.c): the pool is sized by udg_loop_options.send_slots. */
UDG__HIDDEN int udg__sends_init(struct udg__dgram_loop *d, unsigned count);
UDG__HIDDEN void udg__sends_fini(struct udg__dgram_loop *d);

/* ---- Metadata (meta.c) ------------------------------------------------------------------ */

/* Every udg_offload_flag bit. */
#define UDG__OFFLOAD_ALL (UDG_OFFLOAD_NO_GSO | UDG_OFFLOAD_NO_GRO)
/* Every udg_meta_flag bit. */
#define UDG__META_ALL (UDG_META_ECN | UDG_META_PKTINFO | UDG_META_DROPS)
/* Before the endpoint opens: ask the kernel for the socket's receive metadata and GRO. */
UDG__HIDDEN int udg__socket_meta_open(udg_socket *s);
/* Check a send's metadata against the socket (0 or a code; NULL is none). */
UDG__HIDDEN int udg__send_meta_check(const udg_socket *s, const udg_send_meta *m);
/* Build the send's control messages in slot->ctrl and point slot->tx.msg at them. */
UDG__HIDDEN void udg__send_meta_fill(struct udg__send *slot, int family, const udg_send_meta *m);
/* The kernel's drop count for the socket, read now (one getsockopt while the fd exists) and
 * kept in s->io.kernel_drops, which outlives the fd. */
UDG__HIDDEN uint64_t udg__socket_drops_read(udg_socket *s);
/* loop->upper.stats: the loop's kernel_drops over its live and closed sockets. */
UDG__HIDDEN void udg__dgram_stats(const udg_loop *loop, udg_loop_stats *out);

/* ---- Resolver worker pool (resolver.c) -------------------------------------------------- */

/* Join the worker threads (loop teardown). Returns -EBUSY while jobs are outstanding. */
UDG__HIDDEN int udg__resolver_shutdown(udg_loop *loop);

#endif /* UDG_DGRAM_INTERNAL_H */
