/* tests/test_addr.c — address text in and out: literal parsing per family, IPv6 zones, text for
 * the resolver (every non-literal, as Node's isIP() decides), and Node-style formatting
 * (link-local "%ifname", mapped).
 * Calls the hidden udg__addr_* functions through the static library; needs the `lo` interface. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../engine/dgram/dgram.h"

struct parsed {
	int rc;
	struct sockaddr_storage ss;
	socklen_t len;
};

static struct parsed parse(int family, const char *text, int port)
{
	struct parsed p;
	memset(&p, 0xa5, sizeof(p));
	p.rc = udg__addr_parse(family, text, port, &p.ss, &p.len);
	return p;
}

static const char *fmt(const struct sockaddr_storage *ss, socklen_t len)
{
	static char buf[UDG_ADDRSTRLEN];
	int n = udg_format_address((const struct sockaddr *)ss, len, buf, sizeof(buf));
	cr_assert_geq(n, 0, "format failed: %d", n);
	cr_assert_eq((size_t)n, strlen(buf));
	return buf;
}

Test(addr, ipv4_literals_parse_for_udp4_with_the_port)
{
	const char *ok[] = { "127.0.0.1", "0.0.0.0", "255.255.255.255", "10.1.2.3", "239.1.2.3" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct parsed p = parse(AF_INET, ok[i], 4242);
		cr_assert_eq(p.rc, 0, "%s → %d", ok[i], p.rc);
		cr_assert_eq(p.len, sizeof(struct sockaddr_in));
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&p.ss;
		cr_expect_eq(sin->sin_family, AF_INET);
		cr_expect_eq(ntohs(sin->sin_port), 4242);
		cr_expect_str_eq(fmt(&p.ss, p.len), ok[i]);
	}
}

Test(addr, ipv6_literals_parse_for_udp6_and_format_canonically)
{
	const struct {
		const char *in, *out;
	} cases[] = {
		{ "::1", "::1" },
		{ "::", "::" },
		{ "2001:db8::1", "2001:db8::1" },
		{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1" },
		{ "ff02::1", "ff02::1" },
		{ "::ffff:127.0.0.1", "::ffff:127.0.0.1" },
		{ "fe80::1", "fe80::1" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parsed p = parse(AF_INET6, cases[i].in, 53);
		cr_assert_eq(p.rc, 0, "%s → %d", cases[i].in, p.rc);
		cr_assert_eq(p.len, sizeof(struct sockaddr_in6));
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&p.ss;
		cr_expect_eq(sin6->sin6_family, AF_INET6);
		cr_expect_eq(ntohs(sin6->sin6_port), 53);
		cr_expect_eq(sin6->sin6_scope_id, 0);
		cr_expect_str_eq(fmt(&p.ss, p.len), cases[i].out);
	}
}

Test(addr, zone_name_becomes_the_scope_id_and_formats_back_for_link_local)
{
	unsigned lo = if_nametoindex("lo");
	cr_assert_neq(lo, 0, "no lo interface");

	struct parsed p = parse(AF_INET6, "fe80::1%lo", 0);
	cr_assert_eq(p.rc, 0);
	cr_expect_eq(((struct sockaddr_in6 *)&p.ss)->sin6_scope_id, lo);
	cr_expect_str_eq(fmt(&p.ss, p.len), "fe80::1%lo");

	/* A zone on an address that is not link-local is kept in the sockaddr but never printed. */
	p = parse(AF_INET6, "::1%lo", 0);
	cr_assert_eq(p.rc, 0);
	cr_expect_eq(((struct sockaddr_in6 *)&p.ss)->sin6_scope_id, lo);
	cr_expect_str_eq(fmt(&p.ss, p.len), "::1");
	p = parse(AF_INET6, "::%lo", 0);
	cr_assert_eq(p.rc, 0);
	cr_expect_eq(((struct sockaddr_in6 *)&p.ss)->sin6_scope_id, lo);
}

Test(addr, unknown_zone_name_becomes_scope_zero)
{
	struct parsed p = parse(AF_INET6, "fe80::1%nosuchif0", 0);
	cr_assert_eq(p.rc, 0);
	cr_expect_eq(((struct sockaddr_in6 *)&p.ss)->sin6_scope_id, 0);
	cr_expect_str_eq(fmt(&p.ss, p.len), "fe80::1");
}

Test(addr, numeric_zone_is_einval)
{
	cr_expect_eq(parse(AF_INET6, "fe80::1%1", 0).rc, -EINVAL);
	cr_expect_eq(parse(AF_INET6, "fe80::1%12", 0).rc, -EINVAL);
}

