/*
 * Profiles and the runtime stacks: use / back / reset, profiles list/show,
 * doctor. Every change happens under the store lock and leaves each UI's
 * stack top, `active` link and view in agreement.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/pack.h"
#include "synapse/profile.h"
#include "synapse/state.h"

#include "defaults.h"
#include "docs.h"
#include "runtime.h"
#include "view.h"

/* work__<pack> = global with the pack moved last. Writes only when it changes. */
static int regenerate_work(struct syn_store *st, const char *pack, const char *work, bool *created, bool *changed)
{
	json_t *global = NULL, *old = NULL, *doc = NULL, *packs = json_array(), *e;
	size_t i;
	int rc;

	*created = *changed = false;
	rc = syn__docs_profile_load(st, SYN_PROFILE_GLOBAL, &global);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		global = json_pack("{s:{s:s}, s:[]}", "conflicts", "mode", "last_wins", "packs");
		rc = 0;
	}
	if (rc)
		goto out;
	json_array_foreach(json_object_get(global, "packs"), i, e)
		if (strcmp(syn_doc_str(e, "name", ""), pack))
			json_array_append(packs, e);
	json_array_append_new(packs, json_pack("{s:s}", "name", pack));
	if (syn__docs_profile_load(st, work, &old)) {
		*created = true;
		syn_error_clear();
		doc = json_object();
	} else {
		doc = json_deep_copy(old); /* keep keys we do not know */
	}
	json_object_set_new(doc, "schema", json_string(SYN_SCHEMA_PROFILE));
	json_object_set_new(doc, "name", json_string(work));
	json_object_set(doc, "conflicts", json_is_object(json_object_get(global, "conflicts"))
		? json_object_get(global, "conflicts") : json_pack("{s:s}", "mode", "last_wins"));
	json_object_set(doc, "packs", packs);
	if (old && json_equal(old, doc))
		goto out;
	*changed = true;
	rc = syn__docs_profile_write(st, work, doc);
out:
	json_decref(global);
	json_decref(old);
	json_decref(doc);
	json_decref(packs);
	return rc;
}

/*
 * Download the blobs the views found missing, pack by pack, outside the store
 * lock (each install rebuilds the views that show its pack), and leave in
 * @missing only what is still missing afterwards.
 */
static void sync_missing(struct syn_store *st, json_t *missing, json_t *notes)
{
	json_t *done = json_object(), *e, *report;
	size_t i;

	json_array_foreach(missing, i, e) {
		const char *name = syn_doc_str(e, "pack", "");

		if (json_object_get(done, name))
			continue;
		json_object_set_new(done, name, json_true());
		report = NULL;
		if (syn_pack_install(st, name, 4, NULL, NULL, &report))
			json_array_append_new(notes, json_sprintf("sync: %s", syn_error_last()));
		else
			json_array_append_new(notes, json_sprintf("sync: downloaded %zu blob(s) of %s",
				json_array_size(json_object_get(report, "downloaded")), name));
		syn_error_clear();
		json_decref(report);
	}
	for (i = json_array_size(missing); i-- > 0;)
		if (syn_blob_exists(st, syn_doc_str(json_array_get(missing, i), "sha256", "")))
			json_array_remove(missing, i);
	json_decref(done);
}

