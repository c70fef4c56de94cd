/*
 * guard: what uses a blob - the packs that reference it, the UIs whose
 * active view links it, the user's files that adopt --move replaced by a
 * link to it - and whether a copy of it may be deleted. Every
 * command that removes blob bytes (inventory delete and cleanup, backup
 * delete, push --cleanup) asks syn__guard_delete() first.
 */
#ifndef SYNAPSE_SRC_GUARD_H
#define SYNAPSE_SRC_GUARD_H

#include <stdbool.h>

#include <jansson.h>

#include "synapse/store.h"

#include "digest.h"

/**
 * Every blob the packs reference, in *@out (a new object):
 *     {"<sha256>": [{"pack", "dependency_id", "kind", "expose_filename",
 *                    "size_bytes", "origin": {"provider", "model_id",
 *                    "version_id", "file_id", "filename", "repo_id"}}]}
 * from each pack's lock.json ("resolved" entries with a digest) joined with
 * its pack.json. A pack that cannot be read adds a message to @warnings
 * (may be NULL) and references nothing: it must not make its blobs look
 * unreferenced, so *@unreadable (may be NULL) is then set and callers that
 * delete refuse to treat anything as an orphan. SYN_ENOMEM.
 */
int syn__guard_references(struct syn_store *st, json_t **out, json_t *warnings, bool *unreadable);

/**
 * Call @fn with @arg for the digest of every pack, in name order, stopping
 * at its first failure. A pack that cannot be read is skipped: its message
 * goes to @warnings (may be NULL) and *@unreadable (may be NULL) is set, so
 * that callers that delete treat nothing as an orphan. SYN_ENOMEM and
 * what @fn answers.
 */
int syn__guard_each_pack(struct syn_store *st, int (*fn)(const struct syn__pack_digest *d, void *arg), void *arg,
			 json_t *warnings, bool *unreadable);

/**
 * The "origin" of lock entry @e as a reference shows it (a new object), or
 * NULL without memory.
 */
json_t *syn__guard_origin(const struct syn__digest_entry *e);

/**
 * Every blob linked from a UI's active view, in *@out (a new object):
 * {"<sha256>": ["comfyui", ...]}, over every UI config.json knows. The
 * errors of reading config.json and the views' manifests.
 */
int syn__guard_active(struct syn_store *st, json_t **out);

/** Copies of a blob, as bits. */
#define SYN__COPY_LOCAL 0x1u
#define SYN__COPY_BACKUP 0x2u

/**
 * Remember that the user's file @path (absolute) is now a link to the local
 * copy of blob @sha, as adopt --move leaves it: in data/adopted-links.json,
 * which syn__guard_delete() reads. The store lock must be held. The errors
 * of writing it.
 */
int syn__guard_note_moved(struct syn_store *st, const char *sha, const char *path);

/**
 * Whether removing the copies @target (SYN__COPY_* bits) of blob @sha may
 * go ahead. @held says which copies exist, @verified which of them this
 * command re-hashed and found good; @refs and @active are what
 * syn__guard_references() and syn__guard_active() gave (borrowed).
 * Refused, SYN_EGUARD with a message naming the reason and --force, when
 * the local copy would go while a UI's active view links it, or while a
 * file adopt --move replaced by a link still links to it; when packs
 * reference the blob and no copy would remain; when packs reference it and
 * the copy that would remain was not verified by this command. With @force
 * each refusal becomes a warning appended to @warnings and the answer is 0.
 */
int syn__guard_delete(struct syn_store *st, const char *sha, unsigned int target, unsigned int held,
		      unsigned int verified,
		      const json_t *refs, const json_t *active, bool force, json_t *warnings);

#endif
