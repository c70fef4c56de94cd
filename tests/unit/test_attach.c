/* Tests of attaching UIs to views: ComfyUI's extra_model_paths.yaml and the `synapse` links of the others. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* A user's file: comments, another section, CRLF line ends and no final newline. */
static const char user_yaml[] =
	"# my ComfyUI paths\r\n"
	"a111:\r\n"
	"    base_path: /home/me/stable-diffusion-webui/  # the old UI\r\n"
	"    checkpoints: models/Stable-diffusion\r\n"
	"    loras: |\r\n"
	"        models/Lora\r\n"
	"        models/LyCORIS\r\n"
	"\r\n"
	"other:\n"
	"    vae: /mnt/vae";

/* "<test_dir>/<fmt...>" in a malloc'ed string. */
static char *tp(const char *fmt, ...) SYN_PRINTF(1, 2);

static char *tp(const char *fmt, ...)
{
	char *rel, *p;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&rel, fmt, ap), 0);
	va_end(ap);
	p = test_path(rel);
	free(rel);
	return p;
}

static void mkdir_p(const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	ck_assert_uint_lt(n, sizeof(buf));
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", buf, strerror(errno));
		buf[i] = i < n ? '/' : '\0';
	}
}

static bool is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_link(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode);
}

/* Set config.json ui.roots.<ui> of @st to @path. */
static void set_root_of(struct syn_store *st, const char *ui, const char *path)
{
	json_t *cfg = NULL, *ui_obj;

	ck_assert_int_eq(syn_store_config(st, &cfg), 0);
	ui_obj = json_object_get(cfg, "ui");
	ck_assert_ptr_nonnull(ui_obj);
	if (!json_object_get(ui_obj, "roots"))
		json_object_set_new(ui_obj, "roots", json_object());
	json_object_set_new(json_object_get(ui_obj, "roots"), ui, json_string(path));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(st), "config.json", cfg), 0);
	json_decref(cfg);
}

/* Make <test_dir>/<dir> and use it as the root of @ui; returns the path. */
static char *make_root(const char *ui, const char *dir)
{
	char *root = test_path(dir);

	mkdir_p(root);
	set_root_of(test_store, ui, root);
	return root;
}

static json_t *do_attach(struct syn_store *st, const char *set)
{
	json_t *r = NULL;

	ck_assert_msg(syn_attach(st, set, &r) == 0, "attach: %s", syn_error_last());
	ck_assert_ptr_nonnull(r);
	return r;
}

static json_t *do_detach(struct syn_store *st, const char *set)
{
	json_t *r = NULL;

	ck_assert_msg(syn_detach(st, set, &r) == 0, "detach: %s", syn_error_last());
	ck_assert_ptr_nonnull(r);
	return r;
}

static json_t *do_status(const char *set)
{
	json_t *r = NULL;

	ck_assert_msg(syn_attach_status(test_store, set, &r) == 0, "attach-status: %s", syn_error_last());
	ck_assert_ptr_nonnull(r);
	return r;
}

static bool ui_success(const json_t *r, const char *ui)
{
	json_t *res = json_object_get(r, ui);

	ck_assert_msg(res != NULL, "no result for '%s'", ui);
	return json_is_true(json_object_get(res, "success"));
}

static void assert_success(const json_t *r, const char *ui)
{
	json_t *errors = json_object_get(json_object_get(r, ui), "errors");

	ck_assert_msg(ui_success(r, ui), "%s failed: %s", ui,
		      json_array_size(errors) ? json_string_value(json_array_get(errors, 0)) : "(no error)");
	ck_assert_uint_eq(json_array_size(errors), 0);
}

/* Whether some error of @ui in @r contains @needle. */
static bool has_error(const json_t *r, const char *ui, const char *needle)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(r, ui), "errors"), i, e)
		if (strstr(json_string_value(e), needle))
			return true;
	return false;
}

static bool ui_attached(const json_t *status, const char *ui)
{
	return json_is_true(json_object_get(json_object_get(status, ui), "attached"));
}

static void assert_file_is(const char *path, const char *want, size_t want_len)
{
	size_t len = 0;
	char *got = test_read_file(path, &len);

	ck_assert_msg(got != NULL, "%s is missing", path);
	ck_assert_msg(len == want_len && !memcmp(got, want, len), "%s differs:\n%s", path, got);
	free(got);
}

