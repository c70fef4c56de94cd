/*
 * synapse/sys/backend.h - blob backends: where the bytes of blobs live.
 *
 * A backend plugin registers a class (name + factory); the core creates
 * instances from it. Blobs are named by their lowercase hex SHA-256, which
 * the core has validated and verified before a backend sees it: a backend
 * never decides what a blob's name is.
 *
 * Staging (optional, used by the `local` backend): the core asks for a
 * staging file, streams bytes into it while hashing, verifies the digest and
 * then commits, which for a local filesystem is a single rename - no second
 * copy. A backend without staging receives an already verified fd in put().
 *
 * Methods may be NULL when unsupported; new members are only appended.
 */
#ifndef SYNAPSE_SYS_BACKEND_H
#define SYNAPSE_SYS_BACKEND_H

#include "plugin.h"

SYN_BEGIN_DECLS

/** Version of struct syn_backend and struct syn_backend_class. */
#define SYN_BACKEND_VERSION 1
/** Initializer setting the version member. */
#define SYN_BACKEND_INIT { SYN_BACKEND_VERSION }

/** What the core tells a backend when creating an instance. */
struct syn_backend_params {
	unsigned int version; /**< SYN_BACKEND_VERSION */
	const char *data_root; /**< the store's data/ directory (absolute) */
	const char *root;      /**< the backend's own root (e.g. a backup path); may be NULL */
	bool fsync;            /**< whether to fsync (false only in tests) */
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
	/** Optional: the blob's local path (for symlink views). */
	int (*local_path)(struct syn_backend *b, const char *sha256, struct syn_buf *out);
	/** Copy a verified blob from @fd (read from offset 0). Present already = success. */
	int (*put)(struct syn_backend *b, const char *sha256, int fd);
	/** Remove a blob; SYN_ENOTFOUND when absent. */
	int (*remove)(struct syn_backend *b, const char *sha256);
	/** Call @cb for every blob, in no particular order. */
	int (*foreach)(struct syn_backend *b, syn_blob_cb cb, void *payload);

	/**
	 * Optional staging. @sha256 is the expected digest, or NULL when the
	 * content's hash is not known yet. A known-digest stage keeps the bytes
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
