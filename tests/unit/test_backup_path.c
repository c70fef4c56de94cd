/*
 * Tests of the `backup_path` blob backend: a backup drive laid out like a
 * store's data/, whose copies are verified before they get a blob's name,
 * and which says "not reachable" rather than "not here" when the drive is
 * gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <synapse/sys/backend.h>

#include "common.h"

#define BLOBS "/.synapse/store/data/blobs/sha256"

/* The instance under test, rooted at <test>/backup. */
static struct syn_backend *be;
static char *root;

static struct syn_backend *create_at(const char *dir, int *rc_out)
{
	const struct syn_backend_class *cls = syn_registry_backend(test_reg, "backup_path");
	struct syn_backend_params params = { SYN_BACKEND_VERSION, NULL, dir, true, NULL };
	struct syn_backend *b = NULL;

	ck_assert_ptr_nonnull(cls);
	*rc_out = cls->create(&b, &params);
	return b;
}

static void bp_setup(void)
{
	int rc;

	tmp_setup();
	test_reg = test_registry();
	root = test_path("backup");
	ck_assert_int_eq(mkdir(root, 0755), 0);
	be = create_at(root, &rc);
	ck_assert_msg(rc == 0, "create: %s", syn_error_last());
	ck_assert_uint_eq(be->version, SYN_BACKEND_VERSION);
}

static void bp_teardown(void)
{
	if (be)
		be->free(be);
	be = NULL;
	free(root);
	root = NULL;
	syn_registry_free(test_reg);
	test_reg = NULL;
	tmp_teardown();
}

/* @content in a file of its own, opened for reading; its digest in @sha. */
static int source_fd(const char *content, char sha[65])
{
	static int n;
	char name[32], *path;
	int fd;

	snprintf(name, sizeof(name), "src-%d", n++);
	path = test_path(name);
	test_write_file(path, content, strlen(content));
	ck_assert_int_eq(syn_sha256_mem(sha, content, strlen(content)), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	free(path);
	return fd;
}

static void put_text(const char *content, char sha[65])
{
	int fd = source_fd(content, sha);

	ck_assert_msg(be->put(be, sha, fd) == 0, "put: %s", syn_error_last());
	close(fd);
}

/* "<root>/.synapse/store/data/blobs/sha256/<2>/<sha><suffix>" (malloc'ed). */
static char *blob_path(const char *sha, const char *suffix)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s" BLOBS "/%.2s/%s%s", root, sha, sha, suffix), 0);
	return p;
}

/* The <2> directory of @sha (malloc'ed). */
static char *prefix_path(const char *sha)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s" BLOBS "/%.2s", root, sha), 0);
	return p;
}

static void mkdirs(const char *path)
{
	char buf[PATH_MAX], *s;

	snprintf(buf, sizeof(buf), "%s", path);
	for (s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(buf, 0755);
		*s = '/';
	}
	mkdir(buf, 0755);
}

struct listed {
	int n;
	char last[65];
};

static int count_cb(const char *sha, void *payload)
{
	struct listed *l = payload;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%s", sha);
	return 0;
}

static int listed_count(void)
{
	struct listed l = { 0, "" };

	ck_assert_msg(be->foreach(be, count_cb, &l) == 0, "foreach: %s", syn_error_last());
	return l.n;
}

/* Every file (not directory) below the root, for the layout test. */
static int nfiles;
static char lastfile[PATH_MAX];

static int file_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_F || type == FTW_SL) {
		nfiles++;
		snprintf(lastfile, sizeof(lastfile), "%s", path);
	}
	return 0;
}

static int files_below_root(void)
{
	nfiles = 0;
	lastfile[0] = '\0';
	ck_assert_int_eq(nftw(root, file_cb, 16, FTW_PHYS), 0);
	return nfiles;
}

