/*
 * synapse/update.h - updates: which dependencies that follow the latest
 * version have a newer file upstream, and moving their locks onto it.
 *
 * Only dependencies whose update_policy is "follow_latest" are checked;
 * each is asked of the source that wrote its selector, and the models of
 * all the packs checked are fetched ahead in batches (one request per
 * hundred models on Civitai), so a check costs about one request per
 * hundred distinct models. Nothing is taken without being asked for when
 * it is not plainly the same thing, newer: an update onto another base
 * model or onto an early-access version is "held", a dependency whose
 * newest version has several candidate files is "ambiguous", and both
 * need an explicit choice of file. pack.json never changes: the UIs keep
 * seeing the same file names. The replaced blobs stay in the store.
 *
 * A plan (one per pack):
 *     {"pack": "P",
 *      "status": "up_to_date" | "updates" | "needs_choice" | "error" | "not_followed",
 *      "already_up_to_date": bool,
 *      "changes":   [change],   taken by `update` as they are
 *      "held":      [change + "reason": "base_model_changed" | "early_access",
 *                    "message"],
 *      "ambiguous": [{"dependency_id", "reason", "current", "latest",
 *                     "candidates": [candidate]}],
 *      "errors":    [{"dependency_id", "error"}],  could not be checked
 *      "notes":     [{"dependency_id", "note"}]}   up to date, and why
 *     change = {"dependency_id",
 *               "old": file, "new": file + "size_bytes", "download_url",
 *               "base_model_changed": bool, "early_access": bool,
 *               "candidates": [candidate]}
 *     file = {"provider", "provider_model_id", "provider_version_id",
 *             "provider_file_id", "sha256", "filename", "version_name",
 *             "base_model"}
 *     candidate = {"file_id", "name", "size_bytes", "format", "precision",
 *                  "primary", "sha256"}
 */
#ifndef SYNAPSE_UPDATE_H
#define SYNAPSE_UPDATE_H

#include <jansson.h>

#include "common.h"
#include "pack.h"
#include "store.h"

SYN_BEGIN_DECLS

/**
 * Plan the updates of pack @pack, or of every pack when @pack is NULL
 * (packs with no followed dependency are then left out). Network only; no
 * state changes. @report:
 *     {"packs_checked", "packs_with_updates", "total_changes",
 *      "plans": {"<pack>": plan}}
 * "packs_with_updates" counts plans with changes, held or ambiguous
 * entries, "total_changes" those entries. SYN_ENOTFOUND for an unknown pack.
 */
SYN_EXTERN int syn_update_check(struct syn_store *st, const char *pack, json_t **report);

/** Options of syn_update_apply(). Zero-initialize, then set what you need. */
struct syn_update_options {
	bool dry_run;         /**< plan and report, change nothing */
	bool sync;            /**< download the new files first; apply only what arrived */
	/**
	 * Explicit choices, borrowed, or NULL. For one pack {"<dependency>":
	 * <file id>}; for every pack {"<pack>": {"<dependency>": <file id>}}.
	 * A choice takes that file of the newest version: it settles an
	 * ambiguous dependency and takes a held update.
	 */
	const json_t *choose;
	unsigned int jobs;    /**< parallel downloads with sync (0 = 4) */
	syn_install_progress_cb progress; /**< progress of the downloads, or NULL */
	void *payload;        /**< handed to @progress */
};

/**
 * Apply the updates of pack @pack: plan it, take every change and every
 * chosen file, and rewrite its lock.json in one commit ("update <pack>"),
 * then bring the views of the UIs showing it up to date. With sync the
 * new files are downloaded (and verified) before anything is written, so
 * the UIs never see a file go missing; a file that fails leaves the pack
 * as it was (what was downloaded stays and resumes). An ambiguous or held
 * dependency without a choice is an error listing its candidates, and
 * nothing is changed; so is a choice naming no candidate. @report:
 *     {"pack", "applied", "lock_updated", "synced", "dry_run",
 *      "already_up_to_date", "plan", "replaced": [{"dependency_id",
 *      "sha256"}], "missing": [sha256 not stored yet], "next": "..." | null}
 * "replaced" are the blobs the lock no longer names; they stay stored.
 */
SYN_EXTERN int syn_update_apply(struct syn_store *st, const char *pack, const struct syn_update_options *o,
				json_t **report);

/**
 * Apply, for every pack, the updates that need no choice (as
 * syn_update_apply(), one commit for all): a pack whose only updates are
 * held or ambiguous is skipped unless @o->choose settles them, one that
 * cannot be checked, or whose files fail with sync, fails, and the others
 * go on. @report:
 *     {"results": {"<pack>": {"status": "applied" | "would_apply" |
 *                             "up_to_date" | "skipped" | "failed",
 *                             "reason" | "error": "..", "changes": [..],
 *                             "replaced": [..]}},
 *      "total_applied", "total_skipped", "total_failed", "total_up_to_date",
 *      "dry_run", "synced"}
 * When any pack failed the result is an error naming them, and the report
 * is still set.
 */
SYN_EXTERN int syn_update_apply_all(struct syn_store *st, const struct syn_update_options *o, json_t **report);

SYN_END_DECLS

#endif
