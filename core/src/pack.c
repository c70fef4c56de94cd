/*
 * Packs: import, resolve, delete, list, show, search, and install's public
 * entry (the download engine is install.c).
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/pack.h"
#include "synapse/state.h"

#include "defaults.h"
#include "digest.h"
#include "docs.h"
#include "install.h"
#include "pack.h"
#include "runtime.h"
#include "state.h"
#include "store.h"

#define PREVIEW_MAX_BYTES (64u << 20)

/* ---- small helpers ------------------------------------------------------- */

/* A copy of member @key of @obj, or null. */
static json_t *member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v ? json_deep_copy(v) : json_null();
}

/* ---- sources ------------------------------------------------------------- */

/* The references every source accepts, for the message of a reference none does. */
static int describe_refs(struct syn_store *st, struct syn_buf *out)
{
	struct syn_registry *reg = syn_store_registry(st);
	size_t i, n = syn_registry_source_count(reg);
	int rc = 0;

	for (i = 0; !rc && i < n; i++) {
		const struct syn_source_class *cls = syn_registry_source_at(reg, i);

		rc = syn_buf_printf(out, "%s%s: %s", i ? "; " : "", cls->name,
				    SYN_VTABLE_HAS(cls, 2, refs) ? cls->refs : "its own references");
	}
	return rc;
}

/* The index in @c of the source that accepts @ref, with its normalized reference. */
static int source_for_ref(struct syn__sources *c, const char *ref, size_t *index, json_t **norm_out)
{
	struct syn_buf forms = SYN_BUF_INIT;
	const char *start_error;
	size_t i;
	int rc;

	*norm_out = NULL;
	for (i = 0; i < c->n; i++) {
		struct syn_source *src = syn__sources_get(c, i);

		if (!src || !src->parse_ref)
			continue;
		rc = src->parse_ref(src, ref, norm_out);
		if (rc == SYN_EPASSTHROUGH) {
			syn_error_clear();
			continue;
		}
		if (!rc)
			*index = i;
		return rc;
	}
	if (!c->n)
		return syn_error_set(SYN_EINVALID, "no source understands '%s': no source plugin is loaded "
				     "(see 'synapse plugins')", ref);
	rc = describe_refs(c->st, &forms);
	start_error = syn__sources_start_error(c);
	if (!rc)
		rc = syn_error_set(SYN_EINVALID, "no source understands '%s'; expected %s%s%s%s", ref, forms.ptr,
				   start_error ? " (a source could not start: " : "", start_error ? start_error : "",
				   start_error ? ")" : "");
	syn_buf_dispose(&forms);
	return rc;
}

/* ---- names --------------------------------------------------------------- */

int syn_pack_sanitize_name(struct syn_buf *out, const char *model_name)
{
	const unsigned char *p;
	size_t cut;
	int rc = 0;

	syn_buf_clear(out);
	for (p = (const unsigned char *)(model_name ? model_name : ""); *p && !rc; p++) {
		bool sep = strchr("/\\:*?\"<>|", *p) || isspace(*p) || *p < 0x20 || *p == 0x7f;

		if (sep) {
			if (out->len && out->ptr[out->len - 1] != '_')
				rc = syn_buf_puts(out, "_");
		} else if (*p == '_' && out->len && out->ptr[out->len - 1] == '_') {
			continue;
		} else {
			rc = syn_buf_put(out, p, 1);
		}
	}
	if (rc)
		return rc;
	while (out->len && out->ptr[out->len - 1] == '_')
		syn_buf_truncate(out, out->len - 1);
	cut = 0;
	while (cut < out->len && out->ptr[cut] == '_')
		cut++;
	if (cut) {
		memmove(out->ptr, out->ptr + cut, out->len - cut + 1);
		out->len -= cut;
	}
	if (out->len > 100) {
		cut = 100;
		while (cut > 0 && ((unsigned char)out->ptr[cut] & 0xc0) == 0x80)
			cut--; /* never split a UTF-8 sequence */
		syn_buf_truncate(out, cut);
	}
	/* a leading dot would hide the pack; ".." would be refused later */
	while (out->len && out->ptr[0] == '.') {
		memmove(out->ptr, out->ptr + 1, out->len);
		out->len--;
	}
	if (!out->len)
		rc = syn_buf_puts(out, "unnamed_pack");
	return rc;
}

/* ---- import -------------------------------------------------------------- */

json_t *syn_pack_choose_file(const json_t *files, json_int_t file_id)
{
	json_t *f;
	size_t i;

	if (file_id > 0)
		json_array_foreach(files, i, f)
			if (json_integer_value(json_object_get(f, "file_id")) == file_id)
				return f;
	json_array_foreach(files, i, f)
		if (json_is_true(json_object_get(f, "primary")))
			return f;
	json_array_foreach(files, i, f) {
		const char *name = syn_doc_str(f, "name", "");
		size_t n = strlen(name);

		if (n >= 12 && !strcmp(name + n - 12, ".safetensors"))
			return f;
	}
	return json_array_get(files, 0);
}

json_t *syn_pack_find_version(const json_t *model, json_int_t version_id)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(model, "versions"), i, v)
		if (json_integer_value(json_object_get(v, "version_id")) == version_id)
			return v;
	return NULL;
}

