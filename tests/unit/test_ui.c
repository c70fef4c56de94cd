/* Tests of the UIs of a store: a layout plugin loaded after init, enabled, used, attached and disabled. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "packs.h"

/* The test store opened a second time with a registry that also has the fixture UI "myui". */
static struct syn_registry *reg2;
static struct syn_store *st2;

static void later_setup(void)
{
	char *root;

	store_setup();
	reg2 = test_registry();
	ck_assert_int_eq(syn_registry_load_dir(reg2, SYN_TEST_UI_PLUGIN_DIR), 0);
	ck_assert_ptr_nonnull(syn_registry_ui(reg2, "myui"));
	root = test_path("store");
	ck_assert_int_eq(syn_store_open(&st2, reg2, root), 0);
	free(root);
}

static void later_teardown(void)
{
	syn_store_free(st2);
	syn_registry_free(reg2);
	st2 = NULL;
	reg2 = NULL;
	store_teardown();
}

static json_t *load_json(const char *rel)
{
	char *path = test_path(rel), *text = test_read_file(path, NULL);
	json_t *doc;

	ck_assert_msg(text != NULL, "%s is missing", path);
	doc = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	free(text);
	free(path);
	return doc;
}

static json_t *config_ui(const char *member)
{
	json_t *cfg = load_json("store/state/config.json");
	json_t *m = json_incref(json_object_get(json_object_get(cfg, "ui"), member));

	json_decref(cfg);
	return m;
}

static bool has_string(const json_t *arr, const char *s)
{
	size_t i;

	for (i = 0; i < json_array_size(arr); i++)
		if (!strcmp(json_string_value(json_array_get(arr, i)), s))
			return true;
	return false;
}

static bool known(const char *ui)
{
	json_t *k = config_ui("known");
	bool in = has_string(k, ui);

	json_decref(k);
	return in;
}

/* The entry of @ui in a `ui list` report, or NULL. */
static json_t *listed(const json_t *report, const char *ui)
{
	json_t *u;
	size_t i;

	json_array_foreach(json_object_get(report, "uis"), i, u)
		if (!strcmp(json_string_value(json_object_get(u, "name")), ui))
			return u;
	return NULL;
}

static const char *link_of(const char *rel, char *buf, size_t size)
{
	char *path = test_path(rel);
	ssize_t n = readlink(path, buf, size - 1);

	free(path);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static bool is_dir(const char *rel)
{
	char *path = test_path(rel);
	struct stat sb;
	bool ok = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);

	free(path);
	return ok;
}

static const char *last_commit(struct syn_store *st, json_t **h)
{
	ck_assert_int_eq(syn_state_history(st, 1, h), 0);
	return json_string_value(json_object_get(json_array_get(json_object_get(*h, "commits"), 0), "message"));
}

static void enable_myui(void)
{
	json_t *r = NULL;

	ck_assert_msg(syn_ui_enable(st2, "myui", &r) == 0, "enable: %s", syn_error_last());
	ck_assert(json_is_true(json_object_get(r, "changed")));
	json_decref(r);
}

/* Point config.json ui.roots.myui at a fresh <test_dir>/MyUI; returns its path. */
static char *myui_root(void)
{
	json_t *cfg = load_json("store/state/config.json");
	char *root = test_path("MyUI");

	ck_assert_int_eq(mkdir(root, 0755), 0);
	json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "roots"), "myui", json_string(root));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st2), "config.json", cfg), 0);
	json_decref(cfg);
	return root;
}

