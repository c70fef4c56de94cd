/* JSON documents: read with positions, write canonically and atomically. */
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
static int dump_value(struct syn_buf *out, const json_t *v, int depth);

static int dump_indent(struct syn_buf *out, int depth)
{
	int rc = syn_buf_puts(out, "\n");

	while (!rc && depth-- > 0)
		rc = syn_buf_puts(out, "  ");
	return rc;
}

static int dump_string(struct syn_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	int rc = syn_buf_puts(out, "\"");

	for (i = 0; !rc && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = syn_buf_put(out, s + run, i - run);
		run = i + 1;
		if (rc)
			break;
		switch (c) {
		case '"': rc = syn_buf_puts(out, "\\\""); break;
		case '\\': rc = syn_buf_puts(out, "\\\\"); break;
		case '\n': rc = syn_buf_puts(out, "\\n"); break;
		case '\r': rc = syn_buf_puts(out, "\\r"); break;
		case '\t': rc = syn_buf_puts(out, "\\t"); break;
		case '\b': rc = syn_buf_puts(out, "\\b"); break;
		case '\f': rc = syn_buf_puts(out, "\\f"); break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc[6] = '\0';
			rc = syn_buf_puts(out, esc);
		}
	}
	if (!rc)
		rc = syn_buf_put(out, s + run, len - run);
	return rc ? rc : syn_buf_puts(out, "\"");
}

/*
 * Python's repr(): the shortest digits that read back to the same double,
 * fixed notation for exponents -4..15, else d.ddde±XX; always a real
 * ("100.0", never "100", which would read back as an integer).
 */
static int dump_real(struct syn_buf *out, double d)
{
	char sci[40], digits[24], text[64];
	int prec, exp, nd = 0, rc;
	const char *p;
	bool neg;

	if (d != d || d - d != 0)
		return syn_error_set(SYN_EINVALID, "cannot write a non-finite number to JSON");
	for (prec = 0; prec < 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec, d);
		if (strtod(sci, NULL) == d)
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
	rc = syn_buf_puts(out, neg ? "-" : "");
	if (rc)
		return rc;
	if (exp >= 16 || exp < -4) {
		snprintf(text, sizeof(text), "%c%s%se%c%02d", digits[0], nd > 1 ? "." : "", digits + 1,
			 exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return syn_buf_puts(out, text);
	}
	if (exp < 0)
		return syn_buf_printf(out, "0.%.*s%s", -exp - 1, "0000", digits);
	if (nd <= exp + 1)
		return syn_buf_printf(out, "%s%.*s.0", digits, exp + 1 - nd, "0000000000000000");
	return syn_buf_printf(out, "%.*s.%s", exp + 1, digits, digits + exp + 1);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int dump_object(struct syn_buf *out, const json_t *obj, int depth)
{
	size_t n = json_object_size(obj), i = 0;
	const char **keys;
	const char *key;
	json_t *v;
	int rc = 0;

	if (n == 0)
		return syn_buf_puts(out, "{}");
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	json_object_foreach((json_t *)obj, key, v)
		keys[i++] = key;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	rc = syn_buf_puts(out, "{");
	for (i = 0; !rc && i < n; i++) {
		if (i)
			rc = syn_buf_puts(out, ",");
		if (!rc)
			rc = dump_indent(out, depth + 1);
		if (!rc)
			rc = dump_string(out, keys[i], strlen(keys[i]));
		if (!rc)
			rc = syn_buf_puts(out, ": ");
		if (!rc)
			rc = dump_value(out, json_object_get(obj, keys[i]), depth + 1);
	}
	if (!rc)
		rc = dump_indent(out, depth);
	free(keys);
	return rc ? rc : syn_buf_puts(out, "}");
}

static int dump_value(struct syn_buf *out, const json_t *v, int depth)
{
	size_t i;
	int rc;

	if (depth > 512)
		return syn_error_set(SYN_EINVALID, "JSON document nested too deeply");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return dump_object(out, v, depth);
	case JSON_ARRAY:
		if (json_array_size(v) == 0)
			return syn_buf_puts(out, "[]");
		rc = syn_buf_puts(out, "[");
		for (i = 0; !rc && i < json_array_size(v); i++) {
			if (i)
				rc = syn_buf_puts(out, ",");
			if (!rc)
				rc = dump_indent(out, depth + 1);
			if (!rc)
				rc = dump_value(out, json_array_get(v, i), depth + 1);
		}
		if (!rc)
			rc = dump_indent(out, depth);
		return rc ? rc : syn_buf_puts(out, "]");
	case JSON_STRING:
		return dump_string(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return syn_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return dump_real(out, json_real_value(v));
	case JSON_TRUE:
		return syn_buf_puts(out, "true");
	case JSON_FALSE:
		return syn_buf_puts(out, "false");
	case JSON_NULL:
		return syn_buf_puts(out, "null");
	}
	return syn_error_set(SYN_EINVALID, "unknown JSON value type");
}

int syn_doc_dump(struct syn_buf *out, const json_t *doc)
{
	int rc;

	syn_buf_clear(out);
	rc = dump_value(out, doc, 0);
	return rc ? rc : syn_buf_puts(out, "\n");
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
