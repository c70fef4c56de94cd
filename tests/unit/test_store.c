/* Tests of the store module: root resolution, init, documents, views, status. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* every loaded UI layout is enabled, in the order the plugins loaded (sorted file names) */
static const char *const known_uis[] = { "a1111", "comfyui", "forge", "sdnext" };
#define N_UIS (sizeof(known_uis) / sizeof(known_uis[0]))

/* "<test_dir>/store/<fmt...>" in a malloc'ed string. */
static char *sp(const char *fmt, ...) SYN_PRINTF(1, 2);

static char *sp(const char *fmt, ...)
{
	char *rel, *p;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&rel, fmt, ap), 0);
	va_end(ap);
	ck_assert_int_ge(asprintf(&p, "%s/store/%s", test_dir, rel), 0);
	free(rel);
	return p;
}

static bool is_dir(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Load the JSON document at @path (must exist and parse). */
static json_t *load(const char *path)
{
	json_error_t err;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);

	ck_assert_msg(doc != NULL, "%s: %s (line %d)", path, err.text, err.line);
	return doc;
}

/* Write @doc to @path (not canonically: like a user's editor would). */
static void save(const char *path, const json_t *doc)
{
	ck_assert_int_eq(json_dump_file(doc, path, JSON_INDENT(4)), 0);
}

static json_t *load_config(void)
{
	char *p = sp("state/config.json");
	json_t *doc = load(p);

	free(p);
	return doc;
}

static void save_config(const json_t *doc)
{
	char *p = sp("state/config.json");

	save(p, doc);
	free(p);
}

static void assert_strings(const json_t *arr, const char *const *want, size_t n)
{
	size_t i;

	ck_assert_msg(json_is_array(arr), "not an array");
	ck_assert_uint_eq(json_array_size(arr), n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(json_string_value(json_array_get(arr, i)), want[i]);
}

static void assert_json_str(const json_t *obj, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(obj, key));

	ck_assert_msg(got != NULL, "'%s' is not a string", key);
	ck_assert_str_eq(got, want);
}

static char *save_env(const char *name)
{
	const char *v = getenv(name);

	return v ? strdup(v) : NULL;
}

static void restore_env(const char *name, char *old)
{
	if (old)
		setenv(name, old, 1);
	else
		unsetenv(name);
	free(old);
}

static json_t *status(void)
{
	json_t *st = NULL;

	ck_assert_msg(syn_store_status(test_store, NULL, &st) == 0, "status: %s", syn_error_last());
	ck_assert_ptr_nonnull(st);
	return st;
}

static char *sha_of(char c)
{
	char *s = malloc(SYN_SHA256_HEX_LEN + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, SYN_SHA256_HEX_LEN);
	s[SYN_SHA256_HEX_LEN] = '\0';
	return s;
}

/* Put @len bytes at data/blobs/sha256/<aa>/<sha>. */
static void place_blob(const char *sha, const char *bytes)
{
	char *dir = sp("data/blobs/sha256/%.2s", sha), *path = sp("data/blobs/sha256/%.2s/%s", sha, sha);

	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	test_write_file(path, bytes, strlen(bytes));
	free(dir);
	free(path);
}

static void write_text(const char *path, const char *text)
{
	test_write_file(path, text, strlen(text));
}

/* ---- uninitialized -------------------------------------------------------- */

START_TEST(test_fresh_root_not_initialized)
{
	struct syn_registry *reg = test_registry();
	struct syn_store *st;
	json_t *out = (json_t *)1;
	char *root = test_path("store"), *want;

	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_str_eq(syn_store_root(st), root);
	ck_assert(!syn_store_is_initialized(st));
	ck_assert_int_eq(syn_store_require_init(st), SYN_ENOTINIT);
	ck_assert_int_ge(asprintf(&want, "store not initialized at %s; run 'synapse store init'", root), 0);
	ck_assert_str_eq(syn_error_last(), want);
	/* the commands that need a store say so too */
	ck_assert_int_eq(syn_store_config(st, &out), SYN_ENOTINIT);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(syn_store_status(st, NULL, &out), SYN_ENOTINIT);
	ck_assert_str_eq(syn_error_last(), want);
	/* looking does not create anything */
	ck_assert(!test_exists(root));
	syn_store_free(st);
	syn_registry_free(reg);
	free(want);
	free(root);
}
END_TEST

/* ---- init: layout and documents ------------------------------------------ */

START_TEST(test_init_layout)
{
	static const char *const dirs[] = {
		"state", "state/packs", "state/profiles", "state/.git", "data/blobs/sha256", "data/views", "data/tmp",
	};
	size_t i;

	ck_assert(syn_store_is_initialized(test_store));
	ck_assert_int_eq(syn_store_require_init(test_store), 0);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = sp("%s", dirs[i]);

		ck_assert_msg(is_dir(p), "%s is not a directory", dirs[i]);
		free(p);
	}
	{
		char *p = sp("data/.synapse.lock");

		ck_assert_msg(test_exists(p), "data/.synapse.lock is missing");
		free(p);
	}
}
END_TEST

