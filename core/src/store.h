/*
 * store: the handle (roots, directory descriptors, the lock, config.json,
 * UI targets, kind maps, the blob backend chain). What it shares with the
 * modules above it beyond synapse/store.h.
 */
#ifndef SYNAPSE_SRC_STORE_H
#define SYNAPSE_SRC_STORE_H

#include <stdbool.h>

#include <jansson.h>

#include "synapse/store.h"

/**
 * Read @relpath under @dirfd into *@out (a new reference), messages naming
 * it as @root/@relpath. A missing file gives @fallback, which is stolen
 * either way (NULL then means SYN_ENOMEM); SYN_ECORRUPT, SYN_EIO.
 */
int syn__store_read_or_default(json_t **out, int dirfd, const char *root, const char *relpath, json_t *fallback);

/**
 * Remove the lock files a killed git left in state/.git (and its
 * refs/heads): taking the store lock proves no Synapse process is using
 * them. Each removed one is named ("state/.git/index.lock") in @removed
 * (may be NULL). A store without state/ has none. SYN_EIO naming the file.
 */
int syn__store_clear_stale_locks(struct syn_store *st, json_t *removed);

/**
 * The stale git locks that taking the store lock last removed, as a JSON
 * array of names (borrowed; NULL before the lock was first taken). Doctor
 * reports them.
 */
const json_t *syn__store_cleared_locks(const struct syn_store *st);

/* What a module above keeps with a handle. */
enum syn__cache_slot {
	SYN__CACHE_DIGESTS, /* the pack digests (digest.c) */
	SYN__CACHE_BLOBS,   /* which blobs the primary backend has, while held (blob.c) */
	SYN__CACHE_PROFILES, /* the profiles read while held (docs.c) */
	SYN__CACHE_RATE,     /* the command's download rate limit, over config.json's (install.c) */
	SYN__CACHE_GIT,      /* the thread loading libgit2 ahead of a commit (state.c) */
	SYN__CACHE_COMMIT,   /* a commit made on a thread (state.c): joined when the store lock is released */
	SYN__CACHE_SLOTS
};

/**
 * Keep @cache in @slot of @st until the handle is freed, when @release (may
 * be NULL) is called on it; an earlier one in the slot is released first.
 */
void syn__store_set_cache(struct syn_store *st, enum syn__cache_slot slot, void *cache, void (*release)(void *cache));

/** What syn__store_set_cache() last kept in @slot of @st, or NULL. */
void *syn__store_cache(const struct syn_store *st, enum syn__cache_slot slot);

/**
 * Hold @st (calls nest) for a stretch of work that reads many packs and
 * blobs, several times over, and changes none of them: while held, what a
 * module learned once about a pack's documents or a blob's presence is
 * trusted without looking again. syn__store_release() ends one hold.
 */
void syn__store_hold(struct syn_store *st);

/**
 * Hold @st (as syn__store_hold()) for a command that has just changed the
 * @nchanged packs named in @changed and nothing else that a view is planned
 * from (no other pack's documents; it may have added blobs but removed
 * none): until
 * the outermost hold ends, what the previous commands recorded about every
 * other pack (its digest, the blobs the views link) is taken as it is,
 * without looking at the disk, so refreshing the views costs what changed.
 * What a hand edit changed meanwhile is left to status and doctor, which
 * never trust. Only the outermost hold decides. SYN_ENOMEM.
 */
int syn__store_hold_trusting(struct syn_store *st, const char *const *changed, size_t nchanged);

/**
 * Whether @st is held trusting what was recorded about pack @pack; "" (no
 * pack's name) asks whether it is held trusting at all.
 */
bool syn__store_trusts(const struct syn_store *st, const char *pack);

/**
 * The packs the outermost hold was told changed (syn__store_hold_trusting()),
 * in *@packs, and their number; 0 when @st is not held trusting.
 */
size_t syn__store_untrusted(const struct syn_store *st, const char *const **packs);

/** Whether this handle holds the store lock (syn_store_lock()). */
bool syn__store_locked(const struct syn_store *st);

/**
 * While this handle holds the store lock, a number that is the same until
 * it lets the lock go and differs from every earlier holding's; 0 when it
 * does not hold it.
 */
unsigned syn__store_lock_number(const struct syn_store *st);

/** End one syn__store_hold() or syn__store_hold_trusting(). */
void syn__store_release(struct syn_store *st);

/**
 * While @st is held, a number that is the same for the whole outermost
 * hold and differs from every earlier one's; 0 when it is not held.
 */
unsigned syn__store_held(const struct syn_store *st);

/**
 * config.json ui.known of @config, checked: every entry a valid UI name, in
 * *@out (borrowed from @config; NULL when absent). SYN_ECORRUPT.
 */
int syn__store_enabled_uis(const struct syn_store *st, const json_t *config, const json_t **out);

/**
 * The enabled members of @set (named @name, from ui_sets.json) as a new
 * array in *@out: a set may name a UI that is not enabled (a default set, a
 * UI disabled since), which commands leave alone. @known is the checked
 * ui.known. SYN_ECORRUPT for an entry that is not a UI name, SYN_ENOMEM.
 */
int syn__store_enabled_members(const struct syn_store *st, const char *name, const json_t *set, const json_t *known,
			       json_t **out);

#endif
