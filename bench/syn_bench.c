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
 *   syn-bench scalepacks <store-root> <packs> <template-pack-dir> [<template-pack-dir> ...]
 *                                          write <packs> packs shaped exactly like the
 *                                          templates (packs a real `synapse import`
 *                                          wrote: pack.json, lock.json, previews), the
 *                                          i-th from template i % count, with fresh
 *                                          names, Civitai ids, file names and blobs
 *                                          (inserted, with manifests), list them in the
 *                                          global profile and commit state/ once
 *   syn-bench symlinks <dir> <n>           the bare loop alone: <n> symlinks in a new
 *                                          <dir> (for timing as a whole process)
 *   syn-bench lookfloor <store-root>       what a read-only command that takes no
 *                                          record on trust unchecked must at least look
 *                                          at, as a bare loop on one thread: the
 *                                          metadata of every pack's pack.json and
 *                                          lock.json and of every blob folder
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <synapse/synapse.h>
#include <synapse/state.h>

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

/* ---- scalepacks ------------------------------------------------------------ */

#define SCALE_MAX_FILES 8
#define SCALE_MAX_PREVIEWS 8
#define SCALE_BLOB_BYTES 1024

/* A pack a real import wrote, read back as the model for generated ones. */
struct scale_template {
	char name[128];
	json_t *pack, *lock;
	long long model_id;
	size_t nfiles, npreviews;
	struct {
		long long vid, fid;
		char filename[256], dep_id[128], sha[SYN_SHA256_HEX_LEN + 1];
	} f[SCALE_MAX_FILES];
	struct {
		char name[256];
		unsigned char *bytes;
		size_t len;
	} pv[SCALE_MAX_PREVIEWS];
};

/* What changes from a template to the i-th pack: whole strings, string tails, ids. */
struct scale_subst {
	struct { char from[320], to[320]; } exact[4 * SCALE_MAX_FILES + 2], tail[SCALE_MAX_FILES + 1];
	size_t nexact, ntail, nids;
	long long old_mid, new_mid;
	long long old_vid[SCALE_MAX_FILES], new_vid[SCALE_MAX_FILES];
	long long old_fid[SCALE_MAX_FILES], new_fid[SCALE_MAX_FILES];
};

static void subst_exact(struct scale_subst *sb, const char *from, const char *to)
{
	if (strcmp(from, to)) {
		snprintf(sb->exact[sb->nexact].from, sizeof(sb->exact[0].from), "%s", from);
		snprintf(sb->exact[sb->nexact].to, sizeof(sb->exact[0].to), "%s", to);
		sb->nexact++;
	}
}

static void autov2(char out[11], const char *sha)
{
	size_t i;

	for (i = 0; i < 10; i++)
		out[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 'a' + 'A' : sha[i]);
	out[10] = '\0';
}

static void rewrite(json_t *v, const struct scale_subst *sb);

static void rewrite_value(json_t *child, const char *key, const struct scale_subst *sb)
{
	size_t i;

	if (json_is_integer(child)) {
		json_int_t x = json_integer_value(child);

		if (!strcmp(key, "model_id") && x == sb->old_mid)
			json_integer_set(child, sb->new_mid);
		for (i = 0; i < sb->nids; i++) {
			if (!strcmp(key, "version_id") && x == sb->old_vid[i])
				json_integer_set(child, sb->new_vid[i]);
			else if (!strcmp(key, "file_id") && x == sb->old_fid[i])
				json_integer_set(child, sb->new_fid[i]);
		}
	} else if (json_is_string(child)) {
		const char *s = json_string_value(child);
		size_t len = strlen(s);
		char buf[1024];

		for (i = 0; i < sb->nexact; i++) {
			if (!strcmp(s, sb->exact[i].from)) {
				json_string_set(child, sb->exact[i].to);
				return;
			}
		}
		for (i = 0; i < sb->ntail; i++) {
			size_t fl = strlen(sb->tail[i].from);

			if (len >= fl && len - fl + strlen(sb->tail[i].to) < sizeof(buf) &&
			    !strcmp(s + len - fl, sb->tail[i].from)) {
				snprintf(buf, sizeof(buf), "%.*s%s", (int)(len - fl), s, sb->tail[i].to);
				json_string_set(child, buf);
				return;
			}
		}
	} else {
		rewrite(child, sb);
	}
}

