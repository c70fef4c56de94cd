/*
 * Tests of the blob backend chain: a backup configured in config.json
 * serves what the primary lacks, capabilities decide how bytes are handed
 * over, old and broken backends are handled, manifests and quarantine go
 * through the backend.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "packs.h"

/* An initialized store at <test>/store over test_reg. */
static void init_store(void)
{
	json_t *report = NULL;
	char *root = test_path("store");

	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	ck_assert_msg(syn_store_init(test_store, false, &report) == 0, "init: %s", syn_error_last());
	json_decref(report);
	free(root);
}

/* A fresh store whose registry also holds the directory backends. */
static void backends_setup(void)
{
	tmp_setup();
	test_reg = test_registry();
	ck_assert_int_eq(syn_registry_load_file(test_reg, SYN_TEST_BACKEND_DIR "/dir_backend.so"), 0);
	init_store();
}

/* A fresh store whose primary `local` cannot stage (the in-tree one is then a duplicate). */
static void stageless_setup(void)
{
	tmp_setup();
	ck_assert_int_eq(syn_registry_new(&test_reg), 0);
	ck_assert_int_eq(syn_registry_load_file(test_reg, SYN_TEST_BACKEND_DIR "/stageless_local.so"), 0);
	ck_assert_int_eq(syn_registry_load_dir(test_reg, SYN_TEST_PLUGIN_DIR), 0);
	init_store();
}

/*
 * Enable a backup with backend @name rooted at <test>/backup (its settings
 * @options, stolen, may be NULL), then reopen the store: a handle builds its
 * chain from config once.
 */
static void enable_backup(const char *name, json_t *options)
{
	char *dir = test_path("backup"), *root = test_path("store");
	json_t *config = NULL, *backup;

	ck_assert_int_eq(syn_store_config(test_store, &config), 0);
	backup = json_object_get(config, "backup");
	json_object_set_new(backup, "enabled", json_true());
	json_object_set_new(backup, "backend", json_string(name));
	json_object_set_new(backup, "path", json_string(dir));
	if (options)
		json_object_set_new(backup, name, options);
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "config.json", config), 0);
	json_decref(config);
	syn_store_free(test_store);
	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	free(dir);
	free(root);
}

/* Put @content into the backup directory only, as an earlier backup left it; its digest in @sha. */
static void put_in_backup(char sha[65], const char *content)
{
	char *dir = test_path("backup"), path[PATH_MAX];

	ck_assert_int_eq(syn_sha256_mem(sha, content, strlen(content)), 0);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, sha);
	test_write_file(path, content, strlen(content));
	free(dir);
}

/* The whole blob @sha as read through the chain (malloc'ed, NUL-terminated). */
static char *read_blob(const char *sha)
{
	char *buf = calloc(1, 4096);
	ssize_t n;
	int fd = -1;

	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(syn_blob_open(test_store, sha, &fd) == 0, "open: %s", syn_error_last());
	n = read(fd, buf, 4095);
	ck_assert_int_ge(n, 0);
	close(fd);
	return buf;
}

/* How many entries @dir holds (not recursing). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void insert_text(const char *content, char sha[65])
{
	char *src = test_path("src.bin");

	test_write_file(src, content, strlen(content));
	ck_assert_msg(syn_blob_insert_file(test_store, src, NULL, sha) == 0, "insert: %s", syn_error_last());
	free(src);
}

START_TEST(backup_serves_what_the_primary_lacks)
{
	static const char content[] = "kept on the backup only";
	char sha[65], other[65], *data;
	json_t *list = NULL;
	uint64_t size = 0;

	size_t where = 9;

	enable_backup("dirback", NULL);
	put_in_backup(sha, content);
	/* readable through the chain, but not held by this machine's store */
	ck_assert_int_eq(syn_blob_find(test_store, sha, &where), 0);
	ck_assert_uint_eq(where, 1);
	ck_assert(!syn_blob_exists(test_store, sha));
	ck_assert_int_eq(syn_blob_size(test_store, sha, &size), 0);
	ck_assert_uint_eq(size, strlen(content));
	data = read_blob(sha);
	ck_assert_str_eq(data, content);
	free(data);
	ck_assert_int_eq(syn_blob_verify(test_store, sha), 0);
	/* this machine's own copies are still only the primary's */
	ck_assert_int_eq(syn_blob_list(test_store, &list), 0);
	ck_assert_uint_eq(json_array_size(list), 0);
	json_decref(list);

	/* neither has it: not found, as before */
	ck_assert_int_eq(syn_sha256_mem(other, "nowhere", 7), 0);
	ck_assert(!syn_blob_exists(test_store, other));
	ck_assert_int_eq(syn_blob_find(test_store, other, &where), SYN_ENOTFOUND);
	ck_assert_int_eq(syn_blob_size(test_store, other, &size), SYN_ENOTFOUND);
	ck_assert_msg(strstr(syn_error_last(), other) != NULL, "message: %s", syn_error_last());
}
END_TEST

