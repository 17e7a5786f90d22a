/* examples/embed-glib.c — a udg loop as a GLib event source (docs/loop.md, "Embedding").
 * Usage: embed-glib [--self-test]; as embed-epoll.c. The source polls udg_loop_fd(); prepare()
 * hands GLib udg_loop_timeout_ns() as the timeout, and dispatch() runs
 * udg_loop_run(UDG_RUN_NOWAIT). When udg has nothing alive the source quits the main loop. */
#include <glib.h>

#include "embed-demo.h"

typedef struct {
	GSource source;
	udg_loop *loop;
	gpointer fd_tag;
	struct demo *demo;
	GMainLoop *main_loop;
	int status;
} UdgSource;

static gboolean udg_prepare(GSource *source, gint *timeout)
{
	UdgSource *u = (UdgSource *)source;
	int64_t ns = udg_loop_timeout_ns(u->loop);

	*timeout = demo_timeout_ms(ns);
	return ns == 0; /* work is ready without any fd event */
}

static gboolean udg_check(GSource *source)
{
	UdgSource *u = (UdgSource *)source;

	return (g_source_query_unix_fd(source, u->fd_tag) & G_IO_IN) ||
	       udg_loop_timeout_ns(u->loop) == 0;
}

static gboolean udg_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	UdgSource *u = (UdgSource *)source;

	(void)callback, (void)user_data;
	u->demo->host_wakeups++;
	u->status = udg_loop_run(u->loop, UDG_RUN_NOWAIT);
	if (u->status <= 0) {
		g_main_loop_quit(u->main_loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs udg_source_funcs = {
	.prepare = udg_prepare,
	.check = udg_check,
	.dispatch = udg_dispatch,
};

int main(int argc, char **argv)
{
	udg_loop *loop;
	struct demo d;
	int r;

	if ((r = udg_loop_new(NULL, &loop)) != 0 || (r = demo_start(&d, loop, argc, argv)) != 0) {
		fprintf(stderr, "embed-glib: %s\n", udg_strerror(r));
		return r == UDG_ERR_IO_URING_UNAVAILABLE ? 77 : 1;
	}
	GMainLoop *main_loop = g_main_loop_new(NULL, FALSE);
	UdgSource *u = (UdgSource *)g_source_new(&udg_source_funcs, sizeof(UdgSource));
	u->loop = loop;
	u->demo = &d;
	u->main_loop = main_loop;
	u->fd_tag = g_source_add_unix_fd(&u->source, udg_loop_fd(loop), G_IO_IN);
	g_source_attach(&u->source, NULL);
	g_main_loop_run(main_loop);
	int status = u->status;
	g_source_destroy(&u->source);
	g_source_unref(&u->source);
	g_main_loop_unref(main_loop);
	if (status < 0 || udg_loop_close(loop) != 0)
		return 1;
	return demo_finish(&d, "embed-glib");
}
