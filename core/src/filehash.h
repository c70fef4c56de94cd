/*
 * filehash: the SHA-256 of files outside the store, remembered by their
 * metadata (device, inode, size, modification time in nanoseconds), so
 * that looking at a file already hashed costs one stat.
 */
#ifndef SYNAPSE_SRC_FILEHASH_H
#define SYNAPSE_SRC_FILEHASH_H

#include <stdbool.h>
#include <sys/stat.h>

#include "synapse/hash.h"
#include "synapse/store.h"

/** The cache of one command. Opaque. */
struct syn__filehash;

/**
 * Load data/cache/file-hashes into *@out. A missing, damaged or cut-short
 * file is an empty cache (it is rebuilt as files are hashed). SYN_ENOMEM.
 */
int syn__filehash_load(struct syn_store *st, struct syn__filehash **out);

/** The digest remembered for the file @sb describes, into @sha; false when none. */
bool syn__filehash_get(const struct syn__filehash *c, const struct stat *sb, char sha[SYN_SHA256_HEX_LEN + 1]);

/**
 * Remember @sha for the file @sb describes. A file changed in the last two
 * seconds is not remembered (syn_fs_settled()): it could change again
 * without its metadata showing it. SYN_ENOMEM.
 */
int syn__filehash_put(struct syn__filehash *c, const struct stat *sb, const char *sha);

/** Write the cache back when it changed (a cache write: no fsync). */
int syn__filehash_save(struct syn_store *st, struct syn__filehash *c);

/** Free @c (NULL-safe). */
void syn__filehash_free(struct syn__filehash *c);

#endif
