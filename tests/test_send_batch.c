/* tests/test_send_batch.c — udg_socket_send_batch (udg extension): many datagrams in one call,
 * each with its own destination, pieces and metadata. Every datagram arrives whole and in
 * order, each callback runs once with its item's user and size, the send slots running out
 * accepts a prefix and leaves the rest untouched, bad input anywhere refuses the whole batch
 * with the single call's code, close cancels what has not left, connected sockets take items
 * without an address, and a batch to one peer leaves as GSO trains. Real loopback sockets,
 * ephemeral ports. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "support.h"

#define MAX_DGRAMS 128
#define DGRAM_MAX 3000

/* What one receiver saw, in arrival order: each datagram whole, and its ECN codepoint. */
struct rx {
	int count;
	size_t sizes[MAX_DGRAMS];
	unsigned char data[MAX_DGRAMS][DGRAM_MAX];
	int ecn[MAX_DGRAMS];
	bool truncated;
};

static void rx_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri, void *user)
{
	struct rx *r = user;
	(void)s;
	cr_assert_lt(r->count, MAX_DGRAMS);
	cr_assert_leq(len, DGRAM_MAX);
	r->sizes[r->count] = len;
	memcpy(r->data[r->count], data, len);
	r->ecn[r->count] = ri->ecn;
	r->truncated |= ri->truncated;
	r->count++;
}

/* Every send callback of a test, in the order they ran. The callback is given one user per
 * item, so the record is the test process's own (Criterion runs each test in a new process). */
static struct {
	int calls;
	void *users[MAX_DGRAMS];
	int status[MAX_DGRAMS];
	size_t bytes[MAX_DGRAMS];
	int close_at; /* calls when 'close' fired, -1 before */
} tx = { .close_at = -1 };

static void tx_cb(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s;
	cr_assert_lt(tx.calls, MAX_DGRAMS);
	tx.users[tx.calls] = user;
	tx.status[tx.calls] = status;
	tx.bytes[tx.calls] = bytes;
	tx.calls++;
}

static void tx_closed(udg_socket *s, void *user)
{
	(void)s;
	(void)user;
	tx.close_at = tx.calls;
}

/* The user pointer of item i: distinct, never NULL. */
static void *tag(int i)
{
	static char tags[MAX_DGRAMS];
	return &tags[i];
}

static udg_socket *socket_with(udg_loop *loop, udg_socket_type type, unsigned meta,
			       udg_message_cb on_msg, void *user)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.metadata = meta;
	o.on_message = on_msg;
	o.on_close = tx_closed;
	o.user = user;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	return s;
}

static void flag_cb(udg_socket *s, int status, void *user)
{
	(void)s;
	*(int *)user = status == 0 ? 1 : status;
}

/* Bind s to 127.0.0.1 and run the loop until 'listening' has been delivered, so that sends go
 * straight to the socket's queue for the kernel instead of waiting for it. */
static void bind_ready(udg_loop *loop, udg_socket *s)
{
	int bound = 0;
	cr_assert_eq(udg_socket_bind(s, 0, "127.0.0.1", flag_cb, &bound), 0);
	RUN_UNTIL(loop, bound != 0);
	cr_assert_eq(bound, 1);
}

/* A receiver on 127.0.0.1 and its address. */
struct peer {
	udg_socket *s;
	struct rx got;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

static void peer_open(udg_loop *loop, struct peer *p, unsigned meta)
{
	p->s = socket_with(loop, UDG_UDP4, meta, rx_message, &p->got);
	bind_port(p->s, "127.0.0.1");
	p->addrlen = local_addr(p->s, &p->addr);
}

/* Payload i: len bytes, the first four the sequence number i, the rest a pattern of i. */
static unsigned char payload[MAX_DGRAMS][DGRAM_MAX];

static void fill(int i, size_t len)
{
	cr_assert_leq(len, DGRAM_MAX);
	for (size_t k = 0; k < len; k++)
		payload[i][k] = (unsigned char)(i * 7 + k);
	uint32_t seq = (uint32_t)i;
	if (len >= 4)
		memcpy(payload[i], &seq, 4);
}

/* Datagram `at` of r is payload i, len bytes, whole. */
static void assert_got(const struct rx *r, int at, int i, size_t len)
{
	cr_assert_gt(r->count, at);
	cr_assert_eq(r->sizes[at], len, "datagram %d: %zu bytes, sent %zu", at, r->sizes[at], len);
	cr_assert_eq(memcmp(r->data[at], payload[i], len), 0, "datagram %d is payload %d", at, i);
}

/* Callbacks 0..n-1 ran once each, in item order, with status 0 and their own size. */
static void assert_callbacks(int n, const size_t *sizes)
{
	cr_assert_eq(tx.calls, n);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(tx.users[i], tag(i), "callback %d has item %d's user", i, i);
		cr_assert_eq(tx.status[i], 0, "callback %d: %d", i, tx.status[i]);
		cr_assert_eq(tx.bytes[i], sizes[i]);
	}
}

