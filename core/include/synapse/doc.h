/*
 * synapse/doc.h - the JSON documents of the store (config, packs, locks, ...).
 *
 * Documents are read with their position reported on error and written the
 * one canonical way: UTF-8, 2-space indent, sorted keys, reals that
 * round-trip, trailing newline, atomically. Callers edit the json_t they
 * read, so keys Synapse does not know survive a rewrite.
 */
#ifndef SYNAPSE_DOC_H
#define SYNAPSE_DOC_H

#include <stdio.h>

#include <jansson.h>

#include "buf.h"
#include "common.h"

SYN_BEGIN_DECLS

/** Largest document accepted (16 MiB): a bigger one is reported corrupt. */
#define SYN_DOC_MAX (16u << 20)

/**
 * Read the JSON object at @relpath under @dirfd into @out (a new reference).
 * @display is the path used in messages (the absolute path, usually).
 * Errors: SYN_ENOTFOUND when missing; SYN_ECORRUPT when not valid JSON or not
 * an object, with "malformed JSON in '<display>' at line L, column C: why".
 */
SYN_EXTERN int syn_doc_read(json_t **out, int dirfd, const char *relpath, const char *display);

/** Serialize @doc the canonical way into @out (replacing its contents). */
SYN_EXTERN int syn_doc_dump(struct syn_buf *out, const json_t *doc);

/**
 * Write @doc to @f the canonical way, the same text as syn_doc_dump(), a
 * piece at a time (a large document is never held whole as text), then
 * flush @f. SYN_EIO when writing fails (SYN_ENOSPC on a full device).
 */
SYN_EXTERN int syn_doc_print(FILE *f, const json_t *doc);

/** Canonically serialize @doc and write it atomically to @relpath under @dirfd. */
SYN_EXTERN int syn_doc_write(int dirfd, const char *relpath, const json_t *doc);

/** Parse @len bytes of JSON text; on error SYN_ECORRUPT naming @display and the position. */
SYN_EXTERN int syn_doc_parse(json_t **out, const char *text, size_t len, const char *display);

/** The string member @key of @obj, or @fallback when absent or not a string. */
SYN_EXTERN const char *syn_doc_str(const json_t *obj, const char *key, const char *fallback);

/**
 * A document written as it is made, member by member, instead of built
 * whole first: a report of 10,000 items goes out in a few megabytes. The
 * same calls make either a tree (syn_emit_to_json()) or its canonical text
 * on a file, exactly what syn_doc_print() would write of that tree
 * (syn_emit_to_file()), provided each object's keys are given in byte
 * order, as syn_doc_print() sorts them.
 *
 * Every call answers 0 or the first failure, which sticks: later calls do
 * nothing and answer it again, so a run of calls can be checked once, at
 * syn_emit_finish(). Misuse (a value in an object without its key, an end
 * with nothing open, a second root, nesting past 32) is SYN_EINVALID.
 */
struct syn_emit;

/** A new emitter building a tree, in *@out; syn_emit_finish() gives the tree. SYN_ENOMEM. */
SYN_EXTERN int syn_emit_to_json(struct syn_emit **out);

/** A new emitter writing canonical text to @f, in pieces as it goes, in *@out. SYN_ENOMEM. */
SYN_EXTERN int syn_emit_to_file(struct syn_emit **out, FILE *f);

/** Begin an object (then syn_emit_key() before each member's value). */
SYN_EXTERN int syn_emit_object(struct syn_emit *e);

/** Begin an array. */
SYN_EXTERN int syn_emit_array(struct syn_emit *e);

/** End the object or array begun last. */
SYN_EXTERN int syn_emit_end(struct syn_emit *e);

/** The key of the next member of the open object (copied). */
SYN_EXTERN int syn_emit_key(struct syn_emit *e, const char *key);

/** A string value (UTF-8; copied); NULL writes null. */
SYN_EXTERN int syn_emit_string(struct syn_emit *e, const char *s);

/** An integer value. */
SYN_EXTERN int syn_emit_integer(struct syn_emit *e, json_int_t n);

/** A boolean value. */
SYN_EXTERN int syn_emit_bool(struct syn_emit *e, bool b);

/** A null value. */
SYN_EXTERN int syn_emit_null(struct syn_emit *e);

/** The whole value @v (borrowed: a tree shares it, so it must not change afterwards). */
SYN_EXTERN int syn_emit_value(struct syn_emit *e, const json_t *v);

/**
 * End the document: with a tree, the tree in *@out (may be NULL to drop
 * it); with a file, the closing newline written and @f flushed (SYN_EIO,
 * or SYN_ENOSPC on a full device, when it cannot be). SYN_EINVALID while
 * something is still open or nothing was written.
 */
SYN_EXTERN int syn_emit_finish(struct syn_emit *e, json_t **out);

/**
 * The tree of what @write writes through a tree emitter (with @arg), in
 * *@out (NULL on failure): @write's failure, or the emitter's (SYN_EINVALID
 * for a document left incomplete, SYN_ENOMEM). For the tree-returning twin
 * of a function that emits.
 */
SYN_EXTERN int syn_emit_tree(json_t **out, int (*write)(struct syn_emit *e, void *arg), void *arg);

/** Free the emitter (and a tree it was not asked for). NULL-safe. */
SYN_EXTERN void syn_emit_free(struct syn_emit *e);

SYN_END_DECLS

#endif
