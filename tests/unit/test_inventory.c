/*
 * Tests of the inventory: statuses and locations of blobs here and on a
 * backup, the UIs whose active view links a blob, deduplication figures,
 * cleanup of orphans, delete behind the guard rails, parallel verify; and
 * the `synapse inventory` commands' text and exit statuses.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <synapse/sys/backend.h>

#include "common.h"
#include "packs.h"

#define RUN(...) test_cli((const char *const[]){ __VA_ARGS__, NULL }, NULL)

static void init_store(void)
{
	json_t *report = NULL;
	char *root = test_path("store");

	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	ck_assert_msg(syn_store_init(test_store, false, &report) == 0, "init: %s", syn_error_last());
	json_decref(report);
	free(root);
}

/* A fresh store whose registry also holds the directory backend used as the backup. */
static void backup_setup(void)
{
	tmp_setup();
	test_reg = test_registry();
	ck_assert_int_eq(syn_registry_load_file(test_reg, SYN_TEST_BACKEND_DIR "/dir_backend.so"), 0);
	init_store();
}

/* Enable the directory backup at <test>/backup (@options stolen, may be NULL) and reopen the store. */
static void enable_backup(json_t *options)
{
	char *dir = test_path("backup"), *root = test_path("store");
	json_t *config = NULL, *backup;

	ck_assert_int_eq(syn_store_config(test_store, &config), 0);
	backup = json_object_get(config, "backup");
	json_object_set_new(backup, "enabled", json_true());
	json_object_set_new(backup, "backend", json_string("dirback"));
	json_object_set_new(backup, "path", json_string(dir));
	if (options)
		json_object_set_new(backup, "dirback", options);
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "config.json", config), 0);
	json_decref(config);
	syn_store_free(test_store);
	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	mkdir(dir, 0755);
	free(dir);
	free(root);
}

/* Store @content as a local blob; its digest in @sha. */
static void insert_text(const char *content, char sha[65])
{
	char *src = test_path("src.bin");

	test_write_file(src, content, strlen(content));
	ck_assert_msg(syn_blob_insert_file(test_store, src, NULL, sha) == 0, "insert: %s", syn_error_last());
	free(src);
}

/* Put @content on the backup only; its digest in @sha. */
static void backup_text(const char *content, char sha[65])
{
	char *dir = test_path("backup"), path[PATH_MAX];

	ck_assert_int_eq(syn_sha256_mem(sha, content, strlen(content)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, sha);
	test_write_file(path, content, strlen(content));
	free(dir);
}

/* The local file of blob @sha (malloc'ed). */
static char *blob_file(const char *sha)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "store/data/blobs/sha256/%c%c/%s", sha[0], sha[1], sha);
	return test_path(rel);
}

/*
 * A pack @name of @kind whose lock names the blobs @shas (NULL terminated),
 * files "<name>_<i>.safetensors". With @in_global it joins the global
 * profile and the views are rebuilt, so every UI's active view links them.
 */
static void write_pack(const char *name, const char *kind, const char *const *shas, bool in_global)
{
	json_t *deps = json_array(), *resolved = json_array(), *pack, *lock;
	int fd = syn_store_state_fd(test_store);
	char rel[512];
	size_t i;

	for (i = 0; shas[i]; i++) {
		char id[32], file[64];

		snprintf(id, sizeof(id), "file_%zu", i);
		snprintf(file, sizeof(file), "%s_%zu.safetensors", name, i);
		json_array_append_new(deps, json_pack("{s:s, s:s, s:b, s:{s:s, s:[]}, s:{s:s}, s:{s:s}}", "id", id,
			"kind", kind, "required", 1, "expose", "filename", file, "trigger_words", "selector",
			"strategy", "url_download", "update_policy", "mode", "pinned"));
		json_array_append_new(resolved, json_pack("{s:s, s:{s:s, s:s, s:i, s:{s:s, s:i}, s:{s:[]}, s:{s:b}}}",
			"dependency_id", id, "artifact", "kind", kind, "sha256", shas[i], "size_bytes", 10, "provider",
			"name", "civitai", "model_id", 7, "download", "urls", "integrity", "sha256_verified", 1));
	}
	pack = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "schema", "synapse.pack.v2", "name", name, "pack_type", kind,
			 "source", "provider", "local", "dependencies", deps);
	lock = json_pack("{s:s, s:s, s:o, s:[]}", "schema", "synapse.lock.v2", "pack", name, "resolved", resolved,
			 "unresolved");
	snprintf(rel, sizeof(rel), "packs/%s/pack.json", name);
	ck_assert_int_eq(syn_doc_write(fd, rel, pack), 0);
	snprintf(rel, sizeof(rel), "packs/%s/lock.json", name);
	ck_assert_int_eq(syn_doc_write(fd, rel, lock), 0);
	json_decref(pack);
	json_decref(lock);
	if (in_global) {
		json_t *global = NULL;

		ck_assert_int_eq(syn_profile_show(test_store, "global", &global), 0);
		json_array_append_new(json_object_get(global, "packs"), json_pack("{s:s}", "name", name));
		ck_assert_int_eq(syn_doc_write(fd, "profiles/global/profile.json", global), 0);
		json_decref(global);
		ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
		ck_assert_msg(refresh_views() == 0, "%s", syn_error_last());
		syn_store_unlock(test_store);
	}
}

