/* Tests of packs (fake Civitai, an in-memory source): import, resolve, install, delete, list, show, search. */
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fake_civitai.h"

static struct fake_civitai *fake;

static void pack_setup(void)
{
	store_setup();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, 256 * 1024), 0);
	setenv("SYNAPSE_CIVITAI_URL", fake_civitai_url(fake), 1);
	setenv("SYNAPSE_CIVITAI_RETRY_MS", "5", 1);
	setenv("SYNAPSE_CIVITAI_STALL_TIMEOUT", "1", 1);
	unsetenv("CIVITAI_API_TOKEN");
	unsetenv("CIVITAI_API_KEY");
}

static void pack_teardown(void)
{
	fake_civitai_stop(fake);
	fake = NULL;
	store_teardown();
}

/*
 * fork() with no other thread at work: the store handle opened anew (which
 * joins the threads the last command left) and the fake server idle, so
 * that the child inherits no allocator lock another thread held at that
 * instant (the sanitizers' allocator is not fork-safe).
 */
static pid_t fork_quietly(void)
{
	char *root = test_path("store");

	syn_store_free(test_store);
	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	free(root);
	fake_civitai_wait_idle(fake);
	return fork();
}

static char *model_url(long long id)
{
	char *u;

	ck_assert_int_ge(asprintf(&u, "%s/models/%lld", fake_civitai_url(fake), id), 0);
	return u;
}

static json_t *import_ok(const char *ref, const struct syn_import_options *o)
{
	json_t *report = NULL;
	int rc = syn_pack_import(test_store, ref, o, &report);

	ck_assert_msg(rc == 0, "import %s: %s", ref, syn_error_last());
	return report;
}

static json_t *read_doc(const char *rel)
{
	char *path = test_path(rel);
	json_error_t err;
	json_t *doc = json_load_file(path, 0, &err);

	ck_assert_msg(doc, "%s: %s", path, err.text);
	free(path);
	return doc;
}

static const char *sha_of_file(long long file_id, char hex[65])
{
	const unsigned char *body;
	size_t len;

	ck_assert(fake_civitai_file(fake, file_id, &body, &len, hex));
	return hex;
}

static char *blob_rel(const char *sha)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "store/data/blobs/sha256/%c%c/%s", sha[0], sha[1], sha), 0);
	return p;
}

static size_t count_requests(const char *prefix)
{
	struct fake_request reqs[256];
	size_t n = fake_civitai_requests(fake, reqs, 256), i, hits = 0;

	for (i = 0; i < n && i < 256; i++)
		if (!strncmp(reqs[i].path, prefix, strlen(prefix)))
			hits++;
	return hits;
}

static size_t history_len(void)
{
	json_t *h;
	size_t n;

	ck_assert_int_eq(syn_state_history(test_store, 0, &h), 0);
	n = json_array_size(json_object_get(h, "commits"));
	json_decref(h);
	return n;
}

START_TEST(import_by_url_writes_pack_lock_previews)
{
	char *url = model_url(1102), hex[65], *preview_dir, *blobs;
	json_t *report = import_ok(url, NULL), *pack, *lock, *deps, *main_dep, *entry, *global;

	ck_assert_str_eq(json_string_value(json_object_get(report, "pack_name")), "SynthwavePunk");
	ck_assert_str_eq(json_string_value(json_object_get(report, "pack_type")), "checkpoint");
	pack = read_doc("store/state/packs/SynthwavePunk/pack.json");
	ck_assert_str_eq(json_string_value(json_object_get(pack, "schema")), "synapse.pack.v2");
	ck_assert_str_eq(json_string_value(json_object_get(pack, "pack_category")), "external");
	ck_assert_str_eq(json_string_value(json_object_get(pack, "base_model")), "SD 1.5");
	ck_assert_str_eq(json_string_value(json_object_get(pack, "author")), "justmaier");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(pack, "tags"), 0)), "punk");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(pack, "source"), "model_id")), 1102);
	deps = json_object_get(pack, "dependencies");
	ck_assert_uint_eq(json_array_size(deps), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(deps, 0), "id")), "base_checkpoint");
	ck_assert(json_is_false(json_object_get(json_array_get(deps, 0), "required")));
	main_dep = json_array_get(deps, 1);
	ck_assert_str_eq(json_string_value(json_object_get(main_dep, "id")), "main_checkpoint");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(main_dep, "expose"), "filename")),
			 "synthwavepunk_v3Alpha.safetensors");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(main_dep, "update_policy"), "mode")),
			 "follow_latest");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(main_dep, "selector"),
									    "civitai"), "file_id")), 194);

	lock = read_doc("store/state/packs/SynthwavePunk/lock.json");
	ck_assert_str_eq(json_string_value(json_object_get(lock, "schema")), "synapse.lock.v2");
	entry = json_array_get(json_object_get(lock, "resolved"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(entry, "dependency_id")), "main_checkpoint");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(entry, "artifact"), "sha256")),
			 sha_of_file(194, hex));
	ck_assert(json_is_integer(json_object_get(json_object_get(entry, "artifact"), "size_bytes")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(entry, "artifact"), "size_bytes")), 256 * 1024);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(lock, "unresolved"), 0),
							   "reason")), "unknown_base_model_alias");

	/* previews and their metadata sidecars, and no model bytes at all */
	preview_dir = test_path("store/state/packs/SynthwavePunk/resources/previews");
	ck_assert_int_ge(test_count_named(preview_dir, ".jpeg"), 1);
	ck_assert_uint_ge(json_array_size(json_object_get(pack, "previews")), 1);
	blobs = test_path("store/data/blobs/sha256");
	ck_assert_int_eq(test_count_named(blobs, hex), 0);
	ck_assert_uint_eq(count_requests("/cdn/"), 0);

	global = read_doc("store/state/profiles/global/profile.json");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(global, "packs"), 0), "name")),
			 "SynthwavePunk");
	ck_assert_uint_eq(history_len(), 2);
	json_decref(report);
	json_decref(pack);
	json_decref(lock);
	json_decref(global);
	free(url);
	free(preview_dir);
	free(blobs);
}
END_TEST

START_TEST(every_reference_form_imports)
{
	static const char *const forms[] = { "civitai:1102", "civitai:1102@1292", "urn:air:sd1:checkpoint:civitai:1102@1292" };
	char *slug = NULL;
	size_t i;

	for (i = 0; i < 3; i++) {
		json_t *r = import_ok(forms[i], NULL);

		ck_assert_str_eq(json_string_value(json_object_get(r, "pack_name")), "SynthwavePunk");
		ck_assert(i == 0 ? json_is_false(json_object_get(r, "updated")) : json_is_true(json_object_get(r, "updated")));
		json_decref(r);
	}
	ck_assert_int_ge(asprintf(&slug, "%s/models/1102/synthwavepunk?modelVersionId=1292", fake_civitai_url(fake)), 0);
	json_decref(import_ok(slug, NULL));
	free(slug);
}
END_TEST

START_TEST(unknown_reference_is_a_clear_error)
{
	json_t *report = NULL;

	ck_assert_int_ne(syn_pack_import(test_store, "https://example.org/models/1", NULL, &report), 0);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "civitai"));
	ck_assert_int_ne(syn_pack_import(test_store, "civitai:99999", NULL, &report), 0);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "99999"));
	ck_assert_ptr_null(report);
	ck_assert_uint_eq(history_len(), 1);
}
END_TEST

