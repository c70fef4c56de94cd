/*
 * synapse/buf.h - a growable, always NUL-terminated byte buffer (git strbuf).
 */
#ifndef SYNAPSE_BUF_H
#define SYNAPSE_BUF_H

#include "common.h"

SYN_BEGIN_DECLS

/**
 * A growable string. After SYN_BUF_INIT `ptr` is never NULL and always
 * NUL-terminated; `len` excludes the NUL. Release with syn_buf_dispose().
 */
struct syn_buf {
	char *ptr;
	size_t len;
	size_t alloc; /**< 0 while ptr points at the shared empty string */
};

/** Initializer for an empty buffer that owns no memory yet. */
#define SYN_BUF_INIT { (char *)syn_buf__empty, 0, 0 }

/** Shared empty string used by SYN_BUF_INIT; never written to. */
SYN_EXTERN extern const char syn_buf__empty[1];

/** Make room for @extra more bytes. Returns 0 or SYN_ENOMEM. */
SYN_EXTERN int syn_buf_grow(struct syn_buf *b, size_t extra);

/** Append @len bytes. Returns 0 or SYN_ENOMEM. */
SYN_EXTERN int syn_buf_put(struct syn_buf *b, const void *data, size_t len);

/** Append a NUL-terminated string. Returns 0 or SYN_ENOMEM. */
SYN_EXTERN int syn_buf_puts(struct syn_buf *b, const char *s);

/** Append printf-formatted text. Returns 0 or SYN_ENOMEM. */
SYN_EXTERN int syn_buf_printf(struct syn_buf *b, const char *fmt, ...) SYN_PRINTF(2, 3);

/** Replace the contents with @s. Returns 0 or SYN_ENOMEM. */
SYN_EXTERN int syn_buf_sets(struct syn_buf *b, const char *s);

/** Empty the buffer, keeping its memory. */
SYN_EXTERN void syn_buf_clear(struct syn_buf *b);

/** Shorten the buffer to @len bytes (no-op when already shorter). */
SYN_EXTERN void syn_buf_truncate(struct syn_buf *b, size_t len);

/** Take ownership of the string (malloc'ed, never NULL unless out of memory); @b is reset. */
SYN_EXTERN char *syn_buf_detach(struct syn_buf *b);

/** Free the memory and reset to SYN_BUF_INIT. NULL-safe. */
SYN_EXTERN void syn_buf_dispose(struct syn_buf *b);

/**
 * Append @s (NULL appends nothing) as one field of a tab-separated line:
 * a backslash, a tab and a newline become \\, \t and \n. Returns 0 or
 * SYN_ENOMEM.
 */
SYN_EXTERN int syn_buf_put_field(struct syn_buf *b, const char *s);

/**
 * Unescape in place the field syn_buf_put_field() wrote at @p (it ends at a
 * tab, a newline or a NUL) and NUL-terminate it, in *@field; *@eol tells
 * whether it was the last of its line. Returns what follows it.
 */
SYN_EXTERN char *syn_field_take(char *p, char **field, bool *eol);

SYN_END_DECLS

#endif
