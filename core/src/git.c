/*
 * synapse-git.so: the state history through libgit2. Loaded by libsynapse
 * the first time a command records or reads history (see state.c), so that
 * commands which change no state never pay for loading libgit2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/odb_backend.h>

#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/state.h"

SYN_EXTERN void syn_git_prepare(void);
SYN_EXTERN int syn_git_ensure_repo(const char *root);
SYN_EXTERN int syn_git_commit(const char *root, const char *message, const char *const *paths, char *oid_out);
SYN_EXTERN int syn_git_history(const char *root, size_t limit, json_t **out);
SYN_EXTERN int syn_git_pack(const char *root, size_t at_least, size_t *packed, uint64_t *freed);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void git_init(void)
{
	init_rc = git_libgit2_init() < 0 ? -1 : 0;
	/* state/ is the source of truth: its git objects must survive a crash too */
	if (!init_rc)
		git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, syn_fs_fsync_enabled() ? 1 : 0);
}

/* 0 once libgit2 is initialized, else an error. */
static int git_ready(void)
{
	pthread_once(&init_once, git_init);
	return init_rc ? syn_error_set(SYN_ERROR, "cannot initialize libgit2") : 0;
}

/* Turn the last libgit2 error into ours (Debian's libgit2 1.5 may have none). */
static int git_fail(int code, const char *what)
{
	const git_error *e = git_error_last();

	return syn_error_set(code, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
}

static int open_repo(git_repository **out, const char *root, bool create)
{
	int err;

	err = git_repository_open_ext(out, root, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (err == GIT_ENOTFOUND && create)
		err = git_repository_init(out, root, 0);
	if (err == GIT_ENOTFOUND)
		return syn_error_set(SYN_ENOTFOUND, "'%s' has no git history yet", root);
	if (err < 0)
		return git_fail(SYN_EIO, "cannot open the state repository");
	return 0;
}

/* Initialize libgit2 now (any thread), so that the first commit does not wait for it. */
void syn_git_prepare(void)
{
	git_ready();
	syn_error_clear();
}

int syn_git_ensure_repo(const char *root)
{
	git_repository *repo = NULL;
	int rc = git_ready() ? git_ready() : open_repo(&repo, root, true);

	git_repository_free(repo);
	return rc;
}

/* Whether @name is one of Synapse's temporary files, never recorded. */
static bool is_temp(const char *name)
{
	return strncmp(name, SYN_FS_TMP_PREFIX, strlen(SYN_FS_TMP_PREFIX)) == 0;
}

/* Skip Synapse's own temporary files; add everything else. */
static int add_filter(const char *path, const char *matched, void *payload)
{
	const char *base = strrchr(path, '/');

	(void)matched;
	(void)payload;
	base = base ? base + 1 : path;
	return is_temp(base) ? 1 : 0;
}

static int make_signature(git_signature **out, git_repository *repo)
{
	if (git_signature_default(out, repo) == 0)
		return 0;
	git_error_clear();
	if (git_signature_now(out, "Synapse", "synapse@localhost") < 0)
		return git_fail(SYN_ERROR, "cannot create a commit signature");
	return 0;
}

/* What walk_files() calls for each regular file: @name in the folder open at @dirfd, @rel in the work tree. */
typedef int (*file_fn)(void *ctx, int dirfd, const char *name, const char *rel, const struct stat *sb);

/*
 * Call @fn on every regular file under @rel (a folder of the work tree,
 * open at @fd, which is taken), leaving out Synapse's temporary files; a
 * file gone meanwhile is left out too (its removal is what the caller
 * sees). @rel grows and shrinks in place.
 */
static int walk_files(int fd, struct syn_buf *rel, file_fn fn, void *ctx)
{
	DIR *dir = fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (!dir) {
		close(fd);
		return syn_error_set_errno(SYN_EIO, errno, "cannot read state folder '%s'", rel->ptr);
	}
	while (!rc && (errno = 0, de = readdir(dir))) {
		size_t len = rel->len;
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || is_temp(de->d_name))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			/* gone meanwhile; any other failure is no removal */
			if (errno == ENOENT)
				continue;
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot read state file '%s/%s'", rel->ptr, de->d_name);
			break;
		}
		rc = syn_buf_printf(rel, "/%s", de->d_name);
		if (!rc && S_ISREG(sb.st_mode))
			rc = fn(ctx, dirfd(dir), de->d_name, rel->ptr, &sb);
		if (!rc && S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			rc = sub < 0 ? syn_error_set_errno(SYN_EIO, errno, "cannot open state folder '%s'", rel->ptr)
				     : walk_files(sub, rel, fn, ctx);
		}
		syn_buf_truncate(rel, len);
	}
	if (!rc && errno)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot read state folder '%s'", rel->ptr);
	closedir(dir);
	return rc;
}