int syn_profile_use(struct syn_store *st, const char *pack, const char *ui_set, bool sync, json_t **report)
{
	struct syn_buf work = SYN_BUF_INIT;
	json_t *shadowed = json_array(), *missing = json_array(), *notes = json_array(), *v;
	bool created = false, changed = false, locked = false;
	struct syn__view_key_cache kc = { "", "" };
	struct syn__runtime_ctx c = { 0 };
	size_t i;
	int rc;

	*report = NULL;
	rc = syn_name_check_pack(pack);
	if (!rc)
		rc = syn_store_require_init(st);
	if (!rc)
		rc = syn_buf_printf(&work, "packs/%s/pack.json", pack);
	if (!rc && !syn_fs_exists(syn_store_state_fd(st), work.ptr))
		rc = syn_error_set(SYN_ENOTFOUND, "pack '%s' not found; 'synapse list' shows the packs", pack);
	syn_buf_clear(&work);
	if (!rc)
		rc = syn_buf_printf(&work, SYN_WORK_PREFIX "%s", pack);
	if (!rc)
		rc = syn_name_check_profile(work.ptr);
	if (rc)
		goto out;
	rc = syn_store_lock(st, "use");
	if (rc)
		goto out;
	locked = true;
	rc = regenerate_work(st, pack, work.ptr, &created, &changed);
	if (!rc)
		rc = syn__runtime_ctx_load(st, ui_set, &c);
	json_array_foreach(c.targets, i, v) {
		const char *ui = json_string_value(v);
		json_t *stack;

		if (rc)
			break;
		stack = syn__runtime_stack_of(&c, ui);
		rc = syn__runtime_activate(st, &kc, ui, work.ptr, shadowed, missing);
		if (!rc && strcmp(syn__runtime_top(stack), work.ptr)) {
			json_array_append_new(stack, json_string(work.ptr));
			c.runtime_changed = true;
		}
	}
	if (!rc)
		rc = syn__runtime_save(st, &c);
	if (!rc && changed) {
		struct syn_buf msg = SYN_BUF_INIT;

		rc = syn_buf_printf(&msg, "use %s", pack);
		if (!rc)
			rc = syn_state_commit(st, msg.ptr, NULL);
		syn_buf_dispose(&msg);
	}
	if (locked)
		syn_store_unlock(st);
	locked = false;
	/* the views know what is missing: only then is there anything to download */
	if (!rc && sync && json_array_size(missing))
		sync_missing(st, missing, notes);
	if (!rc)
		*report = json_pack("{s:s, s:s, s:s, s:O, s:b, s:b, s:O, s:O, s:O}", "pack", pack, "created_profile",
			work.ptr, "activated_profile", work.ptr, "ui_targets", c.targets, "synced", sync,
			"profile_created", created, "shadowed", shadowed, "missing_blobs", missing, "notes", notes);
out:
	if (locked)
		syn_store_unlock(st);
	syn__runtime_ctx_free(&c);
	json_decref(shadowed);
	json_decref(missing);
	json_decref(notes);
	syn_buf_dispose(&work);
	return rc;
}

/* Pop one profile; false when only the base is left. */
static bool pop_one(json_t *stack)
{
	if (json_array_size(stack) <= 1)
		return false;
	json_array_remove(stack, json_array_size(stack) - 1);
	return true;
}

/* Back to [global]; false when already there. */
static bool to_global(json_t *stack)
{
	if (json_array_size(stack) == 1 && !strcmp(syn__runtime_top(stack), SYN_PROFILE_GLOBAL))
		return false;
	json_array_clear(stack);
	json_array_append_new(stack, json_string(SYN_PROFILE_GLOBAL));
	return true;
}

/*
 * Under the store lock, apply @edit to the stack of every UI of @ui_set and
 * activate each new top. @from and @to receive {ui: profile}; *@moved tells
 * whether any stack changed; *@targets (new reference) the UIs.
 */
static int move_stacks(struct syn_store *st, const char *ui_set, const char *command, bool (*edit)(json_t *stack),
		       json_t *from, json_t *to, json_t **targets, bool *moved)
{
	struct syn__view_key_cache kc = { "", "" };
	struct syn__runtime_ctx c = { 0 };
	json_t *v;
	size_t i;
	int rc;

	*targets = NULL;
	*moved = false;
	rc = syn_store_require_init(st);
	if (!rc)
		rc = syn_store_lock(st, command);
	if (rc)
		return rc;
	rc = syn__runtime_ctx_load(st, ui_set, &c);
	json_array_foreach(c.targets, i, v) {
		const char *ui = json_string_value(v);
		json_t *stack;

		if (rc)
			break;
		stack = syn__runtime_stack_of(&c, ui);
		json_object_set_new(from, ui, json_string(syn__runtime_top(stack)));
		if (edit(stack))
			c.runtime_changed = *moved = true;
		json_object_set_new(to, ui, json_string(syn__runtime_top(stack)));
		rc = syn__runtime_activate(st, &kc, ui, syn__runtime_top(stack), NULL, NULL);
	}
	if (!rc)
		rc = syn__runtime_save(st, &c);
	syn_store_unlock(st);
	if (!rc)
		*targets = json_incref(c.targets);
	syn__runtime_ctx_free(&c);
	return rc;
}

