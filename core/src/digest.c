/*
 * digest: a per-pack summary of pack.json and lock.json, cached in
 * data/cache/packs.digest (git's index plays this part for the work tree:
 * file metadata says whether the cached content still holds).
 *
 * The file is text: a header line, then per pack one "p" line and its
 * "e" (resolved entry), "q" (required dependency) and "u" (unresolved
 * entry) lines, fields separated by tabs, with '\\', tab and newline
 * escaped; an "end" line closes it, so a file cut short is noticed and
 * ignored. Records are parsed only when a command asks for their pack.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/hash.h"
#include "synapse/names.h"

#include "digest.h"
#include "docs.h"
#include "store.h"

#define CACHE_PATH "cache/packs.digest"
#define CACHE_HEADER "synapse-pack-digest 2\n"
#define CACHE_END "end\n"
#define CACHE_MAX ((size_t)1 << 30)

struct rec {
	char *name;
	const char *text; /* the escaped lines of the record: in the loaded file or in @owned */
	size_t len;
	char *owned;
	size_t nlen;
	char sig[17];     /* stamp of the documents it was read from (syn__docs_pack_stamp()); "" never matches */
	char now_sig[17]; /* their stamp when this handle last looked; "" before */
	unsigned epoch; /* the hold (syn__store_held()) it was last checked in; 0: none */
	bool parsed;
	char *strings;  /* @text unescaped, which the digest points into */
	void *arrays;
	struct syn__pack_digest d;
};

struct table {
	struct syn_buf file;
	struct rec **slots;
	size_t cap, count;
	bool loaded, dirty;
	uint64_t file_stamp; /* of the cache file as this handle last loaded or wrote it */
	unsigned seen_hold;  /* the last hold (syn__store_held()) a digest was asked for in */
};

/* ---- the table --------------------------------------------------------- */

/* The slot of pack @name (@n bytes) in @t: the one holding its record, or the free one it would take. */
static struct rec **slot_of(struct table *t, const char *name, size_t n)
{
	size_t i = (size_t)syn_fnv1a(SYN_FNV1A_INIT, name, n) & (t->cap - 1);

	while (t->slots[i] && (t->slots[i]->nlen != n || memcmp(t->slots[i]->name, name, n)))
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

/* Forget what parsing @r made. */
static void rec_clear_parse(struct rec *r)
{
	free(r->strings);
	free(r->arrays);
	r->strings = NULL;
	r->arrays = NULL;
	r->parsed = false;
}

/* Free record @r (may be NULL) and all it owns. */
static void rec_free(struct rec *r)
{
	if (!r)
		return;
	rec_clear_parse(r);
	free(r->name);
	free(r->owned);
	free(r);
}

/* Double @t's slots (64 at first), placing its records again. SYN_ENOMEM. */
static int grow(struct table *t)
{
	struct rec **old = t->slots;
	size_t oldcap = t->cap, i;

	t->cap = oldcap ? oldcap * 2 : 64;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		t->cap = oldcap;
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	for (i = 0; i < oldcap; i++)
		if (old[i])
			*slot_of(t, old[i]->name, old[i]->nlen) = old[i];
	free(old);
	return 0;
}

/* Put @r in the table, replacing (and freeing) a record of the same name. */
static int put(struct table *t, struct rec *r)
{
	struct rec **s;

	if ((t->count + 1) * 2 > t->cap && grow(t))
		return SYN_ENOMEM;
	s = slot_of(t, r->name, r->nlen);
	if (*s)
		rec_free(*s);
	else
		t->count++;
	*s = r;
	return 0;
}

/* Free a table and its records: the store slot's release. */
static void table_free(void *p)
{
	struct table *t = p;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->cap; i++)
		rec_free(t->slots[i]);
	free(t->slots);
	syn_buf_dispose(&t->file);
	free(t);
}

/* ---- escaping ---------------------------------------------------------- */

/* Append @s (may be NULL) with '\\', tab and newline escaped. */
static int put_field(struct syn_buf *b, const char *s)
{
	int rc = 0;

	for (; !rc && s && *s; s++)
		rc = *s == '\\' ? syn_buf_puts(b, "\\\\")
		   : *s == '\t' ? syn_buf_puts(b, "\\t")
		   : *s == '\n' ? syn_buf_puts(b, "\\n")
				: syn_buf_put(b, s, 1);
	return rc;
}