/* A model with two versions of one file each; file names as given. */
static json_t *two_version_model(long long id, const char *name, const char *file_a, const char *file_b)
{
	return json_pack("{s:I, s:s, s:s, s:[{s:I, s:s, s:s, s:[s], s:[{s:I, s:s, s:f, s:b, s:s}], s:[]},"
			 " {s:I, s:s, s:s, s:[], s:[{s:I, s:s, s:f, s:b, s:s}], s:[]}]}",
		"id", (json_int_t)id, "name", name, "type", "LORA", "modelVersions",
		"id", (json_int_t)(id * 10 + 2), "name", "v2.0", "baseModel", "SDXL 1.0", "trainedWords", "trig",
		"files", "id", (json_int_t)(id * 100 + 2), "name", file_b, "sizeKB", 1.0, "primary", 1, "type", "Model",
		"images",
		"id", (json_int_t)(id * 10 + 1), "name", "v1.0", "baseModel", "SDXL 1.0", "trainedWords",
		"files", "id", (json_int_t)(id * 100 + 1), "name", file_a, "sizeKB", 1.0, "primary", 1, "type", "Model",
		"images");
}

START_TEST(multi_version_pack)
{
	json_t *model = two_version_model(500, "My LoRA", "a.safetensors", "b.safetensors"), *r, *pack, *deps;
	int64_t versions[2] = { 5001, 5002 };
	struct syn_import_options o = { 0 };

	ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
	o.version_ids = versions;
	o.nversions = 2;
	r = import_ok("civitai:500", &o);
	ck_assert_str_eq(json_string_value(json_object_get(r, "pack_name")), "My_LoRA");
	pack = read_doc("store/state/packs/My_LoRA/pack.json");
	deps = json_object_get(pack, "dependencies");
	ck_assert_uint_eq(json_array_size(deps), 3); /* base + two versions */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(deps, 1), "id")), "v5001_v1_0_lora");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(deps, 2), "id")), "v5002_v2_0_lora");
	/* SDXL 1.0 has no alias: the hint keeps the Civitai name */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(deps, 0), "expose"), "filename")),
			 "SDXL 1.0.safetensors");
	json_decref(pack);
	json_decref(r);
	json_decref(model);
	versions[0] = 777;
	o.nversions = 1;
	ck_assert_int_eq(syn_pack_import(test_store, "civitai:500", &o, &r), SYN_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "777"));
}
END_TEST

START_TEST(hostile_file_name_refuses_import_and_writes_nothing)
{
	static const char *const hostile[] = { "../../evil.safetensors", ".hidden.safetensors", "a/b.safetensors",
					       "bad\x01name.safetensors" };
	size_t i;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		json_t *model = two_version_model(600 + (long long)i, "Hostile", hostile[i], hostile[i]), *r = NULL;
		char ref[32], *packdir = test_path("store/state/packs/Hostile");

		ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
		snprintf(ref, sizeof(ref), "civitai:%lld", 600 + (long long)i);
		ck_assert_int_eq(syn_pack_import(test_store, ref, NULL, &r), SYN_EINVALID);
		ck_assert_ptr_nonnull(strstr(syn_error_last(), "unsafe file name"));
		ck_assert(!test_exists(packdir));
		json_decref(model);
		free(packdir);
	}
	ck_assert_uint_eq(history_len(), 1);
}
END_TEST

START_TEST(hostile_pack_names_are_refused)
{
	json_t *model = two_version_model(700, "../../etc", "x.safetensors", "y.safetensors"), *r = NULL;
	struct syn_import_options o = { 0 };

	ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
	ck_assert_int_eq(syn_pack_import(test_store, "civitai:700", NULL, &r), SYN_EINVALID);
	o.name = "a/b";
	ck_assert_int_eq(syn_pack_import(test_store, "civitai:700", &o, &r), SYN_EINVALID);
	o.name = ".hidden";
	ck_assert_int_eq(syn_pack_import(test_store, "civitai:700", &o, &r), SYN_EINVALID);
	o.name = "Safe Name";
	json_decref(import_ok("civitai:700", &o));
	ck_assert_uint_eq(history_len(), 2);
	json_decref(model);
}
END_TEST

START_TEST(same_name_other_model_needs_a_name)
{
	json_t *other = two_version_model(800, "SynthwavePunk", "o.safetensors", "p.safetensors"), *r = NULL, *pack;
	struct syn_import_options o = { 0 };

	json_decref(import_ok("civitai:1102", NULL));
	ck_assert_int_eq(fake_civitai_add_model(fake, other), 0);
	ck_assert_int_eq(syn_pack_import(test_store, "civitai:800", NULL, &r), SYN_EEXISTS);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "--name"));
	pack = read_doc("store/state/packs/SynthwavePunk/pack.json");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(pack, "source"), "model_id")), 1102);
	json_decref(pack);
	o.name = "SynthwavePunk2";
	json_decref(import_ok("civitai:800", &o));
	json_decref(other);
}
END_TEST

START_TEST(reimport_keeps_user_fields)
{
	json_t *pack, *r;
	char *path = test_path("store/state/packs/SynthwavePunk/pack.json");

	json_decref(import_ok("civitai:1102", NULL));
	pack = read_doc("store/state/packs/SynthwavePunk/pack.json");
	json_object_set_new(pack, "user_tags", json_pack("[s]", "favourite"));
	json_object_set_new(pack, "x_my_note", json_string("keep me"));
	ck_assert_int_eq(json_dump_file(pack, path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
	json_decref(pack);
	r = import_ok("civitai:1102", NULL);
	ck_assert(json_is_true(json_object_get(r, "updated")));
	pack = read_doc("store/state/packs/SynthwavePunk/pack.json");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(pack, "user_tags"), 0)), "favourite");
	ck_assert_str_eq(json_string_value(json_object_get(pack, "x_my_note")), "keep me");
	json_decref(pack);
	json_decref(r);
	free(path);
}
END_TEST

static json_t *install(const char *pack)
{
	json_t *r = NULL;
	int rc = syn_pack_install(test_store, pack, 4, NULL, NULL, &r);

	ck_assert_msg(rc == 0, "install %s: %s", pack, syn_error_last());
	return r;
}

START_TEST(install_downloads_verifies_and_dedups)
{
	char hex[65], *rel, *path, *meta;
	json_t *r, *lock_before, *lock_after;

	json_decref(import_ok("civitai:1102", NULL));
	lock_before = read_doc("store/state/packs/SynthwavePunk/lock.json");
	r = install("SynthwavePunk");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "blobs_installed")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "downloaded")), 1);
	json_decref(r);
	sha_of_file(194, hex);
	rel = blob_rel(hex);
	path = test_path(rel);
	ck_assert(test_exists(path));
	ck_assert_int_eq(syn_blob_verify(test_store, hex), 0);
	ck_assert_int_ge(asprintf(&meta, "%s.meta", path), 0);
	ck_assert(test_exists(meta));
	lock_after = read_doc("store/state/packs/SynthwavePunk/lock.json");
	ck_assert(json_equal(lock_before, lock_after));
	ck_assert_uint_eq(count_requests("/cdn/"), 1);
	/* the token-free download URL went to the fake, then the CDN on another host */
	r = install("SynthwavePunk");
	ck_assert_uint_eq(json_array_size(json_object_get(r, "already_present")), 1);
	ck_assert_uint_eq(count_requests("/cdn/"), 1);
	json_decref(r);
	json_decref(lock_before);
	json_decref(lock_after);
	free(rel);
	free(path);
	free(meta);
}
END_TEST

