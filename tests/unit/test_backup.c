/*
 * Tests of the backup commands through the operations table, with the
 * directory backend of tests/fixtures/plugins/dir_backend.c ("dirback",
 * blobs as <backup>/<sha256>) as the backup, and its faults
 * (SYN_TEST_DIRBACKEND_FAULT): the backup going away in the middle of a
 * sync, a full disk, a read-only one, a corrupt copy, kill -9 in the
 * middle of a copy; the config round trip and the guard rails.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "packs.h"

#define FAULT "SYN_TEST_DIRBACKEND_FAULT"

static void open_store(void)
{
	char *root = test_path("store");

	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	free(root);
}

/* A handle builds its blob chain from config.json once: commands after a config change get a new one. */
static void reopen_store(void)
{
	syn_store_free(test_store);
	open_store();
}

/* Run operation @name with @args (stolen, may be NULL); its code must be @expect. The report (may be NULL). */
static json_t *run_op(const char *name, json_t *args, int expect)
{
	const struct syn_op *op = syn_op_find(name);
	json_t *report = NULL;
	int rc;

	ck_assert_msg(op != NULL, "no operation '%s'", name);
	rc = syn_op_run(op, test_store, args, NULL, &report);
	ck_assert_msg(rc == expect, "%s: code %d (expected %d): %s", name, rc, expect, syn_error_last());
	json_decref(args);
	return report;
}

static void enable_dirback(void)
{
	char *dir = test_path("backup");

	json_decref(run_op("backup config", json_pack("{s:s, s:b, s:s}", "path", dir, "enable", 1, "backend",
						      "dirback"), 0));
	reopen_store();
	free(dir);
}

static void setup(void)
{
	json_t *report = NULL;

	unsetenv(FAULT);
	tmp_setup();
	test_reg = test_registry();
	ck_assert_int_eq(syn_registry_load_file(test_reg, SYN_TEST_BACKEND_DIR "/dir_backend.so"), 0);
	open_store();
	ck_assert_msg(syn_store_init(test_store, false, &report) == 0, "init: %s", syn_error_last());
	json_decref(report);
}

static void backup_setup(void)
{
	setup();
	enable_dirback();
}

static void teardown(void)
{
	unsetenv(FAULT);
	store_teardown();
}

/* Insert @content as a local blob; its digest in @sha. */
static void insert_text(const char *content, char sha[65])
{
	char *src = test_path("src.bin");

	test_write_file(src, content, strlen(content));
	ck_assert_msg(syn_blob_insert_file(test_store, src, NULL, sha) == 0, "insert: %s", syn_error_last());
	free(src);
}

/* The path of blob @sha in the backup directory (malloc'ed). */
static char *backup_file(const char *sha)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/backup/%s", test_dir, sha), 0);
	return p;
}

static char *local_file(const char *sha)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/store/data/blobs/sha256/%.2s/%s", test_dir, sha, sha), 0);
	return p;
}

/* Whether @path holds bytes hashing to @sha. */
static bool holds(const char *path, const char *sha)
{
	char got[65];

	return syn_sha256_file(got, NULL, path) == 0 && !strcmp(got, sha);
}

/* holds() of @path (malloc'ed, freed here). */
static bool holds_free(char *path, const char *sha)
{
	bool ok = holds(path, sha);

	free(path);
	return ok;
}

/* Entries of the backup directory (not recursing). */
static int backup_entries(void)
{
	char *dir = test_path("backup");
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	free(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static long long int_at(const json_t *r, const char *key)
{
	return (long long)json_integer_value(json_object_get(r, key));
}

/* Take pack @name out of the global profile so that no active view links its blobs. */
static void unlist(const char *name)
{
	json_t *global = NULL, *packs, *p;
	size_t i;

	ck_assert_int_eq(syn_profile_show(test_store, "global", &global), 0);
	packs = json_object_get(global, "packs");
	json_array_foreach(packs, i, p)
		if (!strcmp(syn_doc_str(p, "name", ""), name)) {
			json_array_remove(packs, i);
			break;
		}
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "profiles/global/profile.json", global), 0);
	json_decref(global);
	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_msg(refresh_views() == 0, "%s", syn_error_last());
	syn_store_unlock(test_store);
}

