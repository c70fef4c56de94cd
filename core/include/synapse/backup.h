/*
 * synapse/backup.h - the backup: a second copy of the blobs, kept by the
 * backend config.json names (`backup.backend`, default `backup_path`, its
 * root `backup.path`, its settings `backup.<backend>`), backend 1 of the
 * store's chain (syn_store_backend_at()).
 *
 * Every command reads the backup configuration from config.json. Copies to
 * the backup go through the backend's put(), which writes a temporary
 * name, verifies and renames; each copy is then read back and re-hashed
 * before it counts. Copies from the backup go through syn_blob_insert_fd()
 * with the expected digest, so a corrupt backup copy is SYN_EMISMATCH and
 * nothing is written locally. Long copies run outside the store lock; the
 * lock is taken only to change config.json and to delete a copy, which
 * every delete asks the guard rails about first (no last copy of a blob a
 * pack needs, none whose remaining copy this command did not verify, no
 * local copy an active UI view links).
 *
 * A backup that is configured but cannot be reached (a drive unplugged, a
 * directory gone) answers SYN_ENETWORK; a full one SYN_ENOSPC.
 *
 * Bulk commands (pull, push, sync) treat each blob on its own: a failure is
 * recorded in the report's `errors` and the others go on (except after
 * SYN_ENETWORK: the backup is gone, the rest is not attempted). Such a run
 * fails with the first failure's code and still returns its report, so
 * what was done stays done and running it again finishes the job.
 *
 * Reports are new JSON references, the caller's. Shapes:
 *
 * status (syn_backup_status(), and the report of syn_backup_configure()):
 *     {enabled, backend, path, reachable, error, blobs, bytes, total_space,
 *      free_space, blobs_local_only, blobs_backup_only, blobs_both}
 *   `blobs`/`bytes` count only real blobs (what the backend lists, never
 *   manifests or temporary files); total_space/free_space are null when the
 *   backend cannot say; the counts are 0 and `error` says why when the
 *   backup is disabled or unreachable (error null otherwise).
 *
 * blob:    {sha256, copied, bytes, verified}
 * restore: {sha256, restored, bytes}
 * delete:  {sha256, deleted, bytes_freed, still_on_local, warnings}
 *   copied/restored are false when the copy was already there.
 *
 * pull, push, sync:
 *     {pack, direction, dry_run, items: [{sha256, size_bytes, dependency_id,
 *      display_name}], blobs_to_sync, bytes_to_sync, blobs_synced,
 *      bytes_synced, cleaned: [sha256], kept: [{sha256, reason}], errors}
 *   pack is null for sync; direction "to_backup" (push) or "from_backup"
 *   (pull); errors are strings "<sha256>: <message>" (or a message that
 *   concerns no single blob); kept lists local copies --cleanup left in
 *   place and why.
 */
#ifndef SYNAPSE_BACKUP_H
#define SYNAPSE_BACKUP_H

#include <jansson.h>

#include "common.h"
#include "store.h"

SYN_BEGIN_DECLS

/** Which way a bulk copy goes. */
enum syn_backup_direction {
	SYN_BACKUP_TO_BACKUP,  /**< local -> backup ("to_backup") */
	SYN_BACKUP_FROM_BACKUP /**< backup -> local ("from_backup") */
};

/** A change to config.json's backup section; NULL / -1 members leave it as it is. */
struct syn_backup_config {
	const char *path;    /**< backup.path: absolute, else SYN_EINVALID */
	int enabled;         /**< backup.enabled: 1, 0, or -1 to keep */
	const char *backend; /**< backup.backend: a backend class name */
};

/** How a bulk copy runs. */
struct syn_backup_options {
	bool execute; /**< copy; false = only report what would be copied */
	bool cleanup; /**< push with execute: remove each local copy once its backup copy is verified */
	bool all;     /**< sync: ask the destination about every blob one by one instead of listing it */
	/** Called after each blob with (sha256, display name or NULL, bytes done, bytes in all, @payload); may be NULL. */
	void (*progress)(const char *item, const char *file, uint64_t done, uint64_t total, void *payload);
	void *payload;
};

