/*
 * Updates of Civitai dependencies: the models that many dependencies follow,
 * fetched in as few requests as Civitai allows (prefetch), and whether a
 * dependency following its model's newest version has a newer file (check).
 *
 * Civitai lists up to 100 models by id in one answer, but leaves some out
 * of lists (models it only serves one by one), so those are asked for
 * alone. A model that cannot be fetched is recorded in the models array
 * with its error, so that every dependency on it reports the one failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civitai.h"

/* The most ids Civitai answers for in one list request. */
#define BATCH_MAX 100

static const char *str(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : def;
}

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* Whether @sel is a selector of this source that follows a Civitai model. */
static bool is_ours(const json_t *sel)
{
	const char *s = str(sel, "strategy", "");

	return !strcmp(s, "civitai_model_latest") || !strcmp(s, "civitai_file");
}

/* The Civitai model a dependency's selector names, 0 when none. */
static json_int_t model_id_of(const json_t *dep)
{
	const json_t *civ = json_object_get(json_object_get(dep, "selector"), "civitai");
	json_int_t id = json_integer_value(json_object_get(civ, "model_id"));

	return id > 0 ? id : 0;
}

static bool in_models(const json_t *models, json_int_t id)
{
	const json_t *m;
	size_t i;

	json_array_foreach(models, i, m)
		if (civ_is_model(m, id))
			return true;
	return false;
}

/* Append the record of a model that cannot be fetched (see prefetch()). */
static int placeholder(json_t *models, json_int_t id, int code, const char *message)
{
	json_t *p;

	if (!message || !*message)
		message = "cannot get the model from Civitai: try again later";
	p = json_pack("{s:s, s:I, s:s, s:i}", "source", "civitai", "model_id", id, "error", message, "code", code);
	if (!p || json_array_append_new(models, p))
		return oom();
	return 0;
}

/* After fetching model @id failed with @rc: record it and clear the error, unless memory ran out. */
static int record_failure(json_t *models, json_int_t id, int rc)
{
	if (rc == SYN_ENOMEM)
		return rc;
	rc = placeholder(models, id, rc, syn_error_last());
	if (!rc)
		syn_error_clear();
	return rc;
}

/* ---- prefetch ------------------------------------------------------------- */

struct ids {
	json_int_t *v;
	size_t n, cap;
};

static bool ids_have(const struct ids *ids, json_int_t id)
{
	size_t i;

	for (i = 0; i < ids->n; i++)
		if (ids->v[i] == id)
			return true;
	return false;
}

static int ids_add(struct ids *ids, json_int_t id)
{
	json_int_t *v;
	size_t cap;

	if (ids->n == ids->cap) {
		cap = ids->cap ? ids->cap * 2 : 64;
		v = cap > ids->cap ? reallocarray(ids->v, cap, sizeof(*v)) : NULL;
		if (!v)
			return oom();
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = id;
	return 0;
}

/* Model @id on its own (GET /models/<id>), or its failure recorded. */
static int fetch_one(struct syn_source *src, json_int_t id, json_t *models)
{
	json_t *ref = json_pack("{s:s, s:I, s:n}", "source", "civitai", "model_id", id, "version_id"), *m = NULL;
	int rc;

	if (!ref)
		return oom();
	rc = civ_metadata(src, ref, &m);
	json_decref(ref);
	if (rc)
		return record_failure(models, id, rc);
	if (json_array_append_new(models, m))
		return oom();
	return 0;
}

/* "models 1, 2, 3 and 97 more": what a batch is called in messages. */
static int batch_subject(struct syn_buf *b, const json_int_t *ids, size_t n)
{
	size_t i, shown = n < 3 ? n : 3;
	int rc = syn_buf_puts(b, n == 1 ? "model" : "models");

	for (i = 0; !rc && i < shown; i++)
		rc = syn_buf_printf(b, "%s %lld", i ? "," : "", (long long)ids[i]);
	if (!rc && n > shown)
		rc = syn_buf_printf(b, " and %zu more", n - shown);
	return rc ? oom() : 0;
}

/*
 * Models @ids[0..@n) with one list request. A request that fails (after
 * http.c's retries) fails the same way for each model alone, so each gets
 * the batch's failure; models missing from a good answer are asked alone.
 */
static int fetch_batch(struct syn_source *src, const json_int_t *ids, size_t n, json_t *models)
{
	struct civ_source *cs = CIV(src);
	struct syn_buf url = SYN_BUF_INIT, subject = SYN_BUF_INIT;
	const json_t *items, *item;
	json_t *doc = NULL, *nm;
	bool *got = calloc(n, sizeof(*got));
	const char *msg;
	size_t i, k;
	int rc = got ? 0 : oom(), code;

	if (!rc && syn_buf_printf(&url, "%s/models?ids=", cs->api))
		rc = oom();
	for (i = 0; !rc && i < n; i++)
		if (syn_buf_printf(&url, "%s%lld", i ? "," : "", (long long)ids[i]))
			rc = oom();
	if (!rc && syn_buf_printf(&url, "&limit=%d", BATCH_MAX))
		rc = oom();
	if (!rc)
		rc = batch_subject(&subject, ids, n);
	if (rc)
		goto out;
	rc = civ_scrub(cs, civ_http_get_json(cs, url.ptr, subject.ptr, &doc));
	items = json_object_get(doc, "items");
	if (!rc && !json_is_array(items))
		rc = syn_error_set(SYN_ECORRUPT, "unexpected response from Civitai for %s: it holds no list of items: "
				   "try again later", subject.ptr);
	if (rc == SYN_ENOMEM)
		goto out;
	if (rc) {
		code = rc;
		msg = syn_error_last();
		for (i = 0, rc = 0; !rc && i < n; i++)
			rc = placeholder(models, ids[i], code, msg);
		if (!rc)
			syn_error_clear();
		goto out;
	}
	json_array_foreach(items, k, item) {
		json_int_t id = json_integer_value(json_object_get(item, "id"));

		for (i = 0; i < n && (ids[i] != id || got[i]); i++)
			;
		if (i == n)
			continue; /* not asked for, or twice */
		got[i] = true;
		rc = civ_normalize_model(cs, item, (long long)id, &nm);
		if (rc)
			rc = record_failure(models, id, rc);
		else if (json_array_append_new(models, nm))
			rc = oom();
		if (rc)
			goto out;
	}
	for (i = 0; !rc && i < n; i++)
		if (!got[i])
			rc = fetch_one(src, ids[i], models);
out:
	free(got);
	json_decref(doc);
	syn_buf_dispose(&url);
	syn_buf_dispose(&subject);
	return rc;
}

int civ_prefetch(struct syn_source *src, const json_t *deps, json_t *models)
{
	struct ids ids = { NULL, 0, 0 };
	const json_t *dep;
	json_int_t id;
	size_t i;
	int rc = 0;

	if (!json_is_array(models))
		return syn_error_set(SYN_EINVALID, "prefetch needs an array to add the models to");
	json_array_foreach(deps, i, dep) {
		if (!is_ours(json_object_get(dep, "selector")))
			continue;
		id = model_id_of(dep);
		if (!id || ids_have(&ids, id) || in_models(models, id))
			continue;
		if ((rc = ids_add(&ids, id)))
			goto out;
	}
	for (i = 0; !rc && i < ids.n; i += BATCH_MAX)
		rc = fetch_batch(src, ids.v + i, ids.n - i < BATCH_MAX ? ids.n - i : BATCH_MAX, models);
out:
	free(ids.v);
	return rc;
}
