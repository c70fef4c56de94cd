/*
 * digest: a per-pack summary of pack.json and lock.json, cached in
 * data/cache/packs.digest (git's index plays this part for the work tree:
 * file metadata says whether the cached content still holds).
 *
 * The file is text: a header line, then batches. A batch holds per pack
 * one "p" line and its "e" (resolved entry), "q" (required dependency) and
 * "u" (unresolved entry) lines, and an "x" line per pack that is gone,
 * fields separated by tabs, with '\\', tab and newline escaped; an
 * "end <items> <checksum>" line closes it. A command appends one batch of
 * what it read anew, so a change of one pack writes one record, not the
 * store's; a later record of a pack replaces an earlier one. A batch cut
 * short or damaged is noticed and it and what follows are ignored (and the
 * records of that load not trusted unchecked); the file is written anew
 * when its dead records outweigh the live ones. Records are parsed only
 * when a command asks for their pack.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
/*
 * The header: this, then 16 hex digits naming the file (a file written
 * whole gets a new name, one appended to keeps it), then a newline.
 */
#define CACHE_MAGIC "synapse-pack-digest 5\t"
#define CACHE_HEADER_LEN (sizeof(CACHE_MAGIC) - 1 + 16 + 1)
/* "end\t<items>\t<checksum>\n": the line closing a batch */
#define CACHE_END "end\t"
#define CACHE_MAX ((size_t)1 << 30)

struct rec {
	const char *text; /* the escaped lines of the record: in the loaded file or in @owned */
	size_t len;
	char *owned;
	bool fresh; /* read from the documents by this handle, not yet in the file */
	/* syn__digest_prefetch(): the documents' stamp taken in hold @pre_hold, and whether they had settled */
	char pre_sig[17];
	bool pre_settled;
	unsigned pre_hold;
	char *strings;  /* @text unescaped, which the digest points into */
	void *arrays;
	struct syn__pack_digest d;
	/* what a lookup reads, next to the name */
	bool parsed;
	unsigned epoch;   /* the hold (syn__store_held()) it was last checked in; 0: none */
	char sig[17];     /* stamp of the documents it was read from (syn__docs_pack_stamp()); "" never matches */
	char now_sig[17]; /* their stamp when this handle last looked; "" before */
	size_t nlen;
	char name[]; /* the pack's, @nlen bytes and a NUL */
};

/* A slot of the table: a record and the high half of its name's hash, at which most probes stop. */
struct slot {
	struct rec *rec; /* first: a slot's address is its record pointer's */
	uint32_t tag;
};

struct table {
	struct syn_fs_map file;
	struct slot *slots;
	size_t cap, count;
	bool loaded, dirty;
	bool torn;           /* the file held a damaged batch: rewrite it whole, trust nothing unchecked */
	size_t live;         /* bytes of the records in the table */
	struct syn_buf gone; /* packs forgotten since the last write, NUL-separated */
	uint64_t file_stamp; /* of the cache file as this handle last loaded or wrote it */
	char id[17];         /* the file's name, from its header */
	size_t known;        /* how much of the file the table holds: its first @known bytes; 0 when not the file's */
	size_t nfresh;       /* records made fresh since the last write (some may be gone since) */
	unsigned seen_hold;  /* the last hold (syn__store_held()) a digest was asked for in */
};

/* ---- the table --------------------------------------------------------- */

/*
 * The slot of pack @name (@n bytes) in @t: the one holding its record, or
 * the free one it would take; its tag is set to @name's, for the record
 * that is or will be there.
 */
static struct rec **slot_of(struct table *t, const char *name, size_t n)
{
	uint64_t h = syn_fnv1a(SYN_FNV1A_INIT, name, n);
	uint32_t tag = (uint32_t)(h >> 32);
	size_t i = (size_t)h & (t->cap - 1);

	while (t->slots[i].rec && (t->slots[i].tag != tag || t->slots[i].rec->nlen != n ||
				   memcmp(t->slots[i].rec->name, name, n)))
		i = (i + 1) & (t->cap - 1);
	t->slots[i].tag = tag;
	return &t->slots[i].rec;
}

/* A zeroed record for pack @name (@n bytes), or NULL without memory. */
static struct rec *rec_new(const char *name, size_t n)
{
	struct rec *r = calloc(1, sizeof(*r) + n + 1);