START_TEST(primary_answers_before_the_backup)
{
	char sha[65], path[PATH_MAX], *dir = test_path("backup"), *data;
	uint64_t size = 0;

	enable_backup("dirback", NULL);
	insert_text("on this machine", sha);
	/* a broken backup copy under the same name is never read: the primary has the blob */
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, sha);
	test_write_file(path, "corrupt", 7);
	ck_assert_int_eq(syn_blob_size(test_store, sha, &size), 0);
	ck_assert_uint_eq(size, strlen("on this machine"));
	data = read_blob(sha);
	ck_assert_str_eq(data, "on this machine");
	free(data);
	free(dir);
}
END_TEST

START_TEST(use_of_a_pack_only_the_backup_has)
{
	const char *files[] = { "late.safetensors", NULL };
	char *link = test_path("store/data/views/comfyui/active/models/loras/late.safetensors");
	char sha[65], want[PATH_MAX], target[PATH_MAX], *data;
	json_t *report = NULL;
	ssize_t n;
	int fd;

	enable_backup("dirback", NULL);
	make_pack("A", "lora", files, false);
	put_in_backup(sha, "A:late.safetensors");
	ck_assert_msg(syn_profile_use(test_store, "A", "local", false, &report) == 0, "use: %s", syn_error_last());
	json_decref(report);

	/* not linked while only the backup has it: a view never dangles, the blob is reported missing */
	ck_assert_int_lt(readlink(link, target, sizeof(target) - 1), 0);
	ck_assert_int_eq(syn_profile_use(test_store, "A", "local", false, &report), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(report, "missing_blobs")), 1);
	json_decref(report);
	/* the bytes are reachable through the chain ... */
	data = read_blob(sha);
	ck_assert_str_eq(data, "A:late.safetensors");
	free(data);
	/* ... and once copied into the primary the view links where the primary keeps it */
	ck_assert_int_eq(syn_blob_open(test_store, sha, &fd), 0);
	ck_assert_msg(syn_blob_insert_fd(test_store, fd, sha, NULL) == 0, "restore: %s", syn_error_last());
	close(fd);
	ck_assert_int_eq(syn_profile_use(test_store, "A", "local", false, &report), 0);
	json_decref(report);
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	snprintf(want, sizeof(want), "../../../../../../blobs/sha256/%.2s/%s", sha, sha);
	ck_assert_str_eq(target, want);
	data = test_read_file(link, NULL);
	ck_assert_str_eq(data, "A:late.safetensors");
	free(data);
	free(link);
}
END_TEST

START_TEST(install_and_use_restore_from_the_backup)
{
	const char *files[] = { "late.safetensors", NULL };
	char *link = test_path("store/data/views/comfyui/active/models/loras/late.safetensors"), *data;
	char *local = NULL, sha[65];
	struct syn_buf path = SYN_BUF_INIT;
	json_t *report = NULL;

	enable_backup("dirback", NULL);
	make_pack("A", "lora", files, false);
	put_in_backup(sha, "A:late.safetensors");
	/* install copies it from the backup, verified; nothing is downloaded (the lock has no URL) */
	ck_assert_msg(syn_pack_install(test_store, "A", 2, NULL, NULL, &report) == 0, "install: %s", syn_error_last());
	ck_assert_uint_eq(json_array_size(json_object_get(report, "restored")), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(report, "restored"), 0)), sha);
	ck_assert_uint_eq(json_array_size(json_object_get(report, "downloaded")), 0);
	json_decref(report);
	ck_assert(syn_blob_exists(test_store, sha));

	/* use --sync does the same for a blob removed since */
	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	ck_assert_msg(syn_profile_use(test_store, "A", "local", true, &report) == 0, "use: %s", syn_error_last());
	json_decref(report);
	data = test_read_file(link, NULL);
	ck_assert_str_eq(data, "A:late.safetensors");
	free(data);

	/* a backup copy whose bytes are wrong is never stored under the blob's name */
	ck_assert_int_eq(syn_blob_path(test_store, sha, &path), 0);
	local = strdup(path.ptr);
	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	{
		char *dir = test_path("backup"), bad[PATH_MAX];

		snprintf(bad, sizeof(bad), "%s/%s", dir, sha);
		chmod(bad, 0644);
		test_write_file(bad, "A:late.safetensorz", 18);
		free(dir);
	}
	ck_assert_int_ne(syn_pack_install(test_store, "A", 1, NULL, NULL, &report), 0);
	ck_assert_msg(strstr(syn_error_last(), "backup's copy cannot be used"), "%s", syn_error_last());
	ck_assert_msg(!strstr(syn_error_last(), "resolve"), "%s", syn_error_last());
	ck_assert(!syn_blob_exists(test_store, sha));
	ck_assert(!test_exists(local));
	free(local);
	free(link);
	syn_buf_dispose(&path);
}
END_TEST