/* Run operation @name with @args (a JSON text, may be NULL); the code, the report in *@report. */
static int op(const char *name, const char *args_text, json_t **report)
{
	json_t *args = args_text ? json_loads(args_text, 0, NULL) : NULL;
	int rc;

	ck_assert_ptr_nonnull(syn_op_find(name));
	*report = NULL;
	rc = syn_op_run(syn_op_find(name), test_store, args, NULL, report);
	json_decref(args);
	return rc;
}

static json_t *list_ok(const char *args_text)
{
	json_t *r = NULL;

	ck_assert_msg(op("inventory list", args_text, &r) == 0, "list: %s", syn_error_last());
	return r;
}

/* The item of blob @sha in inventory @r, or NULL. */
static const json_t *item_of(const json_t *r, const char *sha)
{
	const json_t *it;
	size_t i;

	json_array_foreach(json_object_get(r, "items"), i, it)
		if (!strcmp(syn_doc_str(it, "sha256", ""), sha))
			return it;
	return NULL;
}

static const char *str_of(const json_t *o, const char *key)
{
	return syn_doc_str(o, key, "(none)");
}

static json_int_t int_of(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static bool has_string(const json_t *list, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

START_TEST(statuses_locations_and_active_uis)
{
	const char *files[] = { "a.safetensors", NULL }, *doomed[] = { "d.safetensors", NULL };
	const char *absent[] = { "m.safetensors", NULL };
	char a[65], d[65], m[65], big[65], shas[1][65];
	json_t *r = NULL, *del = NULL;
	const json_t *it, *items, *prev = NULL;
	size_t i;

	(void)shas;
	make_pack("A", "lora", files, true);
	make_pack("D", "vae", doomed, true);
	make_pack("M", "checkpoint", absent, false);
	blob_of(a, "A", "a.safetensors");
	blob_of(d, "D", "d.safetensors");
	blob_of(m, "M", "m.safetensors");
	insert_text("an orphan bigger than every other blob of this store", big);
	ck_assert_msg(syn_pack_delete(test_store, "D", true, &del) == 0, "delete: %s", syn_error_last());
	json_decref(del);

	r = list_ok(NULL);
	it = item_of(r, a);
	ck_assert_ptr_nonnull(it);
	ck_assert_str_eq(str_of(it, "status"), "referenced");
	ck_assert_str_eq(str_of(it, "location"), "local_only");
	ck_assert(json_is_true(json_object_get(it, "on_local")));
	ck_assert(json_is_false(json_object_get(it, "on_backup")));
	ck_assert_str_eq(str_of(it, "kind"), "lora");
	ck_assert_str_eq(str_of(it, "display_name"), "a.safetensors");
	ck_assert_int_eq(int_of(it, "size_bytes"), (json_int_t)strlen("A:a.safetensors"));
	ck_assert_int_eq(int_of(it, "ref_count"), 1);
	ck_assert(has_string(json_object_get(it, "used_by_packs"), "A"));
	/* the global profile is every UI's active view */
	ck_assert_msg(has_string(json_object_get(it, "active_in_uis"), "comfyui"), "active_in_uis of a referenced blob");

	it = item_of(r, d);
	ck_assert_ptr_nonnull(it);
	ck_assert_str_eq(str_of(it, "status"), "orphan");
	ck_assert_int_eq(json_array_size(json_object_get(it, "used_by_packs")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(it, "active_in_uis")), 0);

	it = item_of(r, m);
	ck_assert_ptr_nonnull(it);
	ck_assert_str_eq(str_of(it, "status"), "missing");
	ck_assert_str_eq(str_of(it, "location"), "nowhere");
	ck_assert(json_is_false(json_object_get(it, "on_local")));
	ck_assert_int_eq(int_of(it, "size_bytes"), 10); /* what the lock says */

	/* largest first */
	items = json_object_get(r, "items");
	ck_assert_str_eq(str_of(json_array_get(items, 0), "sha256"), big);
	json_array_foreach(items, i, it) {
		if (prev)
			ck_assert_int_ge(int_of(prev, "size_bytes"), int_of(it, "size_bytes"));
		prev = it;
	}
	it = json_object_get(r, "summary");
	ck_assert_int_eq(int_of(it, "blobs_total"), 4);
	ck_assert_int_eq(int_of(it, "blobs_referenced"), 1);
	ck_assert_int_eq(int_of(it, "blobs_orphan"), 2);
	ck_assert_int_eq(int_of(it, "blobs_missing"), 1);
	ck_assert_int_eq(int_of(it, "bytes_orphan"), (json_int_t)(strlen("D:d.safetensors") + strlen(
		"an orphan bigger than every other blob of this store")));
	ck_assert(json_is_false(json_object_get(json_object_get(it, "backup"), "enabled")));
	/* the local backend says how much room its disk has */
	ck_assert_msg(json_is_integer(json_object_get(it, "disk_free")) && int_of(it, "disk_free") > 0, "disk_free");
	ck_assert_int_ge(int_of(it, "disk_total"), int_of(it, "disk_free"));
	json_decref(r);

	/* the filters, and the two shorthands */
	r = list_ok("{\"status\": \"orphan\"}");
	ck_assert_int_eq(json_array_size(json_object_get(r, "items")), 2);
	json_decref(r);
	ck_assert_int_eq(op("inventory missing", NULL, &r), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "items")), 1);
	json_decref(r);
	ck_assert_int_eq(op("inventory orphans", "{\"kind\": \"unknown\"}", &r), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "items")), 2); /* no pack names them, no manifest */
	json_decref(r);
	r = list_ok("{\"kind\": \"lora\"}");
	ck_assert_int_eq(json_array_size(json_object_get(r, "items")), 1);
	ck_assert_int_eq(int_of(json_object_get(r, "summary"), "blobs_total"), 1);
	json_decref(r);
	ck_assert_int_eq(op("inventory list", "{\"status\": \"lost\"}", &r), SYN_EINVALID);
	json_decref(r);
}
END_TEST

