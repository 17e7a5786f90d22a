/* tests/stress/stress_soak.c — soak: 8 socket pairs over one loop push 5 million self-checking
 * datagrams (sizes 0..1472) at full scale. The receiver verifies each one: zero corrupted, zero
 * duplicated, and every datagram lost must be one the kernel counted as dropped for that socket
 * (none may vanish inside udg). Prints one summary line; exits 1 on any violation. */
#include <errno.h>

#include "stress.h"

#define PAIRS 8
#define SEND_WINDOW 64    /* sends in flight per pair (each holds one pool buffer) */
#define RECV_WINDOW 2048  /* datagrams per pair sent but not yet received or counted as dropped */
#define RCVBUF (4u << 20) /* ask for 4 MiB; the kernel caps it at net.core.rmem_max */

struct pair {
	int id;
	udg_socket *tx, *rx;
	int rx_port;
	uint64_t target, sent, completed, received, send_errors;
	uint64_t drops; /* kernel drops on rx, last read */
	uint64_t corrupted, duplicated, short_sent, short_received;
	struct seen seen;
};

static struct pair pairs[PAIRS];
static udg_loop *loop;
static udg_timer *tick;
static double last_progress;
static uint64_t last_total;
static bool finishing;

static void pump(struct pair *p);

/* Buffers are handed out by index so the callback can give them back without a search. */
static unsigned char *buffers[PAIRS][SEND_WINDOW];
static int free_idx[PAIRS][SEND_WINDOW];
static int nfree[PAIRS];

static void sent_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s, (void)bytes;
	uintptr_t u = (uintptr_t)user;
	struct pair *p = &pairs[u >> 8];
	p->completed++;
	if (status != 0)
		p->send_errors++;
	free_idx[p->id][nfree[p->id]++] = (int)(u & 0xff);
	pump(p);
}

static void pump(struct pair *p)
{
	while (p->sent < p->target && nfree[p->id] > 0 &&
	       p->sent - p->received - p->drops < RECV_WINDOW) {
		int b = free_idx[p->id][--nfree[p->id]];
		size_t len = dgram_fill(buffers[p->id][b], (uint32_t)p->id, (uint32_t)p->sent);
		int r = udg_socket_send(p->tx, buffers[p->id][b], len, p->rx_port, "127.0.0.1",
					sent_cb, (void *)(((uintptr_t)p->id << 8) | (uintptr_t)b));
		if (r != 0) {
			free_idx[p->id][nfree[p->id]++] = b;
			if (r != UDG_ERR_SEND_QUEUE_FULL)
				stress_fail("pair %d: send refused: %s", p->id, udg_err_name(r));
			return;
		}
		if (len < DGRAM_HDR)
			p->short_sent++;
		p->sent++;
	}
}

static void on_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	(void)s;
	struct pair *p = user;
	uint32_t id, seq;
	p->received++;
	if (ri->truncated) {
		p->corrupted++;
	} else {
		switch (dgram_check(data, len, &id, &seq)) {
		case DGRAM_OK:
			if (id != (uint32_t)p->id || seq >= p->target)
				p->corrupted++;
			else if (seen_mark(&p->seen, seq))
				p->duplicated++;
			break;
		case DGRAM_SHORT_OK:
			p->short_received++;
			break;
		case DGRAM_CORRUPT:
			p->corrupted++;
			break;
		}
	}
	pump(p);
}

static void close_all(void)
{
	for (int i = 0; i < PAIRS; i++) {
		udg_socket_close(pairs[i].tx, NULL, NULL);
		udg_socket_close(pairs[i].rx, NULL, NULL);
	}
	udg_timer_free(tick);
}

/* Every 20 ms: refresh the kernel's drop counts (they open the receive window again), pump,
 * and finish once everything sent is either received or counted as dropped — or when nothing
 * moved for 2 s, which the checks below then report. */
static void on_tick(udg_timer *t, void *user)
{
	(void)t, (void)user;
	uint64_t total = 0;
	bool all_done = true;
	for (int i = 0; i < PAIRS; i++) {
		struct pair *p = &pairs[i];
		p->drops = udp_port_drops(p->rx_port);
		pump(p);
		total += p->received + p->completed + p->drops;
		if (p->sent < p->target || p->completed < p->sent ||
		    p->received + p->drops < p->sent)
			all_done = false;
	}
	double now = stress_now();
	if (total != last_total) {
		last_total = total;
		last_progress = now;
	}
	if (!finishing && (all_done || now - last_progress > 2.0)) {
		finishing = true;
		close_all();
	}
}

