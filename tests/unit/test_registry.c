/* Tests of the plugin loader and registry. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* The skip reason recorded for the file whose name ends with @base, or NULL. */
static const char *skip_reason(const struct syn_registry *reg, const char *base)
{
	size_t i, n = strlen(base);

	for (i = 0; i < syn_registry_skipped_count(reg); i++) {
		const char *file, *reason;
		size_t fl;

		syn_registry_skipped_at(reg, i, &file, &reason);
		fl = strlen(file);
		if (fl >= n && !strcmp(file + fl - n, base))
			return reason;
	}
	return NULL;
}

static struct syn_registry *load_both(void)
{
	struct syn_registry *reg = test_registry();

	ck_assert_int_eq(syn_registry_load_dir(reg, SYN_TEST_FIXTURE_DIR), 0);
	return reg;
}

START_TEST(in_tree_plugins_register_everything)
{
	struct syn_registry *reg = test_registry();
	static const char *const uis[] = { "comfyui", "forge", "a1111", "sdnext" };
	size_t i;

	for (i = 0; i < 4; i++)
		ck_assert_msg(syn_registry_ui(reg, uis[i]), "no UI %s", uis[i]);
	ck_assert_ptr_nonnull(syn_registry_backend(reg, "local"));
	ck_assert_ptr_null(syn_registry_backend(reg, "nope"));
	ck_assert_uint_eq(syn_registry_skipped_count(reg), 0);
	ck_assert_str_eq(syn_registry_ui(reg, "sdnext")->default_root, "~/sdnext");
	syn_registry_free(reg);
}
END_TEST

START_TEST(wrong_abi_is_skipped_with_reason)
{
	struct syn_registry *reg = load_both();
	const char *why = skip_reason(reg, "/wrong_abi.so");

	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "ABI 2.0"));
	ck_assert_ptr_nonnull(strstr(why, "rebuild"));
	ck_assert_ptr_null(syn_registry_ui(reg, "wrongabi_ui"));
	syn_registry_free(reg);
}
END_TEST

START_TEST(missing_descriptor_is_skipped)
{
	struct syn_registry *reg = load_both();
	const char *why = skip_reason(reg, "/no_desc.so");

	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "synapse_plugin_desc"));
	syn_registry_free(reg);
}
END_TEST

START_TEST(failing_init_is_rolled_back)
{
	struct syn_registry *reg = load_both();
	const char *why = skip_reason(reg, "/failing_init.so");

	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "cannot reach the ghost service"));
	ck_assert_ptr_null(syn_registry_ui(reg, "ghost_ui"));
	syn_registry_free(reg);
}
END_TEST

START_TEST(duplicate_plugin_name_loses_to_the_first)
{
	struct syn_registry *reg = load_both();
	const char *why = skip_reason(reg, "/dup_local.so");
	json_t *report = syn_registry_report(reg), *p;
	size_t i, locals = 0;

	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "duplicate plugin 'local'"));
	ck_assert_ptr_null(syn_registry_ui(reg, "dup_ui"));
	json_array_foreach(json_object_get(report, "plugins"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")), "local"))
			locals++;
	ck_assert_uint_eq(locals, 1);
	json_decref(report);
	syn_registry_free(reg);
}
END_TEST

START_TEST(old_sized_struct_reads_new_members_as_null)
{
	struct syn_registry *reg = load_both();
	const struct syn_ui_layout *ui = syn_registry_ui(reg, "extra_ui");

	ck_assert_ptr_nonnull(ui);
	ck_assert_str_eq(ui->folders[1].folder, "Models/Lora");
	ck_assert_ptr_null(ui->detect); /* the plugin registered only the members before it */
	ck_assert_ptr_nonnull(syn_registry_source(reg, "extra_src"));
	ck_assert_uint_eq(syn_registry_source_count(reg), 2); /* civitai and extra_src */
	ck_assert_ptr_nonnull(syn_registry_source(reg, "civitai"));
	syn_registry_free(reg);
}
END_TEST

START_TEST(report_shape)
{
	struct syn_registry *reg = load_both();
	json_t *report = syn_registry_report(reg), *p, *found = NULL;
	size_t i;

	json_array_foreach(json_object_get(report, "plugins"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")), "extra"))
			found = p;
	ck_assert_ptr_nonnull(found);
	ck_assert_str_eq(json_string_value(json_object_get(found, "abi")), "1.3");
	ck_assert_str_eq(json_string_value(json_object_get(found, "version")), "0.3");
	ck_assert_str_eq(json_string_value(json_object_get(found, "license")), "Apache-2.0");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(found, "file")), "/extra.so"));
	ck_assert_str_eq(json_string_value(json_array_get(
		json_object_get(json_object_get(found, "registered"), "uis"), 0)), "extra_ui");
	ck_assert_str_eq(json_string_value(json_array_get(
		json_object_get(json_object_get(found, "registered"), "sources"), 0)), "extra_src");
	ck_assert_uint_eq(json_array_size(json_object_get(report, "skipped")), 4);
	json_decref(report);
	syn_registry_free(reg);
}
END_TEST