/* The base_path value of the synapse section of @text (malloc'ed), unquoting '...'. */
static char *section_base_path(const char *text)
{
	const char *p = strstr(text, "\n    base_path: "), *e;
	char *out, *o;

	ck_assert_msg(p != NULL, "no base_path in:\n%s", text);
	p += strlen("\n    base_path: ");
	e = strchr(p, '\n');
	ck_assert_ptr_nonnull(e);
	out = o = calloc(1, (size_t)(e - p) + 1);
	ck_assert_ptr_nonnull(out);
	if (*p == '\'') {
		for (p++; p < e; p++) {
			if (*p == '\'' && p[1] == '\'')
				*o++ = *p++;
			else if (*p == '\'')
				break;
			else
				*o++ = *p;
		}
	} else {
		memcpy(out, p, (size_t)(e - p));
	}
	return out;
}

static char *real(const char *path)
{
	char *r = realpath(path, NULL);

	ck_assert_msg(r != NULL, "realpath %s: %s", path, strerror(errno));
	return r;
}

/* ---- ComfyUI ------------------------------------------------------------- */

START_TEST(test_comfy_restores_user_file)
{
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *backup = tp("ComfyUI/extra_model_paths.yaml.synapse-backup");
	char *first, *second;
	size_t n1, n2, ulen = strlen(user_yaml);
	json_t *r;

	test_write_file(yaml, user_yaml, ulen);
	ck_assert_int_eq(chmod(yaml, 0640), 0);
	r = do_attach(test_store, "comfyui");
	assert_success(r, "comfyui");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "comfyui"), "method")),
			 "extra_model_paths");
	json_decref(r);
	/* the user's bytes stay, then one newline Synapse needed, then the section */
	first = test_read_file(yaml, &n1);
	ck_assert_ptr_nonnull(first);
	ck_assert_uint_gt(n1, ulen + 1);
	ck_assert(!memcmp(first, user_yaml, ulen));
	ck_assert_int_eq(first[ulen], '\n');
	ck_assert(!strncmp(first + ulen + 1, "# synapse: begin\n", 17));
	ck_assert(strstr(first, "\nsynapse:\n") != NULL);
	ck_assert(strstr(first, "\n    checkpoints: models/checkpoints\n") != NULL);
	ck_assert(strstr(first, "\n    loras: models/loras\n") != NULL);
	ck_assert(strstr(first, "\n    upscale_models: models/upscale_models\n") != NULL);
	ck_assert(n1 >= 15 && !strcmp(first + n1 - 15, "# synapse: end\n"));
	assert_file_is(backup, user_yaml, ulen);
	{
		struct stat sb;

		ck_assert_int_eq(stat(yaml, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 07777, 0640);
	}

	/* attaching again changes nothing, and the backup is still the original */
	r = do_attach(test_store, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	second = test_read_file(yaml, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(!memcmp(first, second, n1));
	assert_file_is(backup, user_yaml, ulen);

	r = do_detach(test_store, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	assert_file_is(yaml, user_yaml, ulen);
	ck_assert(!test_exists(backup));
	free(first);
	free(second);
	free(root);
	free(yaml);
	free(backup);
}
END_TEST

START_TEST(test_comfy_file_with_newline_keeps_user_edits)
{
	static const char orig[] = "a111:\n    base_path: /x\n";
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *backup = tp("ComfyUI/extra_model_paths.yaml.synapse-backup");
	char *text, *edited;
	json_t *r;

	test_write_file(yaml, orig, strlen(orig));
	json_decref(do_attach(test_store, "comfyui"));
	text = test_read_file(yaml, NULL);
	ck_assert(!strncmp(text, "a111:\n    base_path: /x\n# synapse: begin\n", 41));
	/* the user adds a section after ours: detach keeps it, and the backup (which no longer matches) */
	ck_assert_int_ge(asprintf(&edited, "%smine:\n    vae: /v\n", text), 0);
	test_write_file(yaml, edited, strlen(edited));
	r = do_detach(test_store, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	assert_file_is(yaml, "a111:\n    base_path: /x\nmine:\n    vae: /v\n", strlen(orig) + 18);
	assert_file_is(backup, orig, strlen(orig));
	free(text);
	free(edited);
	free(root);
	free(yaml);
	free(backup);
}
END_TEST

START_TEST(test_comfy_section_points_through_active)
{
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *backup = tp("ComfyUI/extra_model_paths.yaml.synapse-backup");
	char *view = tp("store/data/views/comfyui/profiles/global"), *text, *base, *got, *want, *ckpt;
	json_t *r;

	ck_assert(!test_exists(yaml));
	r = do_attach(test_store, "comfyui");
	assert_success(r, "comfyui");
	ck_assert_uint_ge(json_array_size(json_object_get(json_object_get(r, "comfyui"), "created")), 1);
	json_decref(r);
	text = test_read_file(yaml, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert(!strncmp(text, "# synapse: begin\n", 17));
	ck_assert(!test_exists(backup));
	base = section_base_path(text);
	{
		json_t *st = do_status("comfyui");

		/* the section's base_path is the view path attach-status shows, and counts as attached */
		ck_assert_str_eq(base, json_string_value(json_object_get(json_object_get(st, "comfyui"), "path")));
		ck_assert(ui_attached(st, "comfyui"));
		json_decref(st);
	}
	ck_assert(strstr(base, "/views/comfyui/active") != NULL);
	got = real(base);
	want = real(view);
	ck_assert_str_eq(got, want);
	ck_assert_int_ge(asprintf(&ckpt, "%s/models/checkpoints", base), 0);
	ck_assert(is_dir(ckpt));

	/* a file Synapse created goes away with its section */
	r = do_detach(test_store, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	ck_assert(!test_exists(yaml));
	ck_assert(!test_exists(backup));
	free(text);
	free(base);
	free(got);
	free(want);
	free(ckpt);
	free(view);
	free(root);
	free(yaml);
	free(backup);
}
END_TEST

START_TEST(test_comfy_created_file_with_user_content_stays)
{
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml");
	FILE *f;
	json_t *r;

	json_decref(do_attach(test_store, "comfyui"));
	f = fopen(yaml, "a");
	ck_assert_ptr_nonnull(f);
	fputs("mine:\n    vae: /v\n", f);
	ck_assert_int_eq(fclose(f), 0);
	r = do_detach(test_store, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	assert_file_is(yaml, "mine:\n    vae: /v\n", 18);
	free(root);
	free(yaml);
}
END_TEST

START_TEST(test_comfy_section_replaced_in_place)
{
	static const char orig[] = "a:\n    b: c\n";
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *text, *stale, *p, *again;
	json_t *st;

	test_write_file(yaml, orig, strlen(orig));
	json_decref(do_attach(test_store, "comfyui"));
	text = test_read_file(yaml, NULL);
	/* an older section (another data root), with the user's own section written after it */
	p = strstr(text, "    base_path: ");
	ck_assert_ptr_nonnull(p);
	*p = '\0';
	ck_assert_int_ge(asprintf(&stale, "%s    base_path: /old/store/data/views/comfyui/active%sz:\n    y: x\n", text,
				  strchr(p + 1, '\n')), 0);
	test_write_file(yaml, stale, strlen(stale));
	st = do_status("comfyui");
	ck_assert(!ui_attached(st, "comfyui"));
	json_decref(st);
	json_decref(do_attach(test_store, "comfyui"));
	*p = ' ';
	ck_assert_int_ge(asprintf(&again, "%sz:\n    y: x\n", text), 0);
	assert_file_is(yaml, again, strlen(again));
	st = do_status("comfyui");
	ck_assert(ui_attached(st, "comfyui"));
	json_decref(st);
	free(text);
	free(stale);
	free(again);
	free(root);
	free(yaml);
}
END_TEST

START_TEST(test_comfy_user_synapse_key_refused)
{
	static const char orig[] = "synapse:\n    base_path: /my/own\n    checkpoints: ckpt\n";
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *backup = tp("ComfyUI/extra_model_paths.yaml.synapse-backup");
	json_t *r, *st;

	test_write_file(yaml, orig, strlen(orig));
	r = do_attach(test_store, "comfyui");
	ck_assert(!ui_success(r, "comfyui"));
	ck_assert(has_error(r, "comfyui", "already has a 'synapse:' section"));
	ck_assert(has_error(r, "comfyui", yaml));
	json_decref(r);
	assert_file_is(yaml, orig, strlen(orig));
	ck_assert(!test_exists(backup));
	st = do_status("comfyui");
	ck_assert(!ui_attached(st, "comfyui"));
	json_decref(st);
	/* detach leaves the user's section alone too */
	json_decref(do_detach(test_store, "comfyui"));
	assert_file_is(yaml, orig, strlen(orig));
	free(root);
	free(yaml);
	free(backup);
}
END_TEST

START_TEST(test_comfy_unfinished_section_refused)
{
	static const char orig[] = "a:\n    b: c\n# synapse: begin\nsynapse:\n    base_path: /x\n";
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml");
	json_t *r;

	test_write_file(yaml, orig, strlen(orig));
	r = do_attach(test_store, "comfyui");
	ck_assert(!ui_success(r, "comfyui"));
	ck_assert(has_error(r, "comfyui", "no '# synapse: end' line"));
	json_decref(r);
	assert_file_is(yaml, orig, strlen(orig));
	free(root);
	free(yaml);
}
END_TEST

START_TEST(test_comfy_yaml_link_refused)
{
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *elsewhere = tp("dotfiles.yaml");
	json_t *r;

	test_write_file(elsewhere, "a:\n  b: c\n", 10);
	ck_assert_int_eq(symlink(elsewhere, yaml), 0);
	r = do_attach(test_store, "comfyui");
	ck_assert(!ui_success(r, "comfyui"));
	ck_assert(has_error(r, "comfyui", "is a symbolic link"));
	json_decref(r);
	ck_assert(is_link(yaml));
	assert_file_is(elsewhere, "a:\n  b: c\n", 10);
	free(root);
	free(yaml);
	free(elsewhere);
}
END_TEST

START_TEST(test_comfy_data_root_with_space)
{
	struct syn_store *st = NULL;
	json_t *rep = NULL, *r;
	char *store_root = tp("my store #1"), *root = tp("Comfy UI"), *yaml = tp("Comfy UI/extra_model_paths.yaml");
	char *view = tp("my store #1/data/views/comfyui/profiles/global"), *text, *base, *got, *want, *ckpt;

	ck_assert_int_eq(syn_store_open(&st, test_reg, store_root), 0);
	ck_assert_msg(syn_store_init(st, false, &rep) == 0, "init: %s", syn_error_last());
	json_decref(rep);
	mkdir_p(root);
	set_root_of(st, "comfyui", root);
	r = do_attach(st, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	text = test_read_file(yaml, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert(strstr(text, "\n    base_path: '") != NULL);
	base = section_base_path(text);
	ck_assert(strstr(base, "/my store #1/data/views/comfyui/active") != NULL);
	got = real(base);
	want = real(view);
	ck_assert_str_eq(got, want);
	ck_assert_int_ge(asprintf(&ckpt, "%s/models/checkpoints", base), 0);
	ck_assert(is_dir(ckpt));
	r = do_detach(st, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	ck_assert(!test_exists(yaml));
	syn_store_free(st);
	free(store_root);
	free(root);
	free(yaml);
	free(view);
	free(text);
	free(base);
	free(got);
	free(want);
	free(ckpt);
}
END_TEST

/* Attach @orig as the user's file and expect a refusal containing @why; the file stays byte for byte. */
static void assert_yaml_refused(const char *orig, const char *why)
{
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *backup = tp("ComfyUI/extra_model_paths.yaml.synapse-backup");
	json_t *r, *st;

	test_write_file(yaml, orig, strlen(orig));
	r = do_attach(test_store, "comfyui");
	ck_assert(!ui_success(r, "comfyui"));
	ck_assert_msg(has_error(r, "comfyui", why), "no '%s' in: %s", why,
		      json_string_value(json_array_get(json_object_get(json_object_get(r, "comfyui"), "errors"), 0)));
	ck_assert(has_error(r, "comfyui", yaml));
	json_decref(r);
	assert_file_is(yaml, orig, strlen(orig));
	ck_assert(!test_exists(backup));
	st = do_status("comfyui");
	ck_assert(!ui_attached(st, "comfyui"));
	json_decref(st);
	free(root);
	free(yaml);
	free(backup);
}

START_TEST(test_comfy_flow_style_refused)
{
	/* a section appended after a flow mapping would make a file ComfyUI cannot load */
	assert_yaml_refused("{comfyui: {base_path: /x, checkpoints: models/checkpoints}}\n", "flow style");
}
END_TEST

START_TEST(test_comfy_document_end_refused)
{
	assert_yaml_refused("a111:\n    base_path: /x\n...\n", "document end marker");
}
END_TEST

START_TEST(test_comfy_two_documents_refused)
{
	assert_yaml_refused("a111:\n    base_path: /x\n---\nb:\n    base_path: /y\n", "more than one document");
}
END_TEST

START_TEST(test_comfy_top_level_not_a_mapping_refused)
{
	assert_yaml_refused("- /x\n- /y\n", "not a mapping");
}
END_TEST

START_TEST(test_comfy_invalid_yaml_refused)
{
	/* already unreadable: Synapse does not add to it */
	assert_yaml_refused("a111:\n    base_path: [/x\n", "is not valid YAML");
}
END_TEST

START_TEST(test_comfy_explicit_synapse_key_refused)
{
	/* a key of the user's that no line-start test sees, found by parsing */
	assert_yaml_refused("? synapse\n: {base_path: /mine}\n", "already has a 'synapse' key");
}
END_TEST

START_TEST(test_comfy_block_styles_accepted)
{
	static const char orig[] = "%YAML 1.1\n---\n# comment\na111:\n  base_path: /x\n  loras: |\n    a\n    b\n"
				   "\"quoted\": {x: 1}\n";
	char *root = make_root("comfyui", "ComfyUI");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml");
	json_t *r;

	test_write_file(yaml, orig, strlen(orig));
	r = do_attach(test_store, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	r = do_detach(test_store, "comfyui");
	assert_success(r, "comfyui");
	json_decref(r);
	assert_file_is(yaml, orig, strlen(orig));
	free(root);
	free(yaml);
}
END_TEST

/* ---- symlink UIs ---------------------------------------------------------- */

static const char *const forge_folders[] = {
	"models/Stable-diffusion", "models/Lora", "models/VAE", "embeddings", "models/ControlNet",
	"models/ESRGAN", "models/hypernetworks", "models/text_encoder",
};
#define N_FORGE (sizeof(forge_folders) / sizeof(forge_folders[0]))

START_TEST(test_forge_links)
{
	char *root = make_root("forge", "forge");
	char *lora = tp("forge/models/Lora"), *mine = tp("forge/models/Lora/mine.safetensors");
	char *data = tp("store/data");
	json_t *r, *st;
	size_t i;

	mkdir_p(lora);
	test_write_file(mine, "x", 1);
	r = do_attach(test_store, "forge");
	assert_success(r, "forge");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "forge"), "method")), "symlink");
	/* a link in each folder, and each folder but the user's models/Lora (and its models/) made for it */
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "forge"), "created")), N_FORGE + N_FORGE - 1);
	json_decref(r);
	for (i = 0; i < N_FORGE; i++) {
		char *link = tp("forge/%s/synapse", forge_folders[i]), *want, target[4096];
		ssize_t n = readlink(link, target, sizeof(target) - 1);

		ck_assert_msg(n > 0, "%s: %s", link, strerror(errno));
		target[n] = '\0';
		ck_assert_int_ge(asprintf(&want, "%s/views/forge/active/%s", data, forge_folders[i]), 0);
		ck_assert_str_eq(target, want);
		ck_assert_msg(is_dir(link), "%s does not lead to a folder", link);
		free(want);
		free(link);
	}
	/* the user's own model is where it was */
	ck_assert(test_exists(mine));
	st = do_status("forge");
	ck_assert(ui_attached(st, "forge"));
	ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(json_object_get(st, "forge"),
			"details"), "links"), "models/Lora")));
	json_decref(st);

	/* twice: nothing new */
	r = do_attach(test_store, "forge");
	assert_success(r, "forge");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "forge"), "created")), 0);
	json_decref(r);

	r = do_detach(test_store, "forge");
	assert_success(r, "forge");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "forge"), "removed")), N_FORGE + N_FORGE - 1);
	json_decref(r);
	for (i = 0; i < N_FORGE; i++) {
		char *link = tp("forge/%s/synapse", forge_folders[i]), *dir = tp("forge/%s", forge_folders[i]);

		ck_assert_msg(!test_exists(link), "%s is still there", link);
		/* the user's folder stays; those made for the links go with them */
		ck_assert(is_dir(dir) == !strcmp(forge_folders[i], "models/Lora"));
		free(link);
		free(dir);
	}
	ck_assert(test_exists(mine));
	st = do_status("forge");
	ck_assert(!ui_attached(st, "forge"));
	json_decref(st);
	free(root);
	free(lora);
	free(mine);
	free(data);
}
END_TEST

