/*
 * inventory: every blob the store's backends hold or its packs name, what
 * uses each, and removing copies behind the guard rails of guard.c. The
 * blobs are what the backends list (never manifests or partial files), the
 * users are the packs' locks and the UIs' active views.
 *
 * A census is made of plain arrays sorted by digest (the backends'
 * listings, the lock entries of the packs' digests) and an item is a few
 * pointers into it, so an inventory of 10,000 blobs costs a few hundred
 * kilobytes until it is written out, member by member.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/hash.h"
#include "synapse/inventory.h"
#include "synapse/names.h"
#include "synapse/sys/backend.h"

#include "blob.h"
#include "digest.h"
#include "guard.h"
#include "store.h"

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* ---- what there is ---------------------------------------------------------- */

/* A blob a backend lists, and its size. */
struct held {
	char sha[SYN_SHA256_HEX_LEN + 1];
	uint64_t size;
};

/* A backend's listing, sorted by digest. */
struct listing {
	struct held *v;
	size_t n, alloc;
};

/* One lock entry naming a blob; a census keeps them sorted by digest, then in pack order. */
struct ref {
	const struct syn__pack_digest *d;
	const struct syn__digest_entry *e;
	size_t order;
};

/* Everything an inventory is made of, gathered once. */
struct census {
	struct ref *refs;
	size_t nrefs, refs_alloc;
	json_t *active;   /* syn__guard_active() */
	json_t *warnings; /* packs that cannot be read */
	bool unreadable;
	struct listing local;
	struct listing backup; /* meaningful when backup_listed */
	bool backup_enabled, backup_listed;
	json_t *backup_error; /* a string, or NULL */
};

static void census_dispose(struct census *c)
{
	free(c->refs);
	json_decref(c->active);
	json_decref(c->warnings);
	free(c->local.v);
	free(c->backup.v);
	json_decref(c->backup_error);
	memset(c, 0, sizeof(*c));
}

static int collect_name(const char *sha, void *payload)
{
	struct listing *l = payload;

	if (strlen(sha) != SYN_SHA256_HEX_LEN)
		return 0;
	if (l->n == l->alloc) {
		size_t alloc = l->alloc ? 2 * l->alloc : 256;
		struct held *v = realloc(l->v, alloc * sizeof(*v));

		if (!v)
			return oom();
		l->v = v;
		l->alloc = alloc;
	}
	memcpy(l->v[l->n].sha, sha, SYN_SHA256_HEX_LEN + 1);
	l->v[l->n++].size = 0;
	return 0;
}

static int cmp_held(const void *a, const void *b)
{
	return memcmp(((const struct held *)a)->sha, ((const struct held *)b)->sha, SYN_SHA256_HEX_LEN);
}

/* The blobs backend @be lists, with their sizes, sorted, into @out. */
static int list_backend(struct syn_backend *be, struct listing *out)
{
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = be->foreach(be, collect_name, out);
	for (i = 0; !rc && i < out->n; i++)
		/* a blob removed since it was listed counts as empty, not as an error */
		if (be->size(be, out->v[i].sha, &out->v[i].size)) {
			out->v[i].size = 0;
			syn_error_clear();
		}
	if (rc) {
		free(out->v);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_held);
	return 0;
}

/* The entry of @sha in @l, or NULL. */
static const struct held *held_in(const struct listing *l, const char *sha)
{
	struct held key;

	memcpy(key.sha, sha, SYN_SHA256_HEX_LEN + 1);
	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_held) : NULL;
}

/*
 * The backup's listing into @c; a backup that cannot be reached or listed
 * is recorded in c->backup_error, not returned: its blobs are then unknown.
 */
static int census_backup(struct syn_store *st, struct census *c)
{
	struct syn_backend *be;
	unsigned int caps = 0;
	size_t n = 0;
	int rc = syn_store_backend_count(st, &n);

	if (rc || n < 2)
		return rc;
	c->backup_enabled = true;
	rc = syn_store_backend_at(st, 1, &be, &caps);
	if (!rc && !(caps & SYN_BACKEND_CAP_LIST))
		rc = syn_error_set(SYN_EUNSUPPORTED, "the backup backend cannot list its blobs");
	if (!rc)
		rc = list_backend(be, &c->backup);
	if (rc == SYN_ENOMEM)
		return rc;
	if (rc) {
		c->backup_error = json_string(syn_error_last());
		syn_error_clear();
		return c->backup_error ? 0 : oom();
	}
	c->backup_listed = true;
	return 0;
}

static int cmp_refs(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int d = memcmp(x->e->sha256, y->e->sha256, SYN_SHA256_HEX_LEN);

	return d ? d : x->order < y->order ? -1 : x->order > y->order;
}

