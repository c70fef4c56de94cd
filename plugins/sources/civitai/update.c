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
#include <strings.h>

#include "civitai.h"

/* The most ids Civitai answers for in one list request. */
#define BATCH_MAX 100

static const char *str(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : def;
}

static json_t *member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v ? json_deep_copy(v) : json_null();
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

/* ---- check ---------------------------------------------------------------- */

/* {"version_id", "name", "base_model"} of version @vid as @model lists it (names null when it does not). */
static json_t *current_of(const json_t *model, json_int_t vid)
{
	const json_t *v = model ? syn_pack_find_version(model, vid) : NULL;

	if (vid <= 0)
		return json_null();
	return json_pack("{s:I, s:o, s:o}", "version_id", vid, "name", member(v, "name"), "base_model",
			 member(v, "base_model"));
}

static json_t *latest_of(const json_t *v)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:b}", "version_id", member(v, "version_id"), "name", member(v, "name"),
			 "base_model", member(v, "base_model"), "published_at", member(v, "published_at"),
			 "early_access", json_is_true(json_object_get(v, "early_access")));
}

/*
 * *@out = {"status", "message", "current", "latest"}, with "code" when @code
 * is not 0; steals @current and @latest.
 */
static int answer(json_t **out, const char *status, const char *message, int code, json_t *current, json_t *latest)
{
	*out = json_pack("{s:s, s:s?, s:o, s:o}", "status", status, "message", message, "current", current, "latest",
			 latest);
	if (*out && code && json_object_set_new(*out, "code", json_integer(code))) {
		json_decref(*out);
		*out = NULL;
	}
	return *out ? 0 : oom();
}

/* "v2 (200)", or "version 200" when it has no name. */
static int version_label(struct syn_buf *b, const json_t *v)
{
	const char *name = str(v, "name", NULL);
	long long id = (long long)json_integer_value(json_object_get(v, "version_id"));

	if (name ? syn_buf_printf(b, "%s (%lld)", name, id) : syn_buf_printf(b, "version %lld", id))
		return oom();
	return 0;
}

/*
 * Whether another dependency of the pack already holds version @vid of
 * model @mid; *@holder is its id (NULL when the lock gives bare artifacts).
 */
static bool held_elsewhere(const json_t *in, const char *self, json_int_t mid, json_int_t vid, const char **holder)
{
	const json_t *list = json_object_get(in, "pack_resolved"), *e, *a, *p;
	const char *id;
	size_t i;

	if (!json_is_array(list))
		list = json_object_get(in, "pack_artifacts");
	json_array_foreach(list, i, e) {
		a = json_object_get(e, "artifact");
		if (!a)
			a = e;
		p = json_object_get(a, "provider");
		id = str(e, "dependency_id", NULL);
		if (strcmp(str(p, "name", ""), "civitai") || json_integer_value(json_object_get(p, "model_id")) != mid ||
		    json_integer_value(json_object_get(p, "version_id")) != vid || (id && !strcmp(id, self)))
			continue;
		*holder = id;
		return true;
	}
	return false;
}

/* How many dependencies of the pack follow model @mid's newest version, this one included. */
static size_t followers(const json_t *in, const char *self, json_int_t mid)
{
	const json_t *d;
	size_t i, n = 1;

	json_array_foreach(json_object_get(in, "pack_dependencies"), i, d)
		if (strcmp(str(d, "id", ""), self) && model_id_of(d) == mid &&
		    !strcmp(str(json_object_get(d, "update_policy"), "mode", ""), "follow_latest"))
			n++;
	return n;
}

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : path ? path : "";
}

/* Whether @name ends in one of the extensions @exts lists ("safetensors" or ".safetensors"). */
static bool ext_listed(const char *name, const json_t *exts)
{
	const char *dot = strrchr(name, '.'), *e;
	const json_t *x;
	size_t i;

	if (!dot)
		return false;
	json_array_foreach(exts, i, x) {
		e = json_string_value(x);
		if (!e)
			continue;
		if (*e == '.')
			e++;
		if (*e && !strcasecmp(dot + 1, e))
			return true;
	}
	return false;
}

