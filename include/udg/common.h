/* udg/common.h — the export macro and the opaque types shared by every udg header.
 * Needs nothing beyond the C library headers. */
#ifndef UDG_COMMON_H
#define UDG_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(UDG_BUILDING) && defined(__GNUC__)
#define UDG_EXPORT __attribute__((visibility("default")))
#else
#define UDG_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One event loop: one io_uring, owned by one thread. */
typedef struct udg_loop udg_loop;
/* One UDP socket (Node's dgram.Socket). Owned by its loop until its close callback has run. */
typedef struct udg_socket udg_socket;
/* One timer. */
typedef struct udg_timer udg_timer;

#ifdef __cplusplus
}
#endif

#endif /* UDG_COMMON_H */