/* The lock entries with a digest of pack @d, added to census @arg. */
static int add_refs(const struct syn__pack_digest *d, void *arg)
{
	struct census *c = arg;
	size_t k;

	for (k = 0; k < d->nentries; k++) {
		if (!syn_name_is_sha256(d->entries[k].sha256))
			continue;
		if (c->nrefs == c->refs_alloc) {
			size_t alloc = c->refs_alloc ? 2 * c->refs_alloc : 1024;
			struct ref *v = realloc(c->refs, alloc * sizeof(*v));

			if (!v)
				return oom();
			c->refs = v;
			c->refs_alloc = alloc;
		}
		c->refs[c->nrefs] = (struct ref){ d, &d->entries[k], c->nrefs };
		c->nrefs++;
	}
	return 0;
}

/* Every lock entry with a digest, of every pack, into @c, sorted (packs that cannot be read into its warnings). */
static int census_refs(struct syn_store *st, struct census *c)
{
	int rc = syn__guard_each_pack(st, add_refs, c, c->warnings, &c->unreadable);

	if (!rc && c->nrefs)
		qsort(c->refs, c->nrefs, sizeof(*c->refs), cmp_refs);
	return rc;
}

/* The primary's listing, made on a thread of its own while the packs are read. */
struct lister {
	struct syn_backend *be;
	struct listing out;
	int rc;
	char msg[512];
};

static void *list_worker(void *p)
{
	struct lister *l = p;

	l->rc = list_backend(l->be, &l->out);
	if (l->rc)
		snprintf(l->msg, sizeof(l->msg), "%s", syn_error_last());
	return NULL;
}

static int census_gather(struct syn_store *st, struct census *c)
{
	struct lister l = { 0 };
	unsigned int caps = 0;
	bool started = false;
	pthread_t thread;
	int rc;

	memset(c, 0, sizeof(*c));
	c->warnings = json_array();
	rc = c->warnings ? syn_store_backend_at(st, 0, &l.be, &caps) : oom();
	if (!rc && !(caps & SYN_BACKEND_CAP_LIST))
		rc = syn_error_set(SYN_EUNSUPPORTED, "the primary blob backend cannot list its blobs");
	/* listing the blobs is mostly waiting on the kernel: it overlaps reading the packs */
	if (!rc)
		started = pthread_create(&thread, NULL, list_worker, &l) == 0;
	if (!rc)
		rc = census_refs(st, c);
	if (!rc)
		rc = syn__guard_active(st, &c->active);
	if (!rc)
		rc = census_backup(st, c);
	if (started)
		pthread_join(thread, NULL);
	else if (!rc)
		list_worker(&l);
	c->local = l.out;
	if (!rc && l.rc)
		rc = syn_error_set(l.rc, "%s", l.msg);
	if (rc)
		census_dispose(c);
	return rc;
}

/* ---- items ------------------------------------------------------------------ */

/* What the inventory says of one blob: pointers into its census. */
struct item {
	const char *sha;
	uint64_t size;
	bool local;
	int backup;             /* 1 on the backup, 0 not, -1 unknown (it cannot be listed) */
	const struct ref *refs; /* the lock entries naming it, in pack order */
	size_t nrefs;
	const json_t *uis;      /* the UIs whose active view links it, or NULL */
	json_t *meta;           /* its manifest, read when no pack names it; owned */
	const char *status;
	char fallback[20];      /* "<sha[:12]>..." */
};

/* The first of @c's references to @sha, and how many there are, into *@first and *@n. */
static void refs_of(const struct census *c, const char *sha, const struct ref **first, size_t *n)
{
	size_t lo = 0, hi = c->nrefs, k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(c->refs[mid].e->sha256, sha, SYN_SHA256_HEX_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo; k < c->nrefs && !memcmp(c->refs[k].e->sha256, sha, SYN_SHA256_HEX_LEN); k++)
		;
	*first = k > lo ? &c->refs[lo] : NULL;
	*n = k - lo;
}

static const char *location_of(bool local, int backup)
{
	if (backup < 0)
		return "unknown";
	if (local)
		return backup ? "both" : "local_only";
	return backup ? "backup_only" : "nowhere";
}

/* The item of blob @sha into @it (item_dispose() frees it). */
static int item_make(struct syn_store *st, const struct census *c, const char *sha, struct item *it)
{
	const struct held *local = held_in(&c->local, sha);
	const struct held *backup = c->backup_listed ? held_in(&c->backup, sha) : NULL;
	size_t i;
	int rc;

	memset(it, 0, sizeof(*it));
	it->sha = local ? local->sha : backup ? backup->sha : sha;
	it->local = local != NULL;
	it->backup = c->backup_listed ? backup != NULL : c->backup_enabled ? -1 : 0;
	it->size = local ? local->size : backup ? backup->size : 0;
	refs_of(c, sha, &it->refs, &it->nrefs);
	for (i = 0; !it->size && i < it->nrefs; i++) {
		char *end;
		long long n = strtoll(it->refs[i].e->size, &end, 10);

		it->size = !*end && n > 0 ? (uint64_t)n : 0;
	}
	it->uis = json_object_get(c->active, sha);
	it->status = it->nrefs ? local ? "referenced" : backup ? "backup_only" : "missing" : "orphan";
	snprintf(it->fallback, sizeof(it->fallback), "%.12s...", sha);
	if (!it->nrefs && (local || backup)) {
		/* no pack names it: the manifest written when it arrived still says what it was */
		rc = syn_blob_meta_read(st, sha, &it->meta);
		if (rc == SYN_ENOMEM)
			return rc;
		syn_error_clear();
	}
	return 0;
}