static void rewrite(json_t *v, const struct scale_subst *sb)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child)
			rewrite_value(child, key, sb);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			rewrite_value(child, "", sb);
	}
}

static int read_file_bytes(int dfd, const char *name, unsigned char **out, size_t *len)
{
	struct stat sb;
	ssize_t got;
	int fd = openat(dfd, name, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return syn_error_set_errno(SYN_EIO, errno, "cannot read '%s'", name);
	}
	*len = (size_t)sb.st_size;
	*out = malloc(*len ? *len : 1);
	got = *out ? read(fd, *out, *len) : -1;
	close(fd);
	if (got < 0 || (size_t)got != *len)
		return syn_error_set(SYN_EIO, "cannot read '%s'", name);
	return 0;
}

static int template_load(struct scale_template *t, const char *dir)
{
	json_t *e, *previews;
	size_t i;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), rc;

	memset(t, 0, sizeof(*t));
	if (dfd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open template '%s'", dir);
	rc = syn_doc_read(&t->pack, dfd, "pack.json", "pack.json");
	if (!rc)
		rc = syn_doc_read(&t->lock, dfd, "lock.json", "lock.json");
	if (rc)
		goto out;
	snprintf(t->name, sizeof(t->name), "%s", syn_doc_str(t->pack, "name", ""));
	t->model_id = json_integer_value(json_object_get(json_object_get(t->pack, "source"), "model_id"));
	json_array_foreach(json_object_get(t->lock, "resolved"), i, e) {
		json_t *art = json_object_get(e, "artifact"), *prov = json_object_get(art, "provider");

		if (t->nfiles == SCALE_MAX_FILES) {
			rc = syn_error_set(SYN_EINVALID, "template '%s' has too many files", dir);
			goto out;
		}
		t->f[t->nfiles].vid = json_integer_value(json_object_get(prov, "version_id"));
		t->f[t->nfiles].fid = json_integer_value(json_object_get(prov, "file_id"));
		snprintf(t->f[t->nfiles].filename, sizeof(t->f[0].filename), "%s", syn_doc_str(prov, "filename", ""));
		snprintf(t->f[t->nfiles].dep_id, sizeof(t->f[0].dep_id), "%s", syn_doc_str(e, "dependency_id", ""));
		snprintf(t->f[t->nfiles].sha, sizeof(t->f[0].sha), "%s", syn_doc_str(art, "sha256", ""));
		t->nfiles++;
	}
	if (!t->nfiles || !t->name[0]) {
		rc = syn_error_set(SYN_EINVALID, "template '%s' is not an imported pack with files", dir);
		goto out;
	}
	previews = json_object_get(t->pack, "previews");
	json_array_foreach(previews, i, e) {
		char rel[320];

		if (t->npreviews == SCALE_MAX_PREVIEWS)
			break;
		snprintf(t->pv[t->npreviews].name, sizeof(t->pv[0].name), "%s", syn_doc_str(e, "filename", ""));
		snprintf(rel, sizeof(rel), "resources/previews/%s", t->pv[t->npreviews].name);
		rc = read_file_bytes(dfd, rel, &t->pv[t->npreviews].bytes, &t->pv[t->npreviews].len);
		if (rc)
			goto out;
		t->npreviews++;
	}
out:
	close(dfd);
	return rc;
}

static void template_free(struct scale_template *t)
{
	size_t i;

	json_decref(t->pack);
	json_decref(t->lock);
	for (i = 0; i < t->npreviews; i++)
		free(t->pv[i].bytes);
}

