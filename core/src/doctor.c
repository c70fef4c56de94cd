/*
 * doctor: find and repair what crashes and hand edits leave behind (stale
 * temporary files, unfinished views, stacks naming profiles that are gone,
 * `active` links off their stack's top, corrupt blobs), then report the
 * status.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "synapse/blob.h"
#include "synapse/buf.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/profile.h"
#include "synapse/store.h"

#include "defaults.h"
#include "docs.h"
#include "profile.h"
#include "runtime.h"
#include "view.h"

/* Remove SYN_FS_TMP_PREFIX files older than an hour directly in @rel (a crashed writer's). */
static int clean_temps(int dirfd, const char *rel, json_t *repaired)
{
	int rc = 0;

	struct dirent *de;
	time_t now = time(NULL);
	DIR *d;
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (!rc && (de = readdir(d))) {
		struct stat sb;

		if (strncmp(de->d_name, SYN_FS_TMP_PREFIX, strlen(SYN_FS_TMP_PREFIX)) ||
		    fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) || now - sb.st_mtime < 3600)
			continue;
		if (!syn_fs_remove_tree(fd, de->d_name) &&
		    json_array_append_new(repaired, json_sprintf("removed stale temporary file %s/%s", rel,
								 de->d_name)))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
	closedir(d);
	return rc;
}

/* Leftover view stages (.<profile>.new) of a killed build. */
static int clean_stages(struct syn_store *st, const char *ui, json_t *repaired)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct dirent *de;
	DIR *d;
	int fd, rc;

	if ((rc = syn_buf_printf(&rel, "views/%s/profiles", ui)))
		return rc;
	fd = openat(syn_store_data_fd(st), rel.ptr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		syn_buf_dispose(&rel);
		return 0;
	}
	while (!rc && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' && n > 5 && !strcmp(de->d_name + n - 4, ".new") &&
		    !syn_fs_remove_tree(fd, de->d_name) &&
		    json_array_append_new(repaired, json_sprintf("removed an unfinished view %s/%s", rel.ptr,
								 de->d_name)))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
	closedir(d);
	syn_buf_dispose(&rel);
	return rc;
}

/* Drop stack entries whose profile is gone (a work profile of an existing pack is regenerated). */
static int repair_stack(struct syn_store *st, struct syn__runtime_ctx *c, const char *ui, json_t *repaired)
{
	json_t *stack = syn__runtime_stack_of(c, ui), *doc = NULL;
	size_t i;
	int rc;

	if (!stack)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = json_array_size(stack); i-- > 0;) {
		const char *p = json_string_value(json_array_get(stack, i));
		bool created, changed;

		/* out of memory is no missing profile: never repair on it */
		if (p) {
			rc = syn__docs_profile_load(st, p, &doc);
			json_decref(doc);
			doc = NULL;
			if (rc == SYN_ENOMEM)
				return rc;
			if (!rc)
				continue;
		}
		syn_error_clear();
		if (p && !strncmp(p, SYN_WORK_PREFIX, strlen(SYN_WORK_PREFIX)) &&
		    syn_name_is_pack(p + strlen(SYN_WORK_PREFIX))) {
			rc = syn__profile_regenerate_work(st, p + strlen(SYN_WORK_PREFIX), p, &created, &changed);
			if (rc == SYN_ENOMEM)
				return rc;
			if (!rc) {
				if (json_array_append_new(repaired, json_sprintf("%s: regenerated missing profile %s", ui, p)))
					return syn_error_set(SYN_ENOMEM, "out of memory");
				continue;
			}
		}
		syn_error_clear();
		if (p && !strcmp(p, SYN_PROFILE_GLOBAL)) {
			json_t *g = syn__default_profile(SYN_PROFILE_GLOBAL);

			rc = g ? syn__docs_profile_write(st, SYN_PROFILE_GLOBAL, g) : syn_error_set(SYN_ENOMEM, "out of memory");
			json_decref(g);
			if (rc)
				return rc;
			if (json_array_append_new(repaired, json_string("recreated the missing global profile")))
				return syn_error_set(SYN_ENOMEM, "out of memory");
			continue;
		}
		if (json_array_append_new(repaired, json_sprintf("%s: dropped '%s' from the stack: its profile is gone", ui,
								 p ? p : "(not a name)")))
			return syn_error_set(SYN_ENOMEM, "out of memory");
		json_array_remove(stack, i);
		c->runtime_changed = true;
	}
	/* an emptied stack becomes [global] */
	return syn__runtime_stack_of(c, ui) ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