START_TEST(config_round_trip)
{
	char *dir = test_path("backup"), *rel = NULL;
	json_t *r, *config = NULL;

	r = run_op("backup status", NULL, 0);
	ck_assert(!json_is_true(json_object_get(r, "enabled")));
	ck_assert_str_eq(syn_doc_str(r, "backend", ""), "backup_path");
	json_decref(r);

	/* refused: a relative path, enabling with no path, both switches */
	json_decref(run_op("backup config", json_pack("{s:s}", "path", "relative/dir"), SYN_EINVALID));
	json_decref(run_op("backup config", json_pack("{s:b}", "enable", 1), SYN_EINVALID));
	json_decref(run_op("backup config", json_pack("{s:b, s:b}", "enable", 1, "disable", 1), SYN_EUSAGE));

	r = run_op("backup config", json_pack("{s:s, s:b, s:s}", "path", dir, "enable", 1, "backend", "dirback"), 0);
	ck_assert(json_is_true(json_object_get(r, "enabled")));
	ck_assert(json_is_true(json_object_get(r, "reachable")));
	ck_assert_str_eq(syn_doc_str(r, "path", ""), dir);
	ck_assert_str_eq(syn_doc_str(r, "backend", ""), "dirback");
	json_decref(r);

	/* it is in config.json, the section's other keys kept, and a new handle sees it */
	ck_assert_int_eq(syn_store_config(test_store, &config), 0);
	ck_assert_str_eq(syn_doc_str(json_object_get(config, "backup"), "path", ""), dir);
	ck_assert(json_object_get(json_object_get(config, "backup"), "auto_backup_new") != NULL);
	json_decref(config);
	reopen_store();
	r = run_op("backup status", NULL, 0);
	ck_assert(json_is_true(json_object_get(r, "reachable")));
	json_decref(r);

	r = run_op("backup config", json_pack("{s:b}", "disable", 1), 0);
	ck_assert(!json_is_true(json_object_get(r, "enabled")));
	ck_assert_str_eq(syn_doc_str(r, "path", ""), dir); /* the path stays for the next --enable */
	json_decref(r);
	reopen_store();
	json_decref(run_op("backup sync", json_pack("{s:s}", "direction", "to_backup"), SYN_EINVALID));
	ck_assert_msg(strstr(syn_error_last(), "not enabled") != NULL, "%s", syn_error_last());
	free(dir);
	free(rel);
}
END_TEST

START_TEST(status_counts_only_real_blobs)
{
	char a[65], b[65], *path, *extra;
	json_t *r;

	insert_text("local only", a);
	insert_text("in both places", b);
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", b), 0));
	/* a manifest and a temporary file beside the blob are no blobs */
	path = backup_file(b);
	ck_assert_int_ge(asprintf(&extra, "%s.meta", path), 0);
	test_write_file(extra, "{}", 2);
	free(extra);
	extra = test_path("backup/.put.tmp");
	test_write_file(extra, "partial", 7);
	free(extra);
	r = run_op("backup status", NULL, 0);
	ck_assert_int_eq(int_at(r, "blobs"), 1);
	ck_assert_int_eq(int_at(r, "bytes"), (long long)strlen("in both places"));
	ck_assert_int_eq(int_at(r, "blobs_both"), 1);
	ck_assert_int_eq(int_at(r, "blobs_local_only"), 1);
	ck_assert_int_eq(int_at(r, "blobs_backup_only"), 0);
	ck_assert(json_is_null(json_object_get(r, "error")));
	json_decref(r);
	free(path);
}
END_TEST

START_TEST(blob_then_restore_byte_identical)
{
	static const char content[] = "a model file, backed up and restored";
	char sha[65], *lp, *bp, *data;
	json_t *r;
	size_t len;

	insert_text(content, sha);
	r = run_op("backup blob", json_pack("{s:s}", "sha256", sha), 0);
	ck_assert(json_is_true(json_object_get(r, "copied")));
	ck_assert(json_is_true(json_object_get(r, "verified")));
	ck_assert_int_eq(int_at(r, "bytes"), (long long)strlen(content));
	json_decref(r);
	bp = backup_file(sha);
	ck_assert(holds(bp, sha));
	r = run_op("backup blob", json_pack("{s:s}", "sha256", sha), 0);
	ck_assert(!json_is_true(json_object_get(r, "copied")));
	json_decref(r);

	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), SYN_ENOTFOUND));
	r = run_op("backup restore", json_pack("{s:s}", "sha256", sha), 0);
	ck_assert(json_is_true(json_object_get(r, "restored")));
	json_decref(r);
	lp = local_file(sha);
	data = test_read_file(lp, &len);
	ck_assert_uint_eq(len, strlen(content));
	ck_assert(!memcmp(data, content, len));
	r = run_op("backup restore", json_pack("{s:s}", "sha256", sha), 0);
	ck_assert(!json_is_true(json_object_get(r, "restored")));
	json_decref(r);
	json_decref(run_op("backup restore", json_pack("{s:s}", "sha256", "nothex"), SYN_EINVALID));
	free(data);
	free(lp);
	free(bp);
}
END_TEST

