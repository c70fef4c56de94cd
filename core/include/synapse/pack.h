/*
 * synapse/pack.h - packs: import from a source, resolve, install, delete,
 * list, show, search.
 *
 * A pack is state/packs/<Pack>/pack.json (what it is and which files it
 * needs: the intent) plus lock.json (which exact files, by SHA-256: the
 * resolution). Every operation that changes state holds the store lock
 * while it writes and records one commit in state/; network transfers run
 * outside the lock.
 */
#ifndef SYNAPSE_PACK_H
#define SYNAPSE_PACK_H

#include <jansson.h>

#include "common.h"
#include "doc.h"
#include "store.h"

SYN_BEGIN_DECLS

#define SYN_SCHEMA_PACK "synapse.pack.v2"
#define SYN_SCHEMA_LOCK "synapse.lock.v2"

/** Options of syn_pack_import(). Zero-initialize, then set what you need. */
struct syn_import_options {
	const char *name;            /**< pack name instead of the sanitized model name */
	const int64_t *version_ids;  /**< versions to import (a multi-version pack), or NULL */
	size_t nversions;
	bool no_previews;            /**< do not download preview images */
	bool no_add_global;          /**< do not add the pack to the global profile */
	size_t max_previews;         /**< 0 = 100 */
	/**
	 * With @version_ids: for each version, the id of the file to take
	 * (0: the usual pick, syn_pack_choose_file() with no file id), or NULL.
	 */
	const int64_t *file_ids;
};

/**
 * Import the model @ref names (a URL or a source's own form, such as
 * `civitai:<id>[@<version>]`) through the first source plugin that accepts
 * it; that source writes the dependencies and resolves them (a source built
 * without pack() and resolve() is refused, SYN_EUNSUPPORTED). Write pack.json and
 * lock.json, download previews (never model files) and add the pack to the
 * global profile. Re-importing the same model updates its pack; a different
 * model whose name sanitizes to an existing pack is refused unless
 * options->name is given. A hostile remote file name refuses the import and
 * nothing is written. @report: {pack_name, pack_type, dependencies_count,
 * previews_downloaded, videos_downloaded, updated, warnings}.
 */
SYN_EXTERN int syn_pack_import(struct syn_store *st, const char *ref, const struct syn_import_options *options,
			       json_t **report);

/**
 * {packs: [{name, pack_type, dependencies_count, installed}]}, sorted by
 * name. A pack whose documents cannot be read is listed with pack_type
 * "unknown", dependencies_count null, installed false and its "error".
 */
SYN_EXTERN int syn_pack_list(struct syn_store *st, json_t **out);

/**
 * The same list written through @out (synapse/doc.h) as it is made: every
 * pack is read first, so a failure writes nothing (unless writing fails).
 */
SYN_EXTERN int syn_pack_list_emit(struct syn_store *st, struct syn_emit *out);

/**
 * {pack: <pack.json>, lock: <lock.json> | null, dependencies: [{id, kind,
 * filename, required, status: installed|missing|unresolved|unlocked,
 * sha256, size_bytes}]}. SYN_ENOTFOUND when the pack does not exist.
 */
SYN_EXTERN int syn_pack_show(struct syn_store *st, const char *name, json_t **out);

/**
 * Rebuild lock.json from pack.json: each dependency is resolved by the first
 * source plugin that claims its selector; one no source claims is recorded
 * as unresolved ("unsupported_strategy"). @out is the new lock.
 */
SYN_EXTERN int syn_pack_resolve(struct syn_store *st, const char *name, json_t **out);

/** Progress of one file of an install; called from worker threads. */
typedef void (*syn_install_progress_cb)(const char *dependency_id, const char *filename, uint64_t done,
					 uint64_t total, void *payload);

/**
 * Download every resolved file of the pack whose blob is absent, @jobs at
 * a time (0 = 4), each verified against the lock's SHA-256 (a lock entry
 * without one gets the computed digest) and committed as a blob; write
 * each blob's .meta manifest when absent. Interrupted downloads resume from
 * their .part. When any file fails the result is an error naming every
 * failed file; the files that succeeded stay installed.
 * @report: {pack, blobs_installed, hashes, downloaded, already_present}.
 */
SYN_EXTERN int syn_pack_install(struct syn_store *st, const char *name, unsigned int jobs,
				syn_install_progress_cb progress, void *payload, json_t **report);

/**
 * Cap the downloads of the commands run on @st at @rate bytes per second
 * in all (0: unlimited) instead of config.json's `download.max_rate`; a
 * negative @rate goes back to config.json's. The cap is the process's:
 * every connection of every download in flight shares it. SYN_ENOMEM.
 */
SYN_EXTERN int syn_pack_rate_limit(struct syn_store *st, int64_t rate);

/**
 * Delete a pack: its directory, its work profile and every runtime-stack
 * entry of it; UIs whose active view was its work profile fall back to the
 * new top of their stack. Blobs stay (as orphans). Without @force a pack
 * whose work profile is active in a UI is refused.
 * @report: {deleted, cleanup: {removed_from_global, removed_work_profile,
 * removed_from_stacks}, warnings}.
 */
SYN_EXTERN int syn_pack_delete(struct syn_store *st, const char *name, bool force, json_t **report);

/**
 * Search local packs: case-insensitive substring of @query in the name,
 * tags, trigger words, base model or dependency ids.
 * {query, used_db: false, items: [{pack_name, pack_type, provider,
 * source_model_id, source_url, matched: [field, ...]}]}.
 */
SYN_EXTERN int syn_pack_search(struct syn_store *st, const char *query, json_t **out);

/**
 * The pack name the import would derive from a model name: the original
 * Synapse's sanitizing (`/\:*?"<>|` and whitespace runs become `_`, runs of
 * `_` collapse, trimmed, at most 100 bytes, "unnamed_pack" when empty).
 */
SYN_EXTERN int syn_pack_sanitize_name(struct syn_buf *out, const char *model_name);

SYN_END_DECLS

#endif
