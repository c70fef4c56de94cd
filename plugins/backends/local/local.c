/*
 * The `local` blob backend: data/blobs/sha256/<2>/<sha256>, read-only.
 *
 * A blob with a known digest stages at <sha256>.part beside its final
 * place, under an flock so a second process waits instead of writing into
 * the same file; a blob whose digest is not known yet stages in data/tmp/.
 * Commit is one renameat2(RENAME_NOREPLACE): an existing blob is never
 * replaced, and no second copy of the bytes is made. A blob's manifest is
 * <sha256>.meta beside it; a corrupt blob is set aside in data/quarantine/.
 * This file is the only one that knows this layout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <synapse/buf.h>
#include <synapse/errors.h>
#include <synapse/fs.h>
#include <synapse/hash.h>
#include <synapse/names.h>
#include <synapse/sys/backend.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

struct local_backend {
	struct syn_backend parent;
	char *blobs_root; /* <data>/blobs/sha256 */
	int blobs_fd;
	int tmp_fd;       /* <data>/tmp */
	int data_fd;      /* <data>, for quarantine/ */
	bool fsync;
};

/* What a stage remembers: where its bytes are. */
struct local_stage {
	int dirfd;        /* blobs_fd or tmp_fd (borrowed) */
	char name[128];   /* "ab/<sha>.part" or ".syn-tmp-blob.<rand>" */
};

#define LB(b) ((struct local_backend *)(b))

/* Longest name below blobs_fd: "ab/<sha>.meta" and "ab/<sha>.part". */
#define REL_MAX 80

/* "<2>/<sha256>": asked for every blob a view links, so without printf */
static void rel_of(char out[72], const char *sha)
{
	size_t n = strnlen(sha, 68);

	out[0] = sha[0];
	out[1] = sha[1];
	out[2] = '/';
	memcpy(out + 3, sha, n);
	out[3 + n] = '\0';
}

static void meta_rel_of(char out[REL_MAX], const char *sha)
{
	snprintf(out, REL_MAX, "%c%c/%s.meta", sha[0], sha[1], sha);
}

static int do_fsync(struct local_backend *lb, int fd, const char *what)
{
	return lb->fsync ? syn_fs_fsync(fd, what) : 0;
}