START_TEST(corrupt_backup_copy_restores_nothing)
{
	char sha[65], *bp, *blobs;
	json_t *r;
	FILE *f;

	insert_text("bytes that will rot on the backup", sha);
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), 0));
	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	bp = backup_file(sha);
	chmod(bp, 0644);
	f = fopen(bp, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, 3, SEEK_SET);
	fputc('X', f);
	fclose(f);

	json_decref(run_op("backup restore", json_pack("{s:s}", "sha256", sha), SYN_EMISMATCH));
	ck_assert_msg(strstr(syn_error_last(), "corrupt") != NULL, "%s", syn_error_last());
	ck_assert(!syn_blob_exists(test_store, sha));
	blobs = test_path("store/data");
	ck_assert_int_eq(test_count_named(blobs, sha), 0); /* no blob, no .part left */
	free(blobs);

	/* a pull fails the same way, keeping its report */
	r = run_op("backup sync", json_pack("{s:s, s:b}", "direction", "from_backup", "execute", 1), SYN_EMISMATCH);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "errors")), 1);
	json_decref(r);
	ck_assert(!syn_blob_exists(test_store, sha));
	/* re-backing up does not hide it: the copy there is re-hashed */
	free(bp);
}
END_TEST

START_TEST(delete_needs_force_and_passes_the_guard)
{
	const char *files[] = { "style.safetensors", NULL };
	char sha[65], orphan[65];
	json_t *r;

	make_pack("A", "lora", files, true);
	blob_of(sha, "A", "style.safetensors");
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), 0));

	json_decref(run_op("backup delete", json_pack("{s:s}", "sha256", sha), SYN_EUSAGE));
	ck_assert_msg(strstr(syn_error_last(), "--force") != NULL, "%s", syn_error_last());

	/* the backup holds the last copy of a blob pack A needs */
	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	json_decref(run_op("backup delete", json_pack("{s:s, s:b}", "sha256", sha, "force", 1), SYN_EGUARD));
	ck_assert_msg(strstr(syn_error_last(), "last copy") != NULL, "%s", syn_error_last());
	ck_assert_msg(strstr(syn_error_last(), "or give --force") == NULL, "%s", syn_error_last());

	/* with a verified local copy it may go */
	json_decref(run_op("backup restore", json_pack("{s:s}", "sha256", sha), 0));
	r = run_op("backup delete", json_pack("{s:s, s:b}", "sha256", sha, "force", 1), 0);
	ck_assert(json_is_true(json_object_get(r, "deleted")));
	ck_assert(json_is_true(json_object_get(r, "still_on_local")));
	ck_assert_int_eq(int_at(r, "bytes_freed"), (long long)strlen("A:style.safetensors"));
	json_decref(r);
	json_decref(run_op("backup delete", json_pack("{s:s, s:b}", "sha256", sha, "force", 1), SYN_ENOTFOUND));

	/* an orphan's only copy needs nothing but the confirmation */
	insert_text("nobody needs this", orphan);
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", orphan), 0));
	ck_assert_int_eq(syn_blob_remove(test_store, orphan), 0);
	r = run_op("backup delete", json_pack("{s:s, s:b}", "sha256", orphan, "force", 1), 0);
	ck_assert(!json_is_true(json_object_get(r, "still_on_local")));
	json_decref(r);
	ck_assert_int_eq(backup_entries(), 0);
}
END_TEST