/* walk_files() callback: stage file @rel in the index @ctx. */
static int stage_file(void *ctx, int dirfd, const char *name, const char *rel, const struct stat *sb)
{
	(void)dirfd;
	(void)name;
	(void)sb;
	return git_index_add_bypath(ctx, rel) < 0 ? git_fail(SYN_EIO, "cannot stage a state document") : 0;
}

/*
 * Bring the index entries of @path (a file or a directory relative to the
 * work tree at @root) in line with the work tree: what is gone is dropped,
 * what is there is added. Only @path is read, whatever the size of the rest.
 */
static int stage_path(git_index *index, const char *root, const char *path)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct stat sb;
	bool there = false;
	int rootfd, fd, rc;

	if (git_index_remove_directory(index, path, 0) < 0 ||
	    (git_index_get_bypath(index, path, 0) && git_index_remove_bypath(index, path) < 0))
		return git_fail(SYN_EIO, "cannot stage the state changes");
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", root);
	rc = syn_buf_puts(&rel, path);
	if (!rc && fstatat(rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		there = true;
	else if (!rc && errno != ENOENT && errno != ENOTDIR)
		/* a path that cannot be read is not a path that was removed */
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot read state path '%s'", path);
	if (there && S_ISREG(sb.st_mode) && git_index_add_bypath(index, path) < 0)
		rc = git_fail(SYN_EIO, "cannot stage a state document");
	if (there && S_ISDIR(sb.st_mode)) {
		fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = fd < 0 ? syn_error_set_errno(SYN_EIO, errno, "cannot open state folder '%s'", path)
			    : walk_files(fd, &rel, stage_file, index);
	}
	close(rootfd);
	syn_buf_dispose(&rel);
	return rc;
}

/* Stage @paths (NULL: the whole work tree) in @index. */
static int stage(git_index *index, const char *root, const char *const *paths)
{
	char *pathspec_strs[] = { (char *)"*" };
	git_strarray pathspec = { pathspec_strs, 1 };
	int rc = 0;

	if (!paths) {
		if (git_index_add_all(index, &pathspec, GIT_INDEX_ADD_DEFAULT, add_filter, NULL) < 0 ||
		    git_index_update_all(index, &pathspec, add_filter, NULL) < 0)
			return git_fail(SYN_EIO, "cannot stage the state changes");
	}
	for (; !rc && paths && *paths; paths++)
		rc = stage_path(index, root, *paths);
	return rc;
}

/* The edits a path-limited commit makes to HEAD's tree; each path is owned. */
struct tree_edits {
	git_tree_update *v;
	size_t n, cap;
};

/* Append one edit of @path to @e (@id and @mode only for an upsert). */
static int edits_add(struct tree_edits *e, git_tree_update_t action, const char *path, const git_oid *id,
		     git_filemode_t mode)
{
	git_tree_update *u;

	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		git_tree_update *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		e->v = v;
		e->cap = cap;
	}
	u = &e->v[e->n];
	memset(u, 0, sizeof(*u));
	u->path = strdup(path);
	if (!u->path)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	u->action = action;
	u->filemode = mode;
	if (id)
		git_oid_cpy(&u->id, id);
	e->n++;
	return 0;
}

