/* udg/dgram.h — UDP sockets with Node.js dgram semantics, over the ring reactor.
 *
 * Naming: Node's dgram.createSocket is udg_socket_new; socket.fooBar(...) is udg_socket_foo_bar.
 * Events are callbacks set in udg_socket_options (one handler per event). No callback ever runs
 * inside the call that caused it: events and completions are delivered from udg_loop_run().
 * Synchronous errors (Node's throws) are return codes and change nothing.
 *
 * Ownership:
 *  - A socket belongs to its loop from udg_socket_new() until its close callback has run; the
 *    pointer is invalid after that.
 *  - Received payloads and rinfo are lent to the message callback; copy what you keep.
 *  - Send payloads: with a send callback, the bytes are borrowed and must stay unchanged until the
 *    callback runs. Without a callback, udg copies them before udg_socket_send returns.
 *    The udg_buf array itself is always copied at call time.
 *  - Address strings passed in are read during the call only.
 */
#ifndef UDG_DGRAM_H
#define UDG_DGRAM_H

#include <sys/socket.h>

#include "udg/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum udg_socket_type {
	UDG_UDP4 = 4,
	UDG_UDP6 = 6,
} udg_socket_type;

/* Longest formatted address: IPv6 text (45) + '%' + interface name (15) + NUL. */
#define UDG_ADDRSTRLEN 64

/* An address as Node's address()/remoteAddress() give it. */
typedef struct udg_address {
	char address[UDG_ADDRSTRLEN]; /* "127.0.0.1", "::1", "fe80::1%lo" */
	char family[8];               /* "IPv4" or "IPv6" */
	int port;
} udg_address;

/* The sender of a received datagram (Node's rinfo). Lent for the callback's duration. */
typedef struct udg_rinfo {
	const struct sockaddr *addr; /* raw source address (sockaddr_in or sockaddr_in6) */
	socklen_t addrlen;
	int port;       /* source port, host order */
	size_t size;    /* the datagram's true size in bytes (Node's rinfo.size) */
	bool truncated; /* the datagram was larger than the receive buffer; len < size */
	/* udg extension: receive metadata the socket asked for (udg_socket_options.metadata).
	 * `meta` says which of the fields below this datagram carries (UDG_META_ECN,
	 * UDG_META_PKTINFO); the others are zero. */
	unsigned meta;
	int ecn;                         /* ECN codepoint 0..3 (low two bits of TOS / tclass) */
	int ifindex;                     /* interface the datagram arrived on */
	const struct sockaddr *dst_addr; /* the local address it was sent to (port 0) */
	socklen_t dst_addrlen;
} udg_rinfo;

/* udg extension: per-datagram metadata a socket opts into (udg_socket_options.metadata); the
 * default (0) asks the kernel for nothing and costs nothing per datagram. */
typedef enum udg_meta_flag {
	UDG_META_ECN = 1 << 0,     /* rinfo->ecn (IP_RECVTOS / IPV6_RECVTCLASS); ECN on send */
	UDG_META_PKTINFO = 1 << 1, /* rinfo->dst_addr, rinfo->ifindex (IP_PKTINFO /
				      IPV6_RECVPKTINFO); source address / interface on send */
	UDG_META_DROPS = 1 << 2,   /* accepted, asks for nothing: every socket's kernel_drops is
				      read from the kernel when stats are read (no option needed) */
} udg_meta_flag;

/* udg extension: kernel offloads beneath the per-datagram API (udg_socket_options.offload).
 * By default they are on wherever the kernel has them (docs/tuning.md says when they engage);
 * these bits turn them off for one socket. */
