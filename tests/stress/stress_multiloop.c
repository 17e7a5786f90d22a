/* tests/stress/stress_multiloop.c — four threads, each creating and running its own loop (the
 * ring is SINGLE_ISSUER: a loop lives on the thread that made it), with receivers sharing one
 * port through SO_REUSEPORT and four senders per loop. Every datagram is verified and marked in
 * one shared bitmap, so a duplicate across loops is caught; the sum received over the loops plus
 * the kernel's drops on that port must equal the sum sent. Meanwhile 8 threads storm the loops
 * with udg_loop_post: every post must run exactly once, in per-thread order. */
#include <pthread.h>
#include <stdatomic.h>

#include "stress.h"

#define LOOPS 4
#define SENDERS_PER_LOOP 4 /* 16 flows: SO_REUSEPORT spreads them by hash, not evenly */
#define POSTERS 8
#define SEND_WINDOW 64      /* per sender, sends in flight */
#define GLOBAL_WINDOW 16384 /* sent but neither received nor dropped, over every loop */

struct sender {
	int id; /* 0 .. LOOPS*SENDERS_PER_LOOP-1 */
	udg_socket *s;
	uint64_t target, sent, completed, errors;
	unsigned char buf[SEND_WINDOW][DGRAM_MAX];
	int free_idx[SEND_WINDOW], nfree;
};

struct worker {
	int index;
	pthread_t thread;
	udg_loop *loop;
	udg_socket *rx;
	udg_timer *tick;
	struct sender senders[SENDERS_PER_LOOP];
	uint64_t received, corrupted, duplicated, short_received;
	uint64_t posts_run, posts_out_of_order;
	uint32_t last_post_seq[POSTERS]; /* per poster: the last sequence number seen + 1 */
	bool finishing;
	int run_result, close_result;
	udg_loop_stats stats;
};

static struct worker workers[LOOPS];
static pthread_barrier_t ready;
static atomic_int shared_port;
static atomic_uint_fast64_t total_sent, total_received, total_drops, posts_done;
static atomic_int posters_done;
static atomic_int senders_done;
static atomic_bool all_done;
static uint64_t posts_per_poster;
static uint64_t per_sender_target;
static atomic_uint_fast64_t *seen_bits[LOOPS * SENDERS_PER_LOOP];
static atomic_uint_fast64_t last_progress_us;
static atomic_uint_fast64_t last_progress_total;

static void pump(struct worker *w, struct sender *sd);

/* Sent but neither received nor dropped, over every loop. Signed: the three counters are read
 * at slightly different moments by different threads. */
static int64_t in_flight(void)
{
	int64_t received = (int64_t)atomic_load(&total_received);
	int64_t drops = (int64_t)atomic_load(&total_drops);
	return (int64_t)atomic_load(&total_sent) - received - drops;
}

static uint64_t now_us(void)
{
	return (uint64_t)(stress_now() * 1e6);
}

static void sent_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s, (void)bytes;
	uintptr_t u = (uintptr_t)user;
	struct worker *w = &workers[u >> 16];
	struct sender *sd = &w->senders[(u >> 8) & 0xff];
	sd->completed++;
	if (status != 0)
		sd->errors++;
	sd->free_idx[sd->nfree++] = (int)(u & 0xff);
	if (sd->completed == sd->target)
		atomic_fetch_add(&senders_done, 1);
	pump(w, sd);
}

static void pump(struct worker *w, struct sender *sd)
{
	int port = atomic_load(&shared_port);
	while (sd->sent < sd->target && sd->nfree > 0 && in_flight() < GLOBAL_WINDOW) {
		int b = sd->free_idx[--sd->nfree];
		size_t len = dgram_fill(sd->buf[b], (uint32_t)sd->id, (uint32_t)sd->sent);
		uintptr_t u = ((uintptr_t)w->index << 16) | ((uintptr_t)(sd - w->senders) << 8) |
			      (uintptr_t)b;
		int r = udg_socket_send(sd->s, sd->buf[b], len, port, "127.0.0.1", sent_cb,
					(void *)u);
		if (r != 0) {
			sd->free_idx[sd->nfree++] = b;
			stress_fail("loop %d: send refused: %s", w->index, udg_err_name(r));
			return;
		}
		sd->sent++;
		atomic_fetch_add(&total_sent, 1);
	}
}