START_TEST(push_cleanup_then_pull_restores_identical_bytes)
{
	const char *files[] = { "a.safetensors", "b.safetensors", NULL };
	char sa[65], sb[65], *lp, *data;
	json_t *r;
	size_t len;

	make_pack("P", "lora", files, true);
	unlist("P");
	blob_of(sa, "P", "a.safetensors");
	blob_of(sb, "P", "b.safetensors");

	r = run_op("backup push", json_pack("{s:s}", "pack", "P"), 0);
	ck_assert(json_is_true(json_object_get(r, "dry_run")));
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 2);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 0);
	ck_assert_str_eq(syn_doc_str(json_array_get(json_object_get(r, "items"), 0), "display_name", ""),
			 "a.safetensors");
	json_decref(r);
	ck_assert_int_eq(backup_entries(), 0);
	json_decref(run_op("backup push", json_pack("{s:s, s:b}", "pack", "P", "cleanup", 1), SYN_EUSAGE));

	r = run_op("backup push", json_pack("{s:s, s:b, s:b}", "pack", "P", "execute", 1, "cleanup", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "cleaned")), 2);
	json_decref(r);
	ck_assert(!syn_blob_exists(test_store, sa) && !syn_blob_exists(test_store, sb));
	ck_assert(holds_free(backup_file(sa), sa) && holds_free(backup_file(sb), sb));

	r = run_op("backup pull", json_pack("{s:s}", "pack", "P"), 0);
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 2);
	ck_assert_str_eq(syn_doc_str(r, "direction", ""), "from_backup");
	json_decref(r);
	ck_assert(!syn_blob_exists(test_store, sa));
	r = run_op("backup pull", json_pack("{s:s, s:b}", "pack", "P", "execute", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 2);
	ck_assert_int_eq(int_at(r, "bytes_synced"), 2 * (long long)strlen("P:a.safetensors"));
	json_decref(r);
	lp = local_file(sa);
	data = test_read_file(lp, &len);
	ck_assert_uint_eq(len, strlen("P:a.safetensors"));
	ck_assert(!memcmp(data, "P:a.safetensors", len));
	free(data);
	free(lp);

	/* a local blob deleted later comes back the same; the rest is skipped */
	ck_assert_int_eq(syn_blob_remove(test_store, sb), 0);
	r = run_op("backup pull", json_pack("{s:s, s:b}", "pack", "P", "execute", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 1);
	json_decref(r);
	lp = local_file(sb);
	ck_assert(holds(lp, sb));
	free(lp);
	r = run_op("backup pull", json_pack("{s:s, s:b}", "pack", "P", "execute", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 0);
	json_decref(r);
	json_decref(run_op("backup pull", json_pack("{s:s}", "pack", "Nope"), SYN_ENOTFOUND));
}
END_TEST

START_TEST(push_cleanup_keeps_blobs_of_an_active_view)
{
	const char *files[] = { "style.safetensors", NULL };
	char sha[65];
	json_t *r;

	make_pack("A", "lora", files, true); /* in the global profile: every UI's active view links it */
	blob_of(sha, "A", "style.safetensors");
	r = run_op("backup push", json_pack("{s:s, s:b, s:b}", "pack", "A", "execute", 1, "cleanup", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "cleaned")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "kept")), 1);
	ck_assert_msg(strstr(syn_doc_str(json_array_get(json_object_get(r, "kept"), 0), "reason", ""), "active view"),
		      "%s", syn_doc_str(json_array_get(json_object_get(r, "kept"), 0), "reason", ""));
	json_decref(r);
	ck_assert(syn_blob_exists(test_store, sha));
	ck_assert_int_eq(count_dangling(), 0);
}
END_TEST

START_TEST(backup_vanishing_mid_sync_then_rerun_finishes)
{
	char s1[65], s2[65], s3[65];
	long long synced;
	json_t *r;

	insert_text("first", s1);
	insert_text("second", s2);
	insert_text("third", s3);
	setenv(FAULT, "vanish_after:1", 1);
	reopen_store();
	r = run_op("backup sync", json_pack("{s:s, s:b}", "direction", "to_backup", "execute", 1), SYN_ENETWORK);
	ck_assert_msg(strstr(syn_error_last(), "cannot be reached") != NULL, "%s", syn_error_last());
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 3);
	/* copies run side by side: those that finished before the drive went are done, never all */
	synced = int_at(r, "blobs_synced");
	ck_assert_int_ge(synced, 1);
	ck_assert_int_lt(synced, 3);
	ck_assert_uint_ge(json_array_size(json_object_get(r, "errors")), 1);
	json_decref(r);
	ck_assert_int_eq(backup_entries(), synced); /* what was done stays done, nothing half-written */

	unsetenv(FAULT);
	reopen_store();
	r = run_op("backup sync", json_pack("{s:s, s:b}", "direction", "to_backup", "execute", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 3 - synced);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 3 - synced);
	json_decref(r);
	ck_assert(holds_free(backup_file(s1), s1) && holds_free(backup_file(s2), s2) && holds_free(backup_file(s3), s3));
	r = run_op("backup sync", json_pack("{s:s, s:b, s:b}", "direction", "to_backup", "execute", 1, "all", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 0);
	json_decref(r);

	/* the drive goes at the next copy; from then on status says so, and is no failure */
	insert_text("fourth", s3);
	setenv(FAULT, "vanish_after:0", 1);
	reopen_store();
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", s3), SYN_ENETWORK));
	r = run_op("backup status", NULL, 0);
	ck_assert(!json_is_true(json_object_get(r, "reachable")));
	ck_assert_msg(strstr(syn_doc_str(r, "error", ""), "cannot be reached") != NULL, "%s", syn_doc_str(r, "error", ""));
	json_decref(r);
	json_decref(run_op("backup restore", json_pack("{s:s}", "sha256", s1), 0)); /* already local: nothing to ask */
	json_decref(run_op("backup pull", json_pack("{s:s}", "pack", "None"), SYN_ENOTFOUND));
}
END_TEST