static void item_dispose(struct item *it)
{
	json_decref(it->meta);
	it->meta = NULL;
}

static const char *item_kind(const struct item *it)
{
	return it->nrefs ? it->refs[0].e->kind : syn_doc_str(it->meta, "kind", "unknown");
}

/* Its exposed file name, else the file name it came with, else "<sha[:12]>...". */
static const char *item_name(const struct item *it)
{
	const struct syn__digest_entry *e = it->nrefs ? it->refs[0].e : NULL;

	if (!e)
		return syn_doc_str(it->meta, "original_filename", it->fallback);
	return *e->fname ? e->fname : *e->filename ? e->filename : it->fallback;
}

/* The distinct packs naming it, in pack order (one pack's entries are together). */
static int emit_packs(struct syn_emit *out, const struct item *it)
{
	size_t i;

	syn_emit_array(out);
	for (i = 0; i < it->nrefs; i++)
		if (!i || it->refs[i].d != it->refs[i - 1].d)
			syn_emit_string(out, it->refs[i].d->name);
	return syn_emit_end(out);
}

/* @it as the object inventory.h describes, its keys in byte order. */
static int emit_item(struct syn_emit *out, const struct item *it)
{
	json_t *origin = it->nrefs ? syn__guard_origin(it->refs[0].e) : NULL;
	const json_t *meta_origin = json_object_get(it->meta, "origin");
	int rc;

	if (it->nrefs && !origin)
		return oom();
	syn_emit_object(out);
	syn_emit_key(out, "active_in_uis");
	if (it->uis) {
		syn_emit_value(out, it->uis);
	} else {
		syn_emit_array(out);
		syn_emit_end(out);
	}
	syn_emit_key(out, "display_name");
	syn_emit_string(out, item_name(it));
	syn_emit_key(out, "kind");
	syn_emit_string(out, item_kind(it));
	syn_emit_key(out, "location");
	syn_emit_string(out, location_of(it->local, it->backup));
	syn_emit_key(out, "on_backup");
	if (it->backup < 0)
		syn_emit_null(out);
	else
		syn_emit_bool(out, it->backup);
	syn_emit_key(out, "on_local");
	syn_emit_bool(out, it->local);
	if (origin || json_is_object(meta_origin)) {
		syn_emit_key(out, "origin");
		syn_emit_value(out, origin ? origin : meta_origin);
	}
	syn_emit_key(out, "ref_count");
	syn_emit_integer(out, (json_int_t)it->nrefs);
	syn_emit_key(out, "sha256");
	syn_emit_string(out, it->sha);
	syn_emit_key(out, "size_bytes");
	syn_emit_integer(out, (json_int_t)it->size);
	syn_emit_key(out, "status");
	syn_emit_string(out, it->status);
	syn_emit_key(out, "used_by_packs");
	emit_packs(out, it);
	rc = syn_emit_end(out);
	json_decref(origin);
	return rc;
}

static int emit_item_arg(struct syn_emit *e, void *it)
{
	return emit_item(e, it);
}

/* @it as a new object in *@out. */
static int item_json(const struct item *it, json_t **out)
{
	return syn_emit_tree(out, emit_item_arg, (void *)it);
}

static int cmp_items(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return memcmp(x->sha, y->sha, SYN_SHA256_HEX_LEN);
}

/* The items a listing shows. */
struct items {
	struct item *v;
	size_t n;
};

static void items_dispose(struct items *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		item_dispose(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * Every item (blobs listed locally, on the backup, or named by a lock)
 * that @keep accepts, largest first, then by digest, into @out.
 */
static int all_items(struct syn_store *st, const struct census *c, bool (*keep)(const struct item *it, const void *arg),
		     const void *arg, struct items *out)
{
	size_t most = c->local.n + c->backup.n + c->nrefs, il = 0, ib = 0, ir = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!(out->v = malloc((most ? most : 1) * sizeof(*out->v))))
		return oom();
	/* a merge of the three sorted lists: each digest once */
	for (;;) {
		const char *next = NULL, *cand[3];
		struct item *it = &out->v[out->n];
		size_t k;

		cand[0] = il < c->local.n ? c->local.v[il].sha : NULL;
		cand[1] = ib < c->backup.n ? c->backup.v[ib].sha : NULL;
		cand[2] = ir < c->nrefs ? c->refs[ir].e->sha256 : NULL;
		for (k = 0; k < 3; k++)
			if (cand[k] && (!next || memcmp(cand[k], next, SYN_SHA256_HEX_LEN) < 0))
				next = cand[k];
		if (!next)
			break;
		if ((rc = item_make(st, c, next, it)))
			break;
		il += cand[0] && !memcmp(cand[0], next, SYN_SHA256_HEX_LEN);
		ib += cand[1] && !memcmp(cand[1], next, SYN_SHA256_HEX_LEN);
		ir += it->nrefs;
		if (keep(it, arg))
			out->n++;
		else
			item_dispose(it);
	}
	if (rc) {
		items_dispose(out);
		return rc;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_items);
	return 0;
}

/* ---- list --------------------------------------------------------------------- */

struct filter {
	const char *kind, *status;
};

static bool keep_filtered(const struct item *it, const void *arg)
{
	const struct filter *f = arg;

	return (!f->kind || !strcmp(item_kind(it), f->kind)) && (!f->status || !strcmp(it->status, f->status));
}

static void local_now(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	if (!strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm))
		out[0] = '\0';
}