START_TEST(test_forge_user_entries_untouched)
{
	char *root = make_root("forge", "forge");
	char *dir = tp("forge/models/Lora/synapse"), *inside = tp("forge/models/Lora/synapse/keep.safetensors");
	char *file = tp("forge/embeddings/synapse"), *emb = tp("forge/embeddings");
	char *foreign = tp("forge/models/VAE/synapse"), *vae = tp("forge/models/VAE");
	char *ckpt = tp("forge/models/Stable-diffusion/synapse"), target[4096];
	json_t *r, *st, *links;
	ssize_t n;

	mkdir_p(dir);
	test_write_file(inside, "lora", 4);
	mkdir_p(emb);
	test_write_file(file, "mine", 4);
	mkdir_p(vae);
	ck_assert_int_eq(symlink("/somewhere/else", foreign), 0);

	r = do_attach(test_store, "forge");
	ck_assert(!ui_success(r, "forge"));
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "forge"), "errors")), 3);
	{
		char *msg;

		ck_assert_int_ge(asprintf(&msg, "'%s' exists and is not Synapse's: rename it to let Synapse attach", dir), 0);
		ck_assert(has_error(r, "forge", msg));
		free(msg);
	}
	ck_assert(has_error(r, "forge", file));
	ck_assert(has_error(r, "forge", foreign));
	/* the other folders got their links anyway, five of them made for it */
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "forge"), "created")), N_FORGE - 3 + 5);
	json_decref(r);
	ck_assert(is_link(ckpt));
	assert_file_is(inside, "lora", 4);
	assert_file_is(file, "mine", 4);
	n = readlink(foreign, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, "/somewhere/else");

	st = do_status("forge");
	ck_assert(!ui_attached(st, "forge"));
	links = json_object_get(json_object_get(json_object_get(st, "forge"), "details"), "links");
	ck_assert(json_is_false(json_object_get(links, "models/Lora")));
	ck_assert(json_is_true(json_object_get(links, "models/Stable-diffusion")));
	json_decref(st);

	/* detach removes our links only */
	r = do_detach(test_store, "forge");
	assert_success(r, "forge");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "forge"), "removed")), N_FORGE - 3 + 5);
	json_decref(r);
	ck_assert(!test_exists(ckpt));
	assert_file_is(inside, "lora", 4);
	assert_file_is(file, "mine", 4);
	ck_assert(is_link(foreign));
	free(root);
	free(dir);
	free(inside);
	free(file);
	free(emb);
	free(foreign);
	free(vae);
	free(ckpt);
}
END_TEST

