/*
 * End-to-end: `synapse check-updates` and `synapse update` against the fake
 * Civitai, asserting what a user sees: the plans, the locks, the blobs, the
 * views, the history.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fake_civitai.h"

extern char **environ;

static struct fake_civitai *fake;
static char env_url[256];
static const char *env[8];

static void setup(void)
{
	tmp_setup();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, 128 * 1024), 0);
	snprintf(env_url, sizeof(env_url), "SYNAPSE_CIVITAI_URL=%s", fake_civitai_url(fake));
	env[0] = env_url;
	env[1] = "SYNAPSE_CIVITAI_RETRY_MS=5";
	env[2] = "SYNAPSE_CIVITAI_STALL_TIMEOUT=1";
	env[3] = "CIVITAI_API_TOKEN=";
	env[4] = NULL;
	unsetenv("CIVITAI_API_TOKEN");
	unsetenv("CIVITAI_API_KEY");
}

static void teardown(void)
{
	fake_civitai_stop(fake);
	tmp_teardown();
}

#define RUN(...) test_cli((const char *const[]){ __VA_ARGS__, NULL }, env)

/* Run a command that must succeed; its result. */
#define RUN_OK(...) run_ok((const char *const[]){ __VA_ARGS__, NULL })

static struct test_run run_ok(const char *const *args)
{
	struct test_run r = test_cli(args, env);

	ck_assert_msg(r.status == 0, "synapse %s %s failed (%d): %s%s", args[0], args[1] ? args[1] : "", r.status,
		      r.err, r.out);
	return r;
}

static void run_ok_free(const char *const *args)
{
	struct test_run r = run_ok(args);

	test_run_free(&r);
}

#define DO(...) run_ok_free((const char *const[]){ __VA_ARGS__, NULL })

static json_t *parse_out(const struct test_run *r)
{
	json_error_t err;
	json_t *doc = json_loads(r->out, 0, &err);

	ck_assert_msg(doc, "stdout is not one JSON document (%s): %s (stderr: %s)", err.text, r->out, r->err);
	return doc;
}

/* ---- Civitai-shaped models ------------------------------------------------- */

static json_t *mfile(json_int_t id, const char *name, bool primary, const char *fp)
{
	json_t *f = json_pack("{s:I, s:s, s:f, s:b, s:s, s:{s:s, s:s}}", "id", id, "name", name, "sizeKB", 128.0,
			      "primary", primary, "type", "Model", "metadata", "format", "SafeTensor", "fp", fp);

	ck_assert_ptr_nonnull(f);
	return f;
}

/* A version with the files @files (stolen). */
static json_t *mversion(json_int_t id, const char *name, const char *base, bool early, json_t *files)
{
	json_t *v = json_pack("{s:I, s:s, s:s, s:[], s:s, s:o, s:[]}", "id", id, "name", name, "baseModel", base,
			      "trainedWords", "availability", early ? "EarlyAccess" : "Public", "files", files,
			      "images");

	ck_assert_ptr_nonnull(v);
	return v;
}

/* A version with one primary fp16 file. */
static json_t *mversion1(json_int_t id, const char *name, const char *base, bool early, json_int_t fid,
			 const char *fname)
{
	return mversion(id, name, base, early, json_pack("[o]", mfile(fid, fname, true, "fp16")));
}

/* Add or replace LoRA model @id with @versions (an array, newest first, stolen). */
static void publish(json_int_t id, const char *name, json_t *versions)
{
	json_t *m = json_pack("{s:I, s:s, s:s, s:o}", "id", id, "name", name, "type", "LORA", "modelVersions",
			      versions);

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(fake_civitai_add_model(fake, m), 0);
	json_decref(m);
}

/* The fake's SHA-256 of file @fid, in a static buffer of @slot (0..3). */
static const char *sha_of(json_int_t fid, int slot)
{
	static char hex[4][65];
	const unsigned char *body;
	size_t len;

	ck_assert(fake_civitai_file(fake, fid, &body, &len, hex[slot]));
	return hex[slot];
}

/* ---- the store as a user would look at it -------------------------------- */

static char *read_rel(const char *rel)
{
	char *p = test_path(rel), *s = test_read_file(p, NULL);

	free(p);
	return s;
}

static char *lock_text(const char *pack)
{
	char rel[256];
	char *s;

	snprintf(rel, sizeof(rel), "store/state/packs/%s/lock.json", pack);
	s = read_rel(rel);
	ck_assert_msg(s, "no %s", rel);
	return s;
}

static char *pack_text(const char *pack)
{
	char rel[256];
	char *s;

	snprintf(rel, sizeof(rel), "store/state/packs/%s/pack.json", pack);
	s = read_rel(rel);
	ck_assert_msg(s, "no %s", rel);
	return s;
}

static json_t *load_text(const char *s)
{
	json_error_t err;
	json_t *doc = json_loads(s, 0, &err);

	ck_assert_msg(doc, "not JSON (%s): %s", err.text, s);
	return doc;
}

/* The lock artifact of dependency @dep of @pack (a new reference). */
static json_t *lock_artifact(const char *pack, const char *dep)
{
	char *s = lock_text(pack);
	json_t *lock = load_text(s), *e, *art = NULL;
	size_t i;

	json_array_foreach(json_object_get(lock, "resolved"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "dependency_id")) ?: "", dep))
			art = json_incref(json_object_get(e, "artifact"));
	ck_assert_msg(art, "lock of %s has no artifact for %s: %s", pack, dep, s);
	json_decref(lock);
	free(s);
	return art;
}

/* The dependency of @pack's lock whose artifact is file @fid (a static string). */
static const char *dep_of_file(const char *pack, json_int_t fid)
{
	static char id[128];
	char *s = lock_text(pack);
	json_t *lock = load_text(s), *e;
	size_t i;

	id[0] = '\0';
	json_array_foreach(json_object_get(lock, "resolved"), i, e)
		if (json_integer_value(json_object_get(json_object_get(json_object_get(e, "artifact"), "provider"),
						       "file_id")) == fid)
			snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(e, "dependency_id")));
	ck_assert_msg(id[0], "lock of %s holds no file %lld: %s", pack, (long long)fid, s);
	json_decref(lock);
	free(s);
	return id;
}