static udg_loop_stats stats_of(udg_loop *loop)
{
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	return st;
}

/* ---- Delivery -------------------------------------------------------------------------- */

Test(send_batch, mixed_destinations_and_sizes_arrive_whole_and_in_order)
{
	udg_loop *loop = new_loop();
	struct peer a = { 0 }, b = { 0 };
	peer_open(loop, &a, 0);
	peer_open(loop, &b, 0);
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	bind_ready(loop, s);

	/* Runs to one peer and single datagrams to the other, sizes that form trains and sizes
	 * that break them, an empty datagram, and datagrams cut into up to five pieces. */
	enum { N = 24 };
	static const char dest[N + 1] = "AAAABABBBAAABBBBABAAABBA";
	size_t sizes[N];
	udg_buf pieces[N][5];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		sizes[i] = i == 9 ? 0 : (i % 4 == 3 ? 100 + 37 * (size_t)i : 1200);
		fill(i, sizes[i]);
		size_t np = (size_t)(i % 5) + 1, off = 0;
		for (size_t k = 0; k < np; k++) {
			size_t len = k + 1 == np ? sizes[i] - off : sizes[i] / np;
			pieces[i][k] = (udg_buf){ payload[i] + off, len };
			off += len;
		}
		struct peer *to = dest[i] == 'A' ? &a : &b;
		items[i] = (udg_send_item){ .bufs = pieces[i],
					    .n = np,
					    .addr = (struct sockaddr *)&to->addr,
					    .addrlen = to->addrlen,
					    .user = tag(i) };
	}
	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), N);
	cr_assert_eq(tx.calls, 0, "no callback inside the call");
	cr_assert_eq(udg_socket_get_send_queue_count(s), N);

	RUN_UNTIL(loop, tx.calls == N && a.got.count + b.got.count == N);
	assert_callbacks(N, sizes);
	int at_a = 0, at_b = 0;
	for (int i = 0; i < N; i++) {
		if (dest[i] == 'A')
			assert_got(&a.got, at_a++, i, sizes[i]);
		else
			assert_got(&b.got, at_b++, i, sizes[i]);
	}
	cr_assert_eq(a.got.count, at_a);
	cr_assert_eq(b.got.count, at_b);
	cr_assert_not(a.got.truncated || b.got.truncated);
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0);
	udg_socket *socks[] = { a.s, b.s, s };
	close_all(loop, socks, 3);
}

Test(send_batch, without_a_callback_the_payloads_are_copied_during_the_call)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.recv_buf_size = 4096; /* room for the 2500-byte datagram */
	udg_loop *loop = new_loop_opts(&lo);
	struct peer a = { 0 };
	peer_open(loop, &a, 0);
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	bind_ready(loop, s);

	/* Small payloads are copied into the slot, one over 2 KiB onto the heap. */
	enum { N = 3 };
	static unsigned char buf[N][3000];
	size_t sizes[N] = { 10, 1400, 2500 };
	udg_buf one[N];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		memset(buf[i], 'a' + i, sizes[i]);
		one[i] = (udg_buf){ buf[i], sizes[i] };
		items[i] = (udg_send_item){ .bufs = &one[i],
					    .n = 1,
					    .addr = (struct sockaddr *)&a.addr,
					    .addrlen = a.addrlen };
	}
	cr_assert_eq(udg_socket_send_batch(s, items, N, NULL), N);
	memset(buf, 'z', sizeof(buf)); /* the caller reuses its memory at once */
	memset(one, 0, sizeof(one));

	RUN_UNTIL(loop, a.got.count == N);
	cr_assert_not(a.got.truncated);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(a.got.sizes[i], sizes[i]);
		for (size_t k = 0; k < sizes[i]; k++)
			cr_assert_eq(a.got.data[i][k], 'a' + i, "datagram %d byte %zu", i, k);
	}
	cr_assert_eq(stats_of(loop).datagrams_sent, N);
	udg_socket *socks[] = { a.s, s };
	close_all(loop, socks, 2);
}

