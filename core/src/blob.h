/*
 * blob: what the blob module shares with the modules above it beyond
 * synapse/blob.h.
 */
#ifndef SYNAPSE_SRC_BLOB_H
#define SYNAPSE_SRC_BLOB_H

#include "synapse/store.h"

/**
 * While @st is held (syn__store_hold()), let syn_blob_exists() answer true
 * for @sha (checked by the caller) without asking the backend: for a blob a
 * record has just vouched for. Does nothing when the store is not held.
 */
void syn__blob_assume_present(struct syn_store *st, const char *sha);

#endif
