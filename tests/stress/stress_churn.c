/* tests/stress/stress_churn.c — socket churn: 2000 sockets created, bound (explicitly,
 * implicitly, by connect, through the resolver), used for one round trip and closed, 32 at a
 * time, while a paced echo pair keeps traffic flowing on the same loop. Afterwards no fd may be
 * left over, every callback must have run exactly once, udg_loop_run must find nothing alive
 * and udg_loop_close must return 0. */
#include "stress.h"

#define CONCURRENT 32
#define BG_WINDOW 8

enum variant { BIND_THEN_SEND, IMPLICIT_BIND, CLOSE_WHILE_BINDING, CONNECTED, BY_NAME, VARIANTS };

struct churn {
	int k;
	enum variant v;
	udg_socket *s;
	int listening, messages, sends, send_cbs, closes;
};

static udg_loop *loop;
static udg_timer *tick;
static struct churn *socks;
static int total, created, closed;
static udg_socket *server, *bg_client, *bg_server;
static int server_port, bg_server_port;
static uint64_t bg_sent, bg_echoed, sends_issued, send_cbs_total;
static bool bg_stop, finishing, stalled;
static double last_progress;
static int last_closed;

static void next_socket(void);

static void echo_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			 void *user)
{
	(void)user;
	udg_socket_send_to(s, data, len, ri->addr, ri->addrlen, NULL, NULL);
}

static void bg_pump(void)
{
	static unsigned char buf[DGRAM_MAX];
	while (!bg_stop && bg_sent - bg_echoed < BG_WINDOW) {
		size_t len = dgram_fill(buf, 99, (uint32_t)bg_sent);
		if (udg_socket_send(bg_client, buf, len, bg_server_port, NULL, NULL, NULL) != 0)
			return;
		bg_sent++;
	}
}

static void bg_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	(void)s, (void)ri, (void)user;
	uint32_t id, seq;
	STRESS_CHECK(dgram_check(data, len, &id, &seq) != DGRAM_CORRUPT,
		     "background echo corrupted");
	bg_echoed++;
	bg_pump();
}

static void churn_sent(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s, (void)bytes;
	struct churn *c = user;
	c->send_cbs++;
	send_cbs_total++;
	STRESS_CHECK(status == 0, "churn socket %d: send failed: %s", c->k, udg_err_name(status));
}

static void churn_send(struct churn *c, int port, const char *to)
{
	static const char hello[] = "churn";
	c->sends++;
	sends_issued++;
	int r = udg_socket_send(c->s, hello, sizeof(hello), port, to, churn_sent, c);
	STRESS_CHECK(r == 0, "churn socket %d: send refused: %s", c->k, udg_err_name(r));
}

static void churn_listening(udg_socket *s, void *user)
{
	(void)s;
	struct churn *c = user;
	c->listening++;
	if (c->v == BIND_THEN_SEND)
		churn_send(c, server_port, "127.0.0.1");
}

static void churn_connected(udg_socket *s, int status, void *user)
{
	(void)s;
	struct churn *c = user;
	STRESS_CHECK(status == 0, "churn socket %d: connect: %s", c->k, udg_err_name(status));
	if (status == 0)
		churn_send(c, 0, NULL);
}

static void churn_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			  void *user)
{
	(void)data, (void)len, (void)ri;
	struct churn *c = user;
	if (c->messages++ == 0)
		udg_socket_close(s, NULL, NULL);
}

static void churn_close(udg_socket *s, void *user)
{
	(void)s;
	struct churn *c = user;
	c->closes++;
	closed++;
	next_socket();
}

static void next_socket(void)
{
	if (created == total || finishing)
		return;
	struct churn *c = &socks[created];
	c->k = created++;
	c->v = (enum variant)(c->k % VARIANTS);
	udg_socket_options so;
	udg_socket_options_init(&so, UDG_UDP4);
	so.on_listening = churn_listening;
	so.on_message = churn_message;
	so.on_close = churn_close;
	so.user = c;
	int r = udg_socket_new(loop, &so, &c->s);
	if (r != 0) {
		stress_fail("churn socket %d: create: %s", c->k, udg_err_name(r));
		return;
	}
	switch (c->v) {
	case BIND_THEN_SEND:
		r = udg_socket_bind(c->s, 0, "127.0.0.1", NULL, NULL);
		break;
	case IMPLICIT_BIND:
		churn_send(c, server_port, "127.0.0.1");
		break;
	case CLOSE_WHILE_BINDING:
		r = udg_socket_bind(c->s, 0, "127.0.0.1", NULL, NULL);
		if (r == 0)
			r = udg_socket_close(c->s, NULL, NULL);
		break;
	case CONNECTED:
		r = udg_socket_connect(c->s, server_port, "127.0.0.1", churn_connected, c);
		break;
	case BY_NAME:
		churn_send(c, server_port, "localhost");
		break;
	default:
		break;
	}
	STRESS_CHECK(r == 0, "churn socket %d: %s", c->k, udg_err_name(r));
}

