/*
 * Hand-made packs for view and profile tests: blobs inserted locally, pack.json
 * and lock.json written as an import would, no network.
 */
#ifndef SYNAPSE_TEST_PACKS_H
#define SYNAPSE_TEST_PACKS_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

/* The content of pack @pack's file @file: "<pack>:<file>". */
static inline void blob_of(char sha[65], const char *pack, const char *file)
{
	char content[512];

	snprintf(content, sizeof(content), "%s:%s", pack, file);
	ck_assert_int_eq(syn_sha256_mem(sha, content, strlen(content)), 0);
}

static inline void insert_blob_for(const char *pack, const char *file)
{
	char content[512], sha[65], got[65];
	char *path = test_path("blob.tmp");

	snprintf(content, sizeof(content), "%s:%s", pack, file);
	blob_of(sha, pack, file);
	test_write_file(path, content, strlen(content));
	ck_assert_int_eq(syn_blob_insert_file(test_store, path, sha, got), 0);
	free(path);
}

/* Build the views of every UI's active profile, as import/install do. */
static inline int refresh_views(void)
{
	static const char *const uis[] = { "comfyui", "forge", "a1111", "sdnext" };
	json_t *status = NULL, *report = NULL;
	size_t i;
	int rc = syn_store_status(test_store, "all", &status);

	for (i = 0; !rc && i < 4; i++) {
		const char *p = json_string_value(json_object_get(json_object_get(status, "active"), uis[i]));

		rc = syn_view_build(test_store, uis[i], p ? p : "global", false, &report);
		json_decref(report);
		report = NULL;
	}
	json_decref(status);
	return rc;
}
#define syn__test_refresh refresh_views

/*
 * A pack @name of @kind with one dependency per file in @files (NULL
 * terminated), resolved in its lock; blobs inserted when @installed. Added
 * to the global profile; the views are left as they are.
 */
static inline void write_pack_docs(const char *name, const char *kind, const char *const *files, bool installed)
{
	json_t *deps = json_array(), *resolved = json_array(), *pack, *lock, *global;
	int fd = syn_store_state_fd(test_store);
	char rel[512];
	size_t i;

	for (i = 0; files[i]; i++) {
		char id[32], sha[65];

		snprintf(id, sizeof(id), "file_%zu", i);
		blob_of(sha, name, files[i]);
		if (installed)
			insert_blob_for(name, files[i]);
		json_array_append_new(deps, json_pack("{s:s, s:s, s:b, s:{s:s, s:[]}, s:{s:s}, s:{s:s}}", "id", id,
			"kind", kind, "required", 1, "expose", "filename", files[i], "trigger_words", "selector",
			"strategy", "url_download", "update_policy", "mode", "pinned"));
		json_array_append_new(resolved, json_pack("{s:s, s:{s:s, s:s, s:i, s:{s:s}, s:{s:[]}, s:{s:b}}}",
			"dependency_id", id, "artifact", "kind", kind, "sha256", sha, "size_bytes", 10, "provider",
			"name", "url", "download", "urls", "integrity", "sha256_verified", 1));
	}
	pack = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "schema", "synapse.pack.v2", "name", name, "pack_type", kind,
			 "source", "provider", "local", "dependencies", deps);
	lock = json_pack("{s:s, s:s, s:o, s:[]}", "schema", "synapse.lock.v2", "pack", name, "resolved", resolved,
			 "unresolved");
	snprintf(rel, sizeof(rel), "packs/%s/pack.json", name);
	ck_assert_int_eq(syn_doc_write(fd, rel, pack), 0);
	snprintf(rel, sizeof(rel), "packs/%s/lock.json", name);
	ck_assert_int_eq(syn_doc_write(fd, rel, lock), 0);
	ck_assert_int_eq(syn_profile_show(test_store, "global", &global), 0);
	json_array_append_new(json_object_get(global, "packs"), json_pack("{s:s}", "name", name));
	ck_assert_int_eq(syn_doc_write(fd, "profiles/global/profile.json", global), 0);
	json_decref(global);
	json_decref(pack);
	json_decref(lock);
}

/* write_pack_docs(), then the views refreshed as import does. */
static inline void make_pack(const char *name, const char *kind, const char *const *files, bool installed)
{
	write_pack_docs(name, kind, files, installed);
	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_msg(refresh_views() == 0, "%s", syn_error_last());
	syn_store_unlock(test_store);
}

static int dangling_links;

static inline int check_link(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	struct stat target;

	(void)sb;
	(void)ftw;
	if (flag == FTW_SL && stat(path, &target) != 0)
		dangling_links++;
	return 0;
}

/* Symlinks under data/views that lead nowhere. */
static inline int count_dangling(void)
{
	char *views = test_path("store/data/views");

	dangling_links = 0;
	nftw(views, check_link, 32, FTW_PHYS);
	free(views);
	return dangling_links;
}

#endif