START_TEST(test_init_config_document)
{
	static const char *const aliases[][2] = {
		{ "Illustrious", "illustrious_v1.safetensors" },
		{ "Pony", "ponyDiffusionV6XL.safetensors" },
		{ "SD1.5", "v1-5-pruned-emaonly.safetensors" },
		{ "SDXL", "sd_xl_base_1.0.safetensors" },
	};
	json_t *cfg = load_config(), *got = NULL, *ba;
	size_t i;

	assert_json_str(cfg, "schema", "synapse.config.v2");
	assert_json_str(json_object_get(cfg, "defaults"), "ui_set", "local");
	assert_strings(json_object_get(json_object_get(cfg, "ui"), "known"), known_uis, N_UIS);
	ck_assert(json_is_false(json_object_get(json_object_get(cfg, "backup"), "enabled")));
	ba = json_object_get(cfg, "base_model_aliases");
	ck_assert_uint_eq(json_object_size(ba), 4);
	for (i = 0; i < 4; i++) {
		json_t *a = json_object_get(ba, aliases[i][0]);

		ck_assert_msg(json_is_object(a), "alias %s missing", aliases[i][0]);
		assert_json_str(a, "default_expose_filename", aliases[i][1]);
		assert_json_str(a, "kind", "checkpoint");
		assert_json_str(json_object_get(a, "selector"), "strategy", "civitai_file");
	}
	/* the API returns the same document */
	ck_assert_int_eq(syn_store_config(test_store, &got), 0);
	ck_assert(json_equal(got, cfg));
	json_decref(got);
	json_decref(cfg);
}
END_TEST

START_TEST(test_init_ui_sets_document)
{
	static const char *const local[] = { "comfyui", "forge" };
	static const char *const comfy_only[] = { "comfyui" };
	char *p = sp("state/ui_sets.json");
	json_t *doc = load(p), *sets = json_object_get(doc, "sets");
	size_t i;

	assert_json_str(doc, "schema", "synapse.ui_sets.v1");
	assert_strings(json_object_get(sets, "local"), local, 2);
	assert_strings(json_object_get(sets, "comfy_only"), comfy_only, 1);
	/* `all` and the sets of one UI follow ui.known, so they are not written down */
	ck_assert_uint_eq(json_object_size(sets), 2);
	for (i = 0; i < N_UIS; i++) {
		json_t *t = NULL;

		ck_assert_int_eq(syn_store_ui_targets(test_store, known_uis[i], &t), 0);
		assert_strings(t, &known_uis[i], 1);
		json_decref(t);
	}
	json_decref(doc);
	free(p);
}
END_TEST

START_TEST(test_init_profile_and_runtime)
{
	char *pp = sp("state/profiles/global/profile.json"), *rp = sp("data/runtime.json");
	json_t *prof = load(pp), *rt = load(rp), *uis;
	size_t i;

	assert_json_str(prof, "schema", "synapse.profile.v1");
	assert_json_str(prof, "name", "global");
	ck_assert(json_is_array(json_object_get(prof, "packs")));
	ck_assert_uint_eq(json_array_size(json_object_get(prof, "packs")), 0);

	assert_json_str(rt, "schema", "synapse.runtime.v1");
	uis = json_object_get(rt, "ui");
	ck_assert_uint_eq(json_object_size(uis), N_UIS);
	for (i = 0; i < N_UIS; i++) {
		static const char *const global[] = { "global" };

		assert_strings(json_object_get(json_object_get(uis, known_uis[i]), "stack"), global, 1);
	}
	json_decref(prof);
	json_decref(rt);
	free(pp);
	free(rp);
}
END_TEST

START_TEST(test_init_kind_map_from_plugins)
{
	json_t *cfg = load_config(), *ui = json_object_get(cfg, "ui");
	json_t *km = json_object_get(ui, "kind_map"), *roots = json_object_get(ui, "roots");
	size_t i, j;

	/* spot checks against the UIs' real folder names */
	assert_json_str(json_object_get(km, "sdnext"), "text_encoder", "models/Text-encoder");
	assert_json_str(json_object_get(km, "sdnext"), "embedding", "models/embeddings");
	assert_json_str(json_object_get(km, "a1111"), "embedding", "embeddings");
	assert_json_str(json_object_get(km, "comfyui"), "checkpoint", "models/checkpoints");
	assert_json_str(json_object_get(km, "forge"), "text_encoder", "models/text_encoder");
	/* and every entry is the plugin's table, nothing more */
	for (i = 0; i < N_UIS; i++) {
		const struct syn_ui_layout *l = syn_registry_ui(test_reg, known_uis[i]);
		json_t *map = json_object_get(km, known_uis[i]);

		ck_assert_msg(l != NULL, "no plugin for %s", known_uis[i]);
		for (j = 0; l->folders[j].kind; j++)
			assert_json_str(map, l->folders[j].kind, l->folders[j].folder);
		ck_assert_uint_eq(json_object_size(map), j);
		assert_json_str(roots, known_uis[i], l->default_root);
	}
	assert_json_str(roots, "comfyui", "~/ComfyUI");
	json_decref(cfg);
}
END_TEST

