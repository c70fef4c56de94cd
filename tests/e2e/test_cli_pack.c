/* End-to-end: the synapse binary importing and installing from the fake Civitai. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fake_civitai.h"

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

static json_t *parse_out(const struct test_run *r)
{
	json_error_t err;
	json_t *doc = json_loads(r->out, 0, &err);

	ck_assert_msg(doc, "stdout is not one JSON document (%s): %s", err.text, r->out);
	return doc;
}

static void init_and_import(void)
{
	struct test_run r = RUN("store", "init");

	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	r = RUN("import", "civitai:1102");
	ck_assert_msg(r.status == 0, "import failed: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "Imported pack: SynthwavePunk"));
	test_run_free(&r);
}

START_TEST(import_install_list_show_search_delete)
{
	struct test_run r;
	json_t *doc;
	char hex[65];
	const unsigned char *body;
	size_t len;

	init_and_import();
	ck_assert(fake_civitai_file(fake, 194, &body, &len, hex));

	r = RUN("list", "--json");
	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(doc, "packs"), 0), "name")),
			 "SynthwavePunk");
	ck_assert(json_is_false(json_object_get(json_array_get(json_object_get(doc, "packs"), 0), "installed")));
	json_decref(doc);
	test_run_free(&r);

	r = RUN("install", "SynthwavePunk", "--json");
	ck_assert_msg(r.status == 0, "install failed: %s", r.err);
	doc = parse_out(&r);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "hashes"), 0)), hex);
	json_decref(doc);
	ck_assert_ptr_null(strchr(r.err, '\r')); /* no progress bar when stderr is not a terminal */
	test_run_free(&r);

	r = RUN("install", "SynthwavePunk");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "1 already present"));
	test_run_free(&r);

	/* importing an installed pack again asks for no install */
	r = RUN("import", "civitai:1102");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Updated pack: SynthwavePunk"));
	ck_assert_ptr_null(strstr(r.out, "Next: synapse install"));
	ck_assert_ptr_nonnull(strstr(r.out, "already installed"));
	test_run_free(&r);

	r = RUN("show", "SynthwavePunk");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "main_checkpoint"));
	ck_assert_ptr_nonnull(strstr(r.out, "installed"));
	test_run_free(&r);

	r = RUN("search", "punk");
	ck_assert_msg(r.status == 0, "search failed: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "SynthwavePunk"));
	test_run_free(&r);

	r = RUN("status", "--json");
	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "missing_blobs")), 0);
	/* the optional base-model hint no source can name is no error of a healthy store */
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "unresolved")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "unresolved_optional")), 1);
	json_decref(doc);
	test_run_free(&r);
	r = RUN("status");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_null(strstr(r.out, "unresolved"));
	ck_assert_ptr_nonnull(strstr(r.out, "All dependencies resolved and installed"));
	test_run_free(&r);

	r = RUN("delete", "SynthwavePunk");
	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	r = RUN("show", "SynthwavePunk", "--json");
	ck_assert_int_eq(r.status, 1);
	doc = parse_out(&r);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(doc, "detail")), "not found"));
	json_decref(doc);
	test_run_free(&r);

	r = RUN("history");
	ck_assert_ptr_nonnull(strstr(r.out, "delete SynthwavePunk"));
	/* the lock already named the file's digest: installing changed no state, so made no commit */
	ck_assert_ptr_null(strstr(r.out, "install SynthwavePunk"));
	ck_assert_ptr_nonnull(strstr(r.out, "import SynthwavePunk"));
	test_run_free(&r);
}
END_TEST

START_TEST(failed_install_names_the_file_and_exits_1)
{
	struct test_run r;
	json_t *doc;

	init_and_import();
	fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, 410, 0, -1);
	r = RUN("install", "SynthwavePunk");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "synthwavepunk_v3Alpha.safetensors"));
	ck_assert_ptr_nonnull(strstr(r.err, "archived"));
	test_run_free(&r);
	r = RUN("install", "SynthwavePunk", "--json");
	ck_assert_int_eq(r.status, 1);
	doc = parse_out(&r);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(doc, "detail")), "archived"));
	json_decref(doc);
	test_run_free(&r);
}
END_TEST

START_TEST(token_is_never_printed)
{
	static const char *tok_env[6];
	struct test_run r;

	init_and_import();
	memcpy(tok_env, env, sizeof(tok_env));
	tok_env[3] = "CIVITAI_API_TOKEN=very-secret-token";
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_STATUS, 403, 0, -1);
	r = test_cli((const char *const[]){ "install", "SynthwavePunk", NULL }, tok_env);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_null(strstr(r.err, "very-secret-token"));
	ck_assert_ptr_null(strstr(r.out, "very-secret-token"));
	test_run_free(&r);
}
END_TEST

START_TEST(usage_errors)
{
	struct test_run r = RUN("import");

	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "missing <ref>"));
	test_run_free(&r);
	r = RUN("install", "x", "--jobs", "0");
	ck_assert_int_eq(r.status, 1); /* no store yet: checked before the option value */
	test_run_free(&r);
	r = RUN("import", "civitai:1", "--version", "abc");
	ck_assert_int_ne(r.status, 0);
	test_run_free(&r);
}
END_TEST

