/* Process-wide initialization. */
#include "synapse/synapse.h"

int syn_global_init(void)
{
	/* nothing heavy here: libgit2 and libcurl are loaded by the first command that needs them */
	return 0;
}

void syn_global_shutdown(void)
{
}
