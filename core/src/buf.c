/* Growable strings (git strbuf). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synapse/buf.h"
#include "synapse/errors.h"

const char syn_buf__empty[1];

int syn_buf_grow(struct syn_buf *b, size_t extra)
{
	size_t need, alloc;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return syn_error_set(SYN_ENOMEM, "buffer size overflow");
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	alloc = b->alloc ? b->alloc : 64;
	while (alloc < need)
		alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
	p = b->alloc ? realloc(b->ptr, alloc) : malloc(alloc);
	if (!p)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (!b->alloc)
		p[0] = '\0';
	b->ptr = p;
	b->alloc = alloc;
	return 0;
}

int syn_buf_put(struct syn_buf *b, const void *data, size_t len)
{
	int rc = syn_buf_grow(b, len);

	if (rc)
		return rc;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int syn_buf_puts(struct syn_buf *b, const char *s)
{
	return syn_buf_put(b, s, strlen(s));
}

int syn_buf_printf(struct syn_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return syn_error_set(SYN_EINVALID, "bad format '%s'", fmt);
	rc = syn_buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int syn_buf_sets(struct syn_buf *b, const char *s)
{
	syn_buf_clear(b);
	return syn_buf_puts(b, s);
}

void syn_buf_clear(struct syn_buf *b)
{
	syn_buf_truncate(b, 0);
}

void syn_buf_truncate(struct syn_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	if (b->alloc)
		b->ptr[len] = '\0';
}

char *syn_buf_detach(struct syn_buf *b)
{
	char *p = b->alloc ? b->ptr : strdup("");
	struct syn_buf empty = SYN_BUF_INIT;

	*b = empty;
	return p;
}

void syn_buf_dispose(struct syn_buf *b)
{
	struct syn_buf empty = SYN_BUF_INIT;

	if (!b)
		return;
	if (b->alloc)
		free(b->ptr);
	*b = empty;
}

int syn_buf_put_field(struct syn_buf *b, const char *s)
{
	int rc = 0;

	for (; !rc && s && *s; s++)
		rc = *s == '\\' ? syn_buf_puts(b, "\\\\")
		   : *s == '\t' ? syn_buf_puts(b, "\\t")
		   : *s == '\n' ? syn_buf_puts(b, "\\n")
				: syn_buf_put(b, s, 1);
	return rc;
}

char *syn_field_take(char *p, char **field, bool *eol)
{
	char *w;

	*field = p;
	/* most fields hold nothing escaped: skip to the first byte that ends or escapes */
	p += strcspn(p, "\t\n\\");
	w = p;
	while (*p && *p != '\t' && *p != '\n') {
		if (*p == '\\' && p[1]) {
			p++;
			*w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
			p++;
		} else {
			*w++ = *p++;
		}
	}
	*eol = *p != '\t';
	if (*p)
		p++;
	*w = '\0';
	return p;
}
