/* Process-wide initialization. */
#include <git2.h>

#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/synapse.h"

int syn_global_init(void)
{
	if (git_libgit2_init() < 0)
		return syn_error_set(SYN_ERROR, "cannot initialize libgit2");
	/* state/ is the source of truth: its git objects must survive a crash too */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, syn_fs_fsync_enabled() ? 1 : 0);
	return 0;
}

void syn_global_shutdown(void)
{
	git_libgit2_shutdown();
}
