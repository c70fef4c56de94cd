/*
 * synapse/blob.h - the content-addressed blob store.
 *
 * A blob is named by the SHA-256 of its bytes and stored once
 * (data/blobs/sha256/<2>/<sha256> for the local backend, read-only).
 * Bytes enter only through a writer that hashes while writing and commits
 * after verifying, so a blob path never holds bytes whose hash differs from
 * its name, even after kill -9 at any instant.
 *
 * A store's blobs live in its chain of backends (syn_store_backend_at()):
 * syn_blob_exists(), syn_blob_size(), syn_blob_open() and
 * syn_blob_meta_read() ask each in order; everything else works on the
 * primary, this machine's own copies. A configured backend that is not
 * available fails a lookup only when the backends before it lack the blob.
 */
#ifndef SYNAPSE_BLOB_H
#define SYNAPSE_BLOB_H

#include <jansson.h>

#include "buf.h"
#include "common.h"
#include "store.h"
#include "sys/source.h"

SYN_BEGIN_DECLS

/** A blob being written. Opaque. */
struct syn_blob_writer;

/**
 * Start writing a blob. With @expected_sha the bytes stage at
 * `<sha>.part`: bytes an interrupted attempt left there are re-hashed and
 * kept (see syn_blob_writer_offset()), and a second writer of the same blob
 * waits for the first. Without it they stage under data/tmp/.
 * A segmented download (the sink's version 4 members) records the ranges
 * its stage holds in data/tmp/<sha>.ranges, so a later writer keeps every
 * one of them, not only the prefix; a record that does not match the stage
 * is dropped with what it describes.
 * SYN_EEXISTS when @expected_sha is already stored (nothing to write).
 */
SYN_EXTERN int syn_blob_writer_open(struct syn_blob_writer **out, struct syn_store *st, const char *expected_sha);

/**
 * Bytes already held in order from the start (from a resumed attempt): the
 * next write continues there. Ranges held beyond it are kept only by a
 * segmented download; the first write() drops them.
 */
SYN_EXTERN uint64_t syn_blob_writer_offset(const struct syn_blob_writer *w);

/** Append bytes, hashing them. */
SYN_EXTERN int syn_blob_writer_write(struct syn_blob_writer *w, const void *data, size_t len);

/** Drop everything written so far (and any resumed bytes). */
SYN_EXTERN int syn_blob_writer_restart(struct syn_blob_writer *w);

/**
 * The writer as a source sink (see sys/source.h), valid until commit or
 * abort. @progress (optional) is called with (done, total, @payload).
 */
SYN_EXTERN struct syn_sink *syn_blob_writer_sink(struct syn_blob_writer *w,
	void (*progress)(uint64_t done, uint64_t total, void *payload), void *payload);

/**
 * Verify and commit. When an expected digest was given and the bytes differ,
 * the staged bytes are deleted and SYN_EMISMATCH names both digests.
 * A blob that appeared meanwhile is success. @sha_out (optional) receives
 * the digest. The writer is freed whatever the outcome.
 */
SYN_EXTERN int syn_blob_writer_commit(struct syn_blob_writer *w, char sha_out[SYN_SHA256_HEX_LEN + 1]);

/**
 * Abandon the writer and free it. With @keep_partial a known-digest stage
 * keeps its bytes for a later resume; otherwise they are deleted. NULL-safe.
 */
SYN_EXTERN void syn_blob_writer_abort(struct syn_blob_writer *w, bool keep_partial);

/**
 * Insert everything readable from @fd (from its current offset). With
 * @expected_sha the bytes must hash to it (SYN_EMISMATCH otherwise, nothing
 * stored); when that blob is already stored the fd is not read at all.
 * @expected_sha may be NULL.
 */
SYN_EXTERN int syn_blob_insert_fd(struct syn_store *st, int fd, const char *expected_sha, char sha_out[SYN_SHA256_HEX_LEN + 1]);

/** What syn_blob_adopt_fd() did. */
struct syn_blob_adopted {
	char sha[SYN_SHA256_HEX_LEN + 1]; /**< the blob's digest */
	uint64_t size;                    /**< bytes staged (0 when nothing was staged) */
	bool created;                     /**< a new blob: the store did not have it */
	bool cloned;                      /**< the stage is a reflink clone (no bytes copied) */
};

