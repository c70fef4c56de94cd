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

SYN_END_DECLS

#endif
