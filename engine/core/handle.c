/* engine/core/handle.c — what a loop owns: the registry of its sockets, timers and abort
 * signals, walking it, describing what keeps udg_loop_close() busy, and the loop's user
 * pointer. Cold: nothing here runs per datagram. Never prints; the description is written
 * into the caller's buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

void udg__handle_add(udg_loop *loop, struct udg__handle *h, udg_handle_type type)
{
	h->type = type;
	udg__list_add_tail(&loop->handle_list, &h->link);
	loop->handles++;
}

void udg__handle_remove(udg_loop *loop, struct udg__handle *h)
{
	assert(loop->handles > 0 && udg__list_linked(&h->link));
	udg__list_remove(&h->link);
	loop->handles--;
}

UDG_EXPORT void udg_loop_set_user(udg_loop *loop, void *user)
{
	if (loop)
		loop->user = user;
}

UDG_EXPORT void *udg_loop_user(const udg_loop *loop)
{
	return loop ? loop->user : NULL;
}

UDG_EXPORT const char *udg_handle_type_name(udg_handle_type type)
{
	switch (type) {
	case UDG_HANDLE_SOCKET:
		return "socket";
	case UDG_HANDLE_TIMER:
		return "timer";
	case UDG_HANDLE_ABORT_SIGNAL:
		return "abort signal";
	}
	return "unknown";
}

/* The callback may free or close the handle it is given (and only that one): the walk has
 * already stepped past it. */
UDG_EXPORT int udg_loop_walk(udg_loop *loop, udg_walk_cb cb, void *arg)
{
	struct udg__list *n, *tmp;
	int count = 0;

	if (!loop || !cb)
		return -EINVAL;
	UDG__LIST_FOR_EACH_SAFE(n, tmp, &loop->handle_list)
	{
		struct udg__handle *h = UDG__CONTAINER_OF(n, struct udg__handle, link);
		/* Each handle struct starts with its udg__handle: its address is the handle's. */
		cb(h->type, h, arg);
		count++;
	}
	return count;
}

/* Append to buf[*off..len), keeping it NUL-terminated; *off counts what would have been
 * written, as snprintf does, so the caller learns the full length. */
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(*off < len ? buf + *off : NULL, *off < len ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

UDG_EXPORT int udg_loop_describe(const udg_loop *loop, char *buf, size_t len)
{
	size_t off = 0;
	const struct udg__list *n;

	if (!loop || (!buf && len))
		return -EINVAL;
	if (len)
		buf[0] = '\0';
	put(buf, len, &off, "%u handle%s", loop->handles, loop->handles == 1 ? "" : "s");
	const char *sep = ": ";
	for (n = loop->handle_list.next; n != &loop->handle_list; n = n->next) {
		const struct udg__handle *h = UDG__CONTAINER_OF(n, struct udg__handle, link);
		put(buf, len, &off, "%s%s %p", sep, udg_handle_type_name(h->type), (const void *)h);
		sep = ", ";
	}
	put(buf, len, &off,
	    "; %u request%s in flight (sends, lookups, closes); %u referenced active"
	    "; %u post%s queued%s%s",
	    loop->reqs, loop->reqs == 1 ? "" : "s", loop->active_refs,
	    atomic_load(&loop->post_count), atomic_load(&loop->post_count) == 1 ? "" : "s",
	    udg__fifo_empty(&loop->ticks) ? "" : "; events waiting for delivery",
	    loop->running ? "; running" : "");
	return off > (size_t)INT32_MAX ? INT32_MAX : (int)off;
}
