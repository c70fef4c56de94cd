/*
 * docs: reading and writing the documents commands work on, each pack's
 * pack.json and lock.json and each profile's profile.json under state/, and
 * runtime.json under data/. The only module that knows where they live.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/hash.h"
#include "synapse/names.h"

#include "defaults.h"
#include "docs.h"
#include "store.h"

/* Read state/@rel; messages show the full path. */
static int read_state(struct syn_store *st, const char *rel, json_t **out)
{
	struct syn_buf display = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	*out = NULL;
	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&display, "%s/%s", syn_store_state_root(st), rel);
	if (!rc)
		rc = syn_doc_read(out, fd, rel, display.ptr);
	syn_buf_dispose(&display);
	return rc;
}

static int write_state(struct syn_store *st, const char *rel, const json_t *doc)
{
	int fd = syn_store_state_fd(st);

	return fd < 0 ? fd : syn_doc_write(fd, rel, doc);
}

int syn__docs_pack_read(struct syn_store *st, const char *name, const char *file, json_t **out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	*out = NULL;
	rc = syn_buf_printf(&rel, "packs/%s/%s", name, file);
	if (!rc)
		rc = read_state(st, rel.ptr, out);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_write(struct syn_store *st, const char *name, const char *file, const json_t *doc)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	rc = syn_buf_printf(&rel, "packs/%s/%s", name, file);
	if (!rc)
		rc = write_state(st, rel.ptr, doc);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_remove(struct syn_store *st, const char *name)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&rel, "packs/%s", name);
	if (!rc)
		rc = syn_fs_remove_tree(fd, rel.ptr);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_load(struct syn_store *st, const char *name, json_t **out)
{
	int rc = syn_name_check_pack(name);

	*out = NULL;
	if (!rc)
		rc = syn_store_require_init(st);
	if (!rc)
		rc = syn__docs_pack_read(st, name, "pack.json", out);
	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "pack '%s' not found; 'synapse list' shows the packs", name);
	return rc;
}

int syn__docs_lock_load(struct syn_store *st, const char *name, json_t **out)
{
	int rc = syn__docs_pack_read(st, name, "lock.json", out);

	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		return 0;
	}
	return rc;
}

int syn__docs_profile_read(struct syn_store *st, const char *name, json_t **out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	*out = NULL;
	rc = syn_name_check_profile(name);
	if (rc)
		return rc;
	rc = syn_buf_printf(&rel, "profiles/%s/profile.json", name);
	if (!rc)
		rc = read_state(st, rel.ptr, out);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_profile_load(struct syn_store *st, const char *name, json_t **out)
{
	int rc = syn__docs_profile_read(st, name, out);

	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "profile '%s' not found", name);
	return rc;
}

/*
 * The profiles read while the store is held: {name: document}, for the
 * hold it was made in; and those this handle wrote while it holds the store
 * lock, which a read under the same lock takes instead of parsing the file
 * again while the file is still the one written.
 */
struct held_profiles {
	unsigned held;
	json_t *docs;
	unsigned lock;   /* syn__store_lock_number() of the writes */
	json_t *written; /* {name: [document, the file's identity (file_id())]} */
};

/* Free the held profiles: the store slot's release. */
static void held_profiles_free(void *p)
{
	struct held_profiles *h = p;

	if (h) {
		json_decref(h->docs);
		json_decref(h->written);
	}
	free(h);
}

/* The held profiles of @st, made when there are none; NULL without memory. */
static struct held_profiles *held_profiles(struct syn_store *st)
{
	struct held_profiles *h = syn__store_cache(st, SYN__CACHE_PROFILES);

	if (!h && (h = calloc(1, sizeof(*h))) != NULL)
		syn__store_set_cache(st, SYN__CACHE_PROFILES, h, held_profiles_free);
	return h;
}

/*
 * The identity of profile @name's file now (device, inode, size,
 * modification time), as a new string; NULL when it cannot be read.
 */
