/* udg/group.h — shard groups: one UDP service spread over several cores. A group runs N
 * shards; each shard is one thread with its own loop and its own SO_REUSEPORT socket, all bound
 * to the same address and port with the same options and handlers. The kernel picks a shard per
 * datagram, by flow hash or by the CPU that received it. An extension: Node has no equivalent
 * (its `cluster` module runs a process per core).
 *
 * Built on the public loop and socket API only, so it works on whichever backend the loops use.
 * Handlers run on their shard's thread with that shard's socket and loop; hand work to another
 * shard with udg_group_post() (or udg_loop_post() on its loop while the group runs).
 */
#ifndef UDG_GROUP_H
#define UDG_GROUP_H

#include "udg/common.h"
#include "udg/dgram.h"
#include "udg/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A shard group (opaque). Created by udg_group_new(), freed by udg_group_free(). */
typedef struct udg_group udg_group;

/* How the kernel picks a shard for a datagram. */
typedef enum udg_steer {
	/* The kernel's SO_REUSEPORT hash of the 4-tuple: a flow stays on one shard. */
	UDG_STEER_HASH = 0,
	/* The CPU whose softirq received the datagram: a classic-BPF reuseport program sends it to
	 * the shard assigned to that CPU; a CPU with no shard falls back to the hash. */
	UDG_STEER_CPU = 1,
} udg_steer;

/* Runs on shard `index`'s thread. on_start: after its socket is bound ('listening' has been
 * delivered), before the shard counts as started; a non-zero (negative) return fails
 * udg_group_start() with that code. on_stop: when the stop reaches the shard, just before the
 * group closes its socket (s is NULL if the application closed it already); free the shard's
 * timers and sockets here. */
typedef int (*udg_group_start_cb)(udg_group *g, unsigned index, udg_socket *s, void *user);
typedef void (*udg_group_stop_cb)(udg_group *g, unsigned index, udg_socket *s, void *user);

/* Group options. Fill with udg_group_options_init(), then change what you need. Everything
 * is copied by udg_group_new(), including the CPU list and the address text. */
typedef struct udg_group_options {
	unsigned shards; /* 0 = one per CPU in the CPU list, or in the process's affinity mask */
	const int
		*cpus; /* optional: shard i is assigned cpus[i]; NULL = the mask's CPUs in order */
	size_t cpu_count;             /* entries in cpus */
	bool pin;                     /* pin each shard's thread to its CPU; default true */
	udg_steer steer;              /* default UDG_STEER_HASH */
	const udg_loop_options *loop; /* every shard's loop options; NULL = the defaults */
	/* Every shard's socket: type, handlers, user, buffer sizes. reuse_port is forced on;
	 * signal must be NULL (an abort signal belongs to one loop). */
	udg_socket_options socket;
	int port;            /* 0..65535; 0 = the first shard takes an ephemeral port, the rest
				join it */
	const char *address; /* NULL or "" = all interfaces; a literal or a host name */
	udg_group_start_cb on_start; /* optional */
	udg_group_stop_cb on_stop;   /* optional */
	void *user;                  /* passed to on_start and on_stop */
} udg_group_options;

/* Defaults: shards 0 (one per CPU), no CPU list, pinned, UDG_STEER_HASH, default loops, a
 * socket template from udg_socket_options_init(&opts->socket, type), port 0, all interfaces. */
UDG_EXPORT void udg_group_options_init(udg_group_options *opts, udg_socket_type type);

/* Check the options and create a stopped group (no thread, loop or socket yet).
 * Returns 0 and the group in *out. ERRORS (nothing is created):
 *   INVALID_ARG_TYPE  NULL opts or out; cpus NULL with cpu_count > 0
 *   MISSING_ARGS      an empty CPU list (cpus non-NULL, cpu_count 0)
 *   OUT_OF_RANGE      shards > the CPUs in the affinity mask; with a CPU list, shards neither
 *                     0 nor cpu_count; a CPU that is negative or not in the affinity mask
 *   INVALID_ARG_VALUE a CPU listed twice; an unknown steer; socket.signal set; an address
 *                     over 255 bytes
 *   SOCKET_BAD_TYPE   socket.type is not UDG_UDP4/UDG_UDP6
 *   SOCKET_BAD_PORT   port outside 0..65535
 *   -ENOMEM, or -errno from sched_getaffinity. */
UDG_EXPORT int udg_group_new(const udg_group_options *opts, udg_group **out);