static void assert_artifact(const char *pack, const char *dep, json_int_t vid, json_int_t fid, const char *fname)
{
	json_t *art = lock_artifact(pack, dep), *prov = json_object_get(art, "provider");

	ck_assert_int_eq(json_integer_value(json_object_get(prov, "version_id")), vid);
	ck_assert_int_eq(json_integer_value(json_object_get(prov, "file_id")), fid);
	ck_assert_str_eq(json_string_value(json_object_get(prov, "filename")), fname);
	ck_assert_str_eq(json_string_value(json_object_get(art, "sha256")), sha_of(fid, 3));
	json_decref(art);
}

static char *blob_path(const char *sha)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "store/data/blobs/sha256/%c%c/%s", sha[0], sha[1], sha);
	return test_path(rel);
}

static bool blob_exists(const char *sha)
{
	char *p = blob_path(sha);
	bool ok = test_exists(p);

	free(p);
	return ok;
}

static size_t commits(void)
{
	struct test_run r = RUN_OK("history", "--json");
	json_t *doc = parse_out(&r);
	size_t n = json_array_size(json_object_get(doc, "commits"));

	ck_assert_uint_gt(n, 0);
	json_decref(doc);
	test_run_free(&r);
	return n;
}

/* The plan of @pack from `check-updates --json` (a new reference). */
static json_t *plan_of(const char *pack)
{
	struct test_run r = RUN("check-updates", "--json");
	json_t *doc, *plan;

	ck_assert_msg(r.status == 0, "check-updates failed (%d): %s", r.status, r.err);
	doc = parse_out(&r);
	plan = json_incref(json_object_get(json_object_get(doc, "plans"), pack));
	ck_assert_msg(plan, "no plan for %s: %s", pack, r.out);
	json_decref(doc);
	test_run_free(&r);
	return plan;
}

static const char *status_of(const json_t *plan)
{
	return json_string_value(json_object_get(plan, "status")) ?: "";
}

static size_t count(const json_t *plan, const char *list)
{
	return json_array_size(json_object_get(plan, list));
}

/* Every UI is in sync and no blob is missing. */
static void assert_all_in_sync(void)
{
	struct test_run r = RUN("status", "--json");
	json_t *doc = parse_out(&r), *v;
	const char *ui;

	ck_assert_uint_gt(json_object_size(json_object_get(doc, "in_sync")), 0);
	json_object_foreach(json_object_get(doc, "in_sync"), ui, v)
		ck_assert_msg(json_is_true(v), "%s not in sync: %s", ui, r.out);
	ck_assert_msg(json_array_size(json_object_get(doc, "missing_blobs")) == 0, "missing blobs: %s", r.out);
	json_decref(doc);
	test_run_free(&r);
}

/* A new store, every UI enabled. */
static void init_store(void)
{
	DO("store", "init");
}

/* ---- 1. a plain update ------------------------------------------------------ */

START_TEST(single_file_update)
{
	const char *old_sha, *new_sha;
	struct test_run r;
	json_t *plan, *c, *doc, *pack, *d;
	char *lock_before, *lock_after, *pack_before, *pack_after, *blob;
	const char *exposed = NULL;
	size_t i;

	publish(7001, "Solo", json_pack("[o]", mversion1(70011, "v1", "SD 1.5", false, 700111, "solo_v1.safetensors")));
	init_store();
	DO("import", "civitai:7001");
	DO("install", "Solo");
	old_sha = sha_of(700111, 0);
	ck_assert(blob_exists(old_sha));
	lock_before = lock_text("Solo");
	assert_artifact("Solo", "main_lora", 70011, 700111, "solo_v1.safetensors");
	plan = plan_of("Solo");
	ck_assert_str_eq(status_of(plan), "up_to_date");
	json_decref(plan);

	publish(7001, "Solo", json_pack("[o, o]",
		mversion1(70012, "v2", "SD 1.5", false, 700121, "solo_v2.safetensors"),
		mversion1(70011, "v1", "SD 1.5", false, 700111, "solo_v1.safetensors")));
	new_sha = sha_of(700121, 1);
	plan = plan_of("Solo");
	ck_assert_msg(!strcmp(status_of(plan), "updates"), "plan: %s", json_dumps(plan, 0));
	ck_assert(json_is_false(json_object_get(plan, "already_up_to_date")));
	ck_assert_uint_eq(count(plan, "changes"), 1);
	ck_assert_uint_eq(count(plan, "held") + count(plan, "ambiguous") + count(plan, "errors"), 0);
	c = json_array_get(json_object_get(plan, "changes"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(c, "dependency_id")), "main_lora");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(c, "new"), "provider_version_id")), 70012);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(c, "new"), "provider_file_id")), 700121);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "new"), "sha256")), new_sha);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "new"), "filename")),
			 "solo_v2.safetensors");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "old"), "sha256")), old_sha);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(c, "old"), "provider_file_id")), 700111);
	ck_assert(json_is_false(json_object_get(c, "base_model_changed")));
	ck_assert(json_is_false(json_object_get(c, "early_access")));
	json_decref(plan);

	/* the text names the pack and both versions */
	r = RUN_OK("check-updates");
	ck_assert_msg(strstr(r.out, "Solo") && strstr(r.out, "v1 (70011)") && strstr(r.out, "v2 (70012)"),
		      "check-updates: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "solo_v2.safetensors"));
	test_run_free(&r);
	r = RUN_OK("check-updates", "Solo");
	ck_assert_msg(strstr(r.out, "Solo") && strstr(r.out, "v1 (70011)") && strstr(r.out, "v2 (70012)"),
		      "check-updates Solo: %s", r.out);
	test_run_free(&r);

	/* checking changed nothing */
	lock_after = lock_text("Solo");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	pack_before = pack_text("Solo");

	r = RUN_OK("update", "Solo", "--json");
	doc = parse_out(&r);
	ck_assert(json_is_true(json_object_get(doc, "applied")));
	ck_assert(json_is_true(json_object_get(doc, "lock_updated")));
	ck_assert(json_is_false(json_object_get(doc, "synced")));
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "replaced")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(doc, "replaced"), 0),
							   "sha256")), old_sha);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(doc, "replaced"), 0),
							   "dependency_id")), "main_lora");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "missing")), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "missing"), 0)), new_sha);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "next")), "synapse install Solo");
	json_decref(doc);
	test_run_free(&r);

	assert_artifact("Solo", "main_lora", 70012, 700121, "solo_v2.safetensors");
	pack_after = pack_text("Solo");
	ck_assert_str_eq(pack_after, pack_before);
	pack = load_text(pack_after);
	json_array_foreach(json_object_get(pack, "dependencies"), i, d)
		if (!strcmp(json_string_value(json_object_get(d, "id")) ?: "", "main_lora"))
			exposed = json_string_value(json_object_get(json_object_get(d, "expose"), "filename"));
	ck_assert_str_eq(exposed ?: "(none)", "solo_v1.safetensors");
	json_decref(pack);
	r = RUN_OK("history", "--limit", "1");
	ck_assert_msg(strstr(r.out, "update Solo"), "history: %s", r.out);
	test_run_free(&r);
	/* the replaced blob stays, the new one is not there yet */
	blob = blob_path(old_sha);
	ck_assert(test_exists(blob));
	free(blob);
	ck_assert(!blob_exists(new_sha));

	plan = plan_of("Solo");
	ck_assert_str_eq(status_of(plan), "up_to_date");
	ck_assert(json_is_true(json_object_get(plan, "already_up_to_date")));
	ck_assert_uint_eq(count(plan, "changes") + count(plan, "held") + count(plan, "ambiguous"), 0);
	json_decref(plan);

	/* and the install the report names brings it */
	DO("install", "Solo");
	ck_assert(blob_exists(new_sha));
	free(lock_before);
	free(pack_before);
	free(pack_after);
}
END_TEST

