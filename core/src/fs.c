/* Durable atomic file operations (git lockfile.c, libgit2 filebuf.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "synapse/errors.h"
#include "synapse/fs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static void (*fault_hook)(const char *stage, const char *path);

void syn_fs_set_fault_hook(void (*hook)(const char *stage, const char *path))
{
	fault_hook = hook;
}

bool syn_fs_fsync_enabled(void)
{
	static int enabled = -1;

	if (enabled < 0) {
		const char *v = getenv("SYNAPSE_FSYNC");

		enabled = !(v && strcmp(v, "0") == 0);
	}
	return enabled;
}

int syn_fs_fsync(int fd, const char *what)
{
	if (!syn_fs_fsync_enabled())
		return 0;
	while (fsync(fd) < 0) {
		if (errno == EINTR)
			continue;
		/* directories on some filesystems refuse fsync: nothing to make durable */
		if (errno == EINVAL || errno == EROFS)
			return 0;
		return syn_error_set_errno(SYN_EIO, errno, "cannot fsync '%s'", what);
	}
	return 0;
}

int syn_fs_fsync_dir(int dirfd, const char *relpath)
{
	int fd, rc;

	if (!syn_fs_fsync_enabled())
		return 0;
	fd = openat(dirfd, relpath && *relpath ? relpath : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open directory '%s'", relpath);
	rc = syn_fs_fsync(fd, relpath);
	close(fd);
	return rc;
}

/* Write the @n parts at @iov one after the other, retrying on EINTR and short writes (consuming them). */
static int writev_all(int fd, struct iovec *iov, int n, const char *what)
{
	while (n > 0) {
		ssize_t done = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);

		if (done < 0) {
			if (errno == EINTR)
				continue;
			return syn_error_set_errno(SYN_EIO, errno, "cannot write '%s'", what);
		}
		for (; n > 0 && (size_t)done >= iov->iov_len; n--, iov++)
			done -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

int syn_fs_write_all(int fd, const void *data, size_t len, const char *what)
{
	struct iovec one = { (void *)data, len };

	return writev_all(fd, &one, 1, what);
}

int syn_fs_mkdirs(int dirfd, const char *relpath)
{
	char path[4096];
	size_t len = strlen(relpath), i;
	struct stat sb;

	if (len >= sizeof(path))
		return syn_error_set(SYN_EINVALID, "path too long: '%s'", relpath);
	memcpy(path, relpath, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdirat(dirfd, path, 0755) < 0 && errno != EEXIST) {
			int err = errno;

			return syn_error_set_errno(SYN_EIO, err, "cannot create directory '%s'", path);
		}
		if (fstatat(dirfd, path, &sb, 0) < 0 || !S_ISDIR(sb.st_mode))
			return syn_error_set(SYN_EEXISTS, "'%s' exists and is not a directory", path);
		if (i < len)
			path[i] = '/';
	}
	return 0;
}

/* Split "a/b/c" into dir "a/b" and base "c" (dir "" for "c"). */
static int split_path(const char *relpath, char *dir, size_t dirsize, const char **base)
{
	const char *slash = strrchr(relpath, '/');
	size_t dlen = slash ? (size_t)(slash - relpath) : 0;

	if (dlen >= dirsize)
		return syn_error_set(SYN_EINVALID, "path too long: '%s'", relpath);
	memcpy(dir, relpath, dlen);
	dir[dlen] = '\0';
	*base = slash ? slash + 1 : relpath;
	if (!**base)
		return syn_error_set(SYN_EINVALID, "path '%s' names no file", relpath);
	return 0;
}

/* The @tries-th temporary name for @base in @tmp (@size bytes): SYN_FS_TMP_PREFIX, @base, a random suffix. */
static int temp_name(char *tmp, size_t size, const char *base, int tries)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[6];
	char suffix[13];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		unsigned long v = (unsigned long)getpid() * 2654435761u + (unsigned long)tries;

		memcpy(rnd, &v, sizeof(rnd) < sizeof(v) ? sizeof(rnd) : sizeof(v));
	}
	for (i = 0; i < sizeof(rnd); i++) {
		suffix[2 * i] = hex[rnd[i] >> 4];
		suffix[2 * i + 1] = hex[rnd[i] & 15];
	}
	suffix[12] = '\0';
	if ((size_t)snprintf(tmp, size, SYN_FS_TMP_PREFIX "%.64s.%s", base, suffix) >= size)
		return syn_error_set(SYN_EINVALID, "file name too long: '%s'", base);
	return 0;
}

/* Create a unique temp file beside @base in @pfd. */
static int open_temp(int pfd, const char *base, char *tmp, size_t tmpsize, mode_t mode)
{
	int tries, rc;

	for (tries = 0; tries < 100; tries++) {
		int fd;

		if ((rc = temp_name(tmp, tmpsize, base, tries)))
			return rc;
		fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return syn_error_set_errno(SYN_EIO, errno, "cannot create a temporary file for '%s'", base);
	}
	return syn_error_set(SYN_EIO, "cannot create a unique temporary file for '%s'", base);
}