typedef enum udg_offload_flag {
	/* No GSO: every datagram leaves in its own send. Otherwise consecutive sends of equal
	 * size to one destination, queued in the same loop iteration, leave as one UDP_SEGMENT
	 * sendmsg without copying (each still gets its own callback with its own size). */
	UDG_OFFLOAD_NO_GSO = 1 << 0,
	/* No GRO: the socket does not ask for UDP_GRO, so every datagram is its own read.
	 * Otherwise, where the loop has UDG_FEAT_GRO, datagrams the kernel coalesced (a GSO
	 * sender on this host, or a NIC's GRO) arrive as one read and are split into one message
	 * per datagram, in order, with the same rinfo. */
	UDG_OFFLOAD_NO_GRO = 1 << 1,
} udg_offload_flag;

/* Node's 'error' event payload for asynchronous failures. */
typedef struct udg_error_info {
	int code;            /* negative udg code; udg_err_name(code) is Node's err.code */
	const char *syscall; /* "bind", "connect", "recvmsg", "getaddrinfo" (send errors reach
				the send callback, not 'error') */
	const char *address; /* the address involved, or NULL */
	int port;            /* the port involved, 0 when none */
} udg_error_info;

/* One piece of a scatter-gather datagram. */
typedef struct udg_buf {
	const void *base;
	size_t len;
} udg_buf;

/* ---- Callbacks (the socket is first, the user pointer last) ----------------------------- */

/* 'message': data[0..len) is the payload (len == rinfo->size unless rinfo->truncated). */
typedef void (*udg_message_cb)(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
			       void *user);
/* udg extension: one datagram of a batch (udg_socket_options.on_message_batch), lent like a
 * 'message': data and every pointer in rinfo are valid during the batch callback only. */
typedef struct udg_msg {
	const void *data;
	size_t len; /* == rinfo.size unless rinfo.truncated */
	udg_rinfo rinfo;
} udg_msg;
/* The most datagrams one batch callback is given. */
#define UDG_MSG_BATCH_MAX 64
/* udg extension: the datagrams one completion batch brought a socket, in arrival order,
 * 1 <= n <= UDG_MSG_BATCH_MAX. */
typedef void (*udg_message_batch_cb)(udg_socket *s, const udg_msg *msgs, size_t n, void *user);
/* 'listening', 'close', 'connect' (without error) */
typedef void (*udg_event_cb)(udg_socket *s, void *user);
/* 'error' */
typedef void (*udg_error_cb)(udg_socket *s, const udg_error_info *err, void *user);
/* Per-call completion: bind (success only, as Node), connect (status 0 or negative code). */
typedef void (*udg_status_cb)(udg_socket *s, int status, void *user);
/* send: status 0 and bytes sent, or a negative code (bytes = the datagram's length). */
typedef void (*udg_send_cb)(udg_socket *s, int status, size_t bytes, void *user);

/* ---- Custom resolver (Node's `lookup` option) --------------------------------------------- */

typedef struct udg_lookup_req udg_lookup_req;
/* Called on the loop thread for bind, connect and every unconnected send, with the host text
 * ("" never: the default host is already filled in) and the family (4 or 6). The resolver must
 * call udg_lookup_done(req, ...) exactly once, from inside this call or later on the loop
 * thread. */
typedef void (*udg_lookup_fn)(udg_lookup_req *req, const char *host, int family, void *user);
/* Finish a lookup: status 0 and a numeric address of the socket's family, or a negative code
 * (passed unchanged to the error/callback, as Node passes the resolver's error object).
 * Returns 0, or -EINVAL for a NULL req. */
UDG_EXPORT int udg_lookup_done(udg_lookup_req *req, int status, const char *address);

/* ---- Abort signal (Node's options.signal) ------------------------------------------------- */

typedef struct udg_abort_signal udg_abort_signal;
/* Create a signal on a loop. Returns 0 or -EINVAL/-ENOMEM. */
UDG_EXPORT int udg_abort_signal_new(udg_loop *loop, udg_abort_signal **out);
/* Abort: closes every open socket created with this signal (once). Loop thread only. */
UDG_EXPORT void udg_abort_signal_abort(udg_abort_signal *sig);
UDG_EXPORT bool udg_abort_signal_aborted(const udg_abort_signal *sig);
/* Free the signal; sockets created with it forget it. */
UDG_EXPORT void udg_abort_signal_free(udg_abort_signal *sig);

