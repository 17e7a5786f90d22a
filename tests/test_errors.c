/* tests/test_errors.c — the error tables: every udg code and errno value has Node's name and a
 * message, names are unique, unknown codes read "UNKNOWN".
 * Pure table checks: no loop, no sockets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "udg.h"

static const int udg_codes[] = {
	UDG_ERR_SOCKET_BAD_TYPE,
	UDG_ERR_INVALID_ARG_TYPE,
	UDG_ERR_OUT_OF_RANGE,
	UDG_ERR_SOCKET_BAD_PORT,
	UDG_ERR_BUFFER_OUT_OF_BOUNDS,
	UDG_ERR_SOCKET_ALREADY_BOUND,
	UDG_ERR_SOCKET_DGRAM_IS_CONNECTED,
	UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED,
	UDG_ERR_SOCKET_DGRAM_NOT_RUNNING,
	UDG_ERR_MISSING_ARGS,
	UDG_ERR_SOCKET_BAD_BUFFER_SIZE,
	UDG_ERR_SOCKET_BUFFER_SIZE,
	UDG_ERR_INVALID_FD_TYPE,
	UDG_ERR_INVALID_ARG_VALUE,
	UDG_ERR_ENOTFOUND,
	UDG_ERR_EAI_AGAIN,
	UDG_ERR_EAI_FAIL,
	UDG_ERR_IO_URING_UNAVAILABLE,
	UDG_ERR_KERNEL_TOO_OLD,
	UDG_ERR_SEND_QUEUE_FULL,
	UDG_ERR_LOOP_CLOSED,
	UDG_ERR_LOOP_FORKED,
};
#define N_CODES (sizeof(udg_codes) / sizeof(udg_codes[0]))

/* Linux errno values run 1..133; 41 and 58 are unused (EWOULDBLOCK and EDEADLOCK are
 * aliases). */
#define ERRNO_MAX 133
static bool errno_unused(int e)
{
	return e == 41 || e == 58;
}

Test(errors, every_udg_code_has_a_name_and_a_message)
{
	for (size_t i = 0; i < N_CODES; i++) {
		int c = udg_codes[i];
		cr_expect_str_neq(udg_err_name(c), "UNKNOWN", "code %d has no name", c);
		cr_expect_str_neq(udg_strerror(c), "unknown error", "code %d has no message", c);
		cr_expect_gt(strlen(udg_strerror(c)), 0);
	}
}

Test(errors, node_codes_carry_node_names_and_messages)
{
	cr_expect_str_eq(udg_err_name(UDG_ERR_SOCKET_BAD_PORT), "ERR_SOCKET_BAD_PORT");
	cr_expect_str_eq(udg_err_name(UDG_ERR_SOCKET_DGRAM_NOT_RUNNING),
			 "ERR_SOCKET_DGRAM_NOT_RUNNING");
	cr_expect_str_eq(udg_err_name(UDG_ERR_ENOTFOUND), "ENOTFOUND");
	cr_expect_str_eq(udg_err_name(UDG_ERR_EAI_AGAIN), "EAI_AGAIN");
	cr_expect_str_eq(udg_err_name(UDG_ERR_EAI_FAIL), "EAI_FAIL");
	cr_expect_str_eq(udg_err_name(UDG_ERR_IO_URING_UNAVAILABLE),
			 "UDG_ERR_IO_URING_UNAVAILABLE");
	cr_expect_str_eq(udg_strerror(UDG_ERR_SOCKET_DGRAM_NOT_RUNNING), "Not running");
	cr_expect_str_eq(udg_strerror(UDG_ERR_SOCKET_ALREADY_BOUND), "Socket is already bound");
	cr_expect_str_eq(udg_strerror(UDG_ERR_SOCKET_DGRAM_IS_CONNECTED), "Already connected");
	cr_expect_str_eq(udg_strerror(UDG_ERR_SOCKET_DGRAM_NOT_CONNECTED), "Not connected");
	cr_expect_str_eq(udg_strerror(UDG_ERR_SOCKET_BAD_TYPE),
			 "Bad socket type specified. Valid types are: udp4, udp6");
	cr_expect_str_eq(udg_strerror(UDG_ERR_SOCKET_BAD_PORT), "Port should be > 0 and < 65536");
	cr_expect_str_eq(udg_strerror(UDG_ERR_SOCKET_BAD_BUFFER_SIZE),
			 "Buffer size must be a positive integer");
}

