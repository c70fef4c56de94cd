/*
 * docs: the one owner of the documents under state/ that commands read and
 * write (each pack's pack.json and lock.json, each profile's profile.json)
 * and of data/runtime.json. Callers name a pack or a profile; where its
 * document lives is known here only.
 */
#ifndef SYNAPSE_SRC_DOCS_H
#define SYNAPSE_SRC_DOCS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "synapse/hash.h"
#include "synapse/store.h"

/**
 * Read state/packs/@name/@file into *@out (a new reference, NULL on error).
 * @name is not checked. SYN_ENOTFOUND when the file is missing, SYN_ECORRUPT
 * when it does not parse; messages show the full path.
 */
int syn__docs_pack_read(struct syn_store *st, const char *name, const char *file, json_t **out);

/**
 * Write @doc (borrowed) atomically as state/packs/@name/@file, creating the
 * pack's directory. @name is not checked. SYN_EIO, SYN_ENOMEM.
 */
int syn__docs_pack_write(struct syn_store *st, const char *name, const char *file, const json_t *doc);

/**
 * Write pack @name's pack.json and lock.json (@pack, @lock: borrowed). A
 * new pack comes whole: both in a folder of their own, renamed into
 * state/packs/@name in one step, so a kill midway leaves no pack folder
 * without its pack.json (only a temporary that doctor removes). An
 * existing pack's documents are replaced one after the other. @name is not
 * checked. SYN_EIO, SYN_ENOMEM, SYN_EEXISTS.
 */
int syn__docs_pack_write_both(struct syn_store *st, const char *name, const json_t *pack, const json_t *lock);

/**
 * Remove pack @name's directory (not checked) with its documents; a pack
 * that has none is success. SYN_EIO.
 */
int syn__docs_pack_remove(struct syn_store *st, const char *name);

/**
 * Pack @name's pack.json into *@out (a new reference): the name checked
 * (SYN_EINVALID), the store initialized (SYN_ENOTINIT), SYN_ENOTFOUND
 * naming the pack when it has none, SYN_ECORRUPT.
 */
int syn__docs_pack_load(struct syn_store *st, const char *name, json_t **out);

/**
 * Pack @name's lock.json into *@out (a new reference); a pack without one
 * is success with *@out NULL. SYN_ECORRUPT, SYN_EIO.
 */
int syn__docs_lock_load(struct syn_store *st, const char *name, json_t **out);

/** The dependency of @pack (a pack.json) whose id is @id, borrowed; NULL when none is. */
const json_t *syn__docs_dependency(const json_t *pack, const char *id);

/** The "resolved" entry of @lock (a lock.json) for dependency @id, borrowed; NULL when none is. */
const json_t *syn__docs_lock_entry(const json_t *lock, const char *id);

/**
 * The names of the packs (the valid names of the directories in state/packs), sorted,
 * into *@out (a new array). SYN_ENOMEM.
 */
int syn__docs_pack_names(struct syn_store *st, json_t **out);

/**
 * Whether pack @name (not checked) has a pack.json, in *@exists (false on
 * error). SYN_ENOMEM.
 */
int syn__docs_pack_exists(struct syn_store *st, const char *name, bool *exists);

/**
 * Read state/profiles/@name/profile.json into *@out (a new reference) as it
 * is: the name checked (SYN_EINVALID), SYN_ENOTFOUND naming the file when it
 * is missing, SYN_ECORRUPT.
 */
int syn__docs_profile_read(struct syn_store *st, const char *name, json_t **out);

/**
 * Profile @name's document into *@out (a new reference), as commands load
 * it: like syn__docs_profile_read(), but SYN_ENOTFOUND says "profile '@name'
 * not found".
 */
int syn__docs_profile_load(struct syn_store *st, const char *name, json_t **out);

/**
 * Profile @name's document as syn__docs_profile_load() gives it, in *@out
 * (borrowed: valid until the store's outermost hold ends; not to be
 * changed), read once per hold (syn__store_hold()) however often it is
 * asked for. Only while the store is held (SYN_EINVALID otherwise); the
 * errors of syn__docs_profile_load().
 */
