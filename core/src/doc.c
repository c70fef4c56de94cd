/* JSON documents: read with positions, write canonically and atomically. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"

int syn_doc_parse(json_t **out, const char *text, size_t len, const char *display)
{
	json_error_t jerr, again;
	json_t *doc;

	*out = NULL;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	/*
	 * jansson reports an allocation failing while it reads as a syntax
	 * error. A malformed document fails the same way at the same place every
	 * time: parse once more before calling a good file corrupt (which could
	 * have it moved aside).
	 */
	if (!doc)
		doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &again);
	if (!doc && (json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0] ||
		     jerr.position != again.position || strcmp(jerr.text, again.text)))
		return syn_error_set(SYN_ENOMEM, "out of memory reading '%s'", display);
	if (!doc)
		return syn_error_set(SYN_ECORRUPT, "malformed JSON in '%s' at line %d, column %d: %s",
				     display, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return syn_error_set(SYN_ECORRUPT, "malformed document '%s': expected a JSON object", display);
	}
	*out = doc;
	return 0;
}

int syn_doc_read(json_t **out, int dirfd, const char *relpath, const char *display)
{
	struct syn_buf text = SYN_BUF_INIT;
	int rc;

	*out = NULL;
	rc = syn_fs_read(&text, dirfd, relpath, SYN_DOC_MAX);
	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "'%s' does not exist", display);
	else if (rc == SYN_ECORRUPT)
		rc = syn_error_set(SYN_ECORRUPT, "document '%s' is larger than %u bytes", display, SYN_DOC_MAX);
	else if (!rc)
		rc = syn_doc_parse(out, text.ptr, text.len, display);
	syn_buf_dispose(&text);
	return rc;
}

/*
 * The canonical serializer. jansson's dumper prints reals with 17 digits
 * (4.9 becomes 4.9000000000000004); users read these files, so reals get
 * the shortest text that parses back to the same double, and the layout is
 * the one Python's json.dumps(indent=2, sort_keys=True, ensure_ascii=False)
 * produces, which stores made by the original use too.
 */

/* Where serialized text goes: a buffer, handed on to a file in pieces when there is one. */
struct dumper {
	struct syn_buf *out;
	FILE *f; /* NULL: the whole text stays in out */
};

/* What syn_doc_print() writes at a time. */
#define DUMP_PIECE (64u * 1024u)

