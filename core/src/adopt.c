/*
 * adopt: the model files a user already has, taken into the store.
 *
 * A run lists the model files under the folders (never following a
 * symbolic link), takes the digest of each from the file-hash cache when
 * its metadata vouches for it, and otherwise reads it on one thread per
 * core: straight into a blob stage (a reflink clone where the filesystem
 * allows, so the store's copy costs no bytes and can never see a later
 * change to the original), hashed from the staged bytes. A file whose size
 * or modification time moved while it was read is skipped and its stage
 * dropped, so no blob is ever named after bytes that were never whole
 * (with SYN_ADOPT_LINK the file itself becomes the blob, hashed just
 * before it is linked, under the same check). Then the sources are asked,
 * by digest and in batches, which files they know; a recognised file
 * becomes (or extends) the pack an import of its model makes, every other
 * file a dependency of the folder's local pack. Only then does
 * SYN_ADOPT_MOVE replace the originals that a pack holds by links.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "synapse/adopt.h"
#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/hash.h"
#include "synapse/names.h"
#include "synapse/state.h"
#include "synapse/ui.h"

#include "blob.h"
#include "docs.h"
#include "filehash.h"
#include "guard.h"
#include "install.h"
#include "pack.h"
#include "runtime.h"
#include "store.h"

/* The name of the link --move makes beside a file before renaming it over the file. */
#define MOVE_TMP SYN_FS_TMP_PREFIX "adopt."

/* Deeper than any model folder; a deeper tree is reported, not walked. */
#define MAX_DEPTH 64

static void (*read_hook)(const char *path);

void syn_adopt_set_read_hook(void (*hook)(const char *path))
{
	read_hook = hook;
}

enum item_state { IT_TODO, IT_CACHED, IT_DONE, IT_SKIPPED };

struct item {
	char *path;
	size_t root;                      /* index of the folder it was found under */
	struct stat sb;                   /* as listed */
	char sha[SYN_SHA256_HEX_LEN + 1];
	char kind[32];                    /* from a UI's folder table, "" when none */
	enum item_state state;
	size_t leader;                    /* another path of the same inode, read for both: its index + 1 */
	bool hashed, created, cloned, moved, hard_linked;
	bool via_link;                    /* a link into the store (a file moved before): its blob is the file */
	char *reason;                     /* IT_SKIPPED: why */
};

struct folder {
	char *path;   /* absolute */
	char *name;   /* its last component, for the local pack's name */
};

/* A UI folder whose files are of one kind. */
struct kind_dir {
	char *path; /* absolute, no trailing slash */
	size_t len;
	char kind[32];
};

struct adopt {
	struct syn_store *st;
	const struct syn_adopt_options *o;
	struct folder *folders;
	size_t nfolders;
	struct kind_dir *kinds;
	size_t nkinds;
	struct item *items;
	size_t nitems, cap;
	json_t *skipped;   /* found but not model files we can take: links, unreadable folders */
	json_t *warnings;
	struct syn_buf blobs_prefix; /* "<blobs root>/": a link into it is adopted already */
	struct stat data_sb;         /* the store's data/: never walked into */
	size_t linked;               /* links into the store (adopted before, with move) */
	size_t dangling;             /* links into the store whose blob is gone (skipped) */
};

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* ---- showing paths ------------------------------------------------------- */

/* Length of the printable UTF-8 character at @p, 0 when it is a control character or malformed. */
static size_t printable_len(const unsigned char *p)
{
	if (*p >= 0x20 && *p < 0x7f)
		return 1;
	if ((*p & 0xe0) == 0xc0 && *p >= 0xc2 && (p[1] & 0xc0) == 0x80)
		return 2;
	/* no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF */
	if ((*p & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 && !(*p == 0xe0 && p[1] < 0xa0) &&
	    !(*p == 0xed && p[1] >= 0xa0))
		return 3;
	if ((*p & 0xf8) == 0xf0 && *p <= 0xf4 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
	    (p[3] & 0xc0) == 0x80 && !(*p == 0xf0 && p[1] < 0x90) && !(*p == 0xf4 && p[1] >= 0x90))
		return 4;
	return 0;
}

/*
 * @s as a JSON string for people: as it is when it is printable UTF-8;
 * else every other byte becomes \xNN (and a backslash \\, so the escapes
 * cannot be mistaken). NULL without memory.
 */
static json_t *shown(const char *s)
{
	struct syn_buf b = SYN_BUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	json_t *out;
	size_t n;
	int rc = 0;

	while (*p && (n = printable_len(p)))
		p += n;
	if (!*p)
		return json_string(s);
	for (p = (const unsigned char *)s; !rc && *p; p += n ? n : 1) {
		n = printable_len(p);
		if (n && *p == '\\')
			rc = syn_buf_puts(&b, "\\\\");
		else if (n)
			rc = syn_buf_put(&b, p, n);
		else
			rc = syn_buf_printf(&b, "\\x%02x", *p);
	}
	out = rc ? NULL : json_string(b.ptr ? b.ptr : "");
	syn_buf_dispose(&b);
	return out;
}

/* Append {path, reason} to @list. */
static int note_skip(json_t *list, const char *path, const char *reason)
{
	json_t *p = shown(path), *e = p ? json_pack("{s:o, s:s}", "path", p, "reason", reason) : NULL;

	if (!e || json_array_append_new(list, e))
		return oom();
	return 0;
}

/* Append "'<path>': <reason>" to @list. */
static int warn_path(json_t *list, const char *path, const char *reason)
{
	json_t *p = shown(path), *w = p ? json_sprintf("'%s': %s", json_string_value(p), reason) : NULL;

	json_decref(p);
	if (!w || json_array_append_new(list, w))
		return oom();
	return 0;
}

/* ---- listing ------------------------------------------------------------- */

static bool is_model_file(const char *name)
{
	static const char *const exts[] = { ".safetensors", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".gguf", ".sft" };
	size_t n = strlen(name), i;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t e = strlen(exts[i]);

		if (n > e && !strcasecmp(name + n - e, exts[i]))
			return true;
	}
	return false;
}

/* The kind of the file at @path from the UI folder tables: the deepest folder holding it. */
static void kind_of(const struct adopt *a, const char *path, char kind[32])
{
	size_t i, best = 0;

	kind[0] = '\0';
	for (i = 0; i < a->nkinds; i++) {
		const struct kind_dir *k = &a->kinds[i];

		if (k->len > best && !strncmp(path, k->path, k->len) && path[k->len] == '/') {
			best = k->len;
			snprintf(kind, 32, "%s", k->kind);
		}
	}
}

static int add_item(struct adopt *a, const char *path, size_t root, const struct stat *sb)
{
	struct item *it;

	if (a->nitems == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct item *v = reallocarray(a->items, cap, sizeof(*v));

		if (!v)
			return oom();
		a->items = v;
		a->cap = cap;
	}
	it = &a->items[a->nitems];
	memset(it, 0, sizeof(*it));
	it->path = strdup(path);
	if (!it->path)
		return oom();
	it->root = root;
	it->sb = *sb;
	kind_of(a, path, it->kind);
	a->nitems++;
	return 0;
}

/*
 * A symbolic link found under a folder. One into the store is a file moved
 * there before: it is an item whose bytes are its blob, so that a pack
 * holds it even if none did (a run whose packs were never made).
 */