START_TEST(manifests_and_partial_files_are_never_items)
{
	char sha[65], part[65], path[PATH_MAX], *file;
	json_t *r;

	insert_text("kept because it once was a lora", sha);
	file = blob_file(sha);
	snprintf(path, sizeof(path), "%s.meta", file);
	test_write_file(path, "{\"version\": 1, \"original_filename\": \"old.safetensors\", \"kind\": \"lora\", \"origin\": null}",
			strlen("{\"version\": 1, \"original_filename\": \"old.safetensors\", \"kind\": \"lora\", \"origin\": null}"));
	memset(part, 'f', 64);
	part[64] = '\0';
	snprintf(path, sizeof(path), "%s/store/data/blobs/sha256/ff", test_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/store/data/blobs/sha256/ff/%s.part", test_dir, part);
	test_write_file(path, "half a download", 15);

	r = list_ok(NULL);
	ck_assert_int_eq(json_array_size(json_object_get(r, "items")), 1);
	ck_assert_ptr_null(item_of(r, part));
	/* an orphan is labelled by the manifest it arrived with */
	ck_assert_str_eq(str_of(item_of(r, sha), "display_name"), "old.safetensors");
	ck_assert_str_eq(str_of(item_of(r, sha), "kind"), "lora");
	ck_assert_int_eq(int_of(json_object_get(r, "summary"), "bytes_total"), (json_int_t)strlen("kept because it once was a lora"));
	json_decref(r);
	free(file);
}
END_TEST

START_TEST(dedup_of_two_packs_sharing_a_blob)
{
	char shared[65], own[65];
	const char *p1[] = { shared, NULL }, *p2[] = { shared, own, NULL };
	const size_t ns = strlen("one file both packs use"), no = strlen("only the second's");
	const json_t *dedup;
	json_t *r;

	insert_text("one file both packs use", shared);
	insert_text("only the second's", own);
	write_pack("First", "checkpoint", p1, false);
	write_pack("Second", "checkpoint", p2, false);
	r = list_ok(NULL);
	ck_assert_int_eq(int_of(item_of(r, shared), "ref_count"), 2);
	ck_assert_int_eq(json_array_size(json_object_get(item_of(r, shared), "used_by_packs")), 2);
	dedup = json_object_get(json_object_get(r, "summary"), "dedup");
	ck_assert_int_eq(int_of(dedup, "bytes_as_copies"), (json_int_t)(2 * ns + no));
	ck_assert_int_eq(int_of(dedup, "bytes_stored"), (json_int_t)(ns + no));
	ck_assert_int_eq(int_of(dedup, "bytes_saved"), (json_int_t)ns);
	ck_assert_int_eq(int_of(json_object_get(json_object_get(r, "summary"), "bytes_by_kind"), "checkpoint"),
			 (json_int_t)(ns + no));
	json_decref(r);
}
END_TEST

START_TEST(cleanup_dry_run_then_execute)
{
	const char *files[] = { "a.safetensors", NULL };
	char a[65], o1[65], o2[65], *f1, *f2, *fa;
	json_t *r;

	make_pack("A", "lora", files, true);
	blob_of(a, "A", "a.safetensors");
	insert_text("first orphan, the longer one", o1);
	insert_text("second orphan", o2);
	f1 = blob_file(o1);
	f2 = blob_file(o2);
	fa = blob_file(a);

	ck_assert_int_eq(op("inventory cleanup", NULL, &r), 0);
	ck_assert(json_is_true(json_object_get(r, "dry_run")));
	ck_assert_int_eq(int_of(r, "orphans_found"), 2);
	ck_assert_int_eq(int_of(r, "orphans_deleted"), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "deleted")), 2);
	ck_assert_int_eq(int_of(r, "bytes_freed"), (json_int_t)(strlen("first orphan, the longer one") + strlen("second orphan")));
	json_decref(r);
	ck_assert(test_exists(f1) && test_exists(f2) && test_exists(fa));

	/* at most one: the largest */
	ck_assert_int_eq(op("inventory cleanup", "{\"execute\": true, \"max\": 1}", &r), 0);
	ck_assert_int_eq(int_of(r, "orphans_deleted"), 1);
	ck_assert_str_eq(str_of(json_array_get(json_object_get(r, "deleted"), 0), "sha256"), o1);
	json_decref(r);
	ck_assert(!test_exists(f1) && test_exists(f2));

	ck_assert_int_eq(op("inventory cleanup", "{\"execute\": true}", &r), 0);
	ck_assert(json_is_false(json_object_get(r, "dry_run")));
	ck_assert_int_eq(int_of(r, "orphans_deleted"), 1);
	ck_assert_int_eq(int_of(r, "bytes_freed"), (json_int_t)strlen("second orphan"));
	json_decref(r);
	ck_assert(!test_exists(f2));
	ck_assert_msg(test_exists(fa), "a referenced blob was removed");

	ck_assert_int_eq(op("inventory cleanup", "{\"execute\": true, \"dry_run\": true}", &r), SYN_EUSAGE);
	json_decref(r);
	free(f1);
	free(f2);
	free(fa);
}
END_TEST