	if (r) {
		memcpy(r->name, name, n);
		r->nlen = n;
	}
	return r;
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
	free(r->owned);
	free(r);
}

/*
 * Give @t room for @more records beyond its count: its slots doubled (64
 * at first) as need be, its records placed again. SYN_ENOMEM.
 */
static int reserve(struct table *t, size_t more)
{
	struct slot *old = t->slots;
	size_t oldcap = t->cap, i;

	if (t->cap && (t->count + more) * 2 <= t->cap)
		return 0;
	for (t->cap = oldcap ? oldcap : 64; (t->count + more) * 2 > t->cap;)
		t->cap *= 2;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		t->cap = oldcap;
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	for (i = 0; i < oldcap; i++)
		if (old[i].rec)
			*slot_of(t, old[i].rec->name, old[i].rec->nlen) = old[i].rec;
	free(old);
	return 0;
}

/* Put @r in the table, replacing (and freeing) a record of the same name. */
static int put(struct table *t, struct rec *r)
{
	struct rec **s;

	if (reserve(t, 1))
		return SYN_ENOMEM;
	s = slot_of(t, r->name, r->nlen);
	if (*s) {
		t->live -= (*s)->len;
		rec_free(*s);
	} else {
		t->count++;
	}
	*s = r;
	t->live += r->len;
	return 0;
}

/* Take the record in @slot out of @t. */
static void forget_slot(struct table *t, struct rec **slot)
{
	size_t i, j, k;

	t->live -= (*slot)->len;
	rec_free(*slot);
	*slot = NULL;
	t->count--;
	/* close the gap: the records after it in its probe run move up (Knuth's algorithm R) */
	for (i = (size_t)((struct slot *)slot - t->slots), j = (i + 1) & (t->cap - 1); t->slots[j].rec;
	     j = (j + 1) & (t->cap - 1)) {
		k = (size_t)syn_fnv1a(SYN_FNV1A_INIT, t->slots[j].rec->name, t->slots[j].rec->nlen) & (t->cap - 1);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			t->slots[i] = t->slots[j];
			t->slots[j].rec = NULL;
			i = j;
		}
	}
}

/* Free a table and its records: the store slot's release. */
static void table_free(void *p)
{
	struct table *t = p;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->cap; i++)
		rec_free(t->slots[i].rec);
	free(t->slots);
	syn_fs_unmap(&t->file);
	syn_buf_dispose(&t->gone);
	free(t);
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
			p = syn_field_take(p, &f[k], &eol);
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
	if (!sig_end || !(r = rec_new(name, (size_t)(tab - name))))
		return NULL;
	/* a stamp is 16 hex digits; anything else never matches */
	if (sig_end - sig == 16)
		memcpy(r->sig, sig, 16);
	r->text = text;
	r->len = (size_t)(end - text);
	return r;
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

/* A stamp of a file's metadata (never 0). */
static uint64_t stamp_of(const struct stat *sb)
{
	uint64_t f[4] = { (uint64_t)sb->st_ino, (uint64_t)sb->st_size, (uint64_t)sb->st_mtim.tv_sec,
			  (uint64_t)sb->st_mtim.tv_nsec };

	return syn_fnv1a(SYN_FNV1A_INIT, f, sizeof(f)) | 1;
}

/* The stamp of data/cache/packs.digest; 0 when it is missing. */
static uint64_t file_stamp(struct syn_store *st)
{
	int fd = syn_store_data_fd(st);
	struct stat sb;

	if (fd < 0 || fstatat(fd, CACHE_PATH, &sb, 0)) {
		syn_error_clear();
		return 0;
	}
	return stamp_of(&sb);
}

/* Forget every record of @t (to load the cache again). */
static void drop_all(struct table *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++) {
		rec_free(t->slots[i].rec);
		t->slots[i].rec = NULL;
	}
	t->count = 0;
	t->live = 0;
	t->known = 0;
	t->nfresh = 0;
	t->dirty = false;
	t->torn = false;
	syn_fs_unmap(&t->file);
	syn_buf_clear(&t->gone);
}

/* The checksum of a batch's bytes, as its end line writes it. */
static void batch_sum(const char *p, size_t n, char out[17])
{
	stamp_hex(syn_hash64(p, n), out);
}