Test(send_batch, an_oversized_item_fails_alone_in_its_callback)
{
	udg_loop *loop = new_loop();
	struct peer a = { 0 };
	peer_open(loop, &a, 0);
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	bind_ready(loop, s);

	/* 70000 bytes in two pieces: no UDP datagram is that large. */
	static unsigned char big[35000];
	udg_buf halves[2] = { { big, sizeof(big) }, { big, sizeof(big) } };
	fill(0, 100);
	fill(2, 200);
	udg_buf p0 = { payload[0], 100 }, p2 = { payload[2], 200 };
	udg_send_item items[3] = {
		{ &p0, 1, (struct sockaddr *)&a.addr, a.addrlen, NULL, tag(0) },
		{ halves, 2, (struct sockaddr *)&a.addr, a.addrlen, NULL, tag(1) },
		{ &p2, 1, (struct sockaddr *)&a.addr, a.addrlen, NULL, tag(2) },
	};
	cr_assert_eq(udg_socket_send_batch(s, items, 3, tx_cb), 3);
	RUN_UNTIL(loop, tx.calls == 3 && a.got.count == 2);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tx.users[i], tag(i));
	cr_assert_eq(tx.status[0], 0);
	cr_assert_eq(tx.status[1], -EMSGSIZE);
	cr_assert_eq(tx.bytes[1], 70000);
	cr_assert_eq(tx.status[2], 0);
	assert_got(&a.got, 0, 0, 100);
	assert_got(&a.got, 1, 2, 200);
	udg_socket *socks[] = { a.s, s };
	close_all(loop, socks, 2);
}

/* ---- Partial acceptance ----------------------------------------------------------------- */

Test(send_batch, when_the_send_slots_run_out_a_prefix_is_accepted_and_the_rest_untouched)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.send_slots = 8;
	udg_loop *loop = new_loop_opts(&lo);
	struct peer a = { 0 };
	peer_open(loop, &a, 0);
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	bind_ready(loop, s);

	enum { N = 20 };
	size_t sizes[N];
	udg_buf one[N];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		fill(i, sizes[i] = 64 + (size_t)i);
		one[i] = (udg_buf){ payload[i], sizes[i] };
		items[i] = (udg_send_item){ &one[i],   1,    (struct sockaddr *)&a.addr,
					    a.addrlen, NULL, tag(i) };
	}
	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), 8, "one per slot");
	cr_assert_eq(udg_socket_get_send_queue_count(s), 8);
	cr_assert_eq(udg_socket_send_batch(s, items + 8, N - 8, tx_cb), UDG_ERR_SEND_QUEUE_FULL,
		     "no slot for the first: an error, nothing taken");
	cr_assert_eq(udg_socket_get_send_queue_count(s), 8);

	RUN_UNTIL(loop, tx.calls == 8 && a.got.count == 8);
	cr_assert_eq(udg_socket_send_batch(s, items + 8, N - 8, tx_cb), 8, "slots come back");
	RUN_UNTIL(loop, tx.calls == 16 && a.got.count == 16);
	cr_assert_eq(udg_socket_send_batch(s, items + 16, N - 16, tx_cb), 4);
	RUN_UNTIL(loop, tx.calls == N && a.got.count == N);

	/* Each datagram once, in order: nothing of the refused tails went out. */
	assert_callbacks(N, sizes);
	for (int i = 0; i < N; i++)
		assert_got(&a.got, i, i, sizes[i]);
	cr_assert_eq(stats_of(loop).datagrams_sent, N);
	udg_socket *socks[] = { a.s, s };
	close_all(loop, socks, 2);
}

