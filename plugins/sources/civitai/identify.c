/*
 * Identifying files by their SHA-256: POST /model-versions/by-hash takes up
 * to 100 full digests and answers with the model version of each one it
 * knows (unknown digests are dropped silently). The models of the versions
 * found are then fetched as prefetch() fetches them, in lists of up to 100,
 * so a pack can be made of each without another request.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civitai.h"

/* The most digests Civitai answers for in one by-hash request. */
#define HASH_BATCH 100

/* @s (a digest as Civitai writes it, upper case) in lower case in @out; false when it is no SHA-256. */
static bool lower_sha(const char *s, char out[65])
{
	size_t i;

	if (!s || strlen(s) != 64)
		return false;
	for (i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[64] = '\0';
	return true;
}

/* Record in @found each file of version document @v whose digest is one of @asked. */
static int note_version(const json_t *v, const json_t *asked, json_t *found, json_t *model_ids)
{
	json_int_t vid = json_integer_value(json_object_get(v, "id"));
	json_int_t mid = json_integer_value(json_object_get(v, "modelId"));
	const json_t *f, *h;
	size_t i, k;
	int rc = 0;

	if (vid <= 0 || mid <= 0)
		return 0;
	json_array_foreach(json_object_get(v, "files"), i, f) {
		char sha[65];
		bool wanted = false;

		if (!lower_sha(civ_str(json_object_get(f, "hashes"), "SHA256", NULL), sha))
			continue;
		json_array_foreach(asked, k, h)
			if (!strcmp(json_string_value(h), sha))
				wanted = true;
		if (!wanted || json_object_get(found, sha))
			continue;
		if (json_object_set_new(found, sha, json_pack("{s:I, s:I, s:I}", "model_id", mid, "version_id", vid,
							     "file_id", json_integer_value(json_object_get(f, "id")))))
			return civ_oom();
		json_array_foreach(model_ids, k, h)
			if (json_integer_value(h) == mid)
				break;
		if (k == json_array_size(model_ids) && json_array_append_new(model_ids, json_integer(mid)))
			rc = civ_oom();
	}
	return rc;
}

/* One by-hash request for @batch, its answers noted in @found. */
static int ask_batch(struct civ_source *cs, const json_t *batch, json_t *found, json_t *model_ids)
{
	struct syn_buf url = SYN_BUF_INIT, subject = SYN_BUF_INIT;
	json_t *answer = NULL, *v;
	size_t i;
	int rc;

	if ((rc = syn_buf_printf(&url, "%s/model-versions/by-hash", cs->api)) ||
	    (rc = syn_buf_printf(&subject, "%zu file digest%s", json_array_size(batch),
				 json_array_size(batch) == 1 ? "" : "s")))
		goto out;
	rc = civ_http_post_json(cs, url.ptr, batch, subject.ptr, &answer);
	if (rc)
		goto out;
	if (!json_is_array(answer)) {
		rc = syn_error_set(SYN_ECORRUPT, "unexpected response from Civitai for %s: not a list of model "
				   "versions: try again later", subject.ptr);
		goto out;
	}
	json_array_foreach(answer, i, v)
		if (json_is_object(v) && (rc = note_version(v, batch, found, model_ids)))
			break;
out:
	json_decref(answer);
	syn_buf_dispose(&url);
	syn_buf_dispose(&subject);
	return rc;
}

/* The entry of @models that is Civitai's model @id and was fetched (no error record), or NULL. */
static const json_t *model_in(const json_t *models, json_int_t id)
{
	const json_t *m;
	size_t i;

	json_array_foreach(models, i, m)
		if (civ_is_model(m, id) && !json_object_get(m, "error"))
			return m;
	return NULL;
}

/*
 * Make sure @models holds each model of @model_ids with every version
 * @found names: the lists prefetch() asks for, then a version the listing
 * leaves out (older, unlisted) on its own. Digests whose model or version
 * cannot be had are dropped from @found.
 */
static int fetch_models(struct syn_source *src, const json_t *model_ids, json_t *models, json_t *found)
{
	json_t *deps = json_array(), *id, *hit;
	const char *sha;
	void *tmp;
	size_t i;
	int rc = deps ? 0 : civ_oom();

	json_array_foreach(model_ids, i, id) {
		if (rc)
			break;
		if (json_array_append_new(deps, json_pack("{s:{s:s, s:{s:O}}}", "selector", "strategy", "civitai_file",
							  "civitai", "model_id", id)))
			rc = civ_oom();
	}
	if (!rc)
		rc = civ_prefetch(src, deps, models);
	json_decref(deps);
	json_object_foreach_safe(found, tmp, sha, hit) {
		json_int_t mid = json_integer_value(json_object_get(hit, "model_id"));
		json_int_t vid = json_integer_value(json_object_get(hit, "version_id"));
		const json_t *m;
		json_t *ref, *full = NULL;

		if (rc)
			break;
		m = model_in(models, mid);
		if (m && syn_pack_find_version(m, vid))
			continue;
		/* a version the model's listing leaves out: the model with that version, asked alone */
		ref = json_pack("{s:s, s:I, s:I}", "source", "civitai", "model_id", mid, "version_id", vid);
		if (!ref)
			return civ_oom();
		rc = civ_metadata(src, ref, &full);
		json_decref(ref);
		if (rc == SYN_ENOMEM)
			break;
		if (rc) {
			/* what cannot be fetched is not recognised: the file stays the user's own */
			syn_error_clear();
			rc = 0;
			json_object_del(found, sha);
			continue;
		}
		for (i = 0; i < json_array_size(models); i++)
			if (civ_is_model(json_array_get(models, i), mid))
				break;
		if (i < json_array_size(models) ? json_array_set_new(models, i, full) : json_array_append_new(models, full))
			rc = civ_oom();
	}
	return rc;
}

int civ_identify(struct syn_source *src, const json_t *hashes, json_t *models, json_t **out)
{
	struct civ_source *cs = CIV(src);
	json_t *found = json_object(), *model_ids = json_array(), *batch = NULL;
	size_t i, n = json_array_size(hashes);
	int rc = found && model_ids ? 0 : civ_oom();

	*out = NULL;
	for (i = 0; !rc && i < n; i += HASH_BATCH) {
		size_t k;

		batch = json_array();
		if (!batch) {
			rc = civ_oom();
			break;
		}
		for (k = i; !rc && k < n && k < i + HASH_BATCH; k++) {
			char sha[65];

			if (!lower_sha(json_string_value(json_array_get(hashes, k)), sha))
				continue;
			if (json_array_append_new(batch, json_string(sha)))
				rc = civ_oom();
		}
		if (!rc && json_array_size(batch))
			rc = ask_batch(cs, batch, found, model_ids);
		json_decref(batch);
		batch = NULL;
	}
	if (!rc)
		rc = fetch_models(src, model_ids, models, found);
	if (!rc) {
		*out = found;
		found = NULL;
	}
	json_decref(found);
	json_decref(model_ids);
	return civ_scrub(cs, rc);
}