START_TEST(capabilities_and_version)
{
	ck_assert_ptr_nonnull(be->capabilities);
	ck_assert_uint_eq(be->capabilities(be), SYN_BACKEND_CAP_PUT | SYN_BACKEND_CAP_REMOVE | SYN_BACKEND_CAP_LIST |
							 SYN_BACKEND_CAP_META | SYN_BACKEND_CAP_SPACE);
	ck_assert_ptr_nonnull(be->space);
	ck_assert_ptr_null(be->stage_open);
	ck_assert_ptr_null(be->local_path);
}
END_TEST

START_TEST(put_then_read_back)
{
	static const char content[] = "a blob kept on the backup drive";
	char sha[65], buf[128], *part, *stray;
	struct listed l = { 0, "" };
	uint64_t size = 0;
	ssize_t n;
	int fd = -1;

	ck_assert_int_eq(be->exists(be, "0000000000000000000000000000000000000000000000000000000000000000"), 0);
	ck_assert_int_eq(listed_count(), 0);
	put_text(content, sha);
	ck_assert_int_eq(be->exists(be, sha), 1);
	ck_assert_int_eq(be->size(be, sha, &size), 0);
	ck_assert_uint_eq(size, strlen(content));
	ck_assert_int_eq(be->open(be, sha, &fd), 0);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_eq(n, (ssize_t)strlen(content));
	buf[n] = '\0';
	ck_assert_str_eq(buf, content);
	close(fd);

	/* its manifest, a copy in progress and strays beside it are never listed as blobs */
	ck_assert_int_eq(be->meta_write(be, sha, "{}", 2), 0);
	part = blob_path(sha, ".part-00000000deadbeef");
	test_write_file(part, "half", 4);
	stray = blob_path(sha, "");
	stray[strlen(stray) - 1] = 'x'; /* 64 chars, not hex */
	test_write_file(stray, "stray", 5);
	ck_assert_int_eq(be->foreach(be, count_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.last, sha);
	free(part);
	free(stray);
}
END_TEST

START_TEST(layout_is_a_store_data_dir)
{
	char sha[65], *want, *dir;
	struct stat sb;

	put_text("laid out like data/", sha);
	want = blob_path(sha, "");
	ck_assert_int_eq(files_below_root(), 1);
	ck_assert_str_eq(lastfile, want);
	ck_assert_int_eq(lstat(want, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 0777, 0444);
	dir = prefix_path(sha);
	ck_assert_int_eq(lstat(dir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));

	/* the manifest sits beside the blob, named as the local backend names it */
	ck_assert_int_eq(be->meta_write(be, sha, "{\"v\":1}", 7), 0);
	free(want);
	want = blob_path(sha, ".meta");
	ck_assert(test_exists(want));
	ck_assert_int_eq(files_below_root(), 2);
	free(want);
	free(dir);
}
END_TEST

START_TEST(put_of_wrong_bytes_is_refused)
{
	char sha[65], other[65], *final;
	int fd;

	ck_assert_int_eq(syn_sha256_mem(sha, "what was asked for", 18), 0);
	fd = source_fd("something else entirely", other);
	ck_assert_int_eq(be->put(be, sha, fd), SYN_EMISMATCH);
	close(fd);
	ck_assert_msg(strstr(syn_error_last(), sha) && strstr(syn_error_last(), other), "message: %s",
		      syn_error_last());
	ck_assert_int_eq(be->exists(be, sha), 0);
	final = blob_path(sha, "");
	ck_assert(!test_exists(final));
	ck_assert_int_eq(test_count_named(root, ".part-"), 0);
	ck_assert_int_eq(listed_count(), 0);
	free(final);
}
END_TEST

START_TEST(put_twice_succeeds)
{
	char sha[65];
	int fd;

	put_text("copied twice", sha);
	fd = source_fd("copied twice", sha);
	ck_assert_int_eq(be->put(be, sha, fd), 0);
	/* the fd's position does not matter: put reads from offset 0 */
	ck_assert_int_eq(lseek(fd, 5, SEEK_SET), 5);
	ck_assert_int_eq(be->remove(be, sha), 0);
	ck_assert_msg(be->put(be, sha, fd) == 0, "put: %s", syn_error_last());
	close(fd);
	ck_assert_int_eq(listed_count(), 1);
	ck_assert_int_eq(files_below_root(), 1);
}
END_TEST

START_TEST(remove_takes_blob_and_manifest)
{
	char sha[65], *dir, *meta;
	struct syn_buf out = SYN_BUF_INIT;

	put_text("to be removed", sha);
	ck_assert_int_eq(be->meta_write(be, sha, "{}", 2), 0);
	ck_assert_int_eq(be->remove(be, sha), 0);
	ck_assert_int_eq(be->exists(be, sha), 0);
	meta = blob_path(sha, ".meta");
	ck_assert(!test_exists(meta));
	ck_assert_int_eq(be->meta_read(be, sha, &out), SYN_ENOTFOUND);
	/* the emptied <2> directory goes too */
	dir = prefix_path(sha);
	ck_assert(!test_exists(dir));
	ck_assert_int_eq(be->remove(be, sha), SYN_ENOTFOUND);
	ck_assert_msg(strstr(syn_error_last(), sha) != NULL, "message: %s", syn_error_last());
	ck_assert_int_eq(listed_count(), 0);
	syn_buf_dispose(&out);
	free(meta);
	free(dir);
}
END_TEST

START_TEST(manifest_round_trip)
{
	static const char doc[] = "{\"version\": 1, \"name\": \"x\"}";
	struct syn_buf out = SYN_BUF_INIT;
	char sha[65];

	ck_assert_int_eq(syn_sha256_mem(sha, "described", 9), 0);
	ck_assert_int_eq(be->meta_read(be, sha, &out), SYN_ENOTFOUND);
	ck_assert_msg(be->meta_write(be, sha, doc, strlen(doc)) == 0, "meta_write: %s", syn_error_last());
	ck_assert_int_eq(be->meta_read(be, sha, &out), 0);
	ck_assert_uint_eq(out.len, strlen(doc));
	ck_assert_int_eq(memcmp(out.ptr, doc, out.len), 0);
	/* the first manifest is kept */
	ck_assert_int_eq(be->meta_write(be, sha, "{}", 2), SYN_EEXISTS);
	ck_assert_int_eq(be->meta_read(be, sha, &out), 0);
	ck_assert_uint_eq(out.len, strlen(doc));
	/* nothing temporary left, and a manifest is no blob */
	ck_assert_int_eq(test_count_named(root, ".syn-tmp-"), 0);
	ck_assert_int_eq(files_below_root(), 1);
	ck_assert_int_eq(listed_count(), 0);
	syn_buf_dispose(&out);
}
END_TEST

START_TEST(missing_root_is_unreachable)
{
	struct syn_buf out = SYN_BUF_INIT;
	char sha[65], other[65];
	uint64_t a = 0, b = 0;
	int fd = -1, src;

	put_text("on a drive that will be unplugged", sha);
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, root), 0);
	src = source_fd("to copy while unplugged", other);
	ck_assert_int_eq(be->exists(be, sha), SYN_ENETWORK);
	ck_assert_msg(strstr(syn_error_last(), "not reachable") && strstr(syn_error_last(), root), "message: %s",
		      syn_error_last());
	ck_assert_int_eq(be->size(be, sha, &a), SYN_ENETWORK);
	ck_assert_int_eq(be->open(be, sha, &fd), SYN_ENETWORK);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(be->put(be, other, src), SYN_ENETWORK);
	ck_assert_int_eq(be->foreach(be, count_cb, &(struct listed){ 0, "" }), SYN_ENETWORK);
	ck_assert_int_eq(be->remove(be, sha), SYN_ENETWORK);
	ck_assert_int_eq(be->meta_read(be, sha, &out), SYN_ENETWORK);
	ck_assert_int_eq(be->meta_write(be, sha, "{}", 2), SYN_ENETWORK);
	ck_assert_int_eq(be->space(be, &a, &b), SYN_ENETWORK);
	/* put created nothing where the drive was */
	ck_assert(!test_exists(root));

	/* a file where the root should be is not a backup either */
	test_write_file(root, "x", 1);
	ck_assert_int_eq(be->exists(be, sha), SYN_ENETWORK);
	ck_assert_int_eq(unlink(root), 0);

	/* an empty drive is reachable: blobs are just not there */
	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(be->exists(be, sha), 0);
	ck_assert_int_eq(be->size(be, sha, &a), SYN_ENOTFOUND);
	ck_assert_int_eq(be->open(be, sha, &fd), SYN_ENOTFOUND);
	ck_assert_int_eq(listed_count(), 0);
	ck_assert_msg(be->put(be, other, src) == 0, "put: %s", syn_error_last());
	ck_assert_int_eq(be->exists(be, other), 1);
	close(src);
	syn_buf_dispose(&out);
}
END_TEST

