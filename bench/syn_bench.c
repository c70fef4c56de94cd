/*
 * syn-bench: drives single core operations for bench/run.sh, so their wall
 * time can be compared with a reference tool on the same file in the same run.
 *
 *   syn-bench insert <store-root> <file>   insert a file as a blob (fsync'ed)
 *   syn-bench verify <store-root> <sha256> re-hash a stored blob
 *   syn-bench remove <store-root> <sha256> remove a blob (between runs)
 *   syn-bench mkpacks <store-root> <packs> <files-per-pack>
 *                                          make a store of local packs (all in global)
 *   syn-bench viewbuild <store-root> <dir> build comfyui's global view, and a bare
 *                                          loop making as many symlinks under <dir>;
 *                                          prints both times in seconds
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <synapse/synapse.h>

static int open_store(struct syn_registry **reg, struct syn_store **st, const char *root)
{
	json_t *report = NULL;

	if (syn_global_init() || syn_registry_new(reg) || syn_registry_load_default(*reg) ||
	    syn_store_open(st, *reg, root))
		return -1;
	if (!syn_store_is_initialized(*st) && syn_store_init(*st, false, &report))
		return -1;
	json_decref(report);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* @packs packs of @files LoRA files each, every file a distinct small blob. Views are not built. */
static int mkpacks(struct syn_store *st, long packs, long files)
{
	int fd = syn_store_state_fd(st), rc = 0;
	json_t *global = json_pack("{s:s, s:s, s:{s:s}, s:[]}", "schema", SYN_SCHEMA_PROFILE, "name", "global",
				   "conflicts", "mode", "last_wins", "packs");
	long p, f;

	for (p = 0; !rc && p < packs; p++) {
		json_t *deps = json_array(), *resolved = json_array(), *pack, *lock;
		char name[64], rel[128];

		snprintf(name, sizeof(name), "Pack%05ld", p);
		for (f = 0; !rc && f < files; f++) {
			char fname[64], id[32], sha[SYN_SHA256_HEX_LEN + 1], body[160];
			struct syn_blob_writer *w;

			snprintf(fname, sizeof(fname), "p%05ld_f%03ld.safetensors", p, f);
			snprintf(id, sizeof(id), "file_%ld", f);
			snprintf(body, sizeof(body), "%s:%s", name, fname);
			rc = syn_blob_writer_open(&w, st, NULL);
			if (!rc)
				rc = syn_blob_writer_write(w, body, strlen(body));
			if (!rc)
				rc = syn_blob_writer_commit(w, sha);
			json_array_append_new(deps, json_pack("{s:s, s:s, s:b, s:{s:s, s:[]}, s:{s:s}, s:{s:s}}", "id", id,
				"kind", "lora", "required", 1, "expose", "filename", fname, "trigger_words", "selector",
				"strategy", "url_download", "update_policy", "mode", "pinned"));
			json_array_append_new(resolved, json_pack("{s:s, s:{s:s, s:s, s:i, s:{s:s}, s:{s:[]}, s:{s:b}}}",
				"dependency_id", id, "artifact", "kind", "lora", "sha256", sha, "size_bytes",
				(json_int_t)strlen(body), "provider", "name", "url", "download", "urls", "integrity",
				"sha256_verified", 1));
		}
		pack = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "schema", "synapse.pack.v2", "name", name,
				 "pack_type", "lora", "source", "provider", "local", "dependencies", deps);
		lock = json_pack("{s:s, s:s, s:o, s:[]}", "schema", "synapse.lock.v2", "pack", name, "resolved",
				 resolved, "unresolved");
		snprintf(rel, sizeof(rel), "packs/%s/pack.json", name);
		if (!rc)
			rc = syn_doc_write(fd, rel, pack);
		snprintf(rel, sizeof(rel), "packs/%s/lock.json", name);
		if (!rc)
			rc = syn_doc_write(fd, rel, lock);
		json_array_append_new(json_object_get(global, "packs"), json_pack("{s:s}", "name", name));
		json_decref(pack);
		json_decref(lock);
	}
	if (!rc)
		rc = syn_doc_write(fd, "profiles/global/profile.json", global);
	json_decref(global);
	return rc;
}

/*
 * Time a build of comfyui's global view (planning included; the store's views
 * are the empty ones of `store init`), then a bare loop making as many symlinks.
 */
static int viewbuild(struct syn_store *st, const char *dir)
{
	json_t *report = NULL;
	double t0, t_build, t_loop;
	json_int_t n, i;
	int rc, dfd;

	rc = syn_store_lock(st, "bench");
	if (rc)
		return rc;
	t0 = now();
	rc = syn_view_build(st, "comfyui", "global", true, &report);
	t_build = now() - t0;
	syn_store_unlock(st);
	if (rc)
		return rc;
	n = json_integer_value(json_object_get(report, "entries"));
	json_decref(report);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return syn_error_set_errno(SYN_EIO, errno, "cannot create '%s'", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", dir);
	t0 = now();
	for (i = 0; i < n; i++) {
		char name[32], target[128];

		snprintf(name, sizeof(name), "l%lld", (long long)i);
		snprintf(target, sizeof(target), "../../../../../../blobs/sha256/ab/%064lld", (long long)i);
		if (symlinkat(target, dfd, name) < 0) {
			close(dfd);
			return syn_error_set_errno(SYN_EIO, errno, "symlink");
		}
	}
	t_loop = now() - t0;
	close(dfd);
	printf("%lld %.6f %.6f\n", (long long)n, t_build, t_loop);
	return 0;
}

int main(int argc, char **argv)
{
	struct syn_registry *reg = NULL;
	struct syn_store *st = NULL;
	char sha[SYN_SHA256_HEX_LEN + 1];
	int rc = -1;

	if (argc < 4) {
		fprintf(stderr, "usage: syn-bench insert|verify|remove|viewbuild <store-root> <arg>, "
			"or mkpacks <store-root> <packs> <files>\n");
		return 2;
	}
	if (open_store(&reg, &st, argv[2]))
		goto out;
	if (!strcmp(argv[1], "insert")) {
		rc = syn_blob_insert_file(st, argv[3], NULL, sha);
		if (!rc)
			printf("%s\n", sha);
	} else if (!strcmp(argv[1], "verify")) {
		rc = syn_blob_verify(st, argv[3]);
	} else if (!strcmp(argv[1], "mkpacks") && argc == 5) {
		rc = mkpacks(st, strtol(argv[3], NULL, 10), strtol(argv[4], NULL, 10));
	} else if (!strcmp(argv[1], "viewbuild")) {
		rc = viewbuild(st, argv[3]);
	} else if (!strcmp(argv[1], "remove")) {
		rc = syn_blob_remove(st, argv[3]);
		if (rc == SYN_ENOTFOUND)
			rc = 0;
	} else {
		fprintf(stderr, "syn-bench: unknown operation '%s'\n", argv[1]);
		rc = 2;
	}
out:
	if (rc)
		fprintf(stderr, "syn-bench: %s\n", syn_error_last());
	syn_store_free(st);
	syn_registry_free(reg);
	return rc ? 1 : 0;
}
