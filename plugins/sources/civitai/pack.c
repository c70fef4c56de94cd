/*
 * What a Civitai pack says about its files, and how that becomes a lock.
 *
 * A dependency's selector holds Civitai's ids, {"civitai": {"model_id",
 * "version_id", "file_id"}}, with strategy "civitai_model_latest" (what an
 * import writes: updates may move it to a newer version) or "civitai_file"
 * (exactly that file). A base-model hint resolves through its config.json
 * alias when the alias names a Civitai file.
 */
#include <stdio.h>
#include <string.h>

#include "civitai.h"

static json_t *member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v ? json_deep_copy(v) : json_null();
}

static const char *str(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : def;
}

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* The dependency on @file of @version, following the model's newest version. */
static json_t *file_dependency(const json_t *pick, const json_t *model)
{
	const json_t *version = json_object_get(pick, "version"), *file = json_object_get(pick, "file");
	json_t *words = json_object_get(version, "trained_words");

	return json_pack("{s:n, s:{s:O, s:o}, s:s, s:s, s:b, s:{s:n, s:{s:O?, s:O?, s:O?}, s:n, s:n, s:n, s:s, s:n}, "
			 "s:{s:s}}",
		"description", "expose", "filename", json_object_get(file, "name"),
		"trigger_words", json_is_array(words) ? json_deep_copy(words) : json_array(),
		"id", str(pick, "id", ""), "kind", str(pick, "kind", "unknown"), "required", 1,
		"selector", "base_model", "civitai", "file_id", json_object_get(file, "file_id"),
		"model_id", json_object_get(model, "model_id"), "version_id", json_object_get(version, "version_id"),
		"constraints", "huggingface", "local_path", "strategy", "civitai_model_latest", "url",
		"update_policy", "mode", "follow_latest");
}

/* The optional hint at the checkpoint the model was trained on, named as its alias says. */
static json_t *base_dependency(const char *base_model, const json_t *aliases)
{
	const json_t *alias = json_object_get(aliases, base_model);
	const char *expose = str(alias, "default_expose_filename", NULL);
	struct syn_buf fname = SYN_BUF_INIT;
	json_t *dep = NULL;

	if (!(expose ? syn_buf_puts(&fname, expose) : syn_buf_printf(&fname, "%s.safetensors", base_model)))
		dep = json_pack("{s:n, s:{s:s, s:[]}, s:s, s:s, s:b, s:{s:s, s:n, s:n, s:n, s:n, s:s, s:n}, s:{s:s}}",
			"description", "expose", "filename", fname.ptr, "trigger_words",
			"id", "base_checkpoint", "kind", str(alias, "kind", "checkpoint"), "required", 0,
			"selector", "base_model", base_model, "civitai", "constraints", "huggingface",
			"local_path", "strategy", "base_model_hint", "url",
			"update_policy", "mode", "pinned");
	syn_buf_dispose(&fname);
	return dep;
}

int civ_pack(struct syn_source *src, const json_t *in, json_t **out)
{
	const json_t *model = json_object_get(in, "model"), *picks = json_object_get(in, "picks"), *pick;
	const json_t *first = json_object_get(json_array_get(picks, 0), "version");
	const char *base = str(first, "base_model", NULL);
	json_t *deps = json_array(), *dep;
	char air[96];
	size_t i;
	int rc = deps ? 0 : oom();

	(void)src;
	*out = NULL;
	json_array_foreach(picks, i, pick) {
		dep = file_dependency(pick, model);
		if (!dep || json_array_append_new(deps, dep)) {
			rc = oom();
			break;
		}
	}
	if (!rc && base && *base) {
		dep = base_dependency(base, json_object_get(in, "base_model_aliases"));
		if (!dep || json_array_insert_new(deps, 0, dep))
			rc = oom();
	}
	snprintf(air, sizeof(air), "civitai: %lld @ %lld",
		 (long long)json_integer_value(json_object_get(model, "model_id")),
		 (long long)json_integer_value(json_object_get(first, "version_id")));
	if (!rc) {
		*out = json_pack("{s:O, s:{s:s}}", "dependencies", deps, "model_info", "civitai_air", air);
		if (!*out)
			rc = oom();
	}
	json_decref(deps);
	return rc;
}

static int unresolved(json_t **out, const char *dep_id, const char *reason, json_t *details)
{
	*out = details ? json_pack("{s:s, s:o, s:s}", "dependency_id", dep_id, "details", details, "reason", reason)
		       : NULL;
	return *out ? 0 : oom();
}

/* Whether @m, an entry of a models array, is Civitai's model @model_id. */
bool civ_is_model(const json_t *m, json_int_t model_id)
{
	return !strcmp(str(m, "source", ""), "civitai") && json_integer_value(json_object_get(m, "model_id")) == model_id;
}