START_TEST(full_backup_disk_leaves_nothing)
{
	char s1[65], s2[65];
	json_t *r;

	insert_text("one", s1);
	insert_text("two", s2);
	setenv(FAULT, "enospc", 1);
	reopen_store();
	r = run_op("backup sync", json_pack("{s:s, s:b}", "direction", "to_backup", "execute", 1), SYN_ENOSPC);
	ck_assert_msg(strstr(syn_error_last(), "No space") != NULL, "%s", syn_error_last());
	ck_assert_int_eq(int_at(r, "blobs_synced"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "errors")), 2); /* each tried: a smaller one may fit */
	json_decref(r);
	ck_assert_int_eq(backup_entries(), 0);
	unsetenv(FAULT);
	reopen_store();
	r = run_op("backup sync", json_pack("{s:s, s:b}", "direction", "to_backup", "execute", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 2);
	json_decref(r);
}
END_TEST

START_TEST(read_only_backup_is_a_clear_error)
{
	char sha[65], *dir, *file;
	json_t *r;

	insert_text("cannot land", sha);
	setenv(FAULT, "erofs", 1);
	reopen_store();
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), SYN_EIO));
	ck_assert_msg(strstr(syn_error_last(), "Read-only") != NULL, "%s", syn_error_last());
	ck_assert_int_eq(backup_entries(), 0);
	unsetenv(FAULT);

	/* a file where the backup directory should be */
	file = test_path("notadir");
	test_write_file(file, "x", 1);
	r = run_op("backup config", json_pack("{s:s}", "path", file), 0);
	ck_assert(!json_is_true(json_object_get(r, "reachable")));
	ck_assert_msg(strstr(syn_doc_str(r, "error", ""), "notadir") != NULL, "%s", syn_doc_str(r, "error", ""));
	json_decref(r);
	reopen_store();
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), SYN_EIO));
	ck_assert_msg(strstr(syn_error_last(), "notadir") != NULL, "%s", syn_error_last());
	dir = test_path("backup");
	free(dir);
	free(file);
}
END_TEST

START_TEST(sync_from_backup_restores_everything)
{
	char s1[65], s2[65], *lp;
	json_t *r;

	insert_text("alpha", s1);
	insert_text("beta", s2);
	json_decref(run_op("backup sync", json_pack("{s:s, s:b}", "direction", "to_backup", "execute", 1), 0));
	ck_assert_int_eq(syn_blob_remove(test_store, s1), 0);
	ck_assert_int_eq(syn_blob_remove(test_store, s2), 0);
	r = run_op("backup sync", json_pack("{s:s}", "direction", "from_backup"), 0);
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 2);
	ck_assert(json_is_null(json_object_get(r, "pack")));
	json_decref(r);
	r = run_op("backup sync", json_pack("{s:s, s:b, s:b}", "direction", "from_backup", "execute", 1, "all", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 2);
	json_decref(r);
	lp = local_file(s1);
	ck_assert(holds(lp, s1));
	free(lp);
	json_decref(run_op("backup sync", json_pack("{s:s}", "direction", "sideways"), SYN_EUSAGE));
}
END_TEST

/* ---- the real backup_path backend --------------------------------------------- */

static void backup_path_setup(void)
{
	char *dir;

	setup();
	dir = test_path("drive");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	/* no backend named: backup_path, the default */
	json_decref(run_op("backup config", json_pack("{s:s, s:b}", "path", dir, "enable", 1), 0));
	reopen_store();
	free(dir);
}

/* Where backup_path keeps blob @sha (malloc'ed). */
static char *drive_file(const char *sha)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/drive/.synapse/store/data/blobs/sha256/%.2s/%s", test_dir, sha, sha), 0);
	return p;
}

START_TEST(backup_path_layout_status_and_round_trip)
{
	char a[65], b[65], *pa, *extra;
	json_t *r;

	insert_text("on the drive", a);
	insert_text("only here", b);
	r = run_op("backup blob", json_pack("{s:s}", "sha256", a), 0);
	ck_assert(json_is_true(json_object_get(r, "verified")));
	json_decref(r);
	pa = drive_file(a);
	ck_assert(holds(pa, a));
	/* a manifest and a temporary copy beside it are no blobs */
	ck_assert_int_ge(asprintf(&extra, "%s.meta", pa), 0);
	if (!test_exists(extra))
		test_write_file(extra, "{}\n", 3);
	free(extra);
	ck_assert_int_ge(asprintf(&extra, "%s.part-0123456789abcdef", pa), 0);
	test_write_file(extra, "half", 4);
	free(extra);
	r = run_op("backup status", NULL, 0);
	ck_assert_str_eq(syn_doc_str(r, "backend", ""), "backup_path");
	ck_assert(json_is_true(json_object_get(r, "reachable")));
	ck_assert_int_eq(int_at(r, "blobs"), 1);
	ck_assert_int_eq(int_at(r, "bytes"), (long long)strlen("on the drive"));
	ck_assert_int_eq(int_at(r, "blobs_both"), 1);
	ck_assert_int_eq(int_at(r, "blobs_local_only"), 1);
	ck_assert(json_is_integer(json_object_get(r, "free_space")));
	ck_assert(json_is_integer(json_object_get(r, "total_space")));
	json_decref(r);

	ck_assert_int_eq(syn_blob_remove(test_store, a), 0);
	json_decref(run_op("backup restore", json_pack("{s:s}", "sha256", a), 0));
	ck_assert(holds_free(local_file(a), a));
	free(pa);
}
END_TEST