/**
 * Make the file open at @fd a blob without ever writing to it: its bytes
 * are cloned into the stage (FICLONE: shared copy-on-write extents, so
 * later changes to the file never reach the blob) where the filesystem
 * can, else copied, and the digest is computed from the staged bytes read
 * back. When @expected_sha is given and stored already the fd is not read.
 * Before anything is published, @check (optional) is called with the
 * digest; a non-zero return (e.g. the file changed while it was read)
 * drops the staged bytes and is returned. A digest the store holds already
 * drops them too (*@out says created false). SYN_EMISMATCH when the bytes
 * do not hash to @expected_sha.
 */
SYN_EXTERN int syn_blob_adopt_fd(struct syn_store *st, int fd, const char *expected_sha,
				 int (*check)(const char *sha, void *payload), void *payload,
				 struct syn_blob_adopted *out);

/**
 * Make the file open at @fd, whose bytes the caller has just hashed to
 * @sha, the blob @sha by a hard link on the primary backend: the store
 * then shares the file's inode, so no byte is copied, the blob keeps the
 * file's mode, and a later in-place change of the file is a change of the
 * blob (`inventory verify` and `doctor --verify-blobs` find it). A blob
 * present already is success. SYN_EUNSUPPORTED when the primary cannot
 * link it (another filesystem, or no local files).
 */
SYN_EXTERN int syn_blob_link_fd(struct syn_store *st, int fd, const char *sha);

/** Insert the file at @path (never moved or modified). @expected_sha may be NULL. */
SYN_EXTERN int syn_blob_insert_file(struct syn_store *st, const char *path, const char *expected_sha, char sha_out[SYN_SHA256_HEX_LEN + 1]);

/**
 * Whether the store holds the blob: its primary backend, the one views link
 * to and installs fill. A copy only a backup has does not count (views would
 * dangle); syn_blob_find() looks along the whole chain. False also for an
 * invalid digest.
 */
SYN_EXTERN bool syn_blob_exists(struct syn_store *st, const char *sha);

/**
 * The first backend of the chain that has the blob, as its index (0 is the
 * primary, 1 the backup, ...) in *@index. SYN_ENOTFOUND when none has it; an
 * error when a configured backend that had to be asked cannot be used.
 */
SYN_EXTERN int syn_blob_find(struct syn_store *st, const char *sha, size_t *index);

/** The blob's size in bytes, from the first backend that has it. SYN_ENOTFOUND when absent. */
SYN_EXTERN int syn_blob_size(struct syn_store *st, const char *sha, uint64_t *out);

/**
 * Open the blob for reading from the first backend that has it; *@fd_out
 * is the caller's to close. SYN_ENOTFOUND when no backend has it.
 */
SYN_EXTERN int syn_blob_open(struct syn_store *st, const char *sha, int *fd_out);

/**
 * The blob's path on the primary backend (it may not exist there, e.g.
 * while only the backup has it), replacing @out's content. Views link to
 * it. SYN_EUNSUPPORTED when the primary keeps no local files.
 */
SYN_EXTERN int syn_blob_path(struct syn_store *st, const char *sha, struct syn_buf *out);

/** Remove the primary's copy of a blob (its manifest too). SYN_ENOTFOUND when absent. */
SYN_EXTERN int syn_blob_remove(struct syn_store *st, const char *sha);

/** Every blob the primary holds, sorted digests, as a new JSON array of strings. */
SYN_EXTERN int syn_blob_list(struct syn_store *st, json_t **out);

/**
 * Give a blob the primary holds its manifest (@meta, an object, written as
 * a document) unless it has one: an existing manifest is kept, and that is
 * success. A primary that keeps no manifests skips it.
 */
SYN_EXTERN int syn_blob_meta_write(struct syn_store *st, const char *sha, const json_t *meta);

/**
 * The blob's manifest, from the first backend that has one, as a new
 * reference. SYN_ENOTFOUND when none has.
 */
SYN_EXTERN int syn_blob_meta_read(struct syn_store *st, const char *sha, json_t **out);

/**
 * Move the primary's copy of a blob whose bytes do not match its name out
 * of the blobs and out of every view's reach, keeping it for inspection
 * (the local backend: data/quarantine/<sha>). SYN_ENOTFOUND when absent.
 */
SYN_EXTERN int syn_blob_quarantine(struct syn_store *st, const char *sha);

/**
 * Re-hash a stored blob. 0 when its bytes match its name, SYN_EMISMATCH
 * (naming both digests) when not, SYN_ENOTFOUND when absent.
 */
SYN_EXTERN int syn_blob_verify(struct syn_store *st, const char *sha);

SYN_END_DECLS

#endif