START_TEST(junk_files_never_crash)
{
	struct syn_registry *reg;
	char *dir = test_path("plugins"), *junk = test_path("plugins/junk.so"), *txt = test_path("plugins/readme.txt");
	char *link = test_path("plugins/link.so");

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	test_write_file(junk, "this is not an ELF file", 23);
	test_write_file(txt, "ignored", 7);
	ck_assert_int_eq(symlink(SYN_TEST_PLUGIN_DIR "/local.so", link), 0);
	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_registry_load_dir(reg, dir), 0);
	ck_assert_ptr_nonnull(strstr(skip_reason(reg, "/junk.so"), "cannot load"));
	ck_assert_ptr_nonnull(strstr(skip_reason(reg, "/link.so"), "not a regular file"));
	ck_assert_ptr_null(skip_reason(reg, "/readme.txt"));
	ck_assert_int_eq(syn_registry_load_dir(reg, "/nonexistent/dir"), 0);
	/* the same directory twice is scanned once */
	ck_assert_int_eq(syn_registry_load_dir(reg, dir), 0);
	ck_assert_uint_eq(syn_registry_skipped_count(reg), 2);
	syn_registry_free(reg);
	free(dir);
	free(junk);
	free(txt);
	free(link);
}
END_TEST

START_TEST(plugin_path_is_searched_first)
{
	struct syn_registry *reg;

	setenv("SYNAPSE_PLUGIN_PATH", "/nonexistent:" SYN_TEST_FIXTURE_DIR, 1);
	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_registry_load_default(reg), 0);
	/* fixtures came first, so their impostor 'local' won and the real one is the duplicate */
	ck_assert_ptr_nonnull(syn_registry_ui(reg, "dup_ui"));
	ck_assert_ptr_nonnull(skip_reason(reg, "/local.so"));
	ck_assert_ptr_nonnull(syn_registry_ui(reg, "comfyui"));
	syn_registry_free(reg);
}
END_TEST

static int builtin_init(struct syn_registry *reg)
{
	static const struct syn_ui_folder folders[] = { { "checkpoint", "../escape" }, { NULL, NULL } };
	static const struct syn_ui_layout bad = { SYN_UI_LAYOUT_VERSION, "bad_ui", "Bad", "~", folders, NULL, NULL };

	return syn_register_ui(reg, &bad);
}

START_TEST(hostile_folder_in_a_layout_is_refused)
{
	static const struct syn_plugin_desc desc = { SYN_PLUGIN_ABI_MAJOR, SYN_PLUGIN_ABI_MINOR, "builtin_bad",
						     "1", "MIT", "bad", builtin_init };
	struct syn_registry *reg;

	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_registry_add_builtin(reg, &desc, "(builtin)"), SYN_EINVALID);
	ck_assert_ptr_nonnull(strstr(skip_reason(reg, "(builtin)"), "../escape"));
	ck_assert_ptr_null(syn_registry_ui(reg, "bad_ui"));
	syn_registry_free(reg);
}
END_TEST

static int incomplete_attach_init(struct syn_registry *reg)
{
	static const struct syn_ui_folder folders[] = { { "checkpoint", "models" }, { NULL, NULL } };
	static const struct syn_ui_attach attach = {
		SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_EXTRA_PATHS, "paths.yaml", "synapse", NULL,
	};
	static const struct syn_ui_layout ui = {
		SYN_UI_LAYOUT_VERSION, "half_ui", "Half", "~", folders, NULL, &attach,
	};

	return syn_register_ui(reg, &ui);
}

START_TEST(extra_paths_without_keys_are_refused)
{
	static const struct syn_plugin_desc desc = { SYN_PLUGIN_ABI_MAJOR, SYN_PLUGIN_ABI_MINOR, "builtin_half",
						     "1", "MIT", "half", incomplete_attach_init };
	struct syn_registry *reg;

	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_registry_add_builtin(reg, &desc, "(builtin)"), SYN_EINVALID);
	ck_assert_ptr_nonnull(strstr(skip_reason(reg, "(builtin)"), "paths.yaml"));
	ck_assert_ptr_null(syn_registry_ui(reg, "half_ui"));
	syn_registry_free(reg);
}
END_TEST

START_TEST(registration_outside_init_is_refused)
{
	static const struct syn_ui_folder folders[] = { { "lora", "x" }, { NULL, NULL } };
	static const struct syn_ui_layout ui = { SYN_UI_LAYOUT_VERSION, "late", "Late", "~", folders, NULL, NULL };
	struct syn_registry *reg;

	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_register_ui(reg, &ui), SYN_EINVALID);
	ck_assert_ptr_null(syn_registry_ui(reg, "late"));
	syn_registry_free(reg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry");

	TEST(s, in_tree_plugins_register_everything, tmp_setup, tmp_teardown);
	TEST(s, wrong_abi_is_skipped_with_reason, tmp_setup, tmp_teardown);
	TEST(s, missing_descriptor_is_skipped, tmp_setup, tmp_teardown);
	TEST(s, failing_init_is_rolled_back, tmp_setup, tmp_teardown);
	TEST(s, duplicate_plugin_name_loses_to_the_first, tmp_setup, tmp_teardown);
	TEST(s, old_sized_struct_reads_new_members_as_null, tmp_setup, tmp_teardown);
	TEST(s, report_shape, tmp_setup, tmp_teardown);
	TEST(s, junk_files_never_crash, tmp_setup, tmp_teardown);
	TEST(s, plugin_path_is_searched_first, tmp_setup, tmp_teardown);
	TEST(s, hostile_folder_in_a_layout_is_refused, tmp_setup, tmp_teardown);
	TEST(s, extra_paths_without_keys_are_refused, tmp_setup, tmp_teardown);
	TEST(s, registration_outside_init_is_refused, tmp_setup, tmp_teardown);
	return test_main(s);
}