/*
 * The files of @files a lone dependency may move to: the primary ones
 * (all when none is), narrowed to @exts when that leaves any. New array.
 */
static json_t *choices(const json_t *files, const json_t *exts)
{
	json_t *all = json_array(), *narrow = json_array(), *f;
	size_t i;
	bool primary = false;
	int rc = all && narrow ? 0 : -1;

	json_array_foreach(files, i, f)
		primary |= json_is_true(json_object_get(f, "primary"));
	json_array_foreach(files, i, f)
		if (!rc && (!primary || json_is_true(json_object_get(f, "primary"))))
			rc = json_array_append(all, f);
	if (json_is_array(exts) && json_array_size(exts))
		json_array_foreach(all, i, f)
			if (!rc && ext_listed(str(f, "name", ""), exts))
				rc = json_array_append(narrow, f);
	if (rc) {
		json_decref(all);
		json_decref(narrow);
		return NULL;
	}
	if (json_array_size(narrow)) {
		json_decref(all);
		return narrow;
	}
	json_decref(narrow);
	return all;
}

/* Every file of @version, each with the artifact an explicit choice of it would lock. */
static json_t *candidates(const json_t *model, const json_t *version, const char *kind)
{
	json_t *list = json_array(), *f, *c;
	size_t i;

	if (!list)
		return NULL;
	json_array_foreach(json_object_get(version, "files"), i, f) {
		json_t *artifact = civ_file_artifact(model, version, f, kind);

		c = artifact ? json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "file_id", member(f, "file_id"),
					 "name", member(f, "name"), "size_bytes", member(f, "size_bytes"), "format",
					 member(f, "format"), "precision", member(f, "precision"), "primary",
					 json_is_true(json_object_get(f, "primary")), "sha256", member(f, "sha256"),
					 "artifact", artifact) : NULL;
		if (!c || json_array_append_new(list, c)) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

/* Complete *@out, an update or an ambiguous answer: the new file (when @file) and the candidates. */
static int offer(json_t *out, const json_t *model, const json_t *version, const json_t *file, const char *kind)
{
	json_t *c = candidates(model, version, kind);

	if (!c || json_object_set_new(out, "candidates", c))
		return oom();
	if (file && json_object_set_new(out, "artifact", civ_file_artifact(model, version, file, kind)))
		return oom();
	return 0;
}

/* The answer for a dependency on @model whose version is @cur_vid and whose file is @name. */
static int judge(json_t **out, const json_t *in, const json_t *model, json_int_t cur_vid, const char *name)
{
	const json_t *dep = json_object_get(in, "dependency"), *sel = json_object_get(dep, "selector");
	const json_t *latest = json_array_get(json_object_get(model, "versions"), 0), *file;
	const char *self = str(dep, "id", ""), *kind = str(dep, "kind", "unknown"), *holder = NULL, *status;
	json_int_t mid = json_integer_value(json_object_get(model, "model_id")), latest_vid;
	struct syn_buf label = SYN_BUF_INIT, msg = SYN_BUF_INIT;
	json_t *pool = NULL;
	bool several = false, update = false;
	size_t n;
	int rc;

	latest_vid = json_integer_value(json_object_get(latest, "version_id"));
	if ((rc = version_label(&label, latest)))
		goto out;
	file = syn_source_match_file(json_object_get(latest, "files"), name, &several);
	if (latest_vid == cur_vid) {
		status = "current";
		rc = syn_buf_printf(&msg, "already on the newest version, %s", label.ptr);
	} else if (held_elsewhere(in, self, mid, latest_vid, &holder)) {
		status = "current";
		rc = holder ? syn_buf_printf(&msg, "the newest version, %s, is held by dependency %s", label.ptr, holder)
			    : syn_buf_printf(&msg, "the newest version, %s, is held by another dependency of the pack",
					     label.ptr);
	} else if (file) {
		status = "update";
		update = true;
	} else if (several) {
		status = "ambiguous";
		rc = syn_buf_printf(&msg, "several files of the newest version, %s, continue '%s': choose one",
				    label.ptr, name);
	} else if ((n = followers(in, self, mid)) > 1) {
		/* a pack of several versions never collapses onto one file */
		status = "current";
		rc = syn_buf_printf(&msg, "the newest version, %s, has no file continuing '%s' (the pack follows this "
				    "model with %zu dependencies, so only a file of the same name is an update)",
				    label.ptr, name, n);
	} else {
		pool = choices(json_object_get(latest, "files"),
			       json_object_get(json_object_get(sel, "constraints"), "file_ext"));
		if (!pool) {
			rc = oom();
			goto out;
		}
		n = json_array_size(pool);
		file = n == 1 ? json_array_get(pool, 0) : NULL;
		if (n == 1) {
			status = "update";
			update = true;
		} else if (!n) {
			status = "current";
			rc = syn_buf_printf(&msg, "the newest version, %s, has no files", label.ptr);
		} else {
			status = "ambiguous";
			rc = syn_buf_printf(&msg, "the newest version, %s, has %zu files and none continues '%s': choose "
					    "one", label.ptr, n, name);
		}
	}
	if (rc) {
		rc = oom();
		goto out;
	}
	if ((rc = answer(out, status, update ? NULL : msg.ptr, 0, current_of(model, cur_vid), latest_of(latest))))
		goto out;
	if ((update || !strcmp(status, "ambiguous")) && (rc = offer(*out, model, latest, update ? file : NULL, kind))) {
		json_decref(*out);
		*out = NULL;
	}
out:
	json_decref(pool);
	syn_buf_dispose(&label);
	syn_buf_dispose(&msg);
	return rc;
}

int civ_check(struct syn_source *src, const json_t *in, json_t *models, json_t **out)
{
	const json_t *dep = json_object_get(in, "dependency"), *sel = json_object_get(dep, "selector");
	const json_t *prov = json_object_get(json_object_get(in, "artifact"), "provider"), *model = NULL;
	const char *name;
	json_int_t mid = model_id_of(dep), vid;
	struct syn_buf msg = SYN_BUF_INIT;
	int rc, code;
	bool fresh;

	*out = NULL;
	if (!is_ours(sel))
		return SYN_EPASSTHROUGH;
	if (!strcmp(str(sel, "strategy", ""), "civitai_file"))
		return answer(out, "current", "its selector names one exact file", 0, json_null(), json_null());
	vid = json_integer_value(json_object_get(prov, "version_id"));
	if (vid <= 0)
		vid = json_integer_value(json_object_get(json_object_get(sel, "civitai"), "version_id"));
	if (!mid) {
		code = SYN_EINVALID;
		rc = syn_buf_printf(&msg, "dependency '%s' names no Civitai model: import the pack again",
				    str(dep, "id", ""));
		goto out_error;
	}
	fresh = !in_models(models, mid);
	rc = civ_model_of(src, mid, models, &model);
	if (rc == SYN_ENOMEM)
		goto out;
	if (rc) {
		/* recorded as prefetch() does, so that the model's other dependencies do not ask again */
		code = rc;
		rc = syn_buf_puts(&msg, syn_error_last());
		if (!rc && fresh)
			rc = placeholder(models, mid, code, msg.ptr);
		syn_error_clear();
		goto out_error;
	}
	if (!json_array_size(json_object_get(model, "versions"))) {
		code = SYN_ENOTFOUND;
		rc = syn_buf_printf(&msg, "model %lld has no versions on Civitai: its creator may have taken them down",
				    (long long)mid);
		goto out_error;
	}
	name = str(prov, "filename", NULL);
	if (!name)
		name = str(json_object_get(dep, "expose"), "filename", "");
	rc = judge(out, in, model, vid, base_name(name));
	goto out;

out_error:
	rc = rc ? oom() : answer(out, "error", msg.ptr, code, current_of(model, vid), json_null());
out:
	syn_buf_dispose(&msg);
	return rc;
}