START_TEST(cleanup_keeps_what_an_active_view_links)
{
	const char *files[] = { "a.safetensors", NULL };
	char a[65], *fa, *warnings;
	json_t *lock = json_pack("{s:s, s:s, s:[], s:[]}", "schema", "synapse.lock.v2", "pack", "A", "resolved",
				 "unresolved"), *r;

	make_pack("A", "lora", files, true);
	blob_of(a, "A", "a.safetensors");
	/* the lock no longer names the blob, but the views were not rebuilt: the UIs still show it */
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "packs/A/lock.json", lock), 0);
	json_decref(lock);
	fa = blob_file(a);
	r = list_ok(NULL);
	ck_assert_str_eq(str_of(item_of(r, a), "status"), "orphan");
	ck_assert_int_ge(json_array_size(json_object_get(item_of(r, a), "active_in_uis")), 1);
	json_decref(r);
	ck_assert_int_eq(op("inventory cleanup", "{\"execute\": true}", &r), 0);
	ck_assert_int_eq(int_of(r, "orphans_found"), 0);
	warnings = json_dumps(json_object_get(r, "warnings"), 0);
	ck_assert_msg(warnings && strstr(warnings, "active view"), "warnings: %s", warnings);
	free(warnings);
	json_decref(r);
	ck_assert(test_exists(fa));
	free(fa);
}
END_TEST

START_TEST(cleanup_refuses_while_a_pack_cannot_be_read)
{
	const char *files[] = { "b.safetensors", NULL };
	char b[65], path[PATH_MAX], *fb;
	json_t *r;

	make_pack("B", "lora", files, true);
	blob_of(b, "B", "b.safetensors");
	snprintf(path, sizeof(path), "%s/store/state/packs/B/lock.json", test_dir);
	test_write_file(path, "{ this is not json", 18);
	fb = blob_file(b);

	ck_assert_int_eq(op("inventory cleanup", "{\"execute\": true}", &r), SYN_EGUARD);
	ck_assert_msg(strstr(syn_error_last(), "'B'"), "message: %s", syn_error_last());
	json_decref(r);
	ck_assert(test_exists(fb));
	/* a dry run still answers, and says why its list cannot be trusted */
	ck_assert_int_eq(op("inventory cleanup", NULL, &r), 0);
	ck_assert_int_ge(json_array_size(json_object_get(r, "warnings")), 1);
	json_decref(r);
	ck_assert(test_exists(fb));
	free(fb);
}
END_TEST