int syn_profile_back(struct syn_store *st, const char *ui_set, json_t **report)
{
	json_t *from = json_object(), *to = json_object(), *targets = NULL;
	const char *first;
	bool popped;
	int rc;

	*report = NULL;
	rc = move_stacks(st, ui_set, "back", pop_one, from, to, &targets, &popped);
	if (!rc) {
		first = json_string_value(json_array_get(targets, 0));
		*report = json_pack("{s:O, s:s?, s:s?, s:O, s:O, s:[s*]}", "ui_targets", targets,
			"from_profile", first ? json_string_value(json_object_get(from, first)) : NULL,
			"to_profile", first ? json_string_value(json_object_get(to, first)) : NULL,
			"from_profiles", from, "to_profiles", to, "notes", popped ? NULL : "already_at_base");
	}
	json_decref(from);
	json_decref(to);
	json_decref(targets);
	return rc;
}

int syn_profile_reset(struct syn_store *st, const char *ui_set, json_t **report)
{
	json_t *from = json_object(), *to = json_object(), *targets = NULL;
	bool moved;
	int rc;

	*report = NULL;
	rc = move_stacks(st, ui_set, "reset", to_global, from, to, &targets, &moved);
	if (!rc)
		*report = json_pack("{s:O, s:O, s:s, s:[s*]}", "ui_targets", targets, "from_profiles", from,
				    "to_profile", SYN_PROFILE_GLOBAL, "notes", moved ? NULL : "already_at_global");
	json_decref(from);
	json_decref(to);
	json_decref(targets);
	return rc;
}

int syn_profile_list(struct syn_store *st, json_t **out)
{
	struct dirent **ents = NULL;
	struct syn_buf dir = SYN_BUF_INIT;
	json_t *profiles = json_array(), *runtime = NULL, *config = NULL;
	int n, i, rc;

	*out = NULL;
	rc = syn_store_config(st, &config);
	if (!rc)
		rc = syn__docs_runtime_read(st, config, &runtime);
	if (!rc)
		rc = syn_buf_printf(&dir, "%s/profiles", syn_store_state_root(st));
	if (rc)
		goto out;
	n = scandir(dir.ptr, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		json_t *doc = NULL, *active_in = json_array(), *e;
		const char *ui;

		if (syn_name_is_pack(name) && !syn__docs_profile_load(st, name, &doc)) {
			json_object_foreach(json_object_get(runtime, "ui"), ui, e) {
				json_t *stack = syn__runtime_stack(runtime, ui);

				if (!strcmp(syn__runtime_top(stack), name))
					json_array_append_new(active_in, json_string(ui));
				json_decref(stack);
			}
			json_array_append_new(profiles, json_pack("{s:s, s:s, s:i, s:O}", "name", name, "type",
				!strcmp(name, SYN_PROFILE_GLOBAL) ? "base" :
				!strncmp(name, SYN_WORK_PREFIX, strlen(SYN_WORK_PREFIX)) ? "work" : "custom",
				"packs_count", (json_int_t)json_array_size(json_object_get(doc, "packs")),
				"active_in", active_in));
		}
		syn_error_clear();
		json_decref(doc);
		json_decref(active_in);
		free(ents[i]);
	}
	free(ents);
	*out = json_pack("{s:O}", "profiles", profiles);
out:
	json_decref(profiles);
	json_decref(runtime);
	json_decref(config);
	syn_buf_dispose(&dir);
	return rc;
}

int syn_profile_show(struct syn_store *st, const char *name, json_t **out)
{
	int rc = syn_store_require_init(st);

	*out = NULL;
	return rc ? rc : syn__docs_profile_load(st, name, out);
}

/* ---- doctor -------------------------------------------------------------- */

/* Remove SYN_FS_TMP_PREFIX files older than an hour directly in @rel (a crashed writer's). */
static void clean_temps(int dirfd, const char *rel, json_t *repaired)
{
	struct dirent *de;
	time_t now = time(NULL);
	DIR *d;
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat sb;

		if (strncmp(de->d_name, SYN_FS_TMP_PREFIX, strlen(SYN_FS_TMP_PREFIX)) ||
		    fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) || now - sb.st_mtime < 3600)
			continue;
		if (!syn_fs_remove_tree(fd, de->d_name))
			json_array_append_new(repaired, json_sprintf("removed stale temporary file %s/%s", rel,
								     de->d_name));
	}
	closedir(d);
}

