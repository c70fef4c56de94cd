/*
 * synapse/sys/backend.h - blob backends: where the bytes of blobs live.
 *
 * A backend plugin registers a class (name + factory); the core creates
 * instances from it. Blobs are named by their lowercase hex SHA-256, which
 * the core has validated and verified before a backend sees it: a backend
 * never decides what a blob's name is.
 *
 * A store asks its backends in order - the primary (`local`) first, then
 * the backup named by config.json `backup.backend` when `backup.enabled` -
 * and a backend answering "not here" (exists() 0, size() or open()
 * SYN_ENOTFOUND) sends the question to the next one. A backend that cannot
 * be reached at all (a backup drive unplugged, a server down) answers with
 * an error (SYN_ENETWORK), never "not here": the core must not take an
 * unreachable copy for a missing one.
 *
 * put() of a backend that is not the primary must never leave wrong or
 * partial bytes under a blob's name: write a temporary name, fsync,
 * re-hash the copy (syn_sha256_fd() of <synapse/hash.h>), then rename it
 * into place. A full disk is SYN_ENOSPC, a read-only one SYN_EIO naming the
 * path, and both leave nothing behind.
 *
 * Staging (SYN_BACKEND_CAP_STAGE, used by the `local` backend): the core asks
 * for a staging file, streams bytes into it while hashing, verifies the
 * digest and then commits, which for a local filesystem is a single rename -
 * no second copy. A backend without staging receives an already verified fd
 * in put().
 *
 * exists(), size(), open() and free() are required. Everything else is
 * declared by capability bits: the core calls a method only when the
 * instance declares its bit, and refuses an instance declaring a bit without
 * its methods. A version 1 instance declares nothing; its bits are derived
 * from which of its methods are set. New members are only appended, and a
 * member added after version 1 is there only when the instance's version
 * says so (an older plugin's struct is shorter).
 */
#ifndef SYNAPSE_SYS_BACKEND_H
#define SYNAPSE_SYS_BACKEND_H

#include <jansson.h>

#include "../hash.h"
#include "plugin.h"

SYN_BEGIN_DECLS

/** Version of struct syn_backend and struct syn_backend_class. */
#define SYN_BACKEND_VERSION 4
/** Initializer setting the version member. */
#define SYN_BACKEND_INIT { SYN_BACKEND_VERSION }

/*
 * Capability bits, returned by capabilities(). Each names the methods it
 * promises.
 */
/** stage_open(), stage_commit(), stage_abort() (stage_truncate() optional): bytes are written in place. */
#define SYN_BACKEND_CAP_STAGE      (1u << 0)
/** local_path(): blobs are files on this machine, which views link to. */
#define SYN_BACKEND_CAP_LOCAL_PATH (1u << 1)
/** put(): takes a verified copy from a file descriptor. */
#define SYN_BACKEND_CAP_PUT        (1u << 2)
/** remove(). */
#define SYN_BACKEND_CAP_REMOVE     (1u << 3)
/** foreach(): can list its blobs. */
#define SYN_BACKEND_CAP_LIST       (1u << 4)
/** meta_read() and meta_write(): keeps each blob's manifest. */
#define SYN_BACKEND_CAP_META       (1u << 5)
/** quarantine(): can set a corrupt blob aside. */
#define SYN_BACKEND_CAP_QUARANTINE (1u << 6)
/** space() (version 3): can say how much room it has. */
#define SYN_BACKEND_CAP_SPACE      (1u << 7)
/** link() (version 4): can make a file of this machine a blob by a hard link. */
#define SYN_BACKEND_CAP_LINK       (1u << 8)

/** What the core tells a backend when creating an instance. */
struct syn_backend_params {
	unsigned int version; /**< SYN_BACKEND_VERSION */
	const char *data_root; /**< the store's data/ directory (absolute) */
	const char *root;      /**< the backend's own root (e.g. a backup path); may be NULL */
	bool fsync;            /**< whether to fsync (false only in tests) */
	/**
	 * Added in version 2: the backend's own settings, config.json
	 * `backup.<class name>` when that is an object (e.g. `backup.s3`),
	 * else NULL. Borrowed for the create() call.
	 */
	const json_t *options;
};

/** A staging file: the core writes into @fd, starting at offset @existing. */
struct syn_backend_stage {
	int fd;            /**< open read-write; positioned at @existing */
	uint64_t existing; /**< bytes kept from an interrupted earlier attempt */
	void *priv;        /**< backend-owned */
};

/** Callback for foreach(): return non-zero to stop (that value is returned). */
typedef int (*syn_blob_cb)(const char *sha256, void *payload);

/** A backend instance. Backends embed it as their first member. */
struct syn_backend {
	unsigned int version; /**< SYN_BACKEND_VERSION */

