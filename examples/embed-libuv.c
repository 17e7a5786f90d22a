/* examples/embed-libuv.c — a udg loop driven by libuv (docs/loop.md, "Embedding").
 * Usage: embed-libuv [--self-test]; as embed-epoll.c. A uv_poll_t watches udg_loop_fd() and a
 * uv_timer_t covers udg_loop_timeout_ns(); after each udg_loop_run(UDG_RUN_NOWAIT) the timer is
 * re-armed with the new timeout. When udg has nothing alive, both handles close and uv_run()
 * returns. */
#include <uv.h>

#include "embed-demo.h"

struct host {
	udg_loop *loop;
	struct demo demo;
	uv_poll_t poll;
	uv_timer_t timer;
	int status; /* udg_loop_run()'s last result */
};

static void on_timer(uv_timer_t *t);

/* Runs udg once and arranges the next wake-up, or stops watching when udg is done. */
static void drive(struct host *h)
{
	h->demo.host_wakeups++;
	h->status = udg_loop_run(h->loop, UDG_RUN_NOWAIT);
	if (h->status <= 0) {
		uv_close((uv_handle_t *)&h->poll, NULL);
		uv_close((uv_handle_t *)&h->timer, NULL);
		return;
	}
	int ms = demo_timeout_ms(udg_loop_timeout_ns(h->loop));
	if (ms >= 0)
		uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0);
	else
		uv_timer_stop(&h->timer);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status, (void)events;
	drive(p->data);
}

static void on_timer(uv_timer_t *t)
{
	drive(t->data);
}

int main(int argc, char **argv)
{
	struct host h = { 0 };
	int r;

	if ((r = udg_loop_new(NULL, &h.loop)) != 0 ||
	    (r = demo_start(&h.demo, h.loop, argc, argv)) != 0) {
		fprintf(stderr, "embed-libuv: %s\n", udg_strerror(r));
		return r == UDG_ERR_IO_URING_UNAVAILABLE ? 77 : 1;
	}
	uv_loop_t *uv = uv_default_loop();
	uv_poll_init(uv, &h.poll, udg_loop_fd(h.loop));
	uv_timer_init(uv, &h.timer);
	h.poll.data = h.timer.data = &h;
	uv_poll_start(&h.poll, UV_READABLE, on_poll);
	uv_timer_start(&h.timer, on_timer, 0, 0); /* first round at once: the binds are queued */
	uv_run(uv, UV_RUN_DEFAULT);
	uv_loop_close(uv);
	if (h.status < 0 || udg_loop_close(h.loop) != 0)
		return 1;
	return demo_finish(&h.demo, "embed-libuv");
}