START_TEST(interrupted_install_resumes_with_range)
{
	struct fake_request reqs[128];
	char hex[65], *blobs, *part;
	json_t *r = NULL;
	size_t n, i;
	uint64_t tail = 0;
	const char *range = NULL;

	json_decref(import_ok("civitai:1102", NULL));
	sha_of_file(194, hex);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_CUT, 0, 0, -1);
	ck_assert_int_eq(syn_pack_install(test_store, "SynthwavePunk", 1, NULL, NULL, &r), SYN_ENETWORK);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "main_checkpoint"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "synthwavepunk_v3Alpha.safetensors"));
	ck_assert(!syn_blob_exists(test_store, hex));
	blobs = test_path("store/data/blobs/sha256");
	ck_assert_int_eq(test_count_named(blobs, ".part"), 1);
	ck_assert_int_ge(asprintf(&part, "%s/%c%c/%s.part", blobs, hex[0], hex[1], hex), 0);
	fake_civitai_clear_faults(fake);
	fake_civitai_clear_requests(fake);
	json_decref(install("SynthwavePunk"));
	ck_assert_int_eq(syn_blob_verify(test_store, hex), 0);
	ck_assert(!test_exists(part));
	n = fake_civitai_requests(fake, reqs, 128);
	for (i = 0; i < n && i < 128; i++) {
		if (!strncmp(reqs[i].path, "/cdn/", 5)) {
			range = reqs[i].range;
			tail += reqs[i].body_bytes;
		}
	}
	ck_assert_ptr_nonnull(range);
	ck_assert_msg(!strncmp(range, "bytes=", 6) && strcmp(range, "bytes=0-"), "no resume: '%s'", range);
	ck_assert_uint_lt(tail, 256 * 1024); /* only the missing bytes came again */
	free(blobs);
	free(part);
}
END_TEST

/* Each server fault: its message, no blob, no changed lock. */
static void expect_fault(enum fake_fault fault, int status, const char *prefix, int code, const char *words)
{
	char *lock_path = test_path("store/state/packs/SynthwavePunk/lock.json"), *before, *after, hex[65];
	json_t *r = NULL;

	sha_of_file(194, hex);
	before = test_read_file(lock_path, NULL);
	fake_civitai_clear_faults(fake);
	fake_civitai_fault(fake, prefix, fault, status, 3000, -1);
	ck_assert_int_eq(syn_pack_install(test_store, "SynthwavePunk", 1, NULL, NULL, &r), code);
	ck_assert_msg(strstr(syn_error_last(), words), "'%s' not in: %s", words, syn_error_last());
	ck_assert(!syn_blob_exists(test_store, hex));
	after = test_read_file(lock_path, NULL);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	free(lock_path);
	fake_civitai_clear_faults(fake);
}

START_TEST(server_faults_give_clear_errors_and_store_nothing)
{
	json_decref(import_ok("civitai:1102", NULL));
	expect_fault(FAKE_FAULT_STATUS, 401, "/api/download/", SYN_ENETWORK, "CIVITAI_API_TOKEN");
	expect_fault(FAKE_FAULT_STATUS, 403, "/api/download/", SYN_ENETWORK, "arly");
	expect_fault(FAKE_FAULT_STATUS, 404, "/api/download/", SYN_ENETWORK, "not found");
	expect_fault(FAKE_FAULT_STATUS, 410, "/api/download/", SYN_ENETWORK, "archived");
	expect_fault(FAKE_FAULT_STATUS, 429, "/api/download/", SYN_ENETWORK, "rate");
	expect_fault(FAKE_FAULT_STATUS, 500, "/cdn/", SYN_ENETWORK, "500");
	expect_fault(FAKE_FAULT_HTML, 0, "/cdn/", SYN_ENETWORK, "web page");
	/* other bytes than the lock's: retrying cannot help, resolving can, and the message says so */
	expect_fault(FAKE_FAULT_WRONG_BYTES, 0, "/cdn/", SYN_EMISMATCH,
		     "the source serves different bytes than the lock records: run 'synapse resolve SynthwavePunk'");
	expect_fault(FAKE_FAULT_STALL, 0, "/cdn/", SYN_ENETWORK, "stall");
	/* a wrong body is thrown away, not kept for a resume */
	{
		char *blobs = test_path("store/data/blobs/sha256");

		ck_assert_int_eq(test_count_named(blobs, ".part") <= 1, 1);
		free(blobs);
	}
	/* and the next clean install works */
	json_decref(install("SynthwavePunk"));
}
END_TEST

START_TEST(two_packs_sharing_a_file_download_it_once)
{
	json_t *a = two_version_model(900, "Pack A", "shared.safetensors", "shared.safetensors");
	json_t *b = two_version_model(901, "Pack B", "other.safetensors", "other.safetensors");
	json_t *files;

	/* pack B's newest version points at pack A's file id: the same bytes */
	files = json_object_get(json_array_get(json_object_get(b, "modelVersions"), 0), "files");
	json_object_set_new(json_array_get(files, 0), "id", json_integer(90002));
	ck_assert_int_eq(fake_civitai_add_model(fake, a), 0);
	ck_assert_int_eq(fake_civitai_add_model(fake, b), 0);
	json_decref(import_ok("civitai:900", NULL));
	json_decref(import_ok("civitai:901", NULL));
	json_decref(install("Pack_A"));
	ck_assert_uint_eq(count_requests("/cdn/"), 1);
	json_decref(install("Pack_B"));
	ck_assert_uint_eq(count_requests("/cdn/"), 1);
	json_decref(a);
	json_decref(b);
}
END_TEST

START_TEST(install_waits_for_another_process_holding_the_lock)
{
	int ready[2], go[2], status;
	char c, hex[65];
	pid_t pid;
	json_t *r = NULL;

	json_decref(import_ok("civitai:1102", NULL));
	sha_of_file(194, hex);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork_quietly();
	if (pid == 0) {
		struct syn_registry *reg = test_registry();
		struct syn_store *st;
		char *root = test_path("store");

		if (syn_store_open(&st, reg, root) || syn_store_lock(st, "other synapse"))
			_exit(3);
		if (write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(4);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	/* the download runs; committing it needs the lock, which is busy */
	setenv("SYNAPSE_LOCK_TIMEOUT", "0.3", 1);
	ck_assert_int_eq(syn_pack_install(test_store, "SynthwavePunk", 1, NULL, NULL, &r), SYN_ELOCKED);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "other synapse"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), ".synapse.lock"));
	ck_assert(!syn_blob_exists(test_store, hex));
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* the bytes fetched before were kept: the retry downloads nothing more */
	fake_civitai_clear_requests(fake);
	json_decref(install("SynthwavePunk"));
	ck_assert_uint_eq(count_requests("/cdn/"), 0);
	ck_assert_int_eq(syn_blob_verify(test_store, hex), 0);
}
END_TEST

START_TEST(delete_removes_pack_but_keeps_blobs)
{
	char hex[65];
	json_t *r = NULL, *global;
	char *packdir = test_path("store/state/packs/SynthwavePunk");

	json_decref(import_ok("civitai:1102", NULL));
	json_decref(install("SynthwavePunk"));
	ck_assert_int_eq(syn_pack_delete(test_store, "SynthwavePunk", false, &r), 0);
	ck_assert(json_is_true(json_object_get(json_object_get(r, "cleanup"), "removed_from_global")));
	json_decref(r);
	ck_assert(!test_exists(packdir));
	ck_assert(syn_blob_exists(test_store, sha_of_file(194, hex)));
	global = read_doc("store/state/profiles/global/profile.json");
	ck_assert_uint_eq(json_array_size(json_object_get(global, "packs")), 0);
	json_decref(global);
	ck_assert_int_eq(syn_pack_delete(test_store, "SynthwavePunk", false, &r), SYN_ENOTFOUND);
	ck_assert_int_eq(syn_pack_delete(test_store, "../x", false, &r), SYN_EINVALID);
	free(packdir);
}
END_TEST