/* Each default document is exactly the 2-space, sorted-keys, newline-terminated dump. */
START_TEST(test_init_documents_canonical)
{
	static const char *const docs[] = {
		"state/config.json", "state/ui_sets.json", "state/profiles/global/profile.json", "data/runtime.json",
	};
	size_t i, len;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char *p = sp("%s", docs[i]), *raw = test_read_file(p, &len), *want;
		json_t *doc = load(p);

		ck_assert_ptr_nonnull(raw);
		want = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
		ck_assert_ptr_nonnull(want);
		ck_assert_uint_eq(len, strlen(want) + 1);
		ck_assert_msg(!strncmp(raw, want, strlen(want)) && raw[len - 1] == '\n', "%s is not canonical:\n%s",
			      docs[i], raw);
		if (i == 0) {
			ck_assert_msg(!strncmp(raw, "{\n  \"backup\"", 12), "config.json starts with: %.20s", raw);
			ck_assert_str_eq(raw + len - 2, "}\n");
		}
		free(want);
		free(raw);
		free(p);
		json_decref(doc);
	}
}
END_TEST

/* ---- the empty global view -------------------------------------------------- */

START_TEST(test_init_empty_global_views)
{
	size_t i;

	for (i = 0; i < N_UIS; i++) {
		char *active = sp("data/views/%s/active", known_uis[i]);
		char target[256];
		ssize_t n = readlink(active, target, sizeof(target) - 1);
		json_t *map = NULL, *folder;
		const char *kind;

		ck_assert_msg(n > 0, "%s: %s", active, strerror(errno));
		target[n] = '\0';
		ck_assert_str_eq(target, "profiles/global");
		ck_assert_int_eq(syn_store_kind_map(test_store, known_uis[i], &map), 0);
		ck_assert_uint_gt(json_object_size(map), 0);
		json_object_foreach(map, kind, folder) {
			char *dir = sp("data/views/%s/profiles/global/%s", known_uis[i], json_string_value(folder));
			char *via = sp("data/views/%s/active/%s", known_uis[i], json_string_value(folder));
			struct stat sb;

			ck_assert_msg(is_dir(dir), "%s (%s) is not a directory", dir, kind);
			/* a UI reading through `active` finds the folder */
			ck_assert_msg(stat(via, &sb) == 0 && S_ISDIR(sb.st_mode), "%s does not resolve", via);
			free(dir);
			free(via);
		}
		json_decref(map);
		free(active);
	}
	{
		char *p = sp("data/views/comfyui/profiles/global/models/loras");
		char *q = sp("data/views/a1111/profiles/global/embeddings");
		DIR *d = opendir(p);
		struct dirent *de;
		int entries = 0;

		ck_assert(is_dir(p) && is_dir(q));
		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				entries++;
		closedir(d);
		ck_assert_int_eq(entries, 0);
		free(p);
		free(q);
	}
}
END_TEST

/* ---- status ---------------------------------------------------------------- */

START_TEST(test_status_fresh)
{
	static const char *const local[] = { "comfyui", "forge" };
	static const char *const global[] = { "global" };
	json_t *s = status();
	size_t i;

	assert_json_str(s, "profile", "global");
	assert_strings(json_object_get(s, "ui_targets"), local, 2);
	ck_assert_uint_eq(json_object_size(json_object_get(s, "active")), 2);
	ck_assert_uint_eq(json_object_size(json_object_get(s, "in_sync")), 2);
	ck_assert_uint_eq(json_object_size(json_object_get(s, "stacks")), 2);
	for (i = 0; i < 2; i++) {
		assert_json_str(json_object_get(s, "active"), local[i], "global");
		ck_assert_msg(json_is_true(json_object_get(json_object_get(s, "in_sync"), local[i])), "%s not in sync",
			      local[i]);
		assert_strings(json_object_get(json_object_get(s, "stacks"), local[i]), global, 1);
	}
	assert_strings(json_object_get(s, "missing_blobs"), NULL, 0);
	assert_strings(json_object_get(s, "unresolved"), NULL, 0);
	assert_strings(json_object_get(s, "shadowed"), NULL, 0);
	assert_strings(json_object_get(s, "notes"), NULL, 0);
	json_decref(s);
}
END_TEST

static bool notes_mention(const json_t *s, const char *a, const char *b)
{
	json_t *n;
	size_t i;

	json_array_foreach(json_object_get(s, "notes"), i, n) {
		const char *t = json_string_value(n);

		if (t && strstr(t, a) && strstr(t, b))
			return true;
	}
	return false;
}

START_TEST(test_status_reports_disagreement)
{
	char *other = sp("data/views/comfyui/profiles/other");
	char *cactive = sp("data/views/comfyui/active"), *factive = sp("data/views/forge/active");
	json_t *s;

	ck_assert_int_eq(mkdir(other, 0755), 0);
	ck_assert_int_eq(unlink(cactive), 0);
	ck_assert_int_eq(symlink("profiles/other", cactive), 0);
	ck_assert_int_eq(unlink(factive), 0);
	s = status();
	assert_json_str(json_object_get(s, "active"), "comfyui", "other");
	ck_assert(json_is_false(json_object_get(json_object_get(s, "in_sync"), "comfyui")));
	ck_assert_msg(notes_mention(s, "comfyui", "doctor --rebuild-views"), "no note for comfyui");
	ck_assert(json_is_null(json_object_get(json_object_get(s, "active"), "forge")));
	ck_assert(json_is_false(json_object_get(json_object_get(s, "in_sync"), "forge")));
	ck_assert_msg(notes_mention(s, "forge", "active"), "no note for forge");
	json_decref(s);
	free(other);
	free(cactive);
	free(factive);
}
END_TEST