START_TEST(test_model_folder_link_followed)
{
	char *root = make_root("a1111", "webui"), *big = tp("bigdisk/Lora"), *lora = tp("webui/models/Lora");
	char *models = tp("webui/models"), *ours = tp("bigdisk/Lora/synapse");
	json_t *r;

	mkdir_p(big);
	mkdir_p(models);
	ck_assert_int_eq(symlink(big, lora), 0);
	r = do_attach(test_store, "a1111");
	assert_success(r, "a1111");
	json_decref(r);
	/* the user's link stays; our link is in the folder it leads to */
	ck_assert(is_link(lora));
	ck_assert(is_link(ours));
	ck_assert(is_dir(ours));
	json_decref(do_detach(test_store, "a1111"));
	ck_assert(is_link(lora));
	ck_assert(!test_exists(ours));
	free(root);
	free(big);
	free(lora);
	free(models);
	free(ours);
}
END_TEST

START_TEST(test_sdnext_shared_folder)
{
	char *root = make_root("sdnext", "sdnext"), *unet = tp("sdnext/models/UNET/synapse");
	json_t *r, *st, *links;

	r = do_attach(test_store, "sdnext");
	assert_success(r, "sdnext");
	json_decref(r);
	ck_assert(is_link(unet));
	ck_assert(is_dir(unet));
	st = do_status("sdnext");
	ck_assert(ui_attached(st, "sdnext"));
	links = json_object_get(json_object_get(json_object_get(st, "sdnext"), "details"), "links");
	/* ten kinds, nine folders */
	ck_assert_uint_eq(json_object_size(links), 9);
	json_decref(st);
	free(root);
	free(unet);
}
END_TEST