/* The global profile's text, and whether it is what the document writer makes of its own content. */
static char *global_text(bool *canonical)
{
	char *path = test_path("store/state/profiles/global/profile.json"), *text;
	struct syn_buf again = SYN_BUF_INIT;
	json_t *doc;
	size_t len;

	text = test_read_file(path, &len);
	ck_assert_ptr_nonnull(text);
	doc = json_loadb(text, len, 0, NULL);
	ck_assert_msg(doc != NULL, "the global profile is not JSON: %s", text);
	ck_assert_int_eq(syn_doc_dump(&again, doc), 0);
	*canonical = again.len == len && !memcmp(again.ptr, text, len);
	syn_buf_dispose(&again);
	json_decref(doc);
	free(path);
	return text;
}

/* The names of the global profile's packs, joined by spaces. */
static char *global_names(void)
{
	json_t *g = read_doc("store/state/profiles/global/profile.json"), *v;
	struct syn_buf b = SYN_BUF_INIT;
	size_t i;

	json_array_foreach(json_object_get(g, "packs"), i, v)
		ck_assert_int_eq(syn_buf_printf(&b, "%s%s", i ? " " : "", syn_doc_str(v, "name", "?")), 0);
	json_decref(g);
	return b.ptr ? syn_buf_detach(&b) : strdup("");
}

static void assert_global(const char *want, const char *when)
{
	char *names = global_names();

	ck_assert_msg(!strcmp(names, want), "%s: the global profile holds '%s', not '%s'", when, names, want);
	free(names);
}

/*
 * Import and delete put a pack at the end of the global profile and take
 * it out by editing the profile's text: what the document writer wrote
 * stays byte for byte what it writes; a profile formatted by hand keeps
 * every byte of the packs and keys it does not touch; one the edit cannot
 * be sure of (a \u escape) is written as a document; a malformed one is
 * refused and left as it is.
 */
START_TEST(the_global_profile_is_edited_in_its_text)
{
	static const char hand[] = "{\"schema\": \"synapse.profile.v1\", \"name\": \"global\", \"note\": \"kept \\u00e9\","
				   " \"packs\": [{\"name\": \"SynthwavePunk\", \"pinned\": true}]}\n";
	static const char byhand[] = "{\"name\":\"global\",\"schema\":\"synapse.profile.v1\",\"packs\":[\n"
				     "  {\"name\":\"SynthwavePunk\",\"pinned\":true} ],\"mine\":[1, -2, null, {\"a\":\"\\\"\"}]}";
	char *path = test_path("store/state/profiles/global/profile.json"), *text, *before, *other = NULL;
	json_t *r = NULL, *report;
	bool canonical;
	size_t len;

	report = two_version_model(900, "Pack A", "shared.safetensors", "shared.safetensors");
	ck_assert_int_eq(fake_civitai_add_model(fake, report), 0);
	json_decref(report);
	report = two_version_model(901, "Pack B", "other.safetensors", "other.safetensors");
	ck_assert_int_eq(fake_civitai_add_model(fake, report), 0);
	json_decref(report);
	json_decref(import_ok("civitai:1102", NULL));
	report = import_ok("civitai:900", NULL);
	other = strdup(json_string_value(json_object_get(report, "pack_name")));
	json_decref(report);
	{
		char want[256];

		json_decref(import_ok("civitai:901", NULL));
		snprintf(want, sizeof(want), "SynthwavePunk %s Pack_B", other);
		assert_global(want, "three imports");
		free(global_text(&canonical));
		ck_assert_msg(canonical, "an import left the global profile other than the writer writes it");
		/* a pack imported again goes last */
		json_decref(import_ok("civitai:1102", NULL));
		snprintf(want, sizeof(want), "%s Pack_B SynthwavePunk", other);
		assert_global(want, "imported again");
		free(global_text(&canonical));
		ck_assert(canonical);
	}
	ck_assert_int_eq(syn_pack_delete(test_store, "Pack_B", true, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_pack_delete(test_store, other, true, &r), 0);
	json_decref(r);
	assert_global("SynthwavePunk", "deleted");
	free(global_text(&canonical));
	ck_assert(canonical);
	ck_assert_int_eq(syn_pack_delete(test_store, "SynthwavePunk", true, &r), 0);
	json_decref(r);
	assert_global("", "all deleted");
	text = global_text(&canonical);
	ck_assert_msg(canonical, "an emptied profile: %s", text);
	free(text);

	/* formatted by hand, with keys of its own: the untouched bytes stay */
	test_write_file(path, byhand, strlen(byhand));
	json_decref(import_ok("civitai:900", NULL));
	text = test_read_file(path, &len);
	ck_assert_msg(strstr(text, "{\"name\":\"SynthwavePunk\",\"pinned\":true}") &&
		      strstr(text, "\"mine\":[1, -2, null, {\"a\":\"\\\"\"}]}"), "the hand's bytes were not kept: %s", text);
	free(text);
	{
		char want[256];

		snprintf(want, sizeof(want), "SynthwavePunk %s", other);
		assert_global(want, "imported into a profile formatted by hand");
	}

	/* not plain: written as a document, with what it held */
	test_write_file(path, hand, strlen(hand));
	json_decref(import_ok("civitai:900", NULL));
	text = global_text(&canonical);
	ck_assert_msg(canonical && strstr(text, "\"note\": \"kept \\u00e9\"") == NULL, "%s", text);
	free(text);
	{
		char want[256];

		snprintf(want, sizeof(want), "SynthwavePunk %s", other);
		assert_global(want, "imported into a profile with an escape");
	}
	report = read_doc("store/state/profiles/global/profile.json");
	ck_assert_str_eq(syn_doc_str(report, "note", ""), "kept \xc3\xa9");
	json_decref(report);

	/* malformed: refused, left as it is */
	test_write_file(path, "{\"packs\": [", 12);
	ck_assert_int_ne(syn_pack_delete(test_store, "SynthwavePunk", true, &r), 0);
	json_decref(r);
	before = test_read_file(path, &len);
	ck_assert_uint_eq(len, 12);
	free(before);
	free(other);
	free(path);
}
END_TEST

START_TEST(list_show_search)
{
	json_t *r, *p;

	json_decref(import_ok("civitai:1102", NULL));
	ck_assert_int_eq(syn_pack_list(test_store, &r), 0);
	p = json_array_get(json_object_get(r, "packs"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "SynthwavePunk");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "dependencies_count")), 2);
	ck_assert(json_is_false(json_object_get(p, "installed")));
	json_decref(r);
	json_decref(install("SynthwavePunk"));
	ck_assert_int_eq(syn_pack_list(test_store, &r), 0);
	ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(r, "packs"), 0), "installed")));
	json_decref(r);

	ck_assert_int_eq(syn_pack_show(test_store, "SynthwavePunk", &r), 0);
	p = json_array_get(json_object_get(r, "dependencies"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "installed");
	p = json_array_get(json_object_get(r, "dependencies"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "unresolved");
	json_decref(r);
	ck_assert_int_eq(syn_pack_show(test_store, "Nope", &r), SYN_ENOTFOUND);

	ck_assert_int_eq(syn_pack_search(test_store, "SYNTHWAVE", &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "items")), 1);
	json_decref(r);
	ck_assert_int_eq(syn_pack_search(test_store, "nvinkpunk", &r), 0); /* a trigger word */
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_array_get(json_object_get(r, "items"), 0),
		"matched"), 0)), "trigger_words");
	json_decref(r);
	ck_assert_int_eq(syn_pack_search(test_store, "sd 1.5", &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "items")), 1);
	json_decref(r);
	ck_assert_int_eq(syn_pack_search(test_store, "zzz", &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "items")), 0);
	json_decref(r);
}
END_TEST

