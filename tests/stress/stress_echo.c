/* tests/stress/stress_echo.c — window-paced echo: 8 clients each keep at most 32 datagrams in
 * flight to their own echo server on the same loop; the server answers with send_to(rinfo).
 * With the window bounded, nothing may be lost at all: every echo must come back intact, once.
 * A stall of 3 s is a failure (with the kernel's drop counts to say where). */
#include "stress.h"

#define PAIRS 8
#define WINDOW 32

struct pair {
	int id;
	udg_socket *client, *server;
	int server_port, client_port;
	uint64_t target, sent, echoed, corrupted, duplicated, short_sent, short_echoed;
	uint64_t server_errors;
	struct seen seen;
};

static struct pair pairs[PAIRS];
static udg_loop *loop;
static udg_timer *tick;
static uint64_t last_total;
static double last_progress;
static bool finishing, stalled;
static unsigned char scratch[DGRAM_MAX];

static void pump(struct pair *p)
{
	while (p->sent < p->target && p->sent - p->echoed < WINDOW) {
		size_t len = dgram_fill(scratch, (uint32_t)p->id, (uint32_t)p->sent);
		/* No callback: udg copies the payload, so one scratch buffer serves every send. */
		int r = udg_socket_send(p->client, scratch, len, p->server_port, "127.0.0.1", NULL,
					NULL);
		if (r != 0) {
			stress_fail("pair %d: send refused: %s", p->id, udg_err_name(r));
			return;
		}
		p->short_sent += len < DGRAM_HDR;
		p->sent++;
	}
}

static void server_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			   void *user)
{
	struct pair *p = user;
	int r = udg_socket_send_to(s, data, len, ri->addr, ri->addrlen, NULL, NULL);
	if (r != 0)
		p->server_errors++;
}

static void client_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			   void *user)
{
	(void)s;
	struct pair *p = user;
	uint32_t id, seq;
	p->echoed++;
	enum dgram_verdict v = ri->truncated ? DGRAM_CORRUPT : dgram_check(data, len, &id, &seq);
	if (v == DGRAM_CORRUPT || (v == DGRAM_OK && (id != (uint32_t)p->id || seq >= p->target)))
		p->corrupted++;
	else if (v == DGRAM_OK && seen_mark(&p->seen, seq))
		p->duplicated++;
	else if (v == DGRAM_SHORT_OK)
		p->short_echoed++;
	pump(p);
}

static void on_tick(udg_timer *t, void *user)
{
	(void)t, (void)user;
	uint64_t total = 0;
	bool done = true;
	for (int i = 0; i < PAIRS; i++) {
		total += pairs[i].echoed;
		done &= pairs[i].echoed >= pairs[i].target;
	}
	double now = stress_now();
	if (total != last_total) {
		last_total = total;
		last_progress = now;
	}
	if (!finishing && (done || now - last_progress > 3.0)) {
		stalled = !done;
		finishing = true;
		for (int i = 0; i < PAIRS; i++) {
			if (stalled) {
				struct pair *p = &pairs[i];
				fprintf(stderr,
					"stress: echo: pair %d stalled: sent %" PRIu64
					" echoed %" PRIu64 ", kernel drops server %" PRIu64
					" client %" PRIu64 "\n",
					i, p->sent, p->echoed, udp_port_drops(p->server_port),
					udp_port_drops(p->client_port));
			}
			udg_socket_close(pairs[i].client, NULL, NULL);
			udg_socket_close(pairs[i].server, NULL, NULL);
		}
		udg_timer_free(tick);
	}
}

int main(void)
{
	uint64_t target = scaled(1000000); /* round trips: twice as many datagrams */
	int r = udg_loop_new(NULL, &loop);
	if (r != 0) {
		fprintf(stderr, "stress: echo: udg_loop_new: %s\n", udg_strerror(r));
		return r == UDG_ERR_IO_URING_UNAVAILABLE ? 77 : 1;
	}
	for (int i = 0; i < PAIRS; i++) {
		struct pair *p = &pairs[i];
		p->id = i;
		p->target = target / PAIRS + (i < (int)(target % PAIRS) ? 1 : 0);
		seen_init(&p->seen, p->target);
		udg_socket_options so;
		udg_socket_options_init(&so, UDG_UDP4);
		so.on_message = server_message;
		so.user = p;
		udg_socket_new(loop, &so, &p->server);
		udg_socket_bind(p->server, 0, "127.0.0.1", NULL, NULL);
		so.on_message = client_message;
		udg_socket_new(loop, &so, &p->client);
		udg_socket_bind(p->client, 0, "127.0.0.1", NULL, NULL);
		p->server_port = local_port(p->server);
		p->client_port = local_port(p->client);
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

	uint64_t sent = 0, echoed = 0, corrupted = 0, duplicated = 0, server_errors = 0;
	for (int i = 0; i < PAIRS; i++) {
		struct pair *p = &pairs[i];
		sent += p->sent;
		echoed += p->echoed;
		corrupted += p->corrupted;
		duplicated += p->duplicated;
		server_errors += p->server_errors;
		STRESS_CHECK(p->short_echoed <= p->short_sent, "pair %d: extra short echoes", i);
		free(p->seen.bits);
	}
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	r = udg_loop_close(loop);
	STRESS_CHECK(r == 0, "udg_loop_close returned %d", r);
	STRESS_CHECK(!stalled, "the echo stalled: a datagram was lost with at most %d in flight",
		     WINDOW);
	STRESS_CHECK(sent == target && echoed == target,
		     "sent %" PRIu64 ", echoed %" PRIu64 " of %" PRIu64, sent, echoed, target);
	STRESS_CHECK(corrupted == 0, "%" PRIu64 " echoes corrupted", corrupted);
	STRESS_CHECK(duplicated == 0, "%" PRIu64 " echoes duplicated", duplicated);
	STRESS_CHECK(server_errors == 0, "%" PRIu64 " echo sends refused", server_errors);
	STRESS_CHECK(st.send_errors == 0, "%" PRIu64 " sends failed", st.send_errors);

	printf("stress: echo: pairs=%d window=%d round_trips=%" PRIu64 " datagrams=%" PRIu64
	       " lost=%" PRIu64 " corrupted=%" PRIu64 " duplicated=%" PRIu64
	       " secs=%.2f rate=%.0f datagrams/s\n",
	       PAIRS, WINDOW, echoed, sent + echoed, sent - echoed, corrupted, duplicated, secs,
	       (double)(sent + echoed) / secs);
	return stress_failures ? 1 : 0;
}
