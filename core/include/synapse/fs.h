/*
 * synapse/fs.h - durable, atomic file operations relative to directory fds.
 */
#ifndef SYNAPSE_FS_H
#define SYNAPSE_FS_H

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"
#include "common.h"

SYN_BEGIN_DECLS

/** Prefix of every temporary file Synapse creates beside a target. */
#define SYN_FS_TMP_PREFIX ".syn-tmp-"

/**
 * Whether fsync is performed. On unless the environment has SYNAPSE_FSYNC=0
 * (unsafe: for tests only). Read once per process.
 */
SYN_EXTERN bool syn_fs_fsync_enabled(void);

/** fsync(fd) unless disabled; EINTR-safe. Returns 0 or SYN_EIO/SYN_ENOSPC. */
SYN_EXTERN int syn_fs_fsync(int fd, const char *what);

/** Open @relpath (a directory) under @dirfd and fsync it. */
SYN_EXTERN int syn_fs_fsync_dir(int dirfd, const char *relpath);

/** write(2) all of @len bytes, retrying on EINTR and short writes. */
SYN_EXTERN int syn_fs_write_all(int fd, const void *data, size_t len, const char *what);

/**
 * Create @relpath and every missing parent under @dirfd (mode 0755).
 * Existing directories are fine; an existing non-directory is SYN_EEXISTS.
 */
SYN_EXTERN int syn_fs_mkdirs(int dirfd, const char *relpath);

/**
 * Atomically replace @relpath (under @dirfd) with @len bytes of @data:
 * write a unique temp file in the same directory, fsync it, rename it over
 * the target, fsync the directory. A crash leaves the old or the new
 * content, never a mix; at worst a stray SYN_FS_TMP_PREFIX file remains.
 * Parent directories are created. Returns 0 or a SYN_E* code.
 */
SYN_EXTERN int syn_fs_write_atomic(int dirfd, const char *relpath, const void *data, size_t len, mode_t mode);

/**
 * Like syn_fs_write_atomic() (mode 0644), without the fsyncs: for derived
 * data that is rebuilt when a crash loses it. Readers see the old or the
 * new content; after a crash the file may also be empty or short, which
 * its format must let a reader notice.
 */
SYN_EXTERN int syn_fs_write_cache(int dirfd, const char *relpath, const void *data, size_t len);

/**
 * syn_fs_write_cache() of the @nparts buffers at @parts, one after the
 * other, as one file: a header and a body need not be joined first. The
 * parts are consumed as they are written.
 */
SYN_EXTERN int syn_fs_write_cache_parts(int dirfd, const char *relpath, struct iovec *parts, int nparts);

/**
 * Read a whole regular file into @out (replacing its contents), refusing
 * files larger than @max bytes. SYN_ENOTFOUND when absent.
 */
SYN_EXTERN int syn_fs_read(struct syn_buf *out, int dirfd, const char *relpath, size_t max);

/** A whole file mapped read-only by syn_fs_map(): @len bytes at @ptr. */
struct syn_fs_map {
	const char *ptr;
	size_t len;
};

/**
 * syn_fs_read() without the copy: map regular file @relpath (under @dirfd)
 * read-only into @out, its pages read in at once. For the caches that are
 * only ever replaced by a rename or appended to: a file cut shorter while
 * it is mapped would fault. The bytes are not NUL-terminated; an empty file
 * maps to @len 0. Release with syn_fs_unmap().
 */
SYN_EXTERN int syn_fs_map(struct syn_fs_map *out, int dirfd, const char *relpath, size_t max);

/** Release a mapping of syn_fs_map() (a zeroed one is fine) and zero it. */
SYN_EXTERN void syn_fs_unmap(struct syn_fs_map *m);

/**
 * Whether @sb's modification time is at least two seconds old, so that the
 * metadata can vouch for the content: a file changed more recently could
 * change again within the same clock tick without its metadata showing it.
 */
SYN_EXTERN bool syn_fs_settled(const struct stat *sb);

/** Whether @relpath exists under @dirfd (lstat semantics: links are not followed). */
SYN_EXTERN bool syn_fs_exists(int dirfd, const char *relpath);

/**
 * Open directory @relpath under @dirfd for reading, never following a
 * symlink at its last component: NULL (errno set) when it cannot be.
 */
SYN_EXTERN DIR *syn_fs_opendir(int dirfd, const char *relpath);

/**
 * Remove @relpath under @dirfd and, for a directory, everything below it,
 * never following symlinks. A missing path is success.
 */
SYN_EXTERN int syn_fs_remove_tree(int dirfd, const char *relpath);

/**
 * Rename @from to @to (both under @dirfd) unless @to exists: SYN_EEXISTS
 * then (nothing set), SYN_EUNSUPPORTED on a filesystem without
 * renameat2(RENAME_NOREPLACE), SYN_EIO.
 */
SYN_EXTERN int syn_fs_rename_noreplace(int dirfd, const char *from, const char *to);

/**
 * Create a new empty folder (mode 0755) beside @relpath, in its parent
 * under @dirfd (which must exist), named SYN_FS_TMP_PREFIX, @relpath's last
 * part and a random suffix: its path relative to @dirfd in @out. For a
 * tree made whole before it is renamed into place. SYN_EIO, SYN_ENOMEM.
 */
SYN_EXTERN int syn_fs_mkdtemp(int dirfd, const char *relpath, struct syn_buf *out);

/**
 * syn_fs_remove_tree() of a tree that must go whole or not at all: it is
 * first renamed beside itself to a SYN_FS_TMP_PREFIX name (one atomic
 * step), then removed, so a process killed on the way leaves either the
 * tree as it was or a temporary that `doctor` removes. A missing path is
 * success.
 */
SYN_EXTERN int syn_fs_remove_tree_aside(int dirfd, const char *relpath);

/**
 * Turn @path into an absolute, `~`-expanded, lexically normalized path
 * (no `.`/`..` components, no duplicate slashes) in @out.
 */
SYN_EXTERN int syn_fs_abspath(struct syn_buf *out, const char *path);

/**
 * Fault injection for crash tests: when set, @hook is called with a stage
 * name and the target path at these points: "before-rename" in
 * syn_fs_write_atomic(), "aside" in syn_fs_remove_tree_aside() once the
 * tree is renamed and before it is removed. A test's hook may kill the
 * process there.
 * Pass NULL to remove it. Not for production use.
 */
SYN_EXTERN void syn_fs_set_fault_hook(void (*hook)(const char *stage, const char *path));

SYN_END_DECLS

#endif
