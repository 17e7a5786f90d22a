/* tests/test_abi.c — the growable public structs (docs/abi.md): each *_init() zeroes the
 * reserved tail whatever the memory held, udg_loop_stats_get() fills the stats tail with zeros,
 * and a loop accepts options with a zeroed tail. The sizes themselves are the 'abi_baseline' test's
 * business (tests/api/check-abi.py). */
#include <criterion/criterion.h>
#include <string.h>

#include "support.h"

#define EXPECT_ZERO_TAIL(st)                                                                     \
	do {                                                                                     \
		for (size_t i_ = 0; i_ < sizeof((st).reserved) / sizeof((st).reserved[0]); i_++) \
			cr_expect_eq((st).reserved[i_], 0, #st ".reserved[%zu] = %llx", i_,      \
				     (unsigned long long)(st).reserved[i_]);                     \
	} while (0)

Test(abi, loop_options_init_zeroes_the_reserved_tail)
{
	udg_loop_options o;
	memset(&o, 0xa5, sizeof(o));
	udg_loop_options_init(&o);
	EXPECT_ZERO_TAIL(o);
	cr_expect_eq(o.sq_entries, 256);
	udg_loop *loop = new_loop_opts(&o);
	cr_assert_eq(udg_loop_close(loop), 0);
}

Test(abi, socket_and_bind_options_init_zero_the_reserved_tail)
{
	udg_socket_options so;
	udg_bind_options bo;
	memset(&so, 0xa5, sizeof(so));
	memset(&bo, 0xa5, sizeof(bo));
	udg_socket_options_init(&so, UDG_UDP6);
	udg_bind_options_init(&bo);
	EXPECT_ZERO_TAIL(so);
	EXPECT_ZERO_TAIL(bo);
	cr_expect_eq(so.type, UDG_UDP6);
	cr_expect_eq(bo.fd, -1);
}

Test(abi, stats_get_fills_the_reserved_tail_with_zeros)
{
	udg_loop *loop = new_loop();
	udg_loop_stats st;
	memset(&st, 0xa5, sizeof(st));
	cr_assert_eq(udg_loop_run(loop, UDG_RUN_NOWAIT), 0);
	udg_loop_stats_get(loop, &st);
	EXPECT_ZERO_TAIL(st);
	cr_expect_geq(st.iterations, 1);
	cr_assert_eq(udg_loop_close(loop), 0);
}