Test(addr, link_local_with_unknown_interface_index_formats_the_number)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_scope_id = 987654 };
	cr_assert_eq(inet_pton(AF_INET6, "fe80::abcd", &sin6.sin6_addr), 1);
	char buf[UDG_ADDRSTRLEN];
	int n = udg_format_address((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
	cr_assert_eq(n, (int)strlen("fe80::abcd%987654"));
	cr_expect_str_eq(buf, "fe80::abcd%987654");
}

/* Interface names are cached per thread for a second (engine/dgram/addr.c): repeated formats
 * of a link-local sender give the same text, and a renamed interface shows its new name once
 * the cached entry has aged. Runs in a network namespace of its own (this test process only),
 * where `lo` is down and may be renamed. */
static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

Test(addr, link_local_interface_name_is_cached_and_refreshed_after_a_rename)
{
	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("no network namespace here (%s): needs CAP_SYS_ADMIN",
			     strerror(errno));
	unsigned lo = if_nametoindex("lo");
	cr_assert_neq(lo, 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_scope_id = lo };
	cr_assert_eq(inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr), 1);
	const struct sockaddr_storage *ss = (const struct sockaddr_storage *)(void *)&sin6;

	uint64_t first = mono_ns();
	for (int i = 0; i < 1000; i++)
		cr_assert_str_eq(fmt(ss, sizeof(sin6)), "fe80::1%lo");

	if (system("ip link set dev lo name udgrn0 2>/dev/null") != 0)
		cr_skip_test("cannot rename lo in the namespace (iproute2 missing?)");
	/* Within the second after the lookup the cached name is still served (only checked when
	 * this process was not descheduled past that second). */
	const char *now = fmt(ss, sizeof(sin6));
	if (mono_ns() - first < 900000000ull)
		cr_expect_str_eq(now, "fe80::1%lo", "the name was looked up again: %s", now);

	/* After the entry has aged, the new name appears (bounded wait, not a timing check). */
	for (int i = 0; i < 100 && strcmp(fmt(ss, sizeof(sin6)), "fe80::1%udgrn0") != 0; i++)
		usleep(50 * 1000);
	cr_expect_str_eq(fmt(ss, sizeof(sin6)), "fe80::1%udgrn0");
	/* errno is left alone on the cached path too. */
	errno = 12345;
	fmt(ss, sizeof(sin6));
	cr_expect_eq(errno, 12345);
}

Test(addr, literal_of_the_other_family_is_einval)
{
	cr_expect_eq(parse(AF_INET, "::1", 1).rc, -EINVAL);
	cr_expect_eq(parse(AF_INET, "fe80::1%lo", 1).rc, -EINVAL);
	cr_expect_eq(parse(AF_INET, "::ffff:127.0.0.1", 1).rc, -EINVAL);
	/* udp6 does not map IPv4 literals. */
	cr_expect_eq(parse(AF_INET6, "127.0.0.1", 1).rc, -EINVAL);
	cr_expect_eq(parse(AF_INET6, "0.0.0.0", 1).rc, -EINVAL);
}

/* Node's isIP() accepts only strict literals and hands every other string to dns.lookup; so
 * does udg: malformed literals, odd characters and over-long names all need the resolver,
 * which fails them asynchronously (ENOTFOUND, or EINVAL for a name over 255 characters). */
Test(addr, malformed_literals_are_not_literals_and_go_to_the_resolver)
{
	const char *text[] = {
		"256.1.1.1",
		"1.2.3.999",
		"1.2.3",
		"1.2.3.4.5",
		"1..2.3",
		"123",
		"::ffff:1.2.3",
		"fe80::1%",
		"::1%lo%lo",
		"1.2.3.4%lo",
		"%lo",
		":::",
		"1:2:3:4:5:6:7:8:9",
		"host name",
		"bad/char",
		"a..b",
		".leading",
		"exa$mple.com",
		"-",
	};
	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
			cr_expect_eq(parse(family, text[i], 1).rc, 1, "family %d '%s' → %d", family,
				     text[i], parse(family, text[i], 1).rc);
		}
	}
}

Test(addr, empty_or_null_text_is_invalid_arg_value)
{
	/* Callers substitute the default host first; the parser itself refuses nothing else. */
	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		cr_expect_eq(parse(family, "", 1).rc, UDG_ERR_INVALID_ARG_VALUE);
		cr_expect_eq(parse(family, NULL, 1).rc, UDG_ERR_INVALID_ARG_VALUE);
	}
}

Test(addr, text_of_any_length_goes_to_the_resolver)
{
	char name[300];
	/* 255 and 299 characters: the resolver, not the parser, decides (EINVAL past 255). */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[255] = '\0';
	cr_expect_eq(parse(AF_INET, name, 1).rc, 1);
	memset(name, 'a', sizeof(name));
	name[299] = '\0';
	cr_expect_eq(parse(AF_INET6, name, 1).rc, 1);
}