static int found_link(struct adopt *a, int dirfd, const char *name, const char *path, size_t root)
{
	char target[4096];
	const char *sha;
	struct stat sb;
	ssize_t n;
	int rc;

	if (!strncmp(name, MOVE_TMP, strlen(MOVE_TMP))) {
		/* the link a --move killed before renaming it over the file left: this run's to remove */
		n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (!a->o->dry_run && n > 0 && a->blobs_prefix.len && (size_t)n >= a->blobs_prefix.len &&
		    !strncmp(target, a->blobs_prefix.ptr, a->blobs_prefix.len))
			unlinkat(dirfd, name, 0);
		return 0;
	}
	if (!is_model_file(name))
		return 0;
	n = readlinkat(dirfd, name, target, sizeof(target) - 1);
	if (n <= 0 || (size_t)n < a->blobs_prefix.len + SYN_SHA256_HEX_LEN ||
	    strncmp(target, a->blobs_prefix.ptr, a->blobs_prefix.len))
		return note_skip(a->skipped, path, "symbolic link (adopt the folder it points into instead)");
	target[n] = '\0';
	a->linked++;
	sha = target + n - SYN_SHA256_HEX_LEN;
	if (!syn_name_is_sha256(sha) || fstatat(dirfd, name, &sb, 0) < 0 || !S_ISREG(sb.st_mode)) {
		a->dangling++;
		return note_skip(a->skipped, path, "a link into the store to a blob it no longer has");
	}
	rc = add_item(a, path, root, &sb);
	if (!rc) {
		struct item *it = &a->items[a->nitems - 1];

		memcpy(it->sha, sha, SYN_SHA256_HEX_LEN + 1);
		it->via_link = true;
		it->state = IT_DONE;
	}
	return rc;
}

/* Walk the directory open at @fd (its path in @path), adding its model files. */
static int walk(struct adopt *a, int fd, struct syn_buf *path, size_t root, int depth)
{
	size_t base = path->len;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return note_skip(a->skipped, path->ptr, "cannot list this folder");
	}
	while (!rc && (errno = 0, de = readdir(d))) {
		struct stat sb;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		syn_buf_truncate(path, base);
		rc = syn_buf_printf(path, "/%s", de->d_name);
		if (rc)
			break;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = note_skip(a->skipped, path->ptr, "vanished or cannot be looked at");
			continue;
		}
		if (S_ISLNK(sb.st_mode)) {
			rc = found_link(a, dirfd(d), de->d_name, path->ptr, root);
		} else if (S_ISDIR(sb.st_mode)) {
			if (sb.st_dev == a->data_sb.st_dev && sb.st_ino == a->data_sb.st_ino)
				continue; /* the store's own data is not the user's */
			if (depth >= MAX_DEPTH) {
				rc = note_skip(a->skipped, path->ptr, "folder nested too deep");
				continue;
			}
			sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = note_skip(a->skipped, path->ptr, "cannot open this folder");
			else
				rc = walk(a, sub, path, root, depth + 1);
		} else if (S_ISREG(sb.st_mode) && is_model_file(de->d_name)) {
			if (sb.st_size == 0)
				rc = note_skip(a->skipped, path->ptr, "empty file");
			else
				rc = add_item(a, path->ptr, root, &sb);
		}
	}
	syn_buf_truncate(path, base);
	closedir(d);
	return rc;
}

/* ---- folders --------------------------------------------------------------- */

/* Add folder @path; its local pack is named after @name, else after the folder's own name. */
static int add_folder(struct adopt *a, const char *path, const char *name)
{
	struct syn_buf abs = SYN_BUF_INIT;
	struct folder *v;
	const char *slash;
	size_t i;
	int rc = syn_fs_abspath(&abs, path);

	if (rc)
		return rc;
	for (i = 0; i < a->nfolders; i++)
		if (!strcmp(a->folders[i].path, abs.ptr))
			goto out; /* named twice */
	v = reallocarray(a->folders, a->nfolders + 1, sizeof(*v));
	if (!v) {
		rc = oom();
		goto out;
	}
	a->folders = v;
	slash = strrchr(abs.ptr, '/');
	v[a->nfolders].path = strdup(abs.ptr);
	v[a->nfolders].name = strdup(name ? name : slash && slash[1] ? slash + 1 : "root");
	if (!v[a->nfolders].path || !v[a->nfolders].name) {
		free(v[a->nfolders].path);
		free(v[a->nfolders].name);
		rc = oom();
		goto out;
	}
	a->nfolders++;
out:
	syn_buf_dispose(&abs);
	return rc;
}

static int add_kind_dir(struct adopt *a, const char *root, const char *folder, const char *kind)
{
	struct syn_buf p = SYN_BUF_INIT;
	struct kind_dir *v;
	int rc = syn_buf_printf(&p, "%s/%s", root, folder);

	if (!rc) {
		struct syn_buf abs = SYN_BUF_INIT;

		rc = syn_fs_abspath(&abs, p.ptr);
		syn_buf_dispose(&p);
		p = abs;
	}
	if (rc)
		goto out;
	v = reallocarray(a->kinds, a->nkinds + 1, sizeof(*v));
	if (!v) {
		rc = oom();
		goto out;
	}
	a->kinds = v;
	v[a->nkinds].path = strdup(p.ptr);
	v[a->nkinds].len = p.len;
	snprintf(v[a->nkinds].kind, sizeof(v[a->nkinds].kind), "%s", kind);
	if (!v[a->nkinds].path) {
		rc = oom();
		goto out;
	}
	a->nkinds++;
out:
	syn_buf_dispose(&p);
	return rc;
}

/*
 * The UI folder tables that give kinds (only @o->ui's when it is set) and,
 * when no folder was named, the folders themselves: every enabled UI's
 * model folders that exist (or @o->ui's).
 */
static int ui_folders(struct adopt *a)
{
	const struct syn_adopt_options *o = a->o;
	bool want_folders = !o->nfolders, found = false;
	json_t *list = NULL, *ui;
	size_t i;
	int rc;

	/* kinds come from the UI folders only when the folders are a UI's */
	if (!o->ui && !want_folders)
		return 0;
	rc = syn_ui_list(a->st, &list);
	json_array_foreach(json_object_get(list, "uis"), i, ui) {
		const char *name = syn_doc_str(ui, "name", ""), *root = syn_doc_str(ui, "root", NULL);
		const char *kind, *folder;
		json_t *f;

		if (rc)
			break;
		if ((o->ui && strcmp(name, o->ui)) || !json_is_true(json_object_get(ui, "enabled")) || !root)
			continue;
		found = true;
		json_object_foreach(json_object_get(ui, "kind_map"), kind, f) {
			struct syn_buf dir = SYN_BUF_INIT;
			struct stat sb;

			folder = json_string_value(f);
			if (!folder || rc)
				continue;
			rc = add_kind_dir(a, root, folder, kind);
			if (!rc && want_folders)
				rc = syn_buf_printf(&dir, "%s/%s", root, folder);
			if (!rc && want_folders && stat(dir.ptr, &sb) == 0 && S_ISDIR(sb.st_mode))
				rc = add_folder(a, dir.ptr, name); /* a UI's folders make one pack */
			syn_buf_dispose(&dir);
		}
	}
	if (!rc && o->ui && !found)
		rc = syn_error_set(SYN_EUSAGE, "unknown UI '%s': it is not enabled in this store (see 'synapse ui list')",
				   o->ui);
	if (!rc && want_folders && !a->nfolders)
		rc = syn_error_set(SYN_EUSAGE, "no model folder of %s%s%s exists: name the folders to adopt",
				   o->ui ? "UI '" : "any enabled UI", o->ui ? o->ui : "", o->ui ? "'" : "");
	json_decref(list);
	return rc;
}

static int list_files(struct adopt *a)
{
	struct syn_buf path = SYN_BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < a->nfolders; i++) {
		int fd = open(a->folders[i].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			rc = syn_error_set(errno == ENOENT ? SYN_ENOTFOUND : errno == ENOTDIR ? SYN_EINVALID : SYN_EIO,
					   "cannot adopt '%s': %s", a->folders[i].path,
					   errno == ENOTDIR ? "not a folder" : strerror(errno));
			break;
		}
		syn_buf_clear(&path);
		rc = syn_buf_puts(&path, strcmp(a->folders[i].path, "/") ? a->folders[i].path : "");
		if (!rc)
			rc = walk(a, fd, &path, i, 0);
		else
			close(fd);
	}
	syn_buf_dispose(&path);
	return rc;
}