/* ---- Socket options (createSocket) -------------------------------------------------------- */

typedef struct udg_socket_options {
	udg_socket_type type;      /* required: UDG_UDP4 or UDG_UDP6 */
	bool reuse_addr;           /* SO_REUSEADDR at bind */
	bool reuse_port;           /* SO_REUSEPORT at bind (implies exclusive) */
	bool ipv6_only;            /* IPV6_V6ONLY at bind (udp4: bind fails with EINVAL) */
	uint32_t recv_buffer_size; /* SO_RCVBUF applied at bind, before 'listening'; 0 = unset */
	uint32_t send_buffer_size; /* SO_SNDBUF likewise; 0 = unset */
	udg_lookup_fn lookup;      /* custom resolver, or NULL for the built-in one */
	void *lookup_user;
	udg_abort_signal *signal; /* optional; aborting it closes the socket */
	/* Event handlers, any may be NULL. */
	udg_message_cb on_message;
	udg_event_cb on_listening;
	udg_event_cb on_close;
	udg_event_cb on_connect;
	udg_error_cb on_error;
	void *user;        /* passed to every event handler */
	unsigned metadata; /* udg extension: udg_meta_flag bits, applied at bind; 0 = none */
	unsigned offload;  /* udg extension: udg_offload_flag bits; 0 = every offload on */
	/* udg extension, instead of on_message (setting both is UDG_ERR_INVALID_ARG_VALUE):
	 * datagrams are gathered per socket and handed over once per completion batch, for
	 * callers that cross a boundary per call (a language binding). */
	udg_message_batch_cb on_message_batch;
	/* Room for options added later (docs/abi.md); udg_socket_options_init() zeroes it. */
	uint64_t reserved[3];
} udg_socket_options; /* 128 bytes, fixed like udg_loop_options */

/* Options for udg_socket_bind_ex (Node's bind(options)). */
typedef struct udg_bind_options {
	int port;            /* 0..65535; 0 = ephemeral */
	const char *address; /* NULL or "" = all interfaces */
	bool exclusive;      /* accepted for Node compatibility; no effect on Linux */
	int fd;              /* >= 0: adopt this UDP socket instead of creating one; default -1 */
	/* Room for options added later (docs/abi.md); udg_bind_options_init() zeroes it. */
	uint64_t reserved[5];
} udg_bind_options; /* 64 bytes, fixed like udg_loop_options */

UDG_EXPORT void udg_socket_options_init(udg_socket_options *opts, udg_socket_type type);
UDG_EXPORT void udg_bind_options_init(udg_bind_options *opts);

/* createSocket. Returns 0 and the socket in *out; UDG_ERR_SOCKET_BAD_TYPE,
 * UDG_ERR_OUT_OF_RANGE (buffer size > INT_MAX), UDG_ERR_INVALID_ARG_TYPE (NULL). A signal that
 * is already aborted closes the socket at once ('close' fires from the loop). */
UDG_EXPORT int udg_socket_new(udg_loop *loop, const udg_socket_options *opts, udg_socket **out);

/* The user pointer and loop of a socket. */
UDG_EXPORT void *udg_socket_user(const udg_socket *s);
UDG_EXPORT udg_loop *udg_socket_loop(const udg_socket *s);

/* bind([port][, address][, cb]): port 0..65535 (0 = ephemeral), address NULL/"" = all
 * interfaces, a literal, or any other text, which is resolved asynchronously as in Node
 * (so "256.1.1.1" or "-" fail later with ENOTFOUND, syscall "getaddrinfo", address = the text).
 * cb runs once after 'listening' on success, never on failure. Failure is an 'error' event
 * with syscall "bind" (or "getaddrinfo"). ERRORS (synchronous): INVALID_ARG_TYPE (NULL
 * socket), NOT_RUNNING, ALREADY_BOUND, SOCKET_BAD_PORT, -ENOMEM. */
UDG_EXPORT int udg_socket_bind(udg_socket *s, int port, const char *address, udg_status_cb cb,
			       void *user);
