/*
 * The `backup_path` blob backend: a backup drive or directory (config.json
 * backup.path) laid out like a store's data/, so that
 * <root>/.synapse/store/data/blobs/sha256/<2>/<sha256> is a blob and
 * <sha256>.meta beside it its manifest.
 *
 * The drive may be unplugged at any time. Nothing is opened in create(),
 * and every call first checks that the root is there: a root that is not a
 * reachable directory is SYN_ENETWORK, never "not here", so that a missing
 * drive is not taken for a missing blob. Below the root, missing
 * directories are "not here" and put() creates them.
 *
 * put() copies into <sha256>.part-<random> beside the final name, created
 * O_EXCL and held under flock while written; fsyncs it, hashes the copy
 * again, and only a copy with the right digest is moved into place, without
 * replacing an existing blob. A .part-* whose lock can be taken was left by
 * a killed writer and is removed. Nothing but complete, verified bytes ever
 * has a blob's name.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <synapse/fs.h>
#include <synapse/hash.h>
#include <synapse/names.h>
#include <synapse/sys/backend.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* Where the blobs are, below the root: the layout of a store's data/. */
#define BLOBS_REL ".synapse/store/data/blobs/sha256"
/* The temporary copy of a blob: "<sha256>" PART_INFIX "<16 hex>". */
#define PART_INFIX ".part-"
/* How often put() starts over when its fresh .part was taken for a stale one. */
#define PART_TRIES 8
/* read/write fallback chunk */
#define COPY_CHUNK (1u << 20)
/* How much one copy_file_range() moves before the re-hashing thread is told */
#define COPY_SPAN (8u << 20)

struct bp_backend {
	struct syn_backend parent;
	char *root; /* absolute */
	bool fsync;
};

#define BP(b) ((struct bp_backend *)(b))

static int unreachable(struct bp_backend *bb)
{
	return syn_error_set(SYN_ENETWORK, "the backup at %s is not reachable (is the drive connected and mounted?)",
			     bb->root);
}

/* Errors that mean the root itself is gone or its device dropped out. */
static bool is_gone(int err)
{
	return err == ENOENT || err == ENOTDIR || err == ENODEV || err == ENXIO || err == ESTALE ||
	       err == ENOTCONN || err == EHOSTDOWN;
}