static const char *const mode_names[] = {
	[SYN_ADOPT_COPY] = "copy", [SYN_ADOPT_MOVE] = "move", [SYN_ADOPT_LINK] = "link",
};

const char *syn_adopt_mode_name(enum syn_adopt_mode mode)
{
	return (size_t)mode < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[mode] : "?";
}

int syn_adopt_mode_parse(const char *name, enum syn_adopt_mode *mode)
{
	size_t i;

	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (!strcmp(name, mode_names[i])) {
			*mode = (enum syn_adopt_mode)i;
			return 0;
		}
	return syn_error_set(SYN_EUSAGE, "mode must be 'copy', 'move' or 'link', not '%s'", name);
}

/* ---- reading --------------------------------------------------------------- */

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

struct read_ctx {
	const struct item *it;
	int fd;
};

/* After the bytes are read: refuse them when the file moved meanwhile. */
static int still_same(const char *sha, void *payload)
{
	struct read_ctx *c = payload;
	struct stat now;

	(void)sha;
	if (read_hook)
		read_hook(c->it->path);
	if (fstat(c->fd, &now) < 0 || !same_file(&now, &c->it->sb))
		return syn_error_set(SYN_EINVALID, "changed while it was read: adopt it again once it is written");
	return 0;
}

static void skip(struct item *it, const char *reason)
{
	it->state = IT_SKIPPED;
	free(it->reason);
	it->reason = strdup(reason && *reason ? reason : "cannot be read");
}