START_TEST(test_status_reports_missing_view)
{
	char *view = sp("data/views/forge/profiles/global");
	json_t *s;

	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, view), 0);
	ck_assert(!test_exists(view));
	s = status();
	assert_json_str(json_object_get(s, "active"), "forge", "global");
	ck_assert(json_is_false(json_object_get(json_object_get(s, "in_sync"), "forge")));
	ck_assert(json_is_true(json_object_get(json_object_get(s, "in_sync"), "comfyui")));
	ck_assert_msg(notes_mention(s, "forge", "doctor --rebuild-views"), "no note for forge");
	json_decref(s);
	free(view);
}
END_TEST

START_TEST(test_status_missing_blobs_and_unresolved)
{
	char *a = sha_of('a'), *b = sha_of('b');
	char *dir = sp("state/packs/P"), *pack = sp("state/packs/P/pack.json"), *lock = sp("state/packs/P/lock.json");
	char *prof = sp("state/profiles/global/profile.json");
	json_t *doc, *s, *m, *u;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	doc = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}]}",
			"schema", "synapse.pack.v2", "name", "P", "pack_type", "lora", "dependencies",
			"id", "main_lora", "kind", "lora", "expose", "filename", "main.safetensors",
			"id", "present_vae", "kind", "vae", "expose", "filename", "vae.safetensors",
			"id", "base", "kind", "checkpoint", "expose", "filename", "base.safetensors");
	save(pack, doc);
	json_decref(doc);
	doc = json_pack("{s:s, s:s, s:s, s:[{s:s, s:{s:s, s:s, s:i}}, {s:s, s:{s:s, s:s, s:i}}], "
			"s:[{s:s, s:s}]}",
			"schema", "synapse.lock.v2", "pack", "P", "resolved_at", "2026-03-07T08:21:00.123456",
			"resolved", "dependency_id", "main_lora", "artifact", "kind", "lora", "sha256", a, "size_bytes", 4,
			"dependency_id", "present_vae", "artifact", "kind", "vae", "sha256", b, "size_bytes", 4,
			"unresolved", "dependency_id", "base", "reason", "no_file_found");
	save(lock, doc);
	json_decref(doc);
	place_blob(b, "vae!");
	doc = load(prof);
	json_array_append_new(json_object_get(doc, "packs"), json_pack("{s:s}", "name", "P"));
	save(prof, doc);
	json_decref(doc);

	s = status();
	m = json_object_get(s, "missing_blobs");
	ck_assert_uint_eq(json_array_size(m), 1); /* the stored blob is not reported */
	m = json_array_get(m, 0);
	assert_json_str(m, "pack", "P");
	assert_json_str(m, "dependency_id", "main_lora");
	assert_json_str(m, "kind", "lora");
	assert_json_str(m, "sha256", a);
	u = json_object_get(s, "unresolved");
	ck_assert_uint_eq(json_array_size(u), 1);
	u = json_array_get(u, 0);
	assert_json_str(u, "pack", "P");
	assert_json_str(u, "dependency_id", "base");
	assert_json_str(u, "reason", "no_file_found");
	ck_assert(json_is_object(json_object_get(u, "details")));
	json_decref(s);
	free(a);
	free(b);
	free(dir);
	free(pack);
	free(lock);
	free(prof);
}
END_TEST

/* ---- re-init and repair ----------------------------------------------------- */

START_TEST(test_init_twice_keeps_user_edits)
{
	char *p = sp("state/config.json"), *before, *after;
	json_t *cfg = load_config(), *report = NULL;
	size_t blen, alen;

	json_object_set_new(json_object_get(cfg, "defaults"), "ui_set", json_string("all"));
	json_object_set_new(cfg, "my_key", json_integer(1));
	save_config(cfg);
	json_decref(cfg);
	before = test_read_file(p, &blen);

	ck_assert_msg(syn_store_init(test_store, false, &report) == 0, "init: %s", syn_error_last());
	ck_assert(json_is_false(json_object_get(report, "created")));
	ck_assert(json_is_true(json_object_get(report, "initialized")));
	after = test_read_file(p, &alen);
	ck_assert_uint_eq(alen, blen);
	ck_assert(memcmp(before, after, blen) == 0);
	ck_assert_int_eq(syn_store_config(test_store, &cfg), 0);
	assert_json_str(json_object_get(cfg, "defaults"), "ui_set", "all");
	ck_assert_int_eq(json_integer_value(json_object_get(cfg, "my_key")), 1);
	json_decref(cfg);
	json_decref(report);
	free(before);
	free(after);
	free(p);
}
END_TEST

