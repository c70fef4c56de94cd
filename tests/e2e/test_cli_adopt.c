/* adopt: the user's own model files taken into the store, through the library and the synapse binary. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <synapse/adopt.h>
#include <synapse/blob.h>
#include <synapse/errors.h>
#include <synapse/pack.h>
#include <synapse/store.h>

#include "common.h"
#include "synapse/inventory.h"
#include "fake_civitai.h"

static struct fake_civitai *fake;
static char env_url[256];
static const char *env[8];

static void setup(void)
{
	store_setup();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, 128 * 1024), 0);
	snprintf(env_url, sizeof(env_url), "SYNAPSE_CIVITAI_URL=%s", fake_civitai_url(fake));
	setenv("SYNAPSE_CIVITAI_URL", fake_civitai_url(fake), 1);
	setenv("SYNAPSE_CIVITAI_RETRY_MS", "5", 1);
	unsetenv("CIVITAI_API_TOKEN");
	unsetenv("CIVITAI_API_KEY");
	env[0] = env_url;
	env[1] = "SYNAPSE_CIVITAI_RETRY_MS=5";
	env[2] = "CIVITAI_API_TOKEN=";
	env[3] = NULL;
}

static void teardown(void)
{
	syn_adopt_set_read_hook(NULL);
	fake_civitai_stop(fake);
	store_teardown();
}

#define RUN(...) test_cli((const char *const[]){ __VA_ARGS__, NULL }, env)

/* Write @len bytes of a pattern seeded by @seed at <test_dir>/@rel, dated an hour ago (settled). */
static char *put_file(const char *rel, size_t len, unsigned seed)
{
	char *path = test_path(rel), *slash;
	unsigned char *b = malloc(len);
	struct timespec old[2];
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < len; i++)
		b[i] = (unsigned char)((i * 31 + seed * 7919 + (i >> 8)) & 0xff);
	slash = strrchr(path, '/');
	*slash = '\0';
	ck_assert_int_eq(system(NULL) ? 0 : 0, 0);
	{
		char cmd[8192];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
		ck_assert_int_eq(system(cmd), 0);
	}
	*slash = '/';
	test_write_file(path, b, len);
	free(b);
	clock_gettime(CLOCK_REALTIME, &old[0]);
	old[0].tv_sec -= 3600;
	old[1] = old[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	return path;
}

static json_t *adopt(const char *folder, bool dry_run, enum syn_adopt_mode mode)
{
	const char *folders[1] = { NULL };
	struct syn_adopt_options o = { 0 };
	json_t *report = NULL;
	char *abs = test_path(folder);

	folders[0] = abs;
	o.folders = folders;
	o.nfolders = 1;
	o.dry_run = dry_run;
	o.mode = mode;
	ck_assert_msg(syn_adopt(test_store, &o, &report) == 0, "adopt: %s", syn_error_last());
	free(abs);
	return report;
}

static long long num(const json_t *r, const char *key)
{
	return (long long)json_integer_value(json_object_get(r, key));
}

static size_t count_requests(const char *method, const char *prefix, int max_items)
{
	struct fake_request reqs[512];
	size_t n = fake_civitai_requests(fake, reqs, 512), i, hits = 0;

	for (i = 0; i < n && i < 512; i++) {
		if (strcmp(reqs[i].method, method) || strncmp(reqs[i].path, prefix, strlen(prefix)))
			continue;
		if (max_items >= 0)
			ck_assert_msg(reqs[i].post_items >= 1 && reqs[i].post_items <= max_items,
				      "a by-hash request of %d digests", reqs[i].post_items);
		hits++;
	}
	return hits;
}

static json_t *pack_doc(const char *pack, const char *file)
{
	char rel[512], *path;
	json_t *doc;

	snprintf(rel, sizeof(rel), "store/state/packs/%s/%s", pack, file);
	path = test_path(rel);
	doc = json_load_file(path, 0, NULL);
	ck_assert_msg(doc, "no %s", path);
	free(path);
	return doc;
}