/* A stream for an emitter (text and length in *@text, *@len once closed) and the emitter on it, in *@e. */
static FILE *emit_stream(char **text, size_t *len, struct syn_emit **e)
{
	FILE *f = open_memstream(text, len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(syn_emit_to_file(e, f), 0);
	return f;
}

/* Finish emitter @e on stream @f, and check that what it wrote, @text, is the canonical text of @tree (taken). */
static void check_stream(struct syn_emit *e, FILE *f, char **text, json_t *tree)
{
	struct syn_buf want = SYN_BUF_INIT;

	ck_assert_int_eq(syn_emit_finish(e, NULL), 0);
	syn_emit_free(e);
	fclose(f);
	ck_assert_int_eq(syn_doc_dump(&want, tree), 0);
	ck_assert_str_eq(*text, want.ptr);
	free(*text);
	syn_buf_dispose(&want);
	json_decref(tree);
}

/*
 * What `list --json` and `status --json` stream is the text of their
 * reports' trees: broken packs, folders that are no pack, missing blobs
 * and unresolved dependencies included.
 */
START_TEST(the_streamed_list_and_status_are_their_reports_text)
{
	char *broken = test_path("store/state/packs/SynthwavePunk/lock.json"), *stray = test_path("store/state/packs/Stray");
	struct syn_emit *e = NULL;
	char *text = NULL;
	size_t len = 0;
	json_t *r, *p;
	FILE *f;

	r = two_version_model(900, "Pack A", "a.safetensors", "b.safetensors");
	ck_assert_int_eq(fake_civitai_add_model(fake, r), 0);
	json_decref(r);
	json_decref(import_ok("civitai:1102", NULL));
	json_decref(import_ok("civitai:900", NULL));
	/* before the lock breaks: a pack not installed, an unresolved dependency */
	ck_assert_int_eq(syn_store_status(test_store, NULL, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "missing_blobs")), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "unresolved")) +
			  json_array_size(json_object_get(r, "unresolved_optional")), 2);
	f = emit_stream(&text, &len, &e);
	ck_assert_int_eq(syn_store_status_emit(test_store, NULL, e), 0);
	check_stream(e, f, &text, r);

	test_write_file(broken, "{\"resolved\": [", 14);
	ck_assert_int_eq(mkdir(stray, 0755), 0);
	ck_assert_int_eq(syn_pack_list(test_store, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "packs")), 2);
	p = json_array_get(json_object_get(r, "packs"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "SynthwavePunk");
	ck_assert_str_eq(json_string_value(json_object_get(p, "pack_type")), "unknown");
	ck_assert(json_is_null(json_object_get(p, "dependencies_count")));
	ck_assert(json_is_false(json_object_get(p, "installed")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(p, "error")), "lock.json"));
	f = emit_stream(&text, &len, &e);
	ck_assert_int_eq(syn_pack_list_emit(test_store, e), 0);
	check_stream(e, f, &text, r);

	ck_assert_int_eq(syn_store_status(test_store, NULL, &r), 0);
	/* the broken lock, said once */
	ck_assert_uint_eq(json_array_size(json_object_get(r, "notes")), 1);
	f = emit_stream(&text, &len, &e);
	ck_assert_int_eq(syn_store_status_emit(test_store, NULL, e), 0);
	check_stream(e, f, &text, r);
	free(broken);
	free(stray);
}
END_TEST

/* The newest commit's message, in @out (@size bytes). */
static const char *last_commit(char *out, size_t size)
{
	json_t *h;

	ck_assert_int_eq(syn_state_history(test_store, 1, &h), 0);
	snprintf(out, size, "%s", syn_doc_str(json_array_get(json_object_get(h, "commits"), 0), "message", ""));
	json_decref(h);
	return out;
}

/*
 * Import and delete commit while they change the views; each view still
 * records the generation of that commit: building it again finds it
 * current and its record as it was.
 */
static void assert_views_name_the_last_commit(void)
{
	static const char *const uis[] = { "comfyui", "forge" };
	size_t i;

	for (i = 0; i < 2; i++) {
		char rel[128], *path, *before, *after;
		json_t *r = NULL;

		snprintf(rel, sizeof(rel), "store/data/views/%s/profiles/global/.synapse-view", uis[i]);
		path = test_path(rel);
		before = test_read_file(path, NULL);
		ck_assert_int_eq(syn_view_build(test_store, uis[i], "global", false, &r), 0);
		ck_assert(json_is_false(json_object_get(r, "rebuilt")));
		json_decref(r);
		after = test_read_file(path, NULL);
		ck_assert_str_eq(after, before);
		free(before);
		free(after);
		free(path);
	}
}

START_TEST(views_changed_during_the_commit_record_its_generation)
{
	char msg[256];
	json_t *r;

	r = two_version_model(900, "Pack A", "a.safetensors", "b.safetensors");
	ck_assert_int_eq(fake_civitai_add_model(fake, r), 0);
	json_decref(r);
	json_decref(import_ok("civitai:1102", NULL));
	json_decref(install("SynthwavePunk"));
	json_decref(import_ok("civitai:900", NULL));
	ck_assert_str_eq(last_commit(msg, sizeof(msg)), "import Pack_A");
	assert_views_name_the_last_commit();
	ck_assert_int_eq(syn_pack_delete(test_store, "SynthwavePunk", true, &r), 0);
	json_decref(r);
	ck_assert_str_eq(last_commit(msg, sizeof(msg)), "delete SynthwavePunk");
	assert_views_name_the_last_commit();
}
END_TEST

/* A commit that fails on its thread fails the command, with the commit's own message. */
START_TEST(a_commit_that_fails_while_the_views_change_fails_the_command)
{
	char *head = test_path("store/state/.git/HEAD"), *text;
	char msg[256];
	json_t *r = NULL;
	size_t len;

	json_decref(import_ok("civitai:1102", NULL));
	text = test_read_file(head, &len);
	/* HEAD names a branch no repository can have: the commit cannot say where it goes */
	test_write_file(head, "ref: refs/heads/no..branch\n", 27);
	ck_assert_int_ne(syn_pack_delete(test_store, "SynthwavePunk", true, &r), 0);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(syn_error_last(), "no..branch"), "%s", syn_error_last());
	test_write_file(head, text, len);
	ck_assert_str_eq(last_commit(msg, sizeof(msg)), "import SynthwavePunk");
	json_decref(import_ok("civitai:1102", NULL));
	ck_assert_str_eq(last_commit(msg, sizeof(msg)), "import SynthwavePunk");
	free(text);
	free(head);
}
END_TEST