/* History names the command the user ran: a plain `store init` is not `--force`. */
START_TEST(test_reinit_commit_names_command)
{
	json_t *cfg = load_config(), *report = NULL, *h = NULL, *commits;
	size_t n0, i;

	json_object_set_new(cfg, "my_key", json_integer(1));
	save_config(cfg);
	json_decref(cfg);
	ck_assert_int_eq(syn_state_history(test_store, 0, &h), 0);
	n0 = json_array_size(json_object_get(h, "commits"));
	json_decref(h);
	ck_assert_msg(syn_store_init(test_store, false, &report) == 0, "init: %s", syn_error_last());
	ck_assert_int_eq(syn_state_history(test_store, 0, &h), 0);
	commits = json_object_get(h, "commits");
	for (i = 0; i + n0 < json_array_size(commits); i++)
		assert_json_str(json_array_get(commits, i), "message", "store init");
	json_decref(h);
	json_decref(report);
}
END_TEST

static json_t *find_repaired(const json_t *repaired, const char *doc)
{
	json_t *e;
	size_t i;

	json_array_foreach(repaired, i, e)
		if (!strcmp(syn_doc_str(e, "document", ""), doc))
			return e;
	return NULL;
}

START_TEST(test_init_force_repairs)
{
	char *cfgp = sp("state/config.json"), *setsp = sp("state/ui_sets.json"), *state = sp("state");
	char *keepdir = sp("state/packs/Keep"), *keep = sp("state/packs/Keep/pack.json");
	char *prof = sp("state/profiles/global/profile.json"), *sha = sha_of('c'), *blob, *raw, *prof_before;
	const char *keep_text = "{\"name\": \"Keep\", \"schema\": \"synapse.pack.v2\", \"dependencies\": []}";
	json_t *report = NULL, *repaired, *e, *doc;
	char *moved = NULL;
	struct dirent *de;
	DIR *d;

	sha[0] = 'a';
	sha[1] = 'b';
	blob = sp("data/blobs/sha256/ab/%s", sha);
	place_blob(sha, "blob bytes");
	ck_assert_int_eq(mkdir(keepdir, 0755), 0);
	write_text(keep, keep_text);
	prof_before = test_read_file(prof, NULL);
	write_text(cfgp, "{ not json");
	ck_assert_int_eq(unlink(setsp), 0);

	ck_assert_msg(syn_store_init(test_store, true, &report) == 0, "init --force: %s", syn_error_last());
	/* the corrupt file is kept aside, byte for byte */
	d = opendir(state);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "config.json.corrupt-", 20)) {
			ck_assert_ptr_null(moved);
			moved = strdup(de->d_name);
		}
	closedir(d);
	ck_assert_msg(moved != NULL, "no config.json.corrupt-* in state/");
	{
		char *mp = sp("state/%s", moved);

		raw = test_read_file(mp, NULL);
		ck_assert_str_eq(raw, "{ not json");
		free(raw);
		free(mp);
	}
	/* valid defaults are back */
	doc = load(cfgp);
	assert_json_str(doc, "schema", "synapse.config.v2");
	assert_json_str(json_object_get(doc, "defaults"), "ui_set", "local");
	json_decref(doc);
	doc = load(setsp);
	assert_json_str(doc, "schema", "synapse.ui_sets.v1");
	json_decref(doc);
	/* the report says what was repaired */
	repaired = json_object_get(report, "repaired");
	ck_assert_uint_eq(json_array_size(repaired), 2);
	e = find_repaired(repaired, cfgp);
	ck_assert_msg(e != NULL, "config.json not in repaired");
	ck_assert_ptr_nonnull(strstr(syn_doc_str(e, "moved_to", ""), moved));
	e = find_repaired(repaired, setsp);
	ck_assert_msg(e != NULL, "ui_sets.json not in repaired");
	ck_assert(json_is_null(json_object_get(e, "moved_to")));
	/* packs, parseable profiles and blobs are untouched */
	raw = test_read_file(blob, NULL);
	ck_assert_str_eq(raw, "blob bytes");
	free(raw);
	raw = test_read_file(keep, NULL);
	ck_assert_str_eq(raw, keep_text);
	free(raw);
	raw = test_read_file(prof, NULL);
	ck_assert_str_eq(raw, prof_before);
	free(raw);

	json_decref(report);
	free(moved);
	free(prof_before);
	free(cfgp);
	free(setsp);
	free(state);
	free(keepdir);
	free(keep);
	free(prof);
	free(sha);
	free(blob);
}
END_TEST