/* Free @e and the paths it owns. */
static void edits_dispose(struct tree_edits *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free((char *)e->v[i].path);
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

/* qsort order of edits: by path, as git_tree_create_updated() walks them. */
static int edit_cmp(const void *a, const void *b)
{
	return strcmp(((const git_tree_update *)a)->path, ((const git_tree_update *)b)->path);
}

/* Sort @e and drop repeated paths (named paths may overlap: a folder and a file in it). */
static void edits_sort(struct tree_edits *e)
{
	size_t i, n = 0;

	if (e->n > 1)
		qsort(e->v, e->n, sizeof(*e->v), edit_cmp);
	for (i = 0; i < e->n; i++) {
		if (n && !strcmp(e->v[n - 1].path, e->v[i].path)) {
			free((char *)e->v[i].path);
			continue;
		}
		e->v[n++] = e->v[i];
	}
	e->n = n;
}

/* Upsert the file @name of the folder open at @dirfd, @rel in the work tree, as a blob of @repo. */
static int upsert_file(struct tree_edits *e, git_repository *repo, int dirfd, const char *name, const char *rel,
		       const struct stat *sb)
{
	struct syn_buf body = SYN_BUF_INIT;
	git_oid id;
	int rc = syn_fs_read(&body, dirfd, name, SIZE_MAX);

	if (rc == SYN_ENOTFOUND) {
		/* gone meanwhile: HEAD's copy is removed below */
		syn_error_clear();
		rc = 0;
	} else if (!rc && git_blob_create_from_buffer(&id, repo, body.ptr, body.len) < 0) {
		rc = git_fail(SYN_EIO, "cannot store a state document");
	} else if (!rc) {
		rc = edits_add(e, GIT_TREE_UPDATE_UPSERT, rel, &id,
			       sb->st_mode & S_IXUSR ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB);
	}
	syn_buf_dispose(&body);
	return rc;
}

/* What upsert_each() needs. */
struct upserts {
	struct tree_edits *e;
	git_repository *repo;
};

/* walk_files() callback: upsert the file as a blob (upsert_file()). */
static int upsert_each(void *ctx, int dirfd, const char *name, const char *rel, const struct stat *sb)
{
	struct upserts *u = ctx;

	return upsert_file(u->e, u->repo, dirfd, name, rel, sb);
}

/*
 * The edits that make @path what the work tree (open at @rootfd) holds
 * there now: a file is upserted; a folder replaces what was there, a
 * removal of the path followed by each file under it (edit_tree() takes
 * the two together); nothing there, the path is removed.
 */
static int edits_from_disk(struct tree_edits *e, git_repository *repo, int rootfd, const char *path)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct stat sb;
	int fd, rc;

	if (fstatat(rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		/* a path that cannot be read is not a path that was removed */
		return errno == ENOENT || errno == ENOTDIR
			? edits_add(e, GIT_TREE_UPDATE_REMOVE, path, NULL, 0)
			: syn_error_set_errno(SYN_EIO, errno, "cannot read state path '%s'", path);
	if (S_ISREG(sb.st_mode))
		return upsert_file(e, repo, rootfd, path, path, &sb);
	if (!S_ISDIR(sb.st_mode))
		return 0;
	rc = edits_add(e, GIT_TREE_UPDATE_REMOVE, path, NULL, 0);
	if (rc)
		return rc;
	fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open state folder '%s'", path);
	rc = syn_buf_puts(&rel, path);
	if (rc)
		close(fd);
	else
		rc = walk_files(fd, &rel, upsert_each, &(struct upserts){ e, repo });
	syn_buf_dispose(&rel);
	return rc;
}

/* ---- editing trees --------------------------------------------------------- */

/*
 * A tree is edited as the bytes of its object ("<octal mode> <name>\0" and
 * 20 bytes of id per entry, sorted): only the entries on the way to a
 * changed path are read, and a folder of 10,000 packs is copied, not
 * parsed into entries, sorted and checked again.
 */

#define RAW_ID_LEN 20
#define TREE_MODE 040000

/* One entry of a tree object. */
struct raw_entry {
	const char *name;
	size_t len;
	unsigned mode;
	const unsigned char *id; /* RAW_ID_LEN bytes */
	const char *bytes;       /* an entry read from an object: all of it there, @size bytes */
	size_t size;
};

/* The order of entries in a tree: by name, a folder's name as if it ended in '/'. */
static int raw_cmp(const struct raw_entry *a, const struct raw_entry *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->name, b->name, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = a->len > n ? (unsigned char)a->name[n] : a->mode == TREE_MODE ? '/' : '\0';
	cb = b->len > n ? (unsigned char)b->name[n] : b->mode == TREE_MODE ? '/' : '\0';
	return ca < cb ? -1 : ca > cb;
}

/* The entries of tree object @data (@len bytes) in *@out (*@n): SYN_ECORRUPT when it is not one. */
static int raw_parse(const char *data, size_t len, struct raw_entry **out, size_t *n)
{
	const char *p = data, *end = data + len, *nul;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	while (p < end) {
		struct raw_entry e = { .bytes = p };

		for (; p < end && *p >= '0' && *p <= '7'; p++)
			e.mode = e.mode * 8 + (unsigned)(*p - '0');
		nul = p < end && *p == ' ' ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		if (!nul || nul == p + 1 || (size_t)(end - nul - 1) < RAW_ID_LEN)
			return syn_error_set(SYN_ECORRUPT, "a tree of the last state commit is damaged");
		e.name = p + 1;
		e.len = (size_t)(nul - e.name);
		e.id = (const unsigned char *)nul + 1;
		p = nul + 1 + RAW_ID_LEN;
		e.size = (size_t)(p - e.bytes);
		if (*n == cap) {
			struct raw_entry *grown = realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof(*grown));

			if (!grown)
				return syn_error_set(SYN_ENOMEM, "out of memory");
			*out = grown;
		}
		(*out)[(*n)++] = e;
	}
	return 0;
}

/* The position of the entry named @name (@len bytes) in @v (@n, sorted), or -1. */
static ptrdiff_t raw_find(const struct raw_entry *v, size_t n, const char *name, size_t len)
{
	unsigned modes[] = { TREE_MODE, GIT_FILEMODE_BLOB };
	size_t k;

	for (k = 0; k < 2; k++) {
		struct raw_entry key = { .name = name, .len = len, .mode = modes[k] };
		size_t lo = 0, hi = n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = raw_cmp(&v[mid], &key);

			if (!c && (v[mid].mode == TREE_MODE) == (modes[k] == TREE_MODE))
				return (ptrdiff_t)mid;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return -1;
}

/* Whether a tree may hold an entry named @name (@len bytes), as git has it. */
static bool raw_name_ok(const char *name, size_t len)
{
	return len && !memchr(name, '/', len) && !memchr(name, '\0', len) && !(len == 1 && name[0] == '.') &&
	       !(len == 2 && !memcmp(name, "..", 2)) && !(len == 4 && !strncasecmp(name, ".git", 4));
}

static int raw_new_cmp(const void *a, const void *b)
{
	return raw_cmp(a, b);
}

/* Whether the @n edits at @v (paths after @skip bytes, sorted) remove the entry @name (@len bytes) itself. */
static bool removed(const git_tree_update *v, size_t n, size_t skip, const char *name, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = v[mid].path + skip;
		int c = strncmp(p, name, len);

		if (!c && !p[len])
			return v[mid].action == GIT_TREE_UPDATE_REMOVE;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid; /* after it, or a longer path it begins (those sort after it too) */
	}
	return false;
}

/*
 * Write the tree @base (NULL: none) with the @n edits at @v applied, their
 * paths relative to it after the first @skip bytes (sorted, each once), as
 * a tree of @odb: its id in @out, or *@empty when nothing is left of it.
 * The removal of a name with edits under it makes the folder anew: only
 * what they upsert is in it. 1 when an edit cannot be made as one (a file
 * edited as a folder or the other way round, or a name no tree holds).
 */
static int edit_tree(git_odb *odb, const git_oid *base, const git_tree_update *v, size_t n, size_t skip,
		     git_oid *out, bool *empty)
{
	struct raw_entry *old = NULL, *add = NULL;
	git_oid *ids = NULL;
	git_odb_object *obj = NULL;
	struct syn_buf text = SYN_BUF_INIT;
	unsigned char *drop = NULL;
	size_t nold = 0, nadd = 0, i, j, k;
	int rc = 0;

	*empty = false;
	if (base && git_odb_read(&obj, odb, base) < 0)
		return git_fail(SYN_ECORRUPT, "cannot read the last state commit");
	if (obj)
		rc = raw_parse(git_odb_object_data(obj), git_odb_object_size(obj), &old, &nold);
	add = rc ? NULL : calloc(n + 1, sizeof(*add));
	ids = rc ? NULL : calloc(n + 1, sizeof(*ids));
	drop = rc ? NULL : calloc(nold + 1, 1);
	if (!rc && (!add || !ids || !drop))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; !rc && i < n; i = j) {
		const char *name = v[i].path + skip, *slash = strchr(name, '/');
		size_t len = slash ? (size_t)(slash - name) : strlen(name);
		ptrdiff_t at = raw_find(old, nold, name, len);
		bool sub = slash != NULL, gone = false, replaced = sub && removed(v, n, skip, name, len);

		/* the edits of one name: itself, or the paths under it (sorted, they follow each other) */
		for (j = i + 1; j < n && !strncmp(v[j].path + skip, name, len) &&
				(v[j].path[skip + len] == '/') == sub && (sub || !v[j].path[skip + len]); j++)
			;
		/* a name no tree holds, or a file edited as a folder or the other way round */
		if (!raw_name_ok(name, len) || (at >= 0 && !replaced && (old[at].mode == TREE_MODE) != sub &&
						(sub || v[i].action != GIT_TREE_UPDATE_REMOVE))) {
			rc = 1;
			break;
		}
		if (sub) {
			git_oid child;
			bool from = at >= 0 && !replaced;

			if (from)
				git_oid_fromraw(&child, old[at].id);
			rc = edit_tree(odb, from ? &child : NULL, v + i, j - i, skip + len + 1, &ids[nadd], &gone);
			if (!rc && !gone)
				add[nadd++] = (struct raw_entry){ .name = name, .len = len, .mode = TREE_MODE };
		} else if (v[i].action == GIT_TREE_UPDATE_UPSERT) {
			git_oid_cpy(&ids[nadd], &v[i].id);
			add[nadd++] = (struct raw_entry){ .name = name, .len = len, .mode = v[i].filemode };
		}
		if (at >= 0)
			drop[at] = 1;
	}
	for (k = 0; k < nadd; k++)
		add[k].id = ids[k].id;
	if (nadd > 1)
		qsort(add, nadd, sizeof(*add), raw_new_cmp);
	for (k = 1; !rc && k < nadd; k++)
		if (add[k].len == add[k - 1].len && !memcmp(add[k].name, add[k - 1].name, add[k].len))
			rc = 1; /* a name made both a file and a folder */
	/* the old entries kept and the new ones, in order */
	for (i = 0, k = 0; !rc && (i < nold || k < nadd);) {
		const struct raw_entry *e;

		if (i < nold && drop[i]) {
			i++;
			continue;
		}
		e = k >= nadd || (i < nold && raw_cmp(&old[i], &add[k]) < 0) ? &old[i++] : &add[k++];
		if (e->bytes) {
			rc = syn_buf_put(&text, e->bytes, e->size);
			continue;
		}
		rc = syn_buf_printf(&text, "%o ", e->mode);
		if (!rc)
			rc = syn_buf_put(&text, e->name, e->len);
		if (!rc)
			rc = syn_buf_put(&text, "", 1);
		if (!rc)
			rc = syn_buf_put(&text, e->id, RAW_ID_LEN);
	}
	if (!rc && !text.len && skip) {
		*empty = true;
	} else if (!rc && git_odb_write(out, odb, text.len ? text.ptr : "", text.len, GIT_OBJECT_TREE) < 0) {
		rc = git_fail(SYN_EIO, "cannot write a state tree");
	}
	git_odb_object_free(obj);
	syn_buf_dispose(&text);
	free(old);
	free(add);
	free(ids);
	free(drop);
	return rc;
}

