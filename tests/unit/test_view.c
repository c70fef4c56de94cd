/* Tests of view plans and builds: last wins, shadows, missing blobs, hostile names, atomic swaps. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "packs.h"

START_TEST(last_pack_wins_and_shadows_are_reported)
{
	json_t *plan, *e;
	const char *a_files[] = { "shared.safetensors", "only_a.safetensors", NULL };
	const char *b_files[] = { "shared.safetensors", NULL };
	const char *c_files[] = { "shared.safetensors", "only_c.safetensors", NULL };
	char *link, target[PATH_MAX], *data;
	ssize_t n;
	size_t i;

	make_pack("A", "lora", a_files, true);
	make_pack("B", "lora", b_files, true);
	make_pack("C", "lora", c_files, true);
	ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "entries")), 3);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "shadowed")), 2);
	e = json_array_get(json_object_get(plan, "shadowed"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "dst_relpath")), "models/loras/shared.safetensors");
	ck_assert_str_eq(json_string_value(json_object_get(e, "winner_pack")), "B");
	ck_assert_str_eq(json_string_value(json_object_get(e, "loser_pack")), "A");
	ck_assert_str_eq(json_string_value(json_object_get(e, "ui")), "comfyui");
	e = json_array_get(json_object_get(plan, "shadowed"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(e, "winner_pack")), "C");
	ck_assert_str_eq(json_string_value(json_object_get(e, "loser_pack")), "B");
	json_array_foreach(json_object_get(plan, "entries"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "dst_relpath")), "models/loras/shared.safetensors"))
			ck_assert_str_eq(json_string_value(json_object_get(e, "pack")), "C");
	json_decref(plan);

	/* the built view links C's bytes, through a relative link that resolves */
	link = test_path("store/data/views/comfyui/active/models/loras/shared.safetensors");
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_msg(target[0] != '/', "absolute link %s", target);
	data = test_read_file(link, NULL);
	ck_assert_str_eq(data, "C:shared.safetensors");
	free(data);
	free(link);
}
END_TEST

/* Point pack @pack's lock entry for @dep at the blob @sha. */
static void relock(const char *pack, const char *dep, const char *sha)
{
	json_t *lock = NULL, *e;
	char rel[256];
	size_t i;
	int fd = syn_store_state_fd(test_store);

	snprintf(rel, sizeof(rel), "packs/%s/lock.json", pack);
	ck_assert_int_eq(syn_doc_read(&lock, fd, rel, rel), 0);
	json_array_foreach(json_object_get(lock, "resolved"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "dependency_id")), dep))
			json_object_set_new(json_object_get(e, "artifact"), "sha256", json_string(sha));
	ck_assert_int_eq(syn_doc_write(fd, rel, lock), 0);
	json_decref(lock);
}

START_TEST(the_same_bytes_under_the_same_name_shadow_nothing)
{
	const char *files[] = { "same.safetensors", NULL };
	char sha[65];
	json_t *plan;

	make_pack("A", "lora", files, true);
	make_pack("B", "lora", files, true);
	blob_of(sha, "A", "same.safetensors");
	relock("B", "file_0", sha);
	ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "entries")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "shadowed")), 0);
	json_decref(plan);
}
END_TEST

START_TEST(a_missing_blob_shadows_nothing)
{
	const char *a_files[] = { "x.safetensors", NULL };
	json_t *plan;
	char *link, *data;

	make_pack("A", "checkpoint", a_files, true);
	make_pack("B", "checkpoint", a_files, false); /* resolved, blob not installed */
	ck_assert_int_eq(syn_view_plan(test_store, "forge", "global", &plan), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "shadowed")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "missing_blobs")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(plan, "missing_blobs"), 0),
							   "pack")), "B");
	json_decref(plan);
	link = test_path("store/data/views/forge/active/models/Stable-diffusion/x.safetensors");
	data = test_read_file(link, NULL);
	ck_assert_str_eq(data, "A:x.safetensors");
	free(data);
	free(link);
}
END_TEST

START_TEST(hostile_expose_filename_never_links_outside)
{
	static const char *const hostile[] = { "../../../../escape.safetensors", "../x", ".hidden", "a/b", "" };
	char *views = test_path("store/data/views"), *outside = test_path("store/data/escape.safetensors");
	json_t *plan;
	size_t i;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const char *files[] = { hostile[i], NULL };
		char name[16];

		snprintf(name, sizeof(name), "H%zu", i);
		make_pack(name, "lora", files, true);
	}
	ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "entries")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "errors")), 5);
	json_decref(plan);
	ck_assert(!test_exists(outside));
	ck_assert_int_eq(test_count_named(views, "escape"), 0);
	ck_assert_int_eq(test_count_named(views, "hidden"), 0);
	free(views);
	free(outside);
}
END_TEST

