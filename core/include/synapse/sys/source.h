/*
 * synapse/sys/source.h - source plugins: where packs come from (Civitai, ...).
 *
 * A source plugin registers a class (name + factory). An instance turns a
 * user's reference into a normalized reference, fetches normalized model
 * metadata, and streams file bytes into a core-owned sink. A source never
 * writes into the store: the sink hashes while writing, the core verifies
 * and commits.
 *
 * Normalized reference (parse_ref), a JSON object:
 *     {"source": "civitai", "model_id": 1102, "version_id": 1318 | null,
 *      "url": "https://civitai.com/models/1102"}
 *
 * Normalized model (metadata), a JSON object; absent facts are null:
 *     {"source": "civitai", "model_id": 1102, "name": "SynthwavePunk",
 *      "type": "LORA",            the source's own type string
 *      "kind": "lora",            asset kind: checkpoint lora vae embedding
 *                                 controlnet upscaler hypernetwork text_encoder
 *                                 unet clip diffusion_model, else "unknown"
 *      "description": "<p>..", "author": "..", "tags": ["style"],
 *      "nsfw": false, "url": "https://civitai.com/models/1102",
 *      "download_count": 10, "rating": 4.9,
 *      "versions": [                newest first
 *        {"version_id": 1318, "name": "v1", "base_model": "SD 1.5",
 *         "trained_words": ["..."], "published_at": "2022-..Z",
 *         "air": "urn:air:..." | null,
 *         "early_access": false,      downloads limited to early access
 *                                     (version 3; absent means false)
 *         "download_url": "https://civitai.com/api/download/models/1318",
 *         "files": [{"file_id": 7, "name": "x.safetensors",
 *                    "size_bytes": 151111,       round(sizeKB * 1024)
 *                    "sha256": "ab..",           lowercase, null when unknown
 *                    "autov2": "AB12..",         as given, or null
 *                    "primary": true, "type": "Model", "format": "SafeTensor",
 *                    "precision": "fp16" | null,   (version 3)
 *                    "download_url": "https://..."}],
 *         "images": [{"url": "https://..", "nsfw": false, "nsfw_level": 1,
 *                     "width": 512, "height": 768,
 *                     "media_type": "image" | "video",
 *                     "meta": {..} | null}]}]}
 * File names are passed on as the source gave them: the core validates
 * them before any touches the filesystem. Newer sources may add members;
 * consumers ignore what they do not know.
 *
 * Packs (version 2). The core owns the pack: which versions, which file of
 * each, the dependency ids, the documents. A source owns what its
 * dependencies say: pack() turns the picked files into pack.json
 * dependencies whose `selector` only it understands, and resolve() turns
 * such a dependency into a lock.json entry. The core asks every registered
 * source in turn and takes the first answer that is not SYN_EPASSTHROUGH,
 * so a selector is always resolved by the source that wrote it.
 *
 * Lock entry (resolve), a JSON object, one of
 *     {"dependency_id": "main_lora",
 *      "artifact": {"kind": "lora", "sha256": "ab.." | null, "size_bytes": 151111,
 *                   "provider": {"name": "civitai", ...the source's own ids, "filename": "x.safetensors"},
 *                   "download": {"urls": ["https://..."]},
 *                   "integrity": {"sha256_verified": true}}}
 *     {"dependency_id": "main_lora", "reason": "no_file_found", "details": {...}}
 * `provider.name` is the class name: install asks that source to download
 * `download.urls[0]`. `sha256` null means the digest is learned while
 * downloading. `reason` is a short snake_case word, `details` says more.
 *
 * Methods may be NULL when unsupported; new members are only appended and
 * read by the core only when `version` says the struct has them.
 */
#ifndef SYNAPSE_SYS_SOURCE_H
#define SYNAPSE_SYS_SOURCE_H

#include <jansson.h>

#include "plugin.h"

SYN_BEGIN_DECLS

/** Version of struct syn_source, struct syn_source_class and struct syn_sink. */
#define SYN_SOURCE_VERSION 4
/** Initializer setting the version member. */
#define SYN_SOURCE_INIT { SYN_SOURCE_VERSION }

