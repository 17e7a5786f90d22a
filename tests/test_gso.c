/* tests/test_gso.c — automatic GSO beneath the per-datagram send: which queued sends leave as one
 * UDP_SEGMENT train (same destination, same size with a shorter last, the segment and payload
 * limits, equal metadata), that every datagram still arrives whole and in order with its own
 * callback, the per-socket switch, and the fallback when the kernel refuses a train. Trains are
 * counted by the loop's gso_trains/gso_datagrams; the receiver checks what arrived. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

#define MAX_DGRAMS 400

/* What the receiver saw, in arrival order. */
struct rx {
	int count;
	size_t sizes[MAX_DGRAMS];
	uint32_t seqs[MAX_DGRAMS]; /* the first four bytes of each */
	int ecn[MAX_DGRAMS];
	bool truncated;
};

static void rx_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	struct rx *r = user;
	(void)s;
	cr_assert_lt(r->count, MAX_DGRAMS);
	r->sizes[r->count] = len;
	r->seqs[r->count] = 0;
	if (len >= 4)
		memcpy(&r->seqs[r->count], data, 4);
	r->ecn[r->count] = ri->ecn;
	r->truncated |= ri->truncated;
	r->count++;
}

/* Each callback once, in call order, with its own byte count. */
struct tx {
	int calls, ok;
	bool in_order;
	uint32_t next;
	size_t bytes[MAX_DGRAMS];
};

static void tx_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	struct tx *t = user;
	(void)s;
	cr_assert_lt(t->calls, MAX_DGRAMS);
	t->bytes[t->calls++] = bytes;
	if (status == 0)
		t->ok++;
}

struct pair {
	udg_loop *loop;
	udg_socket *rx, *tx;
	struct rx got;
	struct tx sent;
	struct sockaddr_storage to;
	socklen_t tolen;
	int port;
};

static udg_socket *socket_with(udg_loop *loop, udg_socket_type type, unsigned meta,
			       unsigned offload, udg_message_cb on_msg, void *user)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.metadata = meta;
	o.offload = offload;
	o.on_message = on_msg;
	o.user = user;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	return s;
}

/* A receiver and a bound sender on one loop; nothing queued yet. */
static void pair_open(struct pair *p, udg_socket_type type, unsigned meta, unsigned offload)
{
	memset(p, 0, sizeof(*p));
	p->loop = new_loop();
	if (!(udg_loop_features(p->loop) & UDG_FEAT_GSO))
		cr_skip_test("this kernel has no UDP GSO: %s", udg_loop_features_string(p->loop));
	const char *lo = type == UDG_UDP4 ? "127.0.0.1" : "::1";
	p->rx = socket_with(p->loop, type, meta, 0, rx_message, &p->got);
	p->tx = socket_with(p->loop, type, meta, offload, NULL, NULL);
	p->port = bind_port(p->rx, lo);
	bind_port(p->tx, lo);
	p->tolen = local_addr(p->rx, &p->to);
}

/* Queue one datagram of len bytes carrying seq in its first four bytes (callback tx_cb). */
static void send_seq(struct pair *p, udg_socket *s, const struct sockaddr *to, socklen_t tolen,
		     size_t len, uint32_t seq)
{
	static unsigned char bufs[MAX_DGRAMS][1500];
	cr_assert_leq(len, sizeof(bufs[0]));
	cr_assert_lt(seq, MAX_DGRAMS);
	memset(bufs[seq], (int)seq, len);
	if (len >= 4)
		memcpy(bufs[seq], &seq, 4);
	cr_assert_eq(udg_socket_send_to(s, bufs[seq], len, to, tolen, tx_cb, &p->sent), 0);
}

static udg_loop_stats stats_of(udg_loop *loop)
{
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	return st;
}

static unsigned gso_segs(udg_loop *loop)
{
	const char *f = strstr(udg_loop_features_string(loop), "GSO(");
	unsigned n = 0;
	cr_assert(f, "the features string names the GSO limit");
	cr_assert_eq(sscanf(f, "GSO(%u)", &n), 1);
	return n;
}

static void pair_close(struct pair *p)
{
	udg_socket *socks[] = { p->rx, p->tx };
	close_all(p->loop, socks, 2);
}

