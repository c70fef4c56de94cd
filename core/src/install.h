/*
 * install: the download engine behind syn_pack_install(), and the steps the
 * pack operations share with it.
 */
#ifndef SYNAPSE_SRC_INSTALL_H
#define SYNAPSE_SRC_INSTALL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "synapse/buf.h"
#include "synapse/pack.h"
#include "synapse/store.h"
#include "synapse/sys/source.h"

/**
 * syn_pack_install(): download every resolved file of pack @name whose blob
 * is absent, @jobs at a time (0 = 4), verify and commit each, record what
 * succeeded (digests learned, manifests, views refreshed, one state commit)
 * even when some failed, then fail with SYN_ENETWORK naming every failed
 * file. *@report (a new reference) as synapse/pack.h describes it.
 * SYN_ENOTFOUND for a pack without lock.json, the errors of loading the
 * pack and of the blob chain.
 */
int syn__install_pack(struct syn_store *st, const char *name, unsigned int jobs, syn_install_progress_cb progress,
		      void *payload, json_t **report);

/** What downloading the missing files of a lock did (syn__install_fetch()). */
struct syn__fetch {
	json_t *hashes;       /* the SHA-256 of every resolved file now stored */
	json_t *downloaded;   /* those downloaded now */
	json_t *restored;     /* those copied from a backup now */
	json_t *present;      /* those that were stored already */
	json_t *learned;      /* {dependency_id: sha256} for entries that had no digest */
	json_t *failed_deps;  /* the dependency ids whose file failed */
	struct syn_buf failed; /* "dep (file): message; ..." */
	size_t nfailed, nmismatched;
};

/**
 * Download every resolved file of @lock (pack @name's lock, as it is or as
 * a command is about to write it) whose blob is absent, @jobs at a time
 * (0 = 4), verifying and committing each blob under the store lock; @lock
 * itself is not changed nor written. Failed files are counted in @f, not
 * returned: the errors are those of starting (an invalid digest in the
 * lock, the blob chain, memory). @f is zeroed first; dispose of it with
 * syn__install_fetch_dispose() whatever the result.
 */
int syn__install_fetch(struct syn_store *st, const char *name, const json_t *lock, unsigned int jobs,
		       syn_install_progress_cb progress, void *payload, struct syn__fetch *f);

/**
 * With the store lock held: the entries of @lock that have no digest learn
 * the one @f downloaded for them (*@changed then true), and every blob of
 * @lock that is stored gets its manifest, from @pack's dependencies.
 */
int syn__install_learn(struct syn_store *st, const json_t *pack, json_t *lock, const struct syn__fetch *f,
		       bool *changed);

/**
 * Give stored blob @sha its manifest (unless it has one) for dependency
 * @dep of a pack and its lock entry's @artifact: the file name the pack
 * exposes, the kind, where the file came from.
 */
int syn__install_manifest(struct syn_store *st, const char *sha, const json_t *dep, const json_t *artifact);

/** The error naming every file of pack @name that @f failed to download (what to run next), or 0. */
int syn__install_failure(const char *name, const struct syn__fetch *f);

/**
 * Cap the downloads of commands run on @st at @rate bytes per second in all
 * (0: unlimited) instead of config.json's `download.max_rate`, until
 * syn__install_rate_clear(). SYN_ENOMEM.
 */
int syn__install_rate_set(struct syn_store *st, uint64_t rate);

/** Go back to config.json's `download.max_rate` for @st. */
void syn__install_rate_clear(struct syn_store *st);

/** Release what @f holds. */
void syn__install_fetch_dispose(struct syn__fetch *f);

/**
 * Start an instance of source class @cls (borrowed) with config.json's
 * providers.<name> section, into *@out (free with syn__install_source_free()).
 * SYN_EUNSUPPORTED for an instance of a version this core does not know,
 * else the source's own error, prefixed "cannot start source '<name>'".
 */
int syn__install_source_start(struct syn_store *st, const struct syn_source_class *cls, struct syn_source **out);

/** Free @src (NULL-safe). */
void syn__install_source_free(struct syn_source *src);

/**
 * One instance of every registered source, in registry order, for one
 * command: the command walks the chain for a reference or a dependency,
 * each source is started when the walk first reaches it, and sources after
 * the one that claims everything are never started.
 */
struct syn__sources {
	struct syn_store *st;
	struct syn_source **src;
	char **start_error; /* why a source could not start, kept for the message */
	size_t n;
};

/** Make @c the (not yet started) sources of @st; SYN_ENOMEM. Dispose of it whatever the result. */
int syn__sources_init(struct syn__sources *c, struct syn_store *st);

/** Free every started source of @c and what @c holds. */
void syn__sources_dispose(struct syn__sources *c);

/** Source @i of @c, started when first asked for; NULL when it cannot start (the reason is kept). */
struct syn_source *syn__sources_get(struct syn__sources *c, size_t i);

/** The message of the first source of @c that could not start, or NULL. */
const char *syn__sources_start_error(const struct syn__sources *c);

/**
 * The local time as documents record it, "YYYY-MM-DDTHH:MM:SS.uuuuuu", in
 * @out (@size bytes; 48 hold it).
 */
void syn__install_local_now(char *out, size_t size);

/* What a command on pack @name changed under state/, for syn__install_commit(). */
#define SYN__CHANGED_PACK 0x1u   /* packs/<name>/, all of it */
#define SYN__CHANGED_LOCK 0x2u   /* packs/<name>/lock.json only */
#define SYN__CHANGED_GLOBAL 0x4u /* the global profile */
#define SYN__CHANGED_WORK 0x8u   /* the pack's work profile */

/**
 * Commit what @changed (SYN__CHANGED_*) says a command on pack @name changed,
 * and only that, with the message "@verb @name"; syn_state_commit_paths()'s
 * errors.
 */
int syn__install_commit(struct syn_store *st, const char *verb, const char *name, unsigned int changed);

/**
 * syn__install_commit() on a thread, while the command refreshes its views
 * (syn__state_commit_start(): the command calls syn__state_commit_finish()
 * before it releases the store lock).
 */
int syn__install_commit_start(struct syn_store *st, const char *verb, const char *name, unsigned int changed);

#endif