/* Put the record @text..@end of the file in @t: 1, or 0 when it is not a record; SYN_ENOMEM. */
static int take_record(struct table *t, const char *text, const char *end)
{
	struct rec *r = rec_from_file(text, end);

	if (!r)
		return 0;
	if (put(t, r)) {
		rec_free(r);
		return SYN_ENOMEM;
	}
	return 1;
}

/*
 * Take the batch at @p (ending before @end) into @t: 1 when done, with
 * *@next after its end line; 0 when it is cut short or damaged (nothing of
 * it is taken when its end line does not match it); SYN_ENOMEM.
 */
static int load_batch(struct table *t, const char *p, const char *end, const char **next)
{
	const char *q, *nl, *start = NULL, *close = NULL, *after;
	char sum[17], want[64];
	size_t items = 0;
	int rc = 1;

	/* find the end line first: nothing of a batch counts before it is known whole */
	for (q = p; q < end; q = nl + 1) {
		nl = memchr(q, '\n', (size_t)(end - q));
		if (!nl)
			return 0;
		if ((q[0] == 'p' || q[0] == 'x') && q[1] == '\t')
			items++;
		if ((size_t)(nl - q) >= strlen(CACHE_END) && !memcmp(q, CACHE_END, strlen(CACHE_END))) {
			close = q;
			break;
		}
	}
	if (!close)
		return 0;
	batch_sum(p, (size_t)(close - p), sum);
	snprintf(want, sizeof(want), CACHE_END "%zu\t%s\n", items, sum);
	if ((size_t)(nl + 1 - close) != strlen(want) || memcmp(close, want, strlen(want)))
		return 0;
	after = nl + 1;
	if (reserve(t, items))
		return SYN_ENOMEM;
	for (q = p; rc == 1 && q < close; q = nl + 1) {
		nl = memchr(q, '\n', (size_t)(close - q));
		if (q[1] != '\t' || (q[0] != 'p' && q[0] != 'x')) {
			if (!start)
				return 0; /* a record line outside a record */
			continue;
		}
		if (start)
			rc = take_record(t, start, q);
		start = q[0] == 'p' ? q : NULL;
		if (q[0] == 'x' && t->cap) {
			/* a pack that is gone: its record, if any, goes too */
			struct rec **slot = slot_of(t, q + 2, (size_t)(nl - q - 2));

			if (*slot)
				forget_slot(t, slot);
		}
	}
	if (rc == 1 && start)
		rc = take_record(t, start, close);
	*next = after;
	return rc;
}

/*
 * Load data/cache/packs.digest into @t; a missing or foreign file loads
 * nothing, and a damaged batch ends the load there (t->torn).
 */