Test(send_batch, an_empty_batch_accepts_nothing)
{
	udg_loop *loop = new_loop();
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	cr_assert_eq(udg_socket_send_batch(s, NULL, 0, tx_cb), 0);
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0);
	close_all(loop, &s, 1);
	cr_assert_eq(tx.calls, 0);
}

/* ---- Bad input ------------------------------------------------------------------------- */

struct bad_case {
	const char *what;
	int code;
	/* how item 2 of three (0 and 1 are good) is broken */
	void (*spoil)(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m);
};

static void no_bufs(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)b, (void)to, (void)m;
	it->bufs = NULL;
}

static void null_piece(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)it, (void)to, (void)m;
	b->base = NULL;
}

static void no_addr(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)b, (void)to, (void)m;
	it->addr = NULL;
}

static void too_many_pieces(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	static udg_buf many[UDG_SENDV_MAX + 1];
	(void)b, (void)to, (void)m;
	for (int i = 0; i <= UDG_SENDV_MAX; i++)
		many[i] = (udg_buf){ "x", 1 };
	it->bufs = many;
	it->n = UDG_SENDV_MAX + 1;
}

static void other_family(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)it, (void)b, (void)m;
	to->sin_family = AF_INET6;
}

static void short_addr(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)b, (void)to, (void)m;
	it->addrlen = sizeof(struct sockaddr_in) - 1;
}

static void port_zero(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)it, (void)b, (void)m;
	to->sin_port = 0;
}

static void bad_ecn(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)b, (void)to;
	*m = (udg_send_meta){ .flags = UDG_META_ECN, .ecn = 4 };
	it->meta = m;
}

static void negative_ifindex(udg_send_item *it, udg_buf *b, struct sockaddr_in *to,
			     udg_send_meta *m)
{
	(void)b, (void)to;
	*m = (udg_send_meta){ .flags = UDG_META_PKTINFO, .ifindex = -1 };
	it->meta = m;
}

static void src_of_other_family(udg_send_item *it, udg_buf *b, struct sockaddr_in *to,
				udg_send_meta *m)
{
	static struct sockaddr_in6 six = { .sin6_family = AF_INET6 };
	(void)b, (void)to;
	*m = (udg_send_meta){ .flags = UDG_META_PKTINFO,
			      .src_addr = (struct sockaddr *)&six,
			      .src_addrlen = sizeof(six) };
	it->meta = m;
}

static void unknown_flag(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)b, (void)to;
	*m = (udg_send_meta){ .flags = 1u << 7 };
	it->meta = m;
}

static void drops_flag(udg_send_item *it, udg_buf *b, struct sockaddr_in *to, udg_send_meta *m)
{
	(void)b, (void)to;
	*m = (udg_send_meta){ .flags = UDG_META_DROPS }; /* a receive-only flag */
	it->meta = m;
}

