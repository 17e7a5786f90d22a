/* engine/error.c — names and one-line messages for every code udg returns: Node's ERR_* codes,
 * udg's own conditions, and Linux errno values as -errno.
 * Cold and pure: static strings only. Never calls strerror() (not thread-safe), never allocates,
 * never touches errno. */
#include <errno.h>
#include <string.h>

#include "udg/error.h"

/* Linux errno names, indexed by errno (asm-generic numbering, used by x86-64 and arm64).
 * EWOULDBLOCK and EDEADLOCK are aliases of EAGAIN and EDEADLK and have no slot of their own. */
#define NAME(e) [e] = #e
/* Packed by hand: one entry per line would make this table 130 lines long. */
/* clang-format off */
static const char *const errno_names[] = {
	NAME(EPERM), NAME(ENOENT), NAME(ESRCH), NAME(EINTR), NAME(EIO), NAME(ENXIO), NAME(E2BIG),
	NAME(ENOEXEC), NAME(EBADF), NAME(ECHILD), NAME(EAGAIN), NAME(ENOMEM), NAME(EACCES),
	NAME(EFAULT), NAME(ENOTBLK), NAME(EBUSY), NAME(EEXIST), NAME(EXDEV), NAME(ENODEV),
	NAME(ENOTDIR), NAME(EISDIR), NAME(EINVAL), NAME(ENFILE), NAME(EMFILE), NAME(ENOTTY),
	NAME(ETXTBSY), NAME(EFBIG), NAME(ENOSPC), NAME(ESPIPE), NAME(EROFS), NAME(EMLINK),
	NAME(EPIPE), NAME(EDOM), NAME(ERANGE), NAME(EDEADLK), NAME(ENAMETOOLONG), NAME(ENOLCK),
	NAME(ENOSYS), NAME(ENOTEMPTY), NAME(ELOOP), NAME(ENOMSG), NAME(EIDRM), NAME(ECHRNG),
	NAME(EL2NSYNC), NAME(EL3HLT), NAME(EL3RST), NAME(ELNRNG), NAME(EUNATCH), NAME(ENOCSI),
	NAME(EL2HLT), NAME(EBADE), NAME(EBADR), NAME(EXFULL), NAME(ENOANO), NAME(EBADRQC),
	NAME(EBADSLT), NAME(EBFONT), NAME(ENOSTR), NAME(ENODATA), NAME(ETIME), NAME(ENOSR),
	NAME(ENONET), NAME(ENOPKG), NAME(EREMOTE), NAME(ENOLINK), NAME(EADV), NAME(ESRMNT),
	NAME(ECOMM), NAME(EPROTO), NAME(EMULTIHOP), NAME(EDOTDOT), NAME(EBADMSG), NAME(EOVERFLOW),
	NAME(ENOTUNIQ), NAME(EBADFD), NAME(EREMCHG), NAME(ELIBACC), NAME(ELIBBAD), NAME(ELIBSCN),
	NAME(ELIBMAX), NAME(ELIBEXEC), NAME(EILSEQ), NAME(ERESTART), NAME(ESTRPIPE), NAME(EUSERS),
	NAME(ENOTSOCK), NAME(EDESTADDRREQ), NAME(EMSGSIZE), NAME(EPROTOTYPE), NAME(ENOPROTOOPT),
	NAME(EPROTONOSUPPORT), NAME(ESOCKTNOSUPPORT), NAME(EOPNOTSUPP), NAME(EPFNOSUPPORT),
	NAME(EAFNOSUPPORT), NAME(EADDRINUSE), NAME(EADDRNOTAVAIL), NAME(ENETDOWN),
	NAME(ENETUNREACH), NAME(ENETRESET), NAME(ECONNABORTED), NAME(ECONNRESET), NAME(ENOBUFS),
	NAME(EISCONN), NAME(ENOTCONN), NAME(ESHUTDOWN), NAME(ETOOMANYREFS), NAME(ETIMEDOUT),
	NAME(ECONNREFUSED), NAME(EHOSTDOWN), NAME(EHOSTUNREACH), NAME(EALREADY), NAME(EINPROGRESS),
	NAME(ESTALE), NAME(EUCLEAN), NAME(ENOTNAM), NAME(ENAVAIL), NAME(EISNAM), NAME(EREMOTEIO),
	NAME(EDQUOT), NAME(ENOMEDIUM), NAME(EMEDIUMTYPE), NAME(ECANCELED), NAME(ENOKEY),
	NAME(EKEYEXPIRED), NAME(EKEYREVOKED), NAME(EKEYREJECTED), NAME(EOWNERDEAD),
	NAME(ENOTRECOVERABLE), NAME(ERFKILL), NAME(EHWPOISON),
};
/* clang-format on */
#undef NAME

#define ERRNO_COUNT (sizeof(errno_names) / sizeof(errno_names[0]))

/* Node's and udg's own codes: name and message side by side. Messages are Node's where Node
 * has a fixed one; where Node builds the text from the arguments, the generic part is kept. */