/* Run @step in a child process that fault hook @hook kills (SIGKILL) on the way, and check it was killed. */
static void killed_midway(void (*hook)(const char *stage, const char *path), void (*step)(void))
{
	int status;
	pid_t pid = fork_quietly();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		syn_fs_set_fault_hook(hook);
		step();
		_exit(0); /* not reached: the hook kills the process */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void delete_synthwave(void)
{
	json_t *r = NULL;

	syn_pack_delete(test_store, "SynthwavePunk", true, &r);
	json_decref(r);
}

static void import_synthwave(void)
{
	json_t *r = NULL;

	syn_pack_import(test_store, "civitai:1102", NULL, &r);
	json_decref(r);
}

/* Kill the process once a pack's folder is renamed aside, before it is removed. */
static void crash_aside(const char *stage, const char *path)
{
	if (!strcmp(stage, "aside") && !strncmp(path, "packs/", 6))
		raise(SIGKILL);
}

/* A delete killed while the pack's folder goes leaves no pack behind, and doctor removes what it was removing. */
START_TEST(a_delete_killed_midway_leaves_no_half_pack)
{
	char *pattern = test_path("store/state/packs/" SYN_FS_TMP_PREFIX "SynthwavePunk.*"), *packs;
	struct timespec ts[2];
	json_t *r = NULL, *v;
	bool said = false;
	size_t i;
	glob_t g;

	json_decref(import_ok("civitai:1102", NULL));
	killed_midway(crash_aside, delete_synthwave);
	ck_assert_int_eq(syn_pack_list(test_store, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "packs")), 0);
	json_decref(r);
	/* what it was removing, an hour and more ago */
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	ck_assert_uint_eq(g.gl_pathc, 1);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 7200;
	ts[1] = ts[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, g.gl_pathv[0], ts, AT_SYMLINK_NOFOLLOW), 0);
	globfree(&g);
	ck_assert_int_ne(syn_doctor(test_store, NULL, true, false, &r), SYN_ENOMEM);
	json_array_foreach(json_object_get(r, "repaired"), i, v)
		said = said || strstr(json_string_value(v), "removed stale temporary file packs/" SYN_FS_TMP_PREFIX
					 "SynthwavePunk.");
	ck_assert_msg(said, "%s", json_dumps(r, 0));
	json_decref(r);
	packs = test_path("store/state/packs");
	ck_assert_int_eq(test_count_named(packs, SYN_FS_TMP_PREFIX), 0);
	json_decref(import_ok("civitai:1102", NULL));
	free(packs);
	free(pattern);
}
END_TEST

/* Kill the process as a new pack's pack.json is about to take its name. */
static void crash_before_pack_json(const char *stage, const char *path)
{
	if (!strcmp(stage, "before-rename") && strstr(path, "/pack.json"))
		raise(SIGKILL);
}

/* An import killed while it writes a new pack leaves no pack folder without its documents. */
START_TEST(an_import_killed_midway_leaves_no_half_pack)
{
	char *packs = test_path("store/state/packs");
	json_t *r = NULL;

	killed_midway(crash_before_pack_json, import_synthwave);
	/* no folder of the pack's name, which would be a pack without its pack.json: only the temporary */
	ck_assert_int_eq(test_count_named(packs, "SynthwavePunk"), 1);
	ck_assert_int_eq(test_count_named(packs, SYN_FS_TMP_PREFIX "SynthwavePunk."), 1);
	ck_assert_int_eq(syn_pack_list(test_store, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "packs")), 0);
	json_decref(r);
	json_decref(import_ok("civitai:1102", NULL));
	ck_assert_int_eq(syn_pack_list(test_store, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "packs")), 1);
	json_decref(r);
	free(packs);
}
END_TEST

START_TEST(resolve_rebuilds_the_lock)
{
	json_t *lock = NULL;
	char *path = test_path("store/state/packs/SynthwavePunk/lock.json");

	json_decref(import_ok("civitai:1102", NULL));
	unlink(path);
	ck_assert_int_eq(syn_pack_resolve(test_store, "SynthwavePunk", &lock), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(lock, "resolved")), 1);
	ck_assert(test_exists(path));
	json_decref(lock);
	free(path);
}
END_TEST

START_TEST(token_never_reaches_state)
{
	char *pack_path = test_path("store/state/packs/SynthwavePunk/pack.json");
	char *lock_path = test_path("store/state/packs/SynthwavePunk/lock.json"), *pack, *lock;
	json_t *h;

	setenv("CIVITAI_API_TOKEN", "sekret-token-123", 1);
	json_decref(import_ok("civitai:1102", NULL));
	json_decref(install("SynthwavePunk"));
	pack = test_read_file(pack_path, NULL);
	lock = test_read_file(lock_path, NULL);
	ck_assert_ptr_null(strstr(pack, "sekret"));
	ck_assert_ptr_null(strstr(lock, "sekret"));
	ck_assert_int_eq(syn_state_history(test_store, 0, &h), 0);
	json_decref(h);
	free(pack);
	free(lock);
	free(pack_path);
	free(lock_path);
}
END_TEST

START_TEST(lock_without_hash_learns_the_computed_one)
{
	char *lock_path = test_path("store/state/packs/SynthwavePunk/lock.json"), hex[65];
	json_t *lock, *art;

	json_decref(import_ok("civitai:1102", NULL));
	/* Civitai sometimes has no SHA256 yet for a fresh upload */
	lock = read_doc("store/state/packs/SynthwavePunk/lock.json");
	art = json_object_get(json_array_get(json_object_get(lock, "resolved"), 0), "artifact");
	json_object_set_new(art, "sha256", json_null());
	json_object_set_new(art, "integrity", json_pack("{s:b}", "sha256_verified", 0));
	ck_assert_int_eq(json_dump_file(lock, lock_path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
	json_decref(lock);
	json_decref(install("SynthwavePunk"));
	lock = read_doc("store/state/packs/SynthwavePunk/lock.json");
	art = json_object_get(json_array_get(json_object_get(lock, "resolved"), 0), "artifact");
	ck_assert_str_eq(json_string_value(json_object_get(art, "sha256")), sha_of_file(194, hex));
	ck_assert(json_is_true(json_object_get(json_object_get(art, "integrity"), "sha256_verified")));
	ck_assert_int_eq(syn_blob_verify(test_store, hex), 0);
	json_decref(lock);
	free(lock_path);
}
END_TEST

/* Point config.json's alias @name at Civitai's model 1102 version @version_id. */
static void set_alias(const char *name, long long version_id)
{
	char *path = test_path("store/state/config.json");
	json_t *config = read_doc("store/state/config.json");

	json_object_set_new(json_object_get(config, "base_model_aliases"), name, json_pack(
		"{s:s, s:s, s:{s:{s:i, s:I, s:I}, s:s}}", "default_expose_filename", "base15.safetensors", "kind",
		"checkpoint", "selector", "civitai", "file_id", 0, "model_id", (json_int_t)1102, "version_id",
		(json_int_t)version_id, "strategy", "civitai_file"));
	ck_assert_int_eq(json_dump_file(config, path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
	json_decref(config);
	free(path);
}

START_TEST(base_model_alias_resolves_to_its_file)
{
	json_t *lock, *u, *entry, *art;
	char hex[65];

	/* an alias whose ids are still the placeholders says so */
	set_alias("SD 1.5", 0);
	json_decref(import_ok("civitai:1102", NULL));
	lock = read_doc("store/state/packs/SynthwavePunk/lock.json");
	u = json_array_get(json_object_get(lock, "unresolved"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(u, "dependency_id")), "base_checkpoint");
	ck_assert_str_eq(json_string_value(json_object_get(u, "reason")), "base_model_alias_unconfigured");
	json_decref(lock);

	/* a filled-in alias names a real file: the hint resolves to it */
	set_alias("SD 1.5", 1292);
	json_decref(import_ok("civitai:1102", NULL));
	lock = read_doc("store/state/packs/SynthwavePunk/lock.json");
	ck_assert_uint_eq(json_array_size(json_object_get(lock, "unresolved")), 0);
	entry = json_array_get(json_object_get(lock, "resolved"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(entry, "dependency_id")), "base_checkpoint");
	art = json_object_get(entry, "artifact");
	ck_assert_str_eq(json_string_value(json_object_get(art, "kind")), "checkpoint");
	ck_assert_str_eq(json_string_value(json_object_get(art, "sha256")), sha_of_file(194, hex));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(art, "provider"), "version_id")), 1292);
	json_decref(lock);
}
END_TEST

/*
 * Sources the core does not know, served from memory beside the stock
 * plugins: "memory" (version 2) and "memory_old" (version 1).
 */
static void memory_setup(void)
{
	pack_setup();
	ck_assert_int_eq(syn_registry_load_dir(test_reg, SYN_TEST_SOURCE_FIXTURE_DIR), 0);
	ck_assert_ptr_nonnull(syn_registry_source(test_reg, "memory"));
	ck_assert_ptr_nonnull(syn_registry_source(test_reg, "memory_old"));
}

/* What the memory source serves for @name: its name, one per line, 4096 times. */
static char *memory_content(const char *name, size_t *len)
{
	size_t line = strlen(name) + 1, i;
	char *buf = malloc(line * 4096);

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 4096; i++) {
		memcpy(buf + i * line, name, line - 1);
		buf[i * line + line - 1] = '\n';
	}
	*len = line * 4096;
	return buf;
}