/*
 * The tree of a path-limited commit: HEAD's tree @head with @paths replaced
 * by what the work tree at @root holds there now, read straight from the
 * files. Only the trees on the way to each path and the subtrees at them
 * are read and written, and the index is not touched, however many packs
 * the store holds. Returns 1 when the change cannot be expressed as edits
 * of @head (a file became a folder or the other way round): the caller
 * then goes through the index.
 */
static int update_tree(git_oid *out, git_repository *repo, const char *root, git_tree *head, const char *const *paths)
{
	struct tree_edits e = { NULL, 0, 0 };
	const char *const *p;
	int rootfd, rc = 0;

	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", root);
	for (p = paths; !rc && *p; p++)
		rc = edits_from_disk(&e, repo, rootfd, *p);
	close(rootfd);
	if (!rc && !e.n) {
		git_oid_cpy(out, git_tree_id(head));
	} else if (!rc) {
		git_odb *odb = NULL;
		bool empty;

		edits_sort(&e);
		rc = git_repository_odb(&odb, repo) < 0 ? git_fail(SYN_EIO, "cannot open the state objects")
							: edit_tree(odb, git_tree_id(head), e.v, e.n, 0, out, &empty);
		git_odb_free(odb);
	}
	edits_dispose(&e);
	return rc;
}

