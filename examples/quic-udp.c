/* examples/quic-udp.c — the UDP layer a QUIC (or DNS) server sits on, with udg's metadata API
 * (udg extensions, docs/dgram.md "Datagram metadata"). The server is bound to the wildcard
 * address; for each datagram it reads the ECN codepoint and the local address the datagram was
 * sent to, and answers from that same address, marked ECT(0), with don't-fragment set.
 * Usage: quic-udp [port]        serve on 0.0.0.0:port (default 4433) until Ctrl-C
 *        quic-udp --self-test   serve on an ephemeral port and query it from a client in the
 *                               same loop, to 127.0.0.1 and 127.0.0.2 with several ECN marks;
 *                               exit 0 when every answer came from the address queried, marked
 *                               ECT(0), and reports what the client sent.
 *   e.g. quic-udp 4433 &  then  echo hi | nc -u -w1 -s 127.0.0.1 127.0.0.2 4433
 * Why each piece matters:
 *  - A wildcard-bound server on a host with several addresses must answer from the address it
 *    was asked on: without a source address the kernel picks one by route (127.0.0.1 for every
 *    127/8 destination here), the client sees a reply from a stranger and drops it (a QUIC
 *    client sees a new path, a DNS client a spoofed answer). UDG_META_PKTINFO gives
 *    rinfo->dst_addr on receive and takes udg_send_meta.src_addr on send.
 *  - QUIC reports the ECN marks it received to its peer (ACK frames) and marks what it sends
 *    ECT(0) (RFC 9000, section 13.4): UDG_META_ECN gives rinfo->ecn and takes udg_send_meta.ecn.
 *  - QUIC packets must never be fragmented (RFC 9000, section 14): don't-fragment on every
 *    packet. UDG_PMTUD_PROBE sets DF and ignores the path MTU the kernel learnt, because QUIC
 *    probes the path itself (DPLPMTUD); UDG_PMTUD_DO would also refuse packets over that MTU
 *    with -EMSGSIZE in the send callback.
 * Public API only. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udg.h>

/* ECN codepoints, the low two bits of the TOS byte (RFC 3168). */
enum { ECN_NOT_ECT = 0, ECN_ECT1 = 1, ECN_ECT0 = 2, ECN_CE = 3 };
static const char *const ecn_names[] = { "Not-ECT", "ECT(1)", "ECT(0)", "CE" };

#define DEFAULT_PORT 4433
/* How often the loop thread looks at the Ctrl-C flag. */
#define SIGNAL_POLL_NS (100 * 1000 * 1000ull)
/* A self-test that gets no answer fails instead of hanging: loopback loses nothing, so any
 * wait this long is a failure. */
#define SELF_TEST_DEADLINE_NS (5 * 1000 * 1000 * 1000ull)

/* What the self-test client asks: one query per line, to a local address with an ECN mark. */
static const struct query {
	const char *dst;
	int ecn;
} queries[] = {
	{ "127.0.0.1", ECN_ECT0 }, { "127.0.0.2", ECN_ECT0 },    { "127.0.0.2", ECN_ECT1 },
	{ "127.0.0.1", ECN_CE },   { "127.0.0.2", ECN_NOT_ECT },
};
#define QUERIES (sizeof(queries) / sizeof(queries[0]))