START_TEST(create_needs_a_path_and_touches_no_disk)
{
	char *absent = test_path("not-plugged-in");
	struct syn_backend *b;
	int rc;

	b = create_at(NULL, &rc);
	ck_assert_int_eq(rc, SYN_EINVALID);
	ck_assert_ptr_null(b);
	ck_assert_msg(strstr(syn_error_last(), "backup.path is not set") &&
			      strstr(syn_error_last(), "synapse backup config --path"),
		      "message: %s", syn_error_last());
	b = create_at("", &rc);
	ck_assert_int_eq(rc, SYN_EINVALID);
	ck_assert_ptr_null(b);

	b = create_at(absent, &rc);
	ck_assert_msg(rc == 0, "create: %s", syn_error_last());
	ck_assert(!test_exists(absent));
	ck_assert_int_eq(b->exists(b, "0000000000000000000000000000000000000000000000000000000000000000"),
			 SYN_ENETWORK);
	b->free(b);
	free(absent);
}
END_TEST

START_TEST(stale_part_is_cleaned)
{
	char sha[65], *dir, *stale, *live;
	int src, held;

	src = source_fd("written after a crash", sha);
	dir = prefix_path(sha);
	mkdirs(dir);
	/* a writer that was killed left its copy, unlocked */
	stale = blob_path(sha, ".part-0123456789abcdef");
	test_write_file(stale, "half a cop", 10);
	/* another writer is still at work on its own: its lock keeps it */
	live = blob_path(sha, ".part-fedcba9876543210");
	test_write_file(live, "in progress", 11);
	held = open(live, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(held, 0);
	ck_assert_int_eq(flock(held, LOCK_EX), 0);

	ck_assert_int_eq(listed_count(), 0);
	ck_assert_int_eq(be->exists(be, sha), 0);
	ck_assert_msg(be->put(be, sha, src) == 0, "put: %s", syn_error_last());
	ck_assert(!test_exists(stale));
	ck_assert(test_exists(live));
	ck_assert_int_eq(test_count_named(root, ".part-"), 1);
	ck_assert_int_eq(listed_count(), 1);
	close(held);
	close(src);
	free(dir);
	free(stale);
	free(live);
}
END_TEST

START_TEST(file_in_the_way_is_a_clear_error)
{
	struct syn_buf out = SYN_BUF_INIT;
	char sha[65], *dir, *data;
	int src;
	size_t len = 0;

	/* a drive that will not take the copy: a file where the <2> directory belongs */
	src = source_fd("cannot be written there", sha);
	dir = prefix_path(sha);
	mkdirs(dir);
	ck_assert_int_eq(rmdir(dir), 0);
	test_write_file(dir, "not a directory", 15);

	ck_assert_int_eq(be->put(be, sha, src), SYN_EIO);
	ck_assert_msg(strstr(syn_error_last(), "cannot write to the backup at") && strstr(syn_error_last(), root),
		      "message: %s", syn_error_last());
	ck_assert_int_eq(be->meta_write(be, sha, "{}", 2), SYN_EIO);
	ck_assert_msg(strstr(syn_error_last(), root) != NULL, "message: %s", syn_error_last());
	ck_assert_int_eq(be->meta_read(be, sha, &out), SYN_ENOTFOUND);
	/* nothing left behind, and the file in the way is untouched */
	ck_assert_int_eq(files_below_root(), 1);
	ck_assert_str_eq(lastfile, dir);
	data = test_read_file(dir, &len);
	ck_assert_uint_eq(len, 15);
	free(data);
	ck_assert_int_eq(be->exists(be, sha), 0);
	ck_assert_int_eq(listed_count(), 0);

	/* the same a level up: the blobs directory itself is a file */
	ck_assert_int_eq(unlink(dir), 0);
	free(dir);
	ck_assert_int_ge(asprintf(&dir, "%s" BLOBS, root), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	test_write_file(dir, "not a directory", 15);
	ck_assert_int_eq(be->put(be, sha, src), SYN_EIO);
	ck_assert_msg(strstr(syn_error_last(), "in the way") != NULL, "message: %s", syn_error_last());
	ck_assert_int_eq(files_below_root(), 1);
	ck_assert_int_eq(be->exists(be, sha), 0);
	ck_assert_int_eq(listed_count(), 0);

	/* a directory under a blob's name is no blob: put says so rather than taking it for one */
	ck_assert_int_eq(unlink(dir), 0);
	free(dir);
	dir = blob_path(sha, "");
	mkdirs(dir);
	ck_assert_int_eq(be->exists(be, sha), 0);
	ck_assert_int_eq(be->put(be, sha, src), SYN_EIO);
	ck_assert_msg(strstr(syn_error_last(), "is not a blob") != NULL, "message: %s", syn_error_last());
	ck_assert_int_eq(test_count_named(root, ".part-"), 0);
	ck_assert_int_eq(listed_count(), 0);
	syn_buf_dispose(&out);
	close(src);
	free(dir);
}
END_TEST

START_TEST(space_is_plausible)
{
	uint64_t total = 0, free_bytes = 0;
	struct statvfs vfs;

	ck_assert_msg(be->space(be, &total, &free_bytes) == 0, "space: %s", syn_error_last());
	ck_assert_int_eq(statvfs(root, &vfs), 0);
	ck_assert_uint_gt(total, 0);
	ck_assert_uint_le(free_bytes, total);
	ck_assert_uint_eq(total, (uint64_t)vfs.f_blocks * vfs.f_frsize);
}
END_TEST

/* Enable the backup in the test store's config.json (default backend) at @dir, then reopen it. */
static void enable_backup(const char *dir)
{
	char *store_root = test_path("store");
	json_t *config = NULL, *backup;

	ck_assert_int_eq(syn_store_config(test_store, &config), 0);
	backup = json_object_get(config, "backup");
	json_object_set_new(backup, "enabled", json_true());
	if (dir)
		json_object_set_new(backup, "path", json_string(dir));
	else
		json_object_del(backup, "path");
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "config.json", config), 0);
	json_decref(config);
	syn_store_free(test_store);
	ck_assert_int_eq(syn_store_open(&test_store, test_reg, store_root), 0);
	free(store_root);
}

