// bench/micro.cc — google-benchmark micro-benchmarks of udg's per-call costs: one send call, one
// send including its submission and completion, an idle loop iteration, dispatch of a posted
// callback and of a due timer, and rinfo address formatting. C++ only for the harness: it calls
// udg's public C API and nothing else, and asserts nothing (the unit tests do that).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <benchmark/benchmark.h>

#include "udg.h"

namespace
{

// Payload of the send benchmarks: the suite's smallest size.
constexpr size_t kPayload = 64;
// Work items per measured iteration in the batched benchmarks: enough to amortise the loop
// iteration that delivers them, and well under the default 4096 send slots.
constexpr int kBatch = 256;

// A plain UDP socket on 127.0.0.1 the sends go to; it is never read (the kernel drops once its
// buffer is full, which costs the sender nothing extra).
struct RawSink {
	int fd = -1;
	int port = 0;
	RawSink()
	{
		sockaddr_in sin{};
		socklen_t len = sizeof(sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		bind(fd, reinterpret_cast<sockaddr *>(&sin), sizeof(sin));
		getsockname(fd, reinterpret_cast<sockaddr *>(&sin), &len);
		port = ntohs(sin.sin_port);
	}
	~RawSink()
	{
		close(fd);
	}
};

// A loop with one udg socket connected to a RawSink, ready to send.
struct Connected {
	udg_loop *loop = nullptr;
	udg_socket *sock = nullptr;
	bool ok = false;
	RawSink sink;