START_TEST(duplicates_are_stored_once_and_unknown_files_make_a_local_pack)
{
	char *a = put_file("models/loras/a.safetensors", 70000, 1);
	char *b = put_file("models/loras/copy/a.safetensors", 70000, 1);
	char *c = put_file("models/checkpoints/c.ckpt", 50000, 2);
	json_t *r, *dup, *lock, *pack;
	char sha[65];

	free(put_file("models/readme.txt", 10, 3));
	{
		/* a hard link to a: the same bytes, but no space wasted */
		char *hard = test_path("models/hard.safetensors");

		ck_assert_int_eq(link(a, hard), 0);
		free(hard);
	}
	r = adopt("models", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(num(r, "files_scanned"), 4);
	ck_assert_int_eq(num(r, "adopted"), 2);
	ck_assert_int_eq(num(r, "bytes_stored"), 120000);
	ck_assert_int_eq(json_array_size(json_object_get(r, "duplicates")), 1);
	dup = json_array_get(json_object_get(r, "duplicates"), 0);
	ck_assert_int_eq(num(dup, "wasted_bytes"), 70000);
	ck_assert_int_eq(json_array_size(json_object_get(dup, "paths")), 3);
	ck_assert_int_eq(num(r, "wasted_bytes"), 70000);
	ck_assert_int_eq(json_array_size(json_object_get(r, "unrecognised")), 2);
	snprintf(sha, sizeof(sha), "%s", json_string_value(json_object_get(dup, "sha256")));
	ck_assert(syn_blob_exists(test_store, sha));
	ck_assert_int_eq(syn_blob_verify(test_store, sha), 0);
	{
		json_t *meta = NULL;

		ck_assert_msg(syn_blob_meta_read(test_store, sha, &meta) == 0, "%s", syn_error_last());
		json_decref(meta);
	}

	/* one local pack, its lock resolved from the digests with nothing to download */
	pack = pack_doc("adopted-models", "pack.json");
	ck_assert_int_eq(json_array_size(json_object_get(pack, "dependencies")), 2);
	lock = pack_doc("adopted-models", "lock.json");
	ck_assert_int_eq(json_array_size(json_object_get(lock, "resolved")), 2);
	ck_assert_int_eq(json_array_size(json_object_get(lock, "unresolved")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(json_object_get(json_object_get(
		json_array_get(json_object_get(lock, "resolved"), 0), "artifact"), "download"), "urls")), 0);
	json_decref(pack);
	json_decref(lock);
	json_decref(r);
	{
		json_t *inst = NULL;

		ck_assert_msg(syn_pack_install(test_store, "adopted-models", 0, NULL, NULL, &inst) == 0, "%s",
			      syn_error_last());
		ck_assert_int_eq(json_array_size(json_object_get(inst, "downloaded")), 0);
		json_decref(inst);
	}
	/* the originals are as they were */
	{
		struct stat sb;

		ck_assert_int_eq(lstat(a, &sb), 0);
		ck_assert(S_ISREG(sb.st_mode));
		ck_assert_int_eq(sb.st_size, 70000);
	}
	ck_assert_uint_eq(count_requests("GET", "/api/download/", -1), 0);
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(a_recognised_file_makes_the_pack_import_makes_already_installed)
{
	const unsigned char *body;
	char hex[65], *path = test_path("ui/loras/my_synthwave.safetensors");
	json_t *r, *hit, *pack, *lock, *ipack, *ilock, *rep = NULL;
	struct syn_import_options o = { 0 };
	size_t len;

	ck_assert(fake_civitai_file(fake, 194, &body, &len, hex));
	ck_assert_int_eq(system("mkdir -p \"$TMPDIR\" 2>/dev/null; true"), 0);
	free(put_file("ui/loras/placeholder.bin", 10, 9));
	test_write_file(path, body, len);
	fake_civitai_clear_requests(fake);
	r = adopt("ui", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(json_array_size(json_object_get(r, "recognised")), 1);
	hit = json_array_get(json_object_get(r, "recognised"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(hit, "sha256")), hex);
	ck_assert_int_eq(num(hit, "model_id"), 1102);
	ck_assert_str_eq(json_string_value(json_object_get(hit, "pack")), "SynthwavePunk");
	ck_assert_uint_eq(count_requests("GET", "/api/download/", -1), 0);
	ck_assert_uint_eq(count_requests("POST", "/api/v1/model-versions/by-hash", 100), 1);
	json_decref(r);

	pack = pack_doc("SynthwavePunk", "pack.json");
	lock = pack_doc("SynthwavePunk", "lock.json");
	{
		json_t *show = NULL;

		json_t *d;
		size_t i;
		bool found = false;

		ck_assert_int_eq(syn_pack_show(test_store, "SynthwavePunk", &show), 0);
		json_array_foreach(json_object_get(show, "dependencies"), i, d) {
			if (json_string_value(json_object_get(d, "sha256")) &&
			    !strcmp(json_string_value(json_object_get(d, "sha256")), hex)) {
				ck_assert_str_eq(json_string_value(json_object_get(d, "status")), "installed");
				found = true;
			}
		}
		ck_assert(found);
		json_decref(show);
	}
	/* the same as an import of the model without previews */
	ck_assert_int_eq(syn_pack_delete(test_store, "SynthwavePunk", true, &rep), 0);
	json_decref(rep);
	o.no_previews = true;
	ck_assert_msg(syn_pack_import(test_store, "civitai:1102", &o, &rep) == 0, "%s", syn_error_last());
	json_decref(rep);
	ipack = pack_doc("SynthwavePunk", "pack.json");
	ilock = pack_doc("SynthwavePunk", "lock.json");
	json_object_del(lock, "resolved_at");
	json_object_del(ilock, "resolved_at");
	ck_assert(json_equal(json_object_get(pack, "dependencies"), json_object_get(ipack, "dependencies")));
	ck_assert(json_equal(json_object_get(pack, "source"), json_object_get(ipack, "source")));
	ck_assert(json_equal(lock, ilock));
	json_decref(pack);
	json_decref(lock);
	json_decref(ipack);
	json_decref(ilock);
	free(path);
}
END_TEST

START_TEST(digests_are_asked_for_a_hundred_at_a_time)
{
	json_t *r;
	int i;

	for (i = 0; i < 150; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "many/f%03d.safetensors", i);
		free(put_file(rel, 100 + (size_t)i, (unsigned)i + 100));
	}
	fake_civitai_clear_requests(fake);
	r = adopt("many", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(num(r, "adopted"), 150);
	ck_assert_uint_eq(count_requests("POST", "/api/v1/model-versions/by-hash", 100), 2);
	json_decref(r);

	/* a second run reads no file: every digest comes from the cache, no source is asked again */
	fake_civitai_clear_requests(fake);
	r = adopt("many", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(num(r, "cached"), 150);
	ck_assert_int_eq(num(r, "hashed"), 0);
	ck_assert_int_eq(num(r, "adopted"), 0);
	ck_assert_int_eq(num(r, "already_stored"), 150);
	ck_assert_uint_eq(count_requests("POST", "/api/v1/model-versions/by-hash", 100), 0);
	json_decref(r);
}
END_TEST

static char *growing;

static void grow_file(const char *path)
{
	if (growing && !strcmp(path, growing)) {
		int fd = open(path, O_WRONLY | O_APPEND);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "more", 4), 4);
		close(fd);
	}
}

START_TEST(a_file_changing_while_it_is_read_is_skipped_and_never_stored)
{
	char *steady = put_file("busy/steady.safetensors", 40000, 5);
	json_t *r, *list;
	char *tmp;

	growing = put_file("busy/growing.safetensors", 40000, 6);
	syn_adopt_set_read_hook(grow_file);
	r = adopt("busy", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(num(r, "adopted"), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r, "skipped")), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(json_object_get(r, "skipped"), 0),
		"reason")), "changed while it was read"));
	json_decref(r);
	ck_assert_int_eq(syn_blob_list(test_store, &list), 0);
	ck_assert_int_eq(json_array_size(list), 1);
	json_decref(list);
	/* nothing left behind in the stage */
	tmp = test_path("store/data/tmp");
	ck_assert_int_eq(test_count_named(tmp, "blob"), 0);
	free(tmp);
	syn_adopt_set_read_hook(NULL);
	free(growing);
	growing = NULL;
	free(steady);
}
END_TEST