static int write_atomic(int dirfd, const char *relpath, struct iovec *parts, int nparts, mode_t mode, bool durable)
{
	char dir[4096], tmp[512];
	const char *base = NULL;
	int pfd, fd, rc;

	rc = split_path(relpath, dir, sizeof(dir), &base);
	if (rc)
		return rc;
	if (dir[0]) {
		rc = syn_fs_mkdirs(dirfd, dir);
		if (rc)
			return rc;
	}
	pfd = openat(dirfd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open directory of '%s'", relpath);
	fd = open_temp(pfd, base, tmp, sizeof(tmp), mode);
	if (fd < 0) {
		rc = fd;
		goto out_close_dir;
	}
	rc = writev_all(fd, parts, nparts, relpath);
	if (!rc && fchmod(fd, mode) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot set the mode of '%s'", relpath);
	if (!rc && durable)
		rc = syn_fs_fsync(fd, relpath);
	if (close(fd) < 0 && !rc)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot close '%s'", relpath);
	if (rc)
		goto out_unlink;
	if (fault_hook)
		fault_hook("before-rename", relpath);
	if (renameat(pfd, tmp, pfd, base) < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot replace '%s'", relpath);
		goto out_unlink;
	}
	rc = durable ? syn_fs_fsync(pfd, dir[0] ? dir : ".") : 0;
	goto out_close_dir;

out_unlink:
	unlinkat(pfd, tmp, 0);
out_close_dir:
	close(pfd);
	return rc;
}

int syn_fs_write_atomic(int dirfd, const char *relpath, const void *data, size_t len, mode_t mode)
{
	struct iovec one = { (void *)data, len };

	return write_atomic(dirfd, relpath, &one, 1, mode, true);
}

int syn_fs_write_cache(int dirfd, const char *relpath, const void *data, size_t len)
{
	struct iovec one = { (void *)data, len };

	return write_atomic(dirfd, relpath, &one, 1, 0644, false);
}

int syn_fs_write_cache_parts(int dirfd, const char *relpath, struct iovec *parts, int nparts)
{
	return write_atomic(dirfd, relpath, parts, nparts, 0644, false);
}

/*
 * Open regular file @relpath (under @dirfd) for reading, its metadata in
 * @sb: the descriptor, or a SYN_E* code (SYN_ENOTFOUND when absent; a file
 * of more than @max bytes is SYN_ECORRUPT).
 */
static int open_regular(int dirfd, const char *relpath, size_t max, struct stat *sb)
{
	int fd = openat(dirfd, relpath, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		if (errno == ENOENT)
			return syn_error_set(SYN_ENOTFOUND, "'%s' does not exist", relpath);
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", relpath);
	}
	if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode))
		rc = syn_error_set(SYN_EINVALID, "'%s' is not a regular file", relpath);
	else if ((uint64_t)sb->st_size > max)
		rc = syn_error_set(SYN_ECORRUPT, "'%s' is too large (%lld bytes, at most %zu)", relpath,
				   (long long)sb->st_size, max);
	if (rc)
		close(fd);
	return rc ? rc : fd;
}

int syn_fs_read(struct syn_buf *out, int dirfd, const char *relpath, size_t max)
{
	struct stat sb;
	int fd, rc;

	syn_buf_clear(out);
	fd = open_regular(dirfd, relpath, max, &sb);
	if (fd < 0)
		return fd;
	rc = syn_buf_grow(out, (size_t)sb.st_size + 1);
	while (!rc) {
		ssize_t n;

		if (out->len + 1 >= out->alloc && (rc = syn_buf_grow(out, 4096)))
			break;
		n = read(fd, out->ptr + out->len, out->alloc - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot read '%s'", relpath);
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->ptr[out->len] = '\0';
		if (out->len > max)
			rc = syn_error_set(SYN_ECORRUPT, "'%s' is too large", relpath);
	}
	close(fd);
	return rc;
}

int syn_fs_map(struct syn_fs_map *out, int dirfd, const char *relpath, size_t max)
{
	struct stat sb;
	void *p;
	int fd, rc = 0;

	out->ptr = NULL;
	out->len = 0;
	fd = open_regular(dirfd, relpath, max, &sb);
	if (fd < 0)
		return fd;
	if (sb.st_size > 0) {
		p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (p == MAP_FAILED)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot map '%s'", relpath);
		else
			*out = (struct syn_fs_map){ p, (size_t)sb.st_size };
	}
	close(fd);
	return rc;
}

void syn_fs_unmap(struct syn_fs_map *m)
{
	if (m->len)
		munmap((void *)m->ptr, m->len);
	m->ptr = NULL;
	m->len = 0;
}

bool syn_fs_settled(const struct stat *sb)
{
	struct timespec now;

	return clock_gettime(CLOCK_REALTIME, &now) == 0 && now.tv_sec - sb->st_mtim.tv_sec >= 2;
}

bool syn_fs_exists(int dirfd, const char *relpath)
{
	struct stat sb;

	return fstatat(dirfd, relpath, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static int remove_in(int dirfd, const char *name, int depth)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (depth > 256)
		return syn_error_set(SYN_EINVALID, "directory tree too deep at '%s'", name);
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : syn_error_set_errno(SYN_EIO, errno, "cannot stat '%s'", name);
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return syn_error_set_errno(SYN_EIO, errno, "cannot remove '%s'", name);
		return 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", name);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return syn_error_set_errno(SYN_EIO, errno, "cannot read '%s'", name);
	}
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = remove_in(fd, de->d_name, depth + 1);
	}
	closedir(d);
	if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove directory '%s'", name);
	return rc;
}