/*
 * Unescape the field at @p (ending at a tab, newline or NUL) in place and
 * NUL-terminate it; *@eol when it was the last of its line. Returns what
 * follows it.
 */
static char *take_field(char *p, char **field, bool *eol)
{
	char *w = p;

	*field = p;
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

/* ---- parsing a record -------------------------------------------------- */

/* Parse @r's text into r->d; SYN_ECORRUPT when it is not a record (the cache is then not trusted). */
static int rec_parse(struct rec *r)
{
	size_t ne = 0, nq = 0, nu = 0, i;
	struct syn__digest_entry *e;
	struct syn__digest_required *q;
	struct syn__digest_unresolved *u;
	char *p, *f[14];
	bool eol;
	int k;

	rec_clear_parse(r);
	r->strings = malloc(r->len + 1);
	if (!r->strings)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	memcpy(r->strings, r->text, r->len);
	r->strings[r->len] = '\0';
	for (i = 0; i < r->len; i++)
		if (i == 0 || r->text[i - 1] == '\n') {
			ne += r->text[i] == 'e';
			nq += r->text[i] == 'q';
			nu += r->text[i] == 'u';
		}
	r->arrays = calloc(1, ne * sizeof(*e) + nq * sizeof(*q) + nu * sizeof(*u) + 1);
	if (!r->arrays)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	e = r->arrays;
	q = (struct syn__digest_required *)(e + ne);
	u = (struct syn__digest_unresolved *)(q + nq);
	memset(&r->d, 0, sizeof(r->d));
	r->d.entries = e;
	r->d.required = q;
	r->d.unresolved = u;
	for (p = r->strings; *p;) {
		char type = *p;

		if (p[1] != '\t')
			return syn_error_set(SYN_ECORRUPT, "bad pack digest line");
		p += 2;
		for (k = 0, eol = false; !eol && k < 14; k++)
			p = take_field(p, &f[k], &eol);
		if (!eol)
			return syn_error_set(SYN_ECORRUPT, "bad pack digest line");
		if (type == 'p' && k == 8) {
			r->d.name = f[0];
			r->d.sig = f[1];
			r->d.stamp = r->now_sig;
			r->d.pack_type = f[2][0] ? f[2] : "unknown";
			r->d.ndeps = strtoul(f[3], NULL, 10);
			r->d.has_lock = f[4][0] == '1';
			r->d.pack_rc = (int)strtol(f[5], NULL, 10);
			r->d.pack_error = f[6][0] ? f[6] : NULL;
			r->d.lock_error = f[7][0] ? f[7] : NULL;
		} else if (type == 'e' && k == 13 && r->d.nentries < ne) {
			e[r->d.nentries++] = (struct syn__digest_entry){ .dep_id = f[0], .sha256 = f[1],
				.has_dep = f[2][0] == '1', .kind = f[3], .fname = f[4], .problem = f[5][0] ? f[5] : NULL,
				.size = f[6], .provider = f[7], .model_id = f[8], .version_id = f[9], .file_id = f[10],
				.filename = f[11], .repo_id = f[12] };
		} else if (type == 'q' && k == 2 && r->d.nrequired < nq) {
			q[r->d.nrequired++] = (struct syn__digest_required){ .dep_id = f[0], .sha256 = f[1] };
		} else if (type == 'u' && k == 4 && r->d.nunresolved < nu) {
			u[r->d.nunresolved++] = (struct syn__digest_unresolved){ .dep_id = f[0],
				.optional = f[1][0] == '1', .reason = f[2], .details = f[3] };
		} else {
			return syn_error_set(SYN_ECORRUPT, "bad pack digest line");
		}
	}
	if (!r->d.name || strcmp(r->d.name, r->name))
		return syn_error_set(SYN_ECORRUPT, "bad pack digest record");
	r->parsed = true;
	return 0;
}

/* ---- loading the cache ------------------------------------------------- */

/* A record for the text @text..@end (its first line a "p" line), or NULL. */
static struct rec *rec_from_file(const char *text, const char *end)
{
	const char *name = text + 2, *tab = memchr(name, '\t', (size_t)(end - name));
	const char *sig, *sig_end;
	struct rec *r;

	if (!tab)
		return NULL;
	sig = tab + 1;
	sig_end = memchr(sig, '\t', (size_t)(end - sig));
	r = calloc(1, sizeof(*r));
	if (!r || !sig_end || !(r->name = strndup(name, (size_t)(tab - name)))) {
		rec_free(r);
		return NULL;
	}
	r->nlen = (size_t)(tab - name);
	/* a stamp is 16 hex digits; anything else never matches */
	if (sig_end - sig == 16)
		memcpy(r->sig, sig, 16);
	r->text = text;
	r->len = (size_t)(end - text);
	return r;
}

/* A stamp of data/cache/packs.digest's file metadata; 0 when it is missing. */
static uint64_t file_stamp(struct syn_store *st)
{
	int fd = syn_store_data_fd(st);
	struct stat sb;
	uint64_t f[4];

	if (fd < 0 || fstatat(fd, CACHE_PATH, &sb, 0)) {
		syn_error_clear();
		return 0;
	}
	f[0] = (uint64_t)sb.st_ino;
	f[1] = (uint64_t)sb.st_size;
	f[2] = (uint64_t)sb.st_mtim.tv_sec;
	f[3] = (uint64_t)sb.st_mtim.tv_nsec;
	return syn_fnv1a(SYN_FNV1A_INIT, f, sizeof(f)) | 1;
}

/* Forget every record of @t (to load the cache again). */
static void drop_all(struct table *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++) {
		rec_free(t->slots[i]);
		t->slots[i] = NULL;
	}
	t->count = 0;
	t->dirty = false;
	syn_buf_clear(&t->file);
}

