/*
 * digest: what each pack's documents say that planning, listing and status
 * need (its resolved files with their kinds and exposed names, its
 * unresolved dependencies, whether a required one lacks a lock entry),
 * cached across commands in data/cache/packs.digest and checked against
 * the documents' file metadata on every use, so a command reads the
 * documents of the packs that changed and only those. A hand edit changes
 * the metadata and is read again; a lost or damaged cache is rebuilt.
 *
 * A digest belongs to the store handle that gave it and stays valid until
 * the handle is freed (or the same pack's digest is asked for again).
 */
#ifndef SYNAPSE_SRC_DIGEST_H
#define SYNAPSE_SRC_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "synapse/buf.h"
#include "synapse/hash.h"
#include "synapse/store.h"

/* One resolved entry of lock.json that has a SHA-256. */
struct syn__digest_entry {
	const char *dep_id;
	const char *sha256;
	const char *kind;    /* the dependency's kind; "unknown" when no dependency has dep_id */
	const char *fname;   /* the exposed file name; "" when there is none */
	const char *problem; /* why it cannot be linked (a bad name, kind or hash); NULL when it can */
	bool has_dep;        /* pack.json has a dependency of this id (only those are linked) */
	/* what the lock says of the file, each "" when it says nothing: its size in bytes (decimal) and
	   artifact.provider's name, model_id, version_id, file_id (decimal), filename and repo_id */
	const char *size, *provider, *model_id, *version_id, *file_id, *filename, *repo_id;
};

/* One unresolved entry of lock.json. */
struct syn__digest_unresolved {
	const char *dep_id;
	const char *reason;
	const char *details; /* the entry's "details" object as compact JSON */
	bool optional;       /* its dependency says "required": false */
};

/* A required dependency and the SHA-256 its last lock entry names ("" when none does). */
struct syn__digest_required {
	const char *dep_id;
	const char *sha256;
};

struct syn__pack_digest {
	const char *name;
	const char *sig;   /* the documents' stamp it was read at; "" when they had just changed */
	const char *stamp; /* the stamp this handle took it for (the documents' now, or sig when trusted) */
	/* pack.json missing or unreadable: its message (and code); nothing below is set */
	const char *pack_error;
	int pack_rc;
	/* lock.json present but unreadable: its message; no entries */
	const char *lock_error;
	bool has_lock;
	const char *pack_type; /* pack.json's pack_type, "unknown" when absent */
	size_t ndeps;          /* how many dependencies pack.json declares */
	const struct syn__digest_entry *entries;
	size_t nentries;
	const struct syn__digest_unresolved *unresolved;
	size_t nunresolved;
	const struct syn__digest_required *required;
	size_t nrequired;
};

/**
 * The digest of pack @name in *@out: from the cache when the documents'
 * metadata still match (while the store is held, syn__store_hold(), once
 * checked it is not checked again), else read from them (and the cache
 * marked to be written). An unreadable document is not an error here: it is in the
 * digest's pack_error / lock_error. SYN_EINVALID for a bad pack name,
 * SYN_ENOMEM, and the errors of opening state/.
 */
int syn__digest_get(struct syn_store *st, const char *name, const struct syn__pack_digest **out);

/**
 * Check the digests of the packs @names (an array of names, or of objects
 * with a "name", as a profile's "packs" are) on every
 * online core, ahead of syn__digest_get() asking for them one at a time in
 * the same hold: each cached record's documents are stamped and, when they
 * match, its text is parsed (a pack the hold trusts is parsed unstamped).
 * What the threads cannot settle (a new or changed pack, a damaged record)
 * is left to syn__digest_get(), which reads the documents as ever. Only
 * for a hold (syn__store_hold()) and a few hundred packs or more; leaves
 * no error set.
 */
void syn__digest_prefetch(struct syn_store *st, const json_t *names);

/** syn__digest_prefetch() of the @n pack names @names (NULL entries skipped). */
void syn__digest_prefetch_names(struct syn_store *st, const char *const *names, size_t n);

/**
 * A cheap key of everything a plan of @profile (checked) reads, from file
 * metadata only: config.json, the profile, and each of its packs'
 * documents, as hex in @hex. While it is unchanged (and no blob the view
 * lacked has arrived) a view is current without reading a single document.
 * The errors of opening state/ and of loading the profile.
 */
int syn__digest_source_key(struct syn_store *st, const char *profile, char hex[SYN_SHA256_HEX_LEN + 1]);

/**
 * Append pack @name's part of a source key to @b: the stamp its digest @d
 * was taken for, or (@d NULL) what a name that is no pack's gives.
 * SYN_ENOMEM.
 */
int syn__digest_key_part(const struct syn__pack_digest *d, struct syn_buf *b);

/**
 * The source key (syn__digest_source_key()) of @profile whose packs' parts
 * (syn__digest_key_part(), in the profile's order) are @parts, as hex in
 * @hex. The errors of opening state/.
 */
int syn__digest_key_of(struct syn_store *st, const char *profile, const struct syn_buf *parts,
		       char hex[SYN_SHA256_HEX_LEN + 1]);

/**
 * The stamp syn__digest_get() would take pack @name's digest for in this
 * hold without looking at its documents (a pack the hold trusts, with a
 * settled record), or NULL when it would look at them. Parses nothing;
 * leaves no error set.
 */
const char *syn__digest_trusted_stamp(struct syn_store *st, const char *name);

/**
 * A mark of what the cache holds now, in @out: what
 * syn__digest_changed_since() tells changes after. "" when the table is
 * not a cache file's (none was read or written whole, or it was damaged).
 * SYN_ENOMEM.
 */
int syn__digest_mark(struct syn_store *st, struct syn_buf *out);

/**
 * Call @each (its @arg, a pack's name and its length; not NUL-terminated)
 * for every pack whose digest the cache recorded, forgot or read anew
 * since @mark (syn__digest_mark()), some more than once: 0 when that was
 * every one; 1 when it cannot tell (the file was written whole since, or
 * the mark is not one of its), or what @each returned when not 0. Leaves
 * no error set but @each's.
 */
int syn__digest_changed_since(struct syn_store *st, const char *mark,
			      int (*each)(void *arg, const char *name, size_t len), void *arg);

/**
 * Drop pack @name's digest (its pack is gone), from the cache file too at
 * the next syn__digest_flush(). Leaves no error set.
 */
void syn__digest_forget(struct syn_store *st, const char *name);

/**
 * Write the cache back when a digest was read from documents since it was
 * loaded: atomically, without fsync (it is rebuilt when lost). Failing to
 * write it is not an error (the next command reads the documents again).
 * Leaves no error set.
 */
void syn__digest_flush(struct syn_store *st);

#endif