START_TEST(unchanged_plan_skips_the_rebuild)
{
	const char *files[] = { "a.safetensors", NULL };
	json_t *report;
	struct stat before, after;
	char *view = test_path("store/data/views/comfyui/profiles/global");

	make_pack("A", "lora", files, true);
	ck_assert_int_eq(stat(view, &before), 0);
	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_int_eq(syn_view_build(test_store, "comfyui", "global", false, &report), 0);
	ck_assert(json_is_false(json_object_get(report, "rebuilt")));
	json_decref(report);
	ck_assert_int_eq(stat(view, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	/* forced: a new tree, swapped in */
	ck_assert_int_eq(syn_view_build(test_store, "comfyui", "global", true, &report), 0);
	ck_assert(json_is_true(json_object_get(report, "rebuilt")));
	json_decref(report);
	syn_store_unlock(test_store);
	ck_assert_int_eq(stat(view, &after), 0);
	ck_assert_uint_ne(before.st_ino, after.st_ino);
	free(view);
}
END_TEST

START_TEST(views_have_every_folder_and_no_dangling_link)
{
	const char *files[] = { "a.safetensors", NULL };
	char *p;

	make_pack("A", "vae", files, true);
	p = test_path("store/data/views/sdnext/profiles/global/models/Text-encoder");
	ck_assert(test_exists(p)); /* every mapped kind folder exists, even empty */
	free(p);
	p = test_path("store/data/views/a1111/profiles/global/embeddings");
	ck_assert(test_exists(p));
	free(p);
	ck_assert_int_eq(count_dangling(), 0);
}
END_TEST

START_TEST(installing_a_missing_blob_fills_the_active_view)
{
	const char *files[] = { "late.safetensors", NULL };
	char *link = test_path("store/data/views/comfyui/active/models/loras/late.safetensors"), *data;

	make_pack("A", "lora", files, false);
	ck_assert(!test_exists(link));
	insert_blob_for("A", "late.safetensors");
	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_int_eq(syn__test_refresh(), 0);
	syn_store_unlock(test_store);
	data = test_read_file(link, NULL);
	ck_assert_str_eq(data, "A:late.safetensors");
	free(data);
	free(link);
}
END_TEST

/*
 * More blobs than a command looks up one by one: the rest of the answers
 * come from one listing of the store, and must be the same answers.
 */
START_TEST(a_store_of_many_blobs_is_listed_right)
{
	const char *files[] = { "a.safetensors", "b.safetensors", NULL };
	enum { PACKS = 1100 };
	json_t *r, *p;
	size_t i;

	for (i = 0; i < PACKS; i++) {
		char name[16], sha[65], *path;

		snprintf(name, sizeof(name), "Big%04zu", i);
		write_pack_docs(name, "lora", files, i % 50 != 31);
		if (i % 50 != 7)
			continue;
		/* one of its two files removed by hand */
		blob_of(sha, name, "b.safetensors");
		ck_assert_int_ge(asprintf(&path, "%s/store/data/blobs/sha256/%.2s/%s", test_dir, sha, sha), 0);
		ck_assert_int_eq(unlink(path), 0);
		free(path);
	}
	ck_assert_int_eq(syn_pack_list(test_store, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "packs")), PACKS);
	json_array_foreach(json_object_get(r, "packs"), i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		unsigned long n = strtoul(name + 3, NULL, 10);

		ck_assert_msg(json_is_boolean(json_object_get(p, "installed")), "%s", name);
		ck_assert_msg(json_is_true(json_object_get(p, "installed")) == (n % 50 != 7 && n % 50 != 31),
			      "%s: installed is %s", name, json_is_true(json_object_get(p, "installed")) ? "true" : "false");
	}
	json_decref(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("view");

	TEST(s, last_pack_wins_and_shadows_are_reported, store_setup, store_teardown);
	TEST(s, the_same_bytes_under_the_same_name_shadow_nothing, store_setup, store_teardown);
	TEST(s, a_missing_blob_shadows_nothing, store_setup, store_teardown);
	TEST(s, hostile_expose_filename_never_links_outside, store_setup, store_teardown);
	TEST(s, unchanged_plan_skips_the_rebuild, store_setup, store_teardown);
	TEST(s, views_have_every_folder_and_no_dangling_link, store_setup, store_teardown);
	TEST(s, installing_a_missing_blob_fills_the_active_view, store_setup, store_teardown);
	TEST(s, a_store_of_many_blobs_is_listed_right, store_setup, store_teardown);
	return test_main(s);
}