/* ---- 2. several candidate files ---------------------------------------------- */

static void publish_twin(void)
{
	publish(7002, "Twin", json_pack("[o, o]",
		mversion(70022, "v2", "SD 1.5", false, json_pack("[o, o]",
			 mfile(700221, "twin_fp16.safetensors", false, "fp16"),
			 mfile(700222, "twin_fp32.safetensors", false, "fp32"))),
		mversion1(70021, "v1", "SD 1.5", false, 700211, "twin.safetensors")));
}

START_TEST(ambiguous_update_needs_a_choice)
{
	struct test_run r;
	json_t *plan, *a, *cand, *doc;
	char *lock_before, *lock_after;
	size_t i;

	publish(7002, "Twin", json_pack("[o]", mversion1(70021, "v1", "SD 1.5", false, 700211, "twin.safetensors")));
	init_store();
	DO("import", "civitai:7002");
	publish_twin();

	plan = plan_of("Twin");
	ck_assert_msg(!strcmp(status_of(plan), "needs_choice"), "plan: %s", json_dumps(plan, 0));
	ck_assert_uint_eq(count(plan, "changes"), 0);
	ck_assert_uint_eq(count(plan, "ambiguous"), 1);
	a = json_array_get(json_object_get(plan, "ambiguous"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a, "dependency_id")), "main_lora");
	ck_assert_uint_eq(json_array_size(json_object_get(a, "candidates")), 2);
	json_array_foreach(json_object_get(a, "candidates"), i, cand) {
		json_int_t id = json_integer_value(json_object_get(cand, "file_id"));

		ck_assert(id == 700221 || id == 700222);
		ck_assert_str_eq(json_string_value(json_object_get(cand, "name")),
				 id == 700221 ? "twin_fp16.safetensors" : "twin_fp32.safetensors");
		ck_assert_str_eq(json_string_value(json_object_get(cand, "format")), "SafeTensor");
		ck_assert_str_eq(json_string_value(json_object_get(cand, "precision")), id == 700221 ? "fp16" : "fp32");
		ck_assert_int_gt(json_integer_value(json_object_get(cand, "size_bytes")), 0);
	}
	ck_assert_int_ne(json_integer_value(json_object_get(json_array_get(json_object_get(a, "candidates"), 0),
							    "file_id")),
			 json_integer_value(json_object_get(json_array_get(json_object_get(a, "candidates"), 1),
							    "file_id")));
	json_decref(plan);

	lock_before = lock_text("Twin");
	r = RUN("update", "Twin");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "700221") && strstr(r.err, "700222") && strstr(r.err, "--choose"),
		      "stderr: %s", r.err);
	test_run_free(&r);
	lock_after = lock_text("Twin");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);

	/* a file that is not a candidate is refused, listing the candidates */
	r = RUN("update", "Twin", "--choose", "main_lora=700211");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "700221") && strstr(r.err, "700222"), "stderr: %s", r.err);
	test_run_free(&r);
	r = RUN("update", "Twin", "--choose", "main_lora=999999");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "700221") && strstr(r.err, "700222"), "stderr: %s", r.err);
	test_run_free(&r);
	lock_after = lock_text("Twin");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);

	r = RUN_OK("update", "Twin", "--choose", "main_lora=700222", "--json");
	doc = parse_out(&r);
	ck_assert(json_is_true(json_object_get(doc, "applied")));
	json_decref(doc);
	test_run_free(&r);
	assert_artifact("Twin", "main_lora", 70022, 700222, "twin_fp32.safetensors");
	plan = plan_of("Twin");
	ck_assert_str_eq(status_of(plan), "up_to_date");
	json_decref(plan);
	free(lock_before);
}
END_TEST

/* ---- 3. a pack of two versions of one model ---------------------------------- */