START_TEST(doctor_replaces_a_corrupt_blob_with_the_backup_copy)
{
	static const char content[] = "a model file, backed up";
	struct syn_buf path = SYN_BUF_INIT;
	json_t *report = NULL, *r;
	char sha[65], other[65];
	const char *line;
	size_t i;
	bool replaced = false;

	enable_backup("dirback", NULL);
	insert_text(content, sha);
	insert_text("no backup of this one", other);
	put_in_backup(sha, content);
	/* both local copies go bad behind Synapse's back */
	ck_assert_int_eq(syn_blob_path(test_store, sha, &path), 0);
	chmod(path.ptr, 0644);
	test_write_file(path.ptr, "a model file, backed uq", strlen(content));
	ck_assert_int_eq(syn_blob_path(test_store, other, &path), 0);
	chmod(path.ptr, 0644);
	test_write_file(path.ptr, "no backup of this onf", 21);

	/* it repaired something, so it says the store was not healthy, with the report */
	ck_assert_int_eq(syn_doctor(test_store, NULL, false, true, &report), SYN_ECORRUPT);
	ck_assert_ptr_nonnull(report);
	ck_assert_uint_eq(json_array_size(json_object_get(report, "invalid_blobs")), 2);
	json_array_foreach(json_object_get(report, "repaired"), i, r) {
		line = json_string_value(r);
		if (strstr(line, sha) && strstr(line, "backup's copy"))
			replaced = true;
		if (strstr(line, other))
			ck_assert_ptr_nonnull(strstr(line, "quarantine"));
	}
	ck_assert_msg(replaced, "doctor did not say it replaced %s from the backup", sha);
	json_decref(report);
	/* the good bytes are back under the name; the one without a backup is set aside */
	ck_assert_int_eq(syn_blob_verify(test_store, sha), 0);
	ck_assert(!syn_blob_exists(test_store, other));
	syn_buf_dispose(&path);
}
END_TEST