START_TEST(delete_guard_rails)
{
	const char *files[] = { "a.safetensors", NULL };
	char a[65], held[65], orphan[65], *fa, *fh, *fo, args[256];
	const char *shas[] = { held, NULL };
	json_t *r;

	make_pack("A", "lora", files, true);
	blob_of(a, "A", "a.safetensors");
	insert_text("needed by a pack no UI shows", held);
	write_pack("Shelf", "checkpoint", shas, false);
	insert_text("nobody needs me", orphan);
	fa = blob_file(a);
	fh = blob_file(held);
	fo = blob_file(orphan);

	/* the last copy of a file a pack needs */
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", held);
	ck_assert_int_eq(op("inventory delete", args, &r), SYN_EGUARD);
	ck_assert_msg(strstr(syn_error_last(), "Shelf") && strstr(syn_error_last(), "--force"), "message: %s",
		      syn_error_last());
	ck_assert_int_eq(syn_error_http_status(SYN_EGUARD), 409);
	json_decref(r);
	ck_assert(test_exists(fh));
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\", \"force\": true}", held);
	ck_assert_msg(op("inventory delete", args, &r) == 0, "forced: %s", syn_error_last());
	ck_assert(json_is_true(json_object_get(r, "deleted")));
	ck_assert(has_string(json_object_get(r, "deleted_from"), "local"));
	ck_assert_int_eq(json_array_size(json_object_get(r, "remaining_on")), 0);
	ck_assert_int_eq(int_of(r, "bytes_freed"), (json_int_t)strlen("needed by a pack no UI shows"));
	ck_assert_int_ge(json_array_size(json_object_get(r, "warnings")), 1);
	json_decref(r);
	ck_assert(!test_exists(fh));

	/* linked from an active view: refused even though it is one pack's */
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", a);
	ck_assert_int_eq(op("inventory delete", args, &r), SYN_EGUARD);
	ck_assert_msg(strstr(syn_error_last(), "active view"), "message: %s", syn_error_last());
	json_decref(r);
	ck_assert(test_exists(fa));

	/* an orphan goes without a question; a second time there is nothing */
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", orphan);
	ck_assert_msg(op("inventory delete", args, &r) == 0, "orphan: %s", syn_error_last());
	json_decref(r);
	ck_assert(!test_exists(fo));
	ck_assert_int_eq(op("inventory delete", args, &r), SYN_ENOTFOUND);
	json_decref(r);
	ck_assert_int_eq(op("inventory delete", "{\"sha256\": \"xyz\"}", &r), SYN_EINVALID);
	json_decref(r);
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\", \"target\": \"moon\"}", a);
	ck_assert_int_eq(op("inventory delete", args, &r), SYN_EUSAGE);
	json_decref(r);
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\", \"target\": \"backup\"}", a);
	ck_assert_int_eq(op("inventory delete", args, &r), SYN_EINVALID); /* no backup configured */
	json_decref(r);
	free(fa);
	free(fh);
	free(fo);
}
END_TEST

START_TEST(verify_finds_a_corrupt_blob)
{
	char good[65], bad[65], *fb, args[512];
	json_t *r;
	FILE *f;

	insert_text("intact bytes", good);
	insert_text("bytes about to rot", bad);
	fb = blob_file(bad);
	ck_assert_int_eq(chmod(fb, 0644), 0);
	f = fopen(fb, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputc('B', f), 'B');
	fclose(f);

	ck_assert_int_eq(op("inventory verify", "{\"all\": true}", &r), SYN_ECORRUPT);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(int_of(r, "verified"), 2);
	ck_assert(has_string(json_object_get(r, "invalid"), bad));
	ck_assert(has_string(json_object_get(r, "valid"), good));
	ck_assert_int_eq(json_array_size(json_object_get(r, "valid")), 1);
	ck_assert(json_is_integer(json_object_get(r, "duration_ms")));
	json_decref(r);

	snprintf(args, sizeof(args), "{\"shas\": [\"%s\"]}", good);
	ck_assert_int_eq(op("inventory verify", args, &r), 0);
	json_decref(r);
	/* a digest given in capitals is the same blob; an absent one is invalid */
	{
		char upper[65];
		size_t i;

		for (i = 0; i < 64; i++)
			upper[i] = (char)(good[i] >= 'a' ? good[i] - 32 : good[i]);
		upper[64] = '\0';
		snprintf(args, sizeof(args), "{\"shas\": [\"%s\", \"%064d\"]}", upper, 0);
	}
	ck_assert_int_eq(op("inventory verify", args, &r), SYN_ECORRUPT);
	ck_assert(has_string(json_object_get(r, "valid"), good));
	ck_assert_int_eq(json_array_size(json_object_get(r, "invalid")), 1);
	json_decref(r);
	ck_assert_int_eq(op("inventory verify", NULL, &r), SYN_EUSAGE);
	json_decref(r);
	free(fb);
}
END_TEST

START_TEST(verify_many_in_parallel)
{
	char shas[40][65], content[64];
	json_t *list = json_array(), *r = NULL;
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(content, sizeof(content), "blob number %d", i);
		insert_text(content, shas[i]);
		json_array_append_new(list, json_string(shas[i]));
	}
	json_array_append_new(list, json_string("not a digest"));
	/* every core takes a share; the answer keeps the order given */
	ck_assert_int_eq(syn_inventory_verify(test_store, list, &r), SYN_ECORRUPT);
	ck_assert_int_eq(int_of(r, "verified"), 41);
	ck_assert_int_eq(json_array_size(json_object_get(r, "valid")), 40);
	for (i = 0; i < 40; i++)
		ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "valid"), (size_t)i)), shas[i]);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "invalid"), 0)), "not a digest");
	json_decref(r);
	json_decref(list);
}
END_TEST