/* bind(options[, cb]). With opts->fd >= 0 the socket adopts that UDP socket as it is (no OS
 * bind; made non-blocking). Adds ERRORS: INVALID_FD_TYPE (not a UDP socket), -EBADF (not an open
 * fd), -EAFNOSUPPORT (the fd's family is not the socket's type), -EBUSY (a membership call
 * already opened this socket's own OS socket). udg owns the fd from then on and closes it. */
UDG_EXPORT int udg_socket_bind_ex(udg_socket *s, const udg_bind_options *opts, udg_status_cb cb,
				  void *user);

/* send(msg, port, address, cb). port 1..65535 and address (NULL/"" = 127.0.0.1 or ::1) when
 * unconnected, which includes CONNECTING (until 'connect' is delivered); port 0 and address
 * NULL when connected. An unbound socket binds implicitly and its sends wait, in order, until
 * 'listening'. Returns 0 once the datagram is accepted; the callback (if any) runs later with
 * the result. ERRORS: INVALID_ARG_TYPE (NULL buf with len > 0, or NULL socket),
 * DGRAM_IS_CONNECTED, SOCKET_BAD_PORT, NOT_RUNNING, SEND_QUEUE_FULL, OUT_OF_RANGE (more than
 * UDG_SENDV_MAX pieces), -ENOMEM (heap copy of a callback-less payload over 2 KiB, or a lookup
 * job). Address text is never refused here: a literal of the other family gives the callback
 * -EINVAL, and any non-literal (a name, or "256.1.1.1") is resolved, a failure reaching the
 * callback, or 'error' (syscall "getaddrinfo", address = the text) without one, as in Node. */
UDG_EXPORT int udg_socket_send(udg_socket *s, const void *buf, size_t len, int port,
			       const char *address, udg_send_cb cb, void *user);
/* send(msg, offset, length, ...): the bytes buf[offset .. offset+length) of a buf_len-byte
 * buffer. Adds BUFFER_OUT_OF_BOUNDS. */
UDG_EXPORT int udg_socket_send_range(udg_socket *s, const void *buf, size_t buf_len, size_t offset,
				     size_t length, int port, const char *address, udg_send_cb cb,
				     void *user);
/* send([bufs...]): n pieces sent as ONE datagram (sendmsg iovec); n == 0 sends an empty
 * datagram. At most UDG_SENDV_MAX pieces. */
#define UDG_SENDV_MAX 64
UDG_EXPORT int udg_socket_sendv(udg_socket *s, const udg_buf *bufs, size_t n, int port,
				const char *address, udg_send_cb cb, void *user);

/* Extension (no Node equivalent): send to a raw address, e.g. rinfo->addr to answer a sender
 * without formatting and parsing its address. No lookup is made (a custom resolver is not
 * consulted). ERRORS: INVALID_ARG_TYPE (NULL socket/addr), DGRAM_IS_CONNECTED, -EINVAL (family
 * differs from the socket's, or addrlen too short), SOCKET_BAD_PORT (port 0), NOT_RUNNING,
 * SEND_QUEUE_FULL. Otherwise as udg_socket_send (implicit bind, ordering, ownership). */
UDG_EXPORT int udg_socket_send_to(udg_socket *s, const void *buf, size_t len,
				  const struct sockaddr *addr, socklen_t addrlen, udg_send_cb cb,
				  void *user);
UDG_EXPORT int udg_socket_sendv_to(udg_socket *s, const udg_buf *bufs, size_t n,
				   const struct sockaddr *addr, socklen_t addrlen, udg_send_cb cb,
				   void *user);

/* Extension (no Node equivalent): per-datagram send metadata for udg_socket_send_msg. */
typedef struct udg_send_meta {
	unsigned flags;                  /* which fields are set: UDG_META_ECN, UDG_META_PKTINFO */
	int ecn;                         /* UDG_META_ECN: codepoint 0..3 (sent as the whole TOS /
					    traffic class byte, DSCP 0) */
	int ifindex;                     /* UDG_META_PKTINFO: outgoing interface, 0 = by route */
	const struct sockaddr *src_addr; /* UDG_META_PKTINFO: source address of the socket's
					    family (port ignored), NULL = by route */
	socklen_t src_addrlen;
} udg_send_meta;