static bool root_reachable(struct bp_backend *bb)
{
	struct stat sb;

	return stat(bb->root, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Open the root; SYN_ENETWORK when it is not a reachable directory. */
static int open_root(struct bp_backend *bb, int *fd_out)
{
	int fd = open(bb->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*fd_out = -1;
	if (fd < 0) {
		if (is_gone(errno) || errno == EIO)
			return unreachable(bb);
		return syn_error_set_errno(SYN_EIO, errno, "cannot open the backup at %s", bb->root);
	}
	*fd_out = fd;
	return 0;
}

/*
 * A failed write below the root, as the user should read it: the drive
 * gone, full, read-only, or something else.
 */
static int write_error(struct bp_backend *bb, int err, uint64_t needed, const char *what)
{
	if (!root_reachable(bb))
		return unreachable(bb);
	if ((err == ENOSPC || err == EDQUOT) && needed)
		return syn_error_set(SYN_ENOSPC, "the backup at %s is full: %llu bytes needed", bb->root,
				     (unsigned long long)needed);
	if (err == ENOSPC || err == EDQUOT)
		return syn_error_set(SYN_ENOSPC, "the backup at %s is full", bb->root);
	if (err == EROFS || err == EACCES || err == EPERM)
		return syn_error_set(SYN_EIO, "cannot write to the backup at %s: %s (read-only?)", bb->root,
				     strerror(err));
	if (err == ENOTDIR || err == EEXIST)
		return syn_error_set(SYN_EIO, "cannot write to the backup at %s: '%s' is in the way "
				     "(a file where a directory belongs); move it away", bb->root, what);
	return syn_error_set(SYN_EIO, "cannot write to the backup at %s: %s: %s", bb->root, what, strerror(err));
}

/* "<2>/<sha256>" */
static void rel_of(char out[72], const char *sha)
{
	snprintf(out, 72, "%.2s/%.64s", sha, sha);
}

static void meta_rel_of(char out[80], const char *sha)
{
	snprintf(out, 80, "%.2s/%.64s.meta", sha, sha);
}

/* mkdir every component of BLOBS_REL under @rootfd, fsyncing the parent of each one made. */
static int make_blobs_dir(struct bp_backend *bb, int rootfd)
{
	char path[sizeof(BLOBS_REL)];
	char *slash = path;

	memcpy(path, BLOBS_REL, sizeof(path));
	for (;;) {
		bool last;

		slash = strchr(slash, '/');
		last = slash == NULL;
		if (!last)
			*slash = '\0';
		if (mkdirat(rootfd, path, 0755) == 0) {
			char *parent = strrchr(path, '/');
			int prc;

			if (parent)
				*parent = '\0';
			prc = bb->fsync ? syn_fs_fsync_dir(rootfd, parent ? path : ".") : 0;
			if (parent)
				*parent = '/';
			if (prc)
				return prc;
		} else if (errno != EEXIST) {
			return write_error(bb, errno, 0, path);
		}
		if (last)
			return 0;
		*slash++ = '/';
	}
}

/*
 * The blobs directory of the backup in @fd_out: 1 when it is there, 0 when
 * not (and !@create), <0 on error (the root unreachable: SYN_ENETWORK).
 */
static int open_blobs(struct bp_backend *bb, bool create, int *fd_out)
{
	int rootfd, fd, rc;

	*fd_out = -1;
	rc = open_root(bb, &rootfd);
	if (rc)
		return rc;
	if (create) {
		rc = make_blobs_dir(bb, rootfd);
		if (rc)
			goto out_close_root;
	}
	fd = openat(rootfd, BLOBS_REL, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		*fd_out = fd;
		rc = 1;
	} else if ((errno == ENOENT || errno == ENOTDIR) && !create) {
		rc = 0;
	} else if (create) {
		rc = write_error(bb, errno, 0, BLOBS_REL);
	} else {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s/%s'", bb->root, BLOBS_REL);
	}
out_close_root:
	close(rootfd);
	return rc;
}

/* fstatat() of a blob: 1 with @sb filled when it is a regular file, 0 when not there, <0 on error. */
static int stat_blob(struct bp_backend *bb, const char *sha, struct stat *sb)
{
	char rel[72];
	int fd, rc;

	rc = open_blobs(bb, false, &fd);
	if (rc <= 0)
		return rc;
	rel_of(rel, sha);
	if (fstatat(fd, rel, sb, AT_SYMLINK_NOFOLLOW) == 0)
		rc = S_ISREG(sb->st_mode) ? 1 : 0;
	else if (errno == ENOENT || errno == ENOTDIR)
		rc = 0;
	else
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot check blob %s on the backup at %s", sha, bb->root);
	close(fd);
	return rc;
}

static int bp_exists(struct syn_backend *b, const char *sha)
{
	struct stat sb;

	return stat_blob(BP(b), sha, &sb);
}

static int bp_size(struct syn_backend *b, const char *sha, uint64_t *out)
{
	struct stat sb;
	int rc = stat_blob(BP(b), sha, &sb);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup at %s", sha, BP(b)->root);
	*out = (uint64_t)sb.st_size;
	return 0;
}

static int bp_open(struct syn_backend *b, const char *sha, int *fd_out)
{
	struct bp_backend *bb = BP(b);
	char rel[72];
	struct stat sb;
	int dir, fd, rc;

	rc = open_blobs(bb, false, &dir);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup at %s", sha, bb->root);
	rel_of(rel, sha);
	fd = openat(dir, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			rc = syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup at %s", sha, bb->root);
		else
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot open blob %s on the backup at %s", sha,
						 bb->root);
	} else if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		rc = syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup at %s", sha, bb->root);
	} else {
		*fd_out = fd;
		rc = 0;
	}
	close(dir);
	return rc;
}

static int random_hex(char out[17])
{
	unsigned char rnd[8];
	unsigned long long v = 0;
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return syn_error_set_errno(SYN_EIO, errno, "cannot get random bytes");
	for (i = 0; i < sizeof(rnd); i++)
		v = (v << 8) | rnd[i];
	snprintf(out, 17, "%016llx", v);
	return 0;
}

/* Whether @name is "<sha>.part-<anything>" for blob @sha. */
static bool is_part_of(const char *name, const char *sha)
{
	return strncmp(name, sha, 64) == 0 && strncmp(name + 64, PART_INFIX, strlen(PART_INFIX)) == 0;
}

/*
 * Remove the .part-* files of blob @sha in @dir whose lock can be taken: a
 * writer holds its lock from creation (see open_part()) until the copy is
 * in place or deleted, so an unlocked one belongs to a process that died.
 */
static void remove_stale_parts(int dir, const char *sha)
{
	struct dirent *de;
	DIR *d;
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat held, now;
		int pfd;

		if (!is_part_of(de->d_name, sha))
			continue;
		pfd = openat(dir, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (pfd < 0)
			continue;
		if (flock(pfd, LOCK_EX | LOCK_NB) == 0 && fstat(pfd, &held) == 0 &&
		    fstatat(dir, de->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 && held.st_dev == now.st_dev &&
		    held.st_ino == now.st_ino && S_ISREG(now.st_mode))
			unlinkat(dir, de->d_name, 0);
		close(pfd);
	}
	closedir(d);
}

/*
 * Create a fresh, locked "<sha>.part-<random>" in @dir. Between its O_EXCL
 * creation and the flock a cleaner may take it for stale and delete it:
 * then the name no longer is the file held, and we start over.
 */
static int open_part(struct bp_backend *bb, int dir, const char *sha, char name[96], int *fd_out)
{
	int tries, rc;

	for (tries = 0; tries < PART_TRIES; tries++) {
		struct stat held, now;
		char rnd[17];
		int fd;

		rc = random_hex(rnd);
		if (rc)
			return rc;
		snprintf(name, 96, "%.64s" PART_INFIX "%s", sha, rnd);
		fd = openat(dir, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return write_error(bb, errno, 0, name);
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				rc = syn_error_set_errno(SYN_EIO, errno, "cannot lock '%s' on the backup at %s", name,
							 bb->root);
				unlinkat(dir, name, 0);
				close(fd);
				return rc;
			}
		}
		if (fstat(fd, &held) == 0 && fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
			*fd_out = fd;
			return 0;
		}
		close(fd);
	}
	return syn_error_set(SYN_EIO, "cannot create a temporary file for blob %s on the backup at %s", sha,
			     bb->root);
}

/* Copy all of @in (from offset 0) to the end of @out. */
/*
 * The copy is re-hashed while it is written: a second thread reads back
 * from the temporary file (what the filesystem now holds, not the source)
 * every range the copying thread has finished, so the digest of the copy is
 * known when its last byte is written, at the cost of the slower of the two.
 */
struct rehash {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;              /* the temporary file */
	uint64_t written;    /* bytes the copier finished */
	bool done, stop;     /* the copier finished everything / gave up */
	int err;             /* errno of a failed read back, 0 */
	struct syn_sha256 *hash;
};

static void *rehash_thread(void *arg)
{
	struct rehash *r = arg;
	char *buf = malloc(COPY_CHUNK);
	uint64_t off = 0;

	pthread_mutex_lock(&r->mu);
	if (!buf)
		r->err = ENOMEM;
	while (!r->err && !r->stop) {
		uint64_t upto = r->written;
		bool last = r->done;

		if (off >= upto) {
			if (last)
				break;
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		while (off < upto) {
			size_t want = upto - off < COPY_CHUNK ? (size_t)(upto - off) : COPY_CHUNK;
			ssize_t n = pread(r->fd, buf, want, (off_t)off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || syn_sha256_update(r->hash, buf, (size_t)n)) {
				pthread_mutex_lock(&r->mu);
				r->err = n < 0 ? errno : EIO;
				pthread_mutex_unlock(&r->mu);
				break;
			}
			off += (uint64_t)n;
		}
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	free(buf);
	return NULL;
}

static void rehash_advance(struct rehash *r, uint64_t written, bool done)
{
	pthread_mutex_lock(&r->mu);
	r->written = written;
	r->done = done;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/*
 * Copy @in (from offset 0) into @out, hashing what @out then holds into
 * @got: in chunks, by copy_file_range() when the two files allow it, else
 * by read and write.
 */
static int copy_fd(struct bp_backend *bb, int in, int out, uint64_t needed, const char *name,
		   char got[SYN_SHA256_HEX_LEN + 1])
{
	struct rehash r = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fd = out };
	bool kernel = true;
	char *buf = NULL;
	uint64_t off = 0;
	pthread_t thread;
	int rc = syn_sha256_new(&r.hash);

	if (rc)
		return rc;
	if (pthread_create(&thread, NULL, rehash_thread, &r)) {
		syn_sha256_free(r.hash);
		return syn_error_set(SYN_ENOMEM, "cannot start a hashing thread");
	}
	for (;;) {
		ssize_t n;

		if (kernel) {
			off_t from = (off_t)off;

			n = copy_file_range(in, &from, out, NULL, COPY_SPAN, 0);
			if (n < 0 && errno == EINTR)
				continue;
			/* not possible between these two files (another filesystem, an old kernel): copy by hand */
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
				      errno == EBADF) && off == 0) {
				kernel = false;
				continue;
			}
			if (n < 0) {
				rc = write_error(bb, errno, needed, name);
				break;
			}
		} else {
			size_t done = 0;

			if (!buf && !(buf = malloc(COPY_CHUNK))) {
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
				break;
			}
			n = pread(in, buf, COPY_CHUNK, (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = syn_error_set_errno(SYN_EIO, errno, "cannot read the blob to copy to the backup at %s",
							 bb->root);
				break;
			}
			while (done < (size_t)n) {
				ssize_t w = pwrite(out, buf + done, (size_t)n - done, (off_t)(off + done));

				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0) {
					rc = write_error(bb, errno, needed, name);
					break;
				}
				done += (size_t)w;
			}
			if (rc)
				break;
		}
		if (n == 0)
			break;
		/* the disk starts on what is copied now, so that the fsync at the end waits for the last span only */
		if (bb->fsync)
			sync_file_range(out, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
		off += (uint64_t)n;
		rehash_advance(&r, off, false);
	}
	pthread_mutex_lock(&r.mu);
	r.written = off;
	r.done = true;
	r.stop = rc != 0;
	pthread_cond_signal(&r.cv);
	pthread_mutex_unlock(&r.mu);
	pthread_join(thread, NULL);
	free(buf);
	if (!rc && r.err)
		rc = !root_reachable(bb) ? unreachable(bb)
					 : syn_error_set_errno(SYN_EIO, r.err, "cannot read back '%s' on the backup at %s",
							       name, bb->root);
	if (!rc)
		rc = syn_sha256_final(r.hash, got);
	syn_sha256_free(r.hash);
	return rc;
}

/*
 * Give the file @from in @dir the name @to without replacing anything
 * there: 1 when @to existed already (and @from is left), 0 when moved.
 * Filesystems without renameat2(RENAME_NOREPLACE) get a hard link.
 */
static int publish(struct bp_backend *bb, int dir, const char *from, const char *to)
{
	if (renameat2(dir, from, dir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EINVAL && errno != ENOSYS)
		return write_error(bb, errno, 0, to);
	if (linkat(dir, from, dir, to, 0) < 0) {
		if (errno == EEXIST)
			return 1;
		if (errno == EPERM || errno == EOPNOTSUPP)
			return syn_error_set(SYN_EUNSUPPORTED, "the filesystem of the backup at %s can neither "
					     "rename without replacing nor hard-link", bb->root);
		return write_error(bb, errno, 0, to);
	}
	unlinkat(dir, from, 0);
	return 0;
}

static int fsync_or_fail(struct bp_backend *bb, int fd, uint64_t needed, const char *what)
{
	if (!bb->fsync)
		return 0;
	while (fsync(fd) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EINVAL) /* a file that cannot be synced (some directories): nothing to do */
			return 0;
		return write_error(bb, errno, needed, what);
	}
	return 0;
}

/* Open "<2>" of blob @sha under @blobs, creating it. */
static int open_prefix_dir(struct bp_backend *bb, int blobs, const char *sha, int *fd_out)
{
	char dir[3] = { sha[0], sha[1], '\0' }, rel[sizeof(BLOBS_REL) + 3];
	int fd;

	snprintf(rel, sizeof(rel), "%s/%s", BLOBS_REL, dir);
	if (mkdirat(blobs, dir, 0755) == 0) {
		int rc = bb->fsync ? syn_fs_fsync_dir(blobs, ".") : 0;

		if (rc)
			return rc;
	} else if (errno != EEXIST) {
		return write_error(bb, errno, 0, rel);
	}
	fd = openat(blobs, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return write_error(bb, errno == ELOOP ? ENOTDIR : errno, 0, rel);
	*fd_out = fd;
	return 0;
}

static int bp_put(struct syn_backend *b, const char *sha, int fd)
{
	struct bp_backend *bb = BP(b);
	char part[96], got[SYN_SHA256_HEX_LEN + 1];
	struct statvfs vfs;
	struct stat sb;
	uint64_t needed;
	int blobs = -1, dir = -1, out = -1, rc;

	rc = bp_exists(b, sha);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (fstat(fd, &sb) < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot read blob %s to copy it to the backup", sha);
	needed = (uint64_t)sb.st_size;
	rc = open_blobs(bb, true, &blobs);
	if (rc < 0)
		return rc;
	/* a full drive is said before a single byte is written */
	if (fstatvfs(blobs, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < needed) {
		rc = syn_error_set(SYN_ENOSPC, "the backup at %s is full: %llu bytes needed", bb->root,
				   (unsigned long long)needed);
		goto out_close_blobs;
	}
	rc = open_prefix_dir(bb, blobs, sha, &dir);
	if (rc)
		goto out_close_blobs;
	remove_stale_parts(dir, sha);
	rc = open_part(bb, dir, sha, part, &out);
	if (rc)
		goto out_close_dir;
	rc = copy_fd(bb, fd, out, needed, part, got);
	if (!rc)
		rc = fsync_or_fail(bb, out, needed, part);
	if (!rc && strcmp(got, sha) != 0)
		rc = syn_error_set(SYN_EMISMATCH, "the copy on the backup at %s does not match: expected %s, got %s",
				   bb->root, sha, got);
	/* filesystems without Unix modes (FAT, exFAT) refuse this, and are still fine backups */
	if (!rc && fchmod(out, 0444) < 0 && errno != EPERM && errno != EOPNOTSUPP)
		rc = write_error(bb, errno, 0, part);
	if (!rc) {
		rc = publish(bb, dir, part, sha);
		/* another writer was first (its copy is verified too), unless the name holds no blob */
		if (rc == 1 && fstatat(dir, sha, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
			rc = 0;
		else if (rc == 1)
			rc = syn_error_set(SYN_EIO, "cannot write to the backup at %s: '%s/%.2s/%s' is in the way "
					   "and is not a blob; move it away", bb->root, BLOBS_REL, sha, sha);
	}
	if (!rc)
		rc = fsync_or_fail(bb, dir, 0, sha);
	/* a no-op once the copy was moved into place; otherwise nothing is left behind */
	unlinkat(dir, part, 0);
	close(out);
out_close_dir:
	close(dir);
out_close_blobs:
	close(blobs);
	return rc;
}

static int bp_remove(struct syn_backend *b, const char *sha)
{
	struct bp_backend *bb = BP(b);
	char rel[72], meta[80], dir[3] = { sha[0], sha[1], '\0' };
	int blobs, rc;

	rc = open_blobs(bb, false, &blobs);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup at %s", sha, bb->root);
	rc = 0;
	rel_of(rel, sha);
	if (unlinkat(blobs, rel, 0) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup at %s", sha, bb->root);
		else
			rc = write_error(bb, errno, 0, rel);
		goto out_close;
	}
	meta_rel_of(meta, sha);
	unlinkat(blobs, meta, 0);
	unlinkat(blobs, dir, AT_REMOVEDIR); /* only succeeds when empty */
	rc = fsync_or_fail(bb, blobs, 0, BLOBS_REL);
out_close:
	close(blobs);
	return rc;
}

static bool is_hex2(const char *s)
{
	return strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2;
}

static int bp_foreach(struct syn_backend *b, syn_blob_cb cb, void *payload)
{
	struct bp_backend *bb = BP(b);
	struct dirent *top, *de;
	DIR *d, *sub;
	int blobs, rc;

	rc = open_blobs(bb, false, &blobs);
	if (rc <= 0)
		return rc;
	d = fdopendir(blobs);
	if (!d) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot list '%s/%s'", bb->root, BLOBS_REL);
		close(blobs);
		return rc;
	}
	rc = 0;
	while (!rc && (top = readdir(d))) {
		int sfd;

		if (!is_hex2(top->d_name))
			continue;
		sfd = openat(blobs, top->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		sub = sfd >= 0 ? fdopendir(sfd) : NULL;
		if (!sub) {
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		while (!rc && (de = readdir(sub))) {
			struct stat sb;

			/* a blob is exactly its digest: manifests, copies in progress and strays are not */
			if (!syn_name_is_sha256(de->d_name) || strncmp(de->d_name, top->d_name, 2) != 0)
				continue;
			if (fstatat(sfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
				rc = cb(de->d_name, payload);
		}
		closedir(sub);
	}
	closedir(d);
	/* a drive pulled out while listing gave a short list, not the backup's content */
	if (!rc && !root_reachable(bb))
		rc = unreachable(bb);
	return rc;
}

static int bp_meta_read(struct syn_backend *b, const char *sha, struct syn_buf *out)
{
	struct bp_backend *bb = BP(b);
	struct stat sb;
	char rel[80];
	int blobs, rc;

	rc = open_blobs(bb, false, &blobs);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return syn_error_set(SYN_ENOTFOUND, "blob %s has no manifest on the backup at %s", sha, bb->root);
	meta_rel_of(rel, sha);
	if (fstatat(blobs, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0 && (errno == ENOENT || errno == ENOTDIR))
		rc = SYN_ENOTFOUND;
	else
		rc = syn_fs_read(out, blobs, rel, 1 << 20);
	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "blob %s has no manifest on the backup at %s", sha, bb->root);
	close(blobs);
	return rc;
}

/* A whole new file, or none: temp, fsync, moved into place without replacing. */
static int bp_meta_write(struct syn_backend *b, const char *sha, const void *data, size_t len)
{
	struct bp_backend *bb = BP(b);
	char name[80], tmp[96], rnd[17];
	const size_t total = len;
	int blobs = -1, dir = -1, fd, rc;

	snprintf(name, sizeof(name), "%.64s.meta", sha);
	rc = open_blobs(bb, true, &blobs);
	if (rc < 0)
		return rc;
	rc = open_prefix_dir(bb, blobs, sha, &dir);
	if (rc)
		goto out_close_blobs;
	if (syn_fs_exists(dir, name)) {
		rc = syn_error_set(SYN_EEXISTS, "blob %s has a manifest on the backup already", sha);
		goto out_close_dir;
	}
	rc = random_hex(rnd);
	if (rc)
		goto out_close_dir;
	snprintf(tmp, sizeof(tmp), SYN_FS_TMP_PREFIX "meta.%s", rnd);
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = write_error(bb, errno, total, tmp);
		goto out_close_dir;
	}
	while (!rc && len) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = write_error(bb, errno, total, tmp);
			break;
		}
		data = (const char *)data + w;
		len -= (size_t)w;
	}
	if (!rc)
		rc = fsync_or_fail(bb, fd, total, tmp);
	if (close(fd) < 0 && !rc)
		rc = write_error(bb, errno, total, tmp);
	if (!rc) {
		rc = publish(bb, dir, tmp, name);
		if (rc == 1)
			rc = syn_error_set(SYN_EEXISTS, "blob %s has a manifest on the backup already", sha);
	}
	if (!rc)
		rc = fsync_or_fail(bb, dir, 0, name);
	unlinkat(dir, tmp, 0);
out_close_dir:
	close(dir);
out_close_blobs:
	close(blobs);
	return rc;
}

static int bp_space(struct syn_backend *b, uint64_t *total, uint64_t *free_bytes)
{
	struct bp_backend *bb = BP(b);
	struct statvfs vfs;
	int fd, rc;

	rc = open_root(bb, &fd);
	if (rc)
		return rc;
	if (fstatvfs(fd, &vfs) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot tell the size of the backup at %s", bb->root);
	close(fd);
	if (rc)
		return rc;
	*total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	*free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return 0;
}

static unsigned int bp_capabilities(struct syn_backend *b)
{
	(void)b;
	return SYN_BACKEND_CAP_PUT | SYN_BACKEND_CAP_REMOVE | SYN_BACKEND_CAP_LIST | SYN_BACKEND_CAP_META |
	       SYN_BACKEND_CAP_SPACE;
}

static void bp_free(struct syn_backend *b)
{
	if (!b)
		return;
	free(BP(b)->root);
	free(b);
}

/* Touches no disk: a backup drive that is not plugged in fails only the commands that need it. */
static int bp_create(struct syn_backend **out, const struct syn_backend_params *params)
{
	struct syn_buf root = SYN_BUF_INIT;
	struct bp_backend *bb;
	int rc;

	*out = NULL;
	if (!params || !params->root || !*params->root)
		return syn_error_set(SYN_EINVALID,
				     "backup.path is not set: run 'synapse backup config --path <dir>'");
	rc = syn_fs_abspath(&root, params->root);
	if (rc) {
		syn_buf_dispose(&root);
		return syn_error_prefix("invalid backup.path '%s'", params->root);
	}
	bb = calloc(1, sizeof(*bb));
	if (!bb) {
		syn_buf_dispose(&root);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	bb->root = syn_buf_detach(&root);
	bb->fsync = params->fsync;
	bb->parent.version = SYN_BACKEND_VERSION;
	bb->parent.exists = bp_exists;
	bb->parent.size = bp_size;
	bb->parent.open = bp_open;
	bb->parent.put = bp_put;
	bb->parent.remove = bp_remove;
	bb->parent.foreach = bp_foreach;
	bb->parent.free = bp_free;
	bb->parent.capabilities = bp_capabilities;
	bb->parent.meta_read = bp_meta_read;
	bb->parent.meta_write = bp_meta_write;
	bb->parent.space = bp_space;
	if (!bb->root) {
		bp_free(&bb->parent);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	*out = &bb->parent;
	return 0;
}

static const struct syn_backend_class bp_class = {
	SYN_BACKEND_VERSION, "backup_path", bp_create,
};

static int bp_init(struct syn_registry *reg)
{
	return syn_register_backend(reg, &bp_class);
}

SYN_PLUGIN_DEFINE("backup_path", "1.0.0", "MIT", "blobs on a backup drive or directory (config.json backup.path)",
		  bp_init)