/* Whether @r lists "<test_dir>/<rel>" under @key for @ui. */
static bool lists(const json_t *r, const char *ui, const char *key, const char *rel)
{
	char *want = test_path(rel);
	bool found = false;
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(r, ui), key), i, v)
		found = found || !strcmp(json_string_value(v), want);
	free(want);
	return found;
}

START_TEST(test_links_detach_removes_folders_attach_made)
{
	static const char *const gone[] = {
		"forge/models/Stable-diffusion", "forge/embeddings", "forge/models/ControlNet", "forge/models/text_encoder",
	};
	char *root = make_root("forge", "forge"), *mine = tp("forge/models/Lora/mine.safetensors");
	char *vae = tp("forge/models/VAE"), *models = tp("forge/models"), *upscaler = tp("forge/models/ESRGAN/4x.pth");
	char *hyper = tp("forge/models/hypernetworks"), *aside = tp("forge/models/hypernetworks-old"), *p;
	json_t *r;
	size_t i;

	/* the user's: models/ and models/Lora with a file, an empty models/VAE */
	mkdir_p(vae);
	p = tp("forge/models/Lora");
	mkdir_p(p);
	free(p);
	test_write_file(mine, "x", 1);
	r = do_attach(test_store, "forge");
	assert_success(r, "forge");
	ck_assert(lists(r, "forge", "created", "forge/embeddings"));
	ck_assert(!lists(r, "forge", "created", "forge/models/VAE"));
	json_decref(r);
	/* after attach the user keeps a model in a folder Synapse made, and moves another one aside for their own */
	test_write_file(upscaler, "u", 1);
	ck_assert_int_eq(rename(hyper, aside), 0);
	mkdir_p(hyper);

	r = do_detach(test_store, "forge");
	assert_success(r, "forge");
	ck_assert(lists(r, "forge", "removed", "forge/embeddings"));
	json_decref(r);
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		p = tp("%s", gone[i]);
		ck_assert_msg(!test_exists(p), "%s is still there", p);
		free(p);
	}
	ck_assert(is_dir(vae));
	ck_assert(test_exists(mine));
	assert_file_is(upscaler, "u", 1);
	ck_assert(is_dir(hyper));
	ck_assert(is_dir(aside));
	ck_assert(is_dir(models));
	free(root);
	free(mine);
	free(vae);
	free(models);
	free(upscaler);
	free(hyper);
	free(aside);
}
END_TEST