START_TEST(multi_version_pack_updates_only_the_continued_file)
{
	const char *dep_a, *dep_b;
	char a[128], b[128];
	json_t *plan, *c;

	publish(7003, "Multi", json_pack("[o, o]",
		mversion1(70032, "B", "SD 1.5", false, 700321, "multi_b.safetensors"),
		mversion1(70031, "A", "SD 1.5", false, 700311, "multi_a.safetensors")));
	init_store();
	DO("import", "civitai:7003", "--version", "70031", "--version", "70032");
	dep_a = dep_of_file("Multi", 700311);
	snprintf(a, sizeof(a), "%s", dep_a);
	dep_b = dep_of_file("Multi", 700321);
	snprintf(b, sizeof(b), "%s", dep_b);
	ck_assert_str_ne(a, b);

	/* B is the newest version, but the pack holds it already: no update of A */
	plan = plan_of("Multi");
	ck_assert_msg(!strcmp(status_of(plan), "up_to_date"), "plan: %s", json_dumps(plan, 0));
	ck_assert_uint_eq(count(plan, "changes") + count(plan, "held") + count(plan, "ambiguous") +
			  count(plan, "errors"), 0);
	json_decref(plan);

	publish(7003, "Multi", json_pack("[o, o, o]",
		mversion1(70033, "C", "SD 1.5", false, 700331, "multi_b_v3.safetensors"),
		mversion1(70032, "B", "SD 1.5", false, 700321, "multi_b.safetensors"),
		mversion1(70031, "A", "SD 1.5", false, 700311, "multi_a.safetensors")));
	plan = plan_of("Multi");
	ck_assert_msg(!strcmp(status_of(plan), "updates"), "plan: %s", json_dumps(plan, 0));
	ck_assert_uint_eq(count(plan, "changes"), 1);
	ck_assert_uint_eq(count(plan, "held") + count(plan, "ambiguous") + count(plan, "errors"), 0);
	c = json_array_get(json_object_get(plan, "changes"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(c, "dependency_id")), b);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(c, "new"), "provider_file_id")), 700331);
	json_decref(plan);

	DO("update", "Multi");
	assert_artifact("Multi", b, 70033, 700331, "multi_b_v3.safetensors");
	assert_artifact("Multi", a, 70031, 700311, "multi_a.safetensors");
}
END_TEST

/* ---- 4, 5. held updates ------------------------------------------------------ */

START_TEST(base_model_change_is_held)
{
	struct test_run r;
	json_t *plan, *h, *doc;
	char *lock_before, *lock_after;

	publish(7004, "Basey", json_pack("[o]", mversion1(70041, "v1", "SD 1.5", false, 700411,
							  "basey_v1.safetensors")));
	init_store();
	DO("import", "civitai:7004");
	publish(7004, "Basey", json_pack("[o, o]",
		mversion1(70042, "v2", "SDXL 1.0", false, 700421, "basey_v2.safetensors"),
		mversion1(70041, "v1", "SD 1.5", false, 700411, "basey_v1.safetensors")));

	plan = plan_of("Basey");
	ck_assert_msg(!strcmp(status_of(plan), "needs_choice"), "plan: %s", json_dumps(plan, 0));
	ck_assert_uint_eq(count(plan, "changes"), 0);
	ck_assert_uint_eq(count(plan, "held"), 1);
	h = json_array_get(json_object_get(plan, "held"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(h, "reason")), "base_model_changed");
	ck_assert(json_is_true(json_object_get(h, "base_model_changed")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(h, "new"), "provider_file_id")), 700421);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(h, "message")) ?: "", "SDXL 1.0"));
	json_decref(plan);

	lock_before = lock_text("Basey");
	r = RUN("update", "Basey");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "nothing was changed") && strstr(r.err, "700421"), "stderr: %s", r.err);
	test_run_free(&r);
	lock_after = lock_text("Basey");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);

	r = RUN_OK("update", "Basey", "--choose", "main_lora=700421", "--json");
	doc = parse_out(&r);
	ck_assert(json_is_true(json_object_get(doc, "applied")));
	json_decref(doc);
	test_run_free(&r);
	assert_artifact("Basey", "main_lora", 70042, 700421, "basey_v2.safetensors");
	free(lock_before);
}
END_TEST

START_TEST(early_access_is_held)
{
	struct test_run r;
	json_t *plan, *h;
	char *lock_before, *lock_after;

	publish(7005, "Early", json_pack("[o]", mversion1(70051, "v1", "SD 1.5", false, 700511,
							  "early_v1.safetensors")));
	init_store();
	DO("import", "civitai:7005");
	publish(7005, "Early", json_pack("[o, o]",
		mversion1(70052, "v2", "SD 1.5", true, 700521, "early_v2.safetensors"),
		mversion1(70051, "v1", "SD 1.5", false, 700511, "early_v1.safetensors")));

	plan = plan_of("Early");
	ck_assert_msg(!strcmp(status_of(plan), "needs_choice"), "plan: %s", json_dumps(plan, 0));
	ck_assert_uint_eq(count(plan, "changes"), 0);
	ck_assert_uint_eq(count(plan, "held"), 1);
	h = json_array_get(json_object_get(plan, "held"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(h, "reason")), "early_access");
	ck_assert(json_is_true(json_object_get(h, "early_access")));
	ck_assert(json_is_false(json_object_get(h, "base_model_changed")));
	json_decref(plan);

	lock_before = lock_text("Early");
	r = RUN("update", "Early");
	ck_assert_int_eq(r.status, 1);
	test_run_free(&r);
	lock_after = lock_text("Early");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	free(lock_before);
}
END_TEST

/* ---- 6. deleted upstream ------------------------------------------------------ */