/* Whether blob @sha of the primary is the file open at @fd (the same inode). */
static bool blob_is_fd(struct syn_store *st, const char *sha, int fd)
{
	struct syn_buf path = SYN_BUF_INIT;
	struct stat a, b;
	bool same = !syn_blob_path(st, sha, &path) && stat(path.ptr, &a) == 0 && fstat(fd, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev;

	syn_buf_dispose(&path);
	syn_error_clear();
	return same;
}

/*
 * Make the file a blob by a hard link. A digest only the cache vouches for
 * is read for real before a new blob is made of the file. Should the file
 * change before the link is made, a blob this call made is taken out again.
 */
static int link_one(struct syn_store *st, struct item *it, struct read_ctx *ctx)
{
	bool there = it->state == IT_CACHED && syn_blob_exists(st, it->sha), mine;
	int rc = 0;

	if (!there) {
		posix_fadvise(ctx->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		rc = syn_sha256_fd(it->sha, NULL, ctx->fd);
		it->hashed = !rc;
		if (!rc)
			there = syn_blob_exists(st, it->sha);
	}
	if (!rc)
		rc = still_same(it->sha, ctx);
	if (rc)
		return rc;
	if (!there && (rc = syn_blob_link_fd(st, ctx->fd, it->sha)))
		return rc;
	/* another reader may have stored the same bytes first: only a blob that is this file is this call's */
	mine = !there && blob_is_fd(st, it->sha, ctx->fd);
	if (still_same(it->sha, ctx)) {
		if (mine)
			syn_blob_remove(st, it->sha);
		return syn_error_set(SYN_EINVALID, "changed while it was linked: adopt it again once it is written");
	}
	it->created = mine;
	it->hard_linked = mine;
	return 0;
}

/* Make the file a blob by a clone, or else a copy, of its bytes. */
static int clone_one(struct syn_store *st, struct item *it, struct read_ctx *ctx)
{
	struct syn_blob_adopted res;
	int rc;

	rc = syn_blob_adopt_fd(st, ctx->fd, it->state == IT_CACHED ? it->sha : NULL, still_same, ctx, &res);
	if (rc == SYN_EMISMATCH && it->state == IT_CACHED) {
		/* the cache vouched wrongly (a change its metadata did not show): read it for real */
		syn_error_clear();
		it->state = IT_TODO;
		rc = syn_blob_adopt_fd(st, ctx->fd, NULL, still_same, ctx, &res);
	}
	if (rc)
		return rc;
	it->hashed = it->state != IT_CACHED || res.size;
	memcpy(it->sha, res.sha, sizeof(it->sha));
	it->created = res.created;
	it->cloned = res.cloned;
	return 0;
}

/* Store one file the way @mode says: a hard link that cannot be made here (another filesystem) gives way to a copy. */
static int store_one(struct syn_store *st, enum syn_adopt_mode mode, struct item *it, struct read_ctx *ctx)
{
	int rc = mode == SYN_ADOPT_LINK ? link_one(st, it, ctx) : SYN_EUNSUPPORTED;

	if (rc == SYN_EUNSUPPORTED) {
		syn_error_clear();
		rc = clone_one(st, it, ctx);
	}
	return rc;
}

/* Hash one file (dry run) or make it a blob; on any failure the item is skipped with the reason. */
static void read_one(struct syn_store *st, bool dry_run, enum syn_adopt_mode mode, struct item *it)
{
	struct read_ctx ctx = { it, -1 };
	struct stat now;
	int rc = 0;

	ctx.fd = open(it->path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (ctx.fd < 0) {
		skip(it, errno == ENAMETOOLONG ? "path too long to open" : strerror(errno));
		return;
	}
	if (fstat(ctx.fd, &now) < 0 || !same_file(&now, &it->sb)) {
		skip(it, "changed since it was listed: adopt it again once it is written");
		goto out;
	}
	if (!dry_run && mode != SYN_ADOPT_COPY && !syn_fs_settled(&it->sb)) {
		/* a write in the same clock tick as the listing would go unseen: neither shared nor replaced */
		rc = syn_error_set(SYN_EINVALID, "modified moments ago: adopt it again once it is written");
	} else if (!dry_run) {
		rc = store_one(st, mode, it, &ctx);
	} else if (it->state != IT_CACHED) {
		/* a dry run stores nothing: the digest is all it needs */
		posix_fadvise(ctx.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		rc = syn_sha256_fd(it->sha, NULL, ctx.fd);
		if (!rc)
			rc = still_same(it->sha, &ctx);
		it->hashed = !rc;
	}
	if (rc)
		skip(it, syn_error_last());
	else
		it->state = IT_DONE;
out:
	close(ctx.fd);
	syn_error_clear();
}

/* How often a long run writes the digests it has so far, so that a run killed midway keeps them. */
#define SAVE_EVERY_S 10

struct pool {
	struct syn_store *st;
	bool dry_run;
	enum syn_adopt_mode mode;
	struct item **todo;
	atomic_bool *done;   /* todo[i] is read, its fields final */
	size_t n;
	atomic_size_t next;
};

static void *reader(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		read_one(p->st, p->dry_run, p->mode, p->todo[i]);
		atomic_store_explicit(&p->done[i], true, memory_order_release);
	}
	syn_error_clear();
	return NULL;
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Remember the digests of the files read so far that @saved does not have yet, and write the cache. */
static void save_progress(struct pool *p, struct syn__filehash *cache, bool *saved)
{
	size_t i, end = atomic_load(&p->next);
	int rc = 0;

	for (i = 0; !rc && i < end && i < p->n; i++) {
		const struct item *it = p->todo[i];

		if (saved[i] || !atomic_load_explicit(&p->done[i], memory_order_acquire))
			continue;
		saved[i] = true;
		if (it->state == IT_DONE && it->hashed)
			rc = syn__filehash_put(cache, &it->sb, it->sha);
	}
	/* a cache not written costs a later run time, nothing else */
	if (rc || syn__filehash_save(p->st, cache))
		syn_error_clear();
}

/* The calling thread's share: reading, and every SAVE_EVERY_S seconds writing the cache. */
static void main_reader(struct pool *p, struct syn__filehash *cache, bool *saved)
{
	time_t last = now_s();
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		read_one(p->st, p->dry_run, p->mode, p->todo[i]);
		atomic_store_explicit(&p->done[i], true, memory_order_release);
		if (saved && now_s() - last >= SAVE_EVERY_S) {
			save_progress(p, cache, saved);
			last = now_s();
		}
	}
	syn_error_clear();
}

/* Read every file that needs it, on @threads threads (0: one per online core). */
static int read_all(struct adopt *a, struct syn__filehash *cache)
{
	struct pool p = { .st = a->st, .dry_run = a->o->dry_run, .mode = a->o->mode };
	unsigned int nthreads = a->o->threads;
	pthread_t *threads = NULL;
	json_t *inodes;
	bool *saved;
	size_t i, started;
	int rc = 0;

	atomic_init(&p.next, 0);
	p.todo = a->nitems ? calloc(a->nitems, sizeof(*p.todo)) : NULL;
	p.done = a->nitems ? calloc(a->nitems, sizeof(*p.done)) : NULL;
	saved = a->nitems ? calloc(a->nitems, sizeof(*saved)) : NULL;
	if (a->nitems && (!p.todo || !p.done || !saved)) {
		free(p.todo);
		free(p.done);
		free(saved);
		return oom();
	}
	for (i = 0; i < a->nitems; i++)
		atomic_init(&p.done[i], false);
	inodes = json_object();
	if (!inodes)
		rc = oom();
	for (i = 0; !rc && i < a->nitems; i++) {
		struct item *it = &a->items[i];
		char key[48];
		json_t *first;

		if (it->via_link)
			continue;
		/* a file about to be replaced by a link is read in this run, whatever the cache says */
		if ((a->o->dry_run || a->o->mode != SYN_ADOPT_MOVE) && syn__filehash_get(cache, &it->sb, it->sha)) {
			it->state = IT_CACHED;
			/* a stored digest costs nothing more: the stat was all */
			if (a->o->dry_run || syn_blob_exists(a->st, it->sha)) {
				it->state = IT_DONE;
				continue;
			}
		}
		/* hard links to one file are read once */
		snprintf(key, sizeof(key), "%llx:%llx", (unsigned long long)it->sb.st_dev,
			 (unsigned long long)it->sb.st_ino);
		if ((first = json_object_get(inodes, key))) {
			it->leader = (size_t)json_integer_value(first) + 1;
			continue;
		}
		if (json_object_set_new(inodes, key, json_integer((json_int_t)i))) {
			rc = oom();
			break;
		}
		p.todo[p.n++] = it;
	}
	json_decref(inodes);
	if (rc)
		goto out;
	if (!nthreads) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = cores > 0 ? (unsigned int)cores : 1;
	}
	if (nthreads > p.n)
		nthreads = p.n ? (unsigned int)p.n : 1;
	threads = nthreads > 1 ? calloc(nthreads - 1, sizeof(*threads)) : NULL;
	if (nthreads > 1 && !threads) {
		rc = oom();
		goto out;
	}
	/* the calling thread is one of the readers; one that cannot start leaves its share to the others */
	for (started = 0; started + 1 < nthreads; started++)
		if (pthread_create(&threads[started], NULL, reader, &p))
			break;
	main_reader(&p, cache, saved);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; i < a->nitems; i++) {
		struct item *it = &a->items[i];
		const struct item *l = it->leader ? &a->items[it->leader - 1] : NULL;

		if (!l)
			continue;
		if (l->state == IT_SKIPPED) {
			skip(it, l->reason);
			continue;
		}
		memcpy(it->sha, l->sha, sizeof(it->sha));
		it->state = l->state;
		it->hashed = l->hashed;
	}
	for (i = 0; !rc && i < a->nitems; i++)
		if (a->items[i].state == IT_DONE && a->items[i].hashed)
			rc = syn__filehash_put(cache, &a->items[i].sb, a->items[i].sha);
out:
	free(threads);
	free(p.todo);
	free(p.done);
	free(saved);
	return rc;
}

/* ---- replacing originals (move) --------------------------------------------- */

/* Replace the file at @it->path, unchanged since listed, by a link to its blob. */
static int link_original(struct adopt *a, struct item *it)
{
	struct syn_buf target = SYN_BUF_INIT;
	char tmp[64], *slash = strrchr(it->path, '/');
	unsigned char rnd[8];
	struct stat now;
	int dfd = -1, rc;
	size_t i;

	rc = syn_blob_path(a->st, it->sha, &target);
	if (rc)
		goto out;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot get random bytes");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s", MOVE_TMP);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp), "%02x", rnd[i]);
	*slash = '\0';
	dfd = open(*it->path ? it->path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*slash = '/';
	if (dfd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open its folder");
		goto out;
	}
	if (fstatat(dfd, slash + 1, &now, AT_SYMLINK_NOFOLLOW) < 0 || !same_file(&now, &it->sb)) {
		rc = syn_error_set(SYN_EINVALID, "changed since it was read: left as it is");
		goto out;
	}
	if (symlinkat(target.ptr, dfd, tmp) < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot create a link beside it");
		goto out;
	}
	if (renameat(dfd, tmp, dfd, slash + 1) < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot replace it by a link");
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	it->moved = true;
	rc = syn_fs_fsync_enabled() ? syn_fs_fsync(dfd, "a folder of adopted files") : 0;
	/* from now on the blob is the file: no delete may take it while the link stands */
	if (!rc)
		rc = syn__guard_note_moved(a->st, it->sha, it->path);
out:
	if (dfd >= 0)
		close(dfd);
	syn_buf_dispose(&target);
	return rc;
}

/*
 * Verify every blob the originals would link to, then link the originals
 * whose blob is good and that a pack references (@refs, of
 * syn__guard_references()).
 */
static int move_originals(struct adopt *a, const json_t *refs)
{
	json_t *shas = json_array(), *valid = NULL, *invalid = NULL, *seen = json_object();
	size_t i;
	int rc = shas && seen ? 0 : oom();

	for (i = 0; !rc && i < a->nitems; i++) {
		const struct item *it = &a->items[i];

		if (it->state != IT_DONE || it->via_link || !json_array_size(json_object_get(refs, it->sha)) ||
		    json_object_get(seen, it->sha))
			continue;
		if (json_object_set_new(seen, it->sha, json_true()) || json_array_append_new(shas, json_string(it->sha)))
			rc = oom();
	}
	if (!rc)
		rc = syn__blob_verify_many(a->st, shas, a->o->threads, &valid, &invalid);
	json_object_clear(seen);
	for (i = 0; !rc && i < json_array_size(valid); i++)
		if (json_object_set_new(seen, json_string_value(json_array_get(valid, i)), json_true()))
			rc = oom();
	for (i = 0; !rc && i < a->nitems; i++) {
		struct item *it = &a->items[i];

		if (it->state != IT_DONE || it->via_link)
			continue;
		if (!json_array_size(json_object_get(refs, it->sha))) {
			rc = warn_path(a->warnings, it->path, "no pack holds it (see the warnings above): the original is "
				       "left as it is");
			continue;
		}
		if (!json_object_get(seen, it->sha)) {
			rc = warn_path(a->warnings, it->path, "its blob did not verify: the original is left as it is");
			continue;
		}
		if (link_original(a, it)) {
			rc = warn_path(a->warnings, it->path, syn_error_last());
			syn_error_clear();
		}
	}
	json_decref(shas);
	json_decref(valid);
	json_decref(invalid);
	json_decref(seen);
	return rc;
}

/* ---- identifying and packing -------------------------------------------------- */

/*
 * Ask each source that can identify files which of the digests in @todo it
 * knows; *@found gets {sha: {source, model_id, version_id, file_id}}. A
 * source that cannot be asked leaves a warning and *@unasked true: the
 * digests it might know are then left out of every pack, for a later run.
 */
static int identify(struct adopt *a, struct syn__sources *chain, json_t *todo, json_t *models, json_t **found,
		    bool *unasked)
{
	size_t i;
	int rc = 0;

	*unasked = false;
	*found = json_object();
	if (!*found)
		return oom();
	for (i = 0; !rc && i < chain->n && json_array_size(todo); i++) {
		struct syn_source *src = syn__sources_get(chain, i);
		const char *name = syn_registry_source_at(syn_store_registry(a->st), i)->name;
		json_t *out = NULL, *hit;
		const char *sha;
		size_t k;

		if (!src) {
			syn_error_clear();
			continue;
		}
		if (!SYN_VTABLE_HAS(src, 4, identify))
			continue;
		rc = src->identify(src, todo, models, &out);
		if (rc == SYN_ENOMEM)
			break;
		if (rc) {
			rc = json_array_append_new(a->warnings, json_sprintf("cannot ask source '%s' which files it knows: "
				"%s; the files it might know are in no pack yet: run adopt again later", name,
				syn_error_last())) ? oom() : 0;
			syn_error_clear();
			*unasked = true;
			continue;
		}
		json_object_foreach(out, sha, hit) {
			if (rc)
				break;
			if (!syn_name_is_sha256(sha) || json_object_get(*found, sha))
				continue;
			if (json_object_set_new(*found, sha, json_pack("{s:I, s:O?, s:O?, s:O?}", "source", (json_int_t)i,
				"model_id", json_object_get(hit, "model_id"), "version_id", json_object_get(hit, "version_id"),
				"file_id", json_object_get(hit, "file_id"))))
				rc = oom();
		}
		json_decref(out);
		for (k = json_array_size(todo); !rc && k-- > 0;)
			if (json_object_get(*found, json_string_value(json_array_get(todo, k))))
				json_array_remove(todo, k);
	}
	return rc;
}

/* The normalized model @mid of source @name in @models (not a failure record), or NULL. */
static const json_t *model_of(const json_t *models, const char *name, json_int_t mid)
{
	const json_t *m;
	size_t i;

	json_array_foreach(models, i, m)
		if (!strcmp(syn_doc_str(m, "source", ""), name) &&
		    json_integer_value(json_object_get(m, "model_id")) == mid && !json_object_get(m, "error"))
			return m;
	return NULL;
}

/* Whether (@vid, @fid) is among the @n pairs. */
static bool has_pair(const int64_t *v, const int64_t *f, size_t n, json_int_t vid, json_int_t fid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == vid && f[i] == fid)
			return true;
	return false;
}