Test(errors, io_uring_unavailable_message_says_why)
{
	const char *m = udg_strerror(UDG_ERR_IO_URING_UNAVAILABLE);
	cr_expect(strstr(m, "io_uring_setup") != NULL, "%s", m);
	cr_expect(strstr(m, "seccomp") != NULL, "%s", m);
	cr_expect(strstr(m, "kernel.io_uring_disabled") != NULL, "%s", m);
}

Test(errors, negative_errno_values_have_their_errno_names)
{
	cr_expect_str_eq(udg_err_name(-EADDRINUSE), "EADDRINUSE");
	cr_expect_str_eq(udg_err_name(-EBADF), "EBADF");
	cr_expect_str_eq(udg_err_name(-EMSGSIZE), "EMSGSIZE");
	cr_expect_str_eq(udg_err_name(-ECANCELED), "ECANCELED");
	cr_expect_str_eq(udg_err_name(-ECONNREFUSED), "ECONNREFUSED");
	cr_expect_str_eq(udg_err_name(-ENOBUFS), "ENOBUFS");
	cr_expect_str_eq(udg_err_name(-EAGAIN), "EAGAIN");
	cr_expect_str_eq(udg_err_name(-EWOULDBLOCK), "EAGAIN");
	cr_expect_str_eq(udg_err_name(-EADDRNOTAVAIL), "EADDRNOTAVAIL");
	cr_expect_str_eq(udg_err_name(-EINVAL), "EINVAL");
	cr_expect_str_eq(udg_err_name(-EPERM), "EPERM");
	cr_expect_str_eq(udg_err_name(-EHWPOISON), "EHWPOISON");
	cr_expect_str_eq(udg_strerror(-EADDRINUSE), "Address already in use");
	cr_expect_str_eq(udg_strerror(-EBADF), "Bad file descriptor");
}

Test(errors, every_errno_value_has_a_name_and_a_message)
{
	for (int e = 1; e <= ERRNO_MAX; e++) {
		if (errno_unused(e))
			continue;
		const char *n = udg_err_name(-e);
		cr_expect_str_neq(n, "UNKNOWN", "errno %d has no name", e);
		cr_expect_eq(n[0], 'E', "errno %d name %s", e, n);
		cr_expect_str_neq(udg_strerror(-e), "unknown error", "errno %d has no message", e);
	}
}

Test(errors, unknown_codes_read_unknown)
{
	const int unknown[] = { 0,     1,     EINVAL, -41,   -58,     -134,    -4095,
				-5000, -5018, -5099,  -5105, -100000, INT_MIN, INT_MAX };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		cr_expect_str_eq(udg_err_name(unknown[i]), "UNKNOWN", "code %d", unknown[i]);
		cr_expect_str_eq(udg_strerror(unknown[i]), "unknown error", "code %d", unknown[i]);
	}
}

Test(errors, names_are_unique_across_udg_codes_and_errno)
{
	const char *names[N_CODES + ERRNO_MAX];
	size_t n = 0;

	for (size_t i = 0; i < N_CODES; i++)
		names[n++] = udg_err_name(udg_codes[i]);
	for (int e = 1; e <= ERRNO_MAX; e++) {
		if (!errno_unused(e))
			names[n++] = udg_err_name(-e);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++)
			cr_expect_str_neq(names[i], names[j], "duplicate name %s", names[i]);
	}
}

Test(errors, lookups_leave_errno_alone)
{
	errno = 12345;
	(void)udg_err_name(-EBADF);
	(void)udg_strerror(-EBADF);
	(void)udg_strerror(-200);
	(void)udg_strerror(UDG_ERR_LOOP_CLOSED);
	cr_expect_eq(errno, 12345);
}
