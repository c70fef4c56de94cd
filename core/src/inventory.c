/*
 * inventory: every blob the store's backends hold or its packs name, what
 * uses each, and removing copies behind the guard rails of guard.c. The
 * blobs are what the backends list (never manifests or partial files), the
 * users are the packs' locks and the UIs' active views.
 */
#include <ctype.h>
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
#include "guard.h"
#include "store.h"

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* ---- what there is ---------------------------------------------------------- */

/* Everything an inventory is made of, gathered once. */
struct census {
	json_t *refs;     /* syn__guard_references() */
	json_t *active;   /* syn__guard_active() */
	json_t *warnings; /* packs that cannot be read */
	bool unreadable;
	json_t *local;    /* {"<sha>": size} of the primary */
	json_t *backup;   /* the same for the backup; NULL when there is none or it cannot be listed */
	bool backup_enabled;
	json_t *backup_error; /* a string, or NULL */
};

static void census_dispose(struct census *c)
{
	json_decref(c->refs);
	json_decref(c->active);
	json_decref(c->warnings);
	json_decref(c->local);
	json_decref(c->backup);
	json_decref(c->backup_error);
	memset(c, 0, sizeof(*c));
}

static int collect_name(const char *sha, void *payload)
{
	return json_object_set_new(payload, sha, json_integer(0)) ? oom() : 0;
}

/* The blobs backend @be lists, with their sizes, in *@out (a new object). */
static int listing(struct syn_backend *be, json_t **out)
{
	const char *sha;
	json_t *v;
	int rc;

	*out = json_object();
	if (!*out)
		return oom();
	rc = be->foreach(be, collect_name, *out);
	json_object_foreach(*out, sha, v) {
		uint64_t size = 0;

		if (rc)
			break;
		/* a blob removed since it was listed counts as empty, not as an error */
		if (be->size(be, sha, &size))
			syn_error_clear();
		if (size > INT64_MAX || json_integer_set(v, (json_int_t)size))
			size = 0;
	}
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
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
		rc = listing(be, &c->backup);
	if (rc == SYN_ENOMEM)
		return rc;
	if (rc) {
		c->backup_error = json_string(syn_error_last());
		syn_error_clear();
		if (!c->backup_error)
			return oom();
	}
	return 0;
}

static int census_gather(struct syn_store *st, struct census *c)
{
	struct syn_backend *be;
	unsigned int caps = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	c->warnings = json_array();
	if (!c->warnings)
		return oom();
	rc = syn__guard_references(st, &c->refs, c->warnings, &c->unreadable);
	if (!rc)
		rc = syn__guard_active(st, &c->active);
	if (!rc)
		rc = syn_store_backend_at(st, 0, &be, &caps);
	if (!rc && !(caps & SYN_BACKEND_CAP_LIST))
		rc = syn_error_set(SYN_EUNSUPPORTED, "the primary blob backend cannot list its blobs");
	if (!rc)
		rc = listing(be, &c->local);
	if (!rc)
		rc = census_backup(st, c);
	if (rc)
		census_dispose(c);
	return rc;
}

static uint64_t size_in(const json_t *listing, const char *sha)
{
	json_int_t n = json_integer_value(json_object_get(listing, sha));

	return n > 0 ? (uint64_t)n : 0;
}

/* ---- items ------------------------------------------------------------------ */

static const char *status_of(const struct census *c, const char *sha)
{
	bool local = json_object_get(c->local, sha) != NULL, backup = json_object_get(c->backup, sha) != NULL;

	if (!json_array_size(json_object_get(c->refs, sha)))
		return "orphan";
	return local ? "referenced" : backup ? "backup_only" : "missing";
}

static const char *location_of(bool local, int backup)
{
	if (backup < 0)
		return "unknown";
	if (local)
		return backup ? "both" : "local_only";
	return backup ? "backup_only" : "nowhere";
}