/* Load data/cache/packs.digest into @t; a missing, short or damaged file loads nothing. */
static void load(struct syn_store *st, struct table *t)
{
	const char *p, *end, *start = NULL;
	int fd = syn_store_data_fd(st);

	t->loaded = true;
	t->file_stamp = file_stamp(st);
	if (fd < 0 || syn_fs_read(&t->file, fd, CACHE_PATH, CACHE_MAX))
		goto drop;
	p = t->file.ptr;
	end = p + t->file.len;
	if (t->file.len < strlen(CACHE_HEADER) + strlen(CACHE_END) || memcmp(p, CACHE_HEADER, strlen(CACHE_HEADER)) ||
	    memcmp(end - strlen(CACHE_END), CACHE_END, strlen(CACHE_END)))
		goto drop;
	end -= strlen(CACHE_END);
	for (p += strlen(CACHE_HEADER); p <= end; p++) {
		const char *nl;

		if (p == end || (p[0] == 'p' && p[1] == '\t')) {
			if (start) {
				struct rec *r = rec_from_file(start, p);

				if (!r || put(t, r)) {
					rec_free(r);
					goto drop;
				}
			}
			start = p;
			if (p == end)
				break;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			goto drop;
		p = nl;
	}
	syn_error_clear();
	return;
drop:
	/* nothing of a damaged cache is trusted */
	drop_all(t);
	syn_error_clear();
}

/* The table of @st in *@out, made and loaded from the cache file on first use. SYN_ENOMEM. */
static int table_of(struct syn_store *st, struct table **out)
{
	struct table *t = syn__store_cache(st, SYN__CACHE_DIGESTS);

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		if (grow(t)) {
			free(t);
			return SYN_ENOMEM;
		}
		syn__store_set_cache(st, SYN__CACHE_DIGESTS, t, table_free);
	}
	if (!t->loaded)
		load(st, t);
	*out = t;
	return 0;
}

/* ---- reading the documents --------------------------------------------- */

/* Append a tab and @s escaped. */
static int put_next(struct syn_buf *b, const char *s)
{
	int rc = syn_buf_puts(b, "\t");

	return rc ? rc : put_field(b, s);
}

/* put_next() of why entry @dep_id of @pack (@sha, @kind, @fname_j) cannot be linked, or of "". */
static int put_problem(struct syn_buf *b, const char *pack, const char *dep_id, const char *sha, const char *kind,
		       const json_t *fname_j)
{
	const char *fname = json_string_value(fname_j);
	struct syn_buf msg = SYN_BUF_INIT;
	int rc = 0;

	if (syn_name_check_sha256(sha) || syn_name_check_ident("asset kind", kind) ||
	    (fname && strlen(fname) != json_string_length(fname_j) &&
	     syn_error_set(SYN_EINVALID, "file name has an embedded NUL")) || syn_name_check_file(fname)) {
		if (syn_error_code() == SYN_ENOMEM)
			return SYN_ENOMEM;
		rc = syn_buf_printf(&msg, "%s/%s: %s; not linked", pack, dep_id, syn_error_last());
		syn_error_clear();
	}
	if (!rc)
		rc = put_next(b, msg.ptr);
	syn_buf_dispose(&msg);
	return rc;
}