/* config.json's base-model aliases, or an empty object. */
static int base_aliases(struct syn_store *st, json_t **out)
{
	json_t *config = NULL, *aliases;

	*out = NULL;
	if (syn_store_config(st, &config)) {
		/* no readable config: no alias is known, every base model stays a hint */
		syn_error_clear();
		config = NULL;
	}
	aliases = json_object_get(config, "base_model_aliases");
	*out = json_is_object(aliases) ? json_incref(aliases) : json_object();
	json_decref(config);
	return *out ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

static int unresolved(json_t *list, const char *dep_id, const char *reason, json_t *details)
{
	json_t *entry = details ? json_pack("{s:s, s:o, s:s}", "dependency_id", dep_id, "details", details,
					    "reason", reason) : NULL;

	if (!entry || json_array_append_new(list, entry))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	return 0;
}

/*
 * The lock entry of a dependency on a blob named by its digest (files
 * adopted from the user's folders): no source knows it and there is
 * nothing to download, so the lock has the digest and no URL.
 */
static int blob_entry(const json_t *dep, const json_t *sel, json_t *unresolved_list, json_t **entry)
{
	const char *id = syn_doc_str(dep, "id", ""), *sha = syn_doc_str(sel, "sha256", NULL);
	const char *fname = syn_doc_str(json_object_get(dep, "expose"), "filename", NULL);

	if (!sha || !syn_name_is_sha256(sha))
		return unresolved(unresolved_list, id, "invalid_selector",
				  json_pack("{s:s}", "message", "a blob selector needs a lowercase SHA-256"));
	*entry = json_pack("{s:s, s:{s:s, s:s, s:O?, s:{s:s, s:s?}, s:{s:[]}, s:{s:b}}}", "dependency_id", id,
			   "artifact", "kind", syn_doc_str(dep, "kind", "unknown"), "sha256", sha,
			   "size_bytes", json_object_get(sel, "size_bytes"), "provider", "name", "local",
			   "filename", fname, "download", "urls", "integrity", "sha256_verified", 1);
	return *entry ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

/*
 * The lock entry of @dep from the first source that claims its selector, in
 * *@entry (NULL when the source records nothing). A base-model hint carries
 * the alias config.json gives its base model; without one no source could
 * know which checkpoint is meant.
 */
static int resolve_dependency(struct syn__sources *c, const json_t *dep, const json_t *aliases, json_t *models,
			      json_t *unresolved_list, json_t **entry)
{
	const json_t *sel = json_object_get(dep, "selector");
	const char *strategy = syn_doc_str(sel, "strategy", ""), *id = syn_doc_str(dep, "id", "");
	const char *start_error;
	json_t *in, *alias = NULL;
	size_t i;
	int rc = 0;

	*entry = NULL;
	if (!strcmp(strategy, SYN__STRATEGY_BLOB))
		return blob_entry(dep, sel, unresolved_list, entry);
	if (!strcmp(strategy, "base_model_hint")) {
		const char *base = syn_doc_str(sel, "base_model", "");

		alias = json_object_get(aliases, base);
		if (!alias)
			return unresolved(unresolved_list, id, "unknown_base_model_alias",
					  json_pack("{s:s}", "base_model", base));
	}
	in = json_pack("{s:O, s:O?}", "dependency", dep, "base_model_alias", alias);
	if (!in)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; i < c->n; i++) {
		struct syn_source *src = syn__sources_get(c, i);

		if (!src || !SYN_VTABLE_HAS(src, 2, resolve))
			continue;
		rc = src->resolve(src, in, models, entry);
		if (rc != SYN_EPASSTHROUGH)
			break;
		syn_error_clear();
	}
	json_decref(in);
	if (rc == SYN_EPASSTHROUGH || i == c->n) {
		start_error = syn__sources_start_error(c);
		return unresolved(unresolved_list, id, "unsupported_strategy",
				  start_error ? json_pack("{s:s, s:s}", "error", start_error, "strategy", strategy)
					      : json_pack("{s:s}", "strategy", strategy));
	}
	if (rc)
		return syn_error_prefix("cannot resolve dependency '%s'", id);
	if (*entry && !json_is_object(*entry)) {
		json_decref(*entry);
		*entry = NULL;
		return syn_error_set(SYN_ECORRUPT, "source '%s' resolved dependency '%s' into something that is not "
				     "a lock entry", syn_registry_source_at(syn_store_registry(c->st), i)->name, id);
	}
	return 0;
}

/* Build the lock of pack @name from its dependencies @deps, asking the sources in @c. */
static int build_lock(struct syn__sources *c, const char *name, const json_t *deps, json_t *models, json_t **out)
{
	json_t *resolved = json_array(), *unresolved_list = json_array(), *aliases = NULL, *dep, *entry;
	char now[48];
	size_t i;
	int rc;

	*out = NULL;
	rc = resolved && unresolved_list ? base_aliases(c->st, &aliases) : syn_error_set(SYN_ENOMEM, "out of memory");
	json_array_foreach(deps, i, dep) {
		if (rc)
			break;
		rc = resolve_dependency(c, dep, aliases, models, unresolved_list, &entry);
		if (rc || !entry)
			continue;
		if (json_array_append_new(json_object_get(entry, "artifact") ? resolved : unresolved_list, entry))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
	syn__install_local_now(now, sizeof(now));
	if (!rc) {
		*out = json_pack("{s:s, s:O, s:s, s:s, s:O}", "pack", name, "resolved", resolved, "resolved_at", now,
				 "schema", SYN_SCHEMA_LOCK, "unresolved", unresolved_list);
		if (!*out)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
	json_decref(resolved);
	json_decref(unresolved_list);
	json_decref(aliases);
	return rc;
}

/* Every image of @versions (newest version first), deduplicated by URL. */
static json_t *preview_candidates(const json_t *versions, size_t max)
{
	json_t *out = json_array(), *v, *img;
	size_t i, j, k;

	json_array_foreach(versions, i, v) {
		json_array_foreach(json_object_get(v, "images"), j, img) {
			const char *url = json_string_value(json_object_get(img, "url"));
			bool dup = false;
			json_t *seen;

			if (!url || json_array_size(out) >= max)
				continue;
			json_array_foreach(out, k, seen)
				dup = dup || !strcmp(syn_doc_str(seen, "url", ""), url);
			if (!dup && json_array_append(out, img)) {
				json_decref(out);
				return NULL;
			}
		}
	}
	return out;
}

/* A safe, unique file name for preview @n taken from @url. */
static int preview_name(struct syn_buf *out, const char *url, size_t n, bool video, const json_t *taken)
{
	const char *q = strpbrk(url, "?#"), *slash;
	size_t len = q ? (size_t)(q - url) : strlen(url), i;
	struct syn_buf base = SYN_BUF_INIT;
	const char *dot;
	json_t *t;
	int rc, k;

	while (len > 0 && url[len - 1] == '/')
		len--;
	slash = memrchr(url, '/', len);
	rc = syn_buf_put(&base, slash ? slash + 1 : url, slash ? len - (size_t)(slash + 1 - url) : len);
	if (!rc && (syn_name_check_file(base.ptr) || strchr(base.ptr, '%'))) {
		syn_error_clear();
		syn_buf_clear(&base);
		rc = syn_buf_printf(&base, "preview_%zu.jpg", n);
	}
	if (!rc && video) {
		dot = strrchr(base.ptr, '.');
		if (dot)
			syn_buf_truncate(&base, (size_t)(dot - base.ptr));
		rc = syn_buf_puts(&base, ".mp4");
	}
	/* two images named alike (different folders on the CDN) must not collapse into one */
	for (k = 1; !rc; k++) {
		bool clash = false;

		syn_buf_clear(out);
		if (k == 1) {
			rc = syn_buf_puts(out, base.ptr);
		} else {
			dot = strrchr(base.ptr, '.');
			rc = dot ? syn_buf_printf(out, "%.*s_%d%s", (int)(dot - base.ptr), base.ptr, k, dot)
				 : syn_buf_printf(out, "%s_%d", base.ptr, k);
		}
		json_array_foreach(taken, i, t)
			clash = clash || !strcmp(json_string_value(t), out->ptr);
		if (!clash)
			break;
	}
	syn_buf_dispose(&base);
	return rc;
}

/* A preview fetched into data/tmp, waiting to be moved into the pack. */
struct staged_preview {
	char *tmp;   /* relative to data/ */
	char *name;  /* file name in resources/previews */
	json_t *meta;
};

struct previews {
	struct staged_preview *items;
	size_t n;
	json_t *infos;    /* PreviewInfo list for pack.json */
	json_t *warnings;
	size_t images, videos;
};

static void previews_free(struct syn_store *st, struct previews *p)
{
	size_t i;
	int fd = syn_store_data_fd(st);

	for (i = 0; i < p->n; i++) {
		if (fd >= 0)
			unlinkat(fd, p->items[i].tmp, 0);
		free(p->items[i].tmp);
		free(p->items[i].name);
		json_decref(p->items[i].meta);
	}
	free(p->items);
	json_decref(p->infos);
	memset(p, 0, sizeof(*p));
}

/* Fetch previews outside the store lock into data/tmp. Failures become warnings. */
static int fetch_previews(struct syn_store *st, struct syn_source *src, const json_t *versions, size_t max,
			  struct previews *p)
{
	json_t *cands = preview_candidates(versions, max), *img, *taken = json_array();
	int dfd = syn_store_data_fd(st), rc = 0;
	size_t i;

	p->infos = json_array();
	if (!cands || !taken || !p->infos) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	if (dfd < 0) {
		rc = dfd;
		goto out;
	}
	p->items = calloc(json_array_size(cands) + 1, sizeof(*p->items));
	if (!p->items) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(cands, i, img) {
		const char *url = syn_doc_str(img, "url", "");
		bool video = !strcmp(syn_doc_str(img, "media_type", "image"), "video");
		struct syn_buf name = SYN_BUF_INIT, body = SYN_BUF_INIT, tmp = SYN_BUF_INIT;
		json_t *meta = json_object_get(img, "meta");

		if (preview_name(&name, url, i, video, taken) ||
		    syn_buf_printf(&tmp, "tmp/" SYN_FS_TMP_PREFIX "preview.%ld.%ld.%zu", (long)getpid(),
				   (long)gettid(), i)) {
			rc = syn_error_code();
			goto next;
		}
		if (!src->fetch || src->fetch(src, url, PREVIEW_MAX_BYTES, &body) ||
		    syn_fs_write_atomic(dfd, tmp.ptr, body.ptr, body.len, 0644)) {
			if (json_array_append_new(p->warnings, json_sprintf("preview %s skipped: %s", name.ptr,
									    syn_error_last())))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
			else
				syn_error_clear();
			goto next;
		}
		if (json_array_append_new(taken, json_string(name.ptr))) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			goto next;
		}
		p->items[p->n].tmp = syn_buf_detach(&tmp);
		p->items[p->n].name = syn_buf_detach(&name);
		p->items[p->n].meta = json_is_object(meta) ? json_incref(meta) : NULL;
		if (json_array_append_new(p->infos, json_pack("{s:O?, s:s, s:O?, s:s, s:O?, s:b, s:n, s:O?, s:s, s:O?}",
			"duration", NULL, "filename", p->items[p->n].name, "has_audio", NULL,
			"media_type", video ? "video" : "image", "meta", json_is_object(meta) ? meta : NULL,
			"nsfw", json_is_true(json_object_get(img, "nsfw")), "thumbnail_url",
			"height", json_object_get(img, "height"), "url", url, "width", json_object_get(img, "width"))))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		p->n++;
		if (video)
			p->videos++;
		else
			p->images++;
next:
		syn_buf_dispose(&name);
		syn_buf_dispose(&body);
		syn_buf_dispose(&tmp);
		if (rc)
			break;
	}
out:
	json_decref(cands);
	json_decref(taken);
	return rc;
}

/* Move staged previews into packs/<name>/resources/previews (under the store lock). */
static int install_previews(struct syn_store *st, const char *name, struct previews *p)
{
	int sfd = syn_store_state_fd(st), dfd = syn_store_data_fd(st), rc = 0;
	struct syn_buf rel = SYN_BUF_INIT, body = SYN_BUF_INIT, meta = SYN_BUF_INIT;
	size_t i;

	for (i = 0; !rc && i < p->n; i++) {
		syn_buf_clear(&rel);
		rc = syn_fs_read(&body, dfd, p->items[i].tmp, PREVIEW_MAX_BYTES);
		if (!rc)
			rc = syn_buf_printf(&rel, "packs/%s/resources/previews/%s", name, p->items[i].name);
		if (!rc)
			rc = syn_fs_write_atomic(sfd, rel.ptr, body.ptr, body.len, 0644);
		if (!rc && p->items[i].meta) {
			rc = syn_buf_puts(&rel, ".json");
			if (!rc)
				rc = syn_doc_dump(&meta, p->items[i].meta);
			if (!rc)
				rc = syn_fs_write_atomic(sfd, rel.ptr, meta.ptr, meta.len, 0644);
		}
	}
	syn_buf_dispose(&rel);
	syn_buf_dispose(&body);
	syn_buf_dispose(&meta);
	return rc;
}

/* Check the versions asked for exist; return the list of versions to import (borrowed items). */
static int pick_versions(const json_t *model, const json_t *ref, const struct syn_import_options *o, json_t **out)
{
	json_t *versions = json_object_get(model, "versions"), *list = json_array();
	json_int_t ref_vid = json_integer_value(json_object_get(ref, "version_id"));
	size_t i;

	*out = NULL;
	if (!list)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (json_array_size(versions) == 0) {
		json_decref(list);
		return syn_error_set(SYN_ENOTFOUND, "model %lld has no published versions",
				     (long long)json_integer_value(json_object_get(model, "model_id")));
	}
	for (i = 0; o && i < o->nversions; i++) {
		json_t *v = syn_pack_find_version(model, o->version_ids[i]);

		if (!v) {
			json_decref(list);
			return syn_error_set(SYN_ENOTFOUND, "model %lld has no version %lld",
					     (long long)json_integer_value(json_object_get(model, "model_id")),
					     (long long)o->version_ids[i]);
		}
		if (json_array_append(list, v)) {
			json_decref(list);
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
	}
	if (json_array_size(list) == 0) {
		json_t *v = ref_vid > 0 ? syn_pack_find_version(model, ref_vid) : json_array_get(versions, 0);

		if (!v) {
			json_decref(list);
			return syn_error_set(SYN_ENOTFOUND, "model %lld has no version %lld",
					     (long long)json_integer_value(json_object_get(model, "model_id")),
					     (long long)ref_vid);
		}
		if (json_array_append(list, v)) {
			json_decref(list);
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
	}
	*out = list;
	return 0;
}

/*
 * The picks of the versions to import: for each the file a pack takes and
 * the dependency id. Refuses hostile file names.
 */
static int pick_files(const json_t *model, const json_t *versions, const struct syn_import_options *o,
		      json_t **picks_out, json_t *warnings)
{
	const char *kind = syn_doc_str(model, "kind", "unknown");
	bool multi = json_array_size(versions) > 1;
	json_t *picks = json_array(), *v;
	size_t i;
	int rc = picks ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");

	*picks_out = NULL;
	json_array_foreach(versions, i, v) {
		json_int_t file_id = o && o->file_ids && i < o->nversions ? o->file_ids[i] : 0;
		json_t *file = syn_pack_choose_file(json_object_get(v, "files"), file_id), *pick;
		struct syn_buf id = SYN_BUF_INIT;
		const char *fname;
		size_t k;

		if (rc)
			break;
		if (!file) {
			if (json_array_append_new(warnings, json_sprintf("version %lld has no files: skipped",
				(long long)json_integer_value(json_object_get(v, "version_id")))))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
			continue;
		}
		fname = syn_doc_str(file, "name", NULL);
		/* a NUL inside the JSON string would hide the rest of the name from the check */
		if (fname && strlen(fname) != json_string_length(json_object_get(file, "name")))
			fname = "\x01embedded NUL";
		if (!fname || syn_name_check_file(fname)) {
			if (!fname)
				syn_error_set(SYN_EINVALID, "file %lld has no name",
					      (long long)json_integer_value(json_object_get(file, "file_id")));
			rc = syn_error_prefix("refusing model %lld version %lld: the source sent an unsafe file name",
				(long long)json_integer_value(json_object_get(model, "model_id")),
				(long long)json_integer_value(json_object_get(v, "version_id")));
			break;
		}
		if (multi) {
			const char *vn = syn_doc_str(v, "name", "");

			rc = syn_buf_printf(&id, "v%lld_", (long long)json_integer_value(json_object_get(v, "version_id")));
			for (k = 0; !rc && vn[k] && k < 30; k++)
				rc = syn_buf_put(&id, isalnum((unsigned char)vn[k]) ? &vn[k] : "_", 1);
			if (!rc)
				rc = syn_buf_printf(&id, "_%s", kind);
		} else {
			rc = syn_buf_printf(&id, "main_%s", kind);
		}
		/* two files of one version (an adopted .ckpt and .safetensors): each its own dependency */
		for (k = 0; !rc && k < json_array_size(picks); k++)
			if (!strcmp(syn_doc_str(json_array_get(picks, k), "id", ""), id.ptr)) {
				rc = syn_buf_printf(&id, "_f%lld",
						    (long long)json_integer_value(json_object_get(file, "file_id")));
				break;
			}
		pick = rc ? NULL : json_pack("{s:s, s:s, s:O, s:O}", "id", id.ptr, "kind", kind, "version", v, "file", file);
		if (!rc && (!pick || json_array_append_new(picks, pick)))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		syn_buf_dispose(&id);
	}
	if (!rc && json_array_size(picks) == 0)
		rc = syn_error_set(SYN_ENOTFOUND, "no version of model %lld has a file to import",
				   (long long)json_integer_value(json_object_get(model, "model_id")));
	if (rc)
		json_decref(picks);
	else
		*picks_out = picks;
	return rc;
}

/*
 * The source's dependencies for @picks, in *@deps_out, and what it adds to
 * model_info in *@info_out. Every file name a UI will see is checked: a
 * required dependency with an unsafe one refuses the import, an optional
 * one (a hint) is left out.
 */
static int source_pack(struct syn_store *st, struct syn_source *src, const char *src_name, const json_t *model,
		       const json_t *picks, json_t **deps_out, json_t **info_out, json_t *warnings)
{
	json_t *aliases = NULL, *in = NULL, *out = NULL, *deps, *dep;
	size_t i;
	int rc;

	*deps_out = NULL;
	*info_out = NULL;
	rc = base_aliases(st, &aliases);
	if (!rc) {
		in = json_pack("{s:O, s:O, s:O}", "model", model, "picks", picks, "base_model_aliases", aliases);
		rc = in ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (!rc && (rc = src->pack(src, in, &out)))
		syn_error_prefix("source '%s' cannot build the pack", src_name);
	deps = json_object_get(out, "dependencies");
	if (!rc && !json_is_array(deps))
		rc = syn_error_set(SYN_ECORRUPT, "source '%s' built a pack without a dependency list", src_name);
	for (i = json_array_size(deps); !rc && i-- > 0;) {
		const char *fname;

		dep = json_array_get(deps, i);
		fname = json_string_value(json_object_get(json_object_get(dep, "expose"), "filename"));
		if (!json_is_object(dep) || !json_string_value(json_object_get(dep, "id"))) {
			rc = syn_error_set(SYN_ECORRUPT, "source '%s' built a dependency without an id", src_name);
		} else if (!fname || syn_name_check_file(fname)) {
			if (!fname)
				syn_error_set(SYN_EINVALID, "no file name");
			if (json_is_true(json_object_get(dep, "required"))) {
				rc = syn_error_prefix("refusing dependency '%s' of source '%s'",
						      json_string_value(json_object_get(dep, "id")), src_name);
			} else {
				if (json_array_append_new(warnings, json_sprintf("dependency %s left out: %s",
					json_string_value(json_object_get(dep, "id")), syn_error_last())))
					rc = syn_error_set(SYN_ENOMEM, "out of memory");
				else
					syn_error_clear();
				json_array_remove(deps, i);
			}
		}
	}
	if (!rc) {
		*deps_out = json_incref(deps);
		*info_out = json_incref(json_object_get(out, "model_info"));
	}
	json_decref(aliases);
	json_decref(in);
	json_decref(out);
	return rc;
}

/* Fill @pack (new or existing: unknown keys and user_tags survive) from the model. */
static int fill_pack(json_t *pack, const char *name, const char *provider, const json_t *model, const json_t *first,
		     const json_t *deps, const json_t *info, const char *ref_url)
{
	json_t *file = syn_pack_choose_file(json_object_get(first, "files"), 0);
	json_t *words = json_object_get(first, "trained_words"), *model_info;
	int oom = 0;

	oom |= json_object_set_new(pack, "schema", json_string(SYN_SCHEMA_PACK));
	oom |= json_object_set_new(pack, "name", json_string(name));
	oom |= json_object_set_new(pack, "pack_type", json_string(syn_doc_str(model, "kind", "unknown")));
	oom |= json_object_set_new(pack, "pack_category", json_string("external"));
	oom |= json_object_set_new(pack, "source", json_pack("{s:O?, s:s, s:s, s:O?}", "model_id",
		json_object_get(model, "model_id"), "provider", provider, "url", ref_url,
		"version_id", json_object_get(first, "version_id")));
	oom |= json_object_set(pack, "dependencies", (json_t *)deps);
	if (!json_is_array(json_object_get(pack, "pack_dependencies")))
		oom |= json_object_set_new(pack, "pack_dependencies", json_array());
	if (!json_is_object(json_object_get(pack, "resources")))
		oom |= json_object_set_new(pack, "resources", json_pack("{s:b, s:b}", "previews_keep_in_git", 1,
								 "workflows_keep_in_git", 1));
	if (!json_is_array(json_object_get(pack, "previews")))
		oom |= json_object_set_new(pack, "previews", json_array());
	if (!json_object_get(pack, "cover_url"))
		oom |= json_object_set_new(pack, "cover_url", json_null());
	oom |= json_object_set_new(pack, "version", member(first, "name"));
	oom |= json_object_set_new(pack, "description", member(model, "description"));
	oom |= json_object_set_new(pack, "base_model", member(first, "base_model"));
	oom |= json_object_set_new(pack, "author", member(model, "author"));
	oom |= json_object_set_new(pack, "tags", json_is_array(json_object_get(model, "tags")) ? member(model, "tags")
											 : json_array());
	if (!json_is_array(json_object_get(pack, "user_tags")))
		oom |= json_object_set_new(pack, "user_tags", json_array());
	oom |= json_object_set_new(pack, "trigger_words", json_is_array(words) ? json_deep_copy(words) : json_array());
	if (!json_object_get(pack, "created_at"))
		oom |= json_object_set_new(pack, "created_at", json_null());
	if (!json_object_get(pack, "parameters"))
		oom |= json_object_set_new(pack, "parameters", json_null());
	if (!json_object_get(pack, "parameters_source"))
		oom |= json_object_set_new(pack, "parameters_source", json_null());
	if (!json_is_array(json_object_get(pack, "workflows")))
		oom |= json_object_set_new(pack, "workflows", json_array());
	model_info = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:n, s:o, s:o, s:n}",
		"base_model", member(first, "base_model"),
		"download_count", member(model, "download_count"), "hash_autov2", member(file, "autov2"),
		"hash_sha256", member(file, "sha256"), "model_type", member(model, "type"),
		"published_at", member(first, "published_at"), "rating", member(model, "rating"),
		"strength_recommended",
		"trained_words", json_is_array(words) ? json_deep_copy(words) : json_array(),
		"trigger_words", json_is_array(words) ? json_deep_copy(words) : json_array(),
		"usage_tips");
	if (model_info && json_is_object(info) && json_object_update(model_info, (json_t *)info)) {
		json_decref(model_info);
		model_info = NULL;
	}
	if (oom) {
		json_decref(model_info);
		model_info = NULL;
	}
	if (!model_info || json_object_set_new(pack, "model_info", model_info))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	return 0;
}

static json_t *dependency_status(struct syn_store *st, const json_t *pack, const json_t *lock, bool *all_installed);

/*
 * Import @model (normalized, fetched by source @index of @chain for the
 * normalized reference @norm) as a pack: the part of syn_pack_import()
 * after the metadata is in hand.
 */
static int import_model(struct syn_store *st, struct syn__sources *chain, size_t index, const json_t *norm,
			const json_t *model, const char *ref, const struct syn_import_options *o, json_t **report)
{
	struct syn_source *src = syn__sources_get(chain, index);
	const char *provider = syn_registry_source_at(syn_store_registry(st), index)->name;
	json_t *versions = NULL, *picks = NULL, *deps = NULL, *info = NULL;
	json_t *pack = NULL, *lock = NULL, *existing = NULL, *models = NULL, *warnings = json_array();
	struct previews previews = { 0 };
	struct syn_buf name = SYN_BUF_INIT;
	bool updated = false, locked = false;
	int rc = 0;

	*report = NULL;
	previews.warnings = warnings;
	if (!src)
		rc = syn_error_set(SYN_EUNSUPPORTED, "%s", syn__sources_start_error(chain));
	else if (!SYN_VTABLE_HAS(src, 2, pack) || !SYN_VTABLE_HAS(src, 2, resolve))
		/* what a pack says about its files only the source that wrote it can resolve */
		rc = syn_error_set(SYN_EUNSUPPORTED, "source '%s' understands '%s' but cannot build packs: it "
				   "was built for an older Synapse (source version %u); update the plugin",
				   provider, ref, src->version);
	if (!rc && !warnings)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		rc = pick_versions(model, norm, o, &versions);
	if (!rc)
		rc = o && o->name ? syn_buf_puts(&name, o->name)
				  : syn_pack_sanitize_name(&name, syn_doc_str(model, "name", NULL));
	if (!rc && !(o && o->name) && !json_string_value(json_object_get(model, "name"))) {
		syn_buf_clear(&name);
		rc = syn_buf_printf(&name, "model_%lld", (long long)json_integer_value(json_object_get(model, "model_id")));
	}
	if (!rc)
		rc = syn_name_check_pack(name.ptr);
	if (!rc)
		rc = pick_files(model, versions, o, &picks, warnings);
	if (!rc)
		rc = source_pack(st, src, provider, model, picks, &deps, &info, warnings);
	/* the model just fetched serves the lock: resolving its own files costs no request */
	if (!rc) {
		models = json_pack("[O]", model);
		rc = models ? build_lock(chain, name.ptr, deps, models, &lock) : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (!rc && !(o && o->no_previews))
		rc = fetch_previews(st, src, json_object_get(model, "versions"),
				    o && o->max_previews ? o->max_previews : 100, &previews);
	if (rc)
		goto out;

	rc = syn_store_lock(st, "import");
	if (rc)
		goto out;
	locked = true;
	rc = syn__docs_pack_read(st, name.ptr, "pack.json", &existing);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		existing = json_object();
		rc = 0;
	} else if (!rc) {
		json_t *src_doc = json_object_get(existing, "source");

		if (json_integer_value(json_object_get(src_doc, "model_id")) !=
			    json_integer_value(json_object_get(model, "model_id")) ||
		    strcmp(syn_doc_str(src_doc, "provider", ""), provider)) {
			rc = syn_error_set(SYN_EEXISTS, "pack '%s' already exists for another model (%s %lld); "
				"use --name to import this one under another name", name.ptr,
				syn_doc_str(src_doc, "provider", "?"),
				(long long)json_integer_value(json_object_get(src_doc, "model_id")));
			goto out;
		}
		updated = true;
	}
	if (rc)
		goto out;
	pack = existing;
	existing = NULL;
	rc = fill_pack(pack, name.ptr, provider, model, json_array_get(versions, 0), deps, info,
		       syn_doc_str(norm, "url", ref));
	if (!rc && previews.n && json_object_set(pack, "previews", previews.infos))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		rc = syn__docs_pack_write_both(st, name.ptr, pack, lock);
	if (!rc)
		rc = install_previews(st, name.ptr, &previews);
	if (!rc && !(o && o->no_add_global))
		rc = syn__docs_global_edit(st, name.ptr, true, NULL);
	/* the commit is made while the views change: they ask for its generation last */
	if (!rc)
		rc = syn__install_commit_start(st, "import", name.ptr, SYN__CHANGED_PACK | SYN__CHANGED_GLOBAL);
	if (!rc)
		rc = syn__views_refresh(st, false, (const char *const *)&name.ptr, 1, warnings);
	rc = syn__state_commit_finish(st, rc);
	if (!rc) {
		/* a re-import of a pack whose files are all here needs no install next */
		bool installed = false;
		json_t *deps_status = dependency_status(st, pack, lock, &installed);

		*report = deps_status ? json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:b, s:O}", "pack_name", name.ptr,
			"pack_type", syn_doc_str(pack, "pack_type", "unknown"),
			"dependencies_count", (json_int_t)json_array_size(json_object_get(pack, "dependencies")),
			"previews_downloaded", (json_int_t)previews.images, "videos_downloaded",
			(json_int_t)previews.videos, "updated", updated, "installed", installed, "warnings", warnings)
				      : NULL;
		json_decref(deps_status);
	}
	if (!rc && !*report)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
out:
	if (locked)
		syn_store_unlock(st);
	previews_free(st, &previews);
	json_decref(versions);
	json_decref(picks);
	json_decref(deps);
	json_decref(info);
	json_decref(models);
	json_decref(pack);
	json_decref(lock);
	json_decref(existing);
	json_decref(warnings);
	syn_buf_dispose(&name);
	return rc;
}

int syn_pack_import(struct syn_store *st, const char *ref, const struct syn_import_options *o, json_t **report)
{
	struct syn__sources chain = { 0 };
	struct syn_source *src;
	json_t *norm = NULL, *model = NULL;
	size_t index = 0;
	int rc;

	*report = NULL;
	rc = syn_store_require_init(st);
	if (!rc)
		rc = syn__sources_init(&chain, st);
	if (!rc)
		rc = source_for_ref(&chain, ref, &index, &norm);
	if (!rc)
		syn_state_prepare(st); /* while the source answers */
	if (!rc) {
		src = chain.src[index];
		rc = src->metadata ? src->metadata(src, norm, &model)
				   : syn_error_set(SYN_EUNSUPPORTED, "the source cannot fetch metadata");
	}
	if (!rc)
		rc = import_model(st, &chain, index, norm, model, ref, o, report);
	syn__sources_dispose(&chain);
	json_decref(norm);
	json_decref(model);
	return rc;
}

int syn__pack_build_lock(struct syn_store *st, const char *name, const json_t *deps, json_t **out)
{
	struct syn__sources chain = { 0 };
	json_t *models = json_array();
	int rc = models ? syn__sources_init(&chain, st) : syn_error_set(SYN_ENOMEM, "out of memory");

	*out = NULL;
	if (!rc)
		rc = build_lock(&chain, name, deps, models, out);
	syn__sources_dispose(&chain);
	json_decref(models);
	return rc;
}

int syn__pack_import_model(struct syn_store *st, struct syn__sources *chain, size_t index, const json_t *model,
			   const struct syn_import_options *o, json_t **report)
{
	json_t *norm = json_pack("{s:s, s:O?, s:n, s:O?}", "source",
				 syn_registry_source_at(syn_store_registry(st), index)->name, "model_id",
				 json_object_get(model, "model_id"), "version_id", "url", json_object_get(model, "url"));
	int rc;

	*report = NULL;
	if (!norm)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	rc = import_model(st, chain, index, norm, model, syn_doc_str(model, "url", "the model"), o, report);
	json_decref(norm);
	return rc;
}

/* ---- resolve ------------------------------------------------------------- */

int syn_pack_resolve(struct syn_store *st, const char *name, json_t **out)
{
	struct syn__sources chain = { 0 };
	json_t *pack = NULL, *models = json_array(), *lock = NULL;
	bool exists = false;
	int rc;

	*out = NULL;
	rc = models ? syn__docs_pack_load(st, name, &pack) : syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		rc = syn__sources_init(&chain, st);
	if (!rc)
		syn_state_prepare(st);
	/* the sources fetch outside the store lock */
	if (!rc)
		rc = build_lock(&chain, name, json_object_get(pack, "dependencies"), models, &lock);
	if (rc)
		goto out;
	rc = syn_store_lock(st, "resolve");
	if (rc)
		goto out;
	/* the sources were asked outside the lock: the pack may have been deleted meanwhile */
	rc = syn__docs_pack_exists(st, name, &exists);
	if (!rc && !exists)
		rc = syn_error_set(SYN_ENOTFOUND, "pack '%s' was deleted while it was being resolved", name);
	if (!rc)
		rc = syn__docs_pack_write(st, name, "lock.json", lock);
	if (!rc)
		rc = syn__install_commit(st, "resolve", name, SYN__CHANGED_LOCK);
	if (!rc)
		rc = syn__views_refresh(st, false, &name, 1, NULL);
	syn_store_unlock(st);
	if (!rc)
		*out = json_incref(lock);
out:
	syn__sources_dispose(&chain);
	json_decref(pack);
	json_decref(models);
	json_decref(lock);
	return rc;
}

/* ---- install ------------------------------------------------------------- */

int syn_pack_rate_limit(struct syn_store *st, int64_t rate)
{
	if (rate < 0) {
		syn__install_rate_clear(st);
		return 0;
	}
	return syn__install_rate_set(st, (uint64_t)rate);
}

int syn_pack_install(struct syn_store *st, const char *name, unsigned int jobs, syn_install_progress_cb progress,
		     void *payload, json_t **report)
{
	return syn__install_pack(st, name, jobs, progress, payload, report);
}

/* ---- delete -------------------------------------------------------------- */

int syn_pack_delete(struct syn_store *st, const char *name, bool force, json_t **report)
{
	struct syn_buf work = SYN_BUF_INIT, rel = SYN_BUF_INIT;
	json_t *pack = NULL, *warnings = json_array(), *config = NULL, *known;
	bool from_stacks = false, from_global = false, work_profile = false, has_work;
	int sfd, dfd, rc;
	size_t i;

	*report = NULL;
	rc = syn__docs_pack_load(st, name, &pack);
	if (rc)
		goto out_free;
	rc = syn_store_lock(st, "delete");
	if (rc)
		goto out_free;
	syn_state_prepare(st);
	/* read again under the lock: another process may have deleted it */
	json_decref(pack);
	rc = syn__docs_pack_load(st, name, &pack);
	if (!rc)
		rc = syn_buf_printf(&work, "work__%s", name);
	if (!rc)
		rc = syn__runtime_drop(st, work.ptr, force, &from_stacks, warnings);
	if (!rc)
		rc = syn__docs_global_edit(st, name, false, &from_global);
	sfd = syn_store_state_fd(st);
	dfd = syn_store_data_fd(st);
	/* a pack whose name is near the length limit can have no work profile */
	has_work = !rc && syn_name_check_profile(work.ptr) == 0;
	if (!rc)
		syn_error_clear();
	if (has_work) {
		rc = syn_buf_printf(&rel, "profiles/%s", work.ptr);
		work_profile = !rc && syn_fs_exists(sfd, rel.ptr);
		if (!rc)
			rc = syn_fs_remove_tree_aside(sfd, rel.ptr);
	}
	/* the work profile's views of every UI go too: nothing may point at them any more */
	if (has_work && !rc)
		rc = syn_store_config(st, &config);
	known = json_object_get(json_object_get(config, "ui"), "known");
	for (i = 0; has_work && !rc && i < json_array_size(known); i++) {
		const char *ui = json_string_value(json_array_get(known, i));

		if (!ui || syn_name_check_ident("UI name", ui)) {
			syn_error_clear();
			continue;
		}
		syn_buf_clear(&rel);
		rc = syn_buf_printf(&rel, "views/%s/profiles/%s", ui, work.ptr);
		if (!rc && dfd >= 0)
			rc = syn_fs_remove_tree(dfd, rel.ptr);
	}
	if (!rc)
		rc = syn__docs_pack_remove(st, name);
	if (!rc)
		syn__digest_forget(st, name);
	if (!rc)
		rc = syn__install_commit_start(st, "delete", name,
					       SYN__CHANGED_PACK | SYN__CHANGED_GLOBAL | SYN__CHANGED_WORK);
	if (!rc)
		rc = syn__views_refresh(st, false, &name, 1, warnings);
	rc = syn__state_commit_finish(st, rc);
	syn_store_unlock(st);
	if (!rc)
		*report = json_pack("{s:s, s:{s:b, s:b, s:b}, s:O}", "deleted", name, "cleanup", "removed_from_global",
				    from_global, "removed_work_profile", work_profile, "removed_from_stacks", from_stacks,
				    "warnings", warnings);
out_free:
	json_decref(pack);
	json_decref(warnings);
	json_decref(config);
	syn_buf_dispose(&work);
	syn_buf_dispose(&rel);
	return rc;
}

/* ---- list, show, search -------------------------------------------------- */

/* Each dependency of @pack with its status; *@all_installed when every required one's blob is here. NULL: no memory. */
static json_t *dependency_status(struct syn_store *st, const json_t *pack, const json_t *lock, bool *all_installed)
{
	json_t *out = json_array(), *dep, *e;
	size_t i, k;

	*all_installed = lock != NULL;
	json_array_foreach(json_object_get(pack, "dependencies"), i, dep) {
		const char *id = syn_doc_str(dep, "id", "");
		const char *status = lock ? "unresolved" : "unlocked", *sha = NULL;
		json_t *size = NULL;

		json_array_foreach(json_object_get(lock, "resolved"), k, e) {
			json_t *art = json_object_get(e, "artifact");

			if (strcmp(syn_doc_str(e, "dependency_id", ""), id))
				continue;
			sha = json_string_value(json_object_get(art, "sha256"));
			size = json_object_get(art, "size_bytes");
			status = sha && *sha && syn_blob_exists(st, sha) ? "installed" : "missing";
		}
		if (strcmp(status, "installed") && json_is_true(json_object_get(dep, "required")))
			*all_installed = false;
		if (out && json_array_append_new(out, json_pack("{s:s, s:s, s:O?, s:b, s:s, s:s?, s:O?}", "id", id,
			"kind", syn_doc_str(dep, "kind", "unknown"),
			"filename", json_object_get(json_object_get(dep, "expose"), "filename"),
			"required", json_is_true(json_object_get(dep, "required")), "status", status,
			"sha256", sha && *sha ? sha : NULL, "size_bytes", size))) {
			json_decref(out);
			out = NULL;
		}
	}
	return out;
}

/* What list says of one pack: borrowed from its name and its digest, valid while the store is held. */
struct list_row {
	const char *name;
	const char *type;
	const char *error; /* NULL, or why its documents cannot be read (then type and counts are unknown) */
	size_t ndeps;
	bool installed;
};

/* The row of pack @name from its digest @d; false for a folder without a pack.json, which is no pack. */
static bool list_row(struct syn_store *st, const char *name, const struct syn__pack_digest *d, struct list_row *row)
{
	size_t k;

	if (d->pack_rc == SYN_ENOTFOUND)
		return false;
	/* one broken pack must not hide the others */
	row->name = name;
	row->error = d->pack_error ? d->pack_error : d->lock_error;
	row->type = row->error ? "unknown" : d->pack_type;
	row->ndeps = d->ndeps;
	row->installed = !row->error && d->has_lock;
	for (k = 0; row->installed && k < d->nrequired; k++)
		row->installed = d->required[k].sha256[0] && syn_blob_exists(st, d->required[k].sha256);
	return true;
}

/* Write @row as list's item (its keys in byte order). */
static void emit_list_row(struct syn_emit *out, const struct list_row *row)
{
	syn_emit_object(out);
	syn_emit_key(out, "dependencies_count");
	if (row->error)
		syn_emit_null(out);
	else
		syn_emit_integer(out, (json_int_t)row->ndeps);
	if (row->error) {
		syn_emit_key(out, "error");
		syn_emit_string(out, row->error);
	}
	syn_emit_key(out, "installed");
	syn_emit_bool(out, row->installed);
	syn_emit_key(out, "name");
	syn_emit_string(out, row->name);
	syn_emit_key(out, "pack_type");
	syn_emit_string(out, row->type);
	syn_emit_end(out);
}

int syn_pack_list_emit(struct syn_store *st, struct syn_emit *out)
{
	json_t *names = NULL;
	struct list_row *rows = NULL;
	size_t i, n = 0;
	int rc;

	rc = syn_store_require_init(st);
	if (!rc)
		rc = syn__docs_pack_names(st, &names);
	if (!rc && !(rows = malloc((json_array_size(names) + 1) * sizeof(*rows))))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	syn__store_hold(st);
	if (!rc)
		syn__digest_prefetch(st, names);
	for (i = 0; !rc && i < json_array_size(names); i++) {
		const char *name = json_string_value(json_array_get(names, i));
		const struct syn__pack_digest *d = NULL;

		if (!(rc = syn__digest_get(st, name, &d)) && list_row(st, name, d, &rows[n]))
			n++;
	}
	/* everything that can fail but writing is done: the list goes out as it is made */
	if (!rc) {
		syn_emit_object(out);
		syn_emit_key(out, "packs");
		syn_emit_array(out);
		for (i = 0; i < n; i++)
			emit_list_row(out, &rows[i]);
		syn_emit_end(out);
		rc = syn_emit_end(out);
	}
	syn__store_release(st);
	if (!rc)
		syn__digest_flush(st);
	free(rows);
	json_decref(names);
	return rc;
}

static int emit_list(struct syn_emit *e, void *st)
{
	return syn_pack_list_emit(st, e);
}

int syn_pack_list(struct syn_store *st, json_t **out)
{
	return syn_emit_tree(out, emit_list, st);
}

int syn_pack_show(struct syn_store *st, const char *name, json_t **out)
{
	json_t *pack = NULL, *lock = NULL;
	bool installed;
	int rc;

	*out = NULL;
	rc = syn__docs_pack_load(st, name, &pack);
	if (!rc)
		rc = syn__docs_lock_load(st, name, &lock);
	if (!rc)
		*out = json_pack("{s:O, s:O?, s:o}", "pack", pack, "lock", lock, "dependencies",
				 dependency_status(st, pack, lock, &installed));
	if (!rc && !*out)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	json_decref(pack);
	json_decref(lock);
	return rc;
}

/* ASCII case folding: locale-independent, like the tools that read these names */
static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle), i;

	if (!hay)
		return false;
	for (; *hay; hay++) {
		for (i = 0; i < n && hay[i] && fold(hay[i]) == fold(needle[i]); i++)
			;
		if (i == n)
			return true;
	}
	return n == 0;
}