/* Each forced repair keeps the unreadable copy it moves aside, even twice in a row. */
START_TEST(test_init_force_keeps_every_corrupt_copy)
{
	char *cfgp = sp("state/config.json"), *state = sp("state");
	json_t *report = NULL;
	bool seen_first = false, seen_second = false;
	struct dirent *de;
	DIR *d;

	write_text(cfgp, "{ first");
	ck_assert_msg(syn_store_init(test_store, true, &report) == 0, "init --force: %s", syn_error_last());
	json_decref(report);
	write_text(cfgp, "{ second");
	ck_assert_msg(syn_store_init(test_store, true, &report) == 0, "init --force: %s", syn_error_last());
	json_decref(report);
	d = opendir(state);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char *p, *raw;

		if (strncmp(de->d_name, "config.json.corrupt-", 20))
			continue;
		p = sp("state/%s", de->d_name);
		raw = test_read_file(p, NULL);
		seen_first |= raw && !strcmp(raw, "{ first");
		seen_second |= raw && !strcmp(raw, "{ second");
		free(raw);
		free(p);
	}
	closedir(d);
	ck_assert_msg(seen_second, "the second unreadable config.json was not kept");
	ck_assert_msg(seen_first, "the first unreadable config.json was overwritten by the second repair");
	free(cfgp);
	free(state);
}
END_TEST

/*
 * A store missing config.json but holding an unreadable ui_sets.json: the
 * forced init moves ui_sets.json aside and must say so in its report.
 */
START_TEST(test_init_force_reports_move_on_partial_store)
{
	char *cfgp = sp("state/config.json"), *setsp = sp("state/ui_sets.json");
	json_t *report = NULL, *e;

	ck_assert_int_eq(unlink(cfgp), 0);
	write_text(setsp, "[ broken");
	ck_assert(!syn_store_is_initialized(test_store));
	ck_assert_msg(syn_store_init(test_store, true, &report) == 0, "init --force: %s", syn_error_last());
	ck_assert(syn_store_is_initialized(test_store));
	e = find_repaired(json_object_get(report, "repaired"), setsp);
	ck_assert_msg(e != NULL, "the moved ui_sets.json is not in the report (%zu entries)",
		      json_array_size(json_object_get(report, "repaired")));
	ck_assert_ptr_nonnull(strstr(syn_doc_str(e, "moved_to", ""), "ui_sets.json.corrupt-"));
	json_decref(report);
	free(cfgp);
	free(setsp);
}
END_TEST

START_TEST(test_corrupt_config_reported)
{
	char *p = sp("state/config.json");
	json_t *cfg = (json_t *)1;

	write_text(p, "{ not json");
	ck_assert_int_eq(syn_store_config(test_store, &cfg), SYN_ECORRUPT);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(strstr(syn_error_last(), p) != NULL, "message lacks the path: %s", syn_error_last());
	ck_assert_msg(strstr(syn_error_last(), "line") != NULL, "message lacks the line: %s", syn_error_last());
	/* and the file is left alone for the user to fix */
	{
		char *raw = test_read_file(p, NULL);

		ck_assert_str_eq(raw, "{ not json");
		free(raw);
	}
	free(p);
}
END_TEST

/* ---- root resolution -------------------------------------------------------- */

static struct syn_store *open_store(const char *root)
{
	struct syn_store *st = NULL;

	ck_assert_msg(syn_store_open(&st, NULL, root) == 0, "open: %s", syn_error_last());
	return st;
}

static void assert_halves(const struct syn_store *st, const char *root)
{
	char *s, *d;

	ck_assert_int_ge(asprintf(&s, "%s/state", root), 0);
	ck_assert_int_ge(asprintf(&d, "%s/data", root), 0);
	ck_assert_str_eq(syn_store_root(st), root);
	ck_assert_str_eq(syn_store_state_root(st), s);
	ck_assert_str_eq(syn_store_data_root(st), d);
	free(s);
	free(d);
}

START_TEST(test_root_from_env)
{
	char *old = save_env("SYNAPSE_ROOT"), *root = test_path("envstore");
	struct syn_store *st;

	setenv("SYNAPSE_ROOT", root, 1);
	st = open_store(NULL);
	assert_halves(st, root);
	syn_store_free(st);
	/* an explicit root wins over the environment */
	st = open_store(test_dir);
	ck_assert_str_eq(syn_store_root(st), test_dir);
	syn_store_free(st);
	restore_env("SYNAPSE_ROOT", old);
	free(root);
}
END_TEST

START_TEST(test_root_default_under_home)
{
	char *old_home = save_env("HOME"), *old_root = save_env("SYNAPSE_ROOT"), *want;
	struct syn_store *st;

	setenv("HOME", test_dir, 1);
	unsetenv("SYNAPSE_ROOT");
	st = open_store(NULL);
	want = test_path(".synapse/store");
	assert_halves(st, want);
	syn_store_free(st);
	restore_env("HOME", old_home);
	restore_env("SYNAPSE_ROOT", old_root);
	free(want);
}
END_TEST