/* The progress hook of a sync: the drive is pulled out after the first blob. */
static void pull_the_drive(const char *item, const char *file, uint64_t done, uint64_t total, void *payload)
{
	int *calls = payload;
	char *dir, *away;

	(void)item;
	(void)file;
	(void)done;
	(void)total;
	if ((*calls)++)
		return;
	dir = test_path("drive");
	away = test_path("drive.away");
	ck_assert_int_eq(rename(dir, away), 0);
	free(dir);
	free(away);
}

START_TEST(backup_path_drive_pulled_mid_sync)
{
	struct syn_backup_options o = { .execute = true, .progress = pull_the_drive };
	char s1[65], s2[65], s3[65], *dir, *away;
	json_t *r = NULL;
	long long synced;
	int calls = 0;

	insert_text("uno", s1);
	insert_text("dos", s2);
	insert_text("tres", s3);
	o.payload = &calls;
	ck_assert_int_eq(syn_backup_sync(test_store, SYN_BACKUP_TO_BACKUP, &o, &r), SYN_ENETWORK);
	ck_assert_msg(strstr(syn_error_last(), "not reachable") != NULL, "%s", syn_error_last());
	ck_assert_ptr_nonnull(r);
	/* copies run side by side: those that finished before the drive went are done, never all */
	synced = int_at(r, "blobs_synced");
	ck_assert_int_ge(synced, 1);
	ck_assert_int_lt(synced, 3);
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 3);
	json_decref(r);
	r = run_op("backup status", NULL, 0);
	ck_assert(!json_is_true(json_object_get(r, "reachable")));
	json_decref(r);

	/* plugged in again: the rerun copies what is left */
	dir = test_path("drive");
	away = test_path("drive.away");
	ck_assert_int_eq(rename(away, dir), 0);
	r = run_op("backup sync", json_pack("{s:s, s:b}", "direction", "to_backup", "execute", 1), 0);
	ck_assert_int_eq(int_at(r, "blobs_to_sync"), 3 - synced);
	ck_assert_int_eq(int_at(r, "blobs_synced"), 3 - synced);
	json_decref(r);
	ck_assert(holds_free(drive_file(s1), s1) && holds_free(drive_file(s2), s2) && holds_free(drive_file(s3), s3));
	free(dir);
	free(away);
}
END_TEST

START_TEST(backup_path_corrupt_copy_and_missing_drive)
{
	char sha[65], *p, *file;
	json_t *r;
	FILE *f;

	insert_text("to be flipped", sha);
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), 0));
	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	p = drive_file(sha);
	chmod(p, 0644);
	f = fopen(p, "r+b");
	ck_assert_ptr_nonnull(f);
	fputc('#', f);
	fclose(f);
	json_decref(run_op("backup restore", json_pack("{s:s}", "sha256", sha), SYN_EMISMATCH));
	ck_assert(!syn_blob_exists(test_store, sha));
	/* backing it up again does not take the corrupt copy for a good one */
	insert_text("to be flipped", sha);
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), SYN_EMISMATCH));

	/* a file where the drive should be */
	file = test_path("drive-file");
	test_write_file(file, "x", 1);
	r = run_op("backup config", json_pack("{s:s}", "path", file), 0);
	ck_assert(!json_is_true(json_object_get(r, "reachable")));
	json_decref(r);
	reopen_store();
	json_decref(run_op("backup blob", json_pack("{s:s}", "sha256", sha), SYN_ENETWORK));
	free(file);
	free(p);
}
END_TEST

/* ---- out of memory ------------------------------------------------------------- */

static long countdown = -1; /* allocations left before one fails; -1: none fails */
static long counted;

static void *failing_malloc(size_t size)
{
	counted++;
	if (countdown == 0)
		return NULL;
	if (countdown > 0)
		countdown--;
	return malloc(size);
}

