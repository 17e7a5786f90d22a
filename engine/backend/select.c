/* engine/backend/select.c — which backend a loop runs on: the option, the UDG_BACKEND
 * environment variable (operators), and the automatic fallback from io_uring to epoll where
 * io_uring is denied or too old. Cold: once per loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* UDG_BACKEND overrides only the automatic choice: a program that asked for one backend gets
 * it. An unknown value is an error, not a silent default. */
static int backend_wanted(const udg_loop *loop, udg_backend *out)
{
	*out = loop->opts.backend;
	if (*out != UDG_BACKEND_AUTO && *out != UDG_BACKEND_URING && *out != UDG_BACKEND_EPOLL)
		return UDG_ERR_INVALID_ARG_VALUE;
	const char *env = getenv("UDG_BACKEND");
	if (*out != UDG_BACKEND_AUTO || !env || !env[0])
		return 0;
	if (strcmp(env, "uring") == 0 || strcmp(env, "io_uring") == 0)
		*out = UDG_BACKEND_URING;
	else if (strcmp(env, "epoll") == 0)
		*out = UDG_BACKEND_EPOLL;
	else if (strcmp(env, "auto") != 0)
		return UDG_ERR_INVALID_ARG_VALUE;
	return 0;
}

/* io_uring failures that mean "not here" rather than "broken": denied by policy, missing,
 * or older than the features we need. */
static bool falls_back(int r)
{
	return r == UDG_ERR_IO_URING_UNAVAILABLE || r == UDG_ERR_KERNEL_TOO_OLD || r == -EPERM ||
	       r == -EACCES || r == -ENOSYS || r == -EOPNOTSUPP;
}

/* What every backend offers on top of its own features: GSO trains. */
static int offloads(udg_loop *loop, int r)
{
	if (r != 0)
		return r;
	udg__gso_probe(loop);
	if (loop->bk->gso_segs > 0) {
		size_t off = strlen(loop->features_str);
		loop->features |= UDG_FEAT_GSO;
		snprintf(loop->features_str + off, sizeof(loop->features_str) - off, "|GSO(%u)",
			 loop->bk->gso_segs);
	}
	if (loop->bk->gro) {
		size_t off = strlen(loop->features_str);
		loop->features |= UDG_FEAT_GRO;
		snprintf(loop->features_str + off, sizeof(loop->features_str) - off, "|GRO");
	}
	return 0;
}

static int create(udg_loop *loop)
{
	udg_backend want;
	int r = backend_wanted(loop, &want);
	if (r != 0)
		return r;
	loop->features = 0;
	loop->features_str[0] = '\0';
	if (want == UDG_BACKEND_EPOLL)
		return udg__epoll_ops.create(loop);

	snprintf(loop->features_str, sizeof(loop->features_str), "io_uring: ");
	r = udg__uring_ops.create(loop);
	if (r == 0 || want == UDG_BACKEND_URING || !falls_back(r))
		return r;
	/* The reason is short ("io_uring_setup refused with EPERM"); keep at most 95 bytes of it
	 * so the backend's own description that follows always fits. */
	char why[96];
	memcpy(why, loop->features_str, sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	loop->features = UDG_FEAT_FALLBACK;
	snprintf(loop->features_str, sizeof(loop->features_str),
		 "epoll (io_uring unavailable: %s): ", why);
	return udg__epoll_ops.create(loop);
}

int udg__backend_create(udg_loop *loop)
{
	return offloads(loop, create(loop));
}

UDG_EXPORT udg_backend udg_loop_backend(const udg_loop *loop)
{
	if (!loop)
		return UDG_BACKEND_AUTO;
	return loop->bk->ops == &udg__epoll_ops ? UDG_BACKEND_EPOLL : UDG_BACKEND_URING;
}