START_TEST(a_layout_loaded_later_is_available_then_enabled)
{
	json_t *r = NULL, *u, *map, *roots, *rt, *h = NULL;
	char buf[PATH_MAX];

	ck_assert(!known("myui"));
	ck_assert_int_eq(syn_ui_list(st2, &r), 0);
	u = listed(r, "myui");
	ck_assert_ptr_nonnull(u);
	ck_assert(json_is_false(json_object_get(u, "enabled")));
	ck_assert_str_eq(json_string_value(json_object_get(u, "plugin")), "myui");
	ck_assert_str_eq(json_string_value(json_object_get(u, "attach")), "symlink");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(u, "kind_map"), "lora")), "Models/Adapters");
	ck_assert(json_is_true(json_object_get(listed(r, "comfyui"), "enabled")));
	ck_assert_str_eq(json_string_value(json_object_get(listed(r, "comfyui"), "attach")), "extra_model_paths");
	json_decref(r);

	/* not enabled yet: not a UI set, and the message says how to enable it */
	r = (json_t *)1;
	ck_assert_int_eq(syn_store_ui_targets(st2, "myui", &r), SYN_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "ui enable myui"));

	/* a folder the user set before enabling survives */
	{
		json_t *cfg = load_json("store/state/config.json");

		json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "kind_map"), "myui",
				    json_pack("{s:s}", "lora", "Custom/Lora"));
		ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st2), "config.json", cfg), 0);
		json_decref(cfg);
	}
	ck_assert_msg(syn_ui_enable(st2, "myui", &r) == 0, "enable: %s", syn_error_last());
	ck_assert(json_is_true(json_object_get(r, "enabled")));
	ck_assert(json_is_true(json_object_get(r, "changed")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "view")), "/data/views/myui/active"));
	json_decref(r);

	ck_assert(known("myui"));
	map = config_ui("kind_map");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(map, "myui"), "checkpoint")), "Models/Base");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(map, "myui"), "lora")), "Custom/Lora");
	json_decref(map);
	roots = config_ui("roots");
	ck_assert_str_eq(json_string_value(json_object_get(roots, "myui")), "~/MyUI");
	json_decref(roots);
	rt = load_json("store/data/runtime.json");
	u = json_object_get(json_object_get(json_object_get(rt, "ui"), "myui"), "stack");
	ck_assert_uint_eq(json_array_size(u), 1);
	ck_assert_str_eq(json_string_value(json_array_get(u, 0)), "global");
	json_decref(rt);
	ck_assert_str_eq(link_of("store/data/views/myui/active", buf, sizeof(buf)), "profiles/global");
	ck_assert(is_dir("store/data/views/myui/active/Models/Base"));
	ck_assert(is_dir("store/data/views/myui/active/Custom/Lora"));
	ck_assert_str_eq(last_commit(st2, &h), "ui enable myui");
	json_decref(h);

	/* enabling it again changes nothing */
	ck_assert_int_eq(syn_ui_enable(st2, "myui", &r), 0);
	ck_assert(json_is_false(json_object_get(r, "changed")));
	json_decref(r);
	ck_assert_str_eq(last_commit(st2, &h), "ui enable myui");
	json_decref(h);

	ck_assert_int_eq(syn_ui_list(st2, &r), 0);
	ck_assert(json_is_true(json_object_get(listed(r, "myui"), "enabled")));
	json_decref(r);
}
END_TEST

START_TEST(use_and_all_reach_an_enabled_layout)
{
	static const char *const files[] = { "m.safetensors", NULL };
	json_t *r = NULL, *s = NULL;
	char *data, *path;

	make_pack("P", "checkpoint", files, true);
	enable_myui();
	ck_assert_int_eq(syn_store_ui_targets(st2, "all", &r), 0);
	ck_assert(has_string(r, "myui"));
	ck_assert(has_string(r, "comfyui"));
	json_decref(r);
	ck_assert_int_eq(syn_store_ui_targets(st2, "local", &r), 0);
	ck_assert(!has_string(r, "myui"));
	json_decref(r);

	ck_assert_msg(syn_profile_use(st2, "P", "myui", false, &r) == 0, "use: %s", syn_error_last());
	json_decref(r);
	path = test_path("store/data/views/myui/active/Models/Base/m.safetensors");
	data = test_read_file(path, NULL);
	ck_assert_ptr_nonnull(data);
	ck_assert_str_eq(data, "P:m.safetensors");
	free(data);
	free(path);

	/* `all` moves it with the others, and status sees it agree */
	ck_assert_int_eq(syn_profile_back(st2, "all", &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_profile_use(st2, "P", "all", false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_store_status(st2, "all", &s), 0);
	ck_assert(json_is_true(json_object_get(json_object_get(s, "in_sync"), "myui")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "active"), "myui")), "work__P");
	json_decref(s);
}
END_TEST