START_TEST(store_chain_uses_it_by_default)
{
	char *dir = test_path("drive"), *src = test_path("src.bin"), sha[65], absent[65];
	struct syn_backend *b = NULL, *primary = NULL;
	unsigned int caps = 0;
	uint64_t total = 0, free_bytes = 0, size = 0;
	size_t n = 0, where = 9;
	int fd = -1;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	enable_backup(dir);
	ck_assert_int_eq(syn_store_backend_count(test_store, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_msg(syn_store_backend_at(test_store, 1, &b, &caps) == 0, "backend: %s", syn_error_last());
	ck_assert_uint_eq(caps, SYN_BACKEND_CAP_PUT | SYN_BACKEND_CAP_REMOVE | SYN_BACKEND_CAP_LIST |
					SYN_BACKEND_CAP_META | SYN_BACKEND_CAP_SPACE);
	ck_assert_int_eq(b->space(b, &total, &free_bytes), 0);
	ck_assert_int_eq(syn_store_backend_at(test_store, 0, &primary, &caps), 0);
	ck_assert(caps & SYN_BACKEND_CAP_SPACE);
	ck_assert_int_eq(primary->space(primary, &total, &free_bytes), 0);
	ck_assert_uint_gt(total, 0);
	ck_assert_uint_le(free_bytes, total);

	/* a blob copied from the store to the backup is found there once the store lost it */
	test_write_file(src, "backed up", 9);
	ck_assert_int_eq(syn_blob_insert_file(test_store, src, NULL, sha), 0);
	ck_assert_int_eq(syn_blob_open(test_store, sha, &fd), 0);
	ck_assert_msg(b->put(b, sha, fd) == 0, "put: %s", syn_error_last());
	close(fd);
	ck_assert_int_eq(primary->remove(primary, sha), 0);
	ck_assert_int_eq(syn_blob_find(test_store, sha, &where), 0);
	ck_assert_uint_eq(where, 1);
	ck_assert_int_eq(syn_blob_size(test_store, sha, &size), 0);
	ck_assert_uint_eq(size, 9);

	/* unplugged: a blob the primary lacks is an error, not "not stored" */
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, dir), 0);
	ck_assert_int_eq(syn_sha256_mem(absent, "elsewhere", 9), 0);
	ck_assert_int_eq(syn_blob_find(test_store, absent, &where), SYN_ENETWORK);
	ck_assert_msg(strstr(syn_error_last(), "not reachable") != NULL, "message: %s", syn_error_last());
	free(dir);
	free(src);
}
END_TEST

