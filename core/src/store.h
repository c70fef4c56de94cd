/*
 * store: the handle (roots, directory descriptors, the lock, config.json,
 * UI targets, kind maps, the blob backend chain). What it shares with the
 * modules above it beyond synapse/store.h.
 */
#ifndef SYNAPSE_SRC_STORE_H
#define SYNAPSE_SRC_STORE_H

#include <jansson.h>

#include "synapse/store.h"

/**
 * Read @relpath under @dirfd into *@out (a new reference), messages naming
 * it as @root/@relpath. A missing file gives @fallback, which is stolen
 * either way (NULL then means SYN_ENOMEM); SYN_ECORRUPT, SYN_EIO.
 */
int syn__store_read_or_default(json_t **out, int dirfd, const char *root, const char *relpath, json_t *fallback);

#endif
