/* udg.h — udg, an io_uring datagram engine with a Node.js dgram-style API.
 *
 * Include this one header. It pulls in:
 *   udg/version.h  version macros and udg_version()
 *   udg/error.h    negative error codes with Node's names, udg_err_name(), udg_strerror()
 *   udg/loop.h     the ring reactor: loops, run modes, timers, cross-thread posts
 *   udg/dgram.h    UDP sockets with Node's dgram semantics
 *   udg/group.h    shard groups: one loop and one SO_REUSEPORT socket per thread (extension)
 * Reference: docs/loop.md, docs/dgram.md, docs/group.md. Only udg_* symbols are exported.
 */
#ifndef UDG_H
#define UDG_H

#include "udg/common.h"
#include "udg/version.h"
#include "udg/error.h"
#include "udg/loop.h"
#include "udg/dgram.h"
#include "udg/group.h"

#endif /* UDG_H */
