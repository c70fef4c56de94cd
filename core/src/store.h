/*
 * store: the handle (roots, directory descriptors, the lock, config.json,
 * UI targets, kind maps, the blob backend chain). What it shares with the
 * modules above it beyond synapse/store.h.
 */
#ifndef SYNAPSE_SRC_STORE_H
#define SYNAPSE_SRC_STORE_H

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

/**
 * Keep @cache with @st until the handle is freed, when @release (may be
 * NULL) is called on it; an earlier cache is released first. One handle
 * has one such slot; the pack digests use it.
 */
void syn__store_set_cache(struct syn_store *st, void *cache, void (*release)(void *cache));

/** What syn__store_set_cache() last kept with @st, or NULL. */
void *syn__store_cache(const struct syn_store *st);

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