static json_t *file_id(struct syn_store *st, const char *name)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct stat sb;
	json_t *id = NULL;

	if (!syn_buf_printf(&rel, "profiles/%s/profile.json", name) &&
	    fstatat(syn_store_state_fd(st), rel.ptr, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		id = json_sprintf("%llu %llu %lld %lld.%09ld", (unsigned long long)sb.st_dev,
				  (unsigned long long)sb.st_ino, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
				  sb.st_mtim.tv_nsec);
	syn_buf_dispose(&rel);
	syn_error_clear();
	return id;
}

/*
 * What this handle wrote as profile @name under the lock it holds, when the
 * file is still what it wrote (a new reference); NULL otherwise.
 */
static json_t *written_doc(struct syn_store *st, struct held_profiles *h, const char *name)
{
	json_t *w = h->written ? json_object_get(h->written, name) : NULL, *now;
	bool same;

	if (!w || !h->lock || h->lock != syn__store_lock_number(st))
		return NULL;
	now = file_id(st, name);
	same = now && json_equal(now, json_array_get(w, 1));
	json_decref(now);
	return same ? json_incref(json_array_get(w, 0)) : NULL;
}

/* Remember that this handle wrote @doc as profile @name (under the lock it holds; nothing is kept without). */
static void remember_written(struct syn_store *st, const char *name, const json_t *doc)
{
	unsigned lock = syn__store_lock_number(st);
	struct held_profiles *h = lock ? held_profiles(st) : NULL;
	json_t *id = h ? file_id(st, name) : NULL;

	if (h && h->lock != lock) {
		json_decref(h->written);
		h->written = NULL;
		h->lock = lock;
	}
	if (h && !h->written)
		h->written = json_object();
	/* the document stays as it was written: its writers let it go once written */
	if (!id || !h->written || json_object_set_new(h->written, name, json_pack("[O, o]", (json_t *)doc, id)))
		json_object_del(h && h->written ? h->written : NULL, name);
}

int syn__docs_profile_peek(struct syn_store *st, const char *name, const json_t **out)
{
	unsigned held = syn__store_held(st);
	struct held_profiles *h = held ? held_profiles(st) : NULL;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if (held && !h)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (h && h->held != held) {
		json_decref(h->docs);
		h->docs = NULL;
		h->held = held;
	}
	if (h && h->docs && (*out = json_object_get(h->docs, name)))
		return 0;
	if (!h)
		return syn_error_set(SYN_EINVALID, "profiles are only peeked at while the store is held");
	doc = written_doc(st, h, name);
	rc = doc ? 0 : syn__docs_profile_load(st, name, &doc);
	if (!rc && !h->docs && !(h->docs = json_object()))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc && json_object_set_new(h->docs, name, doc))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	else if (!rc)
		*out = doc;
	else
		json_decref(doc);
	return rc;
}

int syn__docs_profile_write(struct syn_store *st, const char *name, const json_t *doc)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	rc = syn_buf_printf(&rel, "profiles/%s/profile.json", name);
	if (!rc)
		rc = write_state(st, rel.ptr, doc);
	if (!rc)
		remember_written(st, name, doc);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_exists(struct syn_store *st, const char *name, bool *exists)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc = syn_buf_printf(&rel, "packs/%s/pack.json", name);

	*exists = !rc && syn_fs_exists(syn_store_state_fd(st), rel.ptr);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_runtime_read(struct syn_store *st, const json_t *config, json_t **out)
{
	int fd = syn_store_data_fd(st);

	*out = NULL;
	if (fd == SYN_ENOTFOUND) {
		*out = syn__default_runtime(config);
		syn_error_clear();
		return *out ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (fd < 0)
		return fd;
	return syn__store_read_or_default(out, fd, syn_store_data_root(st), "runtime.json",
					  syn__default_runtime(config));
}

int syn__docs_runtime_write(struct syn_store *st, const json_t *runtime)
{
	int fd = syn_store_data_fd(st);

	return fd < 0 ? fd : syn_doc_write(fd, "runtime.json", runtime);
}

/* ---- keys of what a view is built from ----------------------------------- */

static void stat_sig(struct syn_buf *b, int dirfd, const char *rel)
{
	struct stat sb;

	if (fstatat(dirfd, rel, &sb, 0) == 0)
		syn_buf_printf(b, "%s %llu %llu %lld %lld.%09ld\n", rel, (unsigned long long)sb.st_dev,
			       (unsigned long long)sb.st_ino, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
			       sb.st_mtim.tv_nsec);
	else
		syn_buf_printf(b, "%s -\n", rel);
}

int syn__docs_profile_sig(struct syn_store *st, const char *profile, struct syn_buf *out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	if (fd < 0)
		return fd;
	stat_sig(out, fd, "config.json");
	rc = syn_buf_printf(&rel, "profiles/%s/profile.json", profile);
	if (!rc)
		stat_sig(out, fd, rel.ptr);
	syn_buf_dispose(&rel);
	return rc;
}

uint64_t syn__docs_profile_stamp(struct syn_store *st, const char *name)
{
	char rel[SYN_NAME_MAX + 32];
	struct stat sb;
	uint64_t f[4];
	int fd = syn_store_state_fd(st);

	if (fd < 0 || syn_name_check_profile(name)) {
		syn_error_clear();
		return 0;
	}
	snprintf(rel, sizeof(rel), "profiles/%s/profile.json", name);
	if (fstatat(fd, rel, &sb, 0) || !syn_fs_settled(&sb))
		return 0;
	f[0] = (uint64_t)sb.st_dev;
	f[1] = (uint64_t)sb.st_ino;
	f[2] = (uint64_t)sb.st_size;
	f[3] = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
	return syn_fnv1a(SYN_FNV1A_INIT, f, sizeof(f)) | 1;
}

uint64_t syn__docs_pack_stamp(struct syn_store *st, const char *name, bool *settled)
{
	static const char *const files[] = { "/pack.json", "/lock.json" };
	uint64_t h = SYN_FNV1A_INIT;
	int fd = syn_store_state_fd(st);
	char rel[SYN_NAME_MAX + 32];
	size_t n = strlen(name), i;

	if (settled)
		*settled = true;
	if (fd < 0 || !syn_name_is_pack(name)) {
		syn_error_clear();
		return 0;
	}
	memcpy(rel, "packs/", 6);
	memcpy(rel + 6, name, n);
	for (i = 0; i < 2; i++) {
		struct stat sb;
		uint64_t f[5] = { 0 };

		memcpy(rel + 6 + n, files[i], strlen(files[i]) + 1);
		if (fstatat(fd, rel, &sb, 0) == 0) {
			f[0] = (uint64_t)sb.st_dev;
			f[1] = (uint64_t)sb.st_ino;
			f[2] = (uint64_t)sb.st_size;
			f[3] = (uint64_t)sb.st_mtim.tv_sec;
			f[4] = (uint64_t)sb.st_mtim.tv_nsec + 1;
			if (settled && !syn_fs_settled(&sb))
				*settled = false;
		}
		h = syn_fnv1a(h, f, sizeof(f));
	}
	return h;
}

/*
 * Append to @b a signature of the commit state/ is at: the file of the
 * branch HEAD names (rewritten by every commit) and packed-refs. 1 when
 * there is no commit yet.
 */
static int head_sig(struct syn_buf *b, int fd)
{
	struct syn_buf head = SYN_BUF_INIT, ref = SYN_BUF_INIT;
	size_t at = b->len;
	int rc = syn_fs_read(&head, fd, ".git/HEAD", 4096);

	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		rc = 1;
	} else if (!rc && !strncmp(head.ptr, "ref: ", 5)) {
		head.ptr[strcspn(head.ptr, "\n")] = '\0';
		rc = syn_buf_printf(&ref, ".git/%s", head.ptr + 5);
		if (!rc && !syn_fs_exists(fd, ref.ptr) && !syn_fs_exists(fd, ".git/packed-refs"))
			rc = 1;
		if (!rc) {
			stat_sig(b, fd, ref.ptr);
			stat_sig(b, fd, ".git/packed-refs");
		}
	} else if (!rc) {
		/* a detached HEAD holds the commit itself */
		rc = syn_buf_put(b, head.ptr, head.len);
	}
	if (rc == 1)
		syn_buf_truncate(b, at);
	syn_buf_dispose(&head);
	syn_buf_dispose(&ref);
	return rc;
}

