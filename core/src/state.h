/*
 * state.h - what the core asks of the state history beyond synapse/state.h:
 * a commit made on a thread of its own while the command goes on, and the
 * packing of what commits leave loose.
 */
#ifndef SYN_STATE_INTERNAL_H
#define SYN_STATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synapse/store.h"

/**
 * syn_state_commit_paths() on a thread of its own, while the command goes
 * on with what does not read the history (a view's plan): 0 once it is
 * started (or, when no thread can be, made), else its errors. One at a
 * time per handle: a commit still running is finished first. Every
 * command that starts one asks syn__state_commit_finish() for its result
 * before it releases the store lock (the release waits for a commit still
 * running, and its result is lost).
 */
int syn__state_commit_start(struct syn_store *st, const char *message, const char *const *paths);

/** Whether a commit syn__state_commit_start() began on @st has not been waited for yet. */
bool syn__state_commit_running(const struct syn_store *st);

/** Wait until that commit is made (what reads HEAD sees it then); its result is kept for the finish. */
void syn__state_commit_join(struct syn_store *st);

/**
 * Wait for the commit syn__state_commit_start() began on @st, if any, and
 * forget it: @rc when it is nonzero (a failure the caller had first, its
 * message kept), else the commit's result (0 when there was none).
 */
int syn__state_commit_finish(struct syn_store *st, int rc);

/**
 * Pack the loose objects of state/.git into one pack, when there are at
 * least @at_least of them, then remove each loose file the new pack holds:
 * how many in *@packed, their bytes in *@freed (both 0 when nothing was
 * packed). The caller holds the store lock; readers of the history go on
 * meanwhile (a reader that misses a loose object finds it in the pack).
 */
int syn__state_pack(struct syn_store *st, size_t at_least, size_t *packed, uint64_t *freed);

#endif