/* Add @n to the integer under @key of @obj (created at 0). */
static int add_to(json_t *obj, const char *key, uint64_t n)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return json_object_set_new(obj, key, json_integer((json_int_t)n)) ? oom() : 0;
	return json_integer_set(v, json_integer_value(v) + (json_int_t)n) ? oom() : 0;
}

/* The space of the primary's storage, as two JSON numbers or nulls. */
static int disk_space(struct syn_store *st, json_t **total, json_t **free_bytes)
{
	struct syn_backend *be;
	unsigned int caps = 0;
	uint64_t t = 0, f = 0;

	*total = *free_bytes = NULL;
	if (syn_store_backend_at(st, 0, &be, &caps) || !(caps & SYN_BACKEND_CAP_SPACE) || be->space(be, &t, &f) ||
	    t > INT64_MAX || f > INT64_MAX) {
		syn_error_clear();
		*total = json_null();
		*free_bytes = json_null();
		return 0;
	}
	*total = json_integer((json_int_t)t);
	*free_bytes = json_integer((json_int_t)f);
	if (*total && *free_bytes)
		return 0;
	json_decref(*total);
	json_decref(*free_bytes);
	return oom();
}

static int summarize(struct syn_store *st, const struct census *c, const struct items *items, json_t **out)
{
	uint64_t n_ref = 0, b_ref = 0, n_orphan = 0, b_orphan = 0, n_missing = 0, n_bonly = 0, b_local = 0;
	uint64_t copies = 0, stored = 0, b_backup = 0;
	json_int_t on_backup = (json_int_t)c->backup.n;
	json_t *by_kind = json_object(), *by_status = json_object(), *total = NULL, *free_bytes = NULL;
	size_t i;
	int rc = by_kind && by_status ? 0 : oom();

	*out = NULL;
	for (i = 0; !rc && i < items->n; i++) {
		const struct item *it = &items->v[i];

		if (!strcmp(it->status, "referenced")) {
			n_ref++;
			b_ref += it->size;
			stored += it->size;
			copies += it->size * it->nrefs;
		} else if (!strcmp(it->status, "orphan")) {
			n_orphan++;
			b_orphan += it->size;
		} else if (!strcmp(it->status, "missing")) {
			n_missing++;
		} else {
			n_bonly++;
		}
		if (it->local)
			b_local += it->size;
		rc = add_to(by_kind, item_kind(it), it->size);
		if (!rc)
			rc = add_to(by_status, it->status, it->size);
	}
	for (i = 0; i < c->backup.n; i++)
		b_backup += c->backup.v[i].size;
	if (!rc)
		rc = disk_space(st, &total, &free_bytes);
	if (!rc)
		*out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:O, s:o, s:o,"
				 " s:{s:I, s:I, s:I}, s:{s:b, s:b, s:O?, s:o, s:o}}",
				 "blobs_total", (json_int_t)items->n, "blobs_referenced", (json_int_t)n_ref,
				 "bytes_referenced", (json_int_t)b_ref, "blobs_orphan", (json_int_t)n_orphan,
				 "bytes_orphan", (json_int_t)b_orphan, "blobs_missing", (json_int_t)n_missing,
				 "blobs_backup_only", (json_int_t)n_bonly, "bytes_total", (json_int_t)b_local,
				 "bytes_by_kind", by_kind, "bytes_by_status", by_status,
				 "disk_total", total, "disk_free", free_bytes,
				 "dedup", "bytes_as_copies", (json_int_t)copies, "bytes_stored", (json_int_t)stored,
				 "bytes_saved", (json_int_t)(copies - stored),
				 "backup", "enabled", c->backup_enabled, "reachable", c->backup_listed,
				 "error", c->backup_error, "blobs_on_backup",
				 c->backup_listed ? json_integer(on_backup) : json_null(), "bytes_on_backup",
				 c->backup_listed ? json_integer((json_int_t)b_backup) : json_null());
	json_decref(by_kind);
	json_decref(by_status);
	return rc ? rc : *out ? 0 : oom();
}

