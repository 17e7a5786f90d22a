/* bindings/node/src/addon.h — the state the Node addon keeps per Node environment (one per
 * thread that loaded it): the udg loop embedded into Node's libuv loop, the batch that carries
 * received datagrams and completions into JS, and the socket and address tables.
 * Node-API only (plus libuv's uv_poll/uv_timer/uv_check, which Node-API hands out the loop for).
 */
#ifndef UDG_NODE_ADDON_H
#define UDG_NODE_ADDON_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <sys/socket.h>
#include <udg.h>

/* One row of the batch per event, UN_ROW int32 cells (JS reads the same layout, index.js). */
#define UN_ROW 8
enum un_kind {
	UN_MSG = 1,       /* sock, offset in the pool, len, port, src id, size */
	UN_SEND = 2,      /* sock, req id, status, bytes */
	UN_LISTENING = 3, /* sock */
	UN_CLOSED = 4,    /* sock: the C socket is gone (its close completed) */
	UN_CONNECT = 5,   /* sock, status */
	UN_ERROR = 6,     /* sock, code, error record index */
};

/* Received payloads are copied once, into a pool ArrayBuffer shared with JS: each message is a
 * view of it (offset and length in its row), so the allocation is one per pool, not per batch or
 * per datagram. A pool is never written twice: when the next payload does not fit, the batch is
 * flushed and a fresh pool replaces it; the old one lives as long as JS keeps a view of it. */
#define UN_POOL_BYTES (256u << 10)
/* Source addresses remembered (formatted once); the table restarts when half full. */
#define UN_SRC_SLOTS 4096
/* Error events queued in one batch (they are rare; more are folded into the last one). */
#define UN_MAX_ERRS 64

struct un_sock {
	udg_socket *s;
	struct un_state *st;
	int32_t id;
};

struct un_src {
	struct sockaddr_in6 sa; /* sin6_family 0: free; AF_INET is stored in the same space */
	int32_t id;
};

struct un_dst {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct un_ent {
	uint8_t *base;
	size_t len;
};

struct un_err {
	char syscall[24];
	char address[UDG_ADDRSTRLEN];
	int port;
	bool has_address;
};

struct un_state {
	napi_env env;
	udg_loop *loop;
	uv_loop_t *uv;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_check_t check;
	bool handles_live; /* the three uv handles are initialised */
	bool refd;         /* the poll handle keeps Node alive */
	bool in_run;       /* inside udg_loop_run: a nested run would fail with -EBUSY */
	bool dirty;        /* work was queued into udg since the last run */
	bool want_wake;    /* sendBatch stopped at full send slots: call JS after the next run */
	uint32_t run_msgs; /* datagrams the current pump's last run delivered */
	int in_js;         /* > 0 inside an addon call made from JS */

	napi_ref on_batch; /* JS receiver of batches */
	napi_ref rows_ref; /* the Int32Array the rows are written into */
	napi_async_context actx;
	napi_ref resource;
	int32_t *rows;
	uint32_t row_cap, nrows;
	napi_ref pool_ref; /* the current pool ArrayBuffer (NULL until the first datagram) */
	uint8_t *pool;
	uint32_t pool_used, pool_cap;

	struct un_ent *ents; /* sendBatch: the distinct buffers of one call, resolved once each */
	uint32_t ents_cap;

	struct un_src *src; /* open-addressed table of source addresses */
	uint32_t src_used;
	int32_t *src_new; /* ids created in this batch, formatted at flush */
	uint32_t src_new_n;
	bool src_reset; /* JS must forget its table before applying this batch */

	struct un_err errs[UN_MAX_ERRS];
	uint32_t nerrs;

	struct un_sock **socks; /* by id; NULL slots are reused */
	uint32_t nsocks, socks_cap;

	struct un_dst *dst;
	uint32_t ndst, dst_cap;
};

/* loop.c: embedding and the batch. */
int un_embed_start(struct un_state *st);
void un_embed_stop(struct un_state *st);
void un_set_ref(struct un_state *st, bool on);
void un_mark_dirty(struct un_state *st);
int32_t *un_row(struct un_state *st, enum un_kind kind, int32_t sock);
void un_on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo, void *user);
void un_flush(struct un_state *st);

/* methods.c: helpers shared with loop.c. */
struct un_sock *un_sock_get(struct un_state *st, int32_t id);
void un_sock_release(struct un_state *st, struct un_sock *us);

#endif /* UDG_NODE_ADDON_H */
