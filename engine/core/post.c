/* engine/core/post.c — udg_loop_post and udg_loop_stop, the only thread-safe entry points, and
 * the eventfd that wakes a loop blocked in its backend's wait (the backend watches it).
 * Posters append to a mutex-protected FIFO; only the first post after each drain writes the
 * eventfd, so a burst of posts costs the loop one wake-up. Never runs a user callback on the
 * posting thread. */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core.h"

struct udg__post {
	struct udg__post *next;
	udg_post_cb fn;
	void *arg;
};

int udg__post_init(udg_loop *loop)
{
	int r = pthread_mutex_init(&loop->post_lock, NULL);
	if (r != 0)
		return -r;
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0) {
		r = -errno;
		pthread_mutex_destroy(&loop->post_lock);
		return r;
	}
	return 0;
}

void udg__post_fini(udg_loop *loop)
{
	close(loop->wake_fd);
	pthread_mutex_destroy(&loop->post_lock);
}

/* The backend consumed the eventfd's counter: clear the flag, so a post appended from now on
 * writes the eventfd again (nothing is left without a wake-up). */
void udg__wake_consumed(udg_loop *loop)
{
	atomic_store(&loop->wake_pending, false);
}

/* Write the eventfd unless a write is already pending. Lock-free and async-signal-safe (an
 * atomic exchange and write(2)). Posters call it with post_lock held, so a post can never race
 * udg_loop_close() closing the descriptor. */
static void wake_write(udg_loop *loop)
{
	if (atomic_exchange(&loop->wake_pending, true))
		return;
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
	ssize_t n = write(loop->wake_fd, &one, sizeof(one));
	(void)n;
}

int udg__posts_close(udg_loop *loop)
{
	int r = 0;

	pthread_mutex_lock(&loop->post_lock);
	if (loop->post_head != NULL)
		r = -EBUSY;
	else
		loop->closed_for_posts = true;
	pthread_mutex_unlock(&loop->post_lock);
	return r;
}

UDG_EXPORT int udg_loop_post(udg_loop *loop, udg_post_cb fn, void *arg)
{
	UDG__PRESERVE_ERRNO;
	if (!loop || !fn)
		return -EINVAL;
	if (udg__loop_forked(loop))
		return UDG_ERR_LOOP_FORKED;
	struct udg__post *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct udg__post){ .fn = fn, .arg = arg };

	pthread_mutex_lock(&loop->post_lock);
	if (loop->closed_for_posts) {
		pthread_mutex_unlock(&loop->post_lock);
		free(p);
		return UDG_ERR_LOOP_CLOSED;
	}
	if (loop->post_tail)
		loop->post_tail->next = p;
	else
		loop->post_head = p;
	loop->post_tail = p;
	atomic_fetch_add(&loop->post_count, 1);
	wake_write(loop);
	pthread_mutex_unlock(&loop->post_lock);
	return 0;
}

UDG_EXPORT void udg_loop_stop(udg_loop *loop)
{
	UDG__PRESERVE_ERRNO;
	if (!loop)
		return;
	atomic_store(&loop->stop_requested, true);
	/* From another thread the loop may be blocked in the kernel; from the loop's own thread
	 * the flag is seen at the end of the iteration. Waking costs one write either way. No
	 * lock: stopping must be safe from a signal handler (the loop is alive by contract). */
	wake_write(loop);
}

/* Run the posts queued before this call, in order; later ones wait for the next iteration,
 * which bounds the work per iteration. */
unsigned udg__posts_run(udg_loop *loop)
{
	if (atomic_load_explicit(&loop->post_count, memory_order_relaxed) == 0)
		return 0;
	unsigned ran = 0;
	pthread_mutex_lock(&loop->post_lock);
	struct udg__post *p = loop->post_head;
	loop->post_head = loop->post_tail = NULL;
	pthread_mutex_unlock(&loop->post_lock);

	while (p) {
		struct udg__post *next = p->next;
		p->fn(p->arg);
		free(p);
		atomic_fetch_sub(&loop->post_count, 1);
		p = next;
		ran++;
	}
	return ran;
}