START_TEST(model_deleted_upstream_is_an_error)
{
	struct test_run r;
	json_t *plan;
	const char *err;
	char *lock_before, *lock_after;

	publish(7006, "Orphan", json_pack("[o]", mversion1(70061, "v1", "SD 1.5", false, 700611,
							   "orphan_v1.safetensors")));
	init_store();
	DO("import", "civitai:7006");
	ck_assert_int_eq(fake_civitai_remove_model(fake, 7006), 0);

	plan = plan_of("Orphan");
	ck_assert_msg(!strcmp(status_of(plan), "error"), "plan: %s", json_dumps(plan, 0));
	ck_assert(json_is_false(json_object_get(plan, "already_up_to_date")));
	ck_assert_uint_eq(count(plan, "errors"), 1);
	err = json_string_value(json_object_get(json_array_get(json_object_get(plan, "errors"), 0), "error")) ?: "";
	ck_assert_msg(strstr(err, "not found") || strstr(err, "deleted") || strstr(err, "404"), "error: %s", err);
	ck_assert_msg(strstr(err, "7006"), "error names no model: %s", err);
	json_decref(plan);

	r = RUN("check-updates", "Orphan");
	ck_assert_ptr_null(strstr(r.out, "up to date"));
	ck_assert_ptr_nonnull(strstr(r.out, "Orphan"));
	test_run_free(&r);

	lock_before = lock_text("Orphan");
	r = RUN("update", "Orphan");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "Orphan"));
	test_run_free(&r);
	lock_after = lock_text("Orphan");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	free(lock_before);
}
END_TEST

/* ---- 7. every pack at once ---------------------------------------------------- */

START_TEST(update_all_applies_the_plain_ones_in_one_commit)
{
	static const char *const names[] = { "Plain", "Ambig", "Held", "Steady", "Gone" };
	struct test_run r;
	json_t *doc, *res, *results;
	char *before[5], *after;
	size_t n0, i;

	publish(7101, "Plain", json_pack("[o]", mversion1(71011, "v1", "SD 1.5", false, 710111, "plain_v1.safetensors")));
	publish(7102, "Ambig", json_pack("[o]", mversion1(71021, "v1", "SD 1.5", false, 710211, "ambig.safetensors")));
	publish(7103, "Held", json_pack("[o]", mversion1(71031, "v1", "SD 1.5", false, 710311, "held_v1.safetensors")));
	publish(7104, "Steady", json_pack("[o]", mversion1(71041, "v1", "SD 1.5", false, 710411,
							   "steady_v1.safetensors")));
	publish(7105, "Gone", json_pack("[o]", mversion1(71051, "v1", "SD 1.5", false, 710511, "gone_v1.safetensors")));
	init_store();
	DO("import", "civitai:7101");
	DO("import", "civitai:7102");
	DO("import", "civitai:7103");
	DO("import", "civitai:7104");
	DO("import", "civitai:7105");

	publish(7101, "Plain", json_pack("[o, o]",
		mversion1(71012, "v2", "SD 1.5", false, 710121, "plain_v2.safetensors"),
		mversion1(71011, "v1", "SD 1.5", false, 710111, "plain_v1.safetensors")));
	publish(7102, "Ambig", json_pack("[o, o]",
		mversion(71022, "v2", "SD 1.5", false, json_pack("[o, o]",
			 mfile(710221, "ambig_fp16.safetensors", false, "fp16"),
			 mfile(710222, "ambig_fp32.safetensors", false, "fp32"))),
		mversion1(71021, "v1", "SD 1.5", false, 710211, "ambig.safetensors")));
	publish(7103, "Held", json_pack("[o, o]",
		mversion1(71032, "v2", "SDXL 1.0", false, 710321, "held_v2.safetensors"),
		mversion1(71031, "v1", "SD 1.5", false, 710311, "held_v1.safetensors")));
	ck_assert_int_eq(fake_civitai_remove_model(fake, 7105), 0);
	for (i = 0; i < 5; i++)
		before[i] = lock_text(names[i]);
	n0 = commits();

	/* a dry run says what would happen and changes nothing */
	r = RUN("update", "--all", "--dry-run", "--json");
	ck_assert_msg(r.status == 1, "update --all --dry-run: %d %s", r.status, r.err);
	doc = parse_out(&r);
	ck_assert(json_is_string(json_object_get(doc, "detail")));
	res = json_object_get(doc, "result");
	ck_assert_msg(res, "no result: %s", r.out);
	ck_assert(json_is_true(json_object_get(res, "dry_run")));
	results = json_object_get(res, "results");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(results, "Plain"), "status")), "would_apply");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(results, "Ambig"), "status")), "skipped");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(results, "Held"), "status")), "skipped");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(results, "Steady"), "status")), "up_to_date");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(results, "Gone"), "status")), "failed");
	json_decref(doc);
	test_run_free(&r);
	for (i = 0; i < 5; i++) {
		after = lock_text(names[i]);
		ck_assert_msg(!strcmp(after, before[i]), "dry run changed the lock of %s", names[i]);
		free(after);
	}
	ck_assert_uint_eq(commits(), n0);

	r = RUN("update", "--all", "--json");
	ck_assert_msg(r.status == 1, "update --all: %d %s", r.status, r.err);
	doc = parse_out(&r);
	ck_assert_msg(strstr(json_string_value(json_object_get(doc, "detail")) ?: "", "Gone"), "detail: %s", r.out);
	res = json_object_get(doc, "result");
	ck_assert_msg(res, "no result: %s", r.out);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_applied")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_skipped")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_failed")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_up_to_date")), 1);
	ck_assert(json_is_false(json_object_get(res, "dry_run")));
	results = json_object_get(res, "results");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(results, "Plain"), "status")), "applied");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(results, "Gone"), "status")), "failed");
	/* the skipped ones say how to take them */
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(results, "Ambig"), "reason")) ?: "",
				     "--choose"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(results, "Held"), "reason")) ?: "",
				     "710321"));
	json_decref(doc);
	test_run_free(&r);

	assert_artifact("Plain", "main_lora", 71012, 710121, "plain_v2.safetensors");
	for (i = 1; i < 5; i++) {
		after = lock_text(names[i]);
		ck_assert_msg(!strcmp(after, before[i]), "update --all changed the lock of %s", names[i]);
		free(after);
	}
	ck_assert_uint_eq(commits(), n0 + 1);
	r = RUN_OK("history", "--limit", "1");
	ck_assert_msg(strstr(r.out, "update Plain"), "history: %s", r.out);
	test_run_free(&r);

	/* choices settle the skipped ones, per pack, in one more commit */
	r = RUN("update", "--all", "--choose", "Ambig:main_lora=710221", "--choose", "Held:main_lora=710321", "--json");
	ck_assert_msg(r.status == 1, "update --all --choose: %d %s", r.status, r.err);
	doc = parse_out(&r);
	res = json_object_get(doc, "result");
	ck_assert_msg(res, "no result: %s", r.out);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_applied")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_skipped")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_failed")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "total_up_to_date")), 2);
	json_decref(doc);
	test_run_free(&r);
	assert_artifact("Ambig", "main_lora", 71022, 710221, "ambig_fp16.safetensors");
	assert_artifact("Held", "main_lora", 71032, 710321, "held_v2.safetensors");
	after = lock_text("Steady");
	ck_assert_str_eq(after, before[3]);
	free(after);
	ck_assert_uint_eq(commits(), n0 + 2);
	r = RUN_OK("history", "--limit", "1");
	ck_assert_msg(strstr(r.out, "update 2 packs: ") && strstr(r.out, "Ambig") && strstr(r.out, "Held"),
		      "history: %s", r.out);
	test_run_free(&r);
	for (i = 0; i < 5; i++)
		free(before[i]);
}
END_TEST

