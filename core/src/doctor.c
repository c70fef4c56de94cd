/*
 * doctor: find and repair what crashes and hand edits leave behind (stale
 * temporary files and git locks, unfinished views, stacks naming profiles
 * that are gone, `active` links off their stack's top, missing or stale
 * views, corrupt blobs), then report what it found, what it repaired and
 * what is still wrong.
 */
#include <dirent.h>
#include <errno.h>
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
#include "synapse/state.h"
#include "synapse/store.h"

#include "blob.h"
#include "defaults.h"
#include "docs.h"
#include "profile.h"
#include "runtime.h"
#include "state.h"
#include "store.h"
#include "view.h"

/* Fewer loose objects than this in state/.git are left loose: a pack of a handful saves nothing. */
#define PACK_AT_LEAST 256

/* Append @entry (a new reference, NULL when its formatting ran out of memory) to @list. */
static int add(json_t *list, json_t *entry)
{
	return entry && !json_array_append_new(list, entry) ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

/*
 * Remove SYN_FS_TMP_PREFIX files older than an hour directly in @rel (a
 * crashed writer's; a younger one may be a live writer's).
 */
static int clean_temps(int parent, const char *rel, json_t *repaired, json_t *notes)
{
	struct dirent *de;
	time_t now = time(NULL);
	DIR *d = syn_fs_opendir(parent, rel);
	int rc = 0, fd;

	if (!d)
		return 0;
	fd = dirfd(d);
	while (!rc && (de = readdir(d))) {
		struct stat sb;

		if (strncmp(de->d_name, SYN_FS_TMP_PREFIX, strlen(SYN_FS_TMP_PREFIX)) ||
		    fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) || now - sb.st_mtime < 3600)
			continue;
		if (!syn_fs_remove_tree(fd, de->d_name))
			rc = add(repaired, json_sprintf("removed stale temporary file %s/%s", rel, de->d_name));
		else
			rc = add(notes, json_sprintf("cannot remove stale temporary file %s/%s: %s", rel, de->d_name,
						     syn_error_last()));
	}
	closedir(d);
	return rc;
}

/* Range records of segmented downloads whose blob has landed since. */
static int clean_sidecars(struct syn_store *st, json_t *repaired, json_t *notes)
{
	json_t *removed = json_array(), *v;
	size_t i;
	int rc = removed ? syn__blob_drop_stale_sidecars(st, removed, notes) : syn_error_set(SYN_ENOMEM, "out of memory");

	json_array_foreach(removed, i, v)
		if (!rc)
			rc = add(repaired, json_sprintf("removed the range record %s of a download that finished",
							 json_string_value(v)));
	json_decref(removed);
	return rc;
}

/* Leftover view stages (.<profile>.new) of a killed build. */
static int clean_stages(struct syn_store *st, const char *ui, json_t *repaired, json_t *notes)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct dirent *de;
	DIR *d;
	int fd, rc;

	if ((rc = syn_buf_printf(&rel, "views/%s/profiles", ui)))
		return rc;
	d = syn_fs_opendir(syn_store_data_fd(st), rel.ptr);
	if (!d) {
		syn_buf_dispose(&rel);
		return 0;
	}
	fd = dirfd(d);
	while (!rc && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] != '.' || n <= 5 || strcmp(de->d_name + n - 4, ".new"))
			continue;
		if (!syn_fs_remove_tree(fd, de->d_name))
			rc = add(repaired, json_sprintf("removed an unfinished view %s/%s", rel.ptr, de->d_name));
		else
			rc = add(notes, json_sprintf("cannot remove the unfinished view %s/%s: %s", rel.ptr,
						     de->d_name, syn_error_last()));
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
	int rc = stack ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");

	for (i = json_array_size(stack); !rc && i-- > 0;) {
		const char *p = json_string_value(json_array_get(stack, i));
		bool created, changed, pack = false;

		/* out of memory is no missing profile: never repair on it */
		if (p) {
			rc = syn__docs_profile_load(st, p, &doc);
			json_decref(doc);
			doc = NULL;
			if (rc == SYN_ENOMEM)
				break;
			if (!rc)
				continue;
			rc = 0;
		}
		syn_error_clear();
		if (p && !strncmp(p, SYN_WORK_PREFIX, strlen(SYN_WORK_PREFIX)) &&
		    syn_name_is_pack(p + strlen(SYN_WORK_PREFIX))) {
			rc = syn__docs_pack_exists(st, p + strlen(SYN_WORK_PREFIX), &pack);
			if (!rc && pack)
				rc = syn__profile_regenerate_work(st, p + strlen(SYN_WORK_PREFIX), p, &created, &changed);
			if (rc == SYN_ENOMEM)
				break;
			if (!rc && pack) {
				rc = add(repaired, json_sprintf("%s: regenerated missing profile %s", ui, p));
				continue;
			}
			rc = 0;
		}
		syn_error_clear();
		if (p && !strcmp(p, SYN_PROFILE_GLOBAL)) {
			json_t *g = syn__default_profile(SYN_PROFILE_GLOBAL);

			rc = g ? syn__docs_profile_write(st, SYN_PROFILE_GLOBAL, g) : syn_error_set(SYN_ENOMEM, "out of memory");
			json_decref(g);
			if (!rc)
				rc = add(repaired, json_string("recreated the missing global profile"));
			continue;
		}
		rc = add(repaired, json_sprintf("%s: dropped '%s' from the stack: its profile is gone", ui,
						p ? p : "(not a name)"));
		json_array_remove(stack, i);
		c->runtime_changed = true;
	}
	/* an emptied stack becomes [global] */
	if (!rc && !syn__runtime_stack_of(c, ui))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	return rc;
}