START_TEST(attach_uses_the_declared_links_and_disable_needs_detach)
{
	json_t *r = NULL, *res, *h = NULL, *v;
	char buf[PATH_MAX], *root, *want, *rel, *models, *base;

	enable_myui();
	root = myui_root();
	/* the user's own folder, which detach leaves */
	ck_assert_int_eq(mkdir(models = test_path("MyUI/Models"), 0755), 0);
	ck_assert_int_eq(mkdir(base = test_path("MyUI/Models/Base"), 0755), 0);
	ck_assert_int_eq(syn_attach(st2, "myui", &r), 0);
	res = json_object_get(r, "myui");
	ck_assert_msg(json_is_true(json_object_get(res, "success")), "%s",
		      json_string_value(json_array_get(json_object_get(res, "errors"), 0)));
	ck_assert_str_eq(json_string_value(json_object_get(res, "method")), "symlink");
	json_decref(r);
	ck_assert_int_ge(asprintf(&want, "%s/store/data/views/myui/active/Models/Base", test_dir), 0);
	ck_assert_str_eq(link_of("MyUI/Models/Base/synapse", buf, sizeof(buf)), want);
	free(want);
	ck_assert_ptr_nonnull(link_of("MyUI/Models/Adapters/synapse", buf, sizeof(buf)));

	/* attached: disabling would leave its links dangling */
	r = (json_t *)1;
	ck_assert_int_eq(syn_ui_disable(st2, "myui", &r), SYN_EGUARD);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "detach"));
	ck_assert(known("myui"));

	ck_assert_int_eq(syn_detach(st2, "myui", &r), 0);
	json_decref(r);
	ck_assert_ptr_null(link_of("MyUI/Models/Base/synapse", buf, sizeof(buf)));
	ck_assert_msg(syn_ui_disable(st2, "myui", &r) == 0, "disable: %s", syn_error_last());
	ck_assert(json_is_true(json_object_get(r, "changed")));
	ck_assert(json_is_false(json_object_get(r, "enabled")));
	json_decref(r);

	ck_assert(!known("myui"));
	v = config_ui("kind_map");
	ck_assert_ptr_null(json_object_get(v, "myui"));
	json_decref(v);
	v = config_ui("roots");
	ck_assert_ptr_null(json_object_get(v, "myui"));
	json_decref(v);
	v = load_json("store/data/runtime.json");
	ck_assert_ptr_null(json_object_get(json_object_get(v, "ui"), "myui"));
	json_decref(v);
	ck_assert(!test_exists(rel = test_path("store/data/views/myui")));
	free(rel);
	ck_assert_str_eq(last_commit(st2, &h), "ui disable myui");
	json_decref(h);
	ck_assert_int_eq(syn_store_ui_targets(st2, "myui", &r), SYN_ENOTFOUND);
	ck_assert_int_eq(syn_store_ui_targets(st2, "all", &r), 0);
	ck_assert(!has_string(r, "myui"));
	json_decref(r);
	/* the user's folders stay */
	ck_assert(is_dir("MyUI/Models/Base"));

	/* disabling it again is nothing to do */
	ck_assert_int_eq(syn_ui_disable(st2, "myui", &r), 0);
	ck_assert(json_is_false(json_object_get(r, "changed")));
	json_decref(r);
	free(root);
	free(models);
	free(base);
}
END_TEST