START_TEST(test_root_relative_made_absolute)
{
	char cwd[4096], *old = getcwd(cwd, sizeof(cwd)) ? strdup(cwd) : NULL, *want;
	struct syn_store *st;

	ck_assert_int_eq(chdir(test_dir), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	st = open_store("rel/store");
	ck_assert_int_ge(asprintf(&want, "%s/rel/store", cwd), 0);
	assert_halves(st, want);
	syn_store_free(st);
	free(want);
	/* "." and ".." are resolved too */
	st = open_store("./rel/../rel/store/");
	ck_assert_int_ge(asprintf(&want, "%s/rel/store", cwd), 0);
	ck_assert_str_eq(syn_store_root(st), want);
	syn_store_free(st);
	free(want);
	if (old)
		ck_assert_int_eq(chdir(old), 0);
	free(old);
}
END_TEST

START_TEST(test_root_tilde_expands_home)
{
	char *old = save_env("HOME"), *want = test_path("x");
	struct syn_store *st;

	setenv("HOME", test_dir, 1);
	st = open_store("~/x");
	assert_halves(st, want);
	syn_store_free(st);
	restore_env("HOME", old);
	free(want);
}
END_TEST

START_TEST(test_root_halves_overridden)
{
	char *old_s = save_env("SYNAPSE_STATE_ROOT"), *old_d = save_env("SYNAPSE_DATA_ROOT");
	char cwd[4096], *old_cwd = getcwd(cwd, sizeof(cwd)) ? strdup(cwd) : NULL;
	char *root = test_path("store"), *state = test_path("elsewhere/state"), *want_data;
	struct syn_store *st;

	ck_assert_int_eq(chdir(test_dir), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	setenv("SYNAPSE_STATE_ROOT", state, 1);
	setenv("SYNAPSE_DATA_ROOT", "fast/data", 1);
	st = open_store(root);
	ck_assert_str_eq(syn_store_root(st), root);
	ck_assert_str_eq(syn_store_state_root(st), state);
	ck_assert_int_ge(asprintf(&want_data, "%s/fast/data", cwd), 0);
	ck_assert_str_eq(syn_store_data_root(st), want_data);
	syn_store_free(st);
	/* an empty override is no override */
	setenv("SYNAPSE_STATE_ROOT", "", 1);
	unsetenv("SYNAPSE_DATA_ROOT");
	st = open_store(root);
	assert_halves(st, root);
	syn_store_free(st);
	restore_env("SYNAPSE_STATE_ROOT", old_s);
	restore_env("SYNAPSE_DATA_ROOT", old_d);
	if (old_cwd)
		ck_assert_int_eq(chdir(old_cwd), 0);
	free(old_cwd);
	free(root);
	free(state);
	free(want_data);
}
END_TEST

/* init honours the overrides: documents land in the overridden halves */
START_TEST(test_init_with_split_halves)
{
	char *old_s = save_env("SYNAPSE_STATE_ROOT"), *old_d = save_env("SYNAPSE_DATA_ROOT");
	char *root = test_path("store"), *state = test_path("s"), *data = test_path("d");
	char *cfg = test_path("s/config.json"), *rt = test_path("d/runtime.json"), *inroot = test_path("store/state");
	struct syn_registry *reg = test_registry();
	struct syn_store *st = NULL;
	json_t *report = NULL;

	setenv("SYNAPSE_STATE_ROOT", state, 1);
	setenv("SYNAPSE_DATA_ROOT", data, 1);
	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_msg(syn_store_init(st, false, &report) == 0, "init: %s", syn_error_last());
	ck_assert(json_is_true(json_object_get(report, "created")));
	ck_assert(test_exists(cfg));
	ck_assert(test_exists(rt));
	ck_assert(!test_exists(inroot));
	json_decref(report);
	syn_store_free(st);
	syn_registry_free(reg);
	restore_env("SYNAPSE_STATE_ROOT", old_s);
	restore_env("SYNAPSE_DATA_ROOT", old_d);
	free(root);
	free(state);
	free(data);
	free(cfg);
	free(rt);
	free(inroot);
}
END_TEST

/* ---- UI sets and kind maps --------------------------------------------------- */

START_TEST(test_ui_targets)
{
	static const char *const local[] = { "comfyui", "forge" };
	json_t *t = NULL;

	ck_assert_int_eq(syn_store_ui_targets(test_store, NULL, &t), 0);
	assert_strings(t, local, 2);
	json_decref(t);
	ck_assert_int_eq(syn_store_ui_targets(test_store, "all", &t), 0);
	assert_strings(t, known_uis, N_UIS);
	json_decref(t);
	ck_assert_int_eq(syn_store_ui_targets(test_store, "sdnext", &t), 0);
	assert_strings(t, &known_uis[3], 1);
	json_decref(t);
	t = (json_t *)1;
	ck_assert_int_eq(syn_store_ui_targets(test_store, "nope", &t), SYN_ENOTFOUND);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "nope"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "local"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "all"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "comfy_only"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "enabled UIs: a1111, comfyui, forge, sdnext"));
}
END_TEST

START_TEST(test_ui_targets_follow_config_default)
{
	json_t *cfg = load_config(), *t = NULL, *s;

	json_object_set_new(json_object_get(cfg, "defaults"), "ui_set", json_string("all"));
	save_config(cfg);
	json_decref(cfg);
	ck_assert_int_eq(syn_store_ui_targets(test_store, NULL, &t), 0);
	assert_strings(t, known_uis, N_UIS);
	json_decref(t);
	s = status();
	assert_strings(json_object_get(s, "ui_targets"), known_uis, N_UIS);
	ck_assert_uint_eq(json_object_size(json_object_get(s, "active")), N_UIS);
	json_decref(s);
}
END_TEST