int syn_git_commit(const char *root, const char *message, const char *const *paths, char *oid_out)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_tree *tree = NULL, *head_tree = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_oid tree_oid, head_oid, commit_oid;
	int rc, err;

	if (oid_out)
		oid_out[0] = '\0';
	rc = git_ready() ? git_ready() : open_repo(&repo, root, true);
	if (rc)
		return rc;
	err = git_reference_name_to_id(&head_oid, repo, "HEAD");
	if (err == 0) {
		if (git_commit_lookup(&parent, repo, &head_oid) < 0 || git_commit_tree(&head_tree, parent) < 0) {
			rc = git_fail(SYN_ECORRUPT, "cannot read the last state commit");
			goto out;
		}
	} else if (err != GIT_ENOTFOUND && err != GIT_EUNBORNBRANCH) {
		rc = git_fail(SYN_ECORRUPT, "cannot resolve HEAD of the state repository");
		goto out;
	}
	git_error_clear();
	/*
	 * A path-limited commit edits HEAD's tree at the named paths only,
	 * without the index. A whole commit, a first one, or one the edits
	 * cannot express goes through the index, which is first made HEAD's
	 * tree again (path-limited commits leave it behind), so that only what
	 * is named is staged; it is written, so git status is clean after it.
	 */
	rc = paths && head_tree ? update_tree(&tree_oid, repo, root, head_tree, paths) : 1;
	if (rc < 0)
		goto out;
	if (rc) {
		if (git_repository_index(&index, repo) < 0) {
			rc = git_fail(SYN_EIO, "cannot read the state index");
			goto out;
		}
		if (head_tree && git_index_read_tree(index, head_tree) < 0) {
			rc = git_fail(SYN_EIO, "cannot read the last state commit into the index");
			goto out;
		}
		rc = stage(index, root, paths);
		if (rc)
			goto out;
		if (git_index_write_tree(&tree_oid, index) < 0 || git_index_write(index) < 0) {
			rc = git_fail(SYN_EIO, "cannot stage the state changes");
			goto out;
		}
	}
	rc = 0;
	if (parent && git_oid_equal(git_commit_tree_id(parent), &tree_oid))
		goto out; /* nothing changed */
	rc = make_signature(&sig, repo);
	if (rc)
		goto out;
	if (git_tree_lookup(&tree, repo, &tree_oid) < 0 ||
	    git_commit_create_v(&commit_oid, repo, "HEAD", sig, sig, NULL, message, tree, parent ? 1 : 0,
				parent) < 0) {
		rc = git_fail(SYN_EIO, "cannot commit the state change");
		goto out;
	}
	if (oid_out)
		git_oid_tostr(oid_out, GIT_OID_HEXSZ + 1, &commit_oid);