static void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	(void)s;
	struct worker *w = user;
	uint32_t id, seq;
	w->received++;
	atomic_fetch_add(&total_received, 1);
	enum dgram_verdict v = ri->truncated ? DGRAM_CORRUPT : dgram_check(data, len, &id, &seq);
	if (v == DGRAM_OK) {
		if (id >= LOOPS * SENDERS_PER_LOOP || seq >= per_sender_target) {
			w->corrupted++;
		} else {
			uint64_t bit = 1ULL << (seq % 64);
			if (atomic_fetch_or(&seen_bits[id][seq / 64], bit) & bit)
				w->duplicated++;
		}
	} else if (v == DGRAM_SHORT_OK) {
		w->short_received++;
	} else {
		w->corrupted++;
	}
}

/* A post carries (poster, sequence) in its argument, so it needs no allocation. */
static void post_fn(void *arg)
{
	uintptr_t u = (uintptr_t)arg;
	struct worker *w = &workers[(u >> 56) & 0x7f];
	int poster = (int)((u >> 48) & 0xff);
	uint32_t seq = (uint32_t)(u & 0xffffffffu);
	if (seq < w->last_post_seq[poster])
		w->posts_out_of_order++;
	w->last_post_seq[poster] = seq + 1;
	w->posts_run++;
	atomic_fetch_add(&posts_done, 1);
}

static void *poster_main(void *arg)
{
	int poster = (int)(uintptr_t)arg;
	for (uint64_t i = 0; i < posts_per_poster; i++) {
		/* Consecutive posts of one poster go to one loop in runs of 16, then the next. */
		int loop_index = (int)((i / 16 + (uint64_t)poster) % LOOPS);
		uintptr_t u =
			((uintptr_t)loop_index << 56) | ((uintptr_t)poster << 48) | (uint32_t)i;
		int r = udg_loop_post(workers[loop_index].loop, post_fn, (void *)u);
		if (r != 0) {
			stress_fail("poster %d: udg_loop_post: %s", poster, udg_err_name(r));
			break;
		}
	}
	atomic_fetch_add(&posters_done, 1);
	return NULL;
}

static void worker_finish(struct worker *w)
{
	w->finishing = true;
	udg_socket_close(w->rx, NULL, NULL);
	for (int k = 0; k < SENDERS_PER_LOOP; k++)
		udg_socket_close(w->senders[k].s, NULL, NULL);
	udg_timer_free(w->tick);
}

/* Every 10 ms: loop 0 refreshes the kernel's drop count for the shared port; every loop pumps
 * its senders (the global window may have opened) and finishes when all traffic and all posts
 * are accounted for, or when nothing moved for 5 s. */