/* Re-hash every blob this machine holds; the corrupt ones go to @invalid. */
static int find_corrupt(struct syn_store *st, json_t *invalid)
{
	json_t *blobs = NULL, *v;
	size_t i;
	int rc = syn_blob_list(st, &blobs);

	json_array_foreach(blobs, i, v) {
		if (rc)
			break;
		if (syn_blob_verify(st, json_string_value(v)) == SYN_EMISMATCH &&
		    json_array_append(invalid, v))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		else
			syn_error_clear();
	}
	json_decref(blobs);
	return rc;
}

/* Set corrupt blobs aside: out of every view's reach, kept for inspection. */
static int quarantine(struct syn_store *st, const json_t *invalid, json_t *repaired)
{
	json_t *v;
	size_t i;
	int rc = 0;

	json_array_foreach(invalid, i, v) {
		const char *sha = json_string_value(v);

		rc = syn_blob_quarantine(st, sha);
		if (!rc && json_array_append_new(repaired, json_sprintf("moved corrupt blob %s to data/quarantine/", sha)))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		if (rc)
			break;
	}
	return rc;
}

int syn_doctor(struct syn_store *st, const char *ui_set, bool rebuild_views, bool verify_blobs, json_t **report)
{
	json_t *repaired = json_array(), *invalid = json_array(), *status = NULL, *v;
	struct syn__runtime_ctx c = { 0 };
	size_t i;
	int rc;

	*report = NULL;
	rc = repaired && invalid ? syn_store_require_init(st) : syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		rc = syn_store_lock(st, "doctor"); /* also clears stale git locks */
	if (rc)
		goto out;
	rc = clean_temps(syn_store_data_fd(st), "tmp", repaired);
	if (!rc)
		rc = clean_temps(syn_store_state_fd(st), ".", repaired);
	if (!rc)
		rc = clean_temps(syn_store_state_fd(st), "profiles/global", repaired);
	if (!rc)
		rc = syn__runtime_ctx_load(st, ui_set ? ui_set : "*", &c);
	json_array_foreach(c.targets, i, v) {
		const char *ui = json_string_value(v);
		struct syn_buf active = SYN_BUF_INIT;
		json_t *stack, *build = NULL;

		if (rc || !ui || syn_name_check_ident("UI name", ui))
			continue;
		rc = clean_stages(st, ui, repaired);
		if (rc || !rebuild_views)
			continue;
		rc = repair_stack(st, &c, ui, repaired);
		stack = syn__runtime_stack_of(&c, ui);
		if (!rc && !stack)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		if (!rc)
			rc = syn_view_build(st, ui, syn__runtime_top(stack), true, &build);
		if (!rc && (syn__view_read_active(st, ui, &active) || strcmp(active.ptr, syn__runtime_top(stack)))) {
			rc = syn__view_set_active(st, ui, syn__runtime_top(stack));
			if (!rc && json_array_append_new(repaired, json_sprintf("%s: active now points at %s", ui,
										       syn__runtime_top(stack))))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
		}
		if (!rc)
			syn_error_clear();
		json_decref(build);
		syn_buf_dispose(&active);
	}
	if (!rc)
		rc = syn__runtime_save(st, &c);
	if (!rc && verify_blobs) {
		rc = find_corrupt(st, invalid);
		if (!rc)
			rc = quarantine(st, invalid, repaired);
		if (!rc && json_array_size(invalid))
			rc = syn__views_refresh(st, true, repaired); /* their links are gone: rebuild */
	}
	syn_store_unlock(st);
	if (!rc)
		rc = syn_store_status(st, ui_set, &status);
	if (!rc && (json_object_set_new(status, "actions", json_pack("{s:b, s:b}", "views_rebuilt", rebuild_views,
								     "blobs_verified", verify_blobs)) ||
		    json_object_set(status, "repaired", repaired) || json_object_set(status, "invalid_blobs", invalid)))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		*report = json_incref(status);
out:
	syn__runtime_ctx_free(&c);
	json_decref(status);
	json_decref(repaired);
	json_decref(invalid);
	return rc;
}