/**
 * The backup's status in *@out (shape above). Takes no lock and changes
 * nothing; an unreachable backup is a report (reachable false), not an
 * error. The errors of reading config.json, SYN_ENOMEM.
 */
SYN_EXTERN int syn_backup_status(struct syn_store *st, json_t **out);

/**
 * Change config.json's backup section as @cfg says (unknown keys kept),
 * atomically and under the store lock, as one commit "backup config";
 * then the status of the backup so configured in *@out. Enabling needs a
 * path (given or already set): SYN_EINVALID otherwise, as for a relative
 * path or an invalid backend name. Nothing to change is success.
 */
SYN_EXTERN int syn_backup_configure(struct syn_store *st, const struct syn_backup_config *cfg, json_t **out);

/**
 * Copy local blob @sha to the backup and verify the copy: *@out
 * {sha256, copied, bytes, verified}. A copy already there is re-hashed
 * (copied false); a corrupt one is SYN_EMISMATCH. SYN_EINVALID when the
 * backup is not enabled or @sha is no digest, SYN_ENOTFOUND when the local
 * store lacks the blob, SYN_ENETWORK, SYN_ENOSPC, SYN_EIO from the backend.
 */
SYN_EXTERN int syn_backup_blob(struct syn_store *st, const char *sha, json_t **out);

/**
 * Copy blob @sha from the backup into the local store, verified against
 * its name: *@out {sha256, restored, bytes}. Already local: restored
 * false. SYN_ENOTFOUND when the backup lacks it; SYN_EMISMATCH when the
 * backup's copy is corrupt (nothing is written locally); the errors of
 * syn_backup_blob().
 */
SYN_EXTERN int syn_backup_restore(struct syn_store *st, const char *sha, json_t **out);

/**
 * Delete the backup's copy of blob @sha: *@out {sha256, deleted,
 * bytes_freed, still_on_local, warnings}. Only with @confirm (SYN_EUSAGE
 * otherwise, saying so). The local copy, when there is one, is re-hashed
 * first; the guard rails then refuse (SYN_EGUARD, not overridden by
 * @confirm) to delete the backup copy of a blob packs need unless a
 * verified local copy remains. Under the store lock. SYN_ENOTFOUND when
 * the backup lacks it; the backup's errors.
 */
SYN_EXTERN int syn_backup_delete(struct syn_store *st, const char *sha, bool confirm, json_t **out);

/**
 * Pack @pack's locked blobs that the local store lacks and the backup has,
 * restored when @o->execute (shape above, direction "from_backup"). A
 * missing blob the backup lacks too is an error entry. SYN_ENOTFOUND for
 * an unknown pack; a pack without lock.json has nothing to pull.
 */
SYN_EXTERN int syn_backup_pull(struct syn_store *st, const char *pack, const struct syn_backup_options *o,
			       json_t **out);

/**
 * Pack @pack's locked blobs the local store has and the backup lacks,
 * copied and verified when @o->execute (direction "to_backup"). With
 * @o->cleanup (and execute) each of the pack's local blobs whose backup
 * copy is verified in this command is then removed, under the store lock,
 * unless a guard rail keeps it (a UI's active view links it): those are
 * listed in `kept`.
 */
SYN_EXTERN int syn_backup_push(struct syn_store *st, const char *pack, const struct syn_backup_options *o,
			       json_t **out);

/**
 * Every blob one side has and the other lacks, copied towards @dir when
 * @o->execute (pack null). With @o->all the destination is asked about
 * each blob instead of being listed.
 */
SYN_EXTERN int syn_backup_sync(struct syn_store *st, enum syn_backup_direction dir, const struct syn_backup_options *o,
			       json_t **out);

SYN_END_DECLS

#endif