int civ_model_of(struct syn_source *src, json_int_t model_id, json_t *models, const json_t **out)
{
	const json_t *code;
	json_t *m, *ref;
	size_t i;
	int rc;

	*out = NULL;
	json_array_foreach(models, i, m) {
		if (!civ_is_model(m, model_id))
			continue;
		if (json_object_get(m, "error")) {
			/* fetched already and failed: say so again rather than ask again */
			code = json_object_get(m, "code");
			rc = json_is_integer(code) && json_integer_value(code) < 0 ? (int)json_integer_value(code) : SYN_ERROR;
			return syn_error_set(rc, "%s", str(m, "error", "model metadata unavailable"));
		}
		*out = m;
		return 0;
	}
	ref = json_pack("{s:s, s:I, s:n}", "source", "civitai", "model_id", model_id, "version_id");
	if (!ref)
		return oom();
	rc = civ_metadata(src, ref, &m);
	json_decref(ref);
	if (rc)
		return rc;
	if (json_array_append_new(models, m))
		return oom();
	*out = m;
	return 0;
}

json_t *civ_file_artifact(const json_t *model, const json_t *version, const json_t *file, const char *kind)
{
	const char *sha = json_string_value(json_object_get(file, "sha256"));
	const char *url = json_string_value(json_object_get(file, "download_url"));
	json_t *urls;

	if (!url)
		url = json_string_value(json_object_get(version, "download_url"));
	urls = url ? json_pack("[s]", url) : json_array();
	return urls ? json_pack("{s:{s:o}, s:{s:b}, s:s, s:{s:o, s:o, s:o, s:s, s:n, s:n, s:o}, s:s?, s:o}",
		"download", "urls", urls,
		"integrity", "sha256_verified", sha != NULL,
		"kind", kind,
		"provider", "file_id", member(file, "file_id"), "filename", member(file, "name"),
		"model_id", member(model, "model_id"), "name", "civitai",
		"repo_id", "revision", "version_id", member(version, "version_id"),
		"sha256", sha, "size_bytes", member(file, "size_bytes")) : NULL;
}

/* The lock entry of the file @civ ({model_id, version_id, file_id}) names. */
static int resolve_file(struct syn_source *src, const char *dep_id, const char *kind, const json_t *civ,
			json_t *models, json_t **out)
{
	json_int_t mid = json_integer_value(json_object_get(civ, "model_id"));
	json_int_t vid = json_integer_value(json_object_get(civ, "version_id"));
	const json_t *model, *version, *file;
	json_t *artifact;
	int rc;

	if (mid <= 0)
		return unresolved(out, dep_id, "resolution_error", json_pack("{s:s}", "error",
				  "model metadata unavailable"));
	rc = civ_model_of(src, mid, models, &model);
	if (rc)
		return rc;
	version = vid > 0 ? syn_pack_find_version(model, vid) : json_array_get(json_object_get(model, "versions"), 0);
	file = version ? syn_pack_choose_file(json_object_get(version, "files"),
					      json_integer_value(json_object_get(civ, "file_id"))) : NULL;
	if (!file)
		return unresolved(out, dep_id, "no_file_found", json_pack("{s:O}", "version_id",
				  json_object_get(civ, "version_id") ? json_object_get(civ, "version_id") : json_null()));
	artifact = civ_file_artifact(model, version, file, kind);
	*out = artifact ? json_pack("{s:o, s:s}", "artifact", artifact, "dependency_id", dep_id) : NULL;
	return *out ? 0 : oom();
}

int civ_resolve(struct syn_source *src, const json_t *in, json_t *models, json_t **out)
{
	const json_t *dep = json_object_get(in, "dependency"), *sel = json_object_get(dep, "selector");
	const json_t *alias = json_object_get(in, "base_model_alias"), *civ;
	const char *strategy = str(sel, "strategy", ""), *id = str(dep, "id", ""), *kind = str(dep, "kind", "unknown");
	int rc;

	*out = NULL;
	if (!strcmp(strategy, "civitai_model_latest") || !strcmp(strategy, "civitai_file"))
		return resolve_file(src, id, kind, json_object_get(sel, "civitai"), models, out);
	civ = json_object_get(json_object_get(alias, "selector"), "civitai");
	if (strcmp(strategy, "base_model_hint") || !json_is_object(civ))
		return SYN_EPASSTHROUGH;
	/* the stock aliases name no file (ids 0) until the user fills them in */
	if (json_integer_value(json_object_get(civ, "version_id")) <= 0)
		return unresolved(out, id, "base_model_alias_unconfigured", json_pack("{s:s}", "base_model",
				  str(sel, "base_model", "")));
	/* the hint is optional: a base model that cannot be fetched must not fail the pack */
	rc = resolve_file(src, id, kind, civ, models, out);
	if (rc && rc != SYN_ENOMEM) {
		rc = unresolved(out, id, "base_model_resolution_failed", json_pack("{s:s}", "error", syn_error_last()));
		syn_error_clear();
	}
	return rc;
}