static const json_t *entry_of(const json_t *list, const char *dep_id)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "dependency_id")), dep_id))
			return e;
	return NULL;
}

START_TEST(unknown_source_imports_resolves_and_installs)
{
	json_t *report = import_ok("memory:alpha", NULL), *pack, *lock, *dep, *sel, *art, *resolved = NULL;
	const json_t *entry;
	char hex[65], *blob_rel, *blob, *content, *meta_rel;
	size_t len, blob_len;

	ck_assert_str_eq(json_string_value(json_object_get(report, "pack_name")), "Alpha_Memory");
	json_decref(report);

	pack = read_doc("store/state/packs/Alpha_Memory/pack.json");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(pack, "source"), "provider")), "memory");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(pack, "source"), "url")), "memory://alpha");
	ck_assert_uint_eq(json_array_size(json_object_get(pack, "dependencies")), 1);
	dep = json_array_get(json_object_get(pack, "dependencies"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(dep, "id")), "main_lora");
	sel = json_object_get(dep, "selector");
	ck_assert_str_eq(json_string_value(json_object_get(sel, "strategy")), "memory_blob");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(sel, "memory"), "name")),
			 "alpha.safetensors");
	/* nothing Civitai-shaped is added to a pack that is not Civitai's */
	ck_assert_ptr_null(json_object_get(sel, "civitai"));
	ck_assert_ptr_null(json_object_get(json_object_get(pack, "model_info"), "civitai_air"));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(pack, "model_info"), "memory_note")),
			 "served from memory");

	lock = read_doc("store/state/packs/Alpha_Memory/lock.json");
	ck_assert_uint_eq(json_array_size(json_object_get(lock, "unresolved")), 0);
	entry = entry_of(json_object_get(lock, "resolved"), "main_lora");
	ck_assert_ptr_nonnull(entry);
	art = json_object_get(entry, "artifact");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(art, "provider"), "name")), "memory");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(art, "download"), "urls"),
							  0)), "memory://alpha");
	json_decref(lock);

	/* resolve asks the source again, with no metadata at hand */
	ck_assert_msg(syn_pack_resolve(test_store, "Alpha_Memory", &resolved) == 0, "resolve: %s", syn_error_last());
	ck_assert_ptr_nonnull(entry_of(json_object_get(resolved, "resolved"), "main_lora"));
	json_decref(resolved);

	report = install("Alpha_Memory");
	ck_assert_int_eq(json_integer_value(json_object_get(report, "blobs_installed")), 1);
	json_decref(report);

	content = memory_content("alpha", &len);
	ck_assert_int_eq(syn_sha256_mem(hex, content, len), 0);
	lock = read_doc("store/state/packs/Alpha_Memory/lock.json");
	art = json_object_get(entry_of(json_object_get(lock, "resolved"), "main_lora"), "artifact");
	ck_assert_str_eq(json_string_value(json_object_get(art, "sha256")), hex);
	ck_assert_int_ge(asprintf(&blob_rel, "store/data/blobs/sha256/%c%c/%s", hex[0], hex[1], hex), 0);
	blob = test_path(blob_rel);
	free(content);
	content = test_read_file(blob, &blob_len);
	ck_assert_ptr_nonnull(content);
	ck_assert_uint_eq(blob_len, len);
	ck_assert_int_eq(memcmp(content, "alpha\nalpha\n", 12), 0);
	ck_assert_int_ge(asprintf(&meta_rel, "%s.meta", blob_rel), 0);
	json_decref(pack);
	pack = read_doc(meta_rel);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(pack, "origin"), "provider")), "memory");

	json_decref(pack);
	json_decref(lock);
	free(content);
	free(blob);
	free(blob_rel);
	free(meta_rel);
}
END_TEST

START_TEST(selector_no_source_claims_is_unresolved)
{
	json_t *report = import_ok("memory:stray", NULL), *lock, *resolved = NULL;
	const json_t *entry;

	json_decref(report);
	lock = read_doc("store/state/packs/Stray_Memory/lock.json");
	ck_assert_ptr_nonnull(entry_of(json_object_get(lock, "resolved"), "main_vae"));
	entry = entry_of(json_object_get(lock, "unresolved"), "stray_extra");
	ck_assert_ptr_nonnull(entry);
	ck_assert_str_eq(json_string_value(json_object_get(entry, "reason")), "unsupported_strategy");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(entry, "details"), "strategy")),
			 "martian_file");
	json_decref(lock);

	/* resolve says the same, and install fetches what can be fetched */
	ck_assert_int_eq(syn_pack_resolve(test_store, "Stray_Memory", &resolved), 0);
	ck_assert_ptr_nonnull(entry_of(json_object_get(resolved, "unresolved"), "stray_extra"));
	json_decref(resolved);
	report = install("Stray_Memory");
	ck_assert_int_eq(json_integer_value(json_object_get(report, "blobs_installed")), 1);
	json_decref(report);
}
END_TEST

START_TEST(version_1_source_is_refused_clearly)
{
	json_t *report = NULL;
	char *dir = test_path("store/state/packs/Alpha_Memory");

	ck_assert_int_eq(syn_pack_import(test_store, "old:alpha", NULL, &report), SYN_EUNSUPPORTED);
	ck_assert_ptr_null(report);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "memory_old"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "update the plugin"));
	ck_assert(!test_exists(dir));
	free(dir);
}
END_TEST

START_TEST(unknown_reference_lists_every_source)
{
	json_t *report = NULL;

	ck_assert_int_eq(syn_pack_import(test_store, "ftp://nowhere/1", NULL, &report), SYN_EINVALID);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "'ftp://nowhere/1'"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "memory: memory:<name>"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "civitai:<id>[@<version>]"));
	/* a version-1 class has no description: it is named all the same */
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "memory_old"));
}
END_TEST

