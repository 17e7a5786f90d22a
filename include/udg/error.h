/* udg/error.h — udg's error model: negative return codes, with Node's names.
 *
 * Every udg function that can fail returns 0 (or a count) on success and a negative code on
 * failure. System errors are -errno (-EBADF, -EADDRINUSE, ...). Conditions that Node.js reports
 * with its own ERR_* codes have named negative values below -4096, outside the errno range.
 * udg never reads or writes errno across its API, never prints and never aborts on bad input.
 */
#ifndef UDG_ERROR_H
#define UDG_ERROR_H

#include "udg/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Node.js-specific conditions (the names are Node's, prefixed with UDG_). */
enum udg_error_code {
	UDG_ERR_SOCKET_BAD_TYPE = -5001,      /* type is not udp4/udp6 */
	UDG_ERR_INVALID_ARG_TYPE = -5002,     /* NULL where a value is required */
	UDG_ERR_OUT_OF_RANGE = -5003,         /* option value outside its range */
	UDG_ERR_SOCKET_BAD_PORT = -5004,      /* port outside 1..65535 (0..65535 for bind) */
	UDG_ERR_BUFFER_OUT_OF_BOUNDS = -5005, /* offset/length outside the buffer */
	UDG_ERR_SOCKET_ALREADY_BOUND = -5006, /* bind while binding or bound */
	UDG_ERR_SOCKET_DGRAM_IS_CONNECTED =
		-5007, /* connect twice; send with address when connected */
	UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED =
		-5008,                            /* disconnect/remoteAddress when not connected */
	UDG_ERR_SOCKET_DGRAM_NOT_RUNNING = -5009, /* the socket is closed */
	UDG_ERR_MISSING_ARGS = -5010,             /* a required argument is missing */
	UDG_ERR_SOCKET_BAD_BUFFER_SIZE = -5011,   /* buffer size is not a valid size */
	UDG_ERR_SOCKET_BUFFER_SIZE = -5012,       /* kernel refused get/set of a buffer size */
	UDG_ERR_INVALID_FD_TYPE = -5013,          /* bind({fd}) with an fd that is not UDP */
	UDG_ERR_INVALID_ARG_VALUE = -5014,        /* a custom resolver's non-numeric answer */
	UDG_ERR_ENOTFOUND = -5015,                /* resolver: no such host */
	UDG_ERR_EAI_AGAIN = -5016,                /* resolver: temporary failure */
	UDG_ERR_EAI_FAIL = -5017,                 /* resolver: permanent failure */
	/* udg's own conditions. */
	UDG_ERR_IO_URING_UNAVAILABLE = -5100, /* io_uring disabled or blocked (seccomp, sysctl) */
	UDG_ERR_KERNEL_TOO_OLD = -5101,       /* a required io_uring feature is missing */
	UDG_ERR_SEND_QUEUE_FULL = -5102,      /* the loop's send slots are all in use */
	UDG_ERR_LOOP_CLOSED = -5103,          /* the loop is closing or closed */
	UDG_ERR_LOOP_FORKED = -5104,          /* the loop belongs to the parent of a fork() */
};

/* Node's name for a code: "ERR_SOCKET_BAD_PORT", "EADDRINUSE", ...; "UNKNOWN" if none.
 * Never NULL; the string is static. */
UDG_EXPORT const char *udg_err_name(int code);

/* A one-line English description of a code. Never NULL; the string is static. */
UDG_EXPORT const char *udg_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* UDG_ERROR_H */
