/*
 * The operations table: the CLI's --json output is the operation's report,
 * command by command, and the table's argument checks and error mapping.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fake_civitai.h"

static struct fake_civitai *fake;
static char env_url[256], root_a[512], root_b[512], prefix_a[512], prefix_b[512];
static const char *env[8];
static struct syn_registry *reg;
static struct syn_store *store_b;

static void setup(void)
{
	char *a, *b;

	tmp_setup();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, 64 * 1024), 0);
	snprintf(env_url, sizeof(env_url), "SYNAPSE_CIVITAI_URL=%s", fake_civitai_url(fake));
	env[0] = env_url;
	env[1] = "SYNAPSE_CIVITAI_RETRY_MS=5";
	env[2] = "CIVITAI_API_TOKEN=";
	env[3] = NULL;
	setenv("SYNAPSE_CIVITAI_URL", fake_civitai_url(fake), 1);
	setenv("SYNAPSE_CIVITAI_RETRY_MS", "5", 1);
	unsetenv("CIVITAI_API_TOKEN");
	unsetenv("CIVITAI_API_KEY");
	a = test_path("a");
	b = test_path("b");
	snprintf(prefix_a, sizeof(prefix_a), "%s/", a);
	snprintf(prefix_b, sizeof(prefix_b), "%s/", b);
	snprintf(root_a, sizeof(root_a), "%s/store", a);
	snprintf(root_b, sizeof(root_b), "%s/store", b);
	free(a);
	free(b);
	reg = test_registry();
	ck_assert_int_eq(syn_store_open(&store_b, reg, root_b), 0);
}

static void teardown(void)
{
	syn_store_free(store_b);
	syn_registry_free(reg);
	fake_civitai_stop(fake);
	unsetenv("SYNAPSE_CIVITAI_URL");
	tmp_teardown();
}

/*
 * Store A's paths as store B's, and without what differs between two runs of
 * the same command (commit ids and times), so the two reports compare.
 */
static json_t *normalized(json_t *v)
{
	const char *key, *s;
	json_t *item;
	void *tmp;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, key, item) {
			size_t n = strlen(key);
			const char *sv = json_string_value(item);

			if ((!strcmp(key, "id") && sv && strlen(sv) == 40) || !strcmp(key, "time") ||
			    (n > 3 && !strcmp(key + n - 3, "_at")))
				json_object_del(v, key);
			else
				json_object_set_new(v, key, normalized(json_incref(item)));
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			json_array_set_new(v, i, normalized(json_incref(item)));
	} else if ((s = json_string_value(v)) && strstr(s, prefix_a)) {
		struct syn_buf b = SYN_BUF_INIT;
		const char *at;

		while ((at = strstr(s, prefix_a))) {
			syn_buf_put(&b, s, (size_t)(at - s));
			syn_buf_puts(&b, prefix_b);
			s = at + strlen(prefix_a);
		}
		syn_buf_puts(&b, s);
		json_decref(v);
		v = json_string(b.ptr);
		syn_buf_dispose(&b);
	}
	return v;
}

static char *dumped(const json_t *v)
{
	return json_dumps(v, JSON_SORT_KEYS | JSON_INDENT(1));
}

/*
 * Run `synapse --root A <argv> --json` and operation @op with @args on store
 * B: the same exit status class and the same document.
 */
static void same(const char *op_name, const char *args_text, const char *const *argv)
{
	const char *full[24];
	const struct syn_op *op = syn_op_find(op_name);
	json_t *args = args_text ? json_loads(args_text, 0, NULL) : NULL, *report = NULL, *cli_doc;
	struct test_run r;
	int rc, n = 0;
	char *want, *got;

	ck_assert_msg(op, "no operation '%s'", op_name);
	full[n++] = "--root";
	full[n++] = root_a;
	while (*argv)
		full[n++] = *argv++;
	full[n++] = "--json";
	full[n] = NULL;
	r = test_cli(full, env);
	rc = syn_op_run(op, store_b, args, NULL, &report);
	cli_doc = json_loads(r.out, 0, NULL);
	ck_assert_msg(cli_doc, "%s: stdout is not one JSON document: %s", op_name, r.out);
	if (rc < 0) {
		json_t *fail = json_pack("{s:s}", "detail", syn_error_last());

		if (report)
			json_object_set(fail, "result", report);
		json_decref(report);
		report = fail;
		ck_assert_msg(r.status != 0, "%s failed in-process (%s) but not in the CLI", op_name, syn_error_last());
	} else {
		ck_assert_msg(r.status == 0, "%s: the CLI failed (%s) but not the operation", op_name, r.err);
	}
	cli_doc = normalized(cli_doc);
	report = normalized(report);
	want = dumped(report);
	got = dumped(cli_doc);
	if (!json_equal(cli_doc, report))
		fprintf(stderr, "%s: the CLI printed\n%s\nthe operation reported\n%s\n", op_name, got, want);
	ck_assert_msg(json_equal(cli_doc, report), "%s: the CLI's document differs from the operation's report",
		      op_name);
	free(want);
	free(got);
	json_decref(cli_doc);
	json_decref(report);
	json_decref(args);
	test_run_free(&r);
}

