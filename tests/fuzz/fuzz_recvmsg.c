/* tests/fuzz/fuzz_recvmsg.c — libFuzzer target for the receive path's reading of a provided
 * buffer (udg__recv_parse, what engine/recv.c's deliver() runs on every CQE): the recvmsg_out
 * header, the source address, control space and payload, with the kernel's fields fuzzed. The
 * parse must never read outside the buffer and must hand out spans inside it.
 * Input: byte 0 picks the template (name and control space); the rest is the buffer. */
#include <stdlib.h>
#include <string.h>

#include "../../engine/backend/uring/uring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* The engine arms with room for a sockaddr_in6 and no control messages; the other
	 * templates cover a sockaddr_in-sized name and control space for future cmsgs. */
	static const unsigned names[] = { sizeof(struct sockaddr_in6), sizeof(struct sockaddr_in) };
	static const unsigned controls[] = { 0, 16, 24, 64, 256 };
	struct msghdr tmpl = {
		.msg_namelen = names[data[0] & 1],
		.msg_controllen = controls[(data[0] >> 1) % 5],
	};
	size_t len = size - 1;
	/* An exact-size copy, so any read past the end is caught. */
	unsigned char *buf = malloc(len ? len : 1);
	memcpy(buf, data + 1, len);

	udg_rinfo ri;
	const void *payload = NULL;
	size_t payload_len = 0;
	if (udg__recv_parse(buf, (int)len, &tmpl, &ri, &payload, &payload_len)) {
		const unsigned char *p = payload, *a = (const unsigned char *)ri.addr;
		if (p < buf || p + payload_len > buf + len)
			abort(); /* the payload span leaves the buffer */
		if (a < buf || a + tmpl.msg_namelen > buf + len || ri.addrlen > tmpl.msg_namelen)
			abort(); /* the address leaves the buffer */
		if (!ri.truncated && payload_len != ri.size && payload_len > ri.size)
			abort();
		if (ri.port < 0 || ri.port > 65535)
			abort();
		char text[UDG_ADDRSTRLEN];
		(void)udg_format_address(ri.addr, ri.addrlen, text, sizeof(text));
		/* Touch every payload byte, as a message callback would. */
		volatile unsigned sum = 0;
		for (size_t i = 0; i < payload_len; i++)
			sum += p[i];
	}
	free(buf);
	return 0;
}