START_TEST(impacts_of_a_blob)
{
	const char *files[] = { "a.safetensors", NULL };
	char a[65], orphan[65], args[256];
	json_t *r;

	make_pack("A", "lora", files, true);
	blob_of(a, "A", "a.safetensors");
	insert_text("spare", orphan);

	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", a);
	ck_assert_int_eq(op("inventory impacts", args, &r), 0);
	ck_assert_str_eq(str_of(r, "status"), "referenced");
	ck_assert(json_is_false(json_object_get(r, "can_delete_safely")));
	ck_assert(has_string(json_object_get(r, "used_by_packs"), "A"));
	ck_assert(has_string(json_object_get(r, "active_in_uis"), "comfyui"));
	ck_assert_msg(strstr(str_of(r, "reason"), "A"), "reason: %s", str_of(r, "reason"));
	json_decref(r);

	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", orphan);
	ck_assert_int_eq(op("inventory impacts", args, &r), 0);
	ck_assert_str_eq(str_of(r, "status"), "orphan");
	ck_assert(json_is_true(json_object_get(r, "can_delete_safely")));
	ck_assert(json_is_null(json_object_get(r, "reason")));
	json_decref(r);

	snprintf(args, sizeof(args), "{\"sha256\": \"%064d\"}", 0);
	ck_assert_int_eq(op("inventory impacts", args, &r), 0);
	ck_assert_str_eq(str_of(r, "status"), "missing");
	ck_assert(json_is_null(json_object_get(r, "kind")));
	ck_assert_int_eq(int_of(r, "size_bytes"), 0);
	json_decref(r);
	ck_assert_int_eq(op("inventory impacts", NULL, &r), SYN_EUSAGE);
	json_decref(r);
}
END_TEST

START_TEST(backup_locations)
{
	char shared[65], local_only[65], bonly_ref[65], bonly_orphan[65];
	const char *shas[] = { shared, local_only, bonly_ref, NULL };
	json_t *r;
	const json_t *s;

	enable_backup(NULL);
	insert_text("on both sides", shared);
	backup_text("on both sides", shared);
	insert_text("only here", local_only);
	backup_text("needed, kept on the backup", bonly_ref);
	backup_text("an old file on the backup", bonly_orphan);
	write_pack("P", "lora", shas, false);

	r = list_ok(NULL);
	ck_assert_str_eq(str_of(item_of(r, shared), "location"), "both");
	ck_assert(json_is_true(json_object_get(item_of(r, shared), "on_backup")));
	ck_assert_str_eq(str_of(item_of(r, local_only), "location"), "local_only");
	ck_assert_str_eq(str_of(item_of(r, bonly_ref), "status"), "backup_only");
	ck_assert_str_eq(str_of(item_of(r, bonly_ref), "location"), "backup_only");
	ck_assert_int_eq(int_of(item_of(r, bonly_ref), "size_bytes"), (json_int_t)strlen("needed, kept on the backup"));
	ck_assert_str_eq(str_of(item_of(r, bonly_orphan), "status"), "orphan");
	ck_assert_str_eq(str_of(item_of(r, bonly_orphan), "location"), "backup_only");
	s = json_object_get(r, "summary");
	ck_assert_int_eq(int_of(s, "blobs_backup_only"), 1);
	ck_assert(json_is_true(json_object_get(json_object_get(s, "backup"), "reachable")));
	ck_assert_int_eq(int_of(json_object_get(s, "backup"), "blobs_on_backup"), 3);
	/* only the local copies count as stored here */
	ck_assert_int_eq(int_of(s, "bytes_total"), (json_int_t)(strlen("on both sides") + strlen("only here")));
	json_decref(r);

	/* an orphan only the backup holds is not the local cleanup's */
	ck_assert_int_eq(op("inventory cleanup", NULL, &r), 0);
	ck_assert_int_eq(int_of(r, "orphans_found"), 0);
	json_decref(r);
}
END_TEST

START_TEST(delete_with_a_backup_copy)
{
	char shared[65], rotten[65], args[256], path[PATH_MAX], *dir, *fs, *fr;
	const char *shas[] = { shared, rotten, NULL };
	json_t *r;

	enable_backup(NULL);
	insert_text("safe on the backup", shared);
	backup_text("safe on the backup", shared);
	insert_text("the backup copy rotted", rotten);
	dir = test_path("backup");
	ck_assert_int_eq(syn_sha256_mem(rotten, "the backup copy rotted", 22), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, rotten);
	test_write_file(path, "the backup copy rottex", 22);
	write_pack("P", "lora", shas, false);
	fs = blob_file(shared);
	fr = blob_file(rotten);

	/* the backup copy is re-hashed and good: the local one may go */
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", shared);
	ck_assert_msg(op("inventory delete", args, &r) == 0, "delete: %s", syn_error_last());
	ck_assert(has_string(json_object_get(r, "remaining_on"), "backup"));
	json_decref(r);
	ck_assert(!test_exists(fs));

	/* the copy that would remain is corrupt: refused */
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", rotten);
	ck_assert_int_eq(op("inventory delete", args, &r), SYN_EGUARD);
	ck_assert_msg(strstr(syn_error_last(), "not verified"), "message: %s", syn_error_last());
	json_decref(r);
	ck_assert(test_exists(fr));

	/* removing the backup's copy, the local one being good */
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\", \"target\": \"backup\"}", rotten);
	ck_assert_msg(op("inventory delete", args, &r) == 0, "delete: %s", syn_error_last());
	ck_assert(has_string(json_object_get(r, "deleted_from"), "backup"));
	ck_assert(has_string(json_object_get(r, "remaining_on"), "local"));
	json_decref(r);
	ck_assert(!test_exists(path));
	ck_assert(test_exists(fr));

	/* both copies of a needed blob: the last copy */
	backup_text("safe on the backup", shared);
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\", \"target\": \"both\"}", shared);
	ck_assert_int_eq(op("inventory delete", args, &r), SYN_EGUARD);
	json_decref(r);
	free(dir);
	free(fs);
	free(fr);
}
END_TEST