/*
 * Rebuild @ui's view of @top (its stack's top) and point `active` at it.
 * Every view is rebuilt (a hand-damaged tree can look current), but only a
 * view that was missing or out of date, or an `active` that pointed
 * elsewhere, is a repair.
 */
static int repair_view(struct syn_store *st, const char *ui, const char *top, json_t *repaired)
{
	struct syn_buf active = SYN_BUF_INIT;
	const char *was = NULL;
	json_t *build = NULL, *notes = NULL;
	bool current = false;
	int rc = 0;

	if (!syn__view_exists(st, ui, top))
		was = "missing";
	else if (!(rc = syn__view_check(st, ui, top, NULL, &current, NULL, &notes)) && !current)
		was = "out of date";
	json_decref(notes);
	if (!rc)
		rc = syn_view_build(st, ui, top, true, &build);

	json_decref(build);
	if (!rc && was)
		rc = add(repaired, json_sprintf("%s: rebuilt the view of profile '%s' (it was %s)", ui, top, was));
	if (!rc && (syn__view_read_active(st, ui, &active) || strcmp(active.ptr, top))) {
		syn_error_clear();
		rc = syn__view_set_active(st, ui, top);
		if (!rc)
			rc = add(repaired, json_sprintf("%s: active now points at %s", ui, top));
	}
	syn_buf_dispose(&active);
	return rc;
}

/* Re-hash every blob this machine holds, on every core; the corrupt ones go to @invalid. */
static int find_corrupt(struct syn_store *st, json_t *invalid)
{
	json_t *blobs = NULL, *valid = NULL, *bad = NULL;
	int rc = syn_blob_list(st, &blobs);

	if (!rc)
		rc = syn__blob_verify_many(st, blobs, 0, &valid, &bad);
	if (!rc && json_array_extend(invalid, bad))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	json_decref(blobs);
	json_decref(valid);
	json_decref(bad);
	return rc;
}

/*
 * The good copy a backup has of blob @sha, copied in (verified while it
 * is written): 1 when it replaced the corrupt one, 0 when no backup has a
 * good copy (why, in @notes).
 */
static int restore_good_copy(struct syn_store *st, const char *sha, json_t *notes)
{
	struct syn_backend *be;
	size_t index = 0;
	int rc, fd = -1;

	rc = syn_blob_find(st, sha, &index);
	if (!rc && index == 0)
		return 1; /* stored again meanwhile */
	if (!rc)
		rc = syn_store_backend_at(st, index, &be, NULL);
	if (!rc)
		rc = be->open(be, sha, &fd);
	if (!rc)
		rc = syn_blob_insert_fd(st, fd, sha, NULL);
	if (fd >= 0)
		close(fd);
	if (!rc)
		return 1;
	if (rc == SYN_ENOMEM)
		return rc;
	if (rc != SYN_ENOTFOUND)
		rc = add(notes, json_sprintf("the backup's copy of corrupt blob %s cannot replace it: %s", sha,
					      syn_error_last()));
	else
		rc = 0;
	syn_error_clear();
	return rc;
}

/*
 * Set corrupt blobs aside (out of every view's reach, kept for
 * inspection) and put a backup's good copy in their place when there is one.
 */
static int quarantine(struct syn_store *st, const json_t *invalid, json_t *repaired, json_t *notes)
{
	json_t *v;
	size_t i;
	int rc = 0, restored;

	json_array_foreach(invalid, i, v) {
		const char *sha = json_string_value(v);

		rc = syn_blob_quarantine(st, sha);
		if (rc)
			break;
		restored = restore_good_copy(st, sha, notes);
		if (restored < 0) {
			rc = restored;
			break;
		}
		rc = add(repaired, restored ? json_sprintf("replaced corrupt blob %s with the backup's copy (verified); "
							   "the corrupt one is in data/quarantine/", sha)
					    : json_sprintf("moved corrupt blob %s to data/quarantine/", sha));
		if (rc)
			break;
	}
	return rc;
}

/*
 * What is still wrong after the repairs: every note (each UI out of sync
 * has one) and every missing blob; a UI out of sync without a note counts
 * too.
 */
