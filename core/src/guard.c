/*
 * guard: what uses a blob, and whether a copy of it may be deleted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/names.h"

#include "digest.h"
#include "docs.h"
#include "guard.h"
#include "view.h"

/* Under data/: the files adopt --move replaced by links, by blob. */
#define MOVED_PATH "adopted-links.json"

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* A digest field as JSON: null when empty, an integer when @number. */
static json_t *field(const char *s, bool number)
{
	char *end;
	long long n;

	if (!s || !*s)
		return json_null();
	if (!number)
		return json_string(s);
	n = strtoll(s, &end, 10);
	return *end ? json_string(s) : json_integer(n);
}

/* Set @key (an ASCII literal) of @obj to @v (stolen); false without memory. */
static bool put(json_t *obj, const char *key, json_t *v)
{
	return v && !json_object_set_new_nocheck(obj, key, v);
}

json_t *syn__guard_origin(const struct syn__digest_entry *e)
{
	json_t *origin = json_object();

	if (origin && put(origin, "provider", field(e->provider, false)) &&
	    put(origin, "model_id", field(e->model_id, true)) &&
	    put(origin, "version_id", field(e->version_id, true)) && put(origin, "file_id", field(e->file_id, true)) &&
	    put(origin, "filename", field(e->filename, false)) && put(origin, "repo_id", field(e->repo_id, false)))
		return origin;
	json_decref(origin);
	return NULL;
}

/* One reference: lock entry @e of pack @d, as syn__guard_references() shows it; NULL without memory. */
static json_t *reference(const struct syn__pack_digest *d, const struct syn__digest_entry *e)
{
	json_t *ref, *origin = syn__guard_origin(e);

	if (!origin || !(ref = json_object())) {
		json_decref(origin);
		return NULL;
	}
	/* the origin is the reference's from here, whatever happens */
	if (put(ref, "origin", origin) && put(ref, "pack", json_string(d->name)) &&
	    put(ref, "dependency_id", json_string(e->dep_id)) && put(ref, "kind", json_string(e->kind)) &&
	    put(ref, "expose_filename", field(e->fname, false)) && put(ref, "size_bytes", field(e->size, true)))
		return ref;
	json_decref(ref);
	return NULL;
}

/* The references of pack @d's lock entries, added to @refs (an object, as syn__guard_references() gives). */
static int pack_references(const struct syn__pack_digest *d, void *refs)
{
	size_t i;

	for (i = 0; i < d->nentries; i++) {
		const struct syn__digest_entry *e = &d->entries[i];
		json_t *list = json_object_get(refs, e->sha256), *ref;

		if (!syn_name_is_sha256(e->sha256))
			continue;
		if (!list && (json_object_set_new(refs, e->sha256, json_array()) ||
			      !(list = json_object_get(refs, e->sha256))))
			return oom();
		ref = reference(d, e);
		if (!ref || json_array_append_new(list, ref))
			return oom();
	}
	return 0;
}

int syn__guard_each_pack(struct syn_store *st, int (*fn)(const struct syn__pack_digest *d, void *arg), void *arg,
			 json_t *warnings, bool *unreadable)
{
	const struct syn__pack_digest *d;
	json_t *names = NULL, *n;
	size_t i;
	int rc = syn__docs_pack_names(st, &names);

	if (unreadable)
		*unreadable = false;
	if (!rc)
		syn__digest_prefetch(st, names);
	json_array_foreach(names, i, n) {
		const char *name = json_string_value(n), *why;

		/* the per-pack digests: only the packs whose documents changed are read */
		if (rc || (rc = syn__digest_get(st, name, &d)))
			break;
		why = d->pack_error ? d->pack_error : d->lock_error;
		if (!why) {
			rc = fn(d, arg);
			continue;
		}
		if (unreadable)
			*unreadable = true;
		if (warnings && json_array_append_new(warnings, json_sprintf("pack '%s' cannot be read, so the blobs it "
				"references are unknown: %s", name, why)))
			rc = oom();
	}
	syn__digest_flush(st);
	json_decref(names);
	return rc;
}