/* put_next() of a scalar member (a string as it is, an integer in decimal; "" for anything else). */
static int put_scalar(struct syn_buf *b, const json_t *v)
{
	char num[32];

	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return put_next(b, num);
	}
	return put_next(b, json_is_string(v) ? json_string_value(v) : "");
}

/* What a lock artifact says of its file's size and origin, as seven fields. */
static int put_artifact(struct syn_buf *b, const json_t *art)
{
	static const char *const keys[] = { "name", "model_id", "version_id", "file_id", "filename", "repo_id" };
	const json_t *prov = json_object_get(art, "provider");
	size_t i;
	int rc = put_scalar(b, json_object_get(art, "size_bytes"));

	for (i = 0; !rc && i < sizeof(keys) / sizeof(keys[0]); i++)
		rc = put_scalar(b, json_object_get(prov, keys[i]));
	return rc;
}

/* Read document @file of pack @name into *@doc; its error message (not SYN_ENOMEM) goes to @msg. */
static int read_doc(struct syn_store *st, const char *name, const char *file, json_t **doc, struct syn_buf *msg)
{
	int rc = !strcmp(file, "lock.json") ? syn__docs_lock_load(st, name, doc)
					    : syn__docs_pack_read(st, name, file, doc);

	if (rc && rc != SYN_ENOMEM) {
		if (syn_buf_puts(msg, syn_error_last()))
			return SYN_ENOMEM;
		syn_error_clear();
	}
	return rc;
}

/* The record of pack @name, read from its documents whose signature is @sig, into @b. */
static int read_docs(struct syn_store *st, const char *name, const char *sig, struct syn_buf *b)
{
	struct syn_buf perr = SYN_BUF_INIT, lerr = SYN_BUF_INIT;
	json_t *pack = NULL, *lock = NULL, *index = json_object(), *deps, *resolved, *d, *e;
	int prc, lrc, rc = index ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	size_t i, k;

	prc = rc ? rc : read_doc(st, name, "pack.json", &pack, &perr);
	lrc = prc == SYN_ENOMEM ? prc : read_doc(st, name, "lock.json", &lock, &lerr);
	if (prc == SYN_ENOMEM || lrc == SYN_ENOMEM) {
		rc = SYN_ENOMEM;
		goto out;
	}
	deps = json_object_get(pack, "dependencies");
	resolved = json_object_get(lock, "resolved");
	json_array_foreach(deps, i, d)
		if (!rc && json_string_value(json_object_get(d, "id")) &&
		    json_object_set(index, json_string_value(json_object_get(d, "id")), d))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		rc = syn_buf_puts(b, "p\t");
	if (!rc)
		rc = put_field(b, name);
	if (!rc)
		rc = put_next(b, sig);
	if (!rc)
		rc = put_next(b, prc ? "" : syn_doc_str(pack, "pack_type", ""));
	if (!rc)
		rc = syn_buf_printf(b, "\t%zu\t%d\t%d", json_array_size(deps), lock != NULL, prc);
	if (!rc)
		rc = put_next(b, perr.ptr);
	if (!rc)
		rc = put_next(b, lerr.ptr);
	if (!rc)
		rc = syn_buf_puts(b, "\n");
	json_array_foreach(resolved, i, e) {
		const char *dep_id = syn_doc_str(e, "dependency_id", "");
		const char *sha = syn_doc_str(json_object_get(e, "artifact"), "sha256", "");
		const json_t *dep = prc ? NULL : json_object_get(index, dep_id), *fname_j;
		const char *kind = dep ? syn_doc_str(dep, "kind", "unknown") : "unknown";

		if (rc || !*sha)
			continue;
		fname_j = json_object_get(json_object_get(dep, "expose"), "filename");
		rc = syn_buf_puts(b, "e\t");
		if (!rc)
			rc = put_field(b, dep_id);
		if (!rc)
			rc = put_next(b, sha);
		if (!rc)
			rc = put_next(b, dep ? "1" : "0");
		if (!rc)
			rc = put_next(b, kind);
		if (!rc)
			rc = put_next(b, json_string_value(fname_j) ? json_string_value(fname_j) : "");
		if (!rc)
			rc = dep ? put_problem(b, name, dep_id, sha, kind, fname_j) : put_next(b, "");
		if (!rc)
			rc = put_artifact(b, json_object_get(e, "artifact"));
		if (!rc)
			rc = syn_buf_puts(b, "\n");
	}
	json_array_foreach(prc ? NULL : deps, i, d) {
		const char *id = syn_doc_str(d, "id", ""), *sha = "";

		if (rc || !json_is_true(json_object_get(d, "required")))
			continue;
		json_array_foreach(resolved, k, e)
			if (!strcmp(syn_doc_str(e, "dependency_id", ""), id))
				sha = syn_doc_str(json_object_get(e, "artifact"), "sha256", "");
		rc = syn_buf_puts(b, "q\t");
		if (!rc)
			rc = put_field(b, id);
		if (!rc)
			rc = put_next(b, sha);
		if (!rc)
			rc = syn_buf_puts(b, "\n");
	}
	json_array_foreach(json_object_get(lock, "unresolved"), i, e) {
		const char *dep_id = syn_doc_str(e, "dependency_id", "");
		json_t *details = json_object_get(e, "details");
		struct syn_buf dump = SYN_BUF_INIT;
		bool optional = false;
		char *text;

		if (rc)
			break;
		json_array_foreach(prc ? NULL : deps, k, d)
			optional = optional || (!strcmp(syn_doc_str(d, "id", ""), dep_id) &&
						json_is_false(json_object_get(d, "required")));
		text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
		rc = details && !text ? SYN_ENOMEM : syn_buf_puts(&dump, text ? text : "{}");
		free(text);
		if (!rc)
			rc = syn_buf_puts(b, "u\t");
		if (!rc)
			rc = put_field(b, dep_id);
		if (!rc)
			rc = put_next(b, optional ? "1" : "0");
		if (!rc)
			rc = put_next(b, syn_doc_str(e, "reason", ""));
		if (!rc)
			rc = put_next(b, dump.ptr);
		if (!rc)
			rc = syn_buf_puts(b, "\n");
		syn_buf_dispose(&dump);
	}
out:
	syn_error_clear();
	syn_buf_dispose(&perr);
	syn_buf_dispose(&lerr);
	json_decref(index);
	json_decref(pack);
	json_decref(lock);
	return rc ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
}