/* ---- two dependencies that would end on one file -------------------------- */

START_TEST(two_dependencies_onto_one_file_both_need_a_choice)
{
	char a[128], b[128], choice[160];
	struct test_run r;
	json_t *plan, *e;
	char *lock_before, *lock_after;
	size_t i;

	/* version B's file continues A's name: both continue into C's */
	publish(7007, "Pair", json_pack("[o, o]",
		mversion1(70072, "B", "SD 1.5", false, 700721, "pair_v2.safetensors"),
		mversion1(70071, "A", "SD 1.5", false, 700711, "pair.safetensors")));
	init_store();
	DO("import", "civitai:7007", "--version", "70071", "--version", "70072");
	snprintf(a, sizeof(a), "%s", dep_of_file("Pair", 700711));
	snprintf(b, sizeof(b), "%s", dep_of_file("Pair", 700721));
	publish(7007, "Pair", json_pack("[o, o, o]",
		mversion1(70073, "C", "SD 1.5", false, 700731, "pair_v3.safetensors"),
		mversion1(70072, "B", "SD 1.5", false, 700721, "pair_v2.safetensors"),
		mversion1(70071, "A", "SD 1.5", false, 700711, "pair.safetensors")));

	plan = plan_of("Pair");
	ck_assert_msg(count(plan, "changes") == 0 && count(plan, "ambiguous") == 2,
		      "both dependencies would take file 700731: %s", json_dumps(plan, 0));
	ck_assert_str_eq(status_of(plan), "needs_choice");
	json_array_foreach(json_object_get(plan, "ambiguous"), i, e)
		ck_assert(!strcmp(json_string_value(json_object_get(e, "dependency_id")), a) ||
			  !strcmp(json_string_value(json_object_get(e, "dependency_id")), b));
	json_decref(plan);

	lock_before = lock_text("Pair");
	r = RUN("update", "Pair");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, a) && strstr(r.err, b), "stderr names not both dependencies: %s", r.err);
	test_run_free(&r);
	lock_after = lock_text("Pair");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	/* a choice for one leaves the other needing its own */
	snprintf(choice, sizeof(choice), "%s=700731", a);
	r = RUN("update", "Pair", "--choose", choice);
	ck_assert_msg(r.status == 1 && strstr(r.err, b), "a choice for %s also moved %s (%d): %s", a, b, r.status,
		      r.err);
	test_run_free(&r);
	lock_after = lock_text("Pair");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	free(lock_before);
}
END_TEST

/* ---- a dry run and a sync that fails change nothing ---------------------------- */

START_TEST(dry_run_and_failed_sync_change_nothing)
{
	struct test_run r;
	json_t *doc;
	char *lock_before, *lock_after;
	size_t n0;

	publish(7008, "Careful", json_pack("[o]", mversion1(70081, "v1", "SD 1.5", false, 700811,
							    "careful_v1.safetensors")));
	init_store();
	DO("import", "civitai:7008");
	DO("use", "Careful");
	publish(7008, "Careful", json_pack("[o, o]",
		mversion1(70082, "v2", "SD 1.5", false, 700821, "careful_v2.safetensors"),
		mversion1(70081, "v1", "SD 1.5", false, 700811, "careful_v1.safetensors")));
	lock_before = lock_text("Careful");
	n0 = commits();

	r = RUN_OK("update", "Careful", "--dry-run", "--json");
	doc = parse_out(&r);
	ck_assert(json_is_false(json_object_get(doc, "applied")));
	ck_assert(json_is_true(json_object_get(doc, "dry_run")));
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "changes")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_array_get(json_object_get(doc,
			 "changes"), 0), "new"), "provider_file_id")), 700821);
	json_decref(doc);
	test_run_free(&r);
	r = RUN_OK("update", "Careful", "--dry-run");
	ck_assert_msg(strstr(r.out, "Would update Careful"), "stdout: %s", r.out);
	test_run_free(&r);
	lock_after = lock_text("Careful");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	ck_assert_uint_eq(commits(), n0);

	/* the new file cannot be downloaded: the pack stays as it was */
	fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, 410, 0, -1);
	r = RUN("update", "Careful", "--sync");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "nothing was changed"), "stderr: %s", r.err);
	test_run_free(&r);
	lock_after = lock_text("Careful");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	ck_assert_uint_eq(commits(), n0);
	assert_all_in_sync();
	ck_assert(!blob_exists(sha_of(700821, 0)));

	/* unknown packs and missing arguments */
	r = RUN("update", "NoSuchPack");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "NoSuchPack"));
	test_run_free(&r);
	r = RUN("check-updates", "NoSuchPack");
	ck_assert_int_eq(r.status, 1);
	test_run_free(&r);
	r = RUN("update");
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
	r = RUN("update", "Careful", "--choose", "main_lora");
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
	free(lock_before);
}
END_TEST

/* ---- a choice for a pack that is not there --------------------------------- */