START_TEST(unreachable_backup_is_unknown_not_absent)
{
	char sha[65];
	const char *shas[] = { sha, NULL };
	json_t *r;
	const json_t *b, *it;

	enable_backup(json_pack("{s:b}", "refuse", 1));
	insert_text("here, and maybe there", sha);
	write_pack("P", "lora", shas, false);
	r = list_ok(NULL);
	b = json_object_get(json_object_get(r, "summary"), "backup");
	ck_assert(json_is_true(json_object_get(b, "enabled")));
	ck_assert(json_is_false(json_object_get(b, "reachable")));
	ck_assert_msg(json_string_value(json_object_get(b, "error")), "no error reported");
	ck_assert(json_is_null(json_object_get(b, "blobs_on_backup")));
	it = item_of(r, sha);
	ck_assert(json_is_null(json_object_get(it, "on_backup")));
	ck_assert_str_eq(str_of(it, "location"), "unknown");
	ck_assert_str_eq(str_of(it, "status"), "referenced");
	json_decref(r);
}
END_TEST

/* Enable the stock backup_path backend at <test>/backup and reopen the store. */
static void enable_backup_path(void)
{
	char *dir = test_path("backup"), *root = test_path("store");
	json_t *config = NULL, *backup;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(syn_store_config(test_store, &config), 0);
	backup = json_object_get(config, "backup");
	json_object_set_new(backup, "enabled", json_true());
	json_object_set_new(backup, "backend", json_string("backup_path"));
	json_object_set_new(backup, "path", json_string(dir));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "config.json", config), 0);
	json_decref(config);
	syn_store_free(test_store);
	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	free(dir);
	free(root);
}

START_TEST(with_the_backup_path_backend)
{
	char sha[65], args[256], *moved, *dir, *file;
	const char *shas[] = { sha, NULL };
	struct syn_backend *be = NULL;
	unsigned int caps = 0;
	json_t *r;
	int fd = -1;

	enable_backup_path();
	insert_text("copied to the backup drive", sha);
	write_pack("P", "lora", shas, false);
	ck_assert_msg(syn_store_backend_at(test_store, 1, &be, &caps) == 0, "backup: %s", syn_error_last());
	ck_assert(caps & SYN_BACKEND_CAP_PUT);
	ck_assert_int_eq(syn_blob_open(test_store, sha, &fd), 0);
	ck_assert_msg(be->put(be, sha, fd) == 0, "put: %s", syn_error_last());
	close(fd);

	r = list_ok(NULL);
	ck_assert_str_eq(str_of(item_of(r, sha), "location"), "both");
	ck_assert_int_eq(int_of(json_object_get(json_object_get(r, "summary"), "backup"), "blobs_on_backup"), 1);
	json_decref(r);
	/* the backup copy is re-hashed through the backend, then the local one goes */
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", sha);
	ck_assert_msg(op("inventory delete", args, &r) == 0, "delete: %s", syn_error_last());
	json_decref(r);
	file = blob_file(sha);
	ck_assert(!test_exists(file));
	r = list_ok(NULL);
	ck_assert_str_eq(str_of(item_of(r, sha), "status"), "backup_only");
	json_decref(r);

	/* the drive is unplugged: reported, and its blob is unknown rather than missing from it */
	dir = test_path("backup");
	moved = test_path("unplugged");
	ck_assert_int_eq(rename(dir, moved), 0);
	r = list_ok(NULL);
	ck_assert(json_is_false(json_object_get(json_object_get(json_object_get(r, "summary"), "backup"), "reachable")));
	ck_assert(json_is_null(json_object_get(item_of(r, sha), "on_backup")));
	json_decref(r);
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\", \"target\": \"backup\"}", sha);
	ck_assert_int_ne(op("inventory delete", args, &r), 0);
	json_decref(r);
	ck_assert_int_eq(rename(moved, dir), 0);
	free(dir);
	free(moved);
	free(file);
}
END_TEST

/* ---- the synapse binary ------------------------------------------------------ */