/* Every datagram arrived once, in order, with the sizes given, and every callback ran once
 * with its own size. */
static void assert_delivered(struct pair *p, const size_t *sizes, int n)
{
	RUN_UNTIL(p->loop, p->got.count >= n && p->sent.calls >= n);
	cr_assert_eq(p->sent.calls, n);
	cr_assert_eq(p->sent.ok, n);
	cr_assert_eq(p->got.count, n);
	cr_assert(!p->got.truncated);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(p->got.sizes[i], sizes[i], "datagram %d: %zu bytes, sent %zu", i,
			     p->got.sizes[i], sizes[i]);
		cr_assert_eq(p->got.seqs[i], (uint32_t)i, "datagram %d arrived as %u", i,
			     p->got.seqs[i]);
		cr_assert_eq(p->sent.bytes[i], sizes[i]);
	}
}

Test(gso, equal_sends_to_one_peer_leave_as_one_train)
{
	struct pair p;
	size_t sizes[40];
	pair_open(&p, UDG_UDP4, 0, 0);
	for (int i = 0; i < 40; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 1200, (uint32_t)i);
	cr_assert_eq(p.sent.calls, 0, "no callback inside send");
	assert_delivered(&p, sizes, 40);
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_trains, 1);
	cr_assert_eq(st.gso_datagrams, 40);
	cr_assert_eq(st.gso_fallbacks, 0);
	pair_close(&p);
}

Test(gso, a_shorter_datagram_ends_its_train_and_a_longer_one_starts_the_next)
{
	struct pair p;
	/* [1000 x5, 300] [1000 x3] [1400] : the 1400 cannot join 1000-byte segments */
	size_t sizes[] = { 1000, 1000, 1000, 1000, 1000, 300, 1000, 1000, 1000, 1400 };
	int n = (int)(sizeof(sizes) / sizeof(sizes[0]));
	pair_open(&p, UDG_UDP4, 0, 0);
	for (int i = 0; i < n; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i], (uint32_t)i);
	assert_delivered(&p, sizes, n);
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_trains, 2);
	cr_assert_eq(st.gso_datagrams, 9);
	pair_close(&p);
}

Test(gso, trains_hold_one_destination_only)
{
	struct pair p;
	struct rx other = { 0 };
	pair_open(&p, UDG_UDP4, 0, 0);
	udg_socket *rx2 = socket_with(p.loop, UDG_UDP4, 0, 0, rx_message, &other);
	bind_port(rx2, "127.0.0.1");
	struct sockaddr_storage a2;
	local_addr(rx2, &a2);
	/* A B A B: no two neighbours share a destination; then A x4, B x4: two trains. */
	uint32_t seq = 0;
	for (int i = 0; i < 4; i++)
		send_seq(&p, p.tx, i % 2 ? (struct sockaddr *)&a2 : (struct sockaddr *)&p.to,
			 p.tolen, 500, seq++);
	for (int i = 0; i < 8; i++)
		send_seq(&p, p.tx, i >= 4 ? (struct sockaddr *)&a2 : (struct sockaddr *)&p.to,
			 p.tolen, 500, seq++);
	RUN_UNTIL(p.loop, p.got.count + other.count >= 12 && p.sent.calls >= 12);
	cr_assert_eq(p.sent.ok, 12);
	cr_assert_eq(p.got.count, 6);
	cr_assert_eq(other.count, 6);
	uint32_t want_a[] = { 0, 2, 4, 5, 6, 7 }, want_b[] = { 1, 3, 8, 9, 10, 11 };
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(p.got.seqs[i], want_a[i]);
		cr_assert_eq(other.seqs[i], want_b[i]);
	}
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_trains, 2);
	cr_assert_eq(st.gso_datagrams, 8);
	udg_socket *socks[] = { p.rx, p.tx, rx2 };
	close_all(p.loop, socks, 3);
}