static bool valid_status(const char *s)
{
	return !strcmp(s, "referenced") || !strcmp(s, "orphan") || !strcmp(s, "missing") || !strcmp(s, "backup_only");
}

int syn_inventory_list_emit(struct syn_store *st, const char *kind, const char *status, struct syn_emit *out)
{
	struct filter f = { kind, status };
	struct items items = { 0 };
	json_t *summary = NULL;
	struct census c;
	char now[32];
	size_t i;
	int rc;

	if (status && !valid_status(status))
		return syn_error_set(SYN_EINVALID, "unknown status '%s': give referenced, orphan, missing or backup_only",
				     status);
	syn__store_hold(st);
	rc = census_gather(st, &c);
	if (rc)
		goto out;
	rc = all_items(st, &c, keep_filtered, &f, &items);
	if (!rc)
		rc = summarize(st, &c, &items, &summary);
	/* everything that can fail but writing is done: the report goes out as it is made */
	if (!rc) {
		local_now(now, sizeof(now));
		syn_emit_object(out);
		syn_emit_key(out, "generated_at");
		syn_emit_string(out, now);
		syn_emit_key(out, "items");
		syn_emit_array(out);
		for (i = 0; i < items.n; i++)
			emit_item(out, &items.v[i]);
		syn_emit_end(out);
		syn_emit_key(out, "summary");
		syn_emit_value(out, summary);
		syn_emit_key(out, "warnings");
		syn_emit_value(out, c.warnings);
		rc = syn_emit_end(out);
	}
	json_decref(summary);
	items_dispose(&items);
	census_dispose(&c);
out:
	syn__store_release(st);
	return rc;
}

/* syn_inventory_list_emit()'s arguments, for syn_emit_tree(). */
struct list_args {
	struct syn_store *st;
	const char *kind, *status;
};

static int emit_listing(struct syn_emit *e, void *arg)
{
	const struct list_args *l = arg;

	return syn_inventory_list_emit(l->st, l->kind, l->status, e);
}

int syn_inventory_list(struct syn_store *st, const char *kind, const char *status, json_t **out)
{
	struct list_args l = { st, kind, status };

	return syn_emit_tree(out, emit_listing, &l);
}

/* ---- impacts ------------------------------------------------------------------ */

/* @sha lowercased into @out, checked. */
static int digest_arg(const char *sha, char out[SYN_SHA256_HEX_LEN + 1])
{
	size_t i, n = sha ? strlen(sha) : 0;

	if (n != SYN_SHA256_HEX_LEN)
		return syn_error_set(SYN_EINVALID, "'%s' is not a SHA-256 digest (64 hex digits)", sha ? sha : "");
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)sha[i]);
	out[n] = '\0';
	return syn_name_is_sha256(out) ? 0
				       : syn_error_set(SYN_EINVALID, "'%s' is not a SHA-256 digest (64 hex digits)", sha);
}

/* Why deleting blob @item's copies could hurt, in @out (empty when it cannot). */
static void harm_of(const json_t *item, char *out, size_t size)
{
	const json_t *packs = json_object_get(item, "used_by_packs"), *uis = json_object_get(item, "active_in_uis");
	size_t len = 0;
	int w;

	out[0] = '\0';
	if (json_array_size(packs)) {
		w = snprintf(out, size, "used by %zu pack(s) (%s%s): deleting its last copy leaves them missing it",
			     json_array_size(packs), json_string_value(json_array_get(packs, 0)),
			     json_array_size(packs) > 1 ? ", ..." : "");
		len = w > 0 && (size_t)w < size ? (size_t)w : size - 1;
	}
	if (json_array_size(uis) && len + 1 < size)
		snprintf(out + len, size - len, "%slinked from the active view of %s%s", len ? "; " : "",
			 json_string_value(json_array_get(uis, 0)), json_array_size(uis) > 1 ? " and others" : "");
}