static int local_exists(struct syn_backend *b, const char *sha)
{
	char rel[72];
	struct stat sb;

	rel_of(rel, sha);
	if (fstatat(LB(b)->blobs_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return S_ISREG(sb.st_mode) ? 1 : 0;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return syn_error_set_errno(SYN_EIO, errno, "cannot check blob %s", sha);
}

static int local_size(struct syn_backend *b, const char *sha, uint64_t *out)
{
	char rel[72];
	struct stat sb;

	rel_of(rel, sha);
	if (fstatat(LB(b)->blobs_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
		return syn_error_set(SYN_ENOTFOUND, "blob %s is not stored", sha);
	*out = (uint64_t)sb.st_size;
	return 0;
}

static int local_open(struct syn_backend *b, const char *sha, int *fd_out)
{
	char rel[72];
	int fd;

	rel_of(rel, sha);
	fd = openat(LB(b)->blobs_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return syn_error_set(SYN_ENOTFOUND, "blob %s is not stored", sha);
		return syn_error_set_errno(SYN_EIO, errno, "cannot open blob %s", sha);
	}
	*fd_out = fd;
	return 0;
}

static int local_path(struct syn_backend *b, const char *sha, struct syn_buf *out)
{
	char rel[72];
	int rc;

	rel_of(rel, sha);
	syn_buf_clear(out);
	rc = syn_buf_puts(out, LB(b)->blobs_root);
	if (!rc)
		rc = syn_buf_puts(out, "/");
	return rc ? rc : syn_buf_puts(out, rel);
}

static int prefix_dir(struct local_backend *lb, const char *sha)
{
	char dir[3] = { sha[0], sha[1], '\0' };

	if (mkdirat(lb->blobs_fd, dir, 0755) < 0 && errno != EEXIST)
		return syn_error_set_errno(SYN_EIO, errno, "cannot create blob directory '%s/%s'", lb->blobs_root, dir);
	return 0;
}

/* Move a staged file into place without replacing; an existing blob wins. */
static int publish(struct local_backend *lb, int from_dir, const char *from, const char *sha)
{
	char rel[72], dir[3] = { sha[0], sha[1], '\0' };

	rel_of(rel, sha);
	if (renameat2(from_dir, from, lb->blobs_fd, rel, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST) {
			unlinkat(from_dir, from, 0);
			return 0;
		}
		if (errno == EINVAL || errno == ENOSYS)
			return syn_error_set(SYN_EUNSUPPORTED, "the filesystem holding '%s' does not support "
					     "renameat2(RENAME_NOREPLACE)", lb->blobs_root);
		return syn_error_set_errno(SYN_EIO, errno, "cannot move blob %s into place", sha);
	}
	if (lb->fsync)
		return syn_fs_fsync_dir(lb->blobs_fd, dir);
	return 0;
}

static int random_name(char *out, size_t size, const char *prefix)
{
	unsigned char rnd[8];
	unsigned long long v = 0;
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return syn_error_set_errno(SYN_EIO, errno, "cannot get random bytes");
	for (i = 0; i < sizeof(rnd); i++)
		v = (v << 8) | rnd[i];
	snprintf(out, size, "%s%016llx", prefix, v);
	return 0;
}

static int local_put(struct syn_backend *b, const char *sha, int fd)
{
	struct local_backend *lb = LB(b);
	char tmp[64], dir[3] = { sha[0], sha[1], '\0' }, tmprel[72];
	int out, rc;
	off_t off = 0;

	if (local_exists(b, sha) == 1)
		return 0;
	rc = prefix_dir(lb, sha);
	if (!rc)
		rc = random_name(tmp, sizeof(tmp), SYN_FS_TMP_PREFIX "put.");
	if (rc)
		return rc;
	snprintf(tmprel, sizeof(tmprel), "%s/%s", dir, tmp);
	out = openat(lb->blobs_fd, tmprel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (out < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot stage blob %s", sha);
	for (;;) {
		ssize_t n = copy_file_range(fd, &off, out, NULL, 1 << 30, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot copy blob %s", sha);
			break;
		}
		if (n == 0)
			break;
	}
	if (!rc)
		rc = do_fsync(lb, out, sha);
	if (close(out) < 0 && !rc)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot close blob %s", sha);
	if (!rc)
		rc = publish(lb, lb->blobs_fd, tmprel, sha);
	if (rc)
		unlinkat(lb->blobs_fd, tmprel, 0);
	return rc;
}

static int local_remove(struct syn_backend *b, const char *sha)
{
	struct local_backend *lb = LB(b);
	char rel[72], meta[REL_MAX], dir[3] = { sha[0], sha[1], '\0' };

	rel_of(rel, sha);
	if (unlinkat(lb->blobs_fd, rel, 0) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return syn_error_set(SYN_ENOTFOUND, "blob %s is not stored", sha);
		return syn_error_set_errno(SYN_EIO, errno, "cannot remove blob %s", sha);
	}
	meta_rel_of(meta, sha);
	unlinkat(lb->blobs_fd, meta, 0);
	unlinkat(lb->blobs_fd, dir, AT_REMOVEDIR); /* only succeeds when empty */
	return 0;
}

static int local_meta_read(struct syn_backend *b, const char *sha, struct syn_buf *out)
{
	char rel[REL_MAX];
	int rc;

	meta_rel_of(rel, sha);
	rc = syn_fs_read(out, LB(b)->blobs_fd, rel, 1 << 20);
	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "blob %s has no manifest", sha);
	return rc;
}

static int local_meta_write(struct syn_backend *b, const char *sha, const void *data, size_t len)
{
	struct local_backend *lb = LB(b);
	char rel[REL_MAX];
	int rc;

	meta_rel_of(rel, sha);
	if (syn_fs_exists(lb->blobs_fd, rel))
		return syn_error_set(SYN_EEXISTS, "blob %s has a manifest already", sha);
	rc = prefix_dir(lb, sha);
	return rc ? rc : syn_fs_write_atomic(lb->blobs_fd, rel, data, len, 0644);
}

/* Out of blobs/, so no view links to it, but kept: someone may want to see what went wrong. */
static int local_quarantine(struct syn_backend *b, const char *sha)
{
	struct local_backend *lb = LB(b);
	char rel[72], to[80];
	int rc;

	rel_of(rel, sha);
	snprintf(to, sizeof(to), "quarantine/%s", sha);
	rc = syn_fs_mkdirs(lb->data_fd, "quarantine");
	if (!rc && renameat(lb->blobs_fd, rel, lb->data_fd, to) < 0)
		rc = errno == ENOENT ? syn_error_set(SYN_ENOTFOUND, "blob %s is not stored", sha)
				     : syn_error_set_errno(SYN_EIO, errno, "cannot move blob %s to quarantine", sha);
	return rc;
}

/* The filesystem holding blobs/sha256: where new blobs take room. */
static int local_space(struct syn_backend *b, uint64_t *total, uint64_t *free_bytes)
{
	struct statvfs vfs;

	if (fstatvfs(LB(b)->blobs_fd, &vfs) < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot tell the size of the disk holding '%s'",
					   LB(b)->blobs_root);
	*total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	*free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return 0;
}

/*
 * A hard link to the open file, made through /proc/self/fd (linkat() of a
 * descriptor without it needs privileges), under a temporary name beside
 * the blob, then published like any stage.
 */
static int local_link(struct syn_backend *b, const char *sha, int fd)
{
	struct local_backend *lb = LB(b);
	char tmp[64], tmprel[72], proc[64], dir[3] = { sha[0], sha[1], '\0' };
	int rc;

	if (local_exists(b, sha) == 1)
		return 0;
	rc = prefix_dir(lb, sha);
	if (!rc)
		rc = random_name(tmp, sizeof(tmp), SYN_FS_TMP_PREFIX "link.");
	if (rc)
		return rc;
	snprintf(tmprel, sizeof(tmprel), "%s/%s", dir, tmp);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, lb->blobs_fd, tmprel, AT_SYMLINK_FOLLOW) < 0) {
		if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == ENOENT)
			return syn_error_set(SYN_EUNSUPPORTED, "cannot hard-link blob %s into '%s': %s", sha,
					     lb->blobs_root, strerror(errno));
		return syn_error_set_errno(SYN_EIO, errno, "cannot hard-link blob %s", sha);
	}
	rc = publish(lb, lb->blobs_fd, tmprel, sha);
	if (rc)
		unlinkat(lb->blobs_fd, tmprel, 0);
	return rc;
}

static unsigned int local_capabilities(struct syn_backend *b)
{
	(void)b;
	return SYN_BACKEND_CAP_STAGE | SYN_BACKEND_CAP_LOCAL_PATH | SYN_BACKEND_CAP_PUT | SYN_BACKEND_CAP_REMOVE |
	       SYN_BACKEND_CAP_LIST | SYN_BACKEND_CAP_META | SYN_BACKEND_CAP_QUARANTINE | SYN_BACKEND_CAP_SPACE |
	       SYN_BACKEND_CAP_LINK;
}

static bool is_hex2(const char *s)
{
	return strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2;
}

/*
 * Listing every blob: the names in each blob folder are kept in
 * data/cache/blob-folders with the folder's signature (inode and
 * modification time) when they were read, so a listing looks at every
 * folder's metadata and reads again only the folders that changed since.
 * A folder changed within the last two seconds is read every time: a
 * change within the same clock tick would not show in its metadata. The
 * file is a cache (written whole, without fsync; rebuilt when missing or
 * damaged): a header line, then per folder "f <name> <signature> <count>"
 * and the names, one per line, and an "end <checksum>" line (syn_hash64()
 * of everything before it).
 */
#define LIST_CACHE "cache/blob-folders"
#define LIST_MAGIC "synapse-blob-folders 1\n"
#define LIST_END_LEN (4 + 16 + 1)

/* What the cache says of one folder. */
struct listed {
	const char *sig;   /* in the mapped file, up to a tab; NULL when the cache has nothing of the folder */
	size_t sig_len;
	const char *names; /* @count lines of a name and a newline */
	size_t count;
};

/* The folders of the cache @m, by the value of their two hex digits, in @out; false when @m is not one. */
static bool listed_load(const struct syn_fs_map *m, struct listed out[256])
{
	const char *p = m->ptr + strlen(LIST_MAGIC), *end, *nl, *t1, *t2;
	char want[LIST_END_LEN + 1];

	memset(out, 0, 256 * sizeof(*out));
	if (m->len < strlen(LIST_MAGIC) + LIST_END_LEN || memcmp(m->ptr, LIST_MAGIC, strlen(LIST_MAGIC)))
		return false;
	end = m->ptr + m->len - LIST_END_LEN;
	snprintf(want, sizeof(want), "end\t%016llx\n", (unsigned long long)syn_hash64(m->ptr, (size_t)(end - m->ptr)));
	if (memcmp(end, want, LIST_END_LEN))
		return false;
	while (p < end) {
		char *stop;
		unsigned long long count;
		unsigned int at;

		nl = memchr(p, '\n', (size_t)(end - p));
		t1 = nl && nl - p > 5 && p[0] == 'f' && p[1] == '\t' && p[4] == '\t' ? p + 4 : NULL;
		t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
		if (!t2 || sscanf(p + 2, "%2x", &at) != 1)
			return false;
		count = strtoull(t2 + 1, &stop, 10);
		if (stop != nl || count > (size_t)(end - nl - 1) / (SYN_SHA256_HEX_LEN + 1))
			return false;
		out[at] = (struct listed){ t1 + 1, (size_t)(t2 - t1 - 1), nl + 1, (size_t)count };
		p = nl + 1 + count * (SYN_SHA256_HEX_LEN + 1);
	}
	return p == end;
}

/* The signature of folder @sb in @out ("" when it cannot vouch for its names), as the cache keeps it. */
static void folder_sig(const struct stat *sb, char out[64])
{
	if (!syn_fs_settled(sb))
		out[0] = '\0';
	else
		snprintf(out, 64, "%llu %lld.%09ld", (unsigned long long)sb->st_ino, (long long)sb->st_mtim.tv_sec,
			 sb->st_mtim.tv_nsec);
}

/* Read the blob names in folder @name (open at @sfd, taken) into @out, one per line; their number in *@count. */
static int read_folder(int sfd, const char *name, struct syn_buf *out, size_t *count)
{
	DIR *sub = fdopendir(sfd);
	struct dirent *de;
	int rc = 0;

	*count = 0;
	if (!sub) {
		close(sfd);
		return 0;
	}
	while (!rc && (de = readdir(sub))) {
		struct stat sb;

		if (!syn_name_is_sha256(de->d_name) || strncmp(de->d_name, name, 2))
			continue;
		/* the directory says what an entry is on most filesystems: no stat then */
		if (de->d_type == DT_REG ||
		    (de->d_type == DT_UNKNOWN && fstatat(dirfd(sub), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		     S_ISREG(sb.st_mode))) {
			rc = syn_buf_put(out, de->d_name, SYN_SHA256_HEX_LEN);
			if (!rc)
				rc = syn_buf_put(out, "\n", 1);
			++*count;
		}
	}
	closedir(sub);
	return rc;
}

/* One blob folder as a listing found it: its names from the cache, or read again into @read. */
struct folder {
	char name[3];
	char sig[64];      /* folder_sig() */
	const char *names; /* @count lines of a name and a newline */
	size_t count;
	struct syn_buf read;
};

/* Write the cache anew from the @n folders at @f (what the next listing starts from); failures are not errors. */
static void write_listing(struct local_backend *lb, const struct folder *f, size_t n)
{
	struct syn_buf text = SYN_BUF_INIT;
	size_t i;
	int rc = syn_buf_puts(&text, LIST_MAGIC);

	for (i = 0; !rc && i < n; i++) {
		rc = syn_buf_printf(&text, "f\t%s\t%s\t%zu\n", f[i].name, f[i].sig, f[i].count);
		if (!rc)
			rc = syn_buf_put(&text, f[i].names, f[i].count * (SYN_SHA256_HEX_LEN + 1));
	}
	if (!rc)
		rc = syn_buf_printf(&text, "end\t%016llx\n", (unsigned long long)syn_hash64(text.ptr, text.len));
	if (!rc && !syn_fs_mkdirs(lb->data_fd, "cache"))
		syn_fs_write_cache(lb->data_fd, LIST_CACHE, text.ptr, text.len);
	syn_buf_dispose(&text);
	syn_error_clear();
}

static int local_foreach(struct syn_backend *b, syn_blob_cb cb, void *payload)
{
	struct local_backend *lb = LB(b);
	struct syn_fs_map m = { 0 };
	struct listed *was = calloc(256, sizeof(*was));
	struct folder *f = calloc(256, sizeof(*f));
	struct dirent *top;
	size_t n = 0, kept = 0, i, k;
	bool have;
	DIR *d;
	int fd, rc = 0;

	if (!was || !f) {
		free(was);
		free(f);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	have = !syn_fs_map(&m, lb->data_fd, LIST_CACHE, (size_t)1 << 30) && listed_load(&m, was);
	syn_error_clear();
	fd = openat(lb->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot list '%s'", lb->blobs_root);
	}
	/* each folder's names: as the cache has them while the folder is as it was, else read again */
	while (!rc && n < 256 && (top = readdir(d))) {
		struct folder *c = &f[n];
		const struct listed *l;
		unsigned int idx;
		struct stat sb;
		int sfd;

		if (!is_hex2(top->d_name) || fstatat(lb->blobs_fd, top->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(sb.st_mode))
			continue;
		memcpy(c->name, top->d_name, 3);
		folder_sig(&sb, c->sig);
		c->read = (struct syn_buf)SYN_BUF_INIT;
		sscanf(top->d_name, "%2x", &idx);
		l = have ? &was[idx] : NULL;
		n++;
		if (c->sig[0] && l && l->sig && l->sig_len == strlen(c->sig) && !memcmp(l->sig, c->sig, l->sig_len)) {
			c->names = l->names;
			c->count = l->count;
			kept++;
			continue;
		}
		sfd = openat(lb->blobs_fd, top->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = sfd < 0 ? 0 : read_folder(sfd, top->d_name, &c->read, &c->count);
		if (sfd < 0)
			c->count = 0;
		c->names = c->read.ptr ? c->read.ptr : "";
	}
	if (d)
		closedir(d);
	for (i = 0; !rc && i < n; i++)
		for (k = 0; !rc && k < f[i].count; k++) {
			char sha[SYN_SHA256_HEX_LEN + 1];

			memcpy(sha, f[i].names + k * (SYN_SHA256_HEX_LEN + 1), SYN_SHA256_HEX_LEN);
			sha[SYN_SHA256_HEX_LEN] = '\0';
			if (syn_name_is_sha256(sha) && !strncmp(sha, f[i].name, 2))
				rc = cb(sha, payload);
		}
	/* written again when a folder was read: what it read is the next listing's */
	if (!rc && kept < n)
		write_listing(lb, f, n);
	if (!rc)
		syn_error_clear();
	for (i = 0; i < n; i++)
		syn_buf_dispose(&f[i].read);
	syn_fs_unmap(&m);
	free(f);
	free(was);
	return rc;
}

/* Lock the open .part; reopen when the file we hold was renamed away meanwhile. */
static int lock_part(struct local_backend *lb, const char *rel, int *fd_io)
{
	for (;;) {
		struct stat held, now;

		while (flock(*fd_io, LOCK_EX) < 0)
			if (errno != EINTR)
				return syn_error_set_errno(SYN_EIO, errno, "cannot lock '%s/%s'", lb->blobs_root, rel);
		if (fstat(*fd_io, &held) == 0 && fstatat(lb->blobs_fd, rel, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino)
			return 0;
		close(*fd_io);
		*fd_io = openat(lb->blobs_fd, rel, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (*fd_io < 0)
			return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s/%s'", lb->blobs_root, rel);
	}
}

static int local_stage_open(struct syn_backend *b, const char *sha, struct syn_backend_stage *st)
{
	struct local_backend *lb = LB(b);
	struct local_stage *ls;
	struct stat sb;
	int fd, rc;

	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (!sha) {
		ls->dirfd = lb->tmp_fd;
		rc = random_name(ls->name, sizeof(ls->name), SYN_FS_TMP_PREFIX "blob.");
		if (rc)
			goto fail;
		fd = openat(lb->tmp_fd, ls->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot create a temporary blob file");
			goto fail;
		}
	} else {
		ls->dirfd = lb->blobs_fd;
		snprintf(ls->name, sizeof(ls->name), "%c%c/%s.part", sha[0], sha[1], sha);
		if (local_exists(b, sha) == 1) {
			rc = syn_error_set(SYN_EEXISTS, "blob %s is already stored", sha);
			goto fail;
		}
		rc = prefix_dir(lb, sha);
		if (rc)
			goto fail;
		fd = openat(lb->blobs_fd, ls->name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s/%s'", lb->blobs_root, ls->name);
			goto fail;
		}
		rc = lock_part(lb, ls->name, &fd);
		if (!rc && local_exists(b, sha) == 1) {
			/* the process we waited for stored it; the .part we reopened is ours and useless */
			unlinkat(lb->blobs_fd, ls->name, 0);
			rc = syn_error_set(SYN_EEXISTS, "blob %s is already stored", sha);
		}
		if (rc) {
			if (fd >= 0)
				close(fd);
			goto fail;
		}
	}
	if (fstat(fd, &sb) < 0 || lseek(fd, 0, SEEK_END) < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot read '%s'", ls->name);
		close(fd);
		goto fail;
	}
	st->fd = fd;
	st->existing = (uint64_t)sb.st_size;
	st->priv = ls;
	return 0;
fail:
	free(ls);
	return rc;
}

static int local_stage_truncate(struct syn_backend *b, struct syn_backend_stage *st)
{
	(void)b;
	if (ftruncate(st->fd, 0) < 0 || lseek(st->fd, 0, SEEK_SET) < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot truncate a staged blob");
	st->existing = 0;
	return 0;
}

static void stage_close(struct syn_backend_stage *st, bool unlink_it)
{
	struct local_stage *ls = st->priv;

	if (ls && unlink_it)
		unlinkat(ls->dirfd, ls->name, 0);
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	free(ls);
	st->priv = NULL;
}

static int local_stage_commit(struct syn_backend *b, struct syn_backend_stage *st, const char *sha)
{
	struct local_backend *lb = LB(b);
	struct local_stage *ls = st->priv;
	int rc;

	rc = do_fsync(lb, st->fd, sha);
	if (!rc && fchmod(st->fd, 0444) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot make blob %s read-only", sha);
	if (!rc)
		rc = prefix_dir(lb, sha);
	/* publish while still holding the .part lock, so a waiter finds the blob */
	if (!rc)
		rc = publish(lb, ls->dirfd, ls->name, sha);
	stage_close(st, rc != 0);
	return rc;
}

static void local_stage_abort(struct syn_backend *b, struct syn_backend_stage *st, bool keep)
{
	struct local_stage *ls = st->priv;

	(void)b;
	/* only a known-digest .part can be resumed */
	stage_close(st, !(keep && ls && ls->dirfd != LB(b)->tmp_fd));
}

static void local_free(struct syn_backend *b)
{
	struct local_backend *lb = LB(b);

	if (!lb)
		return;
	if (lb->blobs_fd >= 0)
		close(lb->blobs_fd);
	if (lb->tmp_fd >= 0)
		close(lb->tmp_fd);
	if (lb->data_fd >= 0)
		close(lb->data_fd);
	free(lb->blobs_root);
	free(lb);
}

static int local_create(struct syn_backend **out, const struct syn_backend_params *params)
{
	struct local_backend *lb;
	struct syn_buf path = SYN_BUF_INIT;
	int rc;

	*out = NULL;
	if (!params || !params->data_root)
		return syn_error_set(SYN_EINVALID, "the local backend needs the store's data directory");
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	lb->blobs_fd = lb->tmp_fd = lb->data_fd = -1;
	lb->fsync = params->fsync;
	lb->parent.version = SYN_BACKEND_VERSION;
	lb->parent.exists = local_exists;
	lb->parent.size = local_size;
	lb->parent.open = local_open;
	lb->parent.local_path = local_path;
	lb->parent.put = local_put;
	lb->parent.remove = local_remove;
	lb->parent.foreach = local_foreach;
	lb->parent.stage_open = local_stage_open;
	lb->parent.stage_truncate = local_stage_truncate;
	lb->parent.stage_commit = local_stage_commit;
	lb->parent.stage_abort = local_stage_abort;
	lb->parent.free = local_free;
	lb->parent.capabilities = local_capabilities;
	lb->parent.meta_read = local_meta_read;
	lb->parent.meta_write = local_meta_write;
	lb->parent.quarantine = local_quarantine;
	lb->parent.space = local_space;
	lb->parent.link = local_link;
	rc = syn_buf_printf(&path, "%s/blobs/sha256", params->data_root);
	if (!rc)
		rc = syn_fs_mkdirs(AT_FDCWD, path.ptr);
	if (!rc) {
		lb->blobs_root = syn_buf_detach(&path);
		lb->blobs_fd = open(lb->blobs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lb->blobs_fd < 0)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", lb->blobs_root);
	}
	if (!rc)
		rc = syn_buf_printf(&path, "%s/tmp", params->data_root);
	if (!rc)
		rc = syn_fs_mkdirs(AT_FDCWD, path.ptr);
	if (!rc) {
		lb->tmp_fd = open(path.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lb->tmp_fd < 0)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", path.ptr);
	}
	if (!rc) {
		lb->data_fd = open(params->data_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lb->data_fd < 0)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", params->data_root);
	}
	syn_buf_dispose(&path);
	if (rc) {
		local_free(&lb->parent);
		return rc;
	}
	*out = &lb->parent;
	return 0;
}

static const struct syn_backend_class local_class = {
	SYN_BACKEND_VERSION, "local", local_create,
};

static int local_init(struct syn_registry *reg)
{
	return syn_register_backend(reg, &local_class);
}

SYN_PLUGIN_DEFINE("local", "1.1.0", "MIT", "blobs on the store's own disk (data/blobs/sha256)", local_init)