START_TEST(an_extra_paths_layout_gets_its_own_file_and_section)
{
	json_t *r = NULL, *cfg, *res;
	char *root = test_path("PathsUI"), *yaml = test_path("PathsUI/more_paths.yaml"), *text, *want;

	ck_assert_msg(syn_ui_enable(st2, "pathsui", &r) == 0, "enable: %s", syn_error_last());
	json_decref(r);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	cfg = load_json("store/state/config.json");
	json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "roots"), "pathsui", json_string(root));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st2), "config.json", cfg), 0);
	json_decref(cfg);

	ck_assert_int_eq(syn_attach(st2, "pathsui", &r), 0);
	res = json_object_get(r, "pathsui");
	ck_assert_msg(json_is_true(json_object_get(res, "success")), "%s",
		      json_string_value(json_array_get(json_object_get(res, "errors"), 0)));
	ck_assert_str_eq(json_string_value(json_object_get(res, "method")), "extra_model_paths");
	json_decref(r);
	/* the layout's section name and keys, in its order; a kind it has no folder for is left out */
	ck_assert_int_ge(asprintf(&want, "# synapse: begin\n# synapse: created-file\nstore_models:\n"
				  "    base_path: %s/store/data/views/pathsui/active\n"
				  "    adapters: models/adapters\n    bases: models/base\n# synapse: end\n", test_dir), 0);
	text = test_read_file(yaml, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, want);
	free(text);
	free(want);
	ck_assert_int_eq(syn_attach_status(st2, "pathsui", &r), 0);
	ck_assert(json_is_true(json_object_get(json_object_get(r, "pathsui"), "attached")));
	json_decref(r);

	r = (json_t *)1;
	ck_assert_int_eq(syn_ui_disable(st2, "pathsui", &r), SYN_EGUARD);
	ck_assert_int_eq(syn_detach(st2, "pathsui", &r), 0);
	json_decref(r);
	ck_assert(!test_exists(yaml));
	ck_assert_int_eq(syn_ui_disable(st2, "pathsui", &r), 0);
	json_decref(r);
	ck_assert(!known("pathsui"));
	free(root);
	free(yaml);
}
END_TEST

START_TEST(a_user_section_of_the_same_name_is_never_taken)
{
	static const char user[] = "'store_models':\n    checkpoints: /mine\n";
	json_t *r = NULL, *cfg;
	char *root = test_path("PathsUI"), *yaml = test_path("PathsUI/more_paths.yaml"), *text;

	enable_myui();
	ck_assert_int_eq(syn_ui_enable(st2, "pathsui", &r), 0);
	json_decref(r);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	test_write_file(yaml, user, strlen(user));
	cfg = load_json("store/state/config.json");
	json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "roots"), "pathsui", json_string(root));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st2), "config.json", cfg), 0);
	json_decref(cfg);
	ck_assert_int_eq(syn_attach(st2, "pathsui", &r), 0);
	ck_assert(json_is_false(json_object_get(json_object_get(r, "pathsui"), "success")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(json_object_get(json_object_get(r, "pathsui"),
									      "errors"), 0)), "'store_models:'"));
	json_decref(r);
	text = test_read_file(yaml, NULL);
	ck_assert_str_eq(text, user);
	free(text);
	free(root);
	free(yaml);
}
END_TEST

START_TEST(a_failed_enable_leaves_the_store_as_it_was)
{
	json_t *cfg = load_json("store/state/config.json"), *before, *r = (json_t *)1, *h = NULL;

	/* a folder outside the view cannot be built, so the view of the UI cannot be either */
	json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "kind_map"), "myui",
			    json_pack("{s:s}", "lora", "../escape"));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st2), "config.json", cfg), 0);
	json_decref(cfg);
	before = load_json("store/state/config.json");
	ck_assert_int_eq(syn_ui_enable(st2, "myui", &r), SYN_EINVALID);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "ui.kind_map.myui"));
	cfg = load_json("store/state/config.json");
	ck_assert(json_equal(cfg, before));
	json_decref(cfg);
	json_decref(before);
	cfg = load_json("store/data/runtime.json");
	ck_assert_ptr_null(json_object_get(json_object_get(cfg, "ui"), "myui"));
	json_decref(cfg);
	ck_assert(!is_dir("store/data/views/myui"));
	ck_assert_str_eq(last_commit(st2, &h), "store init");
	json_decref(h);
}
END_TEST

START_TEST(a_named_set_acts_on_its_enabled_members)
{
	json_t *sets = load_json("store/state/ui_sets.json"), *r = NULL;

	json_object_set_new(json_object_get(sets, "sets"), "mine", json_pack("[s,s]", "myui", "comfyui"));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st2), "ui_sets.json", sets), 0);
	json_decref(sets);
	ck_assert_int_eq(syn_store_ui_targets(st2, "mine", &r), 0);
	ck_assert_uint_eq(json_array_size(r), 1);
	ck_assert_str_eq(json_string_value(json_array_get(r, 0)), "comfyui");
	json_decref(r);
	enable_myui();
	ck_assert_int_eq(syn_store_ui_targets(st2, "mine", &r), 0);
	ck_assert_uint_eq(json_array_size(r), 2);
	ck_assert_str_eq(json_string_value(json_array_get(r, 0)), "myui");
	json_decref(r);
}
END_TEST