START_TEST(hostile_names_are_reported_never_fatal)
{
	char long_name[300], rel[400];
	json_t *r, *e;
	size_t i;
	bool saw_escape = false;

	memset(long_name, 'x', 240);
	long_name[240] = '\0';
	snprintf(rel, sizeof(rel), "odd/%s.safetensors", long_name);
	free(put_file(rel, 3000, 10));
	free(put_file("odd/new\nline.safetensors", 3001, 11));
	free(put_file("odd/bad\xff\xfe.ckpt", 3002, 12));
	free(put_file("odd/surrogate\xed\xa0\x80.pt", 3005, 15));
	free(put_file("odd/..safetensors", 3003, 13));
	free(put_file("odd/-rf.pt", 3004, 14));
	r = adopt("odd", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(num(r, "adopted"), 6);
	json_array_foreach(json_object_get(r, "unrecognised"), i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_null(strchr(p, '\n'));
		saw_escape |= strstr(p, "\\xff\\xfe") != NULL || strstr(p, "\\x0a") != NULL;
	}
	ck_assert(saw_escape);
	json_decref(r);
	/* every name the pack exposes is a safe file name */
	r = pack_doc("adopted-odd", "pack.json");
	json_array_foreach(json_object_get(r, "dependencies"), i, e) {
		const char *f = json_string_value(json_object_get(json_object_get(e, "expose"), "filename"));

		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_null(strchr(f, '\n'));
		ck_assert_ptr_null(strchr(f, '/'));
	}
	ck_assert_int_eq(json_array_size(json_object_get(r, "dependencies")), 6);
	json_decref(r);
}
END_TEST

START_TEST(move_replaces_originals_by_links_to_verified_blobs)
{
	char *a = put_file("mv/a.safetensors", 30000, 20), target[4096];
	size_t len, blen;
	char *before = test_read_file(a, &len), *after;
	json_t *r;
	struct stat sb;
	ssize_t n;

	r = adopt("mv", false, SYN_ADOPT_MOVE);
	ck_assert_int_eq(num(r, "moved"), 1);
	json_decref(r);
	ck_assert_int_eq(lstat(a, &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	n = readlink(a, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_ptr_nonnull(strstr(target, "/data/blobs/sha256/"));
	after = test_read_file(a, &blen);
	ck_assert_uint_eq(len, blen);
	ck_assert_int_eq(memcmp(before, after, len), 0);
	/* a second run sees a link into the store: nothing to do */
	r = adopt("mv", false, SYN_ADOPT_MOVE);
	ck_assert_int_eq(num(r, "moved"), 0);
	ck_assert_int_eq(num(r, "adopted"), 0);
	ck_assert_int_eq(num(r, "linked_before"), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r, "skipped")), 0);
	json_decref(r);
	free(before);
	free(after);
	free(a);
}
END_TEST

START_TEST(link_makes_the_original_the_blob_and_leaves_its_mode)
{
	char *a = put_file("ln/a.safetensors", 30000, 50);
	struct syn_buf blob = SYN_BUF_INIT;
	struct stat fsb, bsb;
	json_t *r, *hit;

	ck_assert_int_eq(chmod(a, 0640), 0);
	r = adopt("ln", false, SYN_ADOPT_LINK);
	ck_assert_int_eq(num(r, "hard_linked"), 1);
	ck_assert_int_eq(num(r, "adopted"), 1);
	hit = json_array_get(json_object_get(r, "unrecognised"), 0);
	ck_assert_int_eq(syn_blob_path(test_store, json_string_value(json_object_get(hit, "sha256")), &blob), 0);
	ck_assert_int_eq(stat(a, &fsb), 0);
	ck_assert_int_eq(stat(blob.ptr, &bsb), 0);
	ck_assert(fsb.st_ino == bsb.st_ino && fsb.st_dev == bsb.st_dev);
	ck_assert_int_eq(fsb.st_mode & 07777, 0640);
	ck_assert_int_eq(syn_blob_verify(test_store, json_string_value(json_object_get(hit, "sha256"))), 0);
	json_decref(r);
	syn_buf_dispose(&blob);
	free(a);
}
END_TEST

/* The blob's inode, and whether it is the file's own. */
static bool blob_is_file(const char *file, const json_t *hit)
{
	struct syn_buf blob = SYN_BUF_INIT;
	struct stat fsb, bsb;

	ck_assert_int_eq(syn_blob_path(test_store, json_string_value(json_object_get(hit, "sha256")), &blob), 0);
	ck_assert_int_eq(stat(file, &fsb), 0);
	ck_assert_int_eq(stat(blob.ptr, &bsb), 0);
	syn_buf_dispose(&blob);
	return fsb.st_ino == bsb.st_ino && fsb.st_dev == bsb.st_dev;
}

/* Both files of one version: two dependencies, each exposing its own name with its own bytes. */
START_TEST(two_files_of_one_version_are_two_dependencies)
{
	static const long long files[2] = { 194, 5149 };
	const unsigned char *body;
	char hex[2][65], rel[64];
	json_t *r, *show = NULL, *d;
	size_t len, i, k, found = 0;

	free(put_file("two/readme.txt", 10, 9)); /* the folder */
	for (k = 0; k < 2; k++) {
		char *path;

		ck_assert(fake_civitai_file(fake, files[k], &body, &len, hex[k]));
		snprintf(rel, sizeof(rel), "two/synthwave_%lld.%s", files[k], k ? "ckpt" : "safetensors");
		path = test_path(rel);
		test_write_file(path, body, len);
		free(path);
	}
	ck_assert_str_ne(hex[0], hex[1]);
	r = adopt("two", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(json_array_size(json_object_get(r, "recognised")), 2);
	json_decref(r);
	ck_assert_int_eq(syn_pack_show(test_store, "SynthwavePunk", &show), 0);
	json_array_foreach(json_object_get(show, "dependencies"), i, d) {
		const char *sha = json_string_value(json_object_get(d, "sha256"));

		for (k = 0; sha && k < 2; k++)
			if (!strcmp(sha, hex[k]))
				found |= (size_t)1 << k;
	}
	ck_assert_msg(found == 3, "the pack does not hold both files: %zu", found);
	{
		json_t *lock = pack_doc("SynthwavePunk", "lock.json"), *e;
		const char *first = NULL;

		ck_assert_int_eq(json_array_size(json_object_get(lock, "resolved")), 2);
		json_array_foreach(json_object_get(lock, "resolved"), i, e) {
			const char *id = json_string_value(json_object_get(e, "dependency_id"));

			ck_assert_ptr_nonnull(id);
			if (first)
				ck_assert_str_ne(first, id);
			first = id;
		}
		json_decref(lock);
	}
	json_decref(show);
}
END_TEST

/* A run stopped between the local pack's two documents: the next one makes its lock again. */
START_TEST(a_local_pack_without_its_lock_is_repaired)
{
	char *a = put_file("half/a.safetensors", 20000, 73), *lock_path = test_path("store/state/packs/adopted-half/lock.json");
	json_t *r, *lock;

	json_decref(adopt("half", false, SYN_ADOPT_COPY));
	ck_assert_int_eq(unlink(lock_path), 0);
	r = adopt("half", false, SYN_ADOPT_COPY);
	json_decref(r);
	lock = pack_doc("adopted-half", "lock.json");
	ck_assert_int_eq(json_array_size(json_object_get(lock, "resolved")), 1);
	json_decref(lock);
	free(lock_path);
	free(a);
}
END_TEST

/* What a --move killed between its two steps leaves beside a file is removed by the next run. */
START_TEST(a_killed_moves_leftover_link_is_removed)
{
	char *a = put_file("left/a.safetensors", 20000, 74), *stray = test_path("left/.syn-tmp-adopt.0011223344556677");
	struct syn_buf blob = SYN_BUF_INIT;
	struct stat sb;
	json_t *r;

	r = adopt("left", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(syn_blob_path(test_store, json_string_value(json_object_get(
		json_array_get(json_object_get(r, "unrecognised"), 0), "sha256")), &blob), 0);
	json_decref(r);
	ck_assert_int_eq(symlink(blob.ptr, stray), 0);
	json_decref(adopt("left", true, SYN_ADOPT_MOVE));
	ck_assert_int_eq(lstat(stray, &sb), 0); /* a dry run changes nothing */
	json_decref(adopt("left", false, SYN_ADOPT_COPY));
	ck_assert_int_ne(lstat(stray, &sb), 0);
	ck_assert_int_eq(lstat(a, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	syn_buf_dispose(&blob);
	free(stray);
	free(a);
}
END_TEST

/* A moved file lives in the store only: deleting its pack must not let a cleanup take it. */
START_TEST(a_moved_file_survives_its_pack_and_a_cleanup)
{
	char *a = put_file("keep/a.safetensors", 30000, 75), *after;
	json_t *r, *del = NULL;
	char sha[65];
	size_t len;

	r = adopt("keep", false, SYN_ADOPT_MOVE);
	ck_assert_int_eq(num(r, "moved"), 1);
	snprintf(sha, sizeof(sha), "%s",
		 json_string_value(json_object_get(json_array_get(json_object_get(r, "unrecognised"), 0), "sha256")));
	json_decref(r);
	ck_assert_msg(syn_pack_delete(test_store, "adopted-keep", true, &del) == 0, "%s", syn_error_last());
	json_decref(del);

	r = NULL;
	ck_assert_int_ne(syn_inventory_cleanup(test_store, true, 0, &r), 0);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "adopt --move"));
	json_decref(r);
	ck_assert(syn_blob_exists(test_store, sha));
	r = NULL;
	ck_assert_int_eq(syn_inventory_delete(test_store, sha, SYN_INVENTORY_LOCAL, false, &r), SYN_EGUARD);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "keep/a.safetensors"));
	json_decref(r);
	after = test_read_file(a, &len);
	ck_assert_uint_eq(len, 30000);
	free(after);
	free(a);
}
END_TEST

START_TEST(copy_keeps_bytes_apart)
{
	char *b = put_file("own/b.safetensors", 30000, 52);
	json_t *r;

	r = adopt("own", false, SYN_ADOPT_COPY);
	ck_assert_str_eq(json_string_value(json_object_get(r, "mode")), "copy");
	ck_assert_int_eq(num(r, "hard_linked"), 0);
	ck_assert(!blob_is_file(b, json_array_get(json_object_get(r, "unrecognised"), 0)));
	json_decref(r);
	free(b);
}
END_TEST

/* Civitai down: nothing can be packed, so nothing may lose its original. */
START_TEST(move_leaves_originals_no_pack_holds)
{
	char *a = put_file("down/a.safetensors", 30000, 70);
	struct stat sb;
	json_t *r;

	fake_civitai_fault(fake, "/api/v1/model-versions/by-hash", FAKE_FAULT_STATUS, 500, 0, -1);
	r = adopt("down", false, SYN_ADOPT_MOVE);
	ck_assert_int_eq(num(r, "moved"), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "packs")), 0);
	ck_assert_int_gt(json_array_size(json_object_get(r, "warnings")), 0);
	json_decref(r);
	ck_assert_int_eq(lstat(a, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	free(a);
}
END_TEST

/* A file changed in place with its size and times kept: move reads it again, never trusting the cache. */
START_TEST(move_reads_the_original_whatever_the_cache_says)
{
	char *a = put_file("edit/a.safetensors", 30000, 71), *after;
	struct timespec keep[2];
	struct stat sb;
	size_t len;
	json_t *r;
	FILE *f;

	json_decref(adopt("edit", false, SYN_ADOPT_COPY));
	ck_assert_int_eq(stat(a, &sb), 0);
	keep[0] = sb.st_atim;
	keep[1] = sb.st_mtim;
	f = fopen(a, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs("EDITED", f) >= 0, 1);
	fclose(f);
	ck_assert_int_eq(utimensat(AT_FDCWD, a, keep, 0), 0);

	r = adopt("edit", false, SYN_ADOPT_MOVE);
	ck_assert_int_eq(num(r, "cached"), 0);
	ck_assert_int_eq(num(r, "moved"), 1);
	json_decref(r);
	after = test_read_file(a, &len);
	ck_assert_uint_eq(len, 30000);
	ck_assert_int_eq(memcmp(after, "EDITED", 6), 0);
	free(after);
	free(a);
}
END_TEST

/* A moved file whose pack was deleted is packed again by the next run, not left to a cleanup. */
START_TEST(a_link_into_the_store_no_pack_holds_is_packed_again)
{
	char *a = put_file("again/a.safetensors", 30000, 72);
	json_t *r, *del = NULL, *refs;
	const char *sha;

	r = adopt("again", false, SYN_ADOPT_MOVE);
	ck_assert_int_eq(num(r, "moved"), 1);
	json_decref(r);
	ck_assert_msg(syn_pack_delete(test_store, "adopted-again", true, &del) == 0, "%s", syn_error_last());
	json_decref(del);

	r = adopt("again", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(num(r, "linked_before"), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r, "unrecognised")), 1);
	sha = json_string_value(json_object_get(json_array_get(json_object_get(r, "unrecognised"), 0), "sha256"));
	ck_assert_ptr_nonnull(sha);
	refs = pack_doc("adopted-again", "lock.json");
	{
		char *text = json_dumps(refs, 0);

		ck_assert_ptr_nonnull(strstr(text, sha));
		free(text);
	}
	json_decref(refs);
	json_decref(r);
	free(a);
}
END_TEST

START_TEST(a_uis_folders_give_kinds_and_one_pack)
{
	struct syn_adopt_options o = { 0 };
	char *config = test_path("store/state/config.json"), *root = test_path("Comfy"), *store = test_path("store");
	json_t *doc, *r, *pack, *dep;
	const char *kinds[2] = { NULL, NULL };
	size_t i;

	free(put_file("Comfy/models/loras/style.safetensors", 4000, 60));
	free(put_file("Comfy/models/checkpoints/base.safetensors", 5000, 61));
	free(put_file("Comfy/custom_nodes/ignored.safetensors", 5000, 62));
	syn_store_free(test_store);
	doc = json_load_file(config, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	json_object_set_new(json_object_get(json_object_get(doc, "ui"), "roots"), "comfyui", json_string(root));
	ck_assert_int_eq(json_dump_file(doc, config, JSON_INDENT(2)), 0);
	json_decref(doc);
	ck_assert_int_eq(syn_store_open(&test_store, test_reg, store), 0);

	o.ui = "comfyui";
	ck_assert_msg(syn_adopt(test_store, &o, &r) == 0, "adopt: %s", syn_error_last());
	ck_assert_int_eq(num(r, "adopted"), 2); /* only the UI's model folders */
	ck_assert_int_eq(json_array_size(json_object_get(r, "packs")), 1);
	json_decref(r);
	pack = pack_doc("adopted-comfyui", "pack.json");
	json_array_foreach(json_object_get(pack, "dependencies"), i, dep)
		kinds[i < 2 ? i : 1] = json_string_value(json_object_get(dep, "kind"));
	ck_assert_uint_eq(json_array_size(json_object_get(pack, "dependencies")), 2);
	ck_assert(!strcmp(kinds[0], "checkpoint") || !strcmp(kinds[1], "checkpoint"));
	ck_assert(!strcmp(kinds[0], "lora") || !strcmp(kinds[1], "lora"));
	json_decref(pack);

	o.ui = "no-such-ui";
	ck_assert_int_eq(syn_adopt(test_store, &o, &r), SYN_EUSAGE);
	free(config);
	free(root);
	free(store);
}
END_TEST

START_TEST(dry_run_changes_nothing)
{
	char *a = put_file("dry/a.safetensors", 20000, 30);
	json_t *r, *list;
	char *packs;

	free(put_file("dry/b.safetensors", 20000, 30));
	r = adopt("dry", true, SYN_ADOPT_MOVE);
	ck_assert(json_is_true(json_object_get(r, "dry_run")));
	ck_assert_int_eq(num(r, "adopted"), 1);
	ck_assert_int_eq(num(r, "moved"), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "duplicates")), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r, "packs")), 0);
	json_decref(r);
	ck_assert_int_eq(syn_blob_list(test_store, &list), 0);
	ck_assert_int_eq(json_array_size(list), 0);
	json_decref(list);
	packs = test_path("store/state/packs/adopted-dry");
	ck_assert(!test_exists(packs));
	free(packs);
	{
		struct stat sb;

		ck_assert_int_eq(lstat(a, &sb), 0);
		ck_assert(S_ISREG(sb.st_mode));
	}
	free(a);
}
END_TEST

