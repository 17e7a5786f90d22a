/* engine/backend/select.c — which backend a loop runs on. Cold: once per loop. */
#include <string.h>

#include "backend.h"

int udg__backend_create(udg_loop *loop)
{
	loop->features_str[0] = '\0';
	return udg__uring_ops.create(loop);
}