START_TEST(test_kind_map_override)
{
	const struct syn_ui_layout *l = syn_registry_ui(test_reg, "comfyui");
	json_t *cfg = load_config(), *map = NULL;
	size_t n;

	json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "kind_map"), "comfyui",
			    json_pack("{s:s}", "lora", "models/my_loras"));
	save_config(cfg);
	json_decref(cfg);
	ck_assert_msg(syn_store_kind_map(test_store, "comfyui", &map) == 0, "%s", syn_error_last());
	assert_json_str(map, "lora", "models/my_loras");
	assert_json_str(map, "checkpoint", "models/checkpoints");
	assert_json_str(map, "embedding", "models/embeddings");
	for (n = 0; l->folders[n].kind; n++)
		;
	ck_assert_uint_eq(json_object_size(map), n);
	json_decref(map);
	/* other UIs are not affected */
	ck_assert_int_eq(syn_store_kind_map(test_store, "forge", &map), 0);
	assert_json_str(map, "lora", "models/Lora");
	json_decref(map);
}
END_TEST

START_TEST(test_kind_map_hostile_override)
{
	static const char *const bad[] = { "../../etc", "/etc", "models/../../x", "" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *cfg = load_config(), *map = (json_t *)1;

		json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "kind_map"), "comfyui",
				    json_pack("{s:s}", "lora", bad[i]));
		save_config(cfg);
		json_decref(cfg);
		ck_assert_msg(syn_store_kind_map(test_store, "comfyui", &map) == SYN_EINVALID, "'%s' accepted",
			      bad[i]);
		ck_assert_ptr_null(map);
		ck_assert_msg(strstr(syn_error_last(), "kind_map") != NULL, "message: %s", syn_error_last());
	}
}
END_TEST

/* ---- backend ------------------------------------------------------------------ */

START_TEST(test_backend_found)
{
	struct syn_backend *be = NULL, *again = NULL;

	ck_assert_msg(syn_store_backend(test_store, &be) == 0, "%s", syn_error_last());
	ck_assert_ptr_nonnull(be);
	ck_assert_int_eq(syn_store_backend(test_store, &again), 0);
	ck_assert_ptr_eq(be, again);
}
END_TEST

START_TEST(test_backend_missing_plugin)
{
	struct syn_registry *reg;
	struct syn_store *st;
	struct syn_backend *be = (struct syn_backend *)1;
	char *root = test_path("store");

	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_int_eq(syn_store_backend(st, &be), SYN_ENOTFOUND);
	ck_assert_ptr_null(be);
	ck_assert_msg(strstr(syn_error_last(), "plugins") != NULL, "message: %s", syn_error_last());
	ck_assert_msg(strstr(syn_error_last(), "local") != NULL, "message: %s", syn_error_last());
	syn_store_free(st);
	syn_registry_free(reg);
	free(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");

	TEST(s, test_fresh_root_not_initialized, tmp_setup, tmp_teardown);
	TEST(s, test_init_layout, store_setup, store_teardown);
	TEST(s, test_init_config_document, store_setup, store_teardown);
	TEST(s, test_init_ui_sets_document, store_setup, store_teardown);
	TEST(s, test_init_profile_and_runtime, store_setup, store_teardown);
	TEST(s, test_init_kind_map_from_plugins, store_setup, store_teardown);
	TEST(s, test_init_documents_canonical, store_setup, store_teardown);
	TEST(s, test_init_empty_global_views, store_setup, store_teardown);
	TEST(s, test_status_fresh, store_setup, store_teardown);
	TEST(s, test_status_reports_disagreement, store_setup, store_teardown);
	TEST(s, test_status_reports_missing_view, store_setup, store_teardown);
	TEST(s, test_status_missing_blobs_and_unresolved, store_setup, store_teardown);
	TEST(s, test_init_twice_keeps_user_edits, store_setup, store_teardown);
	TEST(s, test_reinit_commit_names_command, store_setup, store_teardown);
	TEST(s, test_init_force_repairs, store_setup, store_teardown);
	TEST(s, test_init_force_keeps_every_corrupt_copy, store_setup, store_teardown);
	TEST(s, test_init_force_reports_move_on_partial_store, store_setup, store_teardown);
	TEST(s, test_corrupt_config_reported, store_setup, store_teardown);
	TEST(s, test_root_from_env, tmp_setup, tmp_teardown);
	TEST(s, test_root_default_under_home, tmp_setup, tmp_teardown);
	TEST(s, test_root_relative_made_absolute, tmp_setup, tmp_teardown);
	TEST(s, test_root_tilde_expands_home, tmp_setup, tmp_teardown);
	TEST(s, test_root_halves_overridden, tmp_setup, tmp_teardown);
	TEST(s, test_init_with_split_halves, tmp_setup, tmp_teardown);
	TEST(s, test_ui_targets, store_setup, store_teardown);
	TEST(s, test_ui_targets_follow_config_default, store_setup, store_teardown);
	TEST(s, test_kind_map_override, store_setup, store_teardown);
	TEST(s, test_kind_map_hostile_override, store_setup, store_teardown);
	TEST(s, test_backend_found, store_setup, store_teardown);
	TEST(s, test_backend_missing_plugin, tmp_setup, tmp_teardown);
	return test_main(s);
}