	Connected()
	{
		udg_socket_options o;
		if (udg_loop_new(nullptr, &loop) != 0)
			return;
		udg_socket_options_init(&o, UDG_UDP4);
		if (udg_socket_new(loop, &o, &sock) != 0)
			return;
		if (udg_socket_connect(sock, sink.port, "127.0.0.1", on_connect, this) != 0)
			return;
		// NOWAIT: ONCE would block in its wait after the connect callback already ran.
		for (int i = 0; i < 100000 && !ok; i++)
			udg_loop_run(loop, UDG_RUN_NOWAIT);
	}
	static void on_connect(udg_socket *, int status, void *user)
	{
		static_cast<Connected *>(user)->ok = status == 0;
	}
	void drain()
	{
		while (udg_socket_get_send_queue_count(sock) > 0)
			udg_loop_run(loop, UDG_RUN_ONCE);
	}
	~Connected()
	{
		if (sock) {
			udg_socket_close(sock, nullptr, nullptr);
			udg_loop_run(loop, UDG_RUN_DEFAULT);
		}
		if (loop)
			udg_loop_close(loop);
	}
};

// One callback-less udg_socket_send on a connected socket: validation, slot, payload copy and
// SQE preparation. The loop submits (and the kernel sends) outside the timed region, every
// kCallBatch calls: fewer than the SQ holds, so no call pays for a full-SQ flush.
constexpr int kCallBatch = 128;

void BM_SendCall(benchmark::State &state)
{
	Connected c;
	unsigned char payload[kPayload] = {};
	int n = 0;
	if (!c.ok) {
		state.SkipWithError("could not set up a connected udg socket");
		return;
	}
	for (auto _ : state) {
		int rc = udg_socket_send(c.sock, payload, sizeof(payload), 0, nullptr, nullptr,
					 nullptr);
		if (rc != 0) {
			state.SkipWithError(udg_err_name(rc));
			break;
		}
		if (++n == kCallBatch) {
			state.PauseTiming();
			c.drain();
			n = 0;
			state.ResumeTiming();
		}
	}
	c.drain();
	state.SetItemsProcessed(state.iterations());
}
// A fixed count: each timed call costs ~kCallBatch times less than its untimed kernel send, so
// a time-based count would spend seconds outside the measurement.
BENCHMARK(BM_SendCall)->Iterations(100000);

// kBatch sends and the loop iterations that submit them and reap their completions: the whole
// per-datagram cost of sending through udg.
void BM_SendSubmitComplete(benchmark::State &state)
{
	Connected c;
	unsigned char payload[kPayload] = {};
	if (!c.ok) {
		state.SkipWithError("could not set up a connected udg socket");
		return;
	}
	for (auto _ : state) {
		for (int i = 0; i < kBatch; i++)
			udg_socket_send(c.sock, payload, sizeof(payload), 0, nullptr, nullptr,
					nullptr);
		c.drain();
	}
	state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_SendSubmitComplete);

void on_timer_noop(udg_timer *, void *)
{
}

// One udg_loop_run(NOWAIT) iteration with nothing to do (a far-away timer keeps it alive).
void BM_LoopIterationIdle(benchmark::State &state)
{
	udg_loop *loop;
	udg_timer *timer;
	if (udg_loop_new(nullptr, &loop) != 0) {
		state.SkipWithError("udg_loop_new failed");
		return;
	}
	udg_timer_new(loop, &timer);
	udg_timer_start(timer, 3600ull * 1000000000ull, 0, on_timer_noop, nullptr);
	for (auto _ : state)
		udg_loop_run(loop, UDG_RUN_NOWAIT);
	udg_timer_free(timer);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	udg_loop_close(loop);
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoopIterationIdle);

void on_post(void *arg)
{
	++*static_cast<uint64_t *>(arg);
}

// Dispatch per posted callback: kBatch udg_loop_post calls (same thread), then run until all
// have run.
void BM_PostDispatch(benchmark::State &state)
{
	udg_loop *loop;
	uint64_t ran = 0;
	if (udg_loop_new(nullptr, &loop) != 0) {
		state.SkipWithError("udg_loop_new failed");
		return;
	}
	for (auto _ : state) {
		uint64_t want = ran + kBatch;
		for (int i = 0; i < kBatch; i++)
			udg_loop_post(loop, on_post, &ran);
		while (ran < want)
			udg_loop_run(loop, UDG_RUN_NOWAIT);
	}
	udg_loop_run(loop, UDG_RUN_DEFAULT);
	udg_loop_close(loop);
	state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_PostDispatch);

void on_timer_count(udg_timer *, void *user)
{
	++*static_cast<uint64_t *>(user);
}

// Dispatch per due timer: kBatch timers armed with timeout 0, then run until all fired.
void BM_TimerDispatch(benchmark::State &state)
{
	udg_loop *loop;
	udg_timer *timers[kBatch];
	uint64_t fired = 0;
	if (udg_loop_new(nullptr, &loop) != 0) {
		state.SkipWithError("udg_loop_new failed");
		return;
	}
	for (auto &t : timers)
		udg_timer_new(loop, &t);
	for (auto _ : state) {
		uint64_t want = fired + kBatch;
		for (auto *t : timers)
			udg_timer_start(t, 0, 0, on_timer_count, &fired);
		while (fired < want)
			udg_loop_run(loop, UDG_RUN_NOWAIT);
	}
	for (auto *t : timers)
		udg_timer_free(t);
	udg_loop_run(loop, UDG_RUN_NOWAIT);
	udg_loop_close(loop);
	state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_TimerDispatch);

// rinfo formatting: what an echo server pays to turn a sender's address into text.
void BM_FormatAddressIPv4(benchmark::State &state)
{
	sockaddr_in sin{};
	char buf[UDG_ADDRSTRLEN];
	sin.sin_family = AF_INET;
	sin.sin_port = htons(41234);
	inet_pton(AF_INET, "192.168.100.200", &sin.sin_addr);
	for (auto _ : state) {
		int n = udg_format_address(reinterpret_cast<sockaddr *>(&sin), sizeof(sin), buf,
					   sizeof(buf));
		benchmark::DoNotOptimize(n);
		benchmark::DoNotOptimize(buf);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FormatAddressIPv4);

void BM_FormatAddressIPv6(benchmark::State &state)
{
	sockaddr_in6 sin6{};
	char buf[UDG_ADDRSTRLEN];
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(41234);
	inet_pton(AF_INET6, "2001:db8:85a3::8a2e:370:7334", &sin6.sin6_addr);
	for (auto _ : state) {
		int n = udg_format_address(reinterpret_cast<sockaddr *>(&sin6), sizeof(sin6), buf,
					   sizeof(buf));
		benchmark::DoNotOptimize(n);
		benchmark::DoNotOptimize(buf);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FormatAddressIPv6);

// A link-local IPv6 sender: the "%ifname" zone needs an interface-name lookup.
void BM_FormatAddressIPv6LinkLocal(benchmark::State &state)
{
	sockaddr_in6 sin6{};
	char buf[UDG_ADDRSTRLEN];
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(41234);
	sin6.sin6_scope_id = 1; // the loopback interface
	inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
	for (auto _ : state) {
		int n = udg_format_address(reinterpret_cast<sockaddr *>(&sin6), sizeof(sin6), buf,
					   sizeof(buf));
		benchmark::DoNotOptimize(n);
		benchmark::DoNotOptimize(buf);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FormatAddressIPv6LinkLocal);

} // namespace

BENCHMARK_MAIN();