out:
	git_signature_free(sig);
	git_tree_free(head_tree);
	git_commit_free(parent);
	git_tree_free(tree);
	git_index_free(index);
	git_repository_free(repo);
	return rc;
}

int syn_git_history(const char *root, size_t limit, json_t **out)
{
	git_repository *repo = NULL;
	git_revwalk *walk = NULL;
	json_t *commits = json_array();
	git_oid oid;
	size_t n = 0;
	int rc, err;

	*out = NULL;
	rc = git_ready() ? git_ready() : open_repo(&repo, root, false);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		rc = 0;
		goto done;
	}
	if (rc)
		goto fail;
	if (git_revwalk_new(&walk, repo) < 0) {
		rc = git_fail(SYN_EIO, "cannot walk the state history");
		goto fail;
	}
	/* topological first: commits made within one second keep their order */
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	err = git_revwalk_push_head(walk);
	if (err == GIT_ENOTFOUND || err == GIT_EUNBORNBRANCH) {
		git_error_clear();
		goto done;
	}
	if (err < 0) {
		rc = git_fail(SYN_ECORRUPT, "cannot read HEAD of the state repository");
		goto fail;
	}
	while ((limit == 0 || n < limit) && git_revwalk_next(&oid, walk) == 0) {
		git_commit *c = NULL;
		const git_signature *a;
		char id[GIT_OID_HEXSZ + 1], when[32];
		time_t t;
		struct tm tm;

		if (git_commit_lookup(&c, repo, &oid) < 0) {
			rc = git_fail(SYN_ECORRUPT, "cannot read a state commit");
			goto fail;
		}
		a = git_commit_author(c);
		t = (time_t)git_commit_time(c);
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		git_oid_tostr(id, sizeof(id), &oid);
		json_array_append_new(commits, json_pack("{s:s, s:s, s:s+++, s:s}", "id", id, "time", when,
			"author", a->name, " <", a->email, ">", "message", git_commit_summary(c) ? git_commit_summary(c) : ""));
		git_commit_free(c);
		n++;
	}