/**
 * Where a download goes. Implemented by the core and handed to download().
 * `offset` is how many bytes the core already holds: ask the server for the
 * rest (HTTP Range). If the server sends the whole body instead, call
 * restart() first. Bytes go through write() in order.
 *
 * Segmented downloads (version 4). A sink whose version is at least 4 can
 * take a file over several ranged connections at once; the core owns the
 * plan, the source owns HTTP:
 *  1. Once the source knows the file's size and whether the server honours
 *     Range (a 206 to a probe), it calls begin(). 0 means "stream it in
 *     order" (write() from `offset`, as above); 1 means segmented.
 *  2. Segmented, each connection claims a range with next() and sends its
 *     bytes, in order within the range, through write_at(). write_at()
 *     says when the range is complete, which can be before the bytes asked
 *     for: the core shortened it to hand its tail to an idle connection.
 *     Then end that transfer and claim again. A transfer that stops early gives back the rest of its range
 *     with release(), so a later claim fetches it again.
 *  3. next() answers 0 when every byte is held or claimed: a connection with
 *     nothing to claim is done. download() returns 0 once every connection
 *     is done and none failed; the core checks that every byte is held.
 * The core hashes the contiguous prefix as it grows (bytes that arrive
 * ahead of it are read back once, when it reaches them), records the
 * completed ranges beside the stage so a resumed attempt fetches only what
 * is missing, and paces write() and write_at() to the process's rate limit
 * (the source sees that as a slower sink). write(), restart() and the v4
 * calls may be made from any one thread at a time.
 */
struct syn_sink {
	unsigned int version; /**< SYN_SOURCE_VERSION */
	uint64_t offset;      /**< bytes held: resume from here (kept current by write/restart); segmented: bytes held in all */
	/** Append bytes. A negative return aborts the transfer with that code. */
	int (*write)(struct syn_sink *sink, const void *data, size_t len);
	/** Drop the held bytes and start again from zero (offset becomes 0). */
	int (*restart)(struct syn_sink *sink);
	/** Optional progress report: bytes held so far, total expected (0 = unknown). */
	void (*progress)(struct syn_sink *sink, uint64_t done, uint64_t total);

	/* ---- added in version 4: segmented downloads (see above) ---- */

	/** Files of at least this many bytes are worth segments; 0: never (stream in order). */
	uint64_t segment_min;
	/** Connections the core wants per file, 1 to SYN_SINK_CONNECTIONS_MAX. */
	unsigned int connections;
	/**
	 * The file has @total bytes and the server @ranged_ok honours Range.
	 * 1: segmented (use next/write_at/release); 0: stream in order from
	 * `offset` (ranges held ahead of the prefix were dropped); negative: an
	 * error. May be called again (after the URL had to be asked again):
	 * what is held is kept when @total is unchanged.
	 */
	int (*begin)(struct syn_sink *sink, uint64_t total, int ranged_ok);
	/**
	 * Claim the range [*@start, *@end) for one connection: 1 when claimed,
	 * 0 when nothing is left to claim (every byte held or claimed by
	 * another connection), negative on error. Near the end it splits the
	 * largest range still in flight and hands out its tail.
	 */
	int (*next)(struct syn_sink *sink, uint64_t *start, uint64_t *end);
	/**
	 * Store @len bytes at @offset, the next byte of a claimed range.
	 * *@accepted gets how many were taken: fewer than @len when the range
	 * was shortened. 1 when the range is now complete (end this transfer,
	 * even if the server would send more: its tail went to another
	 * connection, and claim again), 0 to go on, negative to abort with
	 * that code.
	 */
	int (*write_at)(struct syn_sink *sink, uint64_t offset, const void *data, size_t len, size_t *accepted);
	/**
	 * Give back the unfetched rest of the claimed range whose next byte is
	 * @offset. Never for a range write_at() called complete: its rest, if
	 * any, belongs to another connection now.
	 */
	int (*release)(struct syn_sink *sink, uint64_t offset);
};

/** The most connections a sink asks for per file (version 4). */
#define SYN_SINK_CONNECTIONS_MAX 16

/** What the core tells a source when creating an instance. */
struct syn_source_params {
	unsigned int version;   /**< SYN_SOURCE_VERSION */
	const char *data_root;  /**< the store's data/ directory, for caches */
	const json_t *config;   /**< this source's section of config.json, or NULL */
};

