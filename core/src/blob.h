/*
 * blob: what the blob module shares with the modules above it beyond
 * synapse/blob.h.
 */
#ifndef SYNAPSE_SRC_BLOB_H
#define SYNAPSE_SRC_BLOB_H

#include <jansson.h>

#include "synapse/blob.h"
#include "synapse/store.h"

/** Downloads of at least this many bytes are fetched in segments, unless config.json says otherwise. */
#define SYN__SEGMENT_MIN_DEFAULT ((uint64_t)64 << 20)

/** Connections per segmented download, unless config.json says otherwise. */
#define SYN__CONNECTIONS_DEFAULT 4u

/**
 * While @st is held (syn__store_hold()), let syn_blob_exists() answer true
 * for @sha (checked by the caller) without asking the backend: for a blob a
 * record has just vouched for. Does nothing when the store is not held.
 */
void syn__blob_assume_present(struct syn_store *st, const char *sha);

/**
 * Write everything @fd holds from its current offset into @w (hashing it),
 * dropping what @w held from an earlier attempt first: for a copy from
 * another backend. The digest is checked by syn_blob_writer_commit().
 */
int syn__blob_writer_fill(struct syn_blob_writer *w, int fd);

/**
 * Re-hash the primary's copies of the blobs @shas (an array of digest
 * strings, borrowed) on @nthreads threads (0: one per online core), each
 * blob read through a descriptor of its own. *@valid and *@invalid (new
 * arrays, in the order of @shas) receive the digests whose bytes match
 * their name and the others: absent, malformed, unreadable or corrupt.
 * The error of reaching the primary; SYN_ENOMEM.
 */
int syn__blob_verify_many(struct syn_store *st, const json_t *shas, unsigned int nthreads, json_t **valid,
			  json_t **invalid);

/**
 * Remove the range records (data/tmp/<sha>.ranges) that outlived their
 * download: those of blobs the primary holds now (a kill between the
 * commit and the record's removal leaves one). The record of a download
 * still to be resumed is kept. Appends "tmp/<name>" to @removed for each
 * one removed, and a line naming the cause to @notes for each that could
 * not be. SYN_ENOMEM.
 */
int syn__blob_drop_stale_sidecars(struct syn_store *st, json_t *removed, json_t *notes);

#endif
