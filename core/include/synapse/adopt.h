/*
 * synapse/adopt.h - taking in the model files a user already has.
 *
 * Adopting hashes every model file under the folders given (or under the
 * model folders of the enabled UIs), on every core, puts each one in the
 * blob store once, asks the sources which files they know (by digest, in
 * batches) and makes packs: the pack an import of that model would make,
 * with its file already installed, for what a source recognises, and one
 * local pack per folder (per UI, for a UI's folders) for the rest. The
 * user's files are never written, not even their mode; only SYN_ADOPT_MOVE
 * replaces them, by links.
 */
#ifndef SYNAPSE_ADOPT_H
#define SYNAPSE_ADOPT_H

#include <jansson.h>

#include "common.h"
#include "store.h"

SYN_BEGIN_DECLS

/** What becomes of the user's files. */
enum syn_adopt_mode {
	/**
	 * The store gets bytes of its own: a reflink clone (shared
	 * copy-on-write extents, no bytes copied, and later changes of the
	 * file never reach the blob) where the filesystem can, else a copy.
	 * The original is left exactly as it was.
	 */
	SYN_ADOPT_COPY = 0,
	/**
	 * As SYN_ADOPT_COPY, then, once the packs are written, each original
	 * that a pack now holds, that was read in this run (never taken from
	 * the digest cache), whose blob is verified (re-hashed from the store)
	 * and that has not changed since it was read is replaced by a
	 * symbolic link to the blob: the bytes are kept once, by the store.
	 */
	SYN_ADOPT_MOVE,
	/**
	 * The blob is the original itself, by a hard link (same inode, no
	 * byte copied) where the store is on the same filesystem, else a
	 * copy as SYN_ADOPT_COPY. The file is then shared: editing it in
	 * place, or saving over it (which most tools do by truncating the
	 * file they write), changes the blob's bytes without its name
	 * (`inventory verify` finds such a blob, `doctor --verify-blobs` sets
	 * it aside), and the blob keeps the file's mode, which is left alone.
	 * For folders whose files are only ever replaced by a rename, never
	 * written over.
	 */
	SYN_ADOPT_LINK,
};

/** The name of @mode: "copy", "move" or "link". */
SYN_EXTERN const char *syn_adopt_mode_name(enum syn_adopt_mode mode);

/** The mode named @name into *@mode; SYN_EUSAGE, naming the modes, for any other name. */
SYN_EXTERN int syn_adopt_mode_parse(const char *name, enum syn_adopt_mode *mode);

/** Options of syn_adopt(). Zero-initialize, then set what you need. */
struct syn_adopt_options {
	const char *const *folders; /**< folders to adopt; none: every enabled UI's model folders */
	size_t nfolders;
	const char *ui;             /**< kinds from this UI's folder table (and its folders when none given) */
	bool dry_run;               /**< hash and identify, store nothing, write no pack */
	enum syn_adopt_mode mode;
	unsigned int threads;       /**< hashing threads; 0: one per online core */
};

/**
 * Adopt the model files (*.safetensors, *.ckpt, *.pt, *.pt2, *.pth, *.bin,
 * *.gguf, *.sft) found under the folders, never following symbolic links
 * (a link into the store, what SYN_ADOPT_MOVE leaves, is a file whose blob
 * is stored already: it counts in linked_before, and is packed again when
 * no pack holds its blob). Digests are remembered in data/cache/file-hashes by device,
 * inode, size and modification time, so a file seen before costs one stat;
 * a dry run uses and updates that cache too, and changes nothing else.
 * A file that changes while it is read is skipped, never stored.
 * Holds the store lock unless it is a dry run.
 * @report: {dry_run, mode, folders, files_scanned, hashed, cached, adopted,
 * already_stored, cloned, hard_linked, bytes_stored, moved, linked_before,
 * recognised: [{path, sha256,
 * source, model_id, version_id, file_id, pack}], unrecognised: [{path,
 * sha256, size_bytes, pack}], packs: [{name, created, files}], duplicates:
 * [{sha256, size_bytes, paths, wasted_bytes}], wasted_bytes, skipped:
 * [{path, reason}], warnings}. Paths that are not valid UTF-8 or hold
 * control characters are shown with \xNN escapes.
 * SYN_ENOTFOUND for a folder that does not exist, SYN_EINVALID for one that
 * is not a folder, SYN_EUSAGE for an unknown UI or, with no folder named,
 * when no UI has a model folder; SYN_ELOCKED.
 */
SYN_EXTERN int syn_adopt(struct syn_store *st, const struct syn_adopt_options *options, json_t **report);

/**
 * For tests: @hook (NULL removes it) is called with a file's path after
 * its bytes were read and before its metadata is checked again, so a test
 * can change the file at that instant. Not for production use.
 */
SYN_EXTERN void syn_adopt_set_read_hook(void (*hook)(const char *path));

SYN_END_DECLS

#endif