int syn__guard_references(struct syn_store *st, json_t **out, json_t *warnings, bool *unreadable)
{
	int rc;

	*out = json_object();
	rc = *out ? syn__guard_each_pack(st, pack_references, *out, warnings, unreadable) : oom();
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int syn__guard_active(struct syn_store *st, json_t **out)
{
	json_t *config = NULL, *u;
	size_t i;
	int rc;

	*out = json_object();
	rc = *out ? syn_store_config(st, &config) : oom();
	json_array_foreach(json_object_get(json_object_get(config, "ui"), "known"), i, u)
		if (!rc && json_string_value(u))
			rc = syn__view_active_blobs(st, json_string_value(u), *out);
	json_decref(config);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* "A, B and 3 more" from the "pack" members of @refs, or the strings of @uis. */
static void names_of(const json_t *list, const char *key, char *out, size_t size)
{
	size_t i, n = json_array_size(list), len = 0;

	out[0] = '\0';
	for (i = 0; i < n && i < 3; i++) {
		const json_t *e = json_array_get(list, i);
		const char *s = key ? syn_doc_str(e, key, "?") : json_string_value(e);
		int w = snprintf(out + len, size - len, "%s%s", i ? ", " : "", s ? s : "?");

		if (w < 0 || (size_t)w >= size - len)
			return;
		len += (size_t)w;
	}
	if (n > 3)
		snprintf(out + len, size - len, " and %zu more", n - 3);
}

/* The files adopt --move replaced by links: {"<sha256>": ["<path>", ...]}, or an empty object. */
static json_t *moved_files(struct syn_store *st)
{
	json_t *doc = NULL;

	if (syn_doc_read(&doc, syn_store_data_fd(st), MOVED_PATH, MOVED_PATH) || !json_is_object(doc)) {
		json_decref(doc);
		doc = json_object();
	}
	syn_error_clear();
	return doc;
}

int syn__guard_note_moved(struct syn_store *st, const char *sha, const char *path)
{
	json_t *doc = moved_files(st), *list, *v;
	size_t i;
	int rc = doc ? 0 : oom();

	list = json_object_get(doc, sha);
	if (!rc && !json_is_array(list) && json_object_set_new(doc, sha, list = json_array()))
		rc = oom();
	json_array_foreach(rc ? NULL : list, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), path))
			goto out;
	if (!rc && json_array_append_new(list, json_string_nocheck(path)))
		rc = oom();
	if (!rc)
		rc = syn_doc_write(syn_store_data_fd(st), MOVED_PATH, doc);
out:
	json_decref(doc);
	return rc;
}

/* A file adopt --move replaced by a link that still links to blob @sha, into @out; false when none does. */
static bool moved_link(struct syn_store *st, const char *sha, char *out, size_t size)
{
	json_t *doc = moved_files(st), *v;
	char target[4096];
	bool found = false;
	size_t i;

	json_array_foreach(json_object_get(doc, sha), i, v) {
		const char *path = json_string_value(v);
		ssize_t n = path ? readlink(path, target, sizeof(target) - 1) : -1;

		if (n >= SYN_SHA256_HEX_LEN && !memcmp(target + n - SYN_SHA256_HEX_LEN, sha, SYN_SHA256_HEX_LEN)) {
			snprintf(out, size, "%s", path);
			found = true;
			break;
		}
	}
	json_decref(doc);
	return found;
}

int syn__guard_delete(struct syn_store *st, const char *sha, unsigned int target, unsigned int held,
		      unsigned int verified, const json_t *refs, const json_t *active, bool force, json_t *warnings)
{
	const json_t *users = json_object_get(refs, sha), *uis = json_object_get(active, sha);
	unsigned int remains = held & ~target;
	char names[256], why[1024] = "", file[640];
	bool local = (target & SYN__COPY_LOCAL) && (held & SYN__COPY_LOCAL);

	if (local && json_array_size(uis)) {
		names_of(uis, NULL, names, sizeof(names));
		snprintf(why, sizeof(why), "blob %.12s is linked from the active view of %s: switch %s to another "
			 "profile first", sha, names, json_array_size(uis) > 1 ? "them" : "it");
	} else if (local && moved_link(st, sha, file, sizeof(file))) {
		snprintf(why, sizeof(why), "blob %.12s is the file %.640s, which adopt --move replaced by a link to "
			 "it: put a copy of the blob there in place of the link first", sha, file);
	} else if (json_array_size(users) && !remains) {
		names_of(users, "pack", names, sizeof(names));
		snprintf(why, sizeof(why), "blob %.12s is the last copy of a file that pack(s) %s need: back it up "
			 "first, or delete the pack", sha, names);
	} else if (json_array_size(users) && (remains & ~verified)) {
		names_of(users, "pack", names, sizeof(names));
		snprintf(why, sizeof(why), "blob %.12s is needed by pack(s) %s and its %s copy, the one that would "
			 "remain, was not verified: verify it first", sha, names,
			 remains & SYN__COPY_BACKUP ? "backup" : "local");
	}
	if (!why[0])
		return 0;
	if (!force)
		return syn_error_set(SYN_EGUARD, "refusing to delete: %s (or give --force)", why);
	if (warnings && json_array_append_new(warnings, json_sprintf("deleted despite a guard rail: %s", why)))
		return oom();
	return 0;
}