/* ---- the interface ------------------------------------------------------ */

/*
 * Hand out record @r as what the documents stamped @stamp say, in hold
 * @held: parsed if it was not. 0, SYN_ENOMEM, or SYN_ECORRUPT (set) when
 * its text is no record.
 */
static int take(struct rec *r, const char *stamp, unsigned held, const struct syn__pack_digest **out)
{
	int rc = r->parsed ? 0 : rec_parse(r);

	if (rc)
		return rc;
	memcpy(r->now_sig, stamp, sizeof(r->now_sig));
	r->epoch = held;
	*out = &r->d;
	return 0;
}

/* @stamp as the 16 hex digits records keep. */
static void stamp_hex(uint64_t stamp, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--, stamp >>= 4)
		out[i] = hex[stamp & 15];
	out[16] = '\0';
}

int syn__digest_get(struct syn_store *st, const char *name, const struct syn__pack_digest **out)
{
	struct syn_buf text = SYN_BUF_INIT;
	unsigned held = syn__store_held(st);
	bool settled;
	char now[17];
	struct table *t = NULL;
	struct rec *r;
	int rc;

	*out = NULL;
	rc = syn_name_check_pack(name);
	if (!rc)
		rc = table_of(st, &t);
	if (rc)
		return rc;
	/*
	 * A hold that trusts records starts from the cache as it is now: another
	 * process's command may have rewritten it since this handle loaded it.
	 * (No digest of this hold has been handed out yet.)
	 */
	if (held && t->seen_hold != held) {
		t->seen_hold = held;
		if (syn__store_trusts(st, "") && !t->dirty && file_stamp(st) != t->file_stamp) {
			drop_all(t);
			load(st, t);
		}
	}
	r = *slot_of(t, name, strlen(name));
	if (held && r && r->parsed && r->epoch == held && r->now_sig[0]) {
		*out = &r->d;
		return 0;
	}
	/* a settled record of a pack the command did not change is taken as it is; a damaged one is read again */
	if (r && r->sig[0] && syn__store_trusts(st, name) && (rc = take(r, r->sig, held, out)) != SYN_ECORRUPT)
		return rc;
	syn_error_clear();
	stamp_hex(syn__docs_pack_stamp(st, name, &settled), now);
	if (r && r->sig[0] && !strcmp(r->sig, now) && (rc = take(r, now, held, out)) != SYN_ECORRUPT)
		return rc;
	syn_error_clear();
	rc = read_docs(st, name, settled ? now : "", &text);
	if (rc)
		goto out;
	/* read again (it had just changed) and found as recorded: nothing new to write back */
	if (r && r->len == text.len && !memcmp(r->text, text.ptr, text.len) &&
	    (rc = take(r, now, held, out)) != SYN_ECORRUPT)
		goto out;
	syn_error_clear();
	rc = 0;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(name)) || !(r->owned = syn_buf_detach(&text))) {
		rec_free(r);
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	r->nlen = strlen(name);
	memcpy(r->now_sig, now, sizeof(r->now_sig));
	r->text = r->owned;
	r->len = strlen(r->owned);
	r->epoch = held;
	rc = rec_parse(r);
	if (!rc) {
		snprintf(r->sig, sizeof(r->sig), "%s", r->d.sig);
		rc = put(t, r);
	}
	if (rc) {
		rec_free(r);
		goto out;
	}
	t->dirty = true;
	*out = &r->d;
out:
	syn_buf_dispose(&text);
	return rc;
}