/* The distinct pack names of @refs, in their first order, as a new array. */
static json_t *packs_of(const json_t *refs)
{
	json_t *out = json_array(), *r, *p;
	size_t i, k;

	json_array_foreach(refs, i, r) {
		const char *name = syn_doc_str(r, "pack", "");
		bool seen = false;

		json_array_foreach(out, k, p)
			seen = seen || !strcmp(json_string_value(p), name);
		if (out && !seen && json_array_append_new(out, json_string(name))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Set @key (an ASCII literal) of @obj to @v (stolen); false without memory. */
static bool put(json_t *obj, const char *key, json_t *v)
{
	return v && !json_object_set_new_nocheck(obj, key, v);
}

/* The inventory item of blob @sha in *@out (a new object). */
static int make_item(struct syn_store *st, const struct census *c, const char *sha, json_t **out)
{
	const json_t *refs = json_object_get(c->refs, sha), *first = json_array_get(refs, 0), *r;
	bool local = json_object_get(c->local, sha) != NULL;
	int backup = !c->backup ? (c->backup_enabled ? -1 : 0) : json_object_get(c->backup, sha) != NULL;
	json_t *meta = NULL, *uis = json_object_get(c->active, sha), *origin, *item;
	const char *kind, *name;
	char fallback[20];
	uint64_t size = local ? size_in(c->local, sha) : backup > 0 ? size_in(c->backup, sha) : 0;
	size_t i;
	int rc = 0;

	*out = NULL;
	json_array_foreach(refs, i, r)
		if (!size && json_integer_value(json_object_get(r, "size_bytes")) > 0)
			size = (uint64_t)json_integer_value(json_object_get(r, "size_bytes"));
	if (!first && (local || backup > 0)) {
		/* no pack names it: the manifest written when it arrived still says what it was */
		rc = syn_blob_meta_read(st, sha, &meta);
		if (rc == SYN_ENOMEM)
			return rc;
		syn_error_clear();
		rc = 0;
	}
	snprintf(fallback, sizeof(fallback), "%.12s...", sha);
	if (first) {
		kind = syn_doc_str(first, "kind", "unknown");
		name = syn_doc_str(first, "expose_filename",
				   syn_doc_str(json_object_get(first, "origin"), "filename", fallback));
		origin = json_object_get(first, "origin");
	} else {
		kind = syn_doc_str(meta, "kind", "unknown");
		name = syn_doc_str(meta, "original_filename", fallback);
		origin = json_object_get(meta, "origin");
	}
	item = json_object();
	if (item && put(item, "sha256", json_stringn_nocheck(sha, SYN_SHA256_HEX_LEN)) &&
	    put(item, "kind", json_string(kind)) && put(item, "display_name", json_string(name)) &&
	    put(item, "size_bytes", json_integer((json_int_t)size)) &&
	    put(item, "location", json_string_nocheck(location_of(local, backup))) &&
	    put(item, "on_local", json_boolean(local)) &&
	    put(item, "on_backup", backup < 0 ? json_null() : json_boolean(backup)) &&
	    put(item, "status", json_string_nocheck(status_of(c, sha))) && put(item, "used_by_packs", packs_of(refs)) &&
	    put(item, "ref_count", json_integer((json_int_t)json_array_size(refs))) &&
	    (!json_is_object(origin) || put(item, "origin", json_incref(origin))) &&
	    put(item, "active_in_uis", uis ? json_incref(uis) : json_array()))
		*out = item;
	else
		json_decref(item);
	json_decref(meta);
	return *out ? 0 : oom();
}

/* An item and what it sorts by. */
struct sort_key {
	json_int_t size;
	const char *sha;
	json_t *item;
};

static int cmp_items(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->sha, y->sha);
}

/* @items sorted by size, largest first, then by digest, in a new array in *@out. */
static int sort_items(json_t *items, json_t **out)
{
	size_t i, n = json_array_size(items);
	struct sort_key *k = malloc((n ? n : 1) * sizeof(*k));
	int rc = 0;

	*out = json_array();
	if (!k || !*out) {
		free(k);
		json_decref(*out);
		*out = NULL;
		return oom();
	}
	for (i = 0; i < n; i++) {
		k[i].item = json_array_get(items, i);
		k[i].size = json_integer_value(json_object_get(k[i].item, "size_bytes"));
		k[i].sha = syn_doc_str(k[i].item, "sha256", "");
	}
	qsort(k, n, sizeof(*k), cmp_items);
	for (i = 0; !rc && i < n; i++)
		if (json_array_append(*out, k[i].item))
			rc = oom();
	free(k);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/*
 * Every item (blobs listed locally, on the backup, or named by a lock)
 * that @keep accepts, sorted, in *@out.
 */
static int all_items(struct syn_store *st, const struct census *c,
		     bool (*keep)(const json_t *item, const void *arg), const void *arg, json_t **out)
{
	const json_t *sources[3] = { c->local, c->backup, c->refs };
	json_t *kept = json_array(), *v;
	const char *sha;
	size_t s, k;
	int rc = kept ? 0 : oom();

	*out = NULL;
	for (s = 0; !rc && s < 3; s++) {
		json_object_foreach((json_t *)sources[s], sha, v) {
			json_t *item = NULL;
			bool seen = false;

			/* each blob once: from the first source that has it */
			for (k = 0; k < s; k++)
				seen = seen || json_object_get(sources[k], sha);
			if (seen)
				continue;
			rc = make_item(st, c, sha, &item);
			if (!rc && keep(item, arg) && json_array_append(kept, item))
				rc = oom();
			json_decref(item);
			if (rc)
				break;
		}
	}
	if (!rc)
		rc = sort_items(kept, out);
	json_decref(kept);
	return rc;
}

/* ---- list --------------------------------------------------------------------- */

struct filter {
	const char *kind, *status;
};

static bool keep_filtered(const json_t *item, const void *arg)
{
	const struct filter *f = arg;

	return (!f->kind || !strcmp(syn_doc_str(item, "kind", ""), f->kind)) &&
	       (!f->status || !strcmp(syn_doc_str(item, "status", ""), f->status));
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

static int summarize(struct syn_store *st, const struct census *c, const json_t *items, json_t **out)
{
	uint64_t n_ref = 0, b_ref = 0, n_orphan = 0, b_orphan = 0, n_missing = 0, n_bonly = 0, b_local = 0;
	uint64_t copies = 0, stored = 0, b_backup = 0;
	json_t *by_kind = json_object(), *by_status = json_object(), *item, *total = NULL, *free_bytes = NULL;
	const char *sha;
	json_t *v;
	size_t i;
	int rc = by_kind && by_status ? 0 : oom();

	*out = NULL;
	json_array_foreach(items, i, item) {
		const char *status = syn_doc_str(item, "status", "");
		uint64_t size = (uint64_t)json_integer_value(json_object_get(item, "size_bytes"));

		if (rc)
			break;
		if (!strcmp(status, "referenced")) {
			n_ref++;
			b_ref += size;
			stored += size;
			copies += size * (uint64_t)json_integer_value(json_object_get(item, "ref_count"));
		} else if (!strcmp(status, "orphan")) {
			n_orphan++;
			b_orphan += size;
		} else if (!strcmp(status, "missing")) {
			n_missing++;
		} else {
			n_bonly++;
		}
		if (json_is_true(json_object_get(item, "on_local")))
			b_local += size;
		rc = add_to(by_kind, syn_doc_str(item, "kind", "unknown"), size);
		if (!rc)
			rc = add_to(by_status, status, size);
	}
	json_object_foreach(c->backup, sha, v)
		b_backup += size_in(c->backup, sha);
	if (!rc)
		rc = disk_space(st, &total, &free_bytes);
	if (!rc)
		*out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:O, s:o, s:o,"
				 " s:{s:I, s:I, s:I}, s:{s:b, s:b, s:O?, s:o, s:o}}",
				 "blobs_total", (json_int_t)json_array_size(items), "blobs_referenced", (json_int_t)n_ref,
				 "bytes_referenced", (json_int_t)b_ref, "blobs_orphan", (json_int_t)n_orphan,
				 "bytes_orphan", (json_int_t)b_orphan, "blobs_missing", (json_int_t)n_missing,
				 "blobs_backup_only", (json_int_t)n_bonly, "bytes_total", (json_int_t)b_local,
				 "bytes_by_kind", by_kind, "bytes_by_status", by_status,
				 "disk_total", total, "disk_free", free_bytes,
				 "dedup", "bytes_as_copies", (json_int_t)copies, "bytes_stored", (json_int_t)stored,
				 "bytes_saved", (json_int_t)(copies - stored),
				 "backup", "enabled", c->backup_enabled, "reachable", c->backup != NULL,
				 "error", c->backup_error,
				 "blobs_on_backup", c->backup ? json_integer((json_int_t)json_object_size(c->backup)) : json_null(),
				 "bytes_on_backup", c->backup ? json_integer((json_int_t)b_backup) : json_null());
	json_decref(by_kind);
	json_decref(by_status);
	return rc ? rc : *out ? 0 : oom();
}

static bool valid_status(const char *s)
{
	return !strcmp(s, "referenced") || !strcmp(s, "orphan") || !strcmp(s, "missing") || !strcmp(s, "backup_only");
}

int syn_inventory_list(struct syn_store *st, const char *kind, const char *status, json_t **out)
{
	struct filter f = { kind, status };
	struct census c;
	json_t *items = NULL, *summary = NULL;
	char now[32];
	int rc;

	*out = NULL;
	if (status && !valid_status(status))
		return syn_error_set(SYN_EINVALID, "unknown status '%s': give referenced, orphan, missing or backup_only",
				     status);
	syn__store_hold(st);
	rc = census_gather(st, &c);
	if (!rc) {
		rc = all_items(st, &c, keep_filtered, &f, &items);
		if (!rc)
			rc = summarize(st, &c, items, &summary);
		local_now(now, sizeof(now));
		if (!rc && !(*out = json_pack("{s:s, s:o, s:O, s:O}", "generated_at", now, "summary", summary,
					      "items", items, "warnings", c.warnings)))
			rc = oom();
		summary = NULL;
		census_dispose(&c);
	}
	json_decref(items);
	syn__store_release(st);
	return rc;
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
	struct census c;
	json_t *item = NULL;
	int rc;

	*out = NULL;
	if ((rc = digest_arg(sha_in, sha)))
		return rc;
	syn__store_hold(st);
	rc = census_gather(st, &c);
	if (rc)
		goto out;
	if (!json_object_get(c.local, sha) && !json_object_get(c.backup, sha) && !json_object_get(c.refs, sha)) {
		const json_t *uis = json_object_get(c.active, sha);

		snprintf(fallback, sizeof(fallback), "%.12s...", sha);
		*out = json_pack("{s:s, s:s, s:n, s:s, s:i, s:[], s:o, s:b, s:o, s:b, s:s}", "sha256", sha,
				 "display_name", fallback, "kind", "status", "missing", "size_bytes", 0, "used_by_packs",
				 "active_in_uis", uis ? json_incref((json_t *)uis) : json_array(), "on_local", 0,
				 "on_backup", c.backup || !c.backup_enabled ? json_false() : json_null(),
				 "can_delete_safely", 1, "reason", "the blob is not stored anywhere: there is nothing to delete");
		rc = *out ? 0 : oom();
		goto out_census;
	}
	rc = make_item(st, &c, sha, &item);
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

static bool keep_local_orphan(const json_t *item, const void *arg)
{
	(void)arg;
	return !strcmp(syn_doc_str(item, "status", ""), "orphan") && json_is_true(json_object_get(item, "on_local")) &&
	       !json_array_size(json_object_get(item, "active_in_uis"));
}

/* Remove orphan @item's local copy after checking again that nothing needs it; 1 when removed. */
static int remove_orphan(struct syn_store *st, const struct census *c, const json_t *item, json_t *errors)
{
	const char *sha = syn_doc_str(item, "sha256", "");
	struct syn_backend *be;
	unsigned int held = SYN__COPY_LOCAL;
	int rc = syn_store_backend_at(st, 0, &be, NULL);

	if (!rc && (rc = be->exists(be, sha)) == 0)
		return 0; /* gone meanwhile: nothing to free */
	if (rc > 0) {
		if (json_is_true(json_object_get(item, "on_backup")))
			held |= SYN__COPY_BACKUP;
		rc = syn__guard_delete(st, sha, SYN__COPY_LOCAL, held, 0, c->refs, c->active, false, NULL);
	}
	if (!rc)
		rc = syn_blob_remove(st, sha);
	if (rc == SYN_ENOMEM)
		return rc;
	if (rc) {
		rc = json_array_append_new(errors, json_sprintf("%s: %s", sha, syn_error_last())) ? oom() : 0;
		syn_error_clear();
		return rc;
	}
	return 1;
}

/* A blob no pack names but a UI's active view links is kept: say so. */
static int warn_kept_active(struct census *c)
{
	const char *sha;
	json_t *v, *uis;

	json_object_foreach(c->local, sha, v) {
		if (json_array_size(json_object_get(c->refs, sha)) || !json_array_size(uis = json_object_get(c->active, sha)))
			continue;
		if (json_array_append_new(c->warnings, json_sprintf("blob %.12s is no pack's, but the active view of %s "
				"links it: kept", sha, json_string_value(json_array_get(uis, 0)))))
			return oom();
	}
	return 0;
}

int syn_inventory_cleanup(struct syn_store *st, bool execute, size_t max, json_t **out)
{
	json_t *orphans = NULL, *deleted = NULL, *errors = json_array(), *item;
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
	found = json_array_size(orphans);
	json_array_foreach(orphans, i, item) {
		if (rc || (max && i >= max))
			break;
		if (execute) {
			rc = remove_orphan(st, &c, item, errors);
			if (rc <= 0)
				continue;
			rc = 0;
			removed++;
		}
		freed += (uint64_t)json_integer_value(json_object_get(item, "size_bytes"));
		if (json_array_append(deleted, item))
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
	json_decref(orphans);
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