/* kill -9 at some instant of a run: whatever it had stored is whole, and a second run finishes the work */
START_TEST(killed_midway_leaves_only_whole_blobs)
{
	const char *args[] = { "adopt", NULL, "--json", NULL };
	char *dir = test_path("big"), *out = test_path("out.txt"), *err = test_path("err.txt");
	struct timespec pause = { 0, 30 * 1000 * 1000 };
	json_t *list, *r;
	size_t i;
	int status;
	pid_t pid;

	for (i = 0; i < 40; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "big/f%02zu.safetensors", i);
		free(put_file(rel, 512 * 1024, (unsigned)i + 300));
	}
	syn_store_free(test_store);
	test_store = NULL;
	args[1] = dir;
	pid = test_cli_spawn(args, env, out, err);
	nanosleep(&pause, NULL);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	{
		char *root = test_path("store");

		ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
		free(root);
	}
	ck_assert_int_eq(syn_blob_list(test_store, &list), 0);
	for (i = 0; i < json_array_size(list); i++)
		ck_assert_int_eq(syn_blob_verify(test_store, json_string_value(json_array_get(list, i))), 0);
	json_decref(list);
	r = adopt("big", false, SYN_ADOPT_COPY);
	ck_assert_int_eq(json_array_size(json_object_get(r, "skipped")), 0);
	ck_assert_int_eq(num(r, "adopted") + num(r, "already_stored"), 40);
	json_decref(r);
	r = pack_doc("adopted-big", "pack.json");
	ck_assert_int_eq(json_array_size(json_object_get(r, "dependencies")), 40);
	json_decref(r);
	ck_assert_int_eq(syn_blob_list(test_store, &list), 0);
	ck_assert_uint_eq(json_array_size(list), 40);
	json_decref(list);
	free(dir);
	free(out);
	free(err);
}
END_TEST