void syn__digest_forget(struct syn_store *st, const char *name)
{
	struct table *t = NULL;
	struct rec **slot;
	size_t i, j, k;

	if (table_of(st, &t)) {
		syn_error_clear();
		return;
	}
	slot = slot_of(t, name, strlen(name));
	if (!*slot)
		return;
	rec_free(*slot);
	*slot = NULL;
	t->count--;
	t->dirty = true;
	/* close the gap: the records after it in its probe run move up (Knuth's algorithm R) */
	for (i = (size_t)(slot - t->slots), j = (i + 1) & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
		k = (size_t)syn_fnv1a(SYN_FNV1A_INIT, t->slots[j]->name, t->slots[j]->nlen) & (t->cap - 1);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			t->slots[i] = t->slots[j];
			t->slots[j] = NULL;
			i = j;
		}
	}
}

void syn__digest_flush(struct syn_store *st)
{
	struct table *t = syn__store_cache(st, SYN__CACHE_DIGESTS);
	struct syn_buf b = SYN_BUF_INIT;
	int rc, fd;
	size_t i;

	if (!t || !t->dirty)
		return;
	rc = syn_buf_puts(&b, CACHE_HEADER);
	for (i = 0; !rc && i < t->cap; i++)
		if (t->slots[i])
			rc = syn_buf_put(&b, t->slots[i]->text, t->slots[i]->len);
	if (!rc)
		rc = syn_buf_puts(&b, CACHE_END);
	fd = rc ? -1 : syn_store_data_fd(st);
	if (fd >= 0 && !syn_fs_write_cache(fd, CACHE_PATH, b.ptr, b.len)) {
		t->dirty = false;
		t->file_stamp = file_stamp(st);
	}
	syn_buf_dispose(&b);
	syn_error_clear();
}

int syn__digest_source_key(struct syn_store *st, const char *profile, char hex[SYN_SHA256_HEX_LEN + 1])
{
	struct syn_buf b = SYN_BUF_INIT;
	const json_t *prof = NULL, *v;
	struct table *t;
	size_t i;
	int rc;

	syn__store_hold(st);
	rc = syn__docs_profile_sig(st, profile, &b);
	if (!rc)
		rc = syn__docs_profile_peek(st, profile, &prof);
	if (!rc)
		rc = table_of(st, &t);
	json_array_foreach(json_object_get(prof, "packs"), i, v) {
		const struct syn__pack_digest *d;
		const char *name = syn_doc_str(v, "name", "");
		struct rec *r;

		if (rc)
			break;
		if (syn__digest_get(st, name, &d)) {
			/* a name that is no pack's: its plan says so; the key only needs to be stable */
			if (syn_error_code() == SYN_ENOMEM) {
				rc = SYN_ENOMEM;
				break;
			}
			syn_error_clear();
			rc = syn_buf_puts(&b, "-\n");
			continue;
		}
		r = *slot_of(t, name, strlen(name));
		rc = syn_buf_puts(&b, r->now_sig);
	}
	if (!rc)
		rc = syn_sha256_mem(hex, b.ptr, b.len);
	syn__store_release(st);
	syn_buf_dispose(&b);
	return rc;
}