static void load(struct syn_store *st, struct table *t)
{
	const char *p, *end;
	int fd = syn_store_data_fd(st), rc;

	t->loaded = true;
	t->file_stamp = file_stamp(st);
	if (fd < 0 || syn_fs_map(&t->file, fd, CACHE_PATH, CACHE_MAX))
		goto drop;
	p = t->file.ptr;
	end = p + t->file.len;
	if (t->file.len < CACHE_HEADER_LEN || memcmp(p, CACHE_MAGIC, strlen(CACHE_MAGIC)) ||
	    p[CACHE_HEADER_LEN - 1] != '\n')
		goto drop;
	memcpy(t->id, p + strlen(CACHE_MAGIC), 16);
	t->id[16] = '\0';
	for (p += CACHE_HEADER_LEN; p < end; )
		if ((rc = load_batch(t, p, end, &p)) != 1) {
			if (rc)
				goto drop;
			t->torn = true;
			break;
		}
	t->known = t->torn ? 0 : t->file.len;
	syn_error_clear();
	return;
drop:
	/* nothing of a damaged cache is trusted */
	drop_all(t);
	t->torn = t->file_stamp != 0;
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
		if (reserve(t, 0)) {
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

	return rc ? rc : syn_buf_put_field(b, s);
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
		rc = syn_buf_put_field(b, name);
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
			rc = syn_buf_put_field(b, dep_id);
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
			rc = syn_buf_put_field(b, id);
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
			rc = syn_buf_put_field(b, dep_id);
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

/*
 * The first digest a hold asks for: a hold that trusts records starts from
 * the cache as it is now, since another process's command may have
 * rewritten it since this handle loaded it. (No digest of this hold has
 * been handed out yet.)
 */
static void begin_hold(struct syn_store *st, struct table *t, unsigned held)
{
	if (!held || t->seen_hold == held)
		return;
	t->seen_hold = held;
	if (syn__store_trusts(st, "") && !t->dirty && file_stamp(st) != t->file_stamp) {
		drop_all(t);
		load(st, t);
	}
}

/* What syn__digest_prefetch() hands its threads. */
struct prefetch {
	struct syn_store *st;
	struct rec **recs;  /* the records to check */
	bool *trusted;      /* their pack is trusted in this hold: parse it, stamp nothing */
	size_t n, next;     /* next: the first not yet taken (atomic) */
	unsigned held;
};

static void *prefetch_worker(void *arg)
{
	struct prefetch *p = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n) {
		struct rec *r = p->recs[i];

		if (!p->trusted[i]) {
			stamp_hex(syn__docs_pack_stamp(p->st, r->name, &r->pre_settled), r->pre_sig);
			r->pre_hold = p->held;
		}
		/* a record that fails to parse is left as it is: syn__digest_get() reads its documents */
		if ((p->trusted[i] || !strcmp(r->sig, r->pre_sig)) && !r->parsed)
			rec_parse(r);
	}
	syn_error_clear();
	return NULL;
}

/* Fewer packs than this are checked on one thread, as they are asked for. */
#define PREFETCH_MIN 256
#define PREFETCH_THREADS 8

void syn__digest_prefetch_names(struct syn_store *st, const char *const *names, size_t n)
{
	struct prefetch p = { .st = st, .held = syn__store_held(st) };
	pthread_t threads[PREFETCH_THREADS];
	size_t i, started = 0, want;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct table *t;

	if (!p.held || n < PREFETCH_MIN || cores < 2 || table_of(st, &t) || syn_store_state_fd(st) < 0) {
		syn_error_clear();
		return;
	}
	begin_hold(st, t, p.held);
	if (t->torn) /* nothing of the file is trusted unchecked: each is read as it is asked for */
		return;
	p.recs = malloc(n * sizeof(*p.recs));
	p.trusted = malloc(n * sizeof(*p.trusted));
	for (i = 0; p.recs && p.trusted && i < n; i++) {
		const char *name = names[i];
		struct rec *r = name && syn_name_is_pack(name) ? *slot_of(t, name, strlen(name)) : NULL;

		/* only settled records of the file, not yet checked in this hold */
		if (!r || !r->sig[0] || (r->epoch == p.held && r->now_sig[0]) || r->pre_hold == p.held)
			continue;
		p.trusted[p.n] = syn__store_trusts(st, r->name);
		p.recs[p.n++] = r;
	}
	want = (size_t)cores < PREFETCH_THREADS ? (size_t)cores : PREFETCH_THREADS;
	while (p.recs && p.trusted && p.n >= PREFETCH_MIN && started < want &&
	       pthread_create(&threads[started], NULL, prefetch_worker, &p) == 0)
		started++;
	while (started)
		pthread_join(threads[--started], NULL);
	free(p.recs);
	free(p.trusted);
	syn_error_clear();
}

void syn__digest_prefetch(struct syn_store *st, const json_t *names)
{
	size_t i, n = json_array_size(names);
	const char **v = n >= PREFETCH_MIN ? malloc(n * sizeof(*v)) : NULL;

	for (i = 0; v && i < n; i++) {
		const json_t *e = json_array_get(names, i);

		v[i] = json_is_string(e) ? json_string_value(e) : syn_doc_str(e, "name", NULL);
	}
	if (v)
		syn__digest_prefetch_names(st, v, n);
	free(v);
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
	begin_hold(st, t, held);
	r = *slot_of(t, name, strlen(name));
	if (held && r && r->parsed && r->epoch == held && r->now_sig[0]) {
		*out = &r->d;
		return 0;
	}
	/* a settled record of a pack the command did not change is taken as it is; a damaged one is read again */
	if (r && r->sig[0] && !t->torn && syn__store_trusts(st, name) &&
	    (rc = take(r, r->sig, held, out)) != SYN_ECORRUPT)
		return rc;
	syn_error_clear();
	if (r && held && r->pre_hold == held) {
		memcpy(now, r->pre_sig, sizeof(now));
		settled = r->pre_settled;
	} else {
		stamp_hex(syn__docs_pack_stamp(st, name, &settled), now);
	}
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
	r = rec_new(name, strlen(name));
	if (!r || !(r->owned = syn_buf_detach(&text))) {
		rec_free(r);
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
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
	r->fresh = true;
	t->nfresh++;
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

	if (table_of(st, &t)) {
		syn_error_clear();
		return;
	}
	slot = slot_of(t, name, strlen(name));
	if (*slot)
		forget_slot(t, slot);
	t->dirty = true;
	/* the file may have a record of it (another handle's, too) until a batch says it is gone */
	if (syn_buf_put(&t->gone, name, strlen(name) + 1))
		t->torn = true; /* no memory to say so: the next write is a whole file */
	syn_error_clear();
}

/* Append a closing line for the batch of @b that starts at @from. */
static int close_batch(struct syn_buf *b, size_t from, size_t items)
{
	char sum[17];

	batch_sum(b->ptr + from, b->len - from, sum);
	return syn_buf_printf(b, CACHE_END "%zu\t%s\n", items, sum);
}

/* A new name for a cache file written whole: random, or (no randomness) the time and the process's. */
static void new_id(char id[17])
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		uint64_t f[3];

		clock_gettime(CLOCK_REALTIME, &ts);
		f[0] = (uint64_t)ts.tv_sec;
		f[1] = (uint64_t)ts.tv_nsec;
		f[2] = (uint64_t)getpid();
		r = syn_fnv1a(SYN_FNV1A_INIT, f, sizeof(f));
	}
	stamp_hex(r, id);
}