START_TEST(missing_backup_plugin_fails_only_when_needed)
{
	struct syn_backend *be = NULL;
	char sha[65], absent[65];
	json_t *status = NULL;
	uint64_t size = 0;
	size_t n = 0;

	enable_backup("nosuch", NULL);
	/* commands that never need the backup work */
	ck_assert_msg(syn_store_status(test_store, "all", &status) == 0, "status: %s", syn_error_last());
	json_decref(status);
	insert_text("local bytes", sha);
	ck_assert(syn_blob_exists(test_store, sha));
	ck_assert_int_eq(syn_blob_size(test_store, sha, &size), 0);

	/* a blob the primary lacks needs the backup: the error names it and the setting */
	ck_assert_int_eq(syn_sha256_mem(absent, "elsewhere", 9), 0);
	ck_assert(!syn_blob_exists(test_store, absent));
	ck_assert_int_eq(syn_blob_size(test_store, absent, &size), SYN_ENOTFOUND);
	ck_assert_msg(strstr(syn_error_last(), "'nosuch'") != NULL, "message: %s", syn_error_last());
	ck_assert_msg(strstr(syn_error_last(), "backup.backend") != NULL, "message: %s", syn_error_last());
	ck_assert_int_eq(syn_store_backend_count(test_store, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(syn_store_backend_at(test_store, 1, &be, NULL), SYN_ENOTFOUND);
	ck_assert_ptr_null(be);
}
END_TEST

START_TEST(backup_that_fails_to_start_is_named)
{
	char absent[65];
	int fd = -1;

	enable_backup("dirback", json_pack("{s:b}", "refuse", 1));
	ck_assert_int_eq(syn_sha256_mem(absent, "elsewhere", 9), 0);
	ck_assert_int_eq(syn_blob_open(test_store, absent, &fd), SYN_EINVALID);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(strstr(syn_error_last(), "cannot start the 'dirback' blob backend") != NULL, "message: %s",
		      syn_error_last());
	ck_assert_msg(strstr(syn_error_last(), "told to refuse") != NULL, "message: %s", syn_error_last());
}
END_TEST

START_TEST(capabilities_without_methods_are_refused)
{
	struct syn_backend *be = NULL;

	enable_backup("dirback", json_pack("{s:b}", "lie", 1));
	ck_assert_int_eq(syn_store_backend_at(test_store, 1, &be, NULL), SYN_EINVALID);
	ck_assert_msg(strstr(syn_error_last(), "stage_open()") != NULL, "message: %s", syn_error_last());
	ck_assert_msg(strstr(syn_error_last(), "'dirback'") != NULL, "message: %s", syn_error_last());
}
END_TEST

START_TEST(capabilities_are_declared)
{
	struct syn_backend *be = NULL;
	unsigned int caps = 0;

	enable_backup("dirback", NULL);
	ck_assert_int_eq(syn_store_backend_at(test_store, 0, &be, &caps), 0);
	ck_assert_uint_eq(caps, SYN_BACKEND_CAP_STAGE | SYN_BACKEND_CAP_LOCAL_PATH | SYN_BACKEND_CAP_PUT |
				SYN_BACKEND_CAP_REMOVE | SYN_BACKEND_CAP_LIST | SYN_BACKEND_CAP_META |
				SYN_BACKEND_CAP_QUARANTINE | SYN_BACKEND_CAP_SPACE | SYN_BACKEND_CAP_LINK);
	ck_assert_int_eq(syn_store_backend_at(test_store, 1, &be, &caps), 0);
	ck_assert_uint_eq(caps, SYN_BACKEND_CAP_PUT | SYN_BACKEND_CAP_REMOVE | SYN_BACKEND_CAP_LIST);
	ck_assert_int_eq(syn_store_backend_at(test_store, 2, &be, &caps), SYN_EINVALID);
}
END_TEST

START_TEST(version_1_backend_works)
{
	struct syn_backend *be = NULL;
	unsigned int caps = 0;
	char sha[65], *data;
	uint64_t size = 0;

	enable_backup("dirback_v1", NULL);
	size_t where = 0;

	put_in_backup(sha, "from an old plugin");
	ck_assert_int_eq(syn_blob_find(test_store, sha, &where), 0);
	ck_assert_uint_eq(where, 1);
	ck_assert_int_eq(syn_blob_size(test_store, sha, &size), 0);
	ck_assert_uint_eq(size, strlen("from an old plugin"));
	data = read_blob(sha);
	ck_assert_str_eq(data, "from an old plugin");
	free(data);
	/* what it can do is read from the methods it set, not from past its struct */
	ck_assert_int_eq(syn_store_backend_at(test_store, 1, &be, &caps), 0);
	ck_assert_uint_eq(be->version, 1);
	ck_assert_uint_eq(caps, SYN_BACKEND_CAP_PUT | SYN_BACKEND_CAP_LIST);
}
END_TEST

START_TEST(primary_without_staging_gets_verified_bytes)
{
	static const char content[] = "handed over through put()";
	char *src = test_path("src.bin"), *dirblobs = test_path("store/data/dirblobs");
	char *tmp = test_path("store/data/tmp"), sha[65], want[65], bad[65], path[PATH_MAX], *data;
	struct syn_buf lp = SYN_BUF_INIT;
	json_t *list = NULL;
	int fd;

	test_write_file(src, content, strlen(content));
	ck_assert_int_eq(syn_sha256_mem(want, content, strlen(content)), 0);
	ck_assert_msg(syn_blob_insert_file(test_store, src, want, sha) == 0, "insert: %s", syn_error_last());
	ck_assert_str_eq(sha, want);
	snprintf(path, sizeof(path), "%s/%s", dirblobs, sha);
	data = test_read_file(path, NULL);
	ck_assert_str_eq(data, content);
	free(data);
	ck_assert(syn_blob_exists(test_store, sha));
	ck_assert_int_eq(syn_blob_list(test_store, &list), 0);
	ck_assert_uint_eq(json_array_size(list), 1);
	json_decref(list);

	/* wrong bytes never reach the backend */
	ck_assert_int_eq(syn_sha256_mem(bad, "something else", 14), 0);
	ck_assert_int_eq(syn_blob_insert_file(test_store, src, bad, NULL), SYN_EMISMATCH);
	ck_assert_int_eq(entries(dirblobs), 1);

	/* without an expected digest too; a second insert of stored bytes is success */
	fd = open(src, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(syn_blob_insert_fd(test_store, fd, NULL, sha), 0);
	close(fd);
	ck_assert_str_eq(sha, want);
	ck_assert_int_eq(entries(dirblobs), 1);
	ck_assert_int_eq(entries(tmp), 0);

	/* it keeps no local files, so it cannot give views a path */
	ck_assert_int_eq(syn_blob_path(test_store, sha, &lp), SYN_EUNSUPPORTED);
	syn_buf_dispose(&lp);
	free(src);
	free(dirblobs);
	free(tmp);
}
END_TEST

START_TEST(manifests_and_quarantine_go_through_the_backend)
{
	char sha[65], backup_sha[65], *meta_path, *quarantined;
	json_t *meta = json_pack("{s:i}", "version", 1), *again = json_pack("{s:i}", "version", 2), *got = NULL;

	enable_backup("dirback", NULL);
	insert_text("described", sha);
	ck_assert_int_eq(syn_blob_meta_read(test_store, sha, &got), SYN_ENOTFOUND);
	ck_assert_int_eq(syn_blob_meta_write(test_store, sha, meta), 0);
	/* the first manifest is kept */
	ck_assert_int_eq(syn_blob_meta_write(test_store, sha, again), 0);
	ck_assert_msg(syn_blob_meta_read(test_store, sha, &got) == 0, "%s", syn_error_last());
	ck_assert_int_eq(json_integer_value(json_object_get(got, "version")), 1);
	json_decref(got);
	ck_assert_int_ge(asprintf(&meta_path, "%s/store/data/blobs/sha256/%.2s/%s.meta", test_dir, sha, sha), 0);
	ck_assert(test_exists(meta_path));

	/* a backend that keeps no manifests has none to give */
	put_in_backup(backup_sha, "on the backup");
	ck_assert_int_eq(syn_blob_meta_read(test_store, backup_sha, &got), SYN_ENOTFOUND);

	ck_assert_int_eq(syn_blob_quarantine(test_store, sha), 0);
	ck_assert(!syn_blob_exists(test_store, sha));
	ck_assert_int_ge(asprintf(&quarantined, "%s/store/data/quarantine/%s", test_dir, sha), 0);
	ck_assert(test_exists(quarantined));
	ck_assert_int_eq(syn_blob_quarantine(test_store, sha), SYN_ENOTFOUND);
	json_decref(meta);
	json_decref(again);
	free(meta_path);
	free(quarantined);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backends");

	TEST(s, backup_serves_what_the_primary_lacks, backends_setup, store_teardown);
	TEST(s, primary_answers_before_the_backup, backends_setup, store_teardown);
	TEST(s, use_of_a_pack_only_the_backup_has, backends_setup, store_teardown);
	TEST(s, install_and_use_restore_from_the_backup, backends_setup, store_teardown);
	TEST(s, doctor_replaces_a_corrupt_blob_with_the_backup_copy, backends_setup, store_teardown);
	TEST(s, missing_backup_plugin_fails_only_when_needed, backends_setup, store_teardown);
	TEST(s, backup_that_fails_to_start_is_named, backends_setup, store_teardown);
	TEST(s, capabilities_without_methods_are_refused, backends_setup, store_teardown);
	TEST(s, capabilities_are_declared, backends_setup, store_teardown);
	TEST(s, version_1_backend_works, backends_setup, store_teardown);
	TEST(s, primary_without_staging_gets_verified_bytes, stageless_setup, store_teardown);
	TEST(s, manifests_and_quarantine_go_through_the_backend, backends_setup, store_teardown);
	return test_main(s);
}
