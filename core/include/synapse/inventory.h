/*
 * synapse/inventory.h - the blobs a store holds, what uses them, and
 * removing the ones nothing needs.
 *
 * Only real blobs count: what the backends list as blobs (the primary's
 * `local`, and the backup when config.json backup.enabled), never a
 * manifest, a partial download or a temporary file. A blob is
 *   referenced   stored locally and named by some pack's lock
 *   orphan       stored (locally or on the backup) and named by no lock
 *   missing      named by a lock, stored nowhere that could be asked
 *   backup_only  named by a lock, stored only on the backup
 * and its location is local_only | backup_only | both | nowhere, or
 * "unknown" while the backup cannot be reached (on_backup is then null:
 * an unreachable backup never counts as "not on the backup").
 *
 * An item:
 *     {"sha256", "kind", "display_name", "size_bytes", "location",
 *      "on_local": bool, "on_backup": bool | null, "status",
 *      "used_by_packs": ["P", ...], "ref_count", "origin": {...} | null,
 *      "active_in_uis": ["comfyui", ...]}
 * kind, display_name and origin come from the first pack reference (its
 * exposed file name), else from the blob's manifest, else "unknown",
 * "<sha[:12]>..." and null. size_bytes is the local file's size, else the
 * backup's, else the size a lock records, else 0. active_in_uis names the
 * UIs whose active view links the blob.
 *
 * Every removal passes the guard rails: a blob linked from a UI's active
 * view keeps its local copy; the last copy of a blob a pack needs is kept;
 * a referenced blob loses a copy only when the copy that remains was
 * re-hashed by the same command. --force turns each refusal into a warning.
 * Refusals are SYN_EGUARD.
 */
#ifndef SYNAPSE_INVENTORY_H
#define SYNAPSE_INVENTORY_H

#include <stddef.h>

#include <jansson.h>

#include "common.h"
#include "doc.h"
#include "store.h"

SYN_BEGIN_DECLS

/** Which copies of a blob syn_inventory_delete() removes. */
#define SYN_INVENTORY_LOCAL 0x1u
#define SYN_INVENTORY_BACKUP 0x2u
#define SYN_INVENTORY_BOTH (SYN_INVENTORY_LOCAL | SYN_INVENTORY_BACKUP)

/**
 * The inventory in *@out (a new object), items of kind @kind and status
 * @status only (each NULL for all; an unknown status is SYN_EINVALID):
 *     {"generated_at": local ISO time, "summary", "items": [item],
 *      "warnings": ["pack 'P' cannot be read ...", ...]}
 * items sorted by size, largest first (then by digest). The summary is over
 * the items shown:
 *     {"blobs_total", "blobs_referenced", "bytes_referenced",
 *      "blobs_orphan", "bytes_orphan", "blobs_missing",
 *      "blobs_backup_only", "bytes_total" (the items stored locally),
 *      "bytes_by_kind": {kind: bytes}, "bytes_by_status": {status: bytes},
 *      "disk_total", "disk_free" (the primary's space(), null when it
 *      cannot say),
 *      "dedup": {"bytes_as_copies" (each local referenced blob's size
 *                times its references: what one copy per use would take),
 *                "bytes_stored" (those blobs, once each), "bytes_saved"},
 *      "backup": {"enabled", "reachable", "error" (null or why not),
 *                 "blobs_on_backup", "bytes_on_backup" (null when not
 *                 reachable)}}
 * Takes no lock; changes nothing.
 */
SYN_EXTERN int syn_inventory_list(struct syn_store *st, const char *kind, const char *status, json_t **out);

/**
 * The same inventory written through @out (synapse/doc.h) as it is made,
 * for listings too large to build whole: the census is gathered first, so
 * a failure writes nothing (unless writing itself fails).
 */
SYN_EXTERN int syn_inventory_list_emit(struct syn_store *st, const char *kind, const char *status,
				       struct syn_emit *out);

/**
 * What deleting blob @sha would affect, in *@out:
 *     {"sha256", "display_name", "kind", "status", "size_bytes",
 *      "used_by_packs", "active_in_uis", "on_local", "on_backup",
 *      "can_delete_safely": bool, "reason": why not (null when it can)}
 * A blob no backend holds and no pack names is status "missing", kind
 * null, can_delete_safely true (there is nothing to delete). SYN_EINVALID
 * for a malformed digest.
 */
SYN_EXTERN int syn_inventory_impacts(struct syn_store *st, const char *sha, json_t **out);

/**
 * Re-hash the local copies of the blobs @shas (an array of digests), or of
 * every local blob when @shas is NULL, on every online core, into *@out:
 *     {"verified": count, "valid": [sha], "invalid": [sha], "duration_ms"}
 * A digest with no local copy, or a malformed one, is invalid. When any is
 * invalid the report is still set and the answer is SYN_ECORRUPT naming
 * how many.
 */
SYN_EXTERN int syn_inventory_verify(struct syn_store *st, const json_t *shas, json_t **out);

/**
 * Remove the local orphans: blobs stored locally that no pack references
 * and no UI's active view links, the largest first, at most @max of them
 * (0: all). Without @execute only reports what it would remove. Executing
 * runs under the store lock and checks each blob again (still stored,
 * still passing the guard rails) just before removing it; it is refused
 * (SYN_EGUARD) while some pack cannot be read, since its blobs would look
 * like orphans. *@out:
 *     {"dry_run", "orphans_found", "orphans_deleted", "bytes_freed",
 *      "deleted": [item], "errors": ["<sha>: why"], "warnings"}
 * In a dry run "deleted" lists what would go and bytes_freed its size.
 */
SYN_EXTERN int syn_inventory_cleanup(struct syn_store *st, bool execute, size_t max, json_t **out);

/**
 * Remove the copies @target (SYN_INVENTORY_* bits) of blob @sha, under the
 * store lock. When packs reference it, the copy that would remain is
 * re-hashed first (the backup's through its backend); then the guard
 * rails decide (SYN_EGUARD with their reason; with @force a warning).
 * *@out:
 *     {"deleted": true, "sha256", "bytes_freed" (size times copies
 *      removed), "deleted_from": ["local", "backup"], "remaining_on": [...],
 *      "warnings"}
 * SYN_ENOTFOUND when none of the copies @target names exists; the
 * backend's error when the backup is asked for and cannot be reached or
 * cannot remove blobs; SYN_EINVALID for a malformed digest.
 */
SYN_EXTERN int syn_inventory_delete(struct syn_store *st, const char *sha, unsigned int target, bool force,
				    json_t **out);

SYN_END_DECLS

#endif