/* Leftover view stages (.<profile>.new) of a killed build. */
static void clean_stages(struct syn_store *st, const char *ui, json_t *repaired)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct dirent *de;
	DIR *d;
	int fd;

	if (syn_buf_printf(&rel, "views/%s/profiles", ui))
		return;
	fd = openat(syn_store_data_fd(st), rel.ptr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		syn_buf_dispose(&rel);
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' && n > 5 && !strcmp(de->d_name + n - 4, ".new") &&
		    !syn_fs_remove_tree(fd, de->d_name))
			json_array_append_new(repaired, json_sprintf("removed an unfinished view %s/%s", rel.ptr,
								     de->d_name));
	}
	closedir(d);
	syn_buf_dispose(&rel);
}

/* Drop stack entries whose profile is gone (a work profile of an existing pack is regenerated). */
static int repair_stack(struct syn_store *st, struct syn__runtime_ctx *c, const char *ui, json_t *repaired)
{
	json_t *stack = syn__runtime_stack_of(c, ui), *doc = NULL;
	size_t i;

	for (i = json_array_size(stack); i-- > 0;) {
		const char *p = json_string_value(json_array_get(stack, i));
		bool created, changed;

		if (p && !syn__docs_profile_load(st, p, &doc)) {
			json_decref(doc);
			doc = NULL;
			continue;
		}
		syn_error_clear();
		if (p && !strncmp(p, SYN_WORK_PREFIX, strlen(SYN_WORK_PREFIX)) &&
		    syn_name_is_pack(p + strlen(SYN_WORK_PREFIX)) &&
		    !regenerate_work(st, p + strlen(SYN_WORK_PREFIX), p, &created, &changed)) {
			json_array_append_new(repaired, json_sprintf("%s: regenerated missing profile %s", ui, p));
			continue;
		}
		syn_error_clear();
		if (p && !strcmp(p, SYN_PROFILE_GLOBAL)) {
			json_t *g = syn__default_profile(SYN_PROFILE_GLOBAL);
			int rc = syn__docs_profile_write(st, SYN_PROFILE_GLOBAL, g);

			json_decref(g);
			if (rc)
				return rc;
			json_array_append_new(repaired, json_string("recreated the missing global profile"));
			continue;
		}
		json_array_append_new(repaired, json_sprintf("%s: dropped '%s' from the stack: its profile is gone", ui,
							     p ? p : "(not a name)"));
		json_array_remove(stack, i);
		c->runtime_changed = true;
	}
	syn__runtime_stack_of(c, ui); /* an emptied stack becomes [global] */
	return 0;
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
	rc = syn_store_require_init(st);
	if (!rc)
		rc = syn_store_lock(st, "doctor"); /* also clears stale git locks */
	if (rc)
		goto out;
	clean_temps(syn_store_data_fd(st), "tmp", repaired);
	clean_temps(syn_store_state_fd(st), ".", repaired);
	clean_temps(syn_store_state_fd(st), "profiles/global", repaired);
	rc = syn__runtime_ctx_load(st, ui_set ? ui_set : "*", &c);
	json_array_foreach(c.targets, i, v) {
		const char *ui = json_string_value(v);
		struct syn_buf active = SYN_BUF_INIT;
		json_t *stack, *build = NULL;

		if (rc || !ui || syn_name_check_ident("UI name", ui))
			continue;
		clean_stages(st, ui, repaired);
		if (!rebuild_views)
			continue;
		rc = repair_stack(st, &c, ui, repaired);
		stack = syn__runtime_stack_of(&c, ui);
		if (!rc)
			rc = syn_view_build(st, ui, syn__runtime_top(stack), true, &build);
		if (!rc && (syn__view_read_active(st, ui, &active) || strcmp(active.ptr, syn__runtime_top(stack)))) {
			rc = syn__view_set_active(st, ui, syn__runtime_top(stack));
			if (!rc)
				json_array_append_new(repaired, json_sprintf("%s: active now points at %s", ui,
									     syn__runtime_top(stack)));
		}
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
	if (!rc) {
		json_object_set_new(status, "actions", json_pack("{s:b, s:b}", "views_rebuilt", rebuild_views,
								 "blobs_verified", verify_blobs));
		json_object_set(status, "repaired", repaired);
		json_object_set(status, "invalid_blobs", invalid);
		*report = json_incref(status);
	}
out:
	syn__runtime_ctx_free(&c);
	json_decref(status);
	json_decref(repaired);
	json_decref(invalid);
	return rc;
}
