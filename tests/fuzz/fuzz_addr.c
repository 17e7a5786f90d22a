/* tests/fuzz/fuzz_addr.c — libFuzzer target for address text and raw sockaddrs: udg__addr_parse
 * on arbitrary text for both families, the parse → format → parse round trip for every literal
 * it accepts, and udg_format_address on arbitrary bytes, lengths and buffer sizes.
 * Input: byte 0 picks the family and buffer size, the rest is the text (or the sockaddr). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/dgram/dgram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(int family, const struct sockaddr_storage *ss, socklen_t len)
{
	char text[UDG_ADDRSTRLEN];
	int n = udg_format_address((const struct sockaddr *)ss, len, text, sizeof(text));
	if (n < 0 || (size_t)n != strlen(text))
		abort(); /* a parsed literal must always format */
	struct sockaddr_storage again;
	socklen_t again_len = 0;
	int port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	int r = udg__addr_parse(family, text, port, &again, &again_len);
	if (r == -EINVAL && strchr(text, '%'))
		return; /* "%<index>" of an interface that is gone: numeric zones are refused */
	if (r != 0 || again_len != len || again.ss_family != ss->ss_family)
		abort();
	if (family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss, *b = (const void *)&again;
		if (a->sin_addr.s_addr != b->sin_addr.s_addr || a->sin_port != b->sin_port)
			abort();
	} else {
		const struct sockaddr_in6 *a = (const void *)ss, *b = (const void *)&again;
		if (memcmp(&a->sin6_addr, &b->sin6_addr, 16) != 0 || a->sin6_port != b->sin6_port)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++, size--;

	/* 1. The bytes as address text, for both families. */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;
		struct sockaddr_storage ss;
		socklen_t len = 0;
		int errno_before = errno = 1234;
		int r = udg__addr_parse(family, text, (ctl * 257) & 0xffff, &ss, &len);
		if (errno != errno_before)
			abort();
		if (r != 0 && r != 1 && r != -EINVAL && r != UDG_ERR_INVALID_ARG_VALUE)
			abort();
		/* Node's contract: only empty text is refused; any other non-literal is for the
		 * resolver (1), never a synchronous error. */
		if ((r == UDG_ERR_INVALID_ARG_VALUE) != (text[0] == '\0'))
			abort();
		if (r == 0)
			check_round_trip(family, &ss, len);
	}
	free(text);

	/* 2. The bytes as a raw sockaddr of any claimed length, into a buffer of any size. */
	struct sockaddr_storage raw;
	memset(&raw, 0, sizeof(raw));
	memcpy(&raw, data, size < sizeof(raw) ? size : sizeof(raw));
	socklen_t raw_len = (socklen_t)(size < sizeof(raw) ? size : sizeof(raw));
	size_t buflen = ctl % (UDG_ADDRSTRLEN + 2);
	char *out = malloc(buflen ? buflen : 1);
	int n = udg_format_address((const struct sockaddr *)&raw, raw_len, buflen ? out : NULL,
				   buflen);
	if (n >= 0 && ((size_t)n >= buflen || strlen(out) != (size_t)n))
		abort();
	if (n < 0 && n != -EINVAL && n != -ENOSPC)
		abort();
	udg_address pub;
	udg__addr_to_public((const struct sockaddr *)&raw, raw_len, &pub);
	if (strnlen(pub.address, sizeof(pub.address)) == sizeof(pub.address))
		abort();
	(void)udg_family_name((const struct sockaddr *)&raw);
	free(out);
	return 0;
}