DIR *syn_fs_opendir(int dirfd, const char *relpath)
{
	int fd = openat(dirfd, relpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0) {
		int err = errno;

		close(fd);
		errno = err;
	}
	return d;
}

int syn_fs_remove_tree(int dirfd, const char *relpath)
{
	return remove_in(dirfd, relpath, 0);
}

int syn_fs_rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return SYN_EEXISTS;
	if (errno == EINVAL || errno == ENOSYS)
		return syn_error_set(SYN_EUNSUPPORTED, "the filesystem holding '%s' does not support "
				     "renameat2(RENAME_NOREPLACE), which Synapse needs for atomic views and packs", to);
	return syn_error_set_errno(SYN_EIO, errno, "cannot rename '%s' to '%s'", from, to);
}

int syn_fs_mkdtemp(int dirfd, const char *relpath, struct syn_buf *out)
{
	char dir[4096], tmp[512];
	const char *base = NULL;
	int tries, rc = split_path(relpath, dir, sizeof(dir), &base);

	for (tries = 0; !rc && tries < 100; tries++) {
		if ((rc = temp_name(tmp, sizeof(tmp), base, tries)))
			break;
		syn_buf_clear(out);
		rc = dir[0] ? syn_buf_printf(out, "%s/%s", dir, tmp) : syn_buf_puts(out, tmp);
		if (!rc && mkdirat(dirfd, out->ptr, 0755) == 0)
			return 0;
		if (!rc && errno != EEXIST)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot create a temporary folder for '%s'", relpath);
	}
	return rc ? rc : syn_error_set(SYN_EIO, "cannot find a temporary name for '%s'", relpath);
}

int syn_fs_remove_tree_aside(int dirfd, const char *relpath)
{
	char dir[4096], tmp[512];
	const char *base = NULL;
	int pfd, tries, rc = split_path(relpath, dir, sizeof(dir), &base);

	if (rc)
		return rc;
	pfd = openat(dirfd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : syn_error_set_errno(SYN_EIO, errno, "cannot open directory of '%s'", relpath);
	for (tries = 0; !rc && tries < 100; tries++) {
		if ((rc = temp_name(tmp, sizeof(tmp), base, tries)))
			break;
		if (renameat2(pfd, base, pfd, tmp, RENAME_NOREPLACE) == 0) {
			if (fault_hook)
				fault_hook("aside", relpath);
			rc = remove_in(pfd, tmp, 0);
			break;
		}
		if (errno == ENOENT)
			break; /* nothing to remove */
		if (errno == EINVAL || errno == ENOSYS) {
			/* a filesystem without renameat2(): removed where it is */
			rc = remove_in(pfd, base, 0);
			break;
		}
		if (errno != EEXIST)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot move '%s' aside to remove it", relpath);
	}
	if (!rc && tries == 100)
		rc = syn_error_set(SYN_EIO, "cannot find a temporary name to remove '%s' under", relpath);
	close(pfd);
	return rc;
}

int syn_fs_abspath(struct syn_buf *out, const char *path)
{
	struct syn_buf raw = SYN_BUF_INIT;
	const char *p, *seg;
	int rc = 0;

	syn_buf_clear(out);
	if (!path || !*path)
		return syn_error_set(SYN_EINVALID, "empty path");
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
		const char *home = getenv("HOME");
		struct passwd *pw;

		if (!home || !*home) {
			pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return syn_error_set(SYN_EINVALID, "cannot expand '~': no home directory");
		rc = syn_buf_puts(&raw, home);
		if (!rc)
			rc = syn_buf_puts(&raw, path + 1);
	} else if (path[0] != '/') {
		char cwd[4096];

		if (!getcwd(cwd, sizeof(cwd)))
			return syn_error_set_errno(SYN_EIO, errno, "cannot get the current directory");
		rc = syn_buf_printf(&raw, "%s/%s", cwd, path);
	} else {
		rc = syn_buf_puts(&raw, path);
	}
	/* lexical normalization: drop "", ".", and pop on ".." */
	for (p = raw.ptr; !rc && *p;) {
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			char *last = strrchr(out->ptr, '/');

			syn_buf_truncate(out, last ? (size_t)(last - out->ptr) : 0);
			continue;
		}
		rc = syn_buf_puts(out, "/");
		if (!rc)
			rc = syn_buf_put(out, seg, n);
	}
	if (!rc && out->len == 0)
		rc = syn_buf_puts(out, "/");
	syn_buf_dispose(&raw);
	return rc;
}
