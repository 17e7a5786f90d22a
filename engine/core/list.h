/* engine/core/list.h — the engine's two intrusive containers: a circular doubly-linked list
 * (membership that must be left in O(1): the loop's sockets, an abort signal's sockets, the
 * backends' dirty endpoints) and a singly-linked FIFO (queues drained in order: next-tick
 * calls, posts, send queues). Neither ever allocates; a node lives inside its owner. */
#ifndef UDG_CORE_LIST_H
#define UDG_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

/* ---- Doubly-linked: a head is a node pointing at itself when empty ------------------------ */

struct udg__list {
	struct udg__list *next, *prev;
};

static inline void udg__list_init(struct udg__list *l)
{
	l->next = l->prev = l;
}

static inline bool udg__list_empty(const struct udg__list *l)
{
	return l->next == l;
}

/* A node that is in no list (initialised, or removed) points at itself. */
static inline bool udg__list_linked(const struct udg__list *n)
{
	return n->next != n;
}

static inline void udg__list_add_tail(struct udg__list *head, struct udg__list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void udg__list_remove(struct udg__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	udg__list_init(n);
}

/* Move every node of src to the end of dst, leaving src empty (a snapshot to walk while new
 * nodes are added to src). */
static inline void udg__list_splice(struct udg__list *dst, struct udg__list *src)
{
	if (udg__list_empty(src))
		return;
	src->next->prev = dst->prev;
	dst->prev->next = src->next;
	src->prev->next = dst;
	dst->prev = src->prev;
	udg__list_init(src);
}

/* Walk a list whose current node may be removed by the body. */
#define UDG__LIST_FOR_EACH_SAFE(pos, tmp, head)                          \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

/* ---- Singly-linked FIFO --------------------------------------------------------------------- */

struct udg__qnode {
	struct udg__qnode *next;
};

struct udg__fifo {
	struct udg__qnode *head, **tail;
};

static inline void udg__fifo_init(struct udg__fifo *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static inline bool udg__fifo_empty(const struct udg__fifo *q)
{
	return q->head == NULL;
}

static inline void udg__fifo_push(struct udg__fifo *q, struct udg__qnode *n)
{
	n->next = NULL;
	*q->tail = n;
	q->tail = &n->next;
}

/* Push at the head: the queue then pops last-in first (a free list whose hot entries stay
 * in cache). */
static inline void udg__fifo_push_front(struct udg__fifo *q, struct udg__qnode *n)
{
	n->next = q->head;
	if (!q->head)
		q->tail = &n->next;
	q->head = n;
}

/* Put back a chain of n nodes (linked through next, the last one's next ignored) at the
 * front, in its order. */
static inline void udg__fifo_push_front_chain(struct udg__fifo *q, struct udg__qnode *first,
					      unsigned n)
{
	struct udg__qnode *last = first;
	for (unsigned i = 1; i < n; i++)
		last = last->next;
	last->next = q->head;
	if (!q->head)
		q->tail = &last->next;
	q->head = first;
}

/* Detach the first n nodes (n >= 1, at most the queue's length); they stay linked to each
 * other, the last one's next is NULL. Returns the first. */
static inline struct udg__qnode *udg__fifo_pop_chain(struct udg__fifo *q, unsigned n)
{
	struct udg__qnode *first = q->head, *last = first;
	for (unsigned i = 1; i < n; i++)
		last = last->next;
	q->head = last->next;
	if (!q->head)
		q->tail = &q->head;
	last->next = NULL;
	return first;
}

static inline struct udg__qnode *udg__fifo_pop(struct udg__fifo *q)
{
	struct udg__qnode *n = q->head;
	if (n) {
		q->head = n->next;
		if (!q->head)
			q->tail = &q->head;
		n->next = NULL;
	}
	return n;
}

/* Take the whole queue, leaving q empty: returns the first node (a NULL-terminated chain). */
static inline struct udg__qnode *udg__fifo_take(struct udg__fifo *q)
{
	struct udg__qnode *n = q->head;
	udg__fifo_init(q);
	return n;
}

#endif /* UDG_CORE_LIST_H */