/* Whether comfyui's view of the global profile links a file named @name. */
static bool view_links(const char *name)
{
	char *views = test_path("store/data/views/comfyui/profiles/global");
	bool found = test_count_named(views, name) > 0;

	free(views);
	return found;
}

/* SynthwavePunk (civitai:1102) and Other (a two-version LoRA), imported and installed. */
static void two_installed_packs(void)
{
	json_t *model = two_version_model(600, "Other", "other_a.safetensors", "other_b.safetensors");

	ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
	json_decref(model);
	json_decref(import_ok("civitai:1102", NULL));
	json_decref(install("SynthwavePunk"));
	json_decref(import_ok("civitai:600", NULL));
	json_decref(install("Other"));
}

START_TEST(a_hand_edit_before_a_command_is_reported_and_repaired)
{
	json_t *r = NULL, *status = NULL, *pack, *dep;
	size_t i;

	two_installed_packs();
	/* long-settled documents, summed up in the pack cache by a status */
	test_backdate_pack("SynthwavePunk");
	ck_assert_int_eq(syn_store_status(test_store, NULL, &status), 0);
	json_decref(status);
	/* a hand edit of one pack, then a command that changes another */
	pack = read_doc("store/state/packs/SynthwavePunk/pack.json");
	json_array_foreach(json_object_get(pack, "dependencies"), i, dep)
		if (!strcmp(syn_doc_str(json_object_get(dep, "expose"), "filename", ""), "synthwavepunk_v3Alpha.safetensors"))
			json_object_set_new(json_object_get(dep, "expose"), "filename", json_string("renamed.safetensors"));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "packs/SynthwavePunk/pack.json", pack), 0);
	json_decref(pack);
	ck_assert_int_eq(syn_pack_delete(test_store, "Other", false, &r), 0);
	json_decref(r);
	ck_assert(!view_links("other_b.safetensors"));
	/* the edit is noticed: status says the view is out of date until doctor rebuilds it */
	ck_assert_int_eq(syn_store_status(test_store, NULL, &status), 0);
	if (!view_links("renamed.safetensors")) {
		/* the command took the pack's summary from before the edit, as it may */
		char *notes = json_dumps(json_object_get(status, "notes"), 0);

		ck_assert(json_is_false(json_object_get(json_object_get(status, "in_sync"), "comfyui")));
		ck_assert_ptr_nonnull(strstr(notes, "out of date"));
		free(notes);
	}
	json_decref(status);
	ck_assert_int_ne(syn_doctor(test_store, NULL, true, false, &r), SYN_ENOMEM);
	json_decref(r);
	ck_assert(view_links("renamed.safetensors"));
	ck_assert_int_eq(syn_store_status(test_store, NULL, &status), 0);
	ck_assert(json_is_true(json_object_get(json_object_get(status, "in_sync"), "comfyui")));
	json_decref(status);
}
END_TEST

/* Set the modification time of folder @rel (under the test root) @ago seconds back. */
static void date_folder_back(const char *rel, long ago)
{
	char *path = test_path(rel);
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= ago;
	ts[1] = ts[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(path);
}

START_TEST(a_blob_removed_by_hand_before_a_command_is_reported)
{
	json_t *r = NULL, *status = NULL;
	char hex[65], *blob, *folder, *notes, *path;

	two_installed_packs();
	blob = blob_rel(sha_of_file(194, hex));
	folder = strdup(blob);
	*strrchr(folder, '/') = '\0';
	/* a view signed while its blob folder had long been still */
	date_folder_back(folder, 3600);
	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_int_eq(syn_view_build(test_store, "comfyui", "global", true, &r), 0);
	syn_store_unlock(test_store);
	json_decref(r);
	/* the blob goes behind Synapse's back, a while before the next command */
	path = test_path(blob);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	date_folder_back(folder, 1800);
	ck_assert_int_eq(syn_pack_delete(test_store, "Other", false, &r), 0);
	json_decref(r);
	/* the command did not look, so the view must not claim to be whole */
	ck_assert_int_eq(syn_store_status(test_store, NULL, &status), 0);
	notes = json_dumps(json_object_get(status, "notes"), 0);
	ck_assert_msg(json_is_false(json_object_get(json_object_get(status, "in_sync"), "comfyui")), "%s", notes);
	ck_assert_ptr_nonnull(strstr(notes, "no longer in the store"));
	free(notes);
	json_decref(status);
	free(folder);
	free(blob);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pack");

	TEST(s, import_by_url_writes_pack_lock_previews, pack_setup, pack_teardown);
	TEST(s, every_reference_form_imports, pack_setup, pack_teardown);
	TEST(s, unknown_reference_is_a_clear_error, pack_setup, pack_teardown);
	TEST(s, multi_version_pack, pack_setup, pack_teardown);
	TEST(s, hostile_file_name_refuses_import_and_writes_nothing, pack_setup, pack_teardown);
	TEST(s, hostile_pack_names_are_refused, pack_setup, pack_teardown);
	TEST(s, same_name_other_model_needs_a_name, pack_setup, pack_teardown);
	TEST(s, reimport_keeps_user_fields, pack_setup, pack_teardown);
	TEST(s, install_downloads_verifies_and_dedups, pack_setup, pack_teardown);
	TEST(s, interrupted_install_resumes_with_range, pack_setup, pack_teardown);
	TEST(s, server_faults_give_clear_errors_and_store_nothing, pack_setup, pack_teardown);
	TEST(s, two_packs_sharing_a_file_download_it_once, pack_setup, pack_teardown);
	TEST(s, install_waits_for_another_process_holding_the_lock, pack_setup, pack_teardown);
	TEST(s, delete_removes_pack_but_keeps_blobs, pack_setup, pack_teardown);
	TEST(s, the_global_profile_is_edited_in_its_text, pack_setup, pack_teardown);
	TEST(s, a_hand_edit_before_a_command_is_reported_and_repaired, pack_setup, pack_teardown);
	TEST(s, a_blob_removed_by_hand_before_a_command_is_reported, pack_setup, pack_teardown);
	TEST(s, list_show_search, pack_setup, pack_teardown);
	TEST(s, the_streamed_list_and_status_are_their_reports_text, pack_setup, pack_teardown);
	TEST(s, views_changed_during_the_commit_record_its_generation, pack_setup, pack_teardown);
	TEST(s, a_commit_that_fails_while_the_views_change_fails_the_command, pack_setup, pack_teardown);
	TEST(s, a_delete_killed_midway_leaves_no_half_pack, pack_setup, pack_teardown);
	TEST(s, an_import_killed_midway_leaves_no_half_pack, pack_setup, pack_teardown);
	TEST(s, resolve_rebuilds_the_lock, pack_setup, pack_teardown);
	TEST(s, token_never_reaches_state, pack_setup, pack_teardown);
	TEST(s, lock_without_hash_learns_the_computed_one, pack_setup, pack_teardown);
	TEST(s, base_model_alias_resolves_to_its_file, pack_setup, pack_teardown);
	TEST(s, unknown_source_imports_resolves_and_installs, memory_setup, pack_teardown);
	TEST(s, selector_no_source_claims_is_unresolved, memory_setup, pack_teardown);
	TEST(s, version_1_source_is_refused_clearly, memory_setup, pack_teardown);
	TEST(s, unknown_reference_lists_every_source, memory_setup, pack_teardown);
	return test_main(s);
}