Test(send_batch, bad_input_in_any_item_refuses_the_batch_with_the_single_calls_code)
{
	static const struct bad_case cases[] = {
		{ "bufs NULL with pieces", UDG_ERR_INVALID_ARG_TYPE, no_bufs },
		{ "a NULL piece with a length", UDG_ERR_INVALID_ARG_TYPE, null_piece },
		{ "no address on an unconnected socket", UDG_ERR_INVALID_ARG_TYPE, no_addr },
		{ "more than UDG_SENDV_MAX pieces", UDG_ERR_OUT_OF_RANGE, too_many_pieces },
		{ "an address of the other family", -EINVAL, other_family },
		{ "an address too short", -EINVAL, short_addr },
		{ "port 0", UDG_ERR_SOCKET_BAD_PORT, port_zero },
		{ "ecn 4", UDG_ERR_OUT_OF_RANGE, bad_ecn },
		{ "a negative ifindex", UDG_ERR_OUT_OF_RANGE, negative_ifindex },
		{ "a source address of the other family", -EINVAL, src_of_other_family },
		{ "an unknown metadata flag", UDG_ERR_INVALID_ARG_VALUE, unknown_flag },
		{ "a metadata flag that is not a send flag", UDG_ERR_INVALID_ARG_VALUE,
		  drops_flag },
	};
	udg_loop *loop = new_loop();
	struct peer a = { 0 };
	peer_open(loop, &a, 0);
	udg_socket *s = socket_with(loop, UDG_UDP4, UDG_META_ECN | UDG_META_PKTINFO, NULL, NULL);
	bind_ready(loop, s);

	fill(0, 50);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		udg_buf b[3];
		struct sockaddr_in to[3];
		udg_send_meta m[3] = { { 0 } };
		udg_send_item items[3];
		for (int i = 0; i < 3; i++) {
			b[i] = (udg_buf){ payload[0], 50 };
			memcpy(&to[i], &a.addr, sizeof(to[i]));
			items[i] = (udg_send_item){ &b[i],         1,    (struct sockaddr *)&to[i],
						    sizeof(to[i]), NULL, tag(i) };
		}
		cases[c].spoil(&items[2], &b[2], &to[2], &m[2]);
		cr_assert_eq(udg_socket_send_msg(s, items[2].bufs, items[2].n, items[2].addr,
						 items[2].addrlen, items[2].meta, tx_cb, tag(2)),
			     cases[c].code, "%s: the single call's code", cases[c].what);
		int r = udg_socket_send_batch(s, items, 3, tx_cb);
		cr_assert_eq(r, cases[c].code, "%s: %d", cases[c].what, r);
		/* Bad input first, good items after it: refused just the same. */
		udg_send_item swapped[3] = { items[2], items[0], items[1] };
		cr_assert_eq(udg_socket_send_batch(s, swapped, 3, tx_cb), cases[c].code, "%s",
			     cases[c].what);
		cr_assert_eq(udg_socket_get_send_queue_count(s), 0, "%s: nothing queued",
			     cases[c].what);
	}

	/* A flag the socket did not enable: the receiver has no metadata at all. */
	udg_send_meta ecn = { .flags = UDG_META_ECN, .ecn = 1 };
	udg_buf p = { payload[0], 50 };
	udg_send_item it[2] = {
		{ &p, 1, (struct sockaddr *)&a.addr, a.addrlen, NULL, tag(0) },
		{ &p, 1, (struct sockaddr *)&a.addr, a.addrlen, &ecn, tag(1) },
	};
	cr_assert_eq(udg_socket_send_batch(a.s, it, 2, tx_cb), UDG_ERR_INVALID_ARG_VALUE);

	/* The batch arguments themselves. */
	cr_assert_eq(udg_socket_send_batch(NULL, it, 1, tx_cb), UDG_ERR_INVALID_ARG_TYPE);
	cr_assert_eq(udg_socket_send_batch(s, NULL, 1, tx_cb), UDG_ERR_INVALID_ARG_TYPE);

	/* Nothing of any of them left: the first datagram to arrive is this marker, and it is
	 * the only callback. */
	fill(1, 7);
	udg_buf mb = { payload[1], 7 };
	udg_send_item marker = { &mb, 1, (struct sockaddr *)&a.addr, a.addrlen, NULL, tag(0) };
	cr_assert_eq(udg_socket_send_batch(s, &marker, 1, tx_cb), 1);
	RUN_UNTIL(loop, tx.calls == 1 && a.got.count == 1);
	assert_got(&a.got, 0, 1, 7);
	cr_assert_eq(tx.users[0], tag(0));
	cr_assert_eq(stats_of(loop).datagrams_sent, 1);
	udg_socket *socks[] = { a.s, s };
	close_all(loop, socks, 2);
}

/* ---- Close ------------------------------------------------------------------------------ */