	/** 1 when the blob is present, 0 when not, <0 on error. */
	int (*exists)(struct syn_backend *b, const char *sha256);
	/** Size in bytes of a present blob; SYN_ENOTFOUND when absent. */
	int (*size)(struct syn_backend *b, const char *sha256, uint64_t *out);
	/** Open the blob for reading (O_RDONLY|O_CLOEXEC); SYN_ENOTFOUND when absent. */
	int (*open)(struct syn_backend *b, const char *sha256, int *fd_out);
	/**
	 * SYN_BACKEND_CAP_LOCAL_PATH: the absolute path where the blob's file
	 * is (or would be) on this machine, replacing @out's content. Views
	 * link to it.
	 */
	int (*local_path)(struct syn_backend *b, const char *sha256, struct syn_buf *out);
	/**
	 * SYN_BACKEND_CAP_PUT: copy a verified blob from @fd (read from offset
	 * 0), never leaving a partial copy under the blob's name. Present
	 * already = success.
	 */
	int (*put)(struct syn_backend *b, const char *sha256, int fd);
	/** SYN_BACKEND_CAP_REMOVE: remove a blob and its manifest; SYN_ENOTFOUND when absent. */
	int (*remove)(struct syn_backend *b, const char *sha256);
	/** SYN_BACKEND_CAP_LIST: call @cb for every blob, in no particular order. */
	int (*foreach)(struct syn_backend *b, syn_blob_cb cb, void *payload);

	/**
	 * SYN_BACKEND_CAP_STAGE: open a stage. @sha256 is the expected
	 * digest, or NULL when the content's hash is not known yet. A known-digest stage keeps the bytes
	 * of an interrupted attempt (resume) and is locked against a second
	 * process, which waits. SYN_EEXISTS when the blob is already present.
	 */
	int (*stage_open)(struct syn_backend *b, const char *sha256, struct syn_backend_stage *st);
	/** Discard the staged bytes (the core will write from zero). */
	int (*stage_truncate)(struct syn_backend *b, struct syn_backend_stage *st);
	/**
	 * Make the staged, verified bytes the blob @sha256: fsync, move into
	 * place without replacing an existing blob, make it read-only. Closes
	 * the stage whatever the outcome.
	 */
	int (*stage_commit)(struct syn_backend *b, struct syn_backend_stage *st, const char *sha256);
	/** Close the stage; keep its bytes for a later resume when @keep, else delete them. */
	void (*stage_abort)(struct syn_backend *b, struct syn_backend_stage *st, bool keep);

	/** Free the instance (including this struct). */
	void (*free)(struct syn_backend *b);

	/**
	 * Added in version 2: the SYN_BACKEND_CAP_* bits of this instance
	 * (an instance may offer less than its class, e.g. a read-only
	 * remote). Called once, when the instance is created; NULL declares
	 * none (only exists(), size() and open() are used).
	 */
	unsigned int (*capabilities)(struct syn_backend *b);
	/**
	 * Added in version 2, SYN_BACKEND_CAP_META: the manifest of blob
	 * @sha256 (a small JSON document the core wrote) in @out, replacing
	 * its content. SYN_ENOTFOUND when the blob has none.
	 */
	int (*meta_read)(struct syn_backend *b, const char *sha256, struct syn_buf *out);
	/**
	 * Added in version 2, SYN_BACKEND_CAP_META: store @len bytes as the
	 * manifest of blob @sha256, atomically (old or new, never a mix). A
	 * manifest already there is kept: SYN_EEXISTS.
	 */
	int (*meta_write)(struct syn_backend *b, const char *sha256, const void *data, size_t len);
	/**
	 * Added in version 2, SYN_BACKEND_CAP_QUARANTINE: move blob @sha256,
	 * whose bytes no longer match its name, out of the blobs (and out of
	 * every view's reach), keeping it for inspection. SYN_ENOTFOUND when
	 * absent.
	 */
	int (*quarantine)(struct syn_backend *b, const char *sha256);
	/**
	 * Added in version 3, SYN_BACKEND_CAP_SPACE: the size of the
	 * storage holding this backend's blobs and the bytes still free
	 * there, in bytes.
	 */
	int (*space)(struct syn_backend *b, uint64_t *total, uint64_t *free_bytes);
	/**
	 * Added in version 4, SYN_BACKEND_CAP_LINK: make the file open at
	 * @fd, whose bytes the core has just hashed to @sha256, the blob by a
	 * hard link: the same inode, no byte copied, its mode left as it is
	 * (the file is the user's). Never replaces a blob: one present
	 * already is success. SYN_EUNSUPPORTED when the file cannot be linked
	 * there (another filesystem): the core then copies it.
	 */
	int (*link)(struct syn_backend *b, const char *sha256, int fd);
};

/** A backend class: registered once, creates instances. */
struct syn_backend_class {
	unsigned int version; /**< SYN_BACKEND_VERSION */
	const char *name;     /**< "local", "backup_path": [a-z0-9_-] */
	/** Create an instance in @out. */
	int (*create)(struct syn_backend **out, const struct syn_backend_params *params);
};

/** Register a backend class (copied by size, as syn_register_ui_s()). */
SYN_EXTERN int syn_register_backend_s(struct syn_registry *reg, const struct syn_backend_class *cls, size_t size);

/** Register a backend class, passing its size. */
#define syn_register_backend(reg, cls) syn_register_backend_s((reg), (cls), sizeof(*(cls)))

SYN_END_DECLS

#endif