#define SAME(op, args, ...) same(op, args, (const char *const[]){ __VA_ARGS__, NULL })

/* Point every UI's root of the store at @root into a folder of its own (attach must not touch $HOME). */
static void set_ui_roots(const char *root, const char *prefix)
{
	struct syn_buf path = SYN_BUF_INIT, dir = SYN_BUF_INIT;
	json_t *config, *roots, *v;
	size_t i;

	syn_buf_printf(&path, "%s/state/config.json", root);
	config = json_load_file(path.ptr, 0, NULL);
	ck_assert_ptr_nonnull(config);
	roots = json_object_get(json_object_get(config, "ui"), "roots");
	json_array_foreach(json_object_get(json_object_get(config, "ui"), "known"), i, v) {
		syn_buf_clear(&dir);
		syn_buf_printf(&dir, "%suis/%s", prefix, json_string_value(v));
		ck_assert_int_eq(syn_fs_mkdirs(AT_FDCWD, dir.ptr), 0);
		json_object_set_new(roots, json_string_value(v), json_string(dir.ptr));
	}
	ck_assert_int_eq(json_dump_file(config, path.ptr, JSON_SORT_KEYS | JSON_INDENT(2)), 0);
	json_decref(config);
	syn_buf_dispose(&path);
	syn_buf_dispose(&dir);
}

START_TEST(cli_json_is_the_operations_report)
{
	SAME("store init", NULL, "store", "init");
	SAME("store init", NULL, "store", "init");
	SAME("store config", NULL, "store", "config");
	SAME("import", "{\"url\": \"civitai:1102\"}", "import", "civitai:1102");
	SAME("list", NULL, "list");
	SAME("show", "{\"pack\": \"SynthwavePunk\"}", "show", "SynthwavePunk");
	SAME("resolve", "{\"pack\": \"SynthwavePunk\"}", "resolve", "SynthwavePunk");
	SAME("search", "{\"query\": \"synth\"}", "search", "synth");
	SAME("status", NULL, "status");
	SAME("install", "{\"pack\": \"SynthwavePunk\", \"jobs\": 2}", "install", "SynthwavePunk", "--jobs", "2");
	SAME("install", "{\"pack\": \"SynthwavePunk\"}", "install", "SynthwavePunk");
	SAME("use", "{\"pack\": \"SynthwavePunk\", \"sync\": false}", "use", "SynthwavePunk", "--no-sync");
	SAME("status", "{\"ui_set\": \"all\"}", "status", "--ui-set", "all");
	SAME("profiles list", NULL, "profiles", "list");
	SAME("profiles show", "{\"profile\": \"work__SynthwavePunk\"}", "profiles", "show", "work__SynthwavePunk");
	SAME("delete", "{\"pack\": \"SynthwavePunk\"}", "delete", "SynthwavePunk");
	SAME("back", NULL, "back");
	SAME("use", "{\"pack\": \"SynthwavePunk\"}", "use", "SynthwavePunk");
	SAME("reset", "{\"ui_set\": \"local\"}", "reset", "--ui-set", "local");
	SAME("doctor", "{\"rebuild_views\": true, \"verify_blobs\": true}", "doctor", "--rebuild-views",
	     "--verify-blobs");
	set_ui_roots(root_a, prefix_a);
	set_ui_roots(root_b, prefix_b);
	SAME("attach", NULL, "attach");
	SAME("attach-status", "{\"ui_set\": \"all\"}", "attach-status", "--ui-set", "all");
	SAME("detach", NULL, "detach");
	SAME("ui list", NULL, "ui", "list");
	SAME("plugins", NULL, "plugins");
	SAME("history", "{\"limit\": 3}", "history", "--limit", "3");
	SAME("delete", "{\"pack\": \"SynthwavePunk\", \"force\": true}", "delete", "SynthwavePunk", "--force");
	/* failures are the same document too */
	SAME("show", "{\"pack\": \"Nope\"}", "show", "Nope");
	SAME("install", "{\"pack\": \"x\", \"jobs\": \"0\"}", "install", "x", "--jobs", "0");
}
END_TEST