/* Give every blob of pack @name that is stored its manifest, as install does. */
static int write_manifests(struct syn_store *st, const char *name)
{
	struct syn__fetch none;
	json_t *pack = NULL, *lock = NULL;
	bool changed;
	int rc;

	memset(&none, 0, sizeof(none));
	rc = syn__docs_pack_load(st, name, &pack);
	if (!rc)
		rc = syn__docs_lock_load(st, name, &lock);
	if (!rc && lock)
		rc = syn__install_learn(st, pack, lock, &none, &changed);
	json_decref(pack);
	json_decref(lock);
	return rc;
}

/* Whether pack @name is the pack of model @mid of source @provider (its pack.json's source says so). */
static bool follows(struct syn_store *st, const char *name, const char *provider, json_int_t mid)
{
	json_t *pack = NULL, *src;
	bool yes;

	if (syn__docs_pack_read(st, name, "pack.json", &pack)) {
		syn_error_clear();
		return false;
	}
	src = json_object_get(pack, "source");
	yes = !strcmp(syn_doc_str(src, "provider", ""), provider) &&
	      json_integer_value(json_object_get(src, "model_id")) == mid;
	json_decref(pack);
	return yes;
}

/*
 * Make or extend the pack of model @mid of source @src for the files of
 * @found that belong to it: an existing pack following the model (found in
 * @refs) keeps its versions and gains the new ones.
 */
static int pack_model(struct adopt *a, struct syn__sources *chain, size_t src, json_int_t mid, json_t *found,
		      const json_t *refs, const json_t *models, json_t *packs)
{
	const char *provider = syn_registry_source_at(syn_store_registry(a->st), src)->name;
	struct syn_import_options o = { 0 };
	const json_t *model = model_of(models, provider, mid), *list, *r, *hit;
	int64_t *vids = NULL, *fids = NULL;
	size_t n = 0, cap, i, before;
	const char *pack = NULL, *key;
	json_t *report = NULL;
	int rc = 0;

	cap = json_object_size(found) + 1;
	json_object_foreach((json_t *)refs, key, list)
		cap += json_array_size(list);
	vids = calloc(cap, sizeof(*vids));
	fids = calloc(cap, sizeof(*fids));
	if (!vids || !fids) {
		rc = oom();
		goto out;
	}
	/* the pack that already follows this model, and the versions it holds */
	json_object_foreach((json_t *)refs, key, list) {
		json_array_foreach(list, i, r) {
			const json_t *origin = json_object_get(r, "origin");
			json_int_t vid = json_integer_value(json_object_get(origin, "version_id"));
			json_int_t fid = json_integer_value(json_object_get(origin, "file_id"));

			if (strcmp(syn_doc_str(origin, "provider", ""), provider) ||
			    json_integer_value(json_object_get(origin, "model_id")) != mid || vid <= 0)
				continue;
			if (pack && strcmp(pack, syn_doc_str(r, "pack", "")))
				continue;
			/* a pack that only names the model (a LoRA's base checkpoint) is not the model's pack */
			if (!pack && !follows(a->st, syn_doc_str(r, "pack", ""), provider, mid))
				continue;
			pack = syn_doc_str(r, "pack", NULL);
			if (n < cap && !has_pair(vids, fids, n, vid, fid)) {
				vids[n] = vid;
				fids[n++] = fid;
			}
		}
	}
	before = n;
	json_object_foreach(found, key, hit) {
		json_int_t vid = json_integer_value(json_object_get(hit, "version_id"));
		json_int_t fid = json_integer_value(json_object_get(hit, "file_id"));

		if ((size_t)json_integer_value(json_object_get(hit, "source")) != src ||
		    json_integer_value(json_object_get(hit, "model_id")) != mid)
			continue;
		if (n < cap && !has_pair(vids, fids, n, vid, fid)) {
			vids[n] = vid;
			fids[n++] = fid;
		}
	}
	if (!model && n > before) {
		rc = json_array_append_new(a->warnings, json_sprintf("model %lld of source '%s' could not be fetched: "
			"its files are in no pack yet", (long long)mid, provider)) ? oom() : 0;
		goto out;
	}
	if (n > before) {
		o.name = pack;
		o.version_ids = vids;
		o.file_ids = fids;
		o.nversions = n;
		o.no_previews = true;
		rc = syn__pack_import_model(a->st, chain, src, model, &o, &report);
		if (rc == SYN_ENOMEM)
			goto out;
		if (rc) {
			rc = json_array_append_new(a->warnings, json_sprintf("cannot make the pack of model %lld of "
				"source '%s': %s", (long long)mid, provider, syn_error_last())) ? oom() : 0;
			syn_error_clear();
			goto out;
		}
		pack = syn_doc_str(report, "pack_name", NULL);
		rc = pack ? write_manifests(a->st, pack) : 0;
		if (!rc && json_array_append_new(packs, json_pack("{s:s, s:b, s:I}", "name", pack, "created",
			!json_is_true(json_object_get(report, "updated")), "files", (json_int_t)(n - before))))
			rc = oom();
	}
	/* the files of this model now name their pack */
	json_object_foreach(found, key, hit)
		if (!rc && pack && (size_t)json_integer_value(json_object_get(hit, "source")) == src &&
		    json_integer_value(json_object_get(hit, "model_id")) == mid &&
		    json_object_set_new((json_t *)hit, "pack", json_string(pack)))
			rc = oom();
out:
	json_decref(report);
	free(vids);
	free(fids);
	return rc;
}