struct app {
	udg_loop *loop;
	udg_socket *server, *client;
	udg_timer *timer; /* Ctrl-C watch, or the self-test's deadline */
	bool self_test;
	unsigned answered, failed;
	bool seen[QUERIES];
	unsigned long long served;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- The server ---------------------------------------------------------------------------- */

/* rinfo and its dst_addr are lent for this call. udg_socket_send_msg copies the destination and
 * builds the control messages (source address, ECN) before it returns, and a send without a
 * callback copies the payload: the reply outlives nothing here. */
static void server_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
			   void *user)
{
	struct app *app = user;
	char from[UDG_ADDRSTRLEN] = "?", to[UDG_ADDRSTRLEN] = "?";
	char reply[160];

	udg_format_address(rinfo->addr, rinfo->addrlen, from, sizeof(from));
	if (!(rinfo->meta & UDG_META_PKTINFO)) {
		fprintf(stderr, "quic-udp: a datagram without its destination address\n");
		return;
	}
	udg_format_address(rinfo->dst_addr, rinfo->dst_addrlen, to, sizeof(to));
	/* The answer says what the server saw, so the client can check it: the query's first
	 * word, the address it arrived on, its ECN codepoint. */
	const char *q = data;
	size_t qlen = 0;
	while (qlen < len && qlen < 16 && q[qlen] != ' ' && q[qlen] != '\n')
		qlen++;
	int n = snprintf(reply, sizeof(reply), "%.*s %s %d", (int)qlen, q, to, rinfo->ecn);
	udg_send_meta meta = {
		.flags = UDG_META_ECN | UDG_META_PKTINFO,
		.ecn = ECN_ECT0,
		.src_addr =
			rinfo->dst_addr, /* answer from the address asked (its port is ignored) */
		.src_addrlen = rinfo->dst_addrlen,
	};
	udg_buf buf = { reply, (size_t)n };
	int r = udg_socket_send_msg(s, &buf, 1, rinfo->addr, rinfo->addrlen, &meta, NULL, NULL);
	app->served++;
	printf("quic-udp: %zu bytes from %s port %d to %s (ifindex %d), %s: answered from %s, "
	       "ECT(0)%s%s\n",
	       len, from, rinfo->port, to, rinfo->ifindex, ecn_names[rinfo->ecn & 3], to,
	       r == 0 ? "" : ", refused: ", r == 0 ? "" : udg_err_name(r));
}

static void on_error(udg_socket *s, const udg_error_info *err, void *user)
{
	struct app *app = user;

	(void)s;
	fprintf(stderr, "quic-udp: %s %s%s%s\n", err->syscall ? err->syscall : "error",
		udg_err_name(err->code), err->address ? " " : "", err->address ? err->address : "");
	app->failed++;
}

/* Bound to the wildcard with ECN and destination addresses on every datagram, DF on every
 * packet sent. The bind to a literal (the wildcard) happens inside udg_socket_bind, so the
 * descriptor exists for the option right after it. */
static int server_start(struct app *app, int port)
{
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.metadata = UDG_META_ECN | UDG_META_PKTINFO;
	o.on_message = server_message;
	o.on_error = on_error;
	o.user = app;
	int r = udg_socket_new(app->loop, &o, &app->server);
	if (r == 0)
		r = udg_socket_bind(app->server, port, NULL, NULL, NULL);
	if (r == 0)
		r = udg_socket_set_mtu_discover(app->server, UDG_PMTUD_PROBE);
	return r;
}

/* ---- The self-test client ------------------------------------------------------------------ */

static void finish(struct app *app)
{
	udg_timer_stop(app->timer);
	udg_socket_close(app->client, NULL, NULL);
	udg_socket_close(app->server, NULL, NULL); /* 'close' fires later; then the loop ends */
}

static bool check(bool ok, unsigned i, const char *what, const char *got)
{
	if (!ok)
		fprintf(stderr, "quic-udp: query %u to %s: %s (got %s)\n", i, queries[i].dst, what,
			got);
	return ok;
}

/* An answer: "q<i> <address the server saw> <ECN it saw>", from the address the query went
 * to, marked ECT(0). */
static void client_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *rinfo,
			   void *user)
{
	struct app *app = user;
	char text[160], from[UDG_ADDRSTRLEN] = "?", saw_dst[UDG_ADDRSTRLEN] = "";
	unsigned i;
	int saw_ecn = -1;

	(void)s;
	snprintf(text, sizeof(text), "%.*s", (int)(len < sizeof(text) ? len : sizeof(text) - 1),
		 (const char *)data);
	if (sscanf(text, "q%u %63s %d", &i, saw_dst, &saw_ecn) != 3 || i >= QUERIES ||
	    app->seen[i]) {
		fprintf(stderr, "quic-udp: unexpected answer \"%s\"\n", text);
		app->failed++;
		return;
	}
	app->seen[i] = true;
	udg_format_address(rinfo->addr, rinfo->addrlen, from, sizeof(from));
	char ecn_text[16];
	snprintf(ecn_text, sizeof(ecn_text), "%d", saw_ecn);
	bool ok = check(strcmp(from, queries[i].dst) == 0, i, "answer not from the address queried",
			from);
	ok &= check((rinfo->meta & UDG_META_ECN) && rinfo->ecn == ECN_ECT0, i,
		    "answer not marked ECT(0)", ecn_names[rinfo->ecn & 3]);
	ok &= check(strcmp(saw_dst, queries[i].dst) == 0, i, "server saw another destination",
		    saw_dst);
	ok &= check(saw_ecn == queries[i].ecn, i, "server saw another ECN mark", ecn_text);
	app->failed += !ok;
	if (++app->answered == QUERIES)
		finish(app);
}