START_TEST(no_previews_means_none)
{
	json_t *report = NULL, *args = json_pack("{s:s, s:i}", "url", "civitai:1102", "max_previews", 0);

	ck_assert_int_eq(syn_op_run(syn_op_find("store init"), store_b, NULL, NULL, &report), 0);
	json_decref(report);
	ck_assert_msg(syn_op_run(syn_op_find("import"), store_b, args, NULL, &report) == 0, "%s", syn_error_last());
	ck_assert_int_eq(json_integer_value(json_object_get(report, "previews_downloaded")), 0);
	json_decref(report);
	json_decref(args);
}
END_TEST

START_TEST(every_operation_is_a_command)
{
	struct test_run r = test_cli((const char *const[]){ "--help", NULL }, NULL);
	const struct syn_op *op;
	size_t i;

	ck_assert_int_eq(r.status, 0);
	for (i = 0; (op = syn_op_at(i)); i++) {
		struct test_run h;
		char line[64];

		snprintf(line, sizeof(line), "  %-14s %s", op->name, op->summary);
		ck_assert_msg(strstr(r.out, line), "the overview lacks '%s'", line);
		h = test_cli((const char *const[]){ "help", op->name, NULL }, NULL);
		/* two-word names are two arguments */
		if (strchr(op->name, ' ')) {
			char words[32], *space;

			test_run_free(&h);
			snprintf(words, sizeof(words), "%s", op->name);
			space = strchr(words, ' ');
			*space = '\0';
			h = test_cli((const char *const[]){ "help", words, space + 1, NULL }, NULL);
		}
		ck_assert_msg(h.status == 0, "'synapse help %s' failed: %s", op->name, h.err);
		ck_assert_ptr_nonnull(strstr(h.out, "usage: synapse"));
		test_run_free(&h);
	}
	ck_assert_ptr_null(syn_op_find("no such thing"));
	test_run_free(&r);
}
END_TEST

START_TEST(arguments_are_checked_by_the_operation)
{
	const struct syn_op *install = syn_op_find("install"), *use = syn_op_find("use");
	json_t *report = NULL, *args;

	/* not initialized comes first, whatever the arguments */
	args = json_pack("{s:s, s:i}", "pack", "x", "jobs", 0);
	ck_assert_int_eq(syn_op_run(install, store_b, args, NULL, &report), SYN_ENOTINIT);
	ck_assert_ptr_null(report);
	ck_assert_int_eq(syn_op_run(syn_op_find("store init"), store_b, NULL, NULL, &report), 0);
	json_decref(report);
	/* ranges and types */
	ck_assert_int_eq(syn_op_run(install, store_b, args, NULL, &report), SYN_EUSAGE);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "from 1 to 16"));
	json_decref(args);
	args = json_pack("{s:s, s:s}", "pack", "x", "jobs", "many");
	ck_assert_int_eq(syn_op_run(install, store_b, args, NULL, &report), SYN_EUSAGE);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "'many'"));
	json_decref(args);
	args = json_pack("{s:i}", "pack", 7);
	ck_assert_int_eq(syn_op_run(install, store_b, args, NULL, &report), SYN_EUSAGE);
	json_decref(args);
	ck_assert_int_eq(syn_op_run(install, store_b, NULL, NULL, &report), SYN_EUSAGE);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "'pack'"));
	args = json_pack("{s:s, s:s}", "pack", "x", "sync", "perhaps");
	ck_assert_int_eq(syn_op_run(use, store_b, args, NULL, &report), SYN_EUSAGE);
	json_decref(args);
	args = json_pack("[]");
	ck_assert_int_eq(syn_op_run(use, store_b, args, NULL, &report), SYN_EUSAGE);
	json_decref(args);
	/* a valid call reaches the module, which names the missing pack */
	args = json_pack("{s:s, s:s}", "pack", "Missing", "jobs", "3");
	ck_assert_int_eq(syn_op_run(install, store_b, args, NULL, &report), SYN_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "Missing"));
	json_decref(args);
}
END_TEST