int syn__docs_generation_key(struct syn_store *st, const char *profile, char hex[SYN_SHA256_HEX_LEN + 1])
{
	struct syn_buf b = SYN_BUF_INIT, rel = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	hex[0] = '\0';
	if (fd < 0)
		return fd;
	rc = head_sig(&b, fd);
	if (rc == 1) {
		/* no history yet: no key */
		rc = 0;
		goto out;
	}
	if (!rc) {
		stat_sig(&b, fd, "config.json");
		rc = syn_buf_printf(&rel, "profiles/%s/profile.json", profile);
	}
	if (!rc)
		stat_sig(&b, fd, rel.ptr);
	if (!rc)
		rc = syn_sha256_mem(hex, b.ptr, b.len);
out:
	syn_buf_dispose(&b);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_names(struct syn_store *st, json_t **out)
{
	struct dirent **ents = NULL;
	struct syn_buf dir = SYN_BUF_INIT;
	int n, i, rc;

	*out = json_array();
	rc = *out ? syn_buf_printf(&dir, "%s/packs", syn_store_state_root(st)) : syn_error_set(SYN_ENOMEM, "out of memory");
	if (rc)
		return rc;
	n = scandir(dir.ptr, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (!rc && syn_name_is_pack(ents[i]->d_name) && json_array_append_new(*out, json_string(ents[i]->d_name)))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		free(ents[i]);
	}
	free(ents);
	syn_buf_dispose(&dir);
	return rc;
}

/* The member of array @key of @doc whose @field is @id. */
static const json_t *find_by(const json_t *doc, const char *key, const char *field, const char *id)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(doc, key), i, e)
		if (!strcmp(syn_doc_str(e, field, ""), id))
			return e;
	return NULL;
}

const json_t *syn__docs_dependency(const json_t *pack, const char *id)
{
	return find_by(pack, "dependencies", "id", id);
}

const json_t *syn__docs_lock_entry(const json_t *lock, const char *id)
{
	return find_by(lock, "resolved", "dependency_id", id);
}