static bool any_contains(const json_t *arr, const char *key, const char *needle)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (icontains(key ? syn_doc_str(v, key, NULL) : json_string_value(v), needle))
			return true;
	return false;
}

int syn_pack_search(struct syn_store *st, const char *query, json_t **out)
{
	json_t *names = NULL, *items = json_array(), *v;
	struct syn_buf q = SYN_BUF_INIT;
	size_t i;
	int rc;

	*out = NULL;
	rc = syn_store_require_init(st);
	if (!rc)
		rc = syn_buf_puts(&q, query ? query : "");
	/* trimmed, as the original */
	while (!rc && q.len && isspace((unsigned char)q.ptr[q.len - 1]))
		syn_buf_truncate(&q, q.len - 1);
	while (!rc && q.len && isspace((unsigned char)q.ptr[0])) {
		memmove(q.ptr, q.ptr + 1, q.len);
		q.len--;
	}
	if (!rc)
		rc = syn__docs_pack_names(st, &names);
	json_array_foreach(names, i, v) {
		json_t *pack = NULL, *matched = json_array(), *src;
		int oom = !matched;

		if (rc) {
			json_decref(matched);
			break;
		}
		if (syn__docs_pack_load(st, json_string_value(v), &pack)) {
			if (syn_error_code() == SYN_ENOMEM)
				rc = SYN_ENOMEM;
			else
				syn_error_clear();
			json_decref(matched);
			continue;
		}
		if (icontains(json_string_value(v), q.ptr))
			oom |= json_array_append_new(matched, json_string("name"));
		if (any_contains(json_object_get(pack, "tags"), NULL, q.ptr) ||
		    any_contains(json_object_get(pack, "user_tags"), NULL, q.ptr))
			oom |= json_array_append_new(matched, json_string("tags"));
		if (any_contains(json_object_get(pack, "trigger_words"), NULL, q.ptr))
			oom |= json_array_append_new(matched, json_string("trigger_words"));
		if (icontains(syn_doc_str(pack, "base_model", NULL), q.ptr))
			oom |= json_array_append_new(matched, json_string("base_model"));
		if (any_contains(json_object_get(pack, "dependencies"), "id", q.ptr))
			oom |= json_array_append_new(matched, json_string("dependencies"));
		src = json_object_get(pack, "source");
		if (!oom && json_array_size(matched))
			oom |= json_array_append_new(items, json_pack("{s:O, s:s, s:s, s:O?, s:O?, s:O}", "pack_name", v,
				"pack_type", syn_doc_str(pack, "pack_type", "unknown"), "provider",
				syn_doc_str(src, "provider", "unknown"), "source_model_id", json_object_get(src, "model_id"),
				"source_url", json_object_get(src, "url"), "matched", matched));
		if (oom)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		json_decref(matched);
		json_decref(pack);
	}
	if (!rc && !(*out = json_pack("{s:s, s:b, s:O}", "query", query ? query : "", "used_db", 0, "items", items)))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	json_decref(items);
	json_decref(names);
	syn_buf_dispose(&q);
	return rc;
}