START_TEST(use_back_doctor_through_the_cli)
{
	struct test_run r;
	json_t *doc, *v;
	const char *ui;
	char *link = test_path("store/data/views/comfyui/active/models/checkpoints/synthwavepunk_v3Alpha.safetensors");

	init_and_import();
	r = RUN("use", "SynthwavePunk");
	ck_assert_msg(r.status == 0, "use failed: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "Activated: work__SynthwavePunk"));
	test_run_free(&r);
	/* use downloaded the missing file (sync is the default) and linked it */
	ck_assert(test_exists(link));
	r = RUN("status", "--json");
	doc = parse_out(&r);
	json_object_foreach(json_object_get(doc, "in_sync"), ui, v)
		ck_assert_msg(json_is_true(v), "%s not in sync", ui);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "active"), "forge")),
			 "work__SynthwavePunk");
	json_decref(doc);
	test_run_free(&r);
	r = RUN("back");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "work__SynthwavePunk -> global"));
	test_run_free(&r);
	r = RUN("profiles", "list");
	ck_assert_ptr_nonnull(strstr(r.out, "work__SynthwavePunk"));
	test_run_free(&r);
	r = RUN("doctor", "--rebuild-views");
	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	r = RUN("reset", "--json");
	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	free(link);
}
END_TEST

START_TEST(use_sync_restores_a_blob_removed_behind_its_back)
{
	struct test_run r;
	json_t *doc, *v;
	const char *ui;
	char *link = test_path("store/data/views/comfyui/active/models/checkpoints/synthwavepunk_v3Alpha.safetensors");
	const struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char *blob, *folder;
	struct stat sb;

	init_and_import();
	r = RUN("use", "SynthwavePunk");
	ck_assert_msg(r.status == 0, "use failed: %s", r.err);
	test_run_free(&r);
	blob = realpath(link, NULL);
	ck_assert_ptr_nonnull(blob);
	/* an old blob folder, and a use since: the view vouches for it by its signature alone */
	folder = strdup(blob);
	*strrchr(folder, '/') = '\0';
	ck_assert_int_eq(utimensat(AT_FDCWD, folder, old, 0), 0);
	r = RUN("use", "SynthwavePunk", "--no-sync");
	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	ck_assert_int_eq(unlink(blob), 0);
	/* status sees the link dangle, and says what to run */
	r = RUN("status", "--json");
	doc = parse_out(&r);
	ck_assert(json_is_false(json_object_get(json_object_get(doc, "in_sync"), "comfyui")));
	ck_assert_ptr_nonnull(strstr(r.out, "synapse install"));
	json_decref(doc);
	test_run_free(&r);
	/* use --sync downloads it again instead of trusting the cached view */
	r = RUN("use", "SynthwavePunk", "--sync");
	ck_assert_msg(r.status == 0, "use failed: %s", r.err);
	test_run_free(&r);
	ck_assert_int_eq(stat(link, &sb), 0);
	ck_assert(test_exists(blob));
	r = RUN("status", "--json");
	doc = parse_out(&r);
	json_object_foreach(json_object_get(doc, "in_sync"), ui, v)
		ck_assert_msg(json_is_true(v), "%s not in sync: %s", ui, r.out);
	json_decref(doc);
	test_run_free(&r);
	free(folder);
	free(blob);
	free(link);
}
END_TEST

START_TEST(ui_list_detects_an_install)
{
	static const char *envh[8];
	char home[600], *comfy = test_path("ComfyUI"), *f;
	struct test_run r;
	json_t *doc, *u;
	size_t i;
	bool found = false;

	ck_assert_int_eq(mkdir(comfy, 0755), 0);
	f = test_path("ComfyUI/main.py");
	test_write_file(f, "", 0);
	free(f);
	f = test_path("ComfyUI/folder_paths.py");
	test_write_file(f, "", 0);
	free(f);
	f = test_path("ComfyUI/comfy");
	ck_assert_int_eq(mkdir(f, 0755), 0);
	free(f);
	memcpy(envh, env, sizeof(env));
	snprintf(home, sizeof(home), "HOME=%s", test_dir);
	envh[4] = home;
	r = test_cli((const char *const[]){ "ui", "list", "--json", NULL }, envh);
	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	json_array_foreach(json_object_get(doc, "uis"), i, u) {
		if (strcmp(json_string_value(json_object_get(u, "name")), "comfyui"))
			continue;
		found = true;
		ck_assert(json_is_true(json_object_get(u, "detected")));
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(u, "kind_map"), "lora")), "models/loras");
	}
	ck_assert(found);
	json_decref(doc);
	test_run_free(&r);
	free(comfy);
}
END_TEST

/* ---- segmented downloads through the binary -------------------------------- */

#define BIG_FILE ((size_t)4 << 20)

static void big_setup(void)
{
	setup();
	fake_civitai_stop(fake);
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, BIG_FILE), 0);
	snprintf(env_url, sizeof(env_url), "SYNAPSE_CIVITAI_URL=%s", fake_civitai_url(fake));
}