START_TEST(enabling_an_unloaded_ui_names_the_loaded_ones)
{
	json_t *r = (json_t *)1;

	ck_assert_int_eq(syn_ui_enable(test_store, "myui", &r), SYN_ENOTFOUND);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "'myui'"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "comfyui"));
	ck_assert(!known("myui"));
	ck_assert_int_eq(syn_ui_enable(test_store, "../x", &r), SYN_EINVALID);
}
END_TEST

START_TEST(init_enables_every_loaded_layout)
{
	static const char *const local[] = { "comfyui", "forge" };
	struct syn_registry *reg = test_registry();
	struct syn_store *st = NULL;
	json_t *r = NULL, *map, *sets;
	char *root = test_path("store"), buf[PATH_MAX];
	size_t i;

	ck_assert_int_eq(syn_registry_load_dir(reg, SYN_TEST_UI_PLUGIN_DIR), 0);
	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_int_eq(syn_store_init(st, false, &r), 0);
	json_decref(r);
	ck_assert(known("myui"));
	map = config_ui("kind_map");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(map, "myui"), "lora")), "Models/Adapters");
	json_decref(map);
	ck_assert_str_eq(link_of("store/data/views/myui/active", buf, sizeof(buf)), "profiles/global");
	ck_assert_int_eq(syn_store_ui_targets(st, "all", &r), 0);
	ck_assert(has_string(r, "myui"));
	json_decref(r);
	/* the default set is still the stock pair */
	ck_assert_int_eq(syn_store_ui_targets(st, NULL, &r), 0);
	ck_assert_uint_eq(json_array_size(r), 2);
	for (i = 0; i < 2; i++)
		ck_assert_str_eq(json_string_value(json_array_get(r, i)), local[i]);
	json_decref(r);
	sets = load_json("store/state/ui_sets.json");
	ck_assert(!has_string(json_object_get(json_object_get(sets, "sets"), "local"), "myui"));
	json_decref(sets);
	syn_store_free(st);
	syn_registry_free(reg);
	free(root);
}
END_TEST

START_TEST(a_store_of_other_uis_gets_sets_of_what_it_has)
{
	struct syn_registry *reg;
	struct syn_store *st = NULL;
	json_t *r = NULL, *sets;
	char *root = test_path("store");

	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_registry_load_dir(reg, SYN_TEST_UI_PLUGIN_DIR), 0);
	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_int_eq(syn_store_init(st, false, &r), 0);
	json_decref(r);
	sets = load_json("store/state/ui_sets.json");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(sets, "sets"), "local")), 0);
	ck_assert_ptr_null(json_object_get(json_object_get(sets, "sets"), "comfy_only"));
	json_decref(sets);
	ck_assert_int_eq(syn_store_ui_targets(st, "all", &r), 0);
	ck_assert_uint_eq(json_array_size(r), 2);
	ck_assert_str_eq(json_string_value(json_array_get(r, 0)), "myui");
	ck_assert_str_eq(json_string_value(json_array_get(r, 1)), "pathsui");
	json_decref(r);
	syn_store_free(st);
	syn_registry_free(reg);
	free(root);
}
END_TEST

