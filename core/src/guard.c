/*
 * guard: what uses a blob, and whether a copy of it may be deleted.
 */
#include <string.h>

#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/names.h"

#include "docs.h"
#include "guard.h"
#include "view.h"

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* The references of pack @name's lock entries, added to @refs. */
static int pack_references(const char *name, const json_t *pack, const json_t *lock, json_t *refs)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(lock, "resolved"), i, e) {
		const json_t *art = json_object_get(e, "artifact"), *prov = json_object_get(art, "provider");
		const char *sha = syn_doc_str(art, "sha256", ""), *id = syn_doc_str(e, "dependency_id", "");
		const json_t *dep = syn__docs_dependency(pack, id);
		json_t *list = json_object_get(refs, sha), *ref;

		if (!syn_name_is_sha256(sha))
			continue;
		if (!list && (json_object_set_new(refs, sha, json_array()) || !(list = json_object_get(refs, sha))))
			return oom();
		ref = json_pack("{s:s, s:s, s:s, s:O?, s:O?, s:{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}}",
			"pack", name, "dependency_id", id,
			"kind", syn_doc_str(dep, "kind", syn_doc_str(art, "kind", "unknown")),
			"expose_filename", json_object_get(json_object_get(dep, "expose"), "filename"),
			"size_bytes", json_object_get(art, "size_bytes"),
			"origin", "provider", json_object_get(prov, "name"), "model_id", json_object_get(prov, "model_id"),
			"version_id", json_object_get(prov, "version_id"), "file_id", json_object_get(prov, "file_id"),
			"filename", json_object_get(prov, "filename"), "repo_id", json_object_get(prov, "repo_id"));
		if (!ref || json_array_append_new(list, ref))
			return oom();
	}
	return 0;
}

int syn__guard_references(struct syn_store *st, json_t **out, json_t *warnings, bool *unreadable)
{
	json_t *names = NULL, *n;
	size_t i;
	int rc;

	if (unreadable)
		*unreadable = false;
	*out = json_object();
	rc = *out ? syn__docs_pack_names(st, &names) : oom();
	json_array_foreach(names, i, n) {
		const char *name = json_string_value(n);
		json_t *pack = NULL, *lock = NULL;

		if (rc)
			break;
		rc = syn__docs_pack_load(st, name, &pack);
		if (!rc)
			rc = syn__docs_lock_load(st, name, &lock);
		if (!rc)
			rc = pack_references(name, pack, lock, *out);
		if (rc && rc != SYN_ENOMEM) {
			if (unreadable)
				*unreadable = true;
			rc = warnings && json_array_append_new(warnings, json_sprintf("pack '%s' cannot be read, so the "
					"blobs it references are unknown: %s", name, syn_error_last())) ? oom() : 0;
			syn_error_clear();
		}
		json_decref(pack);
		json_decref(lock);
	}
	json_decref(names);
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

int syn__guard_delete(const char *sha, unsigned int target, unsigned int held, unsigned int verified,
		      const json_t *refs, const json_t *active, bool force, json_t *warnings)
{
	const json_t *users = json_object_get(refs, sha), *uis = json_object_get(active, sha);
	unsigned int remains = held & ~target;
	char names[256], why[640] = "";

	if ((target & SYN__COPY_LOCAL) && (held & SYN__COPY_LOCAL) && json_array_size(uis)) {
		names_of(uis, NULL, names, sizeof(names));
		snprintf(why, sizeof(why), "blob %.12s is linked from the active view of %s: switch %s to another "
			 "profile first", sha, names, json_array_size(uis) > 1 ? "them" : "it");
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