/* The whole table as a new file in @b, named @id. */
static int whole_file(const struct table *t, const char *id, struct syn_buf *b)
{
	size_t i, items = 0;
	int rc = syn_buf_printf(b, CACHE_MAGIC "%s\n", id);

	for (i = 0; !rc && i < t->cap; i++)
		if (t->slots[i].rec) {
			rc = syn_buf_put(b, t->slots[i].rec->text, t->slots[i].rec->len);
			items++;
		}
	return rc ? rc : close_batch(b, CACHE_HEADER_LEN, items);
}

/* What changed since the file was written, as one batch in @b. */
static int new_batch(const struct table *t, struct syn_buf *b)
{
	size_t i, items = 0;
	const char *g;
	int rc = 0;

	/* the packs gone first: one read again since (deleted, then made anew) has a fresh record after it */
	for (g = t->gone.ptr; !rc && g && g < t->gone.ptr + t->gone.len; g += strlen(g) + 1, items++) {
		rc = syn_buf_puts(b, "x\t");
		if (!rc)
			rc = syn_buf_put_field(b, g);
		if (!rc)
			rc = syn_buf_puts(b, "\n");
	}
	for (i = 0; !rc && i < t->cap; i++)
		if (t->slots[i].rec && t->slots[i].rec->fresh) {
			rc = syn_buf_put(b, t->slots[i].rec->text, t->slots[i].rec->len);
			items++;
		}
	return rc ? rc : close_batch(b, 0, items);
}

/* The stamp of the open file @fd, as file_stamp() makes it (its metadata in *@sb); 0 when it cannot be read. */
static uint64_t fd_stamp(int fd, struct stat *sb)
{
	return fstat(fd, sb) < 0 ? 0 : stamp_of(sb);
}

/*
 * Open the cache file for appending, locked (flock) against the other
 * writers, and still the file its name gives (a writer may have replaced
 * it while this one waited). -1 when it cannot be.
 */