Test(send_batch, close_cancels_the_items_waiting_for_the_bind_each_once_before_close)
{
	udg_loop *loop = new_loop();
	struct peer a = { 0 };
	peer_open(loop, &a, 0);
	/* Never bound: the batch binds it implicitly, and its items wait for 'listening'. */
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);

	enum { N = 10 };
	udg_buf one[N];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		fill(i, 300);
		one[i] = (udg_buf){ payload[i], 300 };
		items[i] = (udg_send_item){ &one[i],   1,    (struct sockaddr *)&a.addr,
					    a.addrlen, NULL, tag(i) };
	}
	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), N);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING,
		     "closed: nothing more is taken");
	cr_assert_eq(udg_socket_send_batch(s, NULL, 0, tx_cb), UDG_ERR_SOCKET_DGRAM_NOT_RUNNING);
	cr_assert_eq(tx.calls, 0, "no callback inside close");

	RUN_UNTIL(loop, tx.close_at >= 0);
	cr_assert_eq(tx.close_at, N, "every callback before 'close'");
	cr_assert_eq(tx.calls, N, "each exactly once");
	for (int i = 0; i < N; i++) {
		cr_assert_eq(tx.users[i], tag(i));
		cr_assert_eq(tx.status[i], -ECANCELED);
		cr_assert_eq(tx.bytes[i], 300);
	}
	/* A marker from another socket arrives, and nothing of the batch came before it. */
	udg_socket *m = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	bind_port(m, "127.0.0.1");
	cr_assert_eq(
		udg_socket_send_to(m, "!", 1, (struct sockaddr *)&a.addr, a.addrlen, NULL, NULL),
		0);
	RUN_UNTIL(loop, a.got.count == 1);
	cr_assert_eq(a.got.sizes[0], 1);
	cr_assert_eq(tx.calls, N);
	udg_socket *socks[] = { a.s, m };
	close_all(loop, socks, 2);
}

Test(send_batch, close_right_after_a_batch_lets_the_queued_items_go_out_each_once)
{
	udg_loop *loop = new_loop();
	struct peer a = { 0 };
	peer_open(loop, &a, 0);
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	bind_ready(loop, s);

	enum { N = 12 };
	size_t sizes[N];
	udg_buf one[N];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		fill(i, sizes[i] = 500);
		one[i] = (udg_buf){ payload[i], sizes[i] };
		items[i] = (udg_send_item){ &one[i],   1,    (struct sockaddr *)&a.addr,
					    a.addrlen, NULL, tag(i) };
	}
	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), N);
	cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
	RUN_UNTIL(loop, tx.close_at >= 0 && a.got.count == N);
	cr_assert_eq(tx.close_at, N, "every callback before 'close'");
	assert_callbacks(N, sizes);
	for (int i = 0; i < N; i++)
		assert_got(&a.got, i, i, sizes[i]);
	close_all(loop, &a.s, 1);
}

/* ---- Connected sockets ----------------------------------------------------------------- */

Test(send_batch, a_connected_socket_takes_items_without_an_address_and_their_metadata)
{
	udg_loop *loop = new_loop();
	struct peer a = { 0 };
	peer_open(loop, &a, UDG_META_ECN);
	udg_socket *s = socket_with(loop, UDG_UDP4, UDG_META_ECN, NULL, NULL);
	int connected = 0;
	cr_assert_eq(udg_socket_connect(s, ntohs(((struct sockaddr_in *)&a.addr)->sin_port),
					"127.0.0.1", flag_cb, &connected),
		     0);
	RUN_UNTIL(loop, connected != 0);
	cr_assert_eq(connected, 1);

	enum { N = 8 };
	size_t sizes[N];
	udg_buf pieces[N][2];
	udg_send_meta meta[N];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		fill(i, sizes[i] = 200 + 10 * (size_t)i);
		pieces[i][0] = (udg_buf){ payload[i], 5 };
		pieces[i][1] = (udg_buf){ payload[i] + 5, sizes[i] - 5 };
		meta[i] = (udg_send_meta){ .flags = UDG_META_ECN, .ecn = i % 4 };
		items[i] =
			(udg_send_item){ pieces[i], 2, NULL, 0, i % 2 ? &meta[i] : NULL, tag(i) };
	}
	/* An address on a connected socket, in any item, refuses the batch. */
	udg_send_item with_addr = items[N - 1];
	with_addr.addr = (struct sockaddr *)&a.addr;
	with_addr.addrlen = a.addrlen;
	udg_send_item bad[2] = { items[0], with_addr };
	cr_assert_eq(udg_socket_send_batch(s, bad, 2, tx_cb), UDG_ERR_SOCKET_DGRAM_IS_CONNECTED);
	cr_assert_eq(udg_socket_get_send_queue_count(s), 0);

	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), N);
	RUN_UNTIL(loop, tx.calls == N && a.got.count == N);
	assert_callbacks(N, sizes);
	for (int i = 0; i < N; i++) {
		assert_got(&a.got, i, i, sizes[i]);
		cr_assert_eq(a.got.ecn[i], i % 2 ? i % 4 : 0, "datagram %d: ecn %d", i,
			     a.got.ecn[i]);
	}
	udg_socket *socks[] = { a.s, s };
	close_all(loop, socks, 2);
}