static void on_tick(udg_timer *t, void *user)
{
	(void)t, (void)user;
	double now = stress_now();
	if (closed != last_closed) {
		last_closed = closed;
		last_progress = now;
	}
	if (finishing || (closed < total && now - last_progress < 3.0))
		return;
	finishing = true;
	stalled = closed < total;
	for (int i = 0; i < created; i++)
		if (socks[i].closes == 0)
			udg_socket_close(socks[i].s, NULL, NULL); /* refused if already closing */
	bg_stop = true;
	udg_socket_close(bg_client, NULL, NULL);
	udg_socket_close(bg_server, NULL, NULL);
	udg_socket_close(server, NULL, NULL);
	udg_timer_free(tick);
}

static udg_socket *echo_socket(udg_message_cb cb)
{
	udg_socket_options so;
	udg_socket *s;
	udg_socket_options_init(&so, UDG_UDP4);
	so.on_message = cb;
	udg_socket_new(loop, &so, &s);
	udg_socket_bind(s, 0, "127.0.0.1", NULL, NULL);
	return s;
}

int main(void)
{
	total = 2000; /* the same at every scale: it takes about a second */
	int fds_before_loop = count_fds();
	int r = udg_loop_new(NULL, &loop);
	if (r != 0) {
		fprintf(stderr, "stress: churn: udg_loop_new: %s\n", udg_strerror(r));
		return r == UDG_ERR_IO_URING_UNAVAILABLE ? 77 : 1;
	}
	int fds_with_loop = count_fds();
	socks = calloc((size_t)total, sizeof(*socks));
	server = echo_socket(echo_message);
	bg_server = echo_socket(echo_message);
	bg_client = echo_socket(bg_message);
	server_port = local_port(server);
	bg_server_port = local_port(bg_server);
	udg_timer_new(loop, &tick);
	udg_timer_start(tick, 10000000, 10000000, on_tick, NULL);
	last_progress = stress_now();
	bg_pump();
	for (int i = 0; i < CONCURRENT; i++)
		next_socket();

	double t0 = stress_now();
	r = udg_loop_run(loop, UDG_RUN_DEFAULT);
	double secs = stress_now() - t0;
	STRESS_CHECK(r == 0, "udg_loop_run returned %d: something is still alive", r);
	int fds_after = count_fds();

	int by_variant_closed[VARIANTS] = { 0 };
	for (int i = 0; i < created; i++) {
		struct churn *c = &socks[i];
		STRESS_CHECK(c->closes == 1, "churn socket %d: %d closes", i, c->closes);
		STRESS_CHECK(c->send_cbs == c->sends,
			     "churn socket %d: %d send callbacks for %d sends", i, c->send_cbs,
			     c->sends);
		if (c->v != CLOSE_WHILE_BINDING)
			STRESS_CHECK(c->messages >= 1, "churn socket %d (variant %d): no echo", i,
				     c->v);
		else
			STRESS_CHECK(c->listening == 0 && c->messages == 0,
				     "churn socket %d: events after close", i);
		by_variant_closed[c->v] += c->closes;
	}
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	r = udg_loop_close(loop);
	int fds_end = count_fds();
	STRESS_CHECK(r == 0, "udg_loop_close returned %d", r);
	STRESS_CHECK(!stalled, "churn stalled at %d of %d closed", closed, total);
	STRESS_CHECK(created == total && closed == total, "created %d, closed %d of %d", created,
		     closed, total);
	STRESS_CHECK(fds_after == fds_with_loop,
		     "fd leak: %d open with the loop alone, %d after the churn", fds_with_loop,
		     fds_after);
	STRESS_CHECK(fds_end == fds_before_loop, "fd leak: %d before the loop, %d after its close",
		     fds_before_loop, fds_end);
	STRESS_CHECK(send_cbs_total == sends_issued, "%" PRIu64 " send callbacks for %" PRIu64,
		     send_cbs_total, sends_issued);
	STRESS_CHECK(st.send_errors == 0, "%" PRIu64 " sends failed", st.send_errors);
	STRESS_CHECK(bg_echoed > 0, "the background traffic never flowed");

	printf("stress: churn: sockets=%d closed=%d (bind+send %d, implicit %d, "
	       "close-while-binding "
	       "%d, connected %d, by-name %d) sends=%" PRIu64 " background_round_trips=%" PRIu64
	       " fds_before=%d fds_after=%d loop_close=%d secs=%.2f\n",
	       created, closed, by_variant_closed[0], by_variant_closed[1], by_variant_closed[2],
	       by_variant_closed[3], by_variant_closed[4], sends_issued, bg_echoed, fds_with_loop,
	       fds_after, r, secs);
	free(socks);
	return stress_failures ? 1 : 0;
}