/* config.json's download section set to segment files from 64 KiB on. */
static void segment_from_64k(void)
{
	char *path = test_path("store/state/config.json");
	json_t *config = json_load_file(path, 0, NULL);

	ck_assert_ptr_nonnull(config);
	ck_assert_int_eq(json_object_set_new(json_object_get(config, "download"), "segment_min",
					     json_integer(65536)), 0);
	ck_assert_int_eq(json_dump_file(config, path, JSON_INDENT(2)), 0);
	json_decref(config);
	free(path);
}

/* The held ranges the sidecar of @sha records, as pairs into @held; their count (0 when none yet). */
static size_t held_ranges(const char *sha, uint64_t held[][2], size_t max)
{
	char rel[160], *path;
	json_t *doc, *r;
	size_t i, n = 0;

	snprintf(rel, sizeof(rel), "store/data/tmp/%s.ranges", sha);
	path = test_path(rel);
	doc = json_load_file(path, 0, NULL);
	free(path);
	json_array_foreach(json_object_get(doc, "held"), i, r) {
		if (n == max)
			break;
		held[n][0] = (uint64_t)json_integer_value(json_array_get(r, 0));
		held[n][1] = (uint64_t)json_integer_value(json_array_get(r, 1));
		n++;
	}
	json_decref(doc);
	return n;
}

START_TEST(segmented_install_resumes_after_kill_9)
{
	const char *args[] = { "install", "SynthwavePunk", "--limit-rate", "1M", NULL };
	struct timespec step = { 0, 10 * 1000 * 1000 };
	struct fake_request *log;
	uint64_t held[64][2];
	unsigned long long a, b;
	const unsigned char *body;
	char hex[65], *out = test_path("bg.out"), *err = test_path("bg.err");
	size_t len, nheld = 0, n, i, j;
	struct test_run r;
	int waited, status, ranged = 0;
	pid_t pid;

	init_and_import();
	segment_from_64k();
	ck_assert(fake_civitai_file(fake, 194, &body, &len, hex));
	ck_assert_uint_eq(len, BIG_FILE);

	/* a slow install (1 MiB/s for 4 MiB), killed once it holds some ranges */
	pid = test_cli_spawn(args, env, out, err);
	for (waited = 0; waited < 3000 && !(nheld = held_ranges(hex, held, 64)); waited++) {
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0, "install ended before it held a range");
		nanosleep(&step, NULL);
	}
	ck_assert_msg(nheld > 0, "no range was recorded after 30 s");
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* what the sidecar says after the kill is what the next install may keep */
	nheld = held_ranges(hex, held, 64);
	ck_assert_uint_gt(nheld, 0);

	fake_civitai_clear_requests(fake);
	r = RUN("install", "SynthwavePunk", "--json");
	ck_assert_msg(r.status == 0, "install after the kill failed: %s", r.err);
	test_run_free(&r);
	r = RUN("doctor", "--verify-blobs", "--json");
	ck_assert_msg(r.status == 0, "doctor --verify-blobs after the resume (%d): %s %s", r.status, r.out, r.err);
	test_run_free(&r);

	/* the second install asked only for ranges the first had not completed */
	n = fake_civitai_requests(fake, NULL, 0);
	log = calloc(n + 1, sizeof(*log));
	ck_assert_ptr_nonnull(log);
	n = fake_civitai_requests(fake, log, n);
	for (i = 0; i < n; i++) {
		if (strncmp(log[i].path, "/cdn/", 5) || sscanf(log[i].range, "bytes=%llu-%llu", &a, &b) != 2)
			continue;
		ranged++;
		for (j = 0; j < nheld; j++)
			ck_assert_msg(b + 1 <= held[j][0] || a >= held[j][1],
				      "range %llu-%llu fetched again though %llu-%llu was held", a, b,
				      (unsigned long long)held[j][0], (unsigned long long)held[j][1]);
	}
	ck_assert_int_gt(ranged, 0);
	free(log);
	free(out);
	free(err);
}
END_TEST

START_TEST(limit_rate_is_checked)
{
	struct test_run r;

	init_and_import();
	r = RUN("install", "SynthwavePunk", "--limit-rate", "fast");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "invalid rate 'fast'"));
	test_run_free(&r);
	r = RUN("install", "--help");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "--limit-rate RATE"));
	test_run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_pack");

	TEST(s, import_install_list_show_search_delete, setup, teardown);
	TEST(s, segmented_install_resumes_after_kill_9, big_setup, teardown);
	TEST(s, limit_rate_is_checked, setup, teardown);
	TEST(s, failed_install_names_the_file_and_exits_1, setup, teardown);
	TEST(s, token_is_never_printed, setup, teardown);
	TEST(s, usage_errors, setup, teardown);
	TEST(s, use_back_doctor_through_the_cli, setup, teardown);
	TEST(s, use_sync_restores_a_blob_removed_behind_its_back, setup, teardown);
	TEST(s, ui_list_detects_an_install, setup, teardown);
	return test_main(s);
}