/** A source instance. Sources embed it as their first member. */
struct syn_source {
	unsigned int version; /**< SYN_SOURCE_VERSION */
	/**
	 * Parse a user reference (URL, `civitai:123@456`, AIR) into a
	 * normalized reference. SYN_EPASSTHROUGH when it is not this source's.
	 */
	int (*parse_ref)(struct syn_source *src, const char *ref, json_t **out);
	/** Fetch normalized model metadata for a normalized reference. */
	int (*metadata)(struct syn_source *src, const json_t *ref, json_t **out);
	/** Stream the file at @url into @sink. */
	int (*download)(struct syn_source *src, const char *url, struct syn_sink *sink);
	/** Fetch a small body (a preview image), at most @max bytes, into @out. */
	int (*fetch)(struct syn_source *src, const char *url, size_t max, struct syn_buf *out);
	/** Free the instance (including this struct). */
	void (*free)(struct syn_source *src);
	/**
	 * Added in version 2. The dependencies of a pack imported through this
	 * source. @in:
	 *     {"model": <normalized model>,
	 *      "picks": [{"id": "main_lora", "kind": "lora",
	 *                 "version": <normalized version>, "file": <one of its files>}],
	 *      "base_model_aliases": {<base model>: <alias>} | {}}
	 * `picks` are the versions to import, the pack's own version first, each
	 * with the file the core chose (its name already checked safe) and the
	 * dependency id to use. `base_model_aliases` is config.json's. @out:
	 *     {"dependencies": [<pack.json dependency>],  in pack order
	 *      "model_info": {...}}                       optional: members set over
	 *                                                 the pack's model_info
	 * A dependency is {"id", "kind", "required", "selector": {"strategy": ..},
	 * "expose": {"filename", "trigger_words"}, "update_policy": {"mode"},
	 * "description"}; every `expose.filename` is checked by the core.
	 * A source without pack() cannot be imported from.
	 */
	int (*pack)(struct syn_source *src, const json_t *in, json_t **out);
	/**
	 * Added in version 2. Resolve one dependency into a lock entry (above)
	 * in @out, or *@out = NULL when there is nothing to record. @in:
	 *     {"dependency": <pack.json dependency>,
	 *      "base_model_alias": <config.json alias>}  only for a "base_model_hint"
	 *                                                  whose alias exists
	 * @models is an array of normalized models fetched during this import or
	 * resolve (an import puts in the one it fetched): look a model up there
	 * by "source" and "model_id" before fetching it, and append what you
	 * fetch, so the dependencies of one model cost one request.
	 * SYN_EPASSTHROUGH when the selector is not this source's; any other
	 * error fails the whole resolve with its message.
	 */
	int (*resolve)(struct syn_source *src, const json_t *in, json_t *models, json_t **out);
	/**
	 * Added in version 3. Fetch ahead, in as few requests as the source
	 * can make, the models that the dependencies in @deps (an array of
	 * pack.json dependencies, from any number of packs) follow, appending
	 * each as a normalized model to @models (as resolve() does). A model
	 * that cannot be fetched is appended as
	 *     {"source": <class name>, "model_id": 12, "error": "<message>",
	 *      "code": <the SYN_E* code>}
	 * so that check() reports it for each dependency on it without asking
	 * again. Dependencies that are not this source's are ignored. Fails
	 * only when it cannot go on at all (out of memory).
	 */
	int (*prefetch)(struct syn_source *src, const json_t *deps, json_t *models);
	/**
	 * Added in version 3. Whether a dependency whose update_policy is
	 * follow_latest has a newer file. @in:
	 *     {"dependency": <pack.json dependency>,
	 *      "artifact": <its lock.json artifact>,
	 *      "pack_dependencies": [<every dependency of the pack>],
	 *      "pack_resolved": [<the pack's lock.json "resolved" entries:
 *                         {"dependency_id", "artifact"}>]}
	 * @models as for resolve(). @out:
	 *     {"status": "current" | "update" | "ambiguous" | "error",
	 *      "message": "..",   for people: why not an update, why ambiguous,
	 *                         what failed; null for a plain update
	 *      "code": <SYN_E* code>,                      error only
	 *      "current": {"version_id", "name", "base_model"} | null,
	 *                         the version the artifact is a file of
	 *      "latest": {"version_id", "name", "base_model", "published_at",
	 *                 "early_access": bool} | null,    the newest version
	 *      "artifact": <lock.json artifact>,           update: the new file
	 *      "candidates": [{"file_id", "name", "size_bytes", "format",
	 *                      "precision", "primary", "sha256",
	 *                      "artifact": <lock.json artifact>}]}
	 *                         update and ambiguous: every file of the
	 *                         latest version, for an explicit choice
	 * An update moves to a version the pack does not hold yet: a version
	 * another dependency of the pack already holds is never offered, and
	 * when several dependencies of the pack follow one model (a pack of
	 * several versions) only a file continuing this dependency's file by
	 * name (syn_source_match_file()) is an update. With one dependency on
	 * the model, a newer version whose files do not continue the name is
	 * an update when one file is the pack's pick (syn_pack_choose_file()
	 * with no file id, among primary files) and ambiguous otherwise.
	 * The core decides what to do with base-model changes and early access.
	 * SYN_EPASSTHROUGH when the selector is not this source's.
	 */
	int (*check)(struct syn_source *src, const json_t *in, json_t *models, json_t **out);