done:
	*out = json_pack("{s:O}", "commits", commits);
fail:
	json_decref(commits);
	git_revwalk_free(walk);
	git_repository_free(repo);
	return rc;
}

/* ---- packing ---------------------------------------------------------------
 *
 * Each commit leaves its objects loose, one compressed file each: in a
 * store of 10,000 packs the tree of state/packs alone is some 250 KiB a
 * commit. Packing puts them in one pack, where each version of a tree is
 * kept as its difference from another, then removes each loose file whose
 * object the new pack is seen to hold; an object it does not hold (one
 * written meanwhile) stays where it is.
 */

/* The loose objects of a repository, as git_odb_foreach() lists them. */
struct loose {
	git_oid *v;
	size_t n, cap;
	bool oom;
};

static int add_loose(const git_oid *id, void *arg)
{
	struct loose *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		git_oid *more = realloc(l->v, cap * sizeof(*more));

		if (!more) {
			l->oom = true;
			return -1;
		}
		l->v = more;
		l->cap = cap;
	}
	git_oid_cpy(&l->v[l->n++], id);
	return 0;
}

/* An object database of backend @b alone (NULL when it could not be made: then freed), in *@out. */
static int odb_of(git_odb **out, int made, git_odb_backend *b)
{
	*out = NULL;
	if (made < 0 || !b)
		return -1;
	if (git_odb_new(out) < 0 || git_odb_add_backend(*out, b, 1) < 0) {
		b->free(b);
		git_odb_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The loose objects under @objects (the repository's objects folder) into @l. */
static int list_loose(const char *objects, struct loose *l)
{
	git_odb *odb = NULL;
	git_odb_backend *b = NULL;
	int rc = 0, made = git_odb_backend_loose(&b, objects, -1, 0, 0, 0);

	if (odb_of(&odb, made, b) < 0)
		rc = git_fail(SYN_EIO, "cannot read the loose state objects");
	else if (git_odb_foreach(odb, add_loose, l) < 0)
		rc = l->oom ? syn_error_set(SYN_ENOMEM, "out of memory")
			    : git_fail(SYN_EIO, "cannot list the loose state objects");
	git_odb_free(odb);
	return rc;
}

/* Remove the loose file of each object of @l that the pack @idx (its index file) holds; their bytes into *@freed. */
static int drop_packed(const char *objects, const char *idx, const struct loose *l, size_t *packed, uint64_t *freed)
{
	git_odb *odb = NULL;
	git_odb_backend *b = NULL;
	char path[4096], hex[GIT_OID_HEXSZ + 1];
	size_t i;
	int dfd, made = git_odb_backend_one_pack(&b, idx);

	if (odb_of(&odb, made, b) < 0)
		return git_fail(SYN_EIO, "cannot read the new pack of state objects");
	dfd = open(objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (i = 0; dfd >= 0 && i < l->n; i++) {
		struct stat sb;

		if (!git_odb_exists(odb, &l->v[i]))
			continue;
		git_oid_tostr(hex, sizeof(hex), &l->v[i]);
		snprintf(path, sizeof(path), "%.2s/%s", hex, hex + 2);
		if (fstatat(dfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 && unlinkat(dfd, path, 0) == 0) {
			*freed += (uint64_t)sb.st_blocks * 512; /* what the disk gets back */
			(*packed)++;
		}
	}
	/* the fan-out folders left empty */
	for (i = 0; dfd >= 0 && i < 256; i++) {
		snprintf(path, sizeof(path), "%02zx", i);
		(void)unlinkat(dfd, path, AT_REMOVEDIR);
	}
	if (dfd >= 0)
		close(dfd);
	git_odb_free(odb);
	return dfd >= 0 ? 0 : syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", objects);
}

/*
 * Remove what a packer killed midway left in @packs (libgit2 writes a new
 * pack and its index as pack_git2_* files, linked into place once whole):
 * such files an hour old, which no live packer is still writing.
 */
static void drop_stale_pack_temps(const char *packs)
{
	DIR *d = opendir(packs);
	struct dirent *e;
	time_t now = time(NULL);

	while (d && (e = readdir(d))) {
		struct stat sb;

		if (!strncmp(e->d_name, "pack_git2_", strlen("pack_git2_")) &&
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
		    now - sb.st_mtime >= 3600)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
}

int syn_git_pack(const char *root, size_t at_least, size_t *packed, uint64_t *freed)
{
	git_repository *repo = NULL;
	git_packbuilder *pb = NULL;
	struct loose l = { NULL, 0, 0, false };
	char objects[4096], packs[4200], idx[4300];
	size_t i;
	int rc;

	*packed = 0;
	*freed = 0;
	rc = git_ready() ? git_ready() : open_repo(&repo, root, false);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(repo));
	snprintf(packs, sizeof(packs), "%s/pack", objects);
	drop_stale_pack_temps(packs);
	rc = list_loose(objects, &l);
	if (rc || l.n < at_least)
		goto out;
	if (git_packbuilder_new(&pb, repo) < 0) {
		rc = git_fail(SYN_EIO, "cannot pack the state objects");
		goto out;
	}
	git_packbuilder_set_threads(pb, 0); /* one per core */
	for (i = 0; !rc && i < l.n; i++)
		if (git_packbuilder_insert(pb, &l.v[i], NULL) < 0)
			rc = git_fail(SYN_EIO, "cannot pack the state objects");
	/* written and, with fsync on, on disk before any loose file goes */
	if (!rc && git_packbuilder_write(pb, NULL, 0, NULL, NULL) < 0)
		rc = git_fail(SYN_EIO, "cannot write the pack of state objects");
	if (rc)
		goto out;
	snprintf(idx, sizeof(idx), "%s/pack-%s.idx", packs, git_packbuilder_name(pb));
	rc = syn_fs_fsync_dir(AT_FDCWD, packs);
	if (!rc)
		rc = drop_packed(objects, idx, &l, packed, freed);
out:
	free(l.v);
	git_packbuilder_free(pb);
	git_repository_free(repo);
	return rc;
}
