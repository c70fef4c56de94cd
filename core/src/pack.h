/*
 * pack: what the pack module shares with the modules above it beyond
 * synapse/pack.h.
 */
#ifndef SYNAPSE_SRC_PACK_H
#define SYNAPSE_SRC_PACK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "synapse/pack.h"
#include "synapse/store.h"

#include "install.h"

/*
 * The selector strategy of a dependency on a blob the store holds, named by
 * its digest, with no source behind it (files adopted from the user's own
 * folders): {"strategy": "blob", "sha256": "<hex>", "size_bytes": N}. The
 * core resolves it itself into a lock entry with the digest and no URL.
 */
#define SYN__STRATEGY_BLOB "blob"

/**
 * syn_pack_import() of a model source @index of @chain has fetched already
 * (normalized, borrowed): the same pack, lock, previews (unless
 * @o->no_previews), global profile entry, commit and views, with no
 * metadata request. *@report as syn_pack_import()'s.
 */
int syn__pack_import_model(struct syn_store *st, struct syn__sources *chain, size_t index, const json_t *model,
			   const struct syn_import_options *o, json_t **report);

/**
 * The lock.json of pack @name from its dependencies @deps, resolved as
 * syn_pack_resolve() resolves them (a source is asked only for selectors
 * that are its own), into *@out (a new reference).
 */
int syn__pack_build_lock(struct syn_store *st, const char *name, const json_t *deps, json_t **out);

#endif