START_TEST(the_cli_adopts_and_prints_one_json_document)
{
	struct test_run r;
	json_t *doc;

	free(put_file("cli/one.safetensors", 5000, 40));
	free(put_file("cli/two.safetensors", 5000, 40));
	syn_store_free(test_store);
	test_store = NULL;
	{
		char *dir = test_path("cli");

		r = RUN("adopt", dir, "--json");
		free(dir);
	}
	ck_assert_msg(r.status == 0, "adopt failed: %s", r.err);
	doc = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(num(doc, "adopted"), 1);
	ck_assert_int_eq(num(doc, "wasted_bytes"), 5000);
	json_decref(doc);
	test_run_free(&r);

	r = RUN("adopt", "--help");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "--move"));
	test_run_free(&r);
	r = RUN("adopt", "--copy", "--move", "x");
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
	/* after "--" a folder may start with a dash */
	r = RUN("adopt", "-dash-folder");
	ck_assert_int_eq(r.status, 2);
	test_run_free(&r);
	r = RUN("adopt", "--dry-run", "--", "-dash-folder");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "-dash-folder"));
	ck_assert_ptr_null(strstr(r.err, "unknown option"));
	test_run_free(&r);
	{
		char *missing = test_path("no-such-folder");

		r = RUN("adopt", missing);
		free(missing);
	}
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "no-such-folder"));
	test_run_free(&r);
	{
		char *root = test_path("store");

		ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
		free(root);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_adopt");

	TEST(s, duplicates_are_stored_once_and_unknown_files_make_a_local_pack, setup, teardown);
	TEST(s, a_recognised_file_makes_the_pack_import_makes_already_installed, setup, teardown);
	TEST(s, digests_are_asked_for_a_hundred_at_a_time, setup, teardown);
	TEST(s, a_file_changing_while_it_is_read_is_skipped_and_never_stored, setup, teardown);
	TEST(s, hostile_names_are_reported_never_fatal, setup, teardown);
	TEST(s, move_replaces_originals_by_links_to_verified_blobs, setup, teardown);
	TEST(s, link_makes_the_original_the_blob_and_leaves_its_mode, setup, teardown);
	TEST(s, copy_keeps_bytes_apart, setup, teardown);
	TEST(s, a_moved_file_survives_its_pack_and_a_cleanup, setup, teardown);
	TEST(s, a_killed_moves_leftover_link_is_removed, setup, teardown);
	TEST(s, a_local_pack_without_its_lock_is_repaired, setup, teardown);
	TEST(s, two_files_of_one_version_are_two_dependencies, setup, teardown);
	TEST(s, move_leaves_originals_no_pack_holds, setup, teardown);
	TEST(s, move_reads_the_original_whatever_the_cache_says, setup, teardown);
	TEST(s, a_link_into_the_store_no_pack_holds_is_packed_again, setup, teardown);
	TEST(s, a_uis_folders_give_kinds_and_one_pack, setup, teardown);
	TEST(s, dry_run_changes_nothing, setup, teardown);
	TEST(s, killed_midway_leaves_only_whole_blobs, setup, teardown);
	TEST(s, the_cli_adopts_and_prints_one_json_document, setup, teardown);
	return test_main(s);
}