/* Extension: send n pieces as one datagram to a raw address (NULL on a connected socket) with
 * per-datagram metadata (IP_TOS / IPV6_TCLASS and IP_PKTINFO / IPV6_PKTINFO control messages).
 * A metadata flag must be one the socket enabled in udg_socket_options.metadata. meta NULL
 * sends none. ERRORS: as udg_socket_sendv_to, plus UDG_ERR_OUT_OF_RANGE (ecn outside 0..3),
 * UDG_ERR_INVALID_ARG_VALUE (a flag the socket did not enable, or an unknown flag), -EINVAL
 * (src_addr of the other family or too short), UDG_ERR_INVALID_ARG_TYPE (addr NULL on an
 * unconnected socket), DGRAM_IS_CONNECTED (addr given on a connected socket). A source address
 * the host does not own fails in the callback (-EINVAL from the kernel). */
UDG_EXPORT int udg_socket_send_msg(udg_socket *s, const udg_buf *bufs, size_t n,
				   const struct sockaddr *addr, socklen_t addrlen,
				   const udg_send_meta *meta, udg_send_cb cb, void *user);

/* Extension (no Node equivalent): one datagram of udg_socket_send_batch, described as the
 * arguments of udg_socket_send_msg: n pieces, the destination (NULL on a connected socket),
 * metadata (NULL = none) and the user pointer its callback gets. Programs allocate arrays of
 * it, so it never changes within a soname (like udg_buf). */
typedef struct udg_send_item {
	const udg_buf *bufs;
	size_t n;
	const struct sockaddr *addr;
	socklen_t addrlen;
	const udg_send_meta *meta;
	void *user;
} udg_send_item; /* 48 bytes on 64-bit targets */

/* Extension: send n datagrams in one call, each as udg_socket_send_msg would (its own
 * destination, pieces and metadata; consecutive ones of equal size to one destination leave
 * as GSO trains). Every item is checked first: bad input in any item refuses the whole call
 * with the code udg_socket_send_msg gives for the first bad item, and nothing is sent. Then
 * items are accepted in order; returns how many were: n, or fewer when the loop's send slots
 * ran out (or, as a single send can, an allocation failed) midway. items[count..] were then
 * not taken and changed nothing: send them again later. cb (may be NULL) runs once per
 * accepted item, in order, with that item's user; payloads are borrowed until then, or copied
 * when cb is NULL. ERRORS (nothing accepted): INVALID_ARG_TYPE (NULL socket, NULL items with
 * n > 0), any code of udg_socket_send_msg for an item, NOT_RUNNING (closed, also with n == 0),
 * and SEND_QUEUE_FULL / -ENOMEM when not even the first item could be taken. n == 0 returns
 * 0. */
UDG_EXPORT int udg_socket_send_batch(udg_socket *s, const udg_send_item *items, size_t n,
				     udg_send_cb cb);

/* connect(port[, address][, cb]): 'connect' (and cb(s, 0)) fires from the loop on success;
 * on failure cb(s, code), or 'error' when cb is NULL. Non-literal text is resolved, as for
 * send. The socket is CONNECTING from this call until 'connect' (or the failure) is delivered,
 * even for a literal: meanwhile connect() is IS_CONNECTED, remote_address() and disconnect()
 * are NOT_CONNECTED, and send() is an unconnected send (a port is required). ERRORS:
 * SOCKET_BAD_PORT, INVALID_ARG_TYPE (NULL socket), NOT_RUNNING, IS_CONNECTED, -ENOMEM. */
UDG_EXPORT int udg_socket_connect(udg_socket *s, int port, const char *address, udg_status_cb cb,
				  void *user);