struct code_text {
	int code;
	const char *name;
	const char *msg;
};

static const struct code_text udg_codes[] = {
	{ UDG_ERR_SOCKET_BAD_TYPE, "ERR_SOCKET_BAD_TYPE",
	  "Bad socket type specified. Valid types are: udp4, udp6" },
	{ UDG_ERR_INVALID_ARG_TYPE, "ERR_INVALID_ARG_TYPE",
	  "The argument is missing or of the wrong type" },
	{ UDG_ERR_OUT_OF_RANGE, "ERR_OUT_OF_RANGE", "The value is out of range" },
	{ UDG_ERR_SOCKET_BAD_PORT, "ERR_SOCKET_BAD_PORT", "Port should be > 0 and < 65536" },
	{ UDG_ERR_BUFFER_OUT_OF_BOUNDS, "ERR_BUFFER_OUT_OF_BOUNDS",
	  "\"offset\" or \"length\" is outside of buffer bounds" },
	{ UDG_ERR_SOCKET_ALREADY_BOUND, "ERR_SOCKET_ALREADY_BOUND", "Socket is already bound" },
	{ UDG_ERR_SOCKET_DGRAM_IS_CONNECTED, "ERR_SOCKET_DGRAM_IS_CONNECTED", "Already connected" },
	{ UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED, "ERR_SOCKET_DGRAM_NOT_CONNECTED", "Not connected" },
	{ UDG_ERR_SOCKET_DGRAM_NOT_RUNNING, "ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running" },
	{ UDG_ERR_MISSING_ARGS, "ERR_MISSING_ARGS",
	  "The \"multicastAddress\" argument must be specified" },
	{ UDG_ERR_SOCKET_BAD_BUFFER_SIZE, "ERR_SOCKET_BAD_BUFFER_SIZE",
	  "Buffer size must be a positive integer" },
	{ UDG_ERR_SOCKET_BUFFER_SIZE, "ERR_SOCKET_BUFFER_SIZE",
	  "Could not get or set buffer size" },
	{ UDG_ERR_INVALID_FD_TYPE, "ERR_INVALID_FD_TYPE", "Unsupported fd type" },
	{ UDG_ERR_INVALID_ARG_VALUE, "ERR_INVALID_ARG_VALUE",
	  "The argument is invalid (not a numeric address)" },
	{ UDG_ERR_ENOTFOUND, "ENOTFOUND", "Host name not found" },
	{ UDG_ERR_EAI_AGAIN, "EAI_AGAIN", "Temporary failure in name resolution" },
	{ UDG_ERR_EAI_FAIL, "EAI_FAIL", "Non-recoverable failure in name resolution" },
	{ UDG_ERR_IO_URING_UNAVAILABLE, "UDG_ERR_IO_URING_UNAVAILABLE",
	  "io_uring is unavailable: io_uring_setup was refused (blocked by a seccomp or container "
	  "policy, disabled by sysctl kernel.io_uring_disabled, or a kernel without io_uring)" },
	{ UDG_ERR_KERNEL_TOO_OLD, "UDG_ERR_KERNEL_TOO_OLD",
	  "The kernel lacks a required io_uring feature (provided buffer rings and multishot "
	  "recvmsg need Linux 6.0 or later)" },
	{ UDG_ERR_SEND_QUEUE_FULL, "UDG_ERR_SEND_QUEUE_FULL",
	  "All send slots of the loop are in use (raise udg_loop_options.send_slots)" },
	{ UDG_ERR_LOOP_CLOSED, "UDG_ERR_LOOP_CLOSED", "The loop is closing or closed" },
	{ UDG_ERR_LOOP_FORKED, "UDG_ERR_LOOP_FORKED",
	  "The loop was created before fork(): a child cannot use its parent's loops" },
};

#define UDG_CODE_COUNT (sizeof(udg_codes) / sizeof(udg_codes[0]))

/* The errno behind a -errno code, or 0 when code is not one we have a name for. The range
 * check comes before the negation so INT_MIN never overflows. */
static int errno_of(int code)
{
	if (code >= 0 || code <= -(int)ERRNO_COUNT)
		return 0;
	return errno_names[-code] ? -code : 0;
}

static const struct code_text *udg_code(int code)
{
	for (size_t i = 0; i < UDG_CODE_COUNT; i++) {
		if (udg_codes[i].code == code)
			return &udg_codes[i];
	}
	return NULL;
}

const char *udg_err_name(int code)
{
	int e = errno_of(code);
	if (e)
		return errno_names[e];
	const struct code_text *t = udg_code(code);
	return t ? t->name : "UNKNOWN";
}

const char *udg_strerror(int code)
{
	int e = errno_of(code);
	if (e) {
		/* glibc 2.32+: a static, thread-safe description (NULL only for unknown values). */
		const char *d = strerrordesc_np(e);
		return d ? d : "unknown error";
	}
	const struct code_text *t = udg_code(code);
	return t ? t->msg : "unknown error";
}