int syn__docs_profile_peek(struct syn_store *st, const char *name, const json_t **out);

/** A profile's pack names, in order. */
struct syn__names {
	const char *const *v;
	size_t n;
};

/**
 * The names of profile @name's packs in order (each of its "packs"' "name",
 * "" for one without), in *@out (borrowed: valid while the store is held,
 * as syn__docs_profile_peek(); a write of the profile by this handle under
 * the same lock keeps them valid). Read from the text without building its
 * JSON when the text is plain (docs.c); the errors of
 * syn__docs_profile_peek() otherwise.
 */
int syn__docs_profile_packs(struct syn_store *st, const char *name, const struct syn__names **out);

/**
 * Put pack @name (checked by the caller) at the end of the global profile
 * (@add: a place it had before is dropped) or take it out of it (every
 * place), in one atomic write, none when nothing changes. A plain text
 * (docs.c) is edited in place, every other byte kept; anything else is
 * loaded and written as a document (a missing profile is the default one).
 * *@was_there (may be NULL): whether it was there. Under the store lock;
 * SYN_EIO, SYN_ENOMEM, the errors of loading the profile.
 */
int syn__docs_global_edit(struct syn_store *st, const char *name, bool add, bool *was_there);

/**
 * Write @doc (borrowed) atomically as profile @name's profile.json, creating
 * its directory. @name is not checked (callers have). Under the store lock
 * the handle keeps @doc, which must not change after: a peek under the
 * same lock (syn__docs_profile_peek()) takes it instead of reading the file
 * again, while the file is still the one written. SYN_EIO, SYN_ENOMEM.
 */
int syn__docs_profile_write(struct syn_store *st, const char *name, const json_t *doc);

/**
 * data/runtime.json into *@out (a new reference). A missing file (or a
 * missing data/) gives the default runtime of @config; a corrupt one is
 * SYN_ECORRUPT naming it.
 */
int syn__docs_runtime_read(struct syn_store *st, const json_t *config, json_t **out);

/** Write @runtime (borrowed) atomically as data/runtime.json. SYN_EIO, SYN_ENOMEM. */
int syn__docs_runtime_write(struct syn_store *st, const json_t *runtime);

/**
 * Append to @out a signature of config.json and profile @profile's
 * document (checked by the caller) from their file metadata. The errors of
 * opening state/, SYN_ENOMEM.
 */
int syn__docs_profile_sig(struct syn_store *st, const char *profile, struct syn_buf *out);

/**
 * A stamp of profile @name's document from its file metadata (device,
 * inode, size, modification time), never 0; 0 when it cannot vouch for the
 * content: the document is missing, @name is not a profile's, or it changed
 * within the last two seconds (a second change within the same clock tick
 * would not show). Leaves no error set.
 */
uint64_t syn__docs_profile_stamp(struct syn_store *st, const char *name);

/**
 * A stamp of pack @name's pack.json and lock.json from their file metadata
 * (device, inode, size, modification time; a missing file counts as such):
 * it changes when either is rewritten or edited. 0 for a name that is not
 * a pack's. *@settled (may be NULL) says whether it can vouch for their
 * content (syn_fs_settled() of both). Leaves no error set.
 */
uint64_t syn__docs_pack_stamp(struct syn_store *st, const char *name, bool *settled);

/**
 * An even cheaper key for use/back, in @hex: every change Synapse makes to
 * state/ is a commit, which rewrites the branch HEAD names; with
 * config.json and the profile that covers what Synapse changed. Hand edits
 * of a pack are caught by syn__digest_source_key(), which status and doctor
 * check. "" when state/ has no git history yet. The errors of opening
 * state/.
 */
int syn__docs_generation_key(struct syn_store *st, const char *profile, char hex[SYN_SHA256_HEX_LEN + 1]);

#endif
