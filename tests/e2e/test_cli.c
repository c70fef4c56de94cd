/* End-to-end tests driving the built `synapse` binary. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define RUN(...) test_cli((const char *const[]){ __VA_ARGS__, NULL }, NULL)
#define RUN_ENV(env, ...) test_cli((const char *const[]){ __VA_ARGS__, NULL }, env)

static json_t *parse_out(const struct test_run *r)
{
	json_error_t err;
	json_t *doc = json_loads(r->out, 0, &err);

	ck_assert_msg(doc, "stdout is not one JSON document (%s): %s", err.text, r->out);
	return doc;
}

START_TEST(every_command_has_help)
{
	static const char *const cmds[][2] = {
		{ "store", "init" }, { "store", "config" }, { "status", NULL }, { "plugins", NULL },
		{ "history", NULL }, { "import", NULL }, { "list", NULL }, { "show", NULL }, { "resolve", NULL },
		{ "install", NULL }, { "delete", NULL }, { "search", NULL }, { "use", NULL }, { "back", NULL },
		{ "reset", NULL }, { "profiles", "list" }, { "profiles", "show" }, { "doctor", NULL },
		{ "attach", NULL }, { "detach", NULL }, { "attach-status", NULL }, { "ui", "list" } };
	struct test_run r = RUN("--help");
	size_t i;

	ck_assert_int_eq(r.status, 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ck_assert_msg(strstr(r.out, cmds[i][1] ? cmds[i][1] : cmds[i][0]), "overview lacks %s", cmds[i][0]);
	test_run_free(&r);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		r = cmds[i][1] ? RUN(cmds[i][0], cmds[i][1], "--help") : RUN(cmds[i][0], "--help");
		ck_assert_int_eq(r.status, 0);
		ck_assert_ptr_nonnull(strstr(r.out, "usage: synapse"));
		ck_assert_ptr_nonnull(strstr(r.out, "--json"));
		test_run_free(&r);
	}
	r = RUN("store", "--help");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "store init"));
	ck_assert_ptr_nonnull(strstr(r.out, "store config"));
	test_run_free(&r);
	/* help needs no store and creates none */
	{
		char *root = test_path("store");

		ck_assert(!test_exists(root));
		free(root);
	}
}
END_TEST

START_TEST(usage_errors_exit_2)
{
	struct test_run r = RUN("frobnicate");

	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
	test_run_free(&r);
	r = RUN("status", "--bogus");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '--bogus'"));
	test_run_free(&r);
	r = RUN("store", "bogus");
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
	r = RUN("history", "--limit");
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
	r = test_cli((const char *const[]){ NULL }, NULL);
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
}
END_TEST

START_TEST(uninitialized_store_is_a_clear_failure)
{
	char *root = test_path("store"), want[512];
	struct test_run r = RUN("status");
	json_t *doc;

	snprintf(want, sizeof(want), "store not initialized at %s; run 'synapse store init'", root);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, want));
	ck_assert_str_eq(r.out, "");
	test_run_free(&r);
	r = RUN("status", "--json");
	ck_assert_int_eq(r.status, 1);
	doc = parse_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "detail")), want);
	ck_assert_ptr_nonnull(strstr(r.err, want));
	json_decref(doc);
	test_run_free(&r);
	ck_assert(!test_exists(root)); /* a failed read-only command creates nothing */
	free(root);
}
END_TEST

START_TEST(init_status_config_history)
{
	struct test_run r = RUN("store", "init");
	json_t *doc, *v;

	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Store initialized at"));
	test_run_free(&r);

	r = RUN("store", "init");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "already initialized"));
	test_run_free(&r);

	r = RUN("status", "--json");
	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "profile")), "global");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "ui_targets")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "active"), "comfyui")), "global");
	ck_assert(json_is_true(json_object_get(json_object_get(doc, "in_sync"), "forge")));
	v = json_object_get(json_object_get(doc, "stacks"), "comfyui");
	ck_assert_str_eq(json_string_value(json_array_get(v, 0)), "global");
	ck_assert(json_is_array(json_object_get(doc, "missing_blobs")));
	ck_assert(json_is_array(json_object_get(doc, "unresolved")));
	ck_assert(json_is_array(json_object_get(doc, "shadowed")));
	json_decref(doc);
	test_run_free(&r);

	r = RUN("status", "--ui-set", "all");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "sdnext"));
	ck_assert_ptr_nonnull(strstr(r.out, "every view agrees"));
	test_run_free(&r);

	r = RUN("status", "--ui-set", "nope");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown UI set 'nope'"));
	test_run_free(&r);

	r = RUN("store", "config", "--json");
	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "schema")), "synapse.config.v2");
	json_decref(doc);
	test_run_free(&r);

	r = RUN("store", "config");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Default UI set   local (comfyui, forge)"));
	test_run_free(&r);

	r = RUN("history", "--limit", "-3");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "non-negative number"));
	test_run_free(&r);

	r = RUN("history", "--json");
	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	v = json_object_get(doc, "commits");
	ck_assert_uint_eq(json_array_size(v), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v, 0), "message")), "store init");
	json_decref(doc);
	test_run_free(&r);
}
END_TEST

START_TEST(root_option_wins_over_environment)
{
	char *other = test_path("other");
	struct test_run r = RUN("--root", other, "store", "init", "--json");
	json_t *doc;

	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "root")), other);
	ck_assert(json_is_true(json_object_get(doc, "created")));
	json_decref(doc);
	test_run_free(&r);
	r = RUN("status");
	ck_assert_int_eq(r.status, 1); /* SYNAPSE_ROOT's store was never created */
	test_run_free(&r);
	free(other);
}
END_TEST