/* ---- GSO trains ------------------------------------------------------------------------ */

Test(send_batch, a_batch_to_one_peer_leaves_as_gso_trains)
{
	udg_loop *loop = new_loop();
	if (!(udg_loop_features(loop) & UDG_FEAT_GSO))
		cr_skip_test("this kernel has no UDP GSO: %s", udg_loop_features_string(loop));
	struct peer a = { 0 }, b = { 0 };
	peer_open(loop, &a, 0);
	peer_open(loop, &b, 0);
	udg_socket *s = socket_with(loop, UDG_UDP4, 0, NULL, NULL);
	bind_ready(loop, s);

	/* 30 of 1200 bytes to a (two pieces each), then 10 to b, the last of them shorter. */
	enum { N = 40 };
	size_t sizes[N];
	udg_buf pieces[N][2];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		fill(i, sizes[i] = i == N - 1 ? 700 : 1200);
		pieces[i][0] = (udg_buf){ payload[i], 100 };
		pieces[i][1] = (udg_buf){ payload[i] + 100, sizes[i] - 100 };
		struct peer *to = i < 30 ? &a : &b;
		items[i] = (udg_send_item){ pieces[i],   2,    (struct sockaddr *)&to->addr,
					    to->addrlen, NULL, tag(i) };
	}
	udg_loop_stats before = stats_of(loop);
	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), N);
	RUN_UNTIL(loop, tx.calls == N && a.got.count + b.got.count == N);
	assert_callbacks(N, sizes);
	for (int i = 0; i < N; i++)
		assert_got(i < 30 ? &a.got : &b.got, i < 30 ? i : i - 30, i, sizes[i]);
	udg_loop_stats st = stats_of(loop);
	cr_assert_gt(st.gso_trains, before.gso_trains);
	cr_assert_eq(st.gso_trains - before.gso_trains, 2, "one train per destination");
	cr_assert_eq(st.gso_datagrams - before.gso_datagrams, N);
	cr_assert_eq(st.gso_fallbacks, 0);
	udg_socket *socks[] = { a.s, b.s, s };
	close_all(loop, socks, 3);
}

Test(send_batch, a_batch_larger_than_the_submission_queue_arrives_whole_and_in_order)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.sq_entries = 8;
	lo.cq_entries = 16;
	udg_loop *loop = new_loop_opts(&lo);
	struct peer a = { 0 };
	peer_open(loop, &a, 0);
	/* Without GSO every datagram takes its own send: 100 of them overflow an 8-entry SQ, so
	 * the flush hands them to the kernel over several submits. */
	udg_socket_options o;
	udg_socket_options_init(&o, UDG_UDP4);
	o.offload = UDG_OFFLOAD_NO_GSO;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	bind_ready(loop, s);

	enum { N = 100 };
	size_t sizes[N];
	udg_buf one[N];
	udg_send_item items[N];
	for (int i = 0; i < N; i++) {
		fill(i, sizes[i] = 100);
		one[i] = (udg_buf){ payload[i], sizes[i] };
		items[i] = (udg_send_item){ &one[i],   1,    (struct sockaddr *)&a.addr,
					    a.addrlen, NULL, tag(i) };
	}
	cr_assert_eq(udg_socket_send_batch(s, items, N, tx_cb), N);
	RUN_UNTIL(loop, tx.calls == N && a.got.count == N);
	assert_callbacks(N, sizes);
	for (int i = 0; i < N; i++)
		assert_got(&a.got, i, i, sizes[i]);
	udg_loop_stats st = stats_of(loop);
	cr_assert_eq(st.gso_trains, 0, "GSO is off for this socket");
	if (udg_loop_backend(loop) == UDG_BACKEND_URING)
		cr_assert_gt(st.sq_full_flushes, 0);
	udg_socket *socks[] = { a.s, s };
	close_all(loop, socks, 2);
}
