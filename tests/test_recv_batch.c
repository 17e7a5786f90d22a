/* tests/test_recv_batch.c — on_message_batch: the datagrams of a completion batch handed over in
 * one call (at most UDG_MSG_BATCH_MAX), in arrival order, each with its own lent payload and
 * rinfo (addresses valid for the whole call); GRO trains inside batches; no batch after close,
 * also when another socket's callback closes it; both handlers at once refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

#define N_MAX 400

struct batches {
	int calls;
	int total;
	size_t max_n;
	bool in_order;
	bool bytes_ok;
	bool ports_ok;
	int expect_port;
	uint32_t next;
	char family[8];
	char dst[UDG_ADDRSTRLEN];
	udg_socket *close_on_first; /* closed from this socket's first batch */
	bool closed_other;
};

static void on_batch(udg_socket *s, const udg_msg *msgs, size_t n, void *user)
{
	struct batches *b = user;
	(void)s;
	cr_assert(n >= 1 && n <= UDG_MSG_BATCH_MAX, "a batch of %zu", n);
	b->calls++;
	if (n > b->max_n)
		b->max_n = n;
	for (size_t i = 0; i < n; i++) {
		const udg_msg *m = &msgs[i];
		uint32_t seq = UINT32_MAX;
		cr_assert_eq(m->len, m->rinfo.size);
		if (m->len >= 4)
			memcpy(&seq, m->data, 4);
		if (seq != b->next)
			b->in_order = false;
		b->next = seq + 1;
		for (size_t k = 4; k < m->len; k++)
			if (((const unsigned char *)m->data)[k] != (unsigned char)seq)
				b->bytes_ok = false;
		if (m->rinfo.port != b->expect_port)
			b->ports_ok = false;
		/* Every address of every message is readable during the call. */
		snprintf(b->family, sizeof(b->family), "%s", udg_family_name(m->rinfo.addr));
		if (m->rinfo.dst_addr)
			cr_assert_gt(udg_format_address(m->rinfo.dst_addr, m->rinfo.dst_addrlen,
							b->dst, sizeof(b->dst)),
				     0);
		b->total++;
	}
	if (b->close_on_first && !b->closed_other) {
		cr_assert_eq(udg_socket_close(b->close_on_first, NULL, NULL), 0);
		b->closed_other = true;
	}
}

static udg_socket *batch_socket(udg_loop *loop, udg_socket_type type, unsigned meta,
				struct batches *b)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.on_message_batch = on_batch;
	o.metadata = meta;
	o.user = b;
	b->in_order = b->bytes_ok = b->ports_ok = true;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	return s;
}

static void sent_fine(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s;
	(void)bytes;
	(void)user;
	cr_assert_eq(status, 0, "%s", udg_err_name(status));
}

/* n datagrams queued in one tick; datagram i has `len(i)` bytes, seq i, then bytes (u8)i. */
static void send_n(udg_socket *tx, int port, const char *lo, int n, size_t size, bool vary)
{
	static unsigned char bufs[N_MAX][1500];
	cr_assert_leq(n, N_MAX);
	for (int i = 0; i < n; i++) {
		size_t len = vary ? 4 + (size_t)(i * 37) % 400 : size;
		memset(bufs[i], i, len);
		memcpy(bufs[i], &(uint32_t){ (uint32_t)i }, 4);
		cr_assert_eq(udg_socket_send(tx, bufs[i], len, port, lo, sent_fine, NULL), 0);
	}
}

static udg_loop_stats stats_of(udg_loop *loop)
{
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	return st;
}

static void batches_in_order(udg_socket_type type, const char *lo)
{
	udg_loop *loop = new_loop();
	struct batches b = { 0 };
	struct ev es = { 0 };
	udg_socket *s[2] = { batch_socket(loop, type, 0, &b), new_socket(loop, type, &es) };
	int port = bind_port(s[0], lo);
	b.expect_port = bind_port(s[1], lo);
	/* More than two batches' worth, few enough for a default receive queue. */
	send_n(s[1], port, lo, 150, 0, true);
	RUN_UNTIL(loop, b.total == 150);
	cr_assert(b.in_order);
	cr_assert(b.bytes_ok);
	cr_assert(b.ports_ok, "each message carries its own rinfo");
	cr_assert_str_eq(b.family, type == UDG_UDP4 ? "IPv4" : "IPv6");
	cr_assert_leq(b.max_n, UDG_MSG_BATCH_MAX);
	cr_assert_gt(b.max_n, 1, "datagrams queued together are handed over together");
	cr_assert_eq(stats_of(loop).datagrams_received, 150);
	udg_socket_stats ss;
	cr_assert_eq(udg_socket_stats_get(s[0], &ss), 0);
	cr_assert_eq(ss.datagrams_received, 150);
	close_all(loop, s, 2);
}

Test(recv_batch, ipv4_datagrams_arrive_in_batches_in_order_each_with_its_rinfo)
{
	batches_in_order(UDG_UDP4, "127.0.0.1");
}