static size_t count_left(const json_t *status)
{
	size_t left = json_array_size(json_object_get(status, "notes")) +
		      json_array_size(json_object_get(status, "missing_blobs"));
	const char *ui;
	json_t *v;

	if (!json_array_size(json_object_get(status, "notes")))
		json_object_foreach(json_object_get(status, "in_sync"), ui, v)
			left += !json_is_true(v);
	return left;
}

int syn_doctor(struct syn_store *st, const char *ui_set, bool rebuild_views, bool verify_blobs, json_t **report)
{
	json_t *repaired = json_array(), *invalid = json_array(), *notes = json_array(), *status = NULL, *v;
	struct syn__runtime_ctx c = { 0 };
	size_t i, left, packed = 0;
	uint64_t freed = 0;
	int rc;

	*report = NULL;
	if (!repaired || !invalid || !notes) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	rc = syn_store_require_init(st);
	if (!rc)
		rc = syn_store_lock(st, "doctor");
	if (rc)
		goto out;
	/* taking the lock removed what a killed git left; say so */
	json_array_foreach(syn__store_cleared_locks(st), i, v)
		if ((rc = add(repaired, json_sprintf("removed stale git lock %s", json_string_value(v)))))
			break;
	if (rc) {
		syn_store_unlock(st);
		goto out;
	}
	rc = clean_temps(syn_store_data_fd(st), "tmp", repaired, notes);
	if (!rc)
		rc = clean_sidecars(st, repaired, notes);
	if (!rc)
		rc = clean_temps(syn_store_state_fd(st), ".", repaired, notes);
	if (!rc)
		rc = clean_temps(syn_store_state_fd(st), "profiles/global", repaired, notes);
	/* what a killed delete was removing (syn_fs_remove_tree_aside()) */
	if (!rc)
		rc = clean_temps(syn_store_state_fd(st), "packs", repaired, notes);
	if (!rc)
		rc = clean_temps(syn_store_state_fd(st), "profiles", repaired, notes);
	if (!rc)
		rc = syn__runtime_ctx_load(st, ui_set ? ui_set : "*", &c);
	json_array_foreach(c.targets, i, v) {
		const char *ui = json_string_value(v);

		if (rc)
			break;
		if (!ui || syn_name_check_ident("UI name", ui)) {
			syn_error_clear();
			continue;
		}
		rc = clean_stages(st, ui, repaired, notes);
		if (rc || !rebuild_views)
			continue;
		rc = repair_stack(st, &c, ui, repaired);
		if (!rc)
			rc = repair_view(st, ui, syn__runtime_top(syn__runtime_stack_of(&c, ui)), repaired);
	}
	if (!rc)
		rc = syn__runtime_save(st, &c);
	/* profiles it regenerated, and anything left uncommitted by a killed command, go into the history */
	if (!rc && json_array_size(repaired))
		rc = syn_state_commit(st, "doctor", NULL);
	/* what the commits left loose, in one pack (not a repair: a store is healthy with them) */
	if (!rc && syn__state_pack(st, PACK_AT_LEAST, &packed, &freed)) {
		rc = syn_error_code() == SYN_ENOMEM ? SYN_ENOMEM
						     : add(notes, json_sprintf("cannot pack the state history: %s",
									       syn_error_last()));
		if (!rc)
			syn_error_clear();
	}
	if (!rc && verify_blobs) {
		rc = find_corrupt(st, invalid);
		if (!rc)
			rc = quarantine(st, invalid, repaired, notes);
		if (!rc && json_array_size(invalid))
			rc = syn__views_refresh(st, true, NULL, 0, notes); /* their links are gone: rebuild */
	}
	/* the verdict is on the store as repaired, before another command changes it */
	if (!rc)
		rc = syn_store_status(st, ui_set, &status);
	syn_store_unlock(st);
	if (rc)
		goto out;
	if (json_array_extend(json_object_get(status, "notes"), notes) ||
	    json_object_set_new(status, "actions", json_pack("{s:b, s:b, s:I, s:I}", "views_rebuilt", rebuild_views,
							     "blobs_verified", verify_blobs, "history_objects_packed",
							     (json_int_t)packed, "history_bytes_freed", (json_int_t)freed)) ||
	    json_object_set(status, "repaired", repaired) || json_object_set(status, "invalid_blobs", invalid)) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	left = count_left(status);
	if (json_object_set_new(status, "healthy", json_boolean(!left && !json_array_size(repaired)))) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	*report = json_incref(status);
	if (left || json_array_size(repaired))
		rc = syn_error_set(SYN_ECORRUPT, "the store was not healthy: %zu problem(s) found, %zu repaired; "
				   "see the report", left + json_array_size(repaired), json_array_size(repaired));
out:
	syn__runtime_ctx_free(&c);
	json_decref(status);
	json_decref(repaired);
	json_decref(invalid);
	json_decref(notes);
	return rc;
}