int syn_inventory_impacts(struct syn_store *st, const char *sha_in, json_t **out)
{
	char sha[SYN_SHA256_HEX_LEN + 1], fallback[20], why[512];
	const struct ref *first;
	struct item it = { 0 };
	struct census c;
	json_t *item = NULL;
	size_t nrefs;
	int rc;

	*out = NULL;
	if ((rc = digest_arg(sha_in, sha)))
		return rc;
	syn__store_hold(st);
	rc = census_gather(st, &c);
	if (rc)
		goto out;
	refs_of(&c, sha, &first, &nrefs);
	if (!held_in(&c.local, sha) && !held_in(&c.backup, sha) && !nrefs) {
		const json_t *uis = json_object_get(c.active, sha);

		snprintf(fallback, sizeof(fallback), "%.12s...", sha);
		*out = json_pack("{s:s, s:s, s:n, s:s, s:i, s:[], s:o, s:b, s:o, s:b, s:s}", "sha256", sha,
				 "display_name", fallback, "kind", "status", "missing", "size_bytes", 0, "used_by_packs",
				 "active_in_uis", uis ? json_incref((json_t *)uis) : json_array(), "on_local", 0,
				 "on_backup", c.backup_listed || !c.backup_enabled ? json_false() : json_null(),
				 "can_delete_safely", 1, "reason", "the blob is not stored anywhere: there is nothing to delete");
		rc = *out ? 0 : oom();
		goto out_census;
	}
	rc = item_make(st, &c, sha, &it);
	if (!rc)
		rc = item_json(&it, &item);
	item_dispose(&it);
	if (rc)
		goto out_census;
	harm_of(item, why, sizeof(why));
	*out = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:b, s:s?}", "sha256", sha,
			 "display_name", json_object_get(item, "display_name"), "kind", json_object_get(item, "kind"),
			 "status", json_object_get(item, "status"), "size_bytes", json_object_get(item, "size_bytes"),
			 "used_by_packs", json_object_get(item, "used_by_packs"),
			 "active_in_uis", json_object_get(item, "active_in_uis"), "on_local", json_object_get(item, "on_local"),
			 "on_backup", json_object_get(item, "on_backup"), "can_delete_safely", !why[0],
			 "reason", why[0] ? why : NULL);
	rc = *out ? 0 : oom();
	json_decref(item);
out_census:
	census_dispose(&c);
out:
	syn__store_release(st);
	return rc;
}

/* ---- verify ------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int syn_inventory_verify(struct syn_store *st, const json_t *shas, json_t **out)
{
	json_t *list = NULL, *valid = NULL, *invalid = NULL, *v;
	uint64_t start = now_ms();
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!shas) {
		rc = syn_blob_list(st, &list);
	} else if (!json_is_array(shas)) {
		rc = syn_error_set(SYN_EINVALID, "the digests to verify must be a list");
	} else if (!(list = json_array())) {
		rc = oom();
	}
	json_array_foreach(shas, i, v) {
		char sha[SYN_SHA256_HEX_LEN + 1];
		const char *s = json_string_value(v);

		if (rc)
			break;
		if (!s) {
			rc = syn_error_set(SYN_EINVALID, "the digests to verify must be strings");
			break;
		}
		/* a malformed digest is kept as given: it names no blob, so it is invalid */
		if (digest_arg(s, sha)) {
			syn_error_clear();
			snprintf(sha, sizeof(sha), "%s", "");
		}
		if (json_array_append_new(list, json_string(sha[0] ? sha : s)))
			rc = oom();
	}
	if (!rc)
		rc = syn__blob_verify_many(st, list, 0, &valid, &invalid);
	if (!rc && !(*out = json_pack("{s:I, s:o, s:o, s:I}", "verified", (json_int_t)json_array_size(list),
				      "valid", valid, "invalid", invalid, "duration_ms", (json_int_t)(now_ms() - start))))
		rc = oom();
	if (!rc && json_array_size(invalid))
		rc = syn_error_set(SYN_ECORRUPT, "%zu of %zu blob(s) are corrupt or absent, first %s: run 'synapse doctor "
				   "--verify-blobs' to set corrupt ones aside", json_array_size(invalid),
				   json_array_size(list), json_string_value(json_array_get(invalid, 0)));
	json_decref(list);
	return rc;
}

/* ---- cleanup ------------------------------------------------------------------ */

static bool keep_local_orphan(const struct item *it, const void *arg)
{
	(void)arg;
	return !strcmp(it->status, "orphan") && it->local && !json_array_size(it->uis);
}

/* Remove orphan @it's local copy after checking again that nothing needs it; 1 when removed. */
static int remove_orphan(struct syn_store *st, const struct census *c, const struct item *it, json_t *errors)
{
	struct syn_backend *be;
	unsigned int held = SYN__COPY_LOCAL;
	int rc = syn_store_backend_at(st, 0, &be, NULL);

	if (!rc && (rc = be->exists(be, it->sha)) == 0)
		return 0; /* gone meanwhile: nothing to free */
	if (rc > 0) {
		if (it->backup > 0)
			held |= SYN__COPY_BACKUP;
		/* no pack references an orphan: the UIs' views and the user's moved files are what may still need it */
		rc = syn__guard_delete(st, it->sha, SYN__COPY_LOCAL, held, 0, NULL, c->active, false, NULL);
	}
	if (!rc)
		rc = syn_blob_remove(st, it->sha);
	if (rc == SYN_ENOMEM)
		return rc;
	if (rc) {
		rc = json_array_append_new(errors, json_sprintf("%s: %s", it->sha, syn_error_last())) ? oom() : 0;
		syn_error_clear();
		return rc;
	}
	return 1;
}