static int open_locked(int dfd)
{
	struct stat a, b;
	int tries, fd;

	for (tries = 0; tries < 4; tries++) {
		fd = openat(dfd, CACHE_PATH, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &a) == 0 && fstatat(dfd, CACHE_PATH, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	return -1;
}

/* What this handle had to write is not going to be written: drop it (it is read again when needed). */
static void drop_pending(struct table *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slots[i].rec)
			t->slots[i].rec->fresh = false;
	t->nfresh = 0;
	syn_buf_clear(&t->gone);
	t->dirty = false;
}

void syn__digest_flush(struct syn_store *st)
{
	struct table *t = syn__store_cache(st, SYN__CACHE_DIGESTS);
	struct syn_buf b = SYN_BUF_INIT;
	int rc, dfd = syn_store_data_fd(st), fd;
	bool seen, whole;
	char id[17];
	struct stat sb;
	uint64_t now;

	if (!t || !t->dirty || dfd < 0 || (fd = open_locked(dfd)) < 0) {
		syn_error_clear();
		return;
	}
	/*
	 * Whether the file is as this handle last saw it. When another command
	 * wrote it since, what it wrote may be newer than what this one read:
	 * a command that holds the store lock read its packs under it and
	 * appends (its records come last, so they win); any other writes
	 * nothing. Only a handle that has seen the whole file writes it anew.
	 */
	now = fd_stamp(fd, &sb);
	seen = now && (now == t->file_stamp || sb.st_size == 0);
	if (!seen && !syn__store_locked(st)) {
		drop_pending(t);
		goto out;
	}
	whole = seen && (t->torn || sb.st_size == 0 || (size_t)sb.st_size > 2 * t->live + 65536);
	if (whole)
		new_id(id);
	rc = whole ? whole_file(t, id, &b) : new_batch(t, &b);
	if (!rc && whole)
		rc = syn_fs_write_cache(dfd, CACHE_PATH, b.ptr, b.len);
	else if (!rc && write(fd, b.ptr, b.len) != (ssize_t)b.len)
		rc = syn_error_set(SYN_EIO, "cannot append to the digest cache"); /* a cut batch: the next load drops it */
	if (rc) {
		drop_pending(t);
		t->file_stamp = 0;
		goto out;
	}
	drop_pending(t);
	t->torn = false;
	/* after an append to a file changed by others the table is not the file's: it is never written whole */
	t->file_stamp = !seen ? 0 : whole ? file_stamp(st) : fd_stamp(fd, &sb);
	if (whole) {
		memcpy(t->id, id, sizeof(t->id));
		t->known = b.len;
	} else if (seen && t->known) {
		t->known = (size_t)sb.st_size; /* the file is what the table had, then what it appended */
	}
out:
	close(fd); /* and the lock with it */
	syn_buf_dispose(&b);
	syn_error_clear();
}

int syn__digest_key_part(const struct syn__pack_digest *d, struct syn_buf *b)
{
	return syn_buf_puts(b, d ? d->stamp : "-\n");
}

int syn__digest_key_of(struct syn_store *st, const char *profile, const struct syn_buf *parts,
		       char hex[SYN_SHA256_HEX_LEN + 1])
{
	struct syn_buf b = SYN_BUF_INIT;
	int rc = syn__docs_profile_sig(st, profile, &b);

	if (!rc)
		rc = syn_buf_put(&b, parts->ptr, parts->len);
	if (!rc)
		rc = syn_sha256_mem(hex, b.ptr, b.len);
	syn_buf_dispose(&b);
	return rc;
}

int syn__digest_source_key(struct syn_store *st, const char *profile, char hex[SYN_SHA256_HEX_LEN + 1])
{
	struct syn_buf parts = SYN_BUF_INIT;
	const struct syn__names *names = NULL;
	size_t i;
	int rc;

	syn__store_hold(st);
	rc = syn__docs_profile_packs(st, profile, &names);
	if (!rc)
		syn__digest_prefetch_names(st, names->v, names->n);
	for (i = 0; !rc && i < names->n; i++) {
		const struct syn__pack_digest *d;

		if (syn__digest_get(st, names->v[i], &d)) {
			/* a name that is no pack's: its plan says so; the key only needs to be stable */
			if (syn_error_code() == SYN_ENOMEM) {
				rc = SYN_ENOMEM;
				break;
			}
			syn_error_clear();
			d = NULL;
		}
		rc = syn__digest_key_part(d, &parts);
	}
	if (!rc)
		rc = syn__digest_key_of(st, profile, &parts, hex);
	syn__store_release(st);
	syn_buf_dispose(&parts);
	return rc;
}

const char *syn__digest_trusted_stamp(struct syn_store *st, const char *name)
{
	unsigned held = syn__store_held(st);
	struct table *t;
	struct rec *r;

	if (!held || !syn__store_trusts(st, name) || !syn_name_is_pack(name) || table_of(st, &t)) {
		syn_error_clear();
		return NULL;
	}
	begin_hold(st, t, held);
	r = *slot_of(t, name, strlen(name));
	if (!r || t->torn)
		return NULL;
	if (r->parsed && r->epoch == held && r->now_sig[0])
		return r->now_sig;
	return r->sig[0] ? r->sig : NULL;
}

int syn__digest_mark(struct syn_store *st, struct syn_buf *out)
{
	struct table *t = NULL;

	syn_buf_clear(out);
	if (table_of(st, &t))
		return SYN_ENOMEM;
	return t->known && !t->torn ? syn_buf_printf(out, "%s:%zu", t->id, t->known) : 0;
}

/* Call @each for the pack of every "p" and "x" line of the whole batches in @p..@end: 1 when one is not whole. */
static int batch_names(const char *p, const char *end, int (*each)(void *arg, const char *name, size_t len),
		       void *arg)
{
	const char *batch = p, *nl;
	char want[64], sum[17];
	size_t items = 0;
	int rc;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return 1;
		if ((size_t)(nl - p) >= strlen(CACHE_END) && !memcmp(p, CACHE_END, strlen(CACHE_END))) {
			batch_sum(batch, (size_t)(p - batch), sum);
			snprintf(want, sizeof(want), CACHE_END "%zu\t%s\n", items, sum);
			if ((size_t)(nl + 1 - p) != strlen(want) || memcmp(p, want, strlen(want)))
				return 1;
			batch = nl + 1;
			items = 0;
		} else if ((p[0] == 'p' || p[0] == 'x') && p[1] == '\t') {
			const char *tab = memchr(p + 2, '\t', (size_t)(nl - p - 2));

			items++;
			if ((rc = each(arg, p + 2, (size_t)((tab ? tab : nl) - p - 2))) != 0)
				return rc;
		}
	}
	return batch == end ? 0 : 1;
}

