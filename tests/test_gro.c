/* tests/test_gro.c — GRO beneath the per-datagram 'message': a GSO train from a sender on this
 * host reaches a UDP_GRO receiver as one read, which udg splits into one message per datagram,
 * in order, with the train's rinfo (and metadata) on each. Also: the per-socket switch, fixed
 * buffers that could cut a train (no GRO), and a close in the middle of a train. Trains are
 * counted by the loop's gro_trains/gro_datagrams; the sender's side by gso_trains. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "support.h"

#define MAX_DGRAMS 200
#define SEG 1200

struct got {
	int count;
	size_t sizes[MAX_DGRAMS];
	uint32_t seqs[MAX_DGRAMS];
	int ports[MAX_DGRAMS];
	bool bytes_ok; /* every byte after the sequence number is the datagram's fill */
	bool truncated;
	unsigned meta_all; /* UDG_META_* bits every datagram carried */
	char dst[UDG_ADDRSTRLEN];
	int close_at; /* close the socket on this message (1-based); 0: never */
	udg_socket *self;
};

static void got_message(udg_socket *s, const void *data, size_t len, const udg_rinfo *ri,
			void *user)
{
	struct got *g = user;
	const unsigned char *p = data;
	cr_assert_lt(g->count, MAX_DGRAMS);
	g->sizes[g->count] = len;
	g->seqs[g->count] = UINT32_MAX;
	if (len >= 4)
		memcpy(&g->seqs[g->count], p, 4);
	for (size_t i = 4; i < len; i++)
		if (p[i] != (unsigned char)g->seqs[g->count])
			g->bytes_ok = false;
	g->ports[g->count] = ri->port;
	g->truncated |= ri->truncated || len != ri->size;
	g->meta_all = g->count == 0 ? ri->meta : g->meta_all & ri->meta;
	if (ri->dst_addr)
		cr_assert_gt(
			udg_format_address(ri->dst_addr, ri->dst_addrlen, g->dst, sizeof(g->dst)),
			0);
	g->count++;
	if (g->close_at == g->count)
		cr_assert_eq(udg_socket_close(s, NULL, NULL), 0);
}

struct gro_pair {
	udg_loop *loop;
	udg_socket *rx, *tx;
	struct got got;
	int sent;
	int tx_port;
	const char *lo;
};

static void count_sent(udg_socket *s, int status, size_t bytes, void *user)
{
	(void)s;
	(void)bytes;
	cr_assert_eq(status, 0, "%s", udg_err_name(status));
	(*(int *)user)++;
}

static udg_socket *gro_socket(udg_loop *loop, udg_socket_type type, unsigned meta, unsigned offload,
			      struct got *g)
{
	udg_socket_options o;
	udg_socket_options_init(&o, type);
	o.metadata = meta;
	o.offload = offload;
	o.on_message = g ? got_message : NULL;
	o.user = g;
	udg_socket *s;
	cr_assert_eq(udg_socket_new(loop, &o, &s), 0);
	return s;
}

/* A GRO receiver (unless rx_offload turns it off) and a GSO sender, on a loop made with lo
 * (NULL: defaults). Skips where the kernel cannot make trains. */
static void gro_open(struct gro_pair *p, const udg_loop_options *lo, udg_socket_type type,
		     unsigned meta, unsigned rx_offload)
{
	memset(p, 0, sizeof(*p));
	p->got.bytes_ok = true;
	p->loop = new_loop_opts(lo);
	if (!(udg_loop_features(p->loop) & UDG_FEAT_GSO))
		cr_skip_test("no UDP GSO: %s", udg_loop_features_string(p->loop));
	p->lo = type == UDG_UDP4 ? "127.0.0.1" : "::1";
	p->rx = gro_socket(p->loop, type, meta, rx_offload, &p->got);
	p->got.self = p->rx;
	p->tx = gro_socket(p->loop, type, 0, 0, NULL);
	bind_port(p->rx, p->lo);
	p->tx_port = bind_port(p->tx, p->lo);
}

/* n datagrams of SEG bytes, the last `last` bytes, queued in one tick: one GSO train. */
static void send_train(struct gro_pair *p, int n, size_t last)
{
	static unsigned char bufs[MAX_DGRAMS][SEG];
	udg_address ra;
	cr_assert_eq(udg_socket_address(p->rx, &ra), 0);
	for (int i = 0; i < n; i++) {
		size_t len = i == n - 1 ? last : SEG;
		memset(bufs[i], i, len);
		memcpy(bufs[i], &(uint32_t){ (uint32_t)i }, 4);
		cr_assert_eq(
			udg_socket_send(p->tx, bufs[i], len, ra.port, p->lo, count_sent, &p->sent),
			0);
	}
}

static udg_loop_stats stats_of(udg_loop *loop)
{
	udg_loop_stats st;
	udg_loop_stats_get(loop, &st);
	return st;
}

/* Every datagram once, in order, whole, from the sender's port. */
static void assert_split(const struct gro_pair *p, int n, size_t last)
{
	cr_assert_eq(p->got.count, n);
	cr_assert_not(p->got.truncated);
	cr_assert(p->got.bytes_ok, "every datagram's bytes are its own");
	for (int i = 0; i < n; i++) {
		cr_assert_eq(p->got.seqs[i], (uint32_t)i, "datagram %d arrived as %u", i,
			     p->got.seqs[i]);
		cr_assert_eq(p->got.sizes[i], i == n - 1 ? last : SEG);
		cr_assert_eq(p->got.ports[i], p->tx_port, "each carries the train's rinfo");
	}
}

