/*
 * synapse/state.h - the history of state/ as a git repository (libgit2).
 */
#ifndef SYNAPSE_STATE_H
#define SYNAPSE_STATE_H

#include <jansson.h>

#include "common.h"
#include "store.h"

SYN_BEGIN_DECLS

/**
 * Start loading libgit2 on a thread of its own (Debian's parses the
 * system's certificates as it starts), for a command that is about to
 * commit: its commit then finds it ready instead of waiting. Once per
 * handle; the thread is joined when @st is freed. Failing to start it is
 * not an error (the commit loads libgit2 itself).
 */
SYN_EXTERN void syn_state_prepare(struct syn_store *st);

/** Create state/.git when missing. Git objects are fsynced. */
SYN_EXTERN int syn_state_ensure_repo(struct syn_store *st);

/**
 * Commit every change under state/ (additions, edits, deletions; Synapse's
 * temporary files excluded) as one commit with @message on HEAD. Nothing
 * changed = no commit and success. The signature comes from git config,
 * else "Synapse <synapse@localhost>". Call with the store lock held.
 * @oid_out (optional, 41 bytes) receives the commit id, "" when none was made.
 */
SYN_EXTERN int syn_state_commit(struct syn_store *st, const char *message, char *oid_out);

/**
 * syn_state_commit() of what changed at @paths only: files or folders
 * relative to state/ (NULL-terminated; a folder means everything under it,
 * a path that no longer exists its removal). Only those are read, so the
 * cost follows the change, not the size of the store. Anything else that
 * changed under state/ is left for a later commit. NULL @paths = everything.
 */
SYN_EXTERN int syn_state_commit_paths(struct syn_store *st, const char *message, const char *const *paths,
				      char *oid_out);

/** Remove stale `*.lock` files in state/.git left by a killed commit. Call under the store lock. */
SYN_EXTERN int syn_state_clear_stale_locks(struct syn_store *st);

/**
 * The commits of state/, newest first, at most @limit (0 = all):
 * {"commits": [{"id", "time", "author", "message"}]}. A store without
 * state/.git has an empty history.
 */
SYN_EXTERN int syn_state_history(struct syn_store *st, size_t limit, json_t **out);

SYN_END_DECLS

#endif