/* The number of entries in folder @path. */
static size_t entries_in(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	ck_assert_msg(d != NULL, "opendir %s: %s", path, strerror(errno));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

START_TEST(test_links_detach_leaves_root_as_it_was)
{
	char *root = make_root("sdnext", "sdnext"), *models = tp("sdnext/models"), *own = tp("sdnext/models/mine");
	json_t *r;

	/* made by attach, parents too, and attaching twice changes nothing */
	json_decref(do_attach(test_store, "sdnext"));
	json_decref(do_attach(test_store, "sdnext"));
	r = do_detach(test_store, "sdnext");
	assert_success(r, "sdnext");
	ck_assert(lists(r, "sdnext", "removed", "sdnext/models"));
	json_decref(r);
	ck_assert_uint_eq(entries_in(root), 0);

	/* a folder of the user's in one Synapse made keeps that one too, even when empty */
	json_decref(do_attach(test_store, "sdnext"));
	mkdir_p(own);
	json_decref(do_detach(test_store, "sdnext"));
	ck_assert(is_dir(own));
	ck_assert_uint_eq(entries_in(models), 1);
	ck_assert_uint_eq(entries_in(root), 1);
	/* once the user has emptied it, the next detach takes it away */
	ck_assert_int_eq(rmdir(own), 0);
	json_decref(do_detach(test_store, "sdnext"));
	ck_assert_uint_eq(entries_in(root), 0);
	free(root);
	free(models);
	free(own);
}
END_TEST

START_TEST(test_links_unreadable_record)
{
	char *root = make_root("a1111", "webui"), *record = tp("store/data/attach/a1111.json");
	char *lora = tp("webui/models/Lora"), *link = tp("webui/models/Lora/synapse");
	json_t *r;

	json_decref(do_attach(test_store, "a1111"));
	ck_assert(test_exists(record));
	test_write_file(record, "{oops", 5);
	/* attach would make folders it could not record: it refuses and names the record */
	r = do_attach(test_store, "a1111");
	ck_assert(!ui_success(r, "a1111"));
	ck_assert(has_error(r, "a1111", record));
	json_decref(r);
	/* detach still takes its links away, and leaves the folders it can no longer tell are its own */
	r = do_detach(test_store, "a1111");
	ck_assert(!ui_success(r, "a1111"));
	ck_assert(has_error(r, "a1111", "move '"));
	json_decref(r);
	ck_assert(!is_link(link));
	ck_assert(is_dir(lora));
	assert_file_is(record, "{oops", 5);
	free(root);
	free(record);
	free(lora);
	free(link);
}
END_TEST

/* ---- several UIs, missing roots, status ----------------------------------- */

START_TEST(test_missing_root)
{
	char *comfy = make_root("comfyui", "ComfyUI"), *gone = tp("no-forge-here");
	json_t *r, *st, *res;

	set_root_of(test_store, "forge", gone);
	r = do_attach(test_store, "local");
	assert_success(r, "comfyui");
	ck_assert(!ui_success(r, "forge"));
	ck_assert(has_error(r, "forge", gone));
	ck_assert(has_error(r, "forge", "is missing"));
	ck_assert(has_error(r, "forge", "ui.roots.forge"));
	ck_assert(has_error(r, "forge", "config.json"));
	json_decref(r);
	ck_assert(!test_exists(gone));

	st = do_status("local");
	ck_assert(ui_attached(st, "comfyui"));
	res = json_object_get(st, "forge");
	ck_assert(!ui_attached(st, "forge"));
	ck_assert_str_eq(json_string_value(json_object_get(res, "root")), gone);
	ck_assert(strstr(json_string_value(json_object_get(res, "error")), "is missing") != NULL);
	json_decref(st);

	/* detaching from a UI that is not there is nothing to do */
	r = do_detach(test_store, "local");
	assert_success(r, "comfyui");
	assert_success(r, "forge");
	json_decref(r);
	free(comfy);
	free(gone);
}
END_TEST

START_TEST(test_status_reflects_state)
{
	char *comfy = make_root("comfyui", "ComfyUI"), *forge = make_root("forge", "forge");
	char *yaml = tp("ComfyUI/extra_model_paths.yaml"), *path;
	json_t *st, *res, *details;

	test_write_file(yaml, "a:\n  b: c\n", 10);
	st = do_status(NULL);
	ck_assert(!ui_attached(st, "comfyui"));
	ck_assert(!ui_attached(st, "forge"));
	res = json_object_get(st, "comfyui");
	ck_assert_str_eq(json_string_value(json_object_get(res, "method")), "extra_model_paths");
	ck_assert_str_eq(json_string_value(json_object_get(res, "root")), comfy);
	ck_assert_int_ge(asprintf(&path, "%s/store/data/views/comfyui/active", test_dir), 0);
	ck_assert_str_eq(json_string_value(json_object_get(res, "path")), path);
	free(path);
	details = json_object_get(res, "details");
	ck_assert_str_eq(json_string_value(json_object_get(details, "file")), yaml);
	ck_assert(json_is_false(json_object_get(details, "backup_exists")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(st, "forge"), "method")), "symlink");
	json_decref(st);

	json_decref(do_attach(test_store, NULL));
	st = do_status(NULL);
	ck_assert(ui_attached(st, "comfyui"));
	ck_assert(ui_attached(st, "forge"));
	ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(st, "comfyui"), "details"),
					       "backup_exists")));
	json_decref(st);

	json_decref(do_detach(test_store, NULL));
	st = do_status(NULL);
	ck_assert(!ui_attached(st, "comfyui"));
	ck_assert(!ui_attached(st, "forge"));
	ck_assert(json_is_false(json_object_get(json_object_get(json_object_get(st, "comfyui"), "details"),
						"backup_exists")));
	json_decref(st);
	assert_file_is(yaml, "a:\n  b: c\n", 10);
	free(comfy);
	free(forge);
	free(yaml);
}
END_TEST