static int write_bytes_at(int dfd, const char *rel, const unsigned char *bytes, size_t len)
{
	int fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool ok = fd >= 0 && write(fd, bytes, len) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : syn_error_set_errno(SYN_EIO, errno, "cannot write '%s'", rel);
}

/* The i-th generated pack from template @t: blobs first (their digests go in the documents). */
static int scale_one(struct syn_store *st, const struct scale_template *t, long i, const char *stamp,
		     json_t *global)
{
	int fd = syn_store_state_fd(st), rc = 0;
	struct scale_subst *sb = calloc(1, sizeof(*sb));
	char name[160], rel[512], a_old[11], a_new[11];
	json_t *pack = NULL, *lock = NULL, *e;
	size_t k;

	if (!sb)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	snprintf(name, sizeof(name), "%s_%05ld", t->name, i);
	sb->old_mid = t->model_id;
	sb->new_mid = 1000000 + i;
	subst_exact(sb, t->name, name);
	snprintf(sb->tail[sb->ntail].from, sizeof(sb->tail[0].from), "/models/%lld", t->model_id);
	snprintf(sb->tail[sb->ntail].to, sizeof(sb->tail[0].to), "/models/%lld", sb->new_mid);
	sb->ntail++;
	for (k = 0; !rc && k < t->nfiles; k++) {
		char fname[300], dep[160], sha[SYN_SHA256_HEX_LEN + 1], body[SCALE_BLOB_BYTES], from[64], to[64];
		const char *dot = strrchr(t->f[k].filename, '.');
		struct syn_blob_writer *w;
		int n;

		sb->old_vid[k] = t->f[k].vid;
		sb->new_vid[k] = sb->new_mid * 10 + (long long)k;
		sb->old_fid[k] = t->f[k].fid;
		sb->new_fid[k] = sb->new_vid[k] * 10 + 1;
		sb->nids++;
		if (!dot)
			dot = t->f[k].filename + strlen(t->f[k].filename);
		snprintf(fname, sizeof(fname), "%.*s_%05ld%s", (int)(dot - t->f[k].filename), t->f[k].filename, i, dot);
		/* a version's dependency id names the version ("v<id>_<name>_<kind>") */
		snprintf(from, sizeof(from), "v%lld_", t->f[k].vid);
		snprintf(to, sizeof(to), "v%lld_", sb->new_vid[k]);
		if (!strncmp(t->f[k].dep_id, from, strlen(from)))
			snprintf(dep, sizeof(dep), "%s%s", to, t->f[k].dep_id + strlen(from));
		else
			snprintf(dep, sizeof(dep), "%s", t->f[k].dep_id);
		n = snprintf(body, sizeof(body), "synapse scale benchmark blob: pack %s, file %s\n", name, fname);
		memset(body + n, '.', sizeof(body) - (size_t)n - 1);
		body[sizeof(body) - 1] = '\n';
		rc = syn_blob_writer_open(&w, st, NULL);
		if (!rc)
			rc = syn_blob_writer_write(w, body, sizeof(body));
		if (!rc)
			rc = syn_blob_writer_commit(w, sha);
		if (rc)
			break;
		subst_exact(sb, t->f[k].filename, fname);
		subst_exact(sb, t->f[k].sha, sha);
		autov2(a_old, t->f[k].sha);
		autov2(a_new, sha);
		subst_exact(sb, a_old, a_new);
		subst_exact(sb, t->f[k].dep_id, dep);
		snprintf(from, sizeof(from), "civitai: %lld @ %lld", t->model_id, t->f[k].vid);
		snprintf(to, sizeof(to), "civitai: %lld @ %lld", sb->new_mid, sb->new_vid[k]);
		subst_exact(sb, from, to);
		snprintf(sb->tail[sb->ntail].from, sizeof(sb->tail[0].from), "/api/download/models/%lld", t->f[k].vid);
		snprintf(sb->tail[sb->ntail].to, sizeof(sb->tail[0].to), "/api/download/models/%lld", sb->new_vid[k]);
		sb->ntail++;
	}
	if (!rc) {
		pack = json_deep_copy(t->pack);
		lock = json_deep_copy(t->lock);
		if (!pack || !lock)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (!rc) {
		rewrite(pack, sb);
		rewrite(lock, sb);
		/* every blob gets the manifest install writes beside it */
		json_array_foreach(json_object_get(lock, "resolved"), k, e) {
			json_t *art = json_object_get(e, "artifact"), *prov = json_object_get(art, "provider"), *meta;

			if (json_object_set_new(art, "size_bytes", json_integer(SCALE_BLOB_BYTES))) {
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
				break;
			}
			meta = json_pack("{s:s, s:O, s:{s:O, s:O, s:O, s:O, s:O, s:O}, s:O, s:i}", "created_at", stamp,
				"kind", json_object_get(art, "kind"), "origin", "file_id", json_object_get(prov, "file_id"),
				"filename", json_object_get(prov, "filename"), "model_id", json_object_get(prov, "model_id"),
				"provider", json_object_get(prov, "name"), "repo_id", json_object_get(prov, "repo_id"),
				"version_id", json_object_get(prov, "version_id"), "original_filename",
				json_object_get(prov, "filename"), "version", 1);
			rc = meta ? syn_blob_meta_write(st, syn_doc_str(art, "sha256", ""), meta)
				  : syn_error_set(SYN_ENOMEM, "cannot build a manifest for %s", name);
			json_decref(meta);
			if (rc)
				break;
		}
	}
	snprintf(rel, sizeof(rel), "packs/%s/pack.json", name);
	if (!rc)
		rc = syn_doc_write(fd, rel, pack);
	snprintf(rel, sizeof(rel), "packs/%s/lock.json", name);
	if (!rc)
		rc = syn_doc_write(fd, rel, lock);
	if (!rc && t->npreviews) {
		snprintf(rel, sizeof(rel), "packs/%s/resources", name);
		if (mkdirat(fd, rel, 0755) < 0 && errno != EEXIST)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot create '%s'", rel);
		snprintf(rel, sizeof(rel), "packs/%s/resources/previews", name);
		if (!rc && mkdirat(fd, rel, 0755) < 0 && errno != EEXIST)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot create '%s'", rel);
		for (k = 0; !rc && k < t->npreviews; k++) {
			snprintf(rel, sizeof(rel), "packs/%s/resources/previews/%s", name, t->pv[k].name);
			rc = write_bytes_at(fd, rel, t->pv[k].bytes, t->pv[k].len);
		}
	}
	if (!rc)
		rc = json_array_append_new(json_object_get(global, "packs"), json_pack("{s:s}", "name", name))
			     ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
	json_decref(pack);
	json_decref(lock);
	free(sb);
	return rc;
}

/* `scalepacks`: @count packs from the @ntemplates templates in turn, listed in global, one commit. */
static int scalepacks(struct syn_store *st, long count, char **templates, int ntemplates)
{
	struct scale_template *t = calloc((size_t)ntemplates, sizeof(*t));
	int fd = syn_store_state_fd(st), rc = 0, j, loaded = 0;
	json_t *global = NULL;
	char stamp[64], msg[96];
	struct timespec ts;
	struct tm tm;
	long i;

	if (!t)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%06ld", ts.tv_nsec / 1000);
	for (j = 0; !rc && j < ntemplates; j++, loaded++)
		rc = template_load(&t[j], templates[j]);
	if (!rc)
		rc = syn_store_lock(st, "bench scalepacks");
	if (rc)
		goto out;
	rc = syn_doc_read(&global, fd, "profiles/global/profile.json", "profiles/global/profile.json");
	for (i = 0; !rc && i < count; i++)
		rc = scale_one(st, &t[i % ntemplates], i, stamp, global);
	if (!rc)
		rc = syn_doc_write(fd, "profiles/global/profile.json", global);
	snprintf(msg, sizeof(msg), "bench: %ld packs", count);
	if (!rc)
		rc = syn_state_commit(st, msg, NULL);
	syn_store_unlock(st);
out:
	json_decref(global);
	for (j = 0; j < loaded; j++)
		template_free(&t[j]);
	free(t);
	return rc;
}

/* The reference: @n symlinks to blob-like relative targets, in directory @dfd. */
static int symlink_loop(int dfd, json_int_t n)
{
	json_int_t i;

	for (i = 0; i < n; i++) {
		char name[32], target[128];

		snprintf(name, sizeof(name), "l%lld", (long long)i);
		snprintf(target, sizeof(target), "../../../../../../blobs/sha256/ab/%064lld", (long long)i);
		if (symlinkat(target, dfd, name) < 0)
			return syn_error_set_errno(SYN_EIO, errno, "symlink");
	}
	return 0;
}

/* `symlinks <dir> <n>`: the bare loop as a process of its own, in a new directory. */
static int symlinks(const char *dir, json_int_t n)
{
	int dfd, rc;

	if (mkdir(dir, 0755) < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot create '%s'", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", dir);
	rc = symlink_loop(dfd, n);
	close(dfd);
	return rc;
}

/* `lookfloor <store-root>`: see the top of the file. */
static int lookfloor(const char *root)
{
	static const char *const docs[] = { "pack.json", "lock.json" };
	char path[4096];
	struct dirent *e;
	struct stat sb;
	size_t i;
	DIR *d;

	snprintf(path, sizeof(path), "%s/state/packs", root);
	if (!(d = opendir(path)))
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", path);
	while ((e = readdir(d)) != NULL)
		for (i = 0; e->d_name[0] != '.' && i < 2; i++) {
			snprintf(path, sizeof(path), "%s/%s", e->d_name, docs[i]);
			fstatat(dirfd(d), path, &sb, 0);
		}
	closedir(d);
	snprintf(path, sizeof(path), "%s/data/blobs/sha256", root);
	if (!(d = opendir(path)))
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", path);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW);
	closedir(d);
	return 0;
}

/*
 * Time a build of comfyui's global view (planning included; the store's views
 * are the empty ones of `store init`), then a bare loop making as many symlinks.
 */
static int viewbuild(struct syn_store *st, const char *dir)
{
	json_t *report = NULL;
	double t0, t_build, t_loop;
	json_int_t n;
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
	rc = symlink_loop(dfd, n);
	t_loop = now() - t0;
	close(dfd);
	if (rc)
		return rc;
	printf("%lld %.6f %.6f\n", (long long)n, t_build, t_loop);
	return 0;
}

int main(int argc, char **argv)
{
	struct syn_registry *reg = NULL;
	struct syn_store *st = NULL;
	char sha[SYN_SHA256_HEX_LEN + 1];
	int rc = -1;

	if (argc == 3 && !strcmp(argv[1], "lookfloor")) {
		rc = lookfloor(argv[2]);
		if (rc)
			fprintf(stderr, "syn-bench: %s\n", syn_error_last());
		return rc ? 1 : 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: syn-bench insert|verify|remove|viewbuild <store-root> <arg>, "
			"mkpacks <store-root> <packs> <files>, scalepacks <store-root> <packs> <template-pack-dir>..., "
			"symlinks <dir> <n>, or lookfloor <store-root>\n");
		return 2;
	}
	if (!strcmp(argv[1], "symlinks")) {
		rc = symlinks(argv[2], (json_int_t)strtoll(argv[3], NULL, 10));
		if (rc)
			fprintf(stderr, "syn-bench: %s\n", syn_error_last());
		return rc ? 1 : 0;
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
	} else if (!strcmp(argv[1], "scalepacks") && argc >= 5) {
		rc = scalepacks(st, strtol(argv[3], NULL, 10), argv + 4, argc - 4);
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