Test(recv_batch, ipv6_datagrams_arrive_in_batches_in_order_each_with_its_rinfo)
{
	batches_in_order(UDG_UDP6, "::1");
}

/* A GRO train of 40 is one read: its datagrams come in one batch call. */
Test(recv_batch, a_gro_train_comes_in_one_batch)
{
	udg_loop *loop = new_loop();
	if (!(udg_loop_features(loop) & UDG_FEAT_GRO) || !(udg_loop_features(loop) & UDG_FEAT_GSO))
		cr_skip_test("no GSO/GRO: %s", udg_loop_features_string(loop));
	struct batches b = { 0 };
	struct ev es = { 0 };
	udg_socket *s[2] = { batch_socket(loop, UDG_UDP4, UDG_META_PKTINFO, &b),
			     new_socket(loop, UDG_UDP4, &es) };
	int port = bind_port(s[0], "127.0.0.1");
	b.expect_port = bind_port(s[1], "127.0.0.1");
	send_n(s[1], port, "127.0.0.1", 40, 1200, false);
	RUN_UNTIL(loop, b.total == 40);
	cr_assert_eq(stats_of(loop).gro_trains, 1);
	cr_assert_eq(b.calls, 1, "one read, one batch: %d calls", b.calls);
	cr_assert(b.in_order && b.bytes_ok && b.ports_ok);
	cr_assert_str_eq(b.dst, "127.0.0.1", "metadata is copied with each message");
	close_all(loop, s, 2);
}

Test(recv_batch, setting_both_message_handlers_is_invalid)
{
	udg_loop *loop = new_loop();
	struct batches b = { 0 };
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.on_message = on_message;
	o.on_message_batch = on_batch;
	o.user = &b;
	udg_socket *s = NULL;
	cr_assert_eq(udg_socket_new(loop, &o, &s), UDG_ERR_INVALID_ARG_VALUE);
	cr_assert_null(s);
	cr_assert_eq(udg_loop_close(loop), 0);
}

/* Two receivers get datagrams in the same completion batch; whichever is handed its batch
 * first closes the other, which then gets nothing: no message after close, batched or not. */
Test(recv_batch, a_socket_closed_by_another_batch_callback_gets_no_batch)
{
	udg_loop *loop = new_loop();
	struct batches ba = { 0 }, bb = { 0 };
	struct ev es = { 0 };
	udg_socket *a = batch_socket(loop, UDG_UDP4, 0, &ba);
	udg_socket *b = batch_socket(loop, UDG_UDP4, 0, &bb);
	udg_socket *tx = new_socket(loop, UDG_UDP4, &es);
	int pa = bind_port(a, "127.0.0.1");
	int pb = bind_port(b, "127.0.0.1");
	bind_port(tx, "127.0.0.1");
	ba.close_on_first = b;
	bb.close_on_first = a;
	RUN_UNTIL(loop, es.listening == 1);
	/* Interleaved, so both sockets have datagrams in the first reap. */
	for (uint32_t i = 0; i < 20; i++) {
		cr_assert_eq(udg_socket_send(tx, &i, 4, pa, "127.0.0.1", NULL, NULL), 0);
		cr_assert_eq(udg_socket_send(tx, &i, 4, pb, "127.0.0.1", NULL, NULL), 0);
	}
	RUN_UNTIL(loop, ba.calls + bb.calls >= 1 && (ba.closed_other || bb.closed_other));
	for (int i = 0; i < 10; i++)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert((ba.calls == 0) != (bb.calls == 0), "exactly one socket got batches (%d, %d)",
		  ba.calls, bb.calls);
	udg_socket *survivor = ba.calls ? a : b;
	udg_socket *socks[] = { survivor, tx };
	close_all(loop, socks, 2);
}

/* Closing from its own batch callback: the rest of the traffic is not delivered. */
Test(recv_batch, closing_from_the_batch_callback_ends_delivery)
{
	udg_loop *loop = new_loop();
	struct batches b = { 0 };
	struct ev es = { 0 };
	udg_socket *rx = batch_socket(loop, UDG_UDP4, 0, &b);
	udg_socket *tx = new_socket(loop, UDG_UDP4, &es);
	int port = bind_port(rx, "127.0.0.1");
	b.expect_port = bind_port(tx, "127.0.0.1");
	b.close_on_first = rx;
	send_n(tx, port, "127.0.0.1", 100, 0, true);
	RUN_UNTIL(loop, b.closed_other);
	int seen = b.total;
	send_n(tx, port, "127.0.0.1", 50, 0, true);
	for (int i = 0; i < 20; i++)
		cr_assert_geq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(b.calls, 1);
	cr_assert_eq(b.total, seen);
	cr_assert_leq(seen, UDG_MSG_BATCH_MAX);
	udg_socket *socks[] = { tx };
	close_all(loop, socks, 1);
}