/* The file name the local pack exposes for @it: its own when safe and free in @taken, else a made one. */
static int local_filename(const struct item *it, json_t *taken, struct syn_buf *out)
{
	const char *base = strrchr(it->path, '/') ? strrchr(it->path, '/') + 1 : it->path;
	const char *dot;
	int rc;

	syn_buf_clear(out);
	if (syn_name_check_file(base) == 0) {
		rc = syn_buf_puts(out, base);
	} else {
		syn_error_clear();
		dot = strrchr(base, '.');
		rc = syn_buf_printf(out, "%.12s", it->sha);
		for (; !rc && dot && *dot; dot++)
			rc = syn_buf_put(out, isalnum((unsigned char)*dot) || *dot == '.' ? dot : "_", 1);
	}
	if (!rc && json_object_get(taken, out->ptr)) {
		const char *ext = strrchr(out->ptr, '.');
		size_t stem = ext ? (size_t)(ext - out->ptr) : out->len;
		struct syn_buf made = SYN_BUF_INIT;

		rc = syn_buf_printf(&made, "%.*s-%.8s%s", (int)stem, out->ptr, it->sha, ext ? ext : "");
		if (!rc) {
			syn_buf_clear(out);
			rc = syn_buf_puts(out, made.ptr);
		}
		syn_buf_dispose(&made);
	}
	if (!rc && json_object_set_new(taken, out->ptr, json_true()))
		rc = oom();
	return rc;
}

/* A new local pack document named @name. */
static json_t *local_pack_doc(const char *name, const char *folder)
{
	json_t *url = shown(folder); /* a path that is not UTF-8 is shown escaped */

	if (!url)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}, s:[], s:[], s:{s:b, s:b}, s:[], s:n, s:n, s:s, s:n, "
			 "s:n, s:[], s:[], s:[], s:n, s:n, s:n, s:[], s:{}}",
			 "schema", SYN_SCHEMA_PACK, "name", name, "pack_type", "unknown", "pack_category", "local",
			 "source", "provider", "local", "url", url, "dependencies", "pack_dependencies",
			 "resources", "previews_keep_in_git", 1, "workflows_keep_in_git", 1, "previews", "cover_url",
			 "version", "description", "Model files adopted from the folder", "base_model", "author",
			 "tags", "user_tags", "trigger_words", "created_at", "parameters", "parameters_source",
			 "workflows", "model_info");
}

/* Whether pack @name's lock.json has an entry for every dependency of @deps. */
static bool lock_covers(struct syn_store *st, const char *name, const json_t *deps)
{
	json_t *lock = NULL, *dep;
	size_t i;
	bool all;

	if (syn__docs_pack_read(st, name, "lock.json", &lock)) {
		syn_error_clear();
		return false;
	}
	all = true;
	json_array_foreach(deps, i, dep)
		all = all && syn__docs_lock_entry(lock, syn_doc_str(dep, "id", "")) != NULL;
	json_decref(lock);
	return all;
}

/*
 * The local pack of folder @f: every file of @files (items of that folder,
 * digests no source knows and no pack references), added to the pack
 * "adopted-<folder>" (made, or extended when it is already a local pack).
 */
static int pack_local(struct adopt *a, size_t f, struct item **files, size_t nfiles, json_t *packs,
		      json_t *unrecognised)
{
	struct syn_buf name = SYN_BUF_INIT, raw = SYN_BUF_INIT, fname = SYN_BUF_INIT;
	json_t *pack = NULL, *lock = NULL, *deps, *dep, *taken = json_object(), *types = json_object();
	json_t *ids = json_object();
	const char *pname;
	bool created = false, repair;
	size_t i, added = 0, first_new = 0;
	int rc = taken && types && ids ? 0 : oom();

	if (!rc)
		rc = syn_buf_printf(&raw, "adopted-%s", a->folders[f].name);
	if (!rc)
		rc = syn_pack_sanitize_name(&name, raw.ptr);
	if (!rc && syn_name_check_pack(name.ptr)) {
		syn_error_clear();
		syn_buf_clear(&name);
		rc = syn_buf_printf(&name, "adopted-%zu", f + 1);
	}
	if (rc)
		goto out;
	rc = syn__docs_pack_read(a->st, name.ptr, "pack.json", &pack);
	if (!rc && strcmp(syn_doc_str(json_object_get(pack, "source"), "provider", ""), "local")) {
		/* a pack of that name that is not a local one is never taken over */
		json_decref(pack);
		pack = NULL;
		rc = syn_buf_puts(&name, "-local");
		if (!rc)
			rc = syn__docs_pack_read(a->st, name.ptr, "pack.json", &pack);
	}
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		pack = local_pack_doc(name.ptr, a->folders[f].path);
		created = true;
		rc = pack ? 0 : oom();
	}
	if (rc)
		goto out;
	deps = json_object_get(pack, "dependencies");
	if (!json_is_array(deps)) {
		rc = json_object_set_new(pack, "dependencies", deps = json_array()) ? oom() : 0;
		if (rc)
			goto out;
	}
	first_new = json_array_size(deps);
	json_array_foreach(deps, i, dep) {
		const char *fn = syn_doc_str(json_object_get(dep, "expose"), "filename", NULL);

		if ((fn && json_object_set_new(taken, fn, json_true())) ||
		    json_object_set_new(ids, syn_doc_str(dep, "id", ""), json_true()))
			rc = oom();
	}
	for (i = 0; !rc && i < nfiles; i++) {
		struct item *it = files[i];
		char id[32];
		json_t *p;

		snprintf(id, sizeof(id), "file_%.12s", it->sha);
		if (json_object_get(ids, id))
			continue;
		if (json_object_set_new(ids, id, json_true())) {
			rc = oom();
			break;
		}
		rc = local_filename(it, taken, &fname);
		p = rc ? NULL : shown(it->path);
		dep = p ? json_pack("{s:s, s:s, s:b, s:{s:s, s:s, s:I}, s:{s:s, s:[]}, s:{s:s}, s:o}", "id", id,
				    "kind", it->kind[0] ? it->kind : "unknown", "required", 1, "selector",
				    "strategy", SYN__STRATEGY_BLOB, "sha256", it->sha, "size_bytes",
				    (json_int_t)it->sb.st_size, "expose", "filename", fname.ptr, "trigger_words",
				    "update_policy", "mode", "pinned", "description", p) : NULL;
		if (!rc && (!dep || json_array_append_new(deps, dep)))
			rc = oom();
		if (!rc && json_object_set_new(types, it->kind[0] ? it->kind : "unknown", json_true()))
			rc = oom();
		added++;
	}
	/* a run stopped between the pack's two documents: its lock is made again */
	repair = !rc && !added && !created && !lock_covers(a->st, name.ptr, deps);
	if (repair)
		first_new = 0;
	if (rc || (!added && !repair))
		goto out;
	pname = name.ptr;
	if (json_object_size(types) == 1 && created)
		rc = json_object_set_new(pack, "pack_type", json_string(json_object_iter_key(json_object_iter(types))))
			     ? oom() : 0;
	if (!rc)
		rc = syn__pack_build_lock(a->st, pname, deps, &lock);
	if (!rc)
		rc = syn__docs_pack_write_both(a->st, pname, pack, lock);
	/* the manifests of the blobs this run added: the lock lists them in dependency order */
	for (i = first_new; !rc && i < json_array_size(deps); i++) {
		json_t *entry = json_array_get(json_object_get(lock, "resolved"), i);
		const char *sha = syn_doc_str(json_object_get(entry, "artifact"), "sha256", NULL);

		if (sha && !strcmp(syn_doc_str(entry, "dependency_id", ""), syn_doc_str(json_array_get(deps, i), "id", "")))
			rc = syn__install_manifest(a->st, sha, json_array_get(deps, i), json_object_get(entry, "artifact"));
	}
	if (!rc)
		rc = syn__docs_global_edit(a->st, pname, true, NULL);
	if (!rc)
		rc = syn__install_commit(a->st, "adopt", pname, SYN__CHANGED_PACK | SYN__CHANGED_GLOBAL);
	if (!rc)
		rc = syn__views_refresh(a->st, false, &pname, 1, a->warnings);
	if (!rc && json_array_append_new(packs, json_pack("{s:s, s:b, s:I}", "name", pname, "created", created,
							  "files", (json_int_t)added)))
		rc = oom();
	for (i = 0; !rc && i < json_array_size(unrecognised); i++) {
		json_t *u = json_array_get(unrecognised, i);

		if (!strcmp(a->folders[json_integer_value(json_object_get(u, "folder"))].name, a->folders[f].name) &&
		    json_object_set_new(u, "pack", json_string(pname)))
			rc = oom();
	}