START_TEST(update_all_refuses_a_choice_for_an_unknown_pack)
{
	struct test_run r;
	char *lock_before, *lock_after;
	size_t n0;

	publish(7009, "Chosen", json_pack("[o]", mversion1(70091, "v1", "SD 1.5", false, 700911,
							   "chosen_v1.safetensors")));
	init_store();
	DO("import", "civitai:7009");
	publish(7009, "Chosen", json_pack("[o, o]",
		mversion1(70092, "v2", "SD 1.5", false, 700921, "chosen_v2.safetensors"),
		mversion1(70091, "v1", "SD 1.5", false, 700911, "chosen_v1.safetensors")));
	lock_before = lock_text("Chosen");
	n0 = commits();
	/* as `update Chosen --choose nodep=1` is refused, a choice naming no pack is not silently dropped */
	r = RUN("update", "--all", "--choose", "Chosne:main_lora=700921");
	ck_assert_msg(r.status != 0 && strstr(r.err, "Chosne"), "a choice for no pack was ignored (%d): %s%s",
		      r.status, r.out, r.err);
	test_run_free(&r);
	lock_after = lock_text("Chosen");
	ck_assert_str_eq(lock_after, lock_before);
	ck_assert_uint_eq(commits(), n0);
	free(lock_after);
	free(lock_before);
}
END_TEST

/* ---- 8. batched fetches ------------------------------------------------------ */

static void count_model_requests(size_t *lists, size_t *singles, char *single_path, size_t size)
{
	static struct fake_request reqs[256];
	size_t n = fake_civitai_requests(fake, reqs, 256), i;

	ck_assert_uint_le(n, 256);
	*lists = *singles = 0;
	single_path[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!strcmp(reqs[i].path, "/api/v1/models") || !strcmp(reqs[i].path, "/api/v1/models/")) {
			ck_assert_msg(strstr(reqs[i].query, "ids="), "a list request without ids: %s", reqs[i].query);
			(*lists)++;
		} else if (!strncmp(reqs[i].path, "/api/v1/models/", 15)) {
			(*singles)++;
			snprintf(single_path, size, "%s", reqs[i].path);
		}
	}
}

START_TEST(check_updates_fetches_models_in_one_batch)
{
	static const char *const names[] = { "BatchA", "BatchB", "BatchC" };
	size_t lists, singles, i;
	char path[256];
	json_t *plan;

	for (i = 0; i < 3; i++) {
		char fname[64], ref[32];

		snprintf(fname, sizeof(fname), "batch%zu_v1.safetensors", i);
		publish(7201 + (json_int_t)i, names[i], json_pack("[o]", mversion1(72010 + (json_int_t)i * 10 + 1, "v1",
			"SD 1.5", false, 720100 + (json_int_t)i * 100 + 11, fname)));
		if (i == 0)
			init_store();
		snprintf(ref, sizeof(ref), "civitai:%lld", (long long)(7201 + i));
		DO("import", ref);
	}

	fake_civitai_clear_requests(fake);
	for (i = 0; i < 3; i++) {
		plan = plan_of(names[i]);
		if (i == 0) {
			count_model_requests(&lists, &singles, path, sizeof(path));
			ck_assert_uint_eq(lists, 1);
			ck_assert_msg(singles == 0, "%zu single model request(s), e.g. %s", singles, path);
		}
		ck_assert_msg(!strcmp(status_of(plan), "up_to_date"), "plan: %s", json_dumps(plan, 0));
		json_decref(plan);
	}

	/* a model Civitai leaves out of lists is fetched alone, once, and its update is found */
	fake_civitai_hide_from_lists(fake, 7203, true);
	publish(7203, "BatchC", json_pack("[o, o]",
		mversion1(72032, "v2", "SD 1.5", false, 720322, "batch2_v2.safetensors"),
		mversion1(72031, "v1", "SD 1.5", false, 720311, "batch2_v1.safetensors")));
	fake_civitai_clear_requests(fake);
	plan = plan_of("BatchC");
	count_model_requests(&lists, &singles, path, sizeof(path));
	ck_assert_uint_eq(lists, 1);
	ck_assert_uint_eq(singles, 1);
	ck_assert_str_eq(path, "/api/v1/models/7203");
	ck_assert_msg(!strcmp(status_of(plan), "updates"), "plan: %s", json_dumps(plan, 0));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_array_get(json_object_get(plan,
			 "changes"), 0), "new"), "provider_file_id")), 720322);
	json_decref(plan);
	plan = plan_of("BatchA");
	ck_assert_str_eq(status_of(plan), "up_to_date");
	json_decref(plan);
}
END_TEST

/* ---- 9. views follow the update --------------------------------------------- */

static char *readlink_rel(const char *rel)
{
	char *p = test_path(rel), buf[4096];
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);

	free(p);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && !strcmp(s + a - b, tail);
}