/* @name with each of its JSON allocations failing in turn: the outcome of a clean run, or SYN_ENOMEM with words. */
static void every_allocation(const char *name, const char *args_text)
{
	const struct syn_op *op = syn_op_find(name);
	json_t *args = json_loads(args_text, 0, NULL), *report = NULL;
	long n, total;
	int expected, rc;

	ck_assert_ptr_nonnull(args);
	counted = 0;
	expected = syn_op_run(op, test_store, args, NULL, &report);
	json_decref(report);
	total = counted;
	for (n = 0; n < total; n++) {
		report = NULL;
		countdown = n;
		rc = syn_op_run(op, test_store, args, NULL, &report);
		countdown = -1;
		ck_assert_msg(rc == expected || rc == SYN_ENOMEM, "%s, allocation %ld failing: %d '%s'", name, n, rc,
			      syn_error_last());
		if (rc == SYN_ENOMEM)
			ck_assert_msg(syn_error_last()[0], "%s: SYN_ENOMEM without words", name);
		json_decref(report);
	}
	json_decref(args);
}

START_TEST(backup_survives_failed_allocations)
{
	const char *files[] = { "a.safetensors", "b.safetensors", NULL };

	make_pack("P", "lora", files, true);
	unlist("P");
	json_set_alloc_funcs(failing_malloc, free);
	every_allocation("backup status", "{}");
	every_allocation("backup push", "{\"pack\": \"P\"}");
	every_allocation("backup sync", "{\"direction\": \"to_backup\"}");
	every_allocation("backup push", "{\"pack\": \"P\", \"execute\": true}"); /* the first run copies */
	every_allocation("backup status", "{}");
	every_allocation("backup sync", "{\"direction\": \"from_backup\", \"all\": true}");
	every_allocation("backup pull", "{\"pack\": \"P\"}");
	json_set_alloc_funcs(malloc, free);
}
END_TEST

/* ---- the synapse binary ---------------------------------------------------- */

/* Run synapse @args in the background with the backup plugins and @fault; its pid. */
static pid_t spawn_cli(const char *const *args, const char *fault)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *root = test_path("store"), *argv[16];
		int i, null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		setenv("SYNAPSE_ROOT", root, 1);
		setenv("SYNAPSE_PLUGIN_PATH", SYN_TEST_BACKUP_PLUGIN_DIR, 1);
		if (fault)
			setenv(FAULT, fault, 1);
		argv[0] = (char *)SYN_TEST_BIN;
		for (i = 0; args[i] && i < 14; i++)
			argv[i + 1] = (char *)args[i];
		argv[i + 1] = NULL;
		execv(SYN_TEST_BIN, argv);
		_exit(127);
	}
	return pid;
}

static int wait_cli(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static struct test_run cli(const char *const *args)
{
	static const char *const env[] = { "SYNAPSE_PLUGIN_PATH=" SYN_TEST_BACKUP_PLUGIN_DIR, NULL };

	return test_cli(args, env);
}

/* A blob of @size pseudo-random bytes; its digest in @sha. */
static void insert_large(size_t size, char sha[65])
{
	char *src = test_path("large.bin"), *buf = malloc(size);
	size_t i;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < size; i++)
		buf[i] = (char)((i * 2654435761u) >> 13);
	test_write_file(src, buf, size);
	ck_assert_int_eq(syn_blob_insert_file(test_store, src, NULL, sha), 0);
	free(buf);
	free(src);
}

START_TEST(kill_during_copy_leaves_no_wrong_bytes)
{
	const char *args[] = { "backup", "blob", NULL, NULL };
	char sha[65], *bp, *tmp, *lp;
	struct timespec pause = { 0, 10000000 };
	struct test_run r;
	pid_t pid;
	int i;

	insert_large((size_t)8 << 20, sha); /* 128 slow chunks: a few seconds */
	args[2] = sha;
	bp = backup_file(sha);
	ck_assert_int_ge(asprintf(&tmp, "%s/backup/.put.%s", test_dir, sha), 0);
	pid = spawn_cli(args, "slow");
	for (i = 0; i < 1000 && !test_exists(tmp); i++)
		nanosleep(&pause, NULL);
	ck_assert_msg(test_exists(tmp), "the copy never started");
	nanosleep(&pause, NULL);
	kill(pid, SIGKILL);
	ck_assert_int_eq(wait_cli(pid), 128 + SIGKILL);
	ck_assert_msg(!test_exists(bp), "a partial copy sits under the blob's name");
	lp = local_file(sha);
	ck_assert(holds(lp, sha));

	r = cli(args);
	ck_assert_msg(r.status == 0, "rerun: %s", r.err);
	test_run_free(&r);
	ck_assert(holds(bp, sha));

	/* the other way: kill a restore, the local name never holds wrong bytes */
	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	args[1] = "restore";
	pid = spawn_cli(args, NULL);
	kill(pid, SIGKILL);
	wait_cli(pid);
	ck_assert(!test_exists(lp) || holds(lp, sha));
	r = cli(args);
	ck_assert_msg(r.status == 0, "restore: %s", r.err);
	test_run_free(&r);
	ck_assert(holds(lp, sha));
	free(lp);
	free(tmp);
	free(bp);
}
END_TEST

