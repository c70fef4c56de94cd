/*
 * Views: per-UI trees of relative symlinks, one per profile, and the
 * `active` link. Trees are staged beside their final name and renamed into
 * place, so there is no instant without a view; `active` is replaced by
 * renaming a temporary link over it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/store.h"

#include "internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static int rename_noreplace(int fd, const char *from, const char *to)
{
	if (renameat2(fd, from, fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return SYN_EEXISTS;
	if (errno == EINVAL || errno == ENOSYS)
		return syn_error_set(SYN_EUNSUPPORTED, "the filesystem holding '%s' does not support "
				     "renameat2(RENAME_NOREPLACE), which Synapse needs for atomic views", to);
	return syn_error_set_errno(SYN_EIO, errno, "cannot rename '%s' to '%s'", from, to);
}

int syn__view_ensure_empty(struct syn_store *st, const char *ui, const char *profile)
{
	struct syn_buf dir = SYN_BUF_INIT, stage = SYN_BUF_INIT, sub = SYN_BUF_INIT;
	json_t *map = NULL, *folder;
	const char *kind;
	struct stat sb;
	int fd, rc, pfd = -1;

	rc = syn_name_check_ident("UI name", ui);
	if (!rc)
		rc = syn_name_check_profile(profile);
	if (!rc)
		rc = syn_store_kind_map(st, ui, &map);
	if (rc)
		return rc;
	fd = syn_store_data_fd(st);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = syn_buf_printf(&dir, "views/%s/profiles", ui);
	if (!rc)
		rc = syn_fs_mkdirs(fd, dir.ptr);
	if (rc)
		goto out;
	pfd = openat(fd, dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s/%s'", syn_store_data_root(st), dir.ptr);
		goto out;
	}
	if (fstatat(pfd, profile, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		goto out;
	rc = syn_buf_printf(&stage, ".%s.new", profile);
	if (!rc)
		rc = syn_fs_remove_tree(pfd, stage.ptr);
	json_object_foreach(map, kind, folder) {
		if (rc)
			break;
		syn_buf_clear(&sub);
		rc = syn_buf_printf(&sub, "%s/%s", stage.ptr, json_string_value(folder));
		if (!rc)
			rc = syn_fs_mkdirs(pfd, sub.ptr);
	}
	if (!rc && json_object_size(map) == 0 && mkdirat(pfd, stage.ptr, 0755) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot create '%s'", stage.ptr);
	if (!rc)
		rc = syn_fs_fsync_dir(pfd, stage.ptr);
	if (!rc) {
		rc = rename_noreplace(pfd, stage.ptr, profile);
		if (rc == SYN_EEXISTS) /* built meanwhile by someone else: theirs stands */
			rc = syn_fs_remove_tree(pfd, stage.ptr);
	}
	if (!rc)
		rc = syn_fs_fsync(pfd, dir.ptr);
out:
	if (pfd >= 0)
		close(pfd);
	json_decref(map);
	syn_buf_dispose(&dir);
	syn_buf_dispose(&stage);
	syn_buf_dispose(&sub);
	return rc;
}

int syn__view_set_active(struct syn_store *st, const char *ui, const char *profile)
{
	struct syn_buf dir = SYN_BUF_INIT, target = SYN_BUF_INIT, tmp = SYN_BUF_INIT;
	int fd, ufd = -1, rc;

	rc = syn_name_check_ident("UI name", ui);
	if (!rc)
		rc = syn_name_check_profile(profile);
	if (rc)
		return rc;
	fd = syn_store_data_fd(st);
	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&dir, "views/%s", ui);
	if (!rc)
		rc = syn_fs_mkdirs(fd, dir.ptr);
	if (!rc)
		rc = syn_buf_printf(&target, "profiles/%s", profile);
	if (!rc)
		rc = syn_buf_printf(&tmp, SYN_FS_TMP_PREFIX "active.%ld", (long)getpid());
	if (rc)
		goto out;
	ufd = openat(fd, dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", dir.ptr);
		goto out;
	}
	unlinkat(ufd, tmp.ptr, 0);
	if (symlinkat(target.ptr, ufd, tmp.ptr) < 0) {
		rc = errno == EPERM || errno == EOPNOTSUPP
			? syn_error_set(SYN_EUNSUPPORTED, "the filesystem holding '%s/%s' does not support "
					"symbolic links, which Synapse views need", syn_store_data_root(st), dir.ptr)
			: syn_error_set_errno(SYN_EIO, errno, "cannot create a link in '%s'", dir.ptr);
		goto out;
	}
	if (renameat(ufd, tmp.ptr, ufd, "active") < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot replace '%s/active'", dir.ptr);
		unlinkat(ufd, tmp.ptr, 0);
		goto out;
	}
	rc = syn_fs_fsync(ufd, dir.ptr);
out:
	if (ufd >= 0)
		close(ufd);
	syn_buf_dispose(&dir);
	syn_buf_dispose(&target);
	syn_buf_dispose(&tmp);
	return rc;
}

int syn__view_read_active(struct syn_store *st, const char *ui, struct syn_buf *out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	char target[512];
	ssize_t n;
	int fd, rc;

	syn_buf_clear(out);
	fd = syn_store_data_fd(st);
	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&rel, "views/%s/active", ui);
	if (rc)
		return rc;
	n = readlinkat(fd, rel.ptr, target, sizeof(target) - 1);
	if (n < 0) {
		rc = errno == ENOENT ? syn_error_set(SYN_ENOTFOUND, "'%s/%s' is missing", syn_store_data_root(st), rel.ptr)
				     : syn_error_set_errno(SYN_ECORRUPT, errno, "'%s/%s' is not a symbolic link",
							   syn_store_data_root(st), rel.ptr);
		goto out;
	}
	target[n] = '\0';
	if (strncmp(target, "profiles/", 9) || !syn_name_is_pack(target + 9)) {
		rc = syn_error_set(SYN_ECORRUPT, "'%s/%s' points at '%s', not at profiles/<profile>",
				   syn_store_data_root(st), rel.ptr, target);
		goto out;
	}
	rc = syn_buf_puts(out, target + 9);
out:
	syn_buf_dispose(&rel);
	return rc;
}