START_TEST(plugins_need_no_store_and_report_skips)
{
	const char *const env[] = { "SYNAPSE_PLUGIN_PATH=" SYN_TEST_FIXTURE_DIR, NULL };
	struct test_run r = RUN_ENV(env, "plugins", "--json");
	json_t *doc, *p, *skipped;
	size_t i;
	bool wrong_abi = false, local = false;

	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	json_array_foreach(json_object_get(doc, "plugins"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")), "comfyui"))
			local = json_array_size(json_object_get(json_object_get(p, "registered"), "uis")) == 1;
	ck_assert(local);
	skipped = json_object_get(doc, "skipped");
	json_array_foreach(skipped, i, p)
		if (strstr(json_string_value(json_object_get(p, "file")), "wrong_abi.so"))
			wrong_abi = strstr(json_string_value(json_object_get(p, "reason")), "ABI") != NULL;
	ck_assert(wrong_abi);
	json_decref(doc);
	test_run_free(&r);

	r = RUN("store", "init");
	test_run_free(&r);
	/* other commands warn about the skipped plugin on stderr and carry on */
	r = RUN_ENV(env, "status");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "warning: skipped plugin"));
	ck_assert_ptr_nonnull(strstr(r.err, "wrong_abi.so"));
	test_run_free(&r);
}
END_TEST

START_TEST(second_process_waits_for_the_lock_then_gives_up)
{
	const char *const env[] = { "SYNAPSE_LOCK_TIMEOUT=0.3", NULL };
	struct syn_registry *reg;
	struct syn_store *st;
	struct test_run r = RUN("store", "init");
	int ready[2], go[2], status;
	char c = 0;
	pid_t pid;

	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *root = test_path("store");

		reg = test_registry();
		if (syn_store_open(&st, reg, root) || syn_store_lock(st, "test holder"))
			_exit(3);
		if (write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(4);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	r = RUN_ENV(env, "store", "init", "--force");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, ".synapse.lock"));
	ck_assert_ptr_nonnull(strstr(r.err, "test holder"));
	ck_assert_ptr_nonnull(strstr(r.err, "waiting 0.3 s"));
	test_run_free(&r);
	/* read-only commands take no lock */
	r = RUN_ENV(env, "status");
	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	r = RUN_ENV(env, "store", "init", "--force");
	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
}
END_TEST

START_TEST(force_repairs_a_corrupt_config)
{
	struct test_run r = RUN("store", "init");
	char *config = test_path("store/state/config.json");
	json_t *doc;

	test_run_free(&r);
	test_write_file(config, "{\"schema\": ", 11);
	r = RUN("store", "config");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, config));
	ck_assert_ptr_nonnull(strstr(r.err, "line 1"));
	test_run_free(&r);
	r = RUN("store", "init", "--force", "--json");
	ck_assert_int_eq(r.status, 0);
	doc = parse_out(&r);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(json_object_get(doc, "repaired"), 0),
									 "moved_to")), "config.json.corrupt-"));
	json_decref(doc);
	test_run_free(&r);
	r = RUN("store", "config", "--json");
	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	r = RUN("history");
	ck_assert_ptr_nonnull(strstr(r.out, "store init --force"));
	test_run_free(&r);
	free(config);
}
END_TEST

START_TEST(doctor_reports_its_repairs_and_exits_1)
{
	char *view = test_path("store/data/views/comfyui/profiles/global");
	struct test_run r = RUN("store", "init");
	json_t *doc;

	ck_assert_int_eq(r.status, 0);
	test_run_free(&r);
	r = RUN("doctor", "--rebuild-views");
	ck_assert_msg(r.status == 0, "doctor on a fresh store failed: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "Store is healthy"));
	test_run_free(&r);
	/* a deleted view is rebuilt, said so, and the store was not healthy */
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, view), 0);
	r = RUN("doctor", "--rebuild-views");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "repaired: comfyui: rebuilt the view of profile 'global' "
					    "(it was missing)"));
	ck_assert_ptr_null(strstr(r.out, "Store is healthy"));
	ck_assert_ptr_nonnull(strstr(r.err, "the store was not healthy: 1 problem(s) found, 1 repaired"));
	test_run_free(&r);
	ck_assert(test_exists(view));
	/* --json: the message and the report */
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, view), 0);
	r = RUN("doctor", "--rebuild-views", "--json");
	ck_assert_int_eq(r.status, 1);
	doc = parse_out(&r);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(doc, "detail")), "not healthy"));
	ck_assert(json_is_false(json_object_get(json_object_get(doc, "result"), "healthy")));
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(doc, "result"), "repaired")), 1);
	json_decref(doc);
	test_run_free(&r);
	/* without --rebuild-views a missing view is still wrong after: exit 1 */
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, view), 0);
	r = RUN("doctor");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_null(strstr(r.out, "Store is healthy"));
	test_run_free(&r);
	free(view);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");

	TEST(s, every_command_has_help, tmp_setup, tmp_teardown);
	TEST(s, usage_errors_exit_2, tmp_setup, tmp_teardown);
	TEST(s, uninitialized_store_is_a_clear_failure, tmp_setup, tmp_teardown);
	TEST(s, init_status_config_history, tmp_setup, tmp_teardown);
	TEST(s, root_option_wins_over_environment, tmp_setup, tmp_teardown);
	TEST(s, plugins_need_no_store_and_report_skips, tmp_setup, tmp_teardown);
	TEST(s, second_process_waits_for_the_lock_then_gives_up, tmp_setup, tmp_teardown);
	TEST(s, force_repairs_a_corrupt_config, tmp_setup, tmp_teardown);
	TEST(s, doctor_reports_its_repairs_and_exits_1, tmp_setup, tmp_teardown);
	return test_main(s);
}