/* Whether the prefix directory of @sha on the drive holds a temporary copy of it. */
static bool drive_part_exists(const char *sha)
{
	char *dir;
	DIR *d;
	struct dirent *de;
	bool found = false;

	ck_assert_int_ge(asprintf(&dir, "%s/drive/.synapse/store/data/blobs/sha256/%.2s", test_dir, sha), 0);
	d = opendir(dir);
	free(dir);
	while (d && !found && (de = readdir(d)))
		found = !strncmp(de->d_name, sha, 64) && strstr(de->d_name, ".part") != NULL;
	if (d)
		closedir(d);
	return found;
}

START_TEST(backup_path_kill_during_copy)
{
	const char *args[] = { "backup", "blob", NULL, NULL };
	struct timespec pause = { 0, 500000 };
	char sha[65], *p;
	struct test_run r;
	pid_t pid;
	int i;

	insert_large((size_t)64 << 20, sha);
	args[2] = sha;
	p = drive_file(sha);
	pid = spawn_cli(args, NULL);
	for (i = 0; i < 20000 && !drive_part_exists(sha) && !test_exists(p); i++)
		nanosleep(&pause, NULL);
	kill(pid, SIGKILL);
	wait_cli(pid);
	/* killed wherever it was: the blob's name holds the whole blob or nothing */
	ck_assert(!test_exists(p) || holds(p, sha));
	r = cli(args);
	ck_assert_msg(r.status == 0, "rerun: %s", r.err);
	test_run_free(&r);
	ck_assert(holds(p, sha));
	free(p);
}
END_TEST

START_TEST(cli_renders_and_refuses)
{
	const char *status[] = { "backup", "status", "--json", NULL };
	const char *sync[] = { "backup", "sync", "--direction", "to_backup", NULL };
	const char *nodir[] = { "backup", "sync", "--direction", "up", NULL };
	const char *del[] = { "backup", "delete", "0000000000000000000000000000000000000000000000000000000000000000",
			      NULL };
	const char *help[] = { "backup", "push", "--help", NULL };
	struct test_run r;
	char sha[65];
	json_t *doc;

	insert_text("shown", sha);
	r = cli(status);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = json_loads(r.out, 0, NULL);
	ck_assert(json_is_true(json_object_get(doc, "reachable")));
	ck_assert_int_eq(int_at(doc, "blobs_local_only"), 1);
	json_decref(doc);
	test_run_free(&r);
	r = cli(sync);
	ck_assert_msg(r.status == 0 && strstr(r.out, "Dry run: 1 blob(s)"), "%s%s", r.out, r.err);
	test_run_free(&r);
	r = cli(nodir);
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
	r = cli(del);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "--force") != NULL, "%s", r.err);
	test_run_free(&r);
	r = cli(help);
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "--cleanup") != NULL);
	test_run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backup");

	TEST(s, config_round_trip, setup, teardown);
	TEST(s, status_counts_only_real_blobs, backup_setup, teardown);
	TEST(s, blob_then_restore_byte_identical, backup_setup, teardown);
	TEST(s, corrupt_backup_copy_restores_nothing, backup_setup, teardown);
	TEST(s, delete_needs_force_and_passes_the_guard, backup_setup, teardown);
	TEST(s, push_cleanup_then_pull_restores_identical_bytes, backup_setup, teardown);
	TEST(s, push_cleanup_keeps_blobs_of_an_active_view, backup_setup, teardown);
	TEST(s, backup_vanishing_mid_sync_then_rerun_finishes, backup_setup, teardown);
	TEST(s, full_backup_disk_leaves_nothing, backup_setup, teardown);
	TEST(s, read_only_backup_is_a_clear_error, backup_setup, teardown);
	TEST(s, sync_from_backup_restores_everything, backup_setup, teardown);
	TEST(s, backup_path_layout_status_and_round_trip, backup_path_setup, teardown);
	TEST(s, backup_path_drive_pulled_mid_sync, backup_path_setup, teardown);
	TEST(s, backup_path_corrupt_copy_and_missing_drive, backup_path_setup, teardown);
	TEST(s, backup_survives_failed_allocations, backup_setup, teardown);
	TEST(s, kill_during_copy_leaves_no_wrong_bytes, backup_setup, teardown);
	TEST(s, backup_path_kill_during_copy, backup_path_setup, teardown);
	TEST(s, cli_renders_and_refuses, backup_setup, teardown);
	return test_main(s);
}