	/* ---- added in version 4: identifying files by their digest ---- */

	/**
	 * Added in version 4. Which of @hashes (an array of lowercase
	 * SHA-256 strings, any number: batching is the source's business) are
	 * files this source knows. @out is an object with one member per
	 * recognised digest:
	 *     {"<sha256>": {"model_id": 1102, "version_id": 1318, "file_id": 7}}
	 * and, for each model named there, the normalized model (holding at
	 * least that version, with that file) is in @models, appended as
	 * resolve() does unless it is there already, so a pack can be made
	 * from it without asking again. Digests the source does not know are
	 * left out. Fails when the source cannot be asked at all; a model
	 * that cannot be fetched leaves its digests out.
	 */
	int (*identify)(struct syn_source *src, const json_t *hashes, json_t *models, json_t **out);
};

/** A source class: registered once, creates instances. */
struct syn_source_class {
	unsigned int version; /**< SYN_SOURCE_VERSION */
	const char *name;     /**< "civitai": [a-z0-9_-] */
	/** Create an instance in @out. Network libraries are initialized here, lazily. */
	int (*create)(struct syn_source **out, const struct syn_source_params *params);
	/**
	 * Added in version 2. One line naming the references parse_ref()
	 * accepts, shown when no source accepts a reference, e.g.
	 * "civitai:<id>[@<version>]". NULL: only the class name is shown.
	 */
	const char *refs;
};

/**
 * The version of @model whose "version_id" is @version_id, or NULL.
 * Borrowed from @model.
 */
SYN_EXTERN json_t *syn_pack_find_version(const json_t *model, json_int_t version_id);

/**
 * The file a pack takes from @files (a normalized version's "files"): the
 * one whose "file_id" is @file_id when it is positive and present, else the
 * primary one, else the first *.safetensors, else the first; NULL when
 * there is none. Borrowed from @files.
 */
SYN_EXTERN json_t *syn_pack_choose_file(const json_t *files, json_int_t file_id);

/**
 * The file of @files (a normalized version's "files") that continues the
 * file named @name (a base name): the one of the same name ignoring case,
 * else the one whose stem is the same ignoring case once a version suffix
 * ("_v2", "V1.5", "-v3", " v10") and surrounding '_', '-' and spaces are
 * taken off both stems, and whose extension is the same when both have one
 * ("LoraV1.safetensors" continues as "LoraV2.safetensors"). NULL when
 * none does, or when several do by stem; *@several (when not NULL) then
 * says which. Borrowed from @files.
 */
SYN_EXTERN json_t *syn_source_match_file(const json_t *files, const char *name, bool *several);

/** Register a source class (copied by size, as syn_register_ui_s()). */
SYN_EXTERN int syn_register_source_s(struct syn_registry *reg, const struct syn_source_class *cls, size_t size);

/** Register a source class, passing its size. */
#define syn_register_source(reg, cls) syn_register_source_s((reg), (cls), sizeof(*(cls)))

SYN_END_DECLS

#endif
