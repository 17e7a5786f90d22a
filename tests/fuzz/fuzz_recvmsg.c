/* tests/fuzz/fuzz_recvmsg.c — libFuzzer target for the receive path's reading of a provided
 * buffer (udg__recv_parse, what the io_uring backend's deliver() runs on every CQE) and of its
 * control messages (udg__rmeta_parse): the recvmsg_out header, the source address, control
 * space and payload, with the kernel's fields fuzzed, at any alignment. The parse must never
 * read outside the buffer and must hand out spans inside it.
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
	static const unsigned controls[] = { 0, 16, 24, 64, 88, 256 };
	struct msghdr tmpl = {
		.msg_namelen = names[data[0] & 1],
		.msg_controllen = controls[(data[0] >> 1) % 6],
	};
	size_t len = size - 1;
	/* An exact-size copy, so any read past the end is caught; byte 0's top bit shifts it by
	 * one, since records in incremental buffers sit at any alignment. */
	size_t shift = (data[0] & 0x80) ? 1 : 0;
	unsigned char *mem = malloc(len + shift ? len + shift : 1);
	unsigned char *buf = mem + shift;
	memcpy(buf, data + 1, len);

	struct udg__recv_rec r;
	if (udg__recv_parse(buf, len, &tmpl, &r)) {
		const unsigned char *p = r.payload, *c = r.ctrl;
		if (p < buf || p + r.avail > buf + len)
			abort(); /* the payload span leaves the buffer */
		if (c < buf || c + r.ctrl_len > buf + len || r.ctrl_len > tmpl.msg_controllen)
			abort(); /* the control span leaves the buffer */
		if (r.rinfo.addr != &r.name.sa || r.rinfo.addrlen > tmpl.msg_namelen)
			abort(); /* the address is not the aligned copy */
		if (!r.rinfo.truncated && r.avail > r.rinfo.size)
			abort();
		if (r.rinfo.port < 0 || r.rinfo.port > 65535)
			abort();
		char text[UDG_ADDRSTRLEN];
		(void)udg_format_address(r.rinfo.addr, r.rinfo.addrlen, text, sizeof(text));
		/* What a socket with metadata and GRO does with the control bytes. */
		struct udg__rmeta m;
		udg__rmeta_parse(&m, r.ctrl, r.ctrl_len);
		if (m.ecn < 0 || m.ecn > 3 || m.gro_size < 0)
			abort();
		/* Touch every payload byte, as a message callback would. */
		volatile unsigned sum = 0;
		for (size_t i = 0; i < r.avail; i++)
			sum += p[i];
	}
	free(mem);
	return 0;
}