START_TEST(store_without_backup_path_says_what_to_do)
{
	struct syn_backend *b = NULL;
	json_t *status = NULL;
	char sha[65];
	uint64_t size = 0;

	enable_backup(NULL);
	/* only what needs the backup fails */
	ck_assert_msg(syn_store_status(test_store, "all", &status) == 0, "status: %s", syn_error_last());
	json_decref(status);
	ck_assert_int_eq(syn_store_backend_at(test_store, 1, &b, NULL), SYN_EINVALID);
	ck_assert_msg(strstr(syn_error_last(), "backup config --path") != NULL, "message: %s", syn_error_last());
	ck_assert_int_eq(syn_sha256_mem(sha, "elsewhere", 9), 0);
	ck_assert_int_eq(syn_blob_size(test_store, sha, &size), SYN_EINVALID);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backup_path");

	TEST(s, capabilities_and_version, bp_setup, bp_teardown);
	TEST(s, put_then_read_back, bp_setup, bp_teardown);
	TEST(s, layout_is_a_store_data_dir, bp_setup, bp_teardown);
	TEST(s, put_of_wrong_bytes_is_refused, bp_setup, bp_teardown);
	TEST(s, put_twice_succeeds, bp_setup, bp_teardown);
	TEST(s, remove_takes_blob_and_manifest, bp_setup, bp_teardown);
	TEST(s, manifest_round_trip, bp_setup, bp_teardown);
	TEST(s, missing_root_is_unreachable, bp_setup, bp_teardown);
	TEST(s, create_needs_a_path_and_touches_no_disk, bp_setup, bp_teardown);
	TEST(s, stale_part_is_cleaned, bp_setup, bp_teardown);
	TEST(s, file_in_the_way_is_a_clear_error, bp_setup, bp_teardown);
	TEST(s, space_is_plausible, bp_setup, bp_teardown);
	TEST(s, store_chain_uses_it_by_default, store_setup, store_teardown);
	TEST(s, store_without_backup_path_says_what_to_do, store_setup, store_teardown);
	return test_main(s);
}