/* A blob no pack names but a UI's active view links is kept: say so. */
static int warn_kept_active(struct census *c)
{
	const struct ref *first;
	size_t i, nrefs;
	json_t *uis;

	for (i = 0; i < c->local.n; i++) {
		const char *sha = c->local.v[i].sha;

		refs_of(c, sha, &first, &nrefs);
		if (nrefs || !json_array_size(uis = json_object_get(c->active, sha)))
			continue;
		if (json_array_append_new(c->warnings, json_sprintf("blob %.12s is no pack's, but the active view of %s "
				"links it: kept", sha, json_string_value(json_array_get(uis, 0)))))
			return oom();
	}
	return 0;
}

int syn_inventory_cleanup(struct syn_store *st, bool execute, size_t max, json_t **out)
{
	json_t *deleted = NULL, *errors = json_array(), *item;
	struct items orphans = { 0 };
	uint64_t freed = 0;
	size_t i, found = 0, removed = 0;
	struct census c;
	int rc = errors ? 0 : oom();

	*out = NULL;
	if (!rc && execute)
		rc = syn_store_lock(st, "inventory cleanup");
	if (rc) {
		json_decref(errors);
		return rc;
	}
	syn__store_hold(st);
	rc = census_gather(st, &c);
	if (rc)
		goto out;
	if (execute && c.unreadable) {
		rc = syn_error_set(SYN_EGUARD, "refusing to clean up: %s; which blobs are orphans is unknown until that "
				   "pack is repaired or deleted", json_string_value(json_array_get(c.warnings, 0)));
		goto out_census;
	}
	rc = all_items(st, &c, keep_local_orphan, NULL, &orphans);
	if (!rc)
		rc = warn_kept_active(&c);
	if (!rc && !(deleted = json_array()))
		rc = oom();
	found = orphans.n;
	for (i = 0; !rc && i < orphans.n && (!max || i < max); i++) {
		if (execute) {
			rc = remove_orphan(st, &c, &orphans.v[i], errors);
			if (rc <= 0)
				continue;
			rc = 0;
			removed++;
		}
		freed += orphans.v[i].size;
		rc = item_json(&orphans.v[i], &item);
		if (!rc && json_array_append_new(deleted, item))
			rc = oom();
	}
	if (!rc && !(*out = json_pack("{s:b, s:I, s:I, s:I, s:O, s:O, s:O}", "dry_run", !execute,
				      "orphans_found", (json_int_t)found, "orphans_deleted", (json_int_t)removed,
				      "bytes_freed", (json_int_t)freed, "deleted", deleted, "errors", errors,
				      "warnings", c.warnings)))
		rc = oom();
	if (!rc && json_array_size(errors))
		rc = syn_error_set(SYN_ERROR, "%zu orphan(s) could not be removed, first %s", json_array_size(errors),
				   json_string_value(json_array_get(errors, 0)));
out_census:
	census_dispose(&c);
out:
	syn__store_release(st);
	if (execute)
		syn_store_unlock(st);
	items_dispose(&orphans);
	json_decref(deleted);
	json_decref(errors);
	return rc;
}

/* ---- delete ------------------------------------------------------------------- */

/* Whether the copy of @sha on @be hashes to its name. */
static int copy_is_good(struct syn_backend *be, const char *sha, bool *good)
{
	char actual[SYN_SHA256_HEX_LEN + 1];
	int fd, rc;

	*good = false;
	rc = be->open(be, sha, &fd);
	if (rc)
		return rc;
	rc = syn_sha256_fd(actual, NULL, fd);
	close(fd);
	*good = !rc && !strcmp(actual, sha);
	return rc;
}

static const char *const copy_names[] = { "local", "backup" };

struct delete_ctx {
	struct syn_store *st;
	const char *sha;
	struct syn_backend *be[2];
	unsigned int caps[2];
	unsigned int held, verified;
	uint64_t size;
	json_t *refs, *active, *warnings;
	bool unreadable;
};

/* Which copies exist; a backup that cannot be reached fails only when @target names it. */
static int find_copies(struct delete_ctx *d, unsigned int target)
{
	size_t n = 0, i;
	int rc = syn_store_backend_count(d->st, &n);

	for (i = 0; !rc && i < 2 && i < n; i++) {
		rc = syn_store_backend_at(d->st, i, &d->be[i], &d->caps[i]);
		if (!rc && (rc = d->be[i]->exists(d->be[i], d->sha)) > 0) {
			d->held |= 1u << i;
			if (!d->size && d->be[i]->size(d->be[i], d->sha, &d->size))
				syn_error_clear();
			rc = 0;
		}
		if (rc < 0 && rc != SYN_ENOMEM && i == 1 && !(target & SYN__COPY_BACKUP)) {
			/* not counted as a copy: an unreachable backup is never taken to hold one */
			rc = json_array_append_new(d->warnings, json_sprintf("the backup cannot be reached, so its copy (if any) "
					"was not counted: %s", syn_error_last())) ? oom() : 0;
			syn_error_clear();
			d->be[1] = NULL;
		}
	}
	if (!rc && (target & SYN__COPY_BACKUP) && n < 2)
		rc = syn_error_set(SYN_EINVALID, "no backup is configured: enable one in config.json (backup.enabled, "
				   "backup.path)");
	return rc;
}