static void on_tick(udg_timer *t, void *user)
{
	(void)t;
	struct worker *w = user;
	/* The drops column disappears with a socket: once any loop saw everything accounted
	 * for, the count is frozen and every loop finishes. */
	if (w->index == 0 && !atomic_load(&all_done)) {
		atomic_store(&total_drops, udp_port_drops(atomic_load(&shared_port)));
		uint64_t progress = atomic_load(&total_received) + atomic_load(&total_drops) +
				    atomic_load(&posts_done);
		if (progress != atomic_load(&last_progress_total)) {
			atomic_store(&last_progress_total, progress);
			atomic_store(&last_progress_us, now_us());
		}
	}
	for (int k = 0; k < SENDERS_PER_LOOP; k++)
		pump(w, &w->senders[k]);
	uint64_t sent = atomic_load(&total_sent);
	bool done = atomic_load(&senders_done) == LOOPS * SENDERS_PER_LOOP &&
		    atomic_load(&total_received) + atomic_load(&total_drops) == sent &&
		    atomic_load(&posters_done) == POSTERS &&
		    atomic_load(&posts_done) == posts_per_poster * POSTERS;
	if (done)
		atomic_store(&all_done, true);
	done = atomic_load(&all_done);
	bool stalled = now_us() - atomic_load(&last_progress_us) > 5000000;
	if (!w->finishing && (done || stalled)) {
		if (stalled && !done) {
			udg_loop_stats st;
			udg_loop_stats_get(w->loop, &st);
			fprintf(stderr,
				"stress: multiloop: loop %d gives up after 5 s without progress: "
				"received %" PRIu64 " enobufs %" PRIu64 " rearms %" PRIu64
				" cq_overflows %" PRIu64 "\n",
				w->index, w->received, st.recv_enobufs, st.recv_rearms,
				st.cq_overflows);
		}
		worker_finish(w);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	udg_loop_options o;
	udg_loop_options_init(&o);
	o.recv_buf_count = 2048;
	int r = udg_loop_new(&o, &w->loop);
	if (r != 0) {
		stress_fail("loop %d: udg_loop_new: %s", w->index, udg_strerror(r));
		pthread_barrier_wait(&ready);
		pthread_barrier_wait(&ready);
		return NULL;
	}
	udg_socket_options so;
	udg_socket_options_init(&so, UDG_UDP4);
	so.reuse_port = true;
	so.recv_buffer_size = 4u << 20;
	/* Losses must be attributed one by one to kernel drops: without GRO each dropped
	 * datagram is one count (a dropped GRO train counts once for all it held). */
	so.offload = UDG_OFFLOAD_NO_GRO;
	so.on_message = on_message;
	so.user = w;
	udg_socket_new(w->loop, &so, &w->rx);
	/* Loop 0 takes an ephemeral port; the others join it once it is known. */
	if (w->index == 0) {
		udg_socket_bind(w->rx, 0, "127.0.0.1", NULL, NULL);
		atomic_store(&shared_port, local_port(w->rx));
	}
	pthread_barrier_wait(&ready);
	if (w->index != 0) {
		r = udg_socket_bind(w->rx, atomic_load(&shared_port), "127.0.0.1", NULL, NULL);
		STRESS_CHECK(r == 0 && local_port(w->rx) == atomic_load(&shared_port),
			     "loop %d could not join the shared port", w->index);
	}
	for (int k = 0; k < SENDERS_PER_LOOP; k++) {
		struct sender *sd = &w->senders[k];
		sd->id = w->index * SENDERS_PER_LOOP + k;
		sd->target = per_sender_target;
		for (int b = 0; b < SEND_WINDOW; b++)
			sd->free_idx[sd->nfree++] = b;
		udg_socket_options_init(&so, UDG_UDP4);
		udg_socket_new(w->loop, &so, &sd->s);
		udg_socket_bind(sd->s, 0, "127.0.0.1", NULL, NULL);
	}
	pthread_barrier_wait(&ready); /* every receiver is in the group before anyone sends */
	udg_timer_new(w->loop, &w->tick);
	udg_timer_start(w->tick, 10000000, 10000000, on_tick, w);
	for (int k = 0; k < SENDERS_PER_LOOP; k++)
		pump(w, &w->senders[k]);
	w->run_result = udg_loop_run(w->loop, UDG_RUN_DEFAULT);
	udg_loop_stats_get(w->loop, &w->stats);
	/* Posts may still arrive from posters that have not finished: the loop closes only after
	 * every post ran (the main thread joins the posters first, then signals). */
	pthread_barrier_wait(&ready);
	udg_loop_run(w->loop, UDG_RUN_NOWAIT);
	w->close_result = udg_loop_close(w->loop);
	return NULL;
}

int main(void)
{
	uint64_t target = scaled(2000000);
	per_sender_target = target / (LOOPS * SENDERS_PER_LOOP);
	if (per_sender_target == 0)
		per_sender_target = 1;
	target = per_sender_target * LOOPS * SENDERS_PER_LOOP;
	posts_per_poster = scaled(200000);
	for (int i = 0; i < LOOPS * SENDERS_PER_LOOP; i++)
		seen_bits[i] = calloc(per_sender_target / 64 + 1, sizeof(**seen_bits));
	atomic_store(&last_progress_us, now_us());

	pthread_barrier_init(&ready, NULL, LOOPS + 1);
	for (int i = 0; i < LOOPS; i++) {
		workers[i].index = i;
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	}
	pthread_barrier_wait(&ready); /* loops exist, port known */
	pthread_barrier_wait(&ready); /* every receiver joined */
	for (int i = 0; i < LOOPS; i++)
		STRESS_CHECK(workers[i].loop != NULL, "loop %d was not created", i);
	if (stress_failures) {
		fprintf(stderr, "stress: multiloop: cannot run\n");
		return 1;
	}
	double t0 = stress_now();
	pthread_t posters[POSTERS];
	for (int p = 0; p < POSTERS; p++)
		pthread_create(&posters[p], NULL, poster_main, (void *)(uintptr_t)p);
	for (int p = 0; p < POSTERS; p++)
		pthread_join(posters[p], NULL);
	pthread_barrier_wait(&ready); /* every loop has returned from udg_loop_run */
	for (int i = 0; i < LOOPS; i++)
		pthread_join(workers[i].thread, NULL);
	double secs = stress_now() - t0;

	uint64_t received = 0, corrupted = 0, duplicated = 0, errors = 0, sent = 0, posts = 0,
		 disorder = 0;
	char per_loop[128] = "";
	size_t off = 0;
	for (int i = 0; i < LOOPS; i++) {
		struct worker *w = &workers[i];
		received += w->received;
		corrupted += w->corrupted;
		duplicated += w->duplicated;
		posts += w->posts_run;
		disorder += w->posts_out_of_order;
		for (int k = 0; k < SENDERS_PER_LOOP; k++) {
			sent += w->senders[k].sent;
			errors += w->senders[k].errors;
			STRESS_CHECK(w->senders[k].completed == w->senders[k].sent,
				     "loop %d sender %d: %" PRIu64 " callbacks for %" PRIu64, i, k,
				     w->senders[k].completed, w->senders[k].sent);
		}
		STRESS_CHECK(w->run_result == 0, "loop %d: udg_loop_run returned %d", i,
			     w->run_result);
		STRESS_CHECK(w->close_result == 0, "loop %d: udg_loop_close returned %d", i,
			     w->close_result);
		off += (size_t)snprintf(per_loop + off, sizeof(per_loop) - off, "%s%" PRIu64,
					i ? "/" : "", w->received);
	}
	uint64_t drops = atomic_load(&total_drops);
	STRESS_CHECK(sent == target, "sent %" PRIu64 " of %" PRIu64, sent, target);
	STRESS_CHECK(received + drops == sent,
		     "sent %" PRIu64 ", received %" PRIu64 ", kernel dropped %" PRIu64 ": %" PRId64
		     " unaccounted",
		     sent, received, drops, (int64_t)(sent - received - drops));
	STRESS_CHECK(corrupted == 0, "%" PRIu64 " corrupted", corrupted);
	STRESS_CHECK(duplicated == 0, "%" PRIu64 " duplicated", duplicated);
	STRESS_CHECK(errors == 0, "%" PRIu64 " sends failed", errors);
	STRESS_CHECK(posts == posts_per_poster * POSTERS, "%" PRIu64 " of %" PRIu64 " posts ran",
		     posts, posts_per_poster * POSTERS);
	STRESS_CHECK(disorder == 0, "%" PRIu64 " posts out of their thread's order", disorder);

	printf("stress: multiloop: loops=%d datagrams=%" PRIu64 " received=%" PRIu64
	       " per_loop=%s lost=%" PRIu64 " kernel_attributed=%" PRIu64 " unattributed=%" PRId64
	       " corrupted=%" PRIu64 " duplicated=%" PRIu64 " posts=%" PRIu64
	       " posters=%d posts_out_of_order=%" PRIu64 " secs=%.2f\n",
	       LOOPS, sent, received, per_loop, sent - received, drops,
	       (int64_t)(sent - received - drops), corrupted, duplicated, posts, POSTERS, disorder,
	       secs);
	for (int i = 0; i < LOOPS * SENDERS_PER_LOOP; i++)
		free(seen_bits[i]);
	return stress_failures ? 1 : 0;
}