Test(addr, plausible_host_names_need_the_resolver)
{
	const char *names[] = { "localhost",
				"example.com",
				"example.com.",
				"my-host_1.lan",
				"1.2.3.example",
				"xn--bcher-kva.example",
				"a" };
	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			cr_expect_eq(parse(family, names[i], 1).rc, 1, "'%s'", names[i]);
	}
}

Test(addr, any_and_loopback_fill_each_family)
{
	struct sockaddr_storage ss;
	socklen_t len;

	udg__addr_any(AF_INET, 7, &ss, &len);
	cr_expect_str_eq(fmt(&ss, len), "0.0.0.0");
	cr_expect_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7);
	udg__addr_any(AF_INET6, 8, &ss, &len);
	cr_expect_str_eq(fmt(&ss, len), "::");
	cr_expect_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8);
	udg__addr_loopback(AF_INET, 9, &ss, &len);
	cr_expect_str_eq(fmt(&ss, len), "127.0.0.1");
	udg__addr_loopback(AF_INET6, 10, &ss, &len);
	cr_expect_str_eq(fmt(&ss, len), "::1");
	cr_expect_eq(len, sizeof(struct sockaddr_in6));
}

Test(addr, to_public_fills_address_family_and_port)
{
	struct parsed p = parse(AF_INET, "192.168.0.1", 65535);
	udg_address a;
	udg__addr_to_public((struct sockaddr *)&p.ss, p.len, &a);
	cr_expect_str_eq(a.address, "192.168.0.1");
	cr_expect_str_eq(a.family, "IPv4");
	cr_expect_eq(a.port, 65535);

	p = parse(AF_INET6, "fe80::2%lo", 1234);
	udg__addr_to_public((struct sockaddr *)&p.ss, p.len, &a);
	cr_expect_str_eq(a.address, "fe80::2%lo");
	cr_expect_str_eq(a.family, "IPv6");
	cr_expect_eq(a.port, 1234);

	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	udg__addr_to_public((struct sockaddr *)&un, sizeof(un), &a);
	cr_expect_str_eq(a.address, "");
	cr_expect_str_eq(a.family, "");
	cr_expect_eq(a.port, 0);
}

Test(addr, family_names_are_node_strings)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr un = { .sa_family = AF_UNIX };
	cr_expect_str_eq(udg_family_name((struct sockaddr *)&sin), "IPv4");
	cr_expect_str_eq(udg_family_name((struct sockaddr *)&sin6), "IPv6");
	cr_expect_str_eq(udg_family_name(&un), "");
	cr_expect_str_eq(udg_family_name(NULL), "");
}

Test(addr, format_rejects_bad_input_and_small_buffers)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	char buf[UDG_ADDRSTRLEN];

	cr_expect_eq(udg_format_address(NULL, sizeof(sin), buf, sizeof(buf)), -EINVAL);
	cr_expect_eq(udg_format_address((struct sockaddr *)&sin, sizeof(sin), NULL, 10), -EINVAL);
	cr_expect_eq(udg_format_address((struct sockaddr *)&sin, 4, buf, sizeof(buf)), -EINVAL);
	struct sockaddr un = { .sa_family = AF_UNIX };
	cr_expect_eq(udg_format_address(&un, sizeof(un), buf, sizeof(buf)), -EINVAL);
	/* "127.0.0.1" needs 10 bytes with its NUL */
	cr_expect_eq(udg_format_address((struct sockaddr *)&sin, sizeof(sin), buf, 9), -ENOSPC);
	cr_expect_eq(udg_format_address((struct sockaddr *)&sin, sizeof(sin), buf, 10), 9);
	cr_expect_str_eq(buf, "127.0.0.1");
}

Test(addr, ipv4_mapped_source_formats_as_node_shows_it)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(5) };
	cr_assert_eq(inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6.sin6_addr), 1);
	char buf[UDG_ADDRSTRLEN];
	cr_expect_gt(udg_format_address((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf)),
		     0);
	cr_expect_str_eq(buf, "::ffff:10.0.0.1");
}

Test(addr, parse_and_format_leave_errno_alone)
{
	errno = 4321;
	(void)parse(AF_INET6, "fe80::1%nosuchif0", 0);
	(void)parse(AF_INET, "256.1.1.1", 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_scope_id = 987654 };
	inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
	char buf[UDG_ADDRSTRLEN];
	(void)udg_format_address((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
	cr_expect_eq(errno, 4321);
}