/* disconnect(): ERRORS NOT_RUNNING, NOT_CONNECTED (also while CONNECTING), or -errno from
 * connect(AF_UNSPEC). */
UDG_EXPORT int udg_socket_disconnect(udg_socket *s);
/* remoteAddress(): ERRORS NOT_RUNNING, NOT_CONNECTED (also while CONNECTING). */
UDG_EXPORT int udg_socket_remote_address(udg_socket *s, udg_address *out);
/* address(): ERRORS NOT_RUNNING, -EBADF when not bound. */
UDG_EXPORT int udg_socket_address(udg_socket *s, udg_address *out);

/* close([cb]): stops receiving at once (no 'message' after this returns), lets sends in
 * flight finish or cancel (their callbacks run), then 'close' and cb fire, once. ERRORS:
 * NOT_RUNNING when already closed. */
UDG_EXPORT int udg_socket_close(udg_socket *s, udg_event_cb cb, void *user);
/* [Symbol.asyncDispose](): close and be told when done. On a socket already closing it
 * succeeds too and cb runs right after 'close' (the socket is freed after that, so there is no
 * later "already closed" state to dispose). ERRORS: INVALID_ARG_TYPE (NULL), -EALREADY when a
 * dispose callback is already registered. */
UDG_EXPORT int udg_socket_dispose(udg_socket *s, udg_event_cb cb, void *user);

/* ref()/unref(): a referenced, active socket keeps udg_loop_run(DEFAULT) going. Sockets start
 * referenced; the flag survives bind. No-ops after close. */
UDG_EXPORT void udg_socket_ref(udg_socket *s);
UDG_EXPORT void udg_socket_unref(udg_socket *s);

/* Socket options. ERRORS: NOT_RUNNING (closed), -EBADF (not bound), -EINVAL (out of range),
 * other -errno from setsockopt. */
UDG_EXPORT int udg_socket_set_broadcast(udg_socket *s, bool flag);
UDG_EXPORT int udg_socket_set_ttl(udg_socket *s, int ttl);           /* 1..255 */
UDG_EXPORT int udg_socket_set_multicast_ttl(udg_socket *s, int ttl); /* 0..255 */
UDG_EXPORT int udg_socket_set_multicast_loopback(udg_socket *s, bool flag);
/* udp4: an interface's IPv4 address ("0.0.0.0" = default); udp6: "::%ifname" or "%ifname". */
UDG_EXPORT int udg_socket_set_multicast_interface(udg_socket *s, const char *iface);
/* Memberships: iface NULL = kernel's choice. ERRORS: MISSING_ARGS (NULL/"" group), -EINVAL,
 * -EADDRNOTAVAIL (drop of a group never joined). An unbound socket is bound to the wildcard,
 * port 0, first (as libuv does). */
UDG_EXPORT int udg_socket_add_membership(udg_socket *s, const char *group, const char *iface);
UDG_EXPORT int udg_socket_drop_membership(udg_socket *s, const char *group, const char *iface);
UDG_EXPORT int udg_socket_add_source_specific_membership(udg_socket *s, const char *source,
							 const char *group, const char *iface);
UDG_EXPORT int udg_socket_drop_source_specific_membership(udg_socket *s, const char *source,
							  const char *group, const char *iface);

/* Kernel buffer sizes. get* store the kernel's value (Linux doubles what was set) in *out;
 * set*(0) acts as a get. ERRORS: SOCKET_BUFFER_SIZE (not bound, size > INT_MAX, or kernel
 * refusal, as Node's native layer), NOT_RUNNING. */
UDG_EXPORT int udg_socket_get_recv_buffer_size(udg_socket *s, uint32_t *out);
UDG_EXPORT int udg_socket_get_send_buffer_size(udg_socket *s, uint32_t *out);
UDG_EXPORT int udg_socket_set_recv_buffer_size(udg_socket *s, uint32_t size);
UDG_EXPORT int udg_socket_set_send_buffer_size(udg_socket *s, uint32_t size);