Test(gso, a_train_stops_at_the_kernels_segment_limit)
{
	struct pair p;
	pair_open(&p, UDG_UDP4, 0, 0);
	unsigned limit = gso_segs(p.loop);
	cr_assert(limit == 64 || limit == 128, "limit %u", limit);
	int n = (int)limit + 10;
	size_t sizes[MAX_DGRAMS];
	for (int i = 0; i < n; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 100, (uint32_t)i);
	assert_delivered(&p, sizes, n);
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_trains, 2, "a train of %u and one of 10", limit);
	cr_assert_eq(st.gso_datagrams, (uint64_t)n);
	pair_close(&p);
}

Test(gso, a_train_carries_at_most_65507_payload_bytes)
{
	struct pair p;
	/* 1400-byte datagrams: 46 make 64400 bytes, a 47th would pass 65507. */
	int n = 60;
	size_t sizes[60];
	pair_open(&p, UDG_UDP4, 0, 0);
	for (int i = 0; i < n; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 1400, (uint32_t)i);
	assert_delivered(&p, sizes, n);
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_trains, 2, "46 + 14");
	cr_assert_eq(st.gso_datagrams, 60);
	pair_close(&p);
}

Test(gso, ipv6_sends_form_trains_too)
{
	struct pair p;
	size_t sizes[20];
	pair_open(&p, UDG_UDP6, 0, 0);
	for (int i = 0; i < 20; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 1200, (uint32_t)i);
	assert_delivered(&p, sizes, 20);
	cr_assert_eq(stats_of(p.loop).gso_trains, 1);
	pair_close(&p);
}

Test(gso, the_no_gso_option_sends_each_datagram_alone)
{
	struct pair p;
	size_t sizes[20];
	pair_open(&p, UDG_UDP4, 0, UDG_OFFLOAD_NO_GSO);
	for (int i = 0; i < 20; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 1200, (uint32_t)i);
	assert_delivered(&p, sizes, 20);
	cr_assert_eq(stats_of(p.loop).gso_trains, 0);
	cr_assert_eq(stats_of(p.loop).gso_datagrams, 0);
	pair_close(&p);
}