out:
	json_decref(pack);
	json_decref(lock);
	json_decref(taken);
	json_decref(types);
	json_decref(ids);
	syn_buf_dispose(&name);
	syn_buf_dispose(&raw);
	syn_buf_dispose(&fname);
	return rc;
}

/* ---- the report ------------------------------------------------------------ */

static int cmp_by_sha(const void *x, const void *y)
{
	const struct item *a = *(struct item *const *)x, *b = *(struct item *const *)y;
	int c = strcmp(a->sha, b->sha);

	return c ? c : strcmp(a->path, b->path);
}

/* Groups of files with the same bytes, and the bytes the extra copies take (hard links take none). */
static int duplicates(struct adopt *a, json_t **out, uint64_t *wasted_total)
{
	struct item **v = a->nitems ? calloc(a->nitems, sizeof(*v)) : NULL;
	size_t n = 0, i, j;
	int rc = 0;

	*wasted_total = 0;
	*out = json_array();
	if (!*out || (a->nitems && !v)) {
		free(v);
		return oom();
	}
	for (i = 0; i < a->nitems; i++)
		if (a->items[i].state == IT_DONE)
			v[n++] = &a->items[i];
	if (n)
		qsort(v, n, sizeof(*v), cmp_by_sha);
	for (i = 0; !rc && i < n; i = j) {
		json_t *paths, *g;
		size_t inodes = 0, k;

		for (j = i + 1; j < n && !strcmp(v[j]->sha, v[i]->sha); j++)
			;
		if (j - i < 2)
			continue;
		paths = json_array();
		for (k = i; paths && k < j; k++) {
			size_t m;

			if (json_array_append_new(paths, shown(v[k]->path))) {
				json_decref(paths);
				paths = NULL;
				break;
			}
			for (m = i; m < k; m++)
				if (v[m]->sb.st_dev == v[k]->sb.st_dev && v[m]->sb.st_ino == v[k]->sb.st_ino)
					break;
			inodes += m == k;
		}
		g = paths ? json_pack("{s:s, s:I, s:o, s:I}", "sha256", v[i]->sha, "size_bytes",
				      (json_int_t)v[i]->sb.st_size, "paths", paths, "wasted_bytes",
				      (json_int_t)((uint64_t)v[i]->sb.st_size * (inodes - 1))) : NULL;
		if (!g || json_array_append_new(*out, g))
			rc = oom();
		*wasted_total += (uint64_t)v[i]->sb.st_size * (inodes - 1);
	}
	free(v);
	return rc;
}

/* ---- the run ------------------------------------------------------------------ */

static void adopt_dispose(struct adopt *a)
{
	size_t i;

	for (i = 0; i < a->nitems; i++) {
		free(a->items[i].path);
		free(a->items[i].reason);
	}
	free(a->items);
	for (i = 0; i < a->nfolders; i++) {
		free(a->folders[i].path);
		free(a->folders[i].name);
	}
	free(a->folders);
	for (i = 0; i < a->nkinds; i++)
		free(a->kinds[i].path);
	free(a->kinds);
	json_decref(a->skipped);
	json_decref(a->warnings);
	syn_buf_dispose(&a->blobs_prefix);
}

/* Where files go: recognised ones by their pack, the others by their folder's local pack. */
static int make_packs(struct adopt *a, json_t *refs, json_t *recognised, json_t *unrecognised, json_t *packs)
{
	struct syn__sources chain = { 0 };
	json_t *todo = json_array(), *models = json_array(), *found = NULL, *seen = json_object(), *hit;
	struct item **local = a->nitems ? calloc(a->nitems, sizeof(*local)) : NULL;
	bool unasked = false;
	size_t i, f;
	int rc = todo && models && seen && (local || !a->nitems) ? 0 : oom();

	if (!rc)
		rc = syn__sources_init(&chain, a->st);
	/* digests a pack references already are known: only new ones are asked about */
	for (i = 0; !rc && i < a->nitems; i++) {
		const struct item *it = &a->items[i];

		if (it->state != IT_DONE || json_object_get(refs, it->sha) || json_object_get(seen, it->sha))
			continue;
		if (json_object_set_new(seen, it->sha, json_true()) || json_array_append_new(todo, json_string(it->sha)))
			rc = oom();
	}
	if (!rc)
		rc = identify(a, &chain, todo, models, &found, &unasked);
	/* one pack per model */
	json_object_clear(seen);
	for (i = 0; !rc && i < a->nitems; i++) {
		const struct item *it = &a->items[i];
		json_int_t src, mid;
		char key[64];

		hit = it->state == IT_DONE ? json_object_get(found, it->sha) : NULL;
		if (!hit)
			continue;
		src = json_integer_value(json_object_get(hit, "source"));
		mid = json_integer_value(json_object_get(hit, "model_id"));
		snprintf(key, sizeof(key), "%lld/%lld", (long long)src, (long long)mid);
		if (json_object_get(seen, key))
			continue;
		rc = json_object_set_new(seen, key, json_true()) ? oom() : 0;
		if (!rc && !a->o->dry_run)
			rc = pack_model(a, &chain, (size_t)src, mid, found, refs, models, packs);
	}
	for (i = 0; !rc && i < a->nitems; i++) {
		const struct item *it = &a->items[i];
		json_t *p, *e;

		if (it->state != IT_DONE || !(hit = json_object_get(found, it->sha)))
			continue;
		p = shown(it->path);
		e = p ? json_pack("{s:o, s:s, s:s, s:O?, s:O?, s:O?, s:O?}", "path", p, "sha256", it->sha, "source",
				  syn_registry_source_at(syn_store_registry(a->st),
							 (size_t)json_integer_value(json_object_get(hit, "source")))->name,
				  "model_id", json_object_get(hit, "model_id"), "version_id",
				  json_object_get(hit, "version_id"), "file_id", json_object_get(hit, "file_id"),
				  "pack", json_object_get(hit, "pack")) : NULL;
		if (!e || json_array_append_new(recognised, e))
			rc = oom();
	}
	/* the rest, unless a source that might know them could not be asked */
	for (f = 0; !rc && f < a->nfolders; f++) {
		size_t n = 0, g;

		/* folders of one name (a UI's) share one pack, made at the first of them */
		for (g = 0; g < f && strcmp(a->folders[g].name, a->folders[f].name); g++)
			;
		if (g < f)
			continue;
		for (i = 0; !rc && i < a->nitems; i++) {
			struct item *it = &a->items[i];
			json_t *p, *e;

			if (strcmp(a->folders[it->root].name, a->folders[f].name) || it->state != IT_DONE || json_object_get(found, it->sha) ||
			    json_object_get(refs, it->sha) || unasked)
				continue;
			p = shown(it->path);
			e = p ? json_pack("{s:o, s:s, s:I, s:n, s:I}", "path", p, "sha256", it->sha, "size_bytes",
					  (json_int_t)it->sb.st_size, "pack", "folder", (json_int_t)f) : NULL;
			if (!e || json_array_append_new(unrecognised, e)) {
				rc = oom();
				break;
			}
			/* a digest found twice goes to the first folder's pack, once */
			if (json_object_set_new(refs, it->sha, json_array()))
				rc = oom();
			local[n++] = it;
		}
		if (!rc && n && !a->o->dry_run)
			rc = pack_local(a, f, local, n, packs, unrecognised);
	}
	for (i = 0; i < json_array_size(unrecognised); i++)
		json_object_del(json_array_get(unrecognised, i), "folder");
	syn__sources_dispose(&chain);
	json_decref(todo);
	json_decref(models);
	json_decref(found);
	json_decref(seen);
	free(local);
	return rc;
}

