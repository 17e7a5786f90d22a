/* engine/version.c — the run-time version string. */
#include "core.h"

UDG_EXPORT const char *udg_version(void)
{
	return UDG_VERSION_STRING;
}