static void deadline(udg_timer *t, void *user)
{
	struct app *app = user;

	(void)t;
	fprintf(stderr, "quic-udp: %u of %zu answers after %llu s\n", app->answered, QUERIES,
		SELF_TEST_DEADLINE_NS / 1000000000ull);
	app->failed++;
	finish(app);
}

/* The client is an ordinary udp4 socket (bound implicitly by its first send; the sends wait
 * for that bind in order) that marks each query with ECN and reads the answers' marks. */
static int client_start(struct app *app)
{
	udg_socket_options o;
	udg_address a;
	udg_socket_options_init(&o, UDG_UDP4);
	o.metadata = UDG_META_ECN;
	o.on_message = client_message;
	o.on_error = on_error;
	o.user = app;
	int r = udg_socket_address(app->server, &a);
	if (r == 0)
		r = udg_socket_new(app->loop, &o, &app->client);
	for (unsigned i = 0; r == 0 && i < QUERIES; i++) {
		char q[16];
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(a.port) };
		int n = snprintf(q, sizeof(q), "q%u", i);
		udg_buf buf = { q, (size_t)n };
		udg_send_meta meta = { .flags = UDG_META_ECN, .ecn = queries[i].ecn };
		inet_pton(AF_INET, queries[i].dst, &to.sin_addr);
		r = udg_socket_send_msg(app->client, &buf, 1, (struct sockaddr *)&to, sizeof(to),
					&meta, NULL, NULL);
	}
	if (r == 0)
		r = udg_timer_start(app->timer, SELF_TEST_DEADLINE_NS, 0, deadline, app);
	return r;
}

/* ---- Serving until Ctrl-C --------------------------------------------------------------- */

static void watch_signal(udg_timer *t, void *user)
{
	struct app *app = user;

	if (!interrupted)
		return;
	udg_timer_stop(t);
	udg_socket_close(app->server, NULL, NULL);
}

int main(int argc, char **argv)
{
	struct app app = { 0 };
	int port = DEFAULT_PORT, r;

	app.self_test = argc == 2 && strcmp(argv[1], "--self-test") == 0;
	if (argc > 2 || (argc == 2 && !app.self_test && (port = atoi(argv[1])) <= 0) ||
	    port > 65535) {
		fprintf(stderr, "usage: %s [port | --self-test]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = udg_loop_new(NULL, &app.loop);
	if (r == 0)
		r = udg_timer_new(app.loop, &app.timer);
	if (r == 0)
		r = server_start(&app, app.self_test ? 0 : port);
	if (r == 0 && app.self_test) {
		r = client_start(&app);
	} else if (r == 0) {
		udg_address a;
		if (udg_socket_address(app.server, &a) == 0)
			printf("quic-udp: serving on %s port %d\n", a.address, a.port);
		signal(SIGINT, on_sigint);
		signal(SIGTERM, on_sigint);
		r = udg_timer_start(app.timer, SIGNAL_POLL_NS, SIGNAL_POLL_NS, watch_signal, &app);
		udg_timer_unref(app.timer); /* the server socket keeps the loop running */
	}
	if (r != 0) {
		fprintf(stderr, "quic-udp: %s (%s)\n", udg_err_name(r), udg_strerror(r));
		return 1;
	}
	r = udg_loop_run(app.loop, UDG_RUN_DEFAULT);
	udg_loop_stats st;
	udg_loop_stats_get(app.loop, &st);
	udg_timer_free(app.timer);
	if (r < 0 || udg_loop_close(app.loop) != 0)
		app.failed++;
	/* Sends without a callback report their errors only here (a QUIC stack would pass a
	 * callback, to learn of -EMSGSIZE for a packet over the path MTU). */
	if (st.send_errors)
		fprintf(stderr, "quic-udp: %llu sends failed\n",
			(unsigned long long)st.send_errors);
	if (!app.self_test)
		return r < 0 ? 1 : 0;
	bool ok = app.failed == 0 && app.answered == QUERIES && st.send_errors == 0;
	printf("quic-udp: self-test %s: %u of %zu queries answered, %u failures\n",
	       ok ? "passed" : "FAILED", app.answered, QUERIES, app.failed);
	return ok ? 0 : 1;
}