START_TEST(a_version_1_layout_is_attached_with_links)
{
	struct syn_registry *reg = test_registry();
	struct syn_store *st = NULL;
	json_t *r = NULL, *cfg, *res;
	char *root = test_path("store"), *ui_root = test_path("ExtraUI"), *p, buf[PATH_MAX];

	ck_assert_int_eq(syn_registry_load_file(reg, SYN_TEST_FIXTURE_DIR "/extra.so"), 0);
	ck_assert_uint_eq(syn_registry_ui(reg, "extra_ui")->version, 1);
	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_int_eq(syn_store_init(st, false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_ui_list(st, &r), 0);
	ck_assert_str_eq(json_string_value(json_object_get(listed(r, "extra_ui"), "attach")), "symlink");
	json_decref(r);

	ck_assert_int_eq(mkdir(ui_root, 0755), 0);
	ck_assert_int_eq(syn_store_config(st, &cfg), 0);
	json_object_set_new(json_object_get(json_object_get(cfg, "ui"), "roots"), "extra_ui", json_string(ui_root));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st), "config.json", cfg), 0);
	json_decref(cfg);
	ck_assert_int_eq(syn_attach(st, "extra_ui", &r), 0);
	res = json_object_get(r, "extra_ui");
	ck_assert(json_is_true(json_object_get(res, "success")));
	ck_assert_str_eq(json_string_value(json_object_get(res, "method")), "symlink");
	json_decref(r);
	ck_assert_int_ge(asprintf(&p, "%s/store/data/views/extra_ui/active/Models/Lora", test_dir), 0);
	ck_assert_str_eq(link_of("ExtraUI/Models/Lora/synapse", buf, sizeof(buf)), p);
	free(p);
	syn_store_free(st);
	syn_registry_free(reg);
	free(root);
	free(ui_root);
}
END_TEST

START_TEST(ui_list_needs_no_store)
{
	struct syn_registry *reg = test_registry();
	struct syn_store *st = NULL;
	json_t *r = NULL, *u;
	char *root = test_path("nostore");
	const char *home = getenv("HOME");

	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_int_eq(syn_ui_list(st, &r), 0);
	u = listed(r, "forge");
	ck_assert_ptr_nonnull(u);
	ck_assert(json_is_false(json_object_get(u, "enabled")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(u, "kind_map"), "checkpoint")),
			 "models/Stable-diffusion");
	if (home && *home)
		ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(u, "root")), home));
	ck_assert(!test_exists(root));
	json_decref(r);
	syn_store_free(st);
	syn_registry_free(reg);
	free(root);
}
END_TEST

START_TEST(a_known_ui_without_its_plugin_is_listed_from_config)
{
	struct syn_registry *reg;
	struct syn_store *st = NULL;
	json_t *r = NULL, *u;
	char *root = test_path("store");

	/* the store knows the four stock UIs; this registry has none of them */
	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_store_open(&st, reg, root), 0);
	ck_assert_int_eq(syn_ui_list(st, &r), 0);
	u = listed(r, "comfyui");
	ck_assert_ptr_nonnull(u);
	ck_assert(json_is_true(json_object_get(u, "enabled")));
	ck_assert(json_is_null(json_object_get(u, "plugin")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(u, "kind_map"), "lora")), "models/loras");
	json_decref(r);
	syn_store_free(st);
	syn_registry_free(reg);
	free(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ui");

	TEST(s, a_layout_loaded_later_is_available_then_enabled, later_setup, later_teardown);
	TEST(s, use_and_all_reach_an_enabled_layout, later_setup, later_teardown);
	TEST(s, attach_uses_the_declared_links_and_disable_needs_detach, later_setup, later_teardown);
	TEST(s, an_extra_paths_layout_gets_its_own_file_and_section, later_setup, later_teardown);
	TEST(s, a_user_section_of_the_same_name_is_never_taken, later_setup, later_teardown);
	TEST(s, a_failed_enable_leaves_the_store_as_it_was, later_setup, later_teardown);
	TEST(s, a_named_set_acts_on_its_enabled_members, later_setup, later_teardown);
	TEST(s, enabling_an_unloaded_ui_names_the_loaded_ones, store_setup, store_teardown);
	TEST(s, init_enables_every_loaded_layout, tmp_setup, tmp_teardown);
	TEST(s, a_store_of_other_uis_gets_sets_of_what_it_has, tmp_setup, tmp_teardown);
	TEST(s, a_version_1_layout_is_attached_with_links, tmp_setup, tmp_teardown);
	TEST(s, ui_list_needs_no_store, tmp_setup, tmp_teardown);
	TEST(s, a_known_ui_without_its_plugin_is_listed_from_config, store_setup, store_teardown);
	return test_main(s);
}