int syn_adopt(struct syn_store *st, const struct syn_adopt_options *o, json_t **report)
{
	struct adopt a = { .st = st, .o = o, .blobs_prefix = SYN_BUF_INIT };
	struct syn__filehash *cache = NULL;
	json_t *refs = NULL, *recognised = json_array(), *unrecognised = json_array(), *packs = json_array();
	json_t *dups = NULL, *folders = json_array(), *skipped = json_array(), *created = NULL;
	uint64_t wasted = 0, stored = 0;
	size_t i, hashed = 0, cached = 0, adopted = 0, already = 0, cloned = 0, hard_linked = 0, moved = 0;
	bool locked = false;
	int rc;

	*report = NULL;
	a.skipped = json_array();
	a.warnings = json_array();
	rc = a.skipped && a.warnings && recognised && unrecognised && packs && folders && skipped ? 0 : oom();
	if (!rc)
		rc = syn_store_require_init(st);
	for (i = 0; !rc && i < o->nfolders; i++)
		rc = o->folders[i] && *o->folders[i] ? add_folder(&a, o->folders[i], NULL)
						     : syn_error_set(SYN_EUSAGE, "a folder to adopt must not be empty");
	if (!rc)
		rc = ui_folders(&a);
	/* the blobs' own folder: a link into it is a file adopted before */
	if (!rc && syn_blob_path(st, "0000000000000000000000000000000000000000000000000000000000000000",
				 &a.blobs_prefix) == 0) {
		syn_buf_truncate(&a.blobs_prefix, a.blobs_prefix.len - 67);
	} else if (!rc) {
		syn_error_clear();
	}
	if (!rc && stat(syn_store_data_root(st), &a.data_sb) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot look at '%s'", syn_store_data_root(st));
	if (!rc && !o->dry_run) {
		rc = syn_store_lock(st, "adopt");
		locked = !rc;
	}
	if (locked)
		syn_state_prepare(st);
	if (!rc)
		rc = list_files(&a);
	if (!rc)
		rc = syn__filehash_load(st, &cache);
	if (!rc) {
		struct syn_backend *be;

		/* the chain is built once here, before the readers share it */
		rc = syn_store_backend_at(st, 0, &be, NULL);
	}
	if (!rc)
		rc = read_all(&a, cache);
	if (!rc && syn__filehash_save(st, cache)) {
		/* a cache that cannot be written costs the next run time, nothing else */
		rc = json_array_append_new(a.warnings, json_sprintf("cannot remember the digests: %s", syn_error_last()))
			     ? oom() : 0;
		syn_error_clear();
	}
	if (!rc)
		rc = syn__guard_references(st, &refs, a.warnings, NULL);
	if (!rc)
		rc = make_packs(&a, refs, recognised, unrecognised, packs);
	/* only what a pack now holds may lose its original: the store keeps what packs reference */
	if (!rc && o->mode == SYN_ADOPT_MOVE && !o->dry_run) {
		json_decref(refs);
		refs = NULL;
		rc = syn__guard_references(st, &refs, a.warnings, NULL);
		if (!rc)
			rc = move_originals(&a, refs);
	}
	if (!rc)
		rc = duplicates(&a, &dups, &wasted);
	if (!rc && !(created = json_object()))
		rc = oom();
	/* two copies read at once may both have made the blob: a digest is adopted once */
	for (i = 0; !rc && i < a.nitems; i++) {
		const struct item *it = &a.items[i];

		if (it->state != IT_DONE || !it->created || json_object_get(created, it->sha))
			continue;
		rc = json_object_set_new(created, it->sha, json_true()) ? oom() : 0;
		adopted++;
		stored += (uint64_t)it->sb.st_size;
	}
	for (i = 0; !rc && i < a.nitems; i++) {
		const struct item *it = &a.items[i];

		if (it->state == IT_SKIPPED) {
			rc = note_skip(skipped, it->path, it->reason ? it->reason : "cannot be read");
			continue;
		}
		if (it->via_link) {
			already++; /* its blob is its bytes */
			continue;
		}
		hashed += it->hashed;
		cached += !it->hashed;
		cloned += it->cloned;
		hard_linked += it->hard_linked;
		moved += it->moved;
		if (!json_object_get(created, it->sha) && (!o->dry_run || syn_blob_exists(st, it->sha)))
			already++;
	}
	if (!rc && o->dry_run) {
		/* what a real run would store: each digest the store lacks, once */
		json_t *seen = json_object();

		for (i = 0; !rc && seen && i < a.nitems; i++) {
			const struct item *it = &a.items[i];

			if (it->state != IT_DONE || json_object_get(seen, it->sha) || syn_blob_exists(st, it->sha))
				continue;
			rc = json_object_set_new(seen, it->sha, json_true()) ? oom() : 0;
			adopted++;
			stored += (uint64_t)it->sb.st_size;
		}
		rc = seen ? rc : oom();
		json_decref(seen);
	}
	if (!rc && json_array_extend(skipped, a.skipped))
		rc = oom();
	for (i = 0; !rc && i < a.nfolders; i++)
		if (json_array_append_new(folders, shown(a.folders[i].path)))
			rc = oom();
	if (!rc) {
		*report = json_pack("{s:b, s:s, s:O, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:O, s:O, "
				    "s:O, s:I, s:O, s:O}",
				    "dry_run", o->dry_run, "mode", syn_adopt_mode_name(o->mode),
				    "folders", folders, "files_scanned", (json_int_t)(a.nitems + a.dangling),
				    "hashed", (json_int_t)hashed, "cached", (json_int_t)cached,
				    "adopted", (json_int_t)adopted, "already_stored", (json_int_t)already,
				    "cloned", (json_int_t)cloned, "hard_linked", (json_int_t)hard_linked,
				    "bytes_stored", (json_int_t)stored,
				    "moved", (json_int_t)moved, "linked_before", (json_int_t)(a.linked - a.dangling),
				    "recognised", recognised, "unrecognised", unrecognised, "packs", packs,
				    "duplicates", dups, "wasted_bytes", (json_int_t)wasted, "skipped", skipped,
				    "warnings", a.warnings);
		if (!*report)
			rc = oom();
	}
	if (locked)
		syn_store_unlock(st);
	syn__filehash_free(cache);
	adopt_dispose(&a);
	json_decref(refs);
	json_decref(recognised);
	json_decref(unrecognised);
	json_decref(packs);
	json_decref(dups);
	json_decref(folders);
	json_decref(skipped);
	json_decref(created);
	return rc;
}