/* Re-hash the copies that would remain of a referenced blob; a bad one is a warning (the guard then refuses). */
static int verify_remaining(struct delete_ctx *d, unsigned int remains)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < 2; i++) {
		bool good = false;

		if (!(remains & (1u << i)))
			continue;
		rc = copy_is_good(d->be[i], d->sha, &good);
		if (!rc && good) {
			d->verified |= 1u << i;
		} else if (rc != SYN_ENOMEM) {
			rc = json_array_append_new(d->warnings, json_sprintf("the %s copy of blob %.12s, the one that would "
					"remain, is %s", copy_names[i], d->sha, rc ? syn_error_last() : "corrupt")) ? oom() : 0;
			syn_error_clear();
		}
	}
	return rc;
}

static int remove_copy(struct delete_ctx *d, size_t i)
{
	if (i == 0)
		return syn_blob_remove(d->st, d->sha);
	if (!(d->caps[1] & SYN_BACKEND_CAP_REMOVE))
		return syn_error_set(SYN_EUNSUPPORTED, "the backup backend cannot remove blobs");
	return d->be[1]->remove(d->be[1], d->sha);
}

static json_t *copies_list(unsigned int bits)
{
	json_t *out = json_array();
	size_t i;

	for (i = 0; out && i < 2; i++)
		if ((bits & (1u << i)) && json_array_append_new(out, json_string(copy_names[i]))) {
			json_decref(out);
			return NULL;
		}
	return out;
}

int syn_inventory_delete(struct syn_store *st, const char *sha_in, unsigned int target, bool force, json_t **out)
{
	char sha[SYN_SHA256_HEX_LEN + 1];
	struct delete_ctx d = { .st = st, .sha = sha };
	unsigned int doomed, removed = 0;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = digest_arg(sha_in, sha)))
		return rc;
	if (!target || (target & ~SYN_INVENTORY_BOTH))
		return syn_error_set(SYN_EINVALID, "the copies to delete must be local, backup or both");
	if ((rc = syn_store_lock(st, "inventory delete")))
		return rc;
	if (!(d.warnings = json_array()))
		rc = oom();
	if (!rc)
		rc = syn__guard_references(st, &d.refs, d.warnings, &d.unreadable);
	if (!rc)
		rc = syn__guard_active(st, &d.active);
	if (!rc)
		rc = find_copies(&d, target);
	if (rc)
		goto out;
	doomed = target & d.held;
	if (!doomed) {
		rc = syn_error_set(SYN_ENOTFOUND, "blob %s is not on %s", sha,
				   target == SYN_INVENTORY_BOTH ? "this machine or the backup"
				   : target == SYN_INVENTORY_LOCAL ? "this machine" : "the backup");
		goto out;
	}
	if (d.unreadable && !force) {
		rc = syn_error_set(SYN_EGUARD, "refusing to delete: %s; whether a pack needs blob %.12s is unknown "
				   "(or give --force)", json_string_value(json_array_get(d.warnings, 0)), sha);
		goto out;
	}
	if (json_array_size(json_object_get(d.refs, sha)) && (rc = verify_remaining(&d, d.held & ~doomed)))
		goto out;
	rc = syn__guard_delete(d.st, sha, doomed, d.held, d.verified, d.refs, d.active, force, d.warnings);
	for (i = 0; !rc && i < 2; i++)
		if ((doomed & (1u << i)) && !(rc = remove_copy(&d, i)))
			removed |= 1u << i;
	if (rc && removed) {
		/* what went is reported with why the rest did not */
		json_t *report = json_pack("{s:b, s:s, s:I, s:o, s:o, s:O}", "deleted", 1, "sha256", sha,
					   "bytes_freed", (json_int_t)d.size, "deleted_from", copies_list(removed),
					   "remaining_on", copies_list(d.held & ~removed), "warnings", d.warnings);

		*out = report;
		goto out;
	}
	if (rc)
		goto out;
	if (!(d.held & ~removed) && !json_array_size(json_object_get(d.refs, sha)) &&
	    json_array_append_new(d.warnings, json_sprintf("blob %.12s is gone from every location; only its source "
			"can give it back", sha))) {
		rc = oom();
		goto out;
	}
	*out = json_pack("{s:b, s:s, s:I, s:o, s:o, s:O}", "deleted", 1, "sha256", sha,
			 "bytes_freed", (json_int_t)(d.size * ((removed & 1u) + (removed >> 1))),
			 "deleted_from", copies_list(removed), "remaining_on", copies_list(d.held & ~removed),
			 "warnings", d.warnings);
	rc = *out ? 0 : oom();
out:
	json_decref(d.refs);
	json_decref(d.active);
	json_decref(d.warnings);
	syn_store_unlock(st);
	return rc;
}