START_TEST(cli_text_and_exit_statuses)
{
	const char *files[] = { "a.safetensors", NULL };
	struct syn_buf text = SYN_BUF_INIT;
	char a[65], orphan[65], *fa;
	json_t *doc = NULL, *got = NULL;
	struct test_run run;
	FILE *f;

	make_pack("A", "lora", files, true);
	blob_of(a, "A", "a.safetensors");
	insert_text("spare bytes", orphan);

	run = RUN("inventory", "list");
	ck_assert_msg(run.status == 0, "list: %s", run.err);
	ck_assert_ptr_nonnull(strstr(run.out, "SIZE"));
	ck_assert_ptr_nonnull(strstr(run.out, "a.safetensors"));
	ck_assert_ptr_nonnull(strstr(run.out, "orphan"));
	ck_assert_ptr_nonnull(strstr(run.out, "deduplication saves"));
	ck_assert_ptr_nonnull(strstr(run.out, " free of "));
	ck_assert_ptr_nonnull(strstr(run.out, "[active: "));
	test_run_free(&run);

	/* --json writes the report as it is made: the same document the API builds, in canonical text */
	run = RUN("--json", "inventory", "list");
	ck_assert_msg(run.status == 0, "list --json: %s", run.err);
	ck_assert_int_eq(syn_inventory_list(test_store, NULL, NULL, &doc), 0);
	ck_assert_int_eq(syn_doc_parse(&got, run.out, strlen(run.out), "stdout"), 0);
	json_object_del(doc, "generated_at");
	json_object_del(json_object_get(doc, "summary"), "disk_free");
	ck_assert_int_eq(syn_doc_dump(&text, got), 0);
	ck_assert_str_eq(text.ptr, run.out);
	json_object_del(got, "generated_at");
	json_object_del(json_object_get(got, "summary"), "disk_free");
	ck_assert(json_equal(doc, got));
	ck_assert_uint_eq(json_array_size(json_object_get(got, "items")), 2);
	json_decref(doc);
	json_decref(got);
	syn_buf_dispose(&text);
	test_run_free(&run);

	run = RUN("inventory", "cleanup");
	ck_assert_int_eq(run.status, 0);
	ck_assert_ptr_nonnull(strstr(run.out, "--execute"));
	test_run_free(&run);

	run = RUN("inventory", "delete", a);
	ck_assert_int_eq(run.status, 1);
	ck_assert_ptr_nonnull(strstr(run.err, "active view"));
	test_run_free(&run);

	run = RUN("inventory", "verify", a, orphan);
	ck_assert_msg(run.status == 0, "verify: %s", run.err);
	ck_assert_ptr_nonnull(strstr(run.out, "2 valid"));
	test_run_free(&run);
	fa = blob_file(a);
	ck_assert_int_eq(chmod(fa, 0644), 0);
	f = fopen(fa, "r+");
	ck_assert_ptr_nonnull(f);
	fputc('X', f);
	fclose(f);
	run = RUN("--json", "inventory", "verify", "--all");
	ck_assert_int_eq(run.status, 1);
	ck_assert_ptr_nonnull(strstr(run.out, a));
	test_run_free(&run);

	run = RUN("inventory", "cleanup", "--execute");
	ck_assert_msg(run.status == 0, "cleanup: %s", run.err);
	ck_assert_ptr_nonnull(strstr(run.out, "Removed 1 of 1"));
	test_run_free(&run);

	run = RUN("inventory", "verify");
	ck_assert_int_eq(run.status, 2);
	test_run_free(&run);
	run = RUN("inventory", "--help");
	ck_assert_int_eq(run.status, 0);
	ck_assert_ptr_nonnull(strstr(run.out, "inventory cleanup"));
	test_run_free(&run);

	/* deleting a pack says how its blobs are reclaimed */
	run = RUN("delete", "A");
	ck_assert_msg(run.status == 0, "delete: %s", run.err);
	ck_assert_ptr_nonnull(strstr(run.out, "synapse inventory cleanup"));
	test_run_free(&run);
	free(fa);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("inventory");

	TEST(s, statuses_locations_and_active_uis, store_setup, store_teardown);
	TEST(s, manifests_and_partial_files_are_never_items, store_setup, store_teardown);
	TEST(s, dedup_of_two_packs_sharing_a_blob, store_setup, store_teardown);
	TEST(s, cleanup_dry_run_then_execute, store_setup, store_teardown);
	TEST(s, cleanup_keeps_what_an_active_view_links, store_setup, store_teardown);
	TEST(s, cleanup_refuses_while_a_pack_cannot_be_read, store_setup, store_teardown);
	TEST(s, delete_guard_rails, store_setup, store_teardown);
	TEST(s, verify_finds_a_corrupt_blob, store_setup, store_teardown);
	TEST(s, verify_many_in_parallel, store_setup, store_teardown);
	TEST(s, impacts_of_a_blob, store_setup, store_teardown);
	TEST(s, backup_locations, backup_setup, store_teardown);
	TEST(s, delete_with_a_backup_copy, backup_setup, store_teardown);
	TEST(s, unreachable_backup_is_unknown_not_absent, backup_setup, store_teardown);
	TEST(s, with_the_backup_path_backend, store_setup, store_teardown);
	TEST(s, cli_text_and_exit_statuses, store_setup, store_teardown);
	return test_main(s);
}