START_TEST(test_attach_changes_no_state)
{
	char *comfy = make_root("comfyui", "ComfyUI");
	json_t *before = NULL, *after = NULL;

	ck_assert_int_eq(syn_state_history(test_store, 0, &before), 0);
	json_decref(do_attach(test_store, "comfyui"));
	json_decref(do_detach(test_store, "comfyui"));
	ck_assert_int_eq(syn_state_history(test_store, 0, &after), 0);
	ck_assert(json_equal(before, after));
	json_decref(before);
	json_decref(after);
	free(comfy);
}
END_TEST

START_TEST(test_unknown_set)
{
	json_t *r = (json_t *)1;

	ck_assert_int_eq(syn_attach(test_store, "nope", &r), SYN_ENOTFOUND);
	ck_assert_ptr_null(r);
	ck_assert(strstr(syn_error_last(), "unknown UI set 'nope'") != NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("attach");

	TEST(s, test_comfy_restores_user_file, store_setup, store_teardown);
	TEST(s, test_comfy_file_with_newline_keeps_user_edits, store_setup, store_teardown);
	TEST(s, test_comfy_section_points_through_active, store_setup, store_teardown);
	TEST(s, test_comfy_created_file_with_user_content_stays, store_setup, store_teardown);
	TEST(s, test_comfy_section_replaced_in_place, store_setup, store_teardown);
	TEST(s, test_comfy_user_synapse_key_refused, store_setup, store_teardown);
	TEST(s, test_comfy_unfinished_section_refused, store_setup, store_teardown);
	TEST(s, test_comfy_yaml_link_refused, store_setup, store_teardown);
	TEST(s, test_comfy_data_root_with_space, store_setup, store_teardown);
	TEST(s, test_comfy_flow_style_refused, store_setup, store_teardown);
	TEST(s, test_comfy_document_end_refused, store_setup, store_teardown);
	TEST(s, test_comfy_two_documents_refused, store_setup, store_teardown);
	TEST(s, test_comfy_top_level_not_a_mapping_refused, store_setup, store_teardown);
	TEST(s, test_comfy_invalid_yaml_refused, store_setup, store_teardown);
	TEST(s, test_comfy_explicit_synapse_key_refused, store_setup, store_teardown);
	TEST(s, test_comfy_block_styles_accepted, store_setup, store_teardown);
	TEST(s, test_forge_links, store_setup, store_teardown);
	TEST(s, test_forge_user_entries_untouched, store_setup, store_teardown);
	TEST(s, test_model_folder_link_followed, store_setup, store_teardown);
	TEST(s, test_sdnext_shared_folder, store_setup, store_teardown);
	TEST(s, test_links_detach_removes_folders_attach_made, store_setup, store_teardown);
	TEST(s, test_links_detach_leaves_root_as_it_was, store_setup, store_teardown);
	TEST(s, test_links_unreadable_record, store_setup, store_teardown);
	TEST(s, test_missing_root, store_setup, store_teardown);
	TEST(s, test_status_reflects_state, store_setup, store_teardown);
	TEST(s, test_attach_changes_no_state, store_setup, store_teardown);
	TEST(s, test_unknown_set, store_setup, store_teardown);
	return test_main(s);
}