int main(void)
{
	uint64_t total_target = scaled(5000000);
	udg_loop_options o;
	udg_loop_options_init(&o);
	o.recv_buf_count = 4096;
	int r = udg_loop_new(&o, &loop);
	if (r != 0) {
		fprintf(stderr, "stress: soak: udg_loop_new: %s\n", udg_strerror(r));
		return r == UDG_ERR_IO_URING_UNAVAILABLE ? 77 : 1;
	}
	struct udp_snmp snmp0 = udp_snmp_read();
	uint64_t softnet0 = softnet_dropped();

	for (int i = 0; i < PAIRS; i++) {
		struct pair *p = &pairs[i];
		p->id = i;
		p->target = total_target / PAIRS + (i < (int)(total_target % PAIRS) ? 1 : 0);
		seen_init(&p->seen, p->target);
		for (int b = 0; b < SEND_WINDOW; b++) {
			buffers[i][b] = malloc(DGRAM_MAX);
			free_idx[i][nfree[i]++] = b;
		}
		udg_socket_options so;
		udg_socket_options_init(&so, UDG_UDP4);
		so.on_message = on_message;
		/* Half the receivers keep the kernel's default buffer (about 200 KiB), which a
		 * 2048-datagram window overruns: their losses must all be the kernel's. The
		 * sender's GSO joins a datagram with a shorter one after it into a train; a GRO
		 * receiver gets the train as one packet, and the kernel counts one drop for all
		 * of it. Those receivers take no GRO, so each lost datagram is one drop; the
		 * others (which do not drop) split trains as usual. */
		so.recv_buffer_size = i < PAIRS / 2 ? RCVBUF : 0;
		so.offload = i < PAIRS / 2 ? 0 : UDG_OFFLOAD_NO_GRO;
		so.user = p;
		udg_socket_new(loop, &so, &p->rx);
		udg_socket_bind(p->rx, 0, "127.0.0.1", NULL, NULL);
		udg_socket_options_init(&so, UDG_UDP4);
		so.send_buffer_size = RCVBUF;
		udg_socket_new(loop, &so, &p->tx);
		udg_socket_bind(p->tx, 0, "127.0.0.1", NULL, NULL);
		p->rx_port = local_port(p->rx);
	}
	udg_timer_new(loop, &tick);
	udg_timer_start(tick, 20000000, 20000000, on_tick, NULL);
	last_progress = stress_now();
	for (int i = 0; i < PAIRS; i++)
		pump(&pairs[i]);

	double t0 = stress_now();
	r = udg_loop_run(loop, UDG_RUN_DEFAULT);
	double secs = stress_now() - t0;
	STRESS_CHECK(r == 0, "udg_loop_run returned %d", r);

	uint64_t sent = 0, received = 0, drops = 0, corrupted = 0, duplicated = 0, errors = 0,
		 completed = 0, short_sent = 0, short_received = 0;
	for (int i = 0; i < PAIRS; i++) {
		struct pair *p = &pairs[i];
		sent += p->sent;
		completed += p->completed;
		received += p->received;
		drops += p->drops; /* read before the close, by the last tick */
		corrupted += p->corrupted;
		duplicated += p->duplicated;
		errors += p->send_errors;
		short_sent += p->short_sent;
		short_received += p->short_received;
		STRESS_CHECK(p->received + p->drops == p->sent,
			     "pair %d: sent %" PRIu64 ", received %" PRIu64
			     ", kernel dropped %" PRIu64 ": %" PRId64 " unaccounted",
			     i, p->sent, p->received, p->drops,
			     (int64_t)(p->sent - p->received - p->drops));
		free(p->seen.bits);
		for (int b = 0; b < SEND_WINDOW; b++)
			free(buffers[i][b]);
	}
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	struct udp_snmp snmp1 = udp_snmp_read();
	uint64_t softnet = softnet_dropped() - softnet0;
	r = udg_loop_close(loop);
	STRESS_CHECK(r == 0, "udg_loop_close returned %d", r);
	STRESS_CHECK(sent == total_target, "sent %" PRIu64 " of %" PRIu64, sent, total_target);
	STRESS_CHECK(completed == sent, "%" PRIu64 " send callbacks for %" PRIu64 " sends",
		     completed, sent);
	STRESS_CHECK(errors == 0, "%" PRIu64 " sends failed", errors);
	STRESS_CHECK(corrupted == 0, "%" PRIu64 " datagrams corrupted", corrupted);
	STRESS_CHECK(duplicated == 0, "%" PRIu64 " datagrams duplicated", duplicated);
	STRESS_CHECK(short_received <= short_sent, "more short datagrams received than sent");
	STRESS_CHECK(st.datagrams_received == received,
		     "loop counted %" PRIu64 " received, we %" PRIu64, st.datagrams_received,
		     received);

	printf("stress: soak: pairs=%d datagrams=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64
	       " kernel_attributed=%" PRIu64 " unattributed=%" PRId64 " corrupted=%" PRIu64
	       " duplicated=%" PRIu64 " send_errors=%" PRIu64 " enobufs_rearms=%" PRIu64
	       " snmp_rcvbuf_errors_delta=%" PRIu64 " softnet_drops_delta=%" PRIu64
	       " secs=%.2f rate=%.0f/s\n",
	       PAIRS, sent, received, sent - received, drops, (int64_t)(sent - received - drops),
	       corrupted, duplicated, errors, st.recv_enobufs,
	       snmp1.rcvbuf_errors - snmp0.rcvbuf_errors, softnet, secs, (double)sent / secs);
	return stress_failures ? 1 : 0;
}
