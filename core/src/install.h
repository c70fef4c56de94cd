/*
 * install: the download engine behind syn_pack_install(), and the steps the
 * pack operations share with it.
 */
#ifndef SYNAPSE_SRC_INSTALL_H
#define SYNAPSE_SRC_INSTALL_H

#include <stddef.h>

#include <jansson.h>

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

#endif