START_TEST(views_follow_an_update_with_sync)
{
	const char *link_rel = "store/data/views/comfyui/active/models/loras/viewy_v1.safetensors";
	char other[64] = "", rel[256], *other_active_before, *other_active_after, *target, *dir;
	const char *new_sha, *ui;
	struct test_run r;
	json_t *doc, *v;

	publish(7301, "Viewy", json_pack("[o]", mversion1(73011, "v1", "SD 1.5", false, 730111,
							  "viewy_v1.safetensors")));
	init_store();
	DO("import", "civitai:7301", "--no-add-global");
	DO("install", "Viewy");
	DO("use", "Viewy", "--ui-set", "comfyui");
	target = readlink_rel(link_rel);
	ck_assert_msg(target, "no link %s", link_rel);
	ck_assert_msg(ends_with(target, sha_of(730111, 0)), "link points at %s", target);
	free(target);

	/* another enabled UI, still on the global profile */
	r = RUN_OK("status", "--json");
	doc = parse_out(&r);
	json_object_foreach(json_object_get(doc, "in_sync"), ui, v)
		if (strcmp(ui, "comfyui") && !other[0])
			snprintf(other, sizeof(other), "%s", ui);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "active"), "comfyui")),
			 "work__Viewy");
	json_decref(doc);
	test_run_free(&r);
	ck_assert_msg(other[0], "store init enabled only comfyui");
	snprintf(rel, sizeof(rel), "store/data/views/%s/active", other);
	other_active_before = readlink_rel(rel);
	ck_assert_ptr_nonnull(other_active_before);

	publish(7301, "Viewy", json_pack("[o, o]",
		mversion1(73012, "v2", "SD 1.5", false, 730121, "viewy_v2.safetensors"),
		mversion1(73011, "v1", "SD 1.5", false, 730111, "viewy_v1.safetensors")));
	new_sha = sha_of(730121, 1);
	r = RUN_OK("update", "Viewy", "--sync", "--json");
	doc = parse_out(&r);
	ck_assert(json_is_true(json_object_get(doc, "applied")));
	ck_assert(json_is_true(json_object_get(doc, "synced")));
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "missing")), 0);
	ck_assert(json_is_null(json_object_get(doc, "next")));
	json_decref(doc);
	test_run_free(&r);
	ck_assert(blob_exists(new_sha));

	/* the UI showing the pack sees the same name, now the new file */
	target = readlink_rel(link_rel);
	ck_assert_msg(target, "the link %s is gone", link_rel);
	ck_assert_msg(ends_with(target, new_sha), "link points at %s, not at %s", target, new_sha);
	free(target);
	/* the other UI never showed it and still does not */
	other_active_after = readlink_rel(rel);
	ck_assert_ptr_nonnull(other_active_after);
	ck_assert_str_eq(other_active_after, other_active_before);
	dir = test_path(rel);
	ck_assert_int_eq(test_count_named(dir, "viewy"), 0);
	free(dir);
	assert_all_in_sync();
	free(other_active_before);
	free(other_active_after);
}
END_TEST

/* ---- 10. killed in the middle of a download -------------------------------- */

/* Start the synapse binary with @args, as test_cli() does, without waiting. */
static pid_t spawn_cli(const char *const *args, const char *const *extra)
{
	char *out = test_path("bg.out"), *err = test_path("bg.err");
	pid_t pid = test_cli_spawn(args, extra, out, err);

	free(out);
	free(err);
	return pid;
}

START_TEST(kill_during_update_sync_leaves_the_pack_as_it_was)
{
	const char *long_env[] = { env_url, "SYNAPSE_CIVITAI_RETRY_MS=5", "SYNAPSE_CIVITAI_STALL_TIMEOUT=120",
				   "CIVITAI_API_TOKEN=", NULL };
	const char *new_sha;
	char part_rel[256], *part, *lock_before, *lock_after, *bg_err;
	struct timespec step = { 0, 20 * 1000 * 1000 };
	struct test_run r;
	int waited, status;
	pid_t pid;

	publish(7401, "Stally", json_pack("[o]", mversion1(74011, "v1", "SD 1.5", false, 740111,
							   "stally_v1.safetensors")));
	init_store();
	DO("import", "civitai:7401");
	DO("use", "Stally");
	assert_all_in_sync();
	publish(7401, "Stally", json_pack("[o, o]",
		mversion1(74012, "v2", "SD 1.5", false, 740121, "stally_v2.safetensors"),
		mversion1(74011, "v1", "SD 1.5", false, 740111, "stally_v1.safetensors")));
	new_sha = sha_of(740121, 1);
	lock_before = lock_text("Stally");

	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_STALL, 0, 50000, -1);
	pid = spawn_cli((const char *const[]){ "update", "Stally", "--sync", NULL }, long_env);
	snprintf(part_rel, sizeof(part_rel), "store/data/blobs/sha256/%c%c/%s.part", new_sha[0], new_sha[1], new_sha);
	part = test_path(part_rel);
	for (waited = 0; waited < 1500 && !test_exists(part); waited++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			bg_err = read_rel("bg.err");
			ck_abort_msg("update --sync ended (status %d) before its download began: %s", status,
				     bg_err ? bg_err : "");
		}
		nanosleep(&step, NULL);
	}
	bg_err = read_rel("bg.err");
	ck_assert_msg(test_exists(part), "no %s after 30 s; stderr: %s", part_rel, bg_err ? bg_err : "");
	free(bg_err);
	/* the download is under way: a few bytes, then nothing */
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	lock_after = lock_text("Stally");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);
	ck_assert(!blob_exists(new_sha));
	r = RUN("doctor", "--json");
	ck_assert_msg(r.status == 0, "doctor after the kill (%d): %s %s", r.status, r.out, r.err);
	test_run_free(&r);
	assert_all_in_sync();
	lock_after = lock_text("Stally");
	ck_assert_str_eq(lock_after, lock_before);
	free(lock_after);

	fake_civitai_clear_faults(fake);
	r = RUN_OK("update", "Stally", "--sync", "--json");
	test_run_free(&r);
	ck_assert(blob_exists(new_sha));
	ck_assert(!test_exists(part));
	assert_artifact("Stally", "main_lora", 74012, 740121, "stally_v2.safetensors");
	assert_all_in_sync();
	free(part);
	free(lock_before);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_update");

	TEST(s, single_file_update, setup, teardown);
	TEST(s, ambiguous_update_needs_a_choice, setup, teardown);
	TEST(s, multi_version_pack_updates_only_the_continued_file, setup, teardown);
	TEST(s, base_model_change_is_held, setup, teardown);
	TEST(s, early_access_is_held, setup, teardown);
	TEST(s, model_deleted_upstream_is_an_error, setup, teardown);
	TEST(s, two_dependencies_onto_one_file_both_need_a_choice, setup, teardown);
	TEST(s, dry_run_and_failed_sync_change_nothing, setup, teardown);
	TEST(s, update_all_applies_the_plain_ones_in_one_commit, setup, teardown);
	TEST(s, update_all_refuses_a_choice_for_an_unknown_pack, setup, teardown);
	TEST(s, check_updates_fetches_models_in_one_batch, setup, teardown);
	TEST(s, views_follow_an_update_with_sync, setup, teardown);
	TEST(s, kill_during_update_sync_leaves_the_pack_as_it_was, setup, teardown);
	return test_main(s);
}