static void gro_close(struct gro_pair *p)
{
	udg_socket *socks[] = { p->rx, p->tx };
	close_all(p->loop, socks, 2);
}

static void a_train_is_split(udg_socket_type type)
{
	struct gro_pair p;
	gro_open(&p, NULL, type, 0, 0);
	cr_assert(udg_loop_features(p.loop) & UDG_FEAT_GRO, "%s", udg_loop_features_string(p.loop));
	cr_assert(strstr(udg_loop_features_string(p.loop), "|GRO"));
	send_train(&p, 20, 333);
	RUN_UNTIL(p.loop, p.got.count >= 20 && p.sent == 20);
	assert_split(&p, 20, 333);
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_trains, 1, "the sender made one train");
	cr_assert_eq(st.gro_trains, 1, "the receiver read it in one piece");
	cr_assert_eq(st.gro_datagrams, 20);
	cr_assert_eq(st.datagrams_received, 20, "one message per datagram");
	cr_assert_eq(st.recv_truncated, 0);
	gro_close(&p);
}

Test(gro, an_ipv4_train_arrives_as_one_read_split_into_its_datagrams_in_order)
{
	a_train_is_split(UDG_UDP4);
}

Test(gro, an_ipv6_train_arrives_as_one_read_split_into_its_datagrams_in_order)
{
	a_train_is_split(UDG_UDP6);
}

Test(gro, a_receiver_with_gro_off_gets_the_same_datagrams_one_read_each)
{
	struct gro_pair p;
	gro_open(&p, NULL, UDG_UDP4, 0, UDG_OFFLOAD_NO_GRO);
	send_train(&p, 20, 333);
	RUN_UNTIL(p.loop, p.got.count >= 20 && p.sent == 20);
	assert_split(&p, 20, 333);
	udg_loop_stats st = stats_of(p.loop);
	cr_assert_eq(st.gso_trains, 1);
	cr_assert_eq(st.gro_trains, 0, "the kernel segmented the train for this socket");
	gro_close(&p);
}

/* Fixed buffers shorter than a train: GRO stays off (a cut train would lose datagrams). */
Test(gro, fixed_buffers_that_could_cut_a_train_leave_gro_off)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.flags = UDG_LOOP_FIXED_RECV_BUFFERS;
	struct gro_pair p;
	gro_open(&p, &lo, UDG_UDP4, 0, 0);
	cr_assert_not(udg_loop_features(p.loop) & UDG_FEAT_GRO, "%s",
		      udg_loop_features_string(p.loop));
	send_train(&p, 20, 333);
	RUN_UNTIL(p.loop, p.got.count >= 20 && p.sent == 20);
	assert_split(&p, 20, 333);
	cr_assert_eq(stats_of(p.loop).gro_trains, 0);
	gro_close(&p);
}

/* Fixed buffers that hold a whole train may take GRO. */
Test(gro, fixed_buffers_that_hold_a_train_take_gro)
{
	udg_loop_options lo;
	udg_loop_options_init(&lo);
	lo.flags = UDG_LOOP_FIXED_RECV_BUFFERS;
	lo.recv_buf_size = 65536 + 256;
	lo.recv_buf_count = 16;
	struct gro_pair p;
	gro_open(&p, &lo, UDG_UDP6, 0, 0);
	cr_assert(udg_loop_features(p.loop) & UDG_FEAT_GRO, "%s", udg_loop_features_string(p.loop));
	send_train(&p, 40, SEG);
	RUN_UNTIL(p.loop, p.got.count >= 40 && p.sent == 40);
	assert_split(&p, 40, SEG);
	cr_assert_eq(stats_of(p.loop).gro_trains, 1);
	gro_close(&p);
}

/* One metadata per train, applied to each datagram of it. */
Test(gro, every_datagram_of_a_train_carries_the_trains_metadata)
{
	struct gro_pair p;
	gro_open(&p, NULL, UDG_UDP4, UDG_META_ECN | UDG_META_PKTINFO, 0);
	send_train(&p, 10, SEG);
	RUN_UNTIL(p.loop, p.got.count >= 10 && p.sent == 10);
	assert_split(&p, 10, SEG);
	cr_assert_eq(p.got.meta_all, UDG_META_ECN | UDG_META_PKTINFO);
	cr_assert_str_eq(p.got.dst, "127.0.0.1");
	cr_assert_eq(stats_of(p.loop).gro_trains, 1);
	gro_close(&p);
}

/* A close from a message callback ends the split: nothing more is delivered. */
Test(gro, closing_the_socket_in_the_middle_of_a_train_delivers_nothing_more)
{
	struct gro_pair p;
	gro_open(&p, NULL, UDG_UDP4, 0, 0);
	p.got.close_at = 3;
	send_train(&p, 20, SEG);
	RUN_UNTIL(p.loop, p.sent == 20 && stats_of(p.loop).gro_trains == 1);
	for (int i = 0; i < 5; i++)
		cr_assert_geq(udg_loop_run(p.loop, UDG_RUN_NOWAIT), 0);
	cr_assert_eq(p.got.count, 3);
	cr_assert_eq(stats_of(p.loop).gro_datagrams, 3, "only what was delivered is counted");
	p.rx = NULL; /* closed by its callback */
	udg_socket *socks[] = { p.tx };
	close_all(p.loop, socks, 1);
}