/* Start every shard, one after the other: each thread creates its loop and socket, binds
 * (shard 0 first; with port 0 the others bind the port it got, so the sockets join the
 * reuseport group in shard order), runs on_start, then serves until stopped. Returns 0 once
 * every shard serves. If any shard fails, the shards already started are stopped and joined
 * and its code is returned: -errno from the bind (-EADDRINUSE, ...) or its lookup, the
 * loop's creation error (UDG_ERR_IO_URING_UNAVAILABLE, ...), on_start's code, -errno from
 * pthread_create or the BPF attach. The group is then stopped and may be started again.
 * ERRORS: INVALID_ARG_TYPE (NULL), -EALREADY (started before, even if stopped since),
 * -EDEADLK (called from a shard's thread). */
UDG_EXPORT int udg_group_start(udg_group *g);

/* Stop: from any thread, also from a handler. Each shard runs on_stop, closes its socket
 * (sends in flight complete or are cancelled: every accepted send's callback runs once), runs
 * until its loop has nothing left, and closes the loop. Called from outside the shards it then
 * waits for every thread (as udg_group_wait()); called from a shard's thread it only asks and
 * returns 0. A stop that comes while udg_group_start() runs (from on_start or a handler, say)
 * is asked for as soon as every shard serves, and does not wait. Idempotent. Returns 0, or the
 * first error a shard ended with (a fatal
 * udg_loop_run() error, or -EBUSY when something was left on its loop so it could not close);
 * INVALID_ARG_TYPE (NULL). */
UDG_EXPORT int udg_group_stop(udg_group *g);

/* Wait until every shard thread has ended (after a stop asked from anywhere), without asking
 * for one. Returns as udg_group_stop(); 0 at once for a group that never started; -EDEADLK from
 * a shard's thread; INVALID_ARG_TYPE (NULL). */
UDG_EXPORT int udg_group_wait(udg_group *g);

/* Stop (as udg_group_stop()) and free the group. Not from a shard's thread (returns -EDEADLK
 * and frees nothing). NULL is a no-op returning 0. */
UDG_EXPORT int udg_group_free(udg_group *g);

/* Number of shards (after udg_group_new(): the resolved count). 0 for NULL. */
UDG_EXPORT unsigned udg_group_shards(const udg_group *g);

/* The bound port (valid once started; also after stop), or 0. */
UDG_EXPORT int udg_group_port(const udg_group *g);

/* The CPU assigned to shard `index` (its pin and its UDG_STEER_CPU key), or -1 for a bad
 * index or NULL group. */
UDG_EXPORT int udg_group_shard_cpu(const udg_group *g, unsigned index);

/* Shard `index`'s loop and socket while the group runs (from the successful start until the
 * stop; the socket until its 'close'), else NULL. Any thread may read them; only the shard's thread
 * may use them, except the loop's thread-safe calls (udg_loop_post(), udg_loop_stop()). */
UDG_EXPORT udg_loop *udg_group_shard_loop(const udg_group *g, unsigned index);
UDG_EXPORT udg_socket *udg_group_shard_socket(const udg_group *g, unsigned index);

/* The index of the shard that owns `loop` (for handlers: udg_socket_loop(s)), or
 * INVALID_ARG_VALUE if no shard of g owns it, INVALID_ARG_TYPE for NULL. Any thread. */
UDG_EXPORT int udg_group_shard_index(const udg_group *g, const udg_loop *loop);

/* Run fn(arg) on shard `index`'s thread (udg_loop_post() semantics: in post order, during a
 * later iteration). Safe from any thread, including a shard handler, and safe against a shard
 * that is stopping: a post accepted is run before its loop closes. Returns 0,
 * INVALID_ARG_TYPE (NULL g or fn), OUT_OF_RANGE (index), UDG_ERR_LOOP_CLOSED (the shard is not
 * running: before start or after its loop closed), -ENOMEM. */
UDG_EXPORT int udg_group_post(udg_group *g, unsigned index, udg_post_cb fn, void *arg);

/* Counters of shard `index`, or with index -1 the sum over every shard. While the group runs
 * each shard copies its own counters on its thread (a post) and this call waits for them;
 * after stop it reports the counters each loop had when it closed. Returns 0,
 * INVALID_ARG_TYPE (NULL), OUT_OF_RANGE (index), UDG_ERR_LOOP_CLOSED (never started), -EDEADLK
 * (from a shard's thread: read your own loop with udg_loop_stats_get()). */
UDG_EXPORT int udg_group_stats(udg_group *g, int index, udg_loop_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* UDG_GROUP_H */