START_TEST(errors_map_to_http_statuses)
{
	ck_assert_int_eq(syn_error_http_status(0), 200);
	ck_assert_int_eq(syn_error_http_status(SYN_EUSAGE), 400);
	ck_assert_int_eq(syn_error_http_status(SYN_EINVALID), 400);
	ck_assert_int_eq(syn_error_http_status(SYN_ENOTINIT), 400);
	ck_assert_int_eq(syn_error_http_status(SYN_ENOTFOUND), 404);
	ck_assert_int_eq(syn_error_http_status(SYN_EGUARD), 409);
	ck_assert_int_eq(syn_error_http_status(SYN_EEXISTS), 409);
	ck_assert_int_eq(syn_error_http_status(SYN_ELOCKED), 423);
	ck_assert_int_eq(syn_error_http_status(SYN_ENETWORK), 503);
	ck_assert_int_eq(syn_error_http_status(SYN_ENOSPC), 507);
	ck_assert_int_eq(syn_error_http_status(SYN_EIO), 500);
}
END_TEST

START_TEST(usage_errors_under_json_are_documents)
{
	static const char *const cases[][4] = {
		{ "--json", "bogus", NULL }, { "--json", "store", "bogus", NULL }, { "--json", "status", "--bogus", NULL },
		{ "--json", "import", NULL }, { "--json", "use", "X", "--sync" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[6] = { 0 };
		struct test_run r;
		json_t *doc;
		int k;

		for (k = 0; k < 4 && cases[i][k]; k++)
			argv[k] = cases[i][k];
		if (i == 4)
			argv[k++] = "--no-sync";
		r = test_cli(argv, NULL);
		ck_assert_msg(r.status == 2, "case %zu exited %d", i, r.status);
		doc = json_loads(r.out, 0, NULL);
		ck_assert_msg(json_string_value(json_object_get(doc, "detail")), "case %zu printed %s", i, r.out);
		ck_assert_ptr_nonnull(strstr(r.err, json_string_value(json_object_get(doc, "detail"))));
		json_decref(doc);
		test_run_free(&r);
	}
}
END_TEST

START_TEST(a_partly_failed_attach_fails_with_its_report)
{
	struct test_run r;
	char *file;
	json_t *doc;

	SAME("store init", NULL, "store", "init");
	set_ui_roots(root_a, prefix_a);
	/* forge's root is a file: that UI cannot be attached, comfyui can */
	file = test_path("a/uis/forge");
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, file), 0);
	test_write_file(file, "not a folder", 12);
	r = test_cli((const char *const[]){ "--root", root_a, "--json", "attach", NULL }, env);
	ck_assert_int_eq(r.status, 1);
	doc = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(doc, "detail")), "attach failed for 1 of 2 UI(s): forge"));
	ck_assert_ptr_nonnull(strstr(r.err, "attach failed for 1 of 2"));
	ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(doc, "result"), "comfyui"), "success")));
	ck_assert(json_is_false(json_object_get(json_object_get(json_object_get(doc, "result"), "forge"), "success")));
	json_decref(doc);
	test_run_free(&r);
	/* the text says what was done, then why it failed */
	r = test_cli((const char *const[]){ "--root", root_a, "attach", NULL }, env);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "comfyui -> attached"));
	ck_assert_ptr_nonnull(strstr(r.out, "forge -> failed"));
	ck_assert_ptr_nonnull(strstr(r.err, "error: attach failed for 1 of 2 UI(s): forge"));
	test_run_free(&r);
	free(file);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ops");

	TEST(s, cli_json_is_the_operations_report, setup, teardown);
	TEST(s, every_operation_is_a_command, setup, teardown);
	TEST(s, no_previews_means_none, setup, teardown);
	TEST(s, arguments_are_checked_by_the_operation, setup, teardown);
	TEST(s, errors_map_to_http_statuses, setup, teardown);
	TEST(s, usage_errors_under_json_are_documents, setup, teardown);
	TEST(s, a_partly_failed_attach_fails_with_its_report, setup, teardown);
	return test_main(s);
}