Test(gso, an_unknown_offload_bit_is_refused)
{
	udg_loop *loop = new_loop();
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.offload = 1u << 7;
	udg_socket *s = NULL;
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_null(s);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(gso, array_sends_join_trains_without_copying)
{
	struct pair p;
	static unsigned char body[20][600];
	size_t sizes[20];
	pair_open(&p, UDG_UDP4, 0, 0);
	for (uint32_t i = 0; i < 20; i++) {
		/* three pieces: the sequence, 596 bytes, and an empty piece; with a callback none
		 * is copied, so each stays in body[i] until its callback */
		memset(body[i], 0x5a, sizeof(body[i]));
		memcpy(body[i], &i, 4);
		udg_buf pieces[] = { { body[i], 4 }, { body[i] + 4, 596 }, { NULL, 0 } };
		cr_assert_eq(udg_socket_sendv_to(p.tx, pieces, 3, (struct sockaddr *)&p.to, p.tolen,
						 tx_cb, &p.sent),
			     0);
		sizes[i] = 600;
	}
	assert_delivered(&p, sizes, 20);
	cr_assert_eq(stats_of(p.loop).gso_trains, 1);
	pair_close(&p);
}

Test(gso, callback_less_sends_join_trains)
{
	struct pair p;
	pair_open(&p, UDG_UDP4, 0, 0);
	for (uint32_t i = 0; i < 30; i++) {
		unsigned char b[800];
		memset(b, 1, sizeof(b));
		memcpy(b, &i, 4);
		/* no callback: the payload is copied, the caller's buffer reused at once */
		cr_assert_eq(udg_socket_send_to(p.tx, b, sizeof(b), (struct sockaddr *)&p.to,
						p.tolen, NULL, NULL),
			     0);
	}
	RUN_UNTIL(p.loop, p.got.count >= 30);
	for (int i = 0; i < 30; i++) {
		cr_assert_eq(p.got.sizes[i], 800);
		cr_assert_eq(p.got.seqs[i], (uint32_t)i);
	}
	cr_assert_eq(stats_of(p.loop).gso_trains, 1);
	pair_close(&p);
}

Test(gso, only_datagrams_with_equal_metadata_share_a_train)
{
	struct pair p;
	static unsigned char b[12][700];
	pair_open(&p, UDG_UDP4, UDG_META_ECN, 0);
	/* ECN 1 x4, ECN 2 x4, ECN 1 x4: three trains, each datagram with its own codepoint */
	for (uint32_t i = 0; i < 12; i++) {
		memset(b[i], 0, sizeof(b[i]));
		memcpy(b[i], &i, 4);
		udg_send_meta m = { .flags = UDG_META_ECN, .ecn = i / 4 == 1 ? 2 : 1 };
		udg_buf one = { b[i], sizeof(b[i]) };
		cr_assert_eq(udg_socket_send_msg(p.tx, &one, 1, (struct sockaddr *)&p.to, p.tolen,
						 &m, tx_cb, &p.sent),
			     0);
	}
	RUN_UNTIL(p.loop, p.got.count >= 12 && p.sent.calls >= 12);
	cr_assert_eq(p.sent.ok, 12);
	for (int i = 0; i < 12; i++) {
		cr_assert_eq(p.got.seqs[i], (uint32_t)i);
		cr_assert_eq(p.got.ecn[i], i / 4 == 1 ? 2 : 1, "datagram %d ecn %d", i,
			     p.got.ecn[i]);
	}
	cr_assert_eq(stats_of(p.loop).gso_trains, 3);
	cr_assert_eq(stats_of(p.loop).gso_datagrams, 12);
	pair_close(&p);
}

/* Closing right after queueing: the train still leaves (or fails) as a whole, and every
 * datagram's callback runs exactly once before 'close'. */
Test(gso, closing_with_a_train_queued_runs_every_callback_once)
{
	struct pair p;
	pair_open(&p, UDG_UDP4, 0, 0);
	for (int i = 0; i < 50; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, 1000, (uint32_t)i);
	struct ev closed = { 0 };
	cr_assert_eq(udg_socket_close(p.tx, close_cb, &closed), 0);
	RUN_UNTIL(p.loop, closed.close_cb == 1);
	cr_assert_eq(p.sent.calls, 50);
	p.tx = NULL;
	udg_socket *socks[] = { p.rx };
	close_all(p.loop, socks, 1);
}

/* ---- the kernel refuses a train ---- */

/* A socket with UDP checksums off (SO_NO_CHECK) may send datagrams but not GSO trains: the
 * kernel refuses those with EINVAL, a real refusal of the kind a route without checksum
 * offload gives. */
Test(gso, a_refused_train_goes_again_one_by_one_and_gso_stays_off_for_that_socket)
{
	struct pair p;
	size_t sizes[40];
	int one = 1;
	pair_open(&p, UDG_UDP4, 0, 0);
	cr_assert_eq(setsockopt(udg_socket_fd(p.tx), SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)),
		     0);
	for (int i = 0; i < 20; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 1200, (uint32_t)i);
	assert_delivered(&p, sizes, 20);
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_fallbacks, 1);
	cr_assert_eq(st.gso_trains, 0);
	/* The socket now sends one by one, even where a train would work again. */
	int zero = 0;
	cr_assert_eq(setsockopt(udg_socket_fd(p.tx), SOL_SOCKET, SO_NO_CHECK, &zero, sizeof(zero)),
		     0);
	for (int i = 20; i < 30; i++)
		send_seq(&p, p.tx, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 1200, (uint32_t)i);
	assert_delivered(&p, sizes, 30);
	st = stats_of(p.loop);
	cr_assert_eq(st.gso_fallbacks, 1);
	cr_assert_eq(st.gso_trains, 0);
	/* Another socket of the loop still forms trains. */
	udg_socket *t2 = socket_with(p.loop, UDG_UDP4, 0, 0, NULL, NULL);
	bind_port(t2, "127.0.0.1");
	for (int i = 30; i < 40; i++)
		send_seq(&p, t2, (struct sockaddr *)&p.to, p.tolen, sizes[i] = 1200, (uint32_t)i);
	RUN_UNTIL(p.loop, p.got.count >= 40);
	cr_assert_eq(stats_of(p.loop).gso_trains, 1);
	udg_socket *socks[] = { p.rx, p.tx, t2 };
	close_all(p.loop, socks, 3);
}