/* Bytes / number of sends accepted by the kernel path but not completed (0 after close).
 * Sends waiting for bind or a lookup are not counted, as in Node. */
UDG_EXPORT size_t udg_socket_get_send_queue_size(const udg_socket *s);
UDG_EXPORT size_t udg_socket_get_send_queue_count(const udg_socket *s);

/* Extension (no Node equivalent): path MTU discovery (IP_MTU_DISCOVER / IPV6_MTU_DISCOVER). */
typedef enum udg_pmtud {
	UDG_PMTUD_WANT = 0,  /* the kernel's default: DF set, fragment above a learnt path MTU */
	UDG_PMTUD_DONT = 1,  /* never set DF; fragment as needed */
	UDG_PMTUD_DO = 2,    /* always DF: a datagram over the path MTU fails with -EMSGSIZE */
	UDG_PMTUD_PROBE = 3, /* DF set, the path MTU ignored (probing) */
} udg_pmtud;
/* ERRORS: NOT_RUNNING, -EBADF (not bound), UDG_ERR_OUT_OF_RANGE (not a udg_pmtud). With
 * UDG_PMTUD_DO a send larger than the path MTU reaches its callback as -EMSGSIZE; the other
 * sends are not affected. */
UDG_EXPORT int udg_socket_set_mtu_discover(udg_socket *s, udg_pmtud mode);
/* The path MTU the kernel knows for a connected socket's peer (IP_MTU / IPV6_MTU) into *out.
 * ERRORS: INVALID_ARG_TYPE (NULL), NOT_RUNNING, NOT_CONNECTED. */
UDG_EXPORT int udg_socket_get_mtu(udg_socket *s, int *out);

/* Extension (no Node equivalent): per-socket counters (udg_socket_stats_get). */
typedef struct udg_socket_stats {
	uint64_t datagrams_received; /* message callbacks delivered */
	uint64_t kernel_drops;       /* datagrams the kernel dropped on this socket, nearly always
					because its receive queue was full: the kernel's counter
					(SO_MEMINFO, /proc/net/udp "drops"), current at the call */
	uint64_t reserved[6];
} udg_socket_stats; /* 64 bytes */

/* Extension: the socket's counters into *out. ERRORS: INVALID_ARG_TYPE (NULL). Valid on a
 * closing socket too (until its close callback has run; the drops are read once more just
 * before its fd is closed). NOTES: kernel_drops costs one getsockopt per call while the OS
 * socket exists and nothing per datagram; the kernel's 32-bit count is unwrapped by each read,
 * so it stays exact when read at least once per 2^31 drops. */
UDG_EXPORT int udg_socket_stats_get(const udg_socket *s, udg_socket_stats *out);

/* Extension (no Node equivalent): the OS socket's file descriptor, for socket options udg has
 * no call for (SO_INCOMING_CPU, SO_ATTACH_REUSEPORT_CBPF, SO_MARK, ...). The fd stays owned by
 * the socket: do not close it, read from it or change O_NONBLOCK. It exists from the OS bind
 * (inside udg_socket_bind() for a literal address) until udg_socket_close(). Returns the fd, or
 * INVALID_ARG_TYPE (NULL), NOT_RUNNING (closed), -EBADF (no OS socket yet: unbound, or a bind
 * still resolving its host name). */
UDG_EXPORT int udg_socket_fd(const udg_socket *s);

/* ---- Addresses ---------------------------------------------------------------------------- */

/* Format a raw address as Node does: IPv4 dotted, IPv6 text with "%ifname" for a link-local
 * address with a scope id. Returns the string length, or -EINVAL / -ENOSPC. */
UDG_EXPORT int udg_format_address(const struct sockaddr *sa, socklen_t len, char *buf,
				  size_t buflen);
/* "IPv4" or "IPv6" for a raw address's family; "" otherwise. */
UDG_EXPORT const char *udg_family_name(const struct sockaddr *sa);

#ifdef __cplusplus
}
#endif

#endif /* UDG_DGRAM_H */