int syn__digest_changed_since(struct syn_store *st, const char *mark,
			      int (*each)(void *arg, const char *name, size_t len), void *arg)
{
	const char *colon = strchr(mark, ':'), *g;
	struct syn_buf region = SYN_BUF_INIT;
	struct table *t = NULL;
	unsigned long long at;
	char *end;
	size_t i;
	int rc, fd;

	if (table_of(st, &t))
		return SYN_ENOMEM;
	begin_hold(st, t, syn__store_held(st));
	if (!colon || colon - mark != 16 || strncmp(mark, t->id, 16) || !t->known || t->torn)
		return 1;
	errno = 0;
	at = strtoull(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || at < CACHE_HEADER_LEN || at > t->known)
		return 1;
	/* the bytes the table holds after the mark: in the file this handle mapped, or appended to it since */
	if (t->known <= t->file.len) {
		rc = batch_names(t->file.ptr + at, t->file.ptr + t->known, each, arg);
	} else {
		char head[CACHE_HEADER_LEN];
		int dfd = syn_store_data_fd(st);

		fd = dfd < 0 ? -1 : openat(dfd, CACHE_PATH, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		rc = fd < 0 || syn_buf_grow(&region, t->known - at) ? 1 : 0;
		/* the file of that name, appended to by this handle since: the one it wrote whole, or mapped */
		if (!rc && (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
			    memcmp(head + strlen(CACHE_MAGIC), t->id, 16) ||
			    pread(fd, region.ptr, t->known - at, (off_t)at) != (ssize_t)(t->known - at)))
			rc = 1;
		if (fd >= 0)
			close(fd);
		if (!rc)
			rc = batch_names(region.ptr, region.ptr + (t->known - at), each, arg);
		syn_buf_dispose(&region);
	}
	/* and what it has not written yet */
	for (g = t->gone.ptr; !rc && g && g < t->gone.ptr + t->gone.len; g += strlen(g) + 1)
		rc = each(arg, g, strlen(g));
	for (i = 0; !rc && t->nfresh && i < t->cap; i++)
		if (t->slots[i].rec && t->slots[i].rec->fresh)
			rc = each(arg, t->slots[i].rec->name, t->slots[i].rec->nlen);
	syn_error_clear();
	return rc;
}
