/* examples/embed-epoll.c — a udg loop driven by an epoll loop (docs/loop.md, "Embedding").
 * Usage: embed-epoll [--self-test]. Without an argument: an echo server on 127.0.0.1:41234
 * until killed; with --self-test: 2000 pings through it, then exit 0 if all came back.
 * The pattern: epoll waits on udg_loop_fd() (and your own descriptors) for at most
 * udg_loop_timeout_ns(), then udg_loop_run(UDG_RUN_NOWAIT) does udg's share of the work. */
#include <errno.h>
#include <sys/epoll.h>

#include "embed-demo.h"

int main(int argc, char **argv)
{
	udg_loop *loop;
	struct demo d;
	int r;

	if ((r = udg_loop_new(NULL, &loop)) != 0 || (r = demo_start(&d, loop, argc, argv)) != 0) {
		fprintf(stderr, "embed-epoll: %s\n", udg_strerror(r));
		return r == UDG_ERR_IO_URING_UNAVAILABLE ? 77 : 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = loop };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, udg_loop_fd(loop), &ev) != 0) {
		perror("embed-epoll: epoll");
		return 1;
	}
	/* Your own descriptors would be added to ep here and handled in the loop below. */
	for (;;) {
		struct epoll_event out[16];
		int n = epoll_wait(ep, out, 16, demo_timeout_ms(udg_loop_timeout_ns(loop)));

		if (n < 0 && errno != EINTR)
			break;
		d.host_wakeups++;
		r = udg_loop_run(loop, UDG_RUN_NOWAIT);
		if (r <= 0) /* 0: nothing of udg's is alive any more; < 0: fatal */
			break;
	}
	close(ep);
	if (r < 0 || udg_loop_close(loop) != 0)
		return 1;
	return demo_finish(&d, "embed-epoll");
}