static int put(struct dumper *d, const void *data, size_t len)
{
	struct syn_buf *b = d->out;

	if (len >= b->alloc - b->len)
		return syn_buf_put(b, data, len);
	memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

/* With a file, write out what the buffer holds once it is a piece's worth. */
static int flush(struct dumper *d, bool all)
{
	if (!d->f || (!all && d->out->len < DUMP_PIECE) || !d->out->len)
		return 0;
	if (fwrite(d->out->ptr, 1, d->out->len, d->f) != d->out->len)
		return syn_error_set_errno(SYN_EIO, errno, "cannot write the output");
	syn_buf_clear(d->out);
	return 0;
}

static int dump_value(struct dumper *d, const json_t *v, int depth);

/* A string literal and its length, for put(). */
#define LIT(s) s, sizeof(s) - 1

/* A newline and two spaces per level. */
static int dump_indent(struct dumper *d, int depth)
{
	static const char nl_spaces[] = "\n                                                                ";
	const size_t most = sizeof(nl_spaces) - 2;
	size_t n = 2 * (size_t)depth, k = n < most ? n : most;
	int rc = put(d, nl_spaces, 1 + k);

	for (n -= k; !rc && n; n -= k) {
		k = n < most ? n : most;
		rc = put(d, nl_spaces + 1, k);
	}
	return rc;
}

static int dump_string(struct dumper *d, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run = 0;
	int rc = put(d, LIT("\""));

	while (!rc && i < len) {
		unsigned char c;
		char esc[6] = "\\u00";

		/* a run of bytes a JSON string holds as they are */
		while (i < len && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
			i++;
		if (i == len)
			break;
		c = (unsigned char)s[i];
		rc = put(d, s + run, i - run);
		run = ++i;
		if (rc)
			break;
		switch (c) {
		case '"': rc = put(d, LIT("\\\"")); break;
		case '\\': rc = put(d, LIT("\\\\")); break;
		case '\n': rc = put(d, LIT("\\n")); break;
		case '\r': rc = put(d, LIT("\\r")); break;
		case '\t': rc = put(d, LIT("\\t")); break;
		case '\b': rc = put(d, LIT("\\b")); break;
		case '\f': rc = put(d, LIT("\\f")); break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			rc = put(d, esc, sizeof(esc));
		}
	}
	if (!rc)
		rc = put(d, s + run, len - run);
	return rc ? rc : put(d, LIT("\""));
}

static int dump_integer(struct dumper *d, json_int_t n)
{
	char text[24], *p = text + sizeof(text);
	unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (n < 0)
		*--p = '-';
	return put(d, p, (size_t)(text + sizeof(text) - p));
}

/*
 * Python's repr(): the shortest digits that read back to the same double,
 * fixed notation for exponents -4..15, else d.ddde±XX; always a real
 * ("100.0", never "100", which would read back as an integer).
 */
static int dump_real(struct dumper *d, double x)
{
	char sci[40], digits[24], text[64];
	int prec, exp, nd = 0, rc;
	const char *p;
	bool neg;

	if (x != x || x - x != 0)
		return syn_error_set(SYN_EINVALID, "cannot write a non-finite number to JSON");
	for (prec = 0; prec < 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec, x);
		if (strtod(sci, NULL) == x)
			break;
	}
	neg = sci[0] == '-';
	for (p = sci + neg; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	exp = (int)strtol(p + 1, NULL, 10);
	if (digits[0] == '0')
		exp = 0;
	rc = syn_buf_puts(d->out, neg ? "-" : "");
	if (rc)
		return rc;
	if (exp >= 16 || exp < -4) {
		snprintf(text, sizeof(text), "%c%s%se%c%02d", digits[0], nd > 1 ? "." : "", digits + 1,
			 exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return syn_buf_puts(d->out, text);
	}
	if (exp < 0)
		return syn_buf_printf(d->out, "0.%.*s%s", -exp - 1, "0000", digits);
	if (nd <= exp + 1)
		return syn_buf_printf(d->out, "%s%.*s.0", digits, exp + 1 - nd, "0000000000000000");
	return syn_buf_printf(d->out, "%.*s.%s", exp + 1, digits, digits + exp + 1);
}

/* A member of an object being written: its key and value. */
struct member {
	const char *key;
	size_t len;
	json_t *value;
};

static int cmp_members(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	return strcmp(x->key, y->key);
}

static int dump_object(struct dumper *d, const json_t *obj, int depth)
{
	size_t n = json_object_size(obj), i = 0, len;
	struct member small[24], *m = small;
	const char *key;
	json_t *v;
	int rc = 0;

	if (n == 0)
		return put(d, LIT("{}"));
	if (n > sizeof(small) / sizeof(small[0])) {
		m = malloc(n * sizeof(*m));
		if (!m)
			return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	json_object_keylen_foreach((json_t *)obj, key, len, v) {
		m[i].key = key;
		m[i].len = len;
		m[i++].value = v;
	}
	qsort(m, n, sizeof(*m), cmp_members);
	rc = put(d, LIT("{"));
	for (i = 0; !rc && i < n; i++) {
		if (i)
			rc = put(d, LIT(","));
		if (!rc)
			rc = dump_indent(d, depth + 1);
		if (!rc)
			rc = dump_string(d, m[i].key, m[i].len);
		if (!rc)
			rc = put(d, LIT(": "));
		if (!rc)
			rc = dump_value(d, m[i].value, depth + 1);
		if (!rc)
			rc = flush(d, false);
	}
	if (!rc)
		rc = dump_indent(d, depth);
	if (m != small)
		free(m);
	return rc ? rc : put(d, LIT("}"));
}

static int dump_value(struct dumper *d, const json_t *v, int depth)
{
	size_t i, n;
	int rc;

	if (depth > 512)
		return syn_error_set(SYN_EINVALID, "JSON document nested too deeply");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return dump_object(d, v, depth);
	case JSON_ARRAY:
		n = json_array_size(v);
		if (n == 0)
			return put(d, LIT("[]"));
		rc = put(d, LIT("["));
		for (i = 0; !rc && i < n; i++) {
			if (i)
				rc = put(d, LIT(","));
			if (!rc)
				rc = dump_indent(d, depth + 1);
			if (!rc)
				rc = dump_value(d, json_array_get(v, i), depth + 1);
			if (!rc)
				rc = flush(d, false);
		}
		if (!rc)
			rc = dump_indent(d, depth);
		return rc ? rc : put(d, LIT("]"));
	case JSON_STRING:
		return dump_string(d, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return dump_integer(d, json_integer_value(v));
	case JSON_REAL:
		return dump_real(d, json_real_value(v));
	case JSON_TRUE:
		return put(d, LIT("true"));
	case JSON_FALSE:
		return put(d, LIT("false"));
	case JSON_NULL:
		return put(d, LIT("null"));
	}
	return syn_error_set(SYN_EINVALID, "unknown JSON value type");
}

int syn_doc_dump(struct syn_buf *out, const json_t *doc)
{
	struct dumper d = { out, NULL };
	int rc;

	syn_buf_clear(out);
	rc = dump_value(&d, doc, 0);
	return rc ? rc : put(&d, LIT("\n"));
}

int syn_doc_print(FILE *f, const json_t *doc)
{
	struct syn_buf text = SYN_BUF_INIT;
	struct dumper d = { &text, f };
	int rc = dump_value(&d, doc, 0);

	if (!rc)
		rc = put(&d, LIT("\n"));
	if (!rc)
		rc = flush(&d, true);
	if (!rc && fflush(f))
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot write the output");
	syn_buf_dispose(&text);
	return rc;
}

/* ---- writing a document as it is made ---------------------------------------- */

/* How deep an emitted document may nest. */
#define EMIT_DEPTH 32

struct syn_emit {
	int rc;             /* the first failure, kept: every later call gives it again */
	int depth;          /* open containers */
	bool after_key;     /* a key was given; its value comes next */
	bool rooted;        /* the root value is begun */
	char close[EMIT_DEPTH]; /* '}' or ']' per open container */
	bool any[EMIT_DEPTH];   /* the container at that depth has a member */
	/* to a file: the canonical text, a piece at a time */
	struct dumper d;
	struct syn_buf text;
	/* to a tree: the open containers, the key pending, the root */
	json_t *open[EMIT_DEPTH];
	struct syn_buf key;
	json_t *root;
};

static int emit_new(struct syn_emit **out, FILE *f)
{
	struct syn_emit *e = calloc(1, sizeof(*e));

	*out = e;
	if (!e)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	e->text = (struct syn_buf)SYN_BUF_INIT;
	e->key = (struct syn_buf)SYN_BUF_INIT;
	e->d.out = &e->text;
	e->d.f = f;
	return 0;
}

int syn_emit_to_json(struct syn_emit **out)
{
	return emit_new(out, NULL);
}

int syn_emit_to_file(struct syn_emit **out, FILE *f)
{
	return f ? emit_new(out, f) : syn_error_set(SYN_EINVALID, "no file to write to");
}

static int emit_fail(struct syn_emit *e, int rc)
{
	if (!e->rc)
		e->rc = rc;
	return e->rc;
}

/*
 * Take the place of the next value, in either mode: the one root, a
 * member of an object after its key, or an array's next member (*@member
 * set: text writes its separator and indent).
 */
static int emit_slot(struct syn_emit *e, bool *member)
{
	*member = false;
	if (e->rc)
		return e->rc;
	if (!e->depth) {
		if (e->rooted)
			return emit_fail(e, syn_error_set(SYN_EINVALID, "a document has one root"));
		e->rooted = true;
	} else if (e->close[e->depth - 1] == '}') {
		if (!e->after_key)
			return emit_fail(e, syn_error_set(SYN_EINVALID, "a member of an object needs its key first"));
		e->after_key = false;
	} else {
		*member = true;
	}
	return 0;
}

/* In text: take the next value's place and write what comes before it. */
static int emit_lead(struct syn_emit *e)
{
	bool member;
	int rc = emit_slot(e, &member);

	if (rc || !member)
		return rc;
	if (e->any[e->depth - 1])
		rc = put(&e->d, LIT(","));
	if (!rc)
		rc = dump_indent(&e->d, e->depth);
	e->any[e->depth - 1] = true;
	return rc ? emit_fail(e, rc) : 0;
}

/* In a tree: hang @v (stolen; NULL when it could not be made) where the document is. */
static int emit_place(struct syn_emit *e, json_t *v)
{
	json_t *parent;
	bool member = false;
	int rc = v ? emit_slot(e, &member) : emit_fail(e, syn_error_set(SYN_ENOMEM, "out of memory"));

	if (rc) {
		json_decref(v);
		return rc;
	}
	if (!e->depth) {
		e->root = v;
		return 0;
	}
	parent = e->open[e->depth - 1];
	if (member ? json_array_append_new(parent, v) : json_object_set_new(parent, e->key.ptr, v))
		return emit_fail(e, syn_error_set(SYN_ENOMEM, "out of memory"));
	return 0;
}

/* In text: after a value written with @rc; a piece's worth goes out between members near the top. */
static int emit_text_end(struct syn_emit *e, int rc)
{
	if (!rc && e->depth <= 2)
		rc = flush(&e->d, false);
	return rc ? emit_fail(e, rc) : 0;
}

static int emit_open(struct syn_emit *e, bool object)
{
	json_t *v;
	int rc;

	if (e->rc)
		return e->rc;
	if (e->depth == EMIT_DEPTH)
		return emit_fail(e, syn_error_set(SYN_EINVALID, "JSON document nested too deeply"));
	if (e->d.f) {
		rc = emit_lead(e);
		if (!rc)
			rc = object ? put(&e->d, LIT("{")) : put(&e->d, LIT("["));
		if (rc)
			return emit_fail(e, rc);
	} else {
		v = object ? json_object() : json_array();
		if ((rc = emit_place(e, v)))
			return rc;
		e->open[e->depth] = v; /* borrowed: its parent, or the root, holds it */
	}
	e->close[e->depth] = object ? '}' : ']';
	e->any[e->depth++] = false;
	return 0;
}

int syn_emit_object(struct syn_emit *e)
{
	return emit_open(e, true);
}

int syn_emit_array(struct syn_emit *e)
{
	return emit_open(e, false);
}

int syn_emit_end(struct syn_emit *e)
{
	char close;
	int rc = 0;

	if (e->rc)
		return e->rc;
	if (!e->depth || e->after_key)
		return emit_fail(e, syn_error_set(SYN_EINVALID, "nothing to end here"));
	close = e->close[--e->depth];
	if (!e->d.f)
		return 0;
	if (e->any[e->depth])
		rc = dump_indent(&e->d, e->depth);
	if (!rc)
		rc = put(&e->d, &close, 1);
	if (!rc && e->depth <= 1)
		rc = flush(&e->d, false);
	return rc ? emit_fail(e, rc) : 0;
}

int syn_emit_key(struct syn_emit *e, const char *key)
{
	int rc;

	if (e->rc)
		return e->rc;
	if (!e->depth || e->close[e->depth - 1] != '}' || e->after_key)
		return emit_fail(e, syn_error_set(SYN_EINVALID, "a key belongs in an object, before its value"));
	e->after_key = true;
	if (!e->d.f)
		return (rc = syn_buf_sets(&e->key, key)) ? emit_fail(e, rc) : 0;
	rc = e->any[e->depth - 1] ? put(&e->d, LIT(",")) : 0;
	e->any[e->depth - 1] = true;
	if (!rc)
		rc = dump_indent(&e->d, e->depth);
	if (!rc)
		rc = dump_string(&e->d, key, strlen(key));
	if (!rc)
		rc = put(&e->d, LIT(": "));
	return rc ? emit_fail(e, rc) : 0;
}

int syn_emit_string(struct syn_emit *e, const char *s)
{
	int rc;

	if (!s)
		return syn_emit_null(e);
	if (!e->d.f)
		return emit_place(e, json_string(s));
	return (rc = emit_lead(e)) ? rc : emit_text_end(e, dump_string(&e->d, s, strlen(s)));
}

int syn_emit_integer(struct syn_emit *e, json_int_t n)
{
	int rc;

	if (!e->d.f)
		return emit_place(e, json_integer(n));
	return (rc = emit_lead(e)) ? rc : emit_text_end(e, dump_integer(&e->d, n));
}

int syn_emit_bool(struct syn_emit *e, bool b)
{
	int rc;

	if (!e->d.f)
		return emit_place(e, json_boolean(b));
	if ((rc = emit_lead(e)))
		return rc;
	return emit_text_end(e, b ? put(&e->d, LIT("true")) : put(&e->d, LIT("false")));
}

int syn_emit_null(struct syn_emit *e)
{
	int rc;

	if (!e->d.f)
		return emit_place(e, json_null());
	return (rc = emit_lead(e)) ? rc : emit_text_end(e, put(&e->d, LIT("null")));
}

int syn_emit_value(struct syn_emit *e, const json_t *v)
{
	int rc;

	if (!v)
		return emit_fail(e, syn_error_set(SYN_EINVALID, "no value to write"));
	/* a tree shares it; text is written from it */
	if (!e->d.f)
		return emit_place(e, json_incref((json_t *)v));
	return (rc = emit_lead(e)) ? rc : emit_text_end(e, dump_value(&e->d, v, e->depth));
}

int syn_emit_finish(struct syn_emit *e, json_t **out)
{
	int rc;

	if (out)
		*out = NULL;
	if (e->rc)
		return e->rc;
	if (e->depth || !e->rooted)
		return emit_fail(e, syn_error_set(SYN_EINVALID, "the document is not complete"));
	if (!e->d.f) {
		if (out) {
			*out = e->root;
			e->root = NULL;
		}
		return 0;
	}
	rc = put(&e->d, LIT("\n"));
	if (!rc)
		rc = flush(&e->d, true);
	if (!rc && fflush(e->d.f))
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot write the output");
	return rc ? emit_fail(e, rc) : 0;
}

int syn_emit_tree(json_t **out, int (*write)(struct syn_emit *e, void *arg), void *arg)
{
	struct syn_emit *e = NULL;
	int rc = syn_emit_to_json(&e);

	*out = NULL;
	if (!rc)
		rc = write(e, arg);
	if (!rc)
		rc = syn_emit_finish(e, out);
	syn_emit_free(e);
	return rc;
}

void syn_emit_free(struct syn_emit *e)
{
	if (!e)
		return;
	json_decref(e->root);
	syn_buf_dispose(&e->text);
	syn_buf_dispose(&e->key);
	free(e);
}

int syn_doc_write(int dirfd, const char *relpath, const json_t *doc)
{
	struct syn_buf text = SYN_BUF_INIT;
	int rc;

	rc = syn_doc_dump(&text, doc);
	if (!rc)
		rc = syn_fs_write_atomic(dirfd, relpath, text.ptr, text.len, 0644);
	syn_buf_dispose(&text);
	return rc;
}

const char *syn_doc_str(const json_t *obj, const char *key, const char *fallback)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : fallback;
}
