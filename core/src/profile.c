/*
 * Profiles: use / back / reset, profiles list/show. Every change happens
 * under the store lock and leaves each UI's stack top, `active` link and
 * view in agreement.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/profile.h"
#include "synapse/state.h"

#include "docs.h"
#include "install.h"
#include "profile.h"
#include "runtime.h"
#include "view.h"

/*
 * data/cache/work/<work>: the stamps (syn__docs_profile_stamp()) of the
 * global profile and of work profile @work when the latter was last found
 * to be what the global one makes it, so that a `use` of an unchanged pack
 * reads neither. In @rel.
 */
static int work_stamp_path(struct syn_buf *rel, const char *work)
{
	syn_buf_clear(rel);
	return syn_buf_printf(rel, "cache/work/%s", work);
}

/* The stamps of the global profile and of @work now, as the text of their cache file; "" when either cannot vouch. */
static int work_stamps(struct syn_store *st, const char *work, struct syn_buf *out)
{
	uint64_t g = syn__docs_profile_stamp(st, SYN_PROFILE_GLOBAL), w = syn__docs_profile_stamp(st, work);

	syn_buf_clear(out);
	return g && w ? syn_buf_printf(out, "%016llx %016llx\n", (unsigned long long)g, (unsigned long long)w) : 0;
}

int syn__profile_regenerate_work(struct syn_store *st, const char *pack, const char *work, bool *created, bool *changed)
{
	json_t *global = NULL, *old = NULL, *doc = NULL, *packs = json_array(), *e, *conflicts;
	struct syn_buf rel = SYN_BUF_INIT, now = SYN_BUF_INIT, was = SYN_BUF_INIT;
	bool oom = !packs;
	int fd = syn_store_data_fd(st);
	size_t i;
	int rc;

	*created = *changed = false;
	rc = work_stamp_path(&rel, work);
	if (!rc)
		rc = work_stamps(st, work, &now);
	if (rc)
		goto out;
	if (now.len && fd >= 0 && !syn_fs_read(&was, fd, rel.ptr, 4096) && !strcmp(was.ptr, now.ptr))
		goto out; /* neither changed since they last agreed */
	syn_error_clear();
	rc = syn__docs_profile_load(st, SYN_PROFILE_GLOBAL, &global);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		global = json_pack("{s:{s:s}, s:[]}", "conflicts", "mode", "last_wins", "packs");
		rc = global ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (rc)
		goto out;
	json_array_foreach(json_object_get(global, "packs"), i, e)
		if (strcmp(syn_doc_str(e, "name", ""), pack))
			oom |= json_array_append(packs, e) != 0;
	oom |= json_array_append_new(packs, json_pack("{s:s}", "name", pack)) != 0;
	rc = syn__docs_profile_load(st, work, &old);
	if (rc == SYN_ENOMEM)
		goto out;
	if (rc) {
		*created = true;
		syn_error_clear();
		doc = json_object();
	} else {
		doc = json_deep_copy(old); /* keep keys we do not know */
	}
	rc = 0;
	oom |= json_object_set_new(doc, "schema", json_string(SYN_SCHEMA_PROFILE)) != 0;
	oom |= json_object_set_new(doc, "name", json_string(work)) != 0;
	conflicts = json_object_get(global, "conflicts");
	oom |= (json_is_object(conflicts) ? json_object_set(doc, "conflicts", conflicts)
		: json_object_set_new(doc, "conflicts", json_pack("{s:s}", "mode", "last_wins"))) != 0;
	oom |= json_object_set(doc, "packs", packs) != 0;
	if (oom) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	if (old && json_equal(old, doc)) {
		/* they agree: remember it, when their stamps can vouch for what was read */
		if (now.len && fd >= 0 && syn_fs_write_cache(fd, rel.ptr, now.ptr, now.len))
			syn_error_clear();
		goto out;
	}
	*changed = true;
	rc = syn__docs_profile_write(st, work, doc);
out:
	json_decref(global);
	json_decref(old);
	json_decref(doc);
	json_decref(packs);
	syn_buf_dispose(&rel);
	syn_buf_dispose(&now);
	syn_buf_dispose(&was);
	return rc;
}

/*
 * Download the blobs the views found missing, pack by pack, outside the store
 * lock (each install rebuilds the views that show its pack), and leave in
 * @missing only what is still missing afterwards.
 */
static int sync_missing(struct syn_store *st, json_t *missing, json_t *notes, syn_install_progress_cb progress,
			void *payload)
{
	json_t *done = json_object(), *e, *report;
	size_t i;
	int rc = done ? 0 : SYN_ENOMEM;

	json_array_foreach(missing, i, e) {
		const char *name = syn_doc_str(e, "pack", "");

		if (rc)
			break;

		if (json_object_get(done, name))
			continue;
		if (json_object_set_new(done, name, json_true()))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		report = NULL;
		if (!rc && syn__install_pack(st, name, 4, progress, payload, &report))
			rc = syn_error_code() == SYN_ENOMEM ? SYN_ENOMEM :
			     json_array_append_new(notes, json_sprintf("sync: %s", syn_error_last()));
		else if (!rc)
			rc = json_array_append_new(notes, json_sprintf("sync: downloaded %zu blob(s) of %s",
				json_array_size(json_object_get(report, "downloaded")), name));
		json_decref(report);
		if (rc)
			break;
		syn_error_clear();
	}
	for (i = json_array_size(missing); i-- > 0;)
		if (syn_blob_exists(st, syn_doc_str(json_array_get(missing, i), "sha256", "")))
			json_array_remove(missing, i);
	json_decref(done);
	return rc ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
}

int syn_profile_use(struct syn_store *st, const char *pack, const char *ui_set, bool sync, json_t **report)
{
	return syn_profile_use_progress(st, pack, ui_set, sync, NULL, NULL, report);
}

int syn_profile_use_progress(struct syn_store *st, const char *pack, const char *ui_set, bool sync,
			     syn_install_progress_cb progress, void *payload, json_t **report)
{
	struct syn_buf work = SYN_BUF_INIT;
	json_t *shadowed = json_array(), *missing = json_array(), *notes = json_array(), *doc = NULL, *v;
	bool created = false, changed = false, locked = false;
	struct syn__view_key_cache kc = { "", "" };
	struct syn__runtime_ctx c = { 0 };
	size_t i;
	int rc;

	*report = NULL;
	rc = !shadowed || !missing || !notes ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
	/* a pack that is missing or does not parse is refused before anything is written */
	if (!rc)
		rc = syn__docs_pack_load(st, pack, &doc);
	json_decref(doc);
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
	/* what can be refused (the UI set, config.json, runtime.json) is, before the work profile is written */
	rc = syn__runtime_ctx_load(st, ui_set, &c);
	if (!rc)
		rc = syn__profile_regenerate_work(st, pack, work.ptr, &created, &changed);
	/*
	 * The work profile it regenerated is all use changes in state/; it is
	 * committed before any UI shows it, so no UI shows an unrecorded profile.
	 */
	if (!rc && changed) {
		struct syn_buf msg = SYN_BUF_INIT, path = SYN_BUF_INIT;

		rc = syn_buf_printf(&msg, "use %s", pack);
		if (!rc)
			rc = syn_buf_printf(&path, "profiles/%s", work.ptr);
		if (!rc)
			rc = syn_state_commit_paths(st, msg.ptr, (const char *const[]){ path.ptr, NULL }, NULL);
		syn_buf_dispose(&path);
		syn_buf_dispose(&msg);
	}
	json_array_foreach(c.targets, i, v) {
		const char *ui = json_string_value(v);
		json_t *stack;

		if (rc)
			break;
		stack = syn__runtime_stack_of(&c, ui);
		rc = stack ? syn__runtime_activate(st, &kc, ui, work.ptr, shadowed, missing, notes)
			   : syn_error_set(SYN_ENOMEM, "out of memory");
		if (!rc && strcmp(syn__runtime_top(stack), work.ptr)) {
			if (json_array_append_new(stack, json_string(work.ptr)))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
			c.runtime_changed = true;
		}
	}
	if (!rc)
		rc = syn__runtime_save(st, &c);
	if (locked)
		syn_store_unlock(st);
	locked = false;
	/* the views know what is missing: only then is there anything to download */
	if (!rc && sync && json_array_size(missing))
		rc = sync_missing(st, missing, notes, progress, payload);
	if (!rc && !(*report = json_pack("{s:s, s:s, s:s, s:O, s:b, s:b, s:O, s:O, s:O}", "pack", pack, "created_profile",
			work.ptr, "activated_profile", work.ptr, "ui_targets", c.targets, "synced", sync,
			"profile_created", created, "shadowed", shadowed, "missing_blobs", missing, "notes", notes)))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
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
		if (!stack || json_object_set_new(from, ui, json_string(syn__runtime_top(stack)))) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			break;
		}
		if (edit(stack))
			c.runtime_changed = *moved = true;
		if (!syn__runtime_top(stack) || json_object_set_new(to, ui, json_string(syn__runtime_top(stack)))) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			break;
		}
		rc = syn__runtime_activate(st, &kc, ui, syn__runtime_top(stack), NULL, NULL, NULL);
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
	rc = from && to ? move_stacks(st, ui_set, "back", pop_one, from, to, &targets, &popped)
			: syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc) {
		first = json_string_value(json_array_get(targets, 0));
		*report = json_pack("{s:O, s:s?, s:s?, s:O, s:O, s:[s*]}", "ui_targets", targets,
			"from_profile", first ? json_string_value(json_object_get(from, first)) : NULL,
			"to_profile", first ? json_string_value(json_object_get(to, first)) : NULL,
			"from_profiles", from, "to_profiles", to, "notes", popped ? NULL : "already_at_base");
		if (!*report)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
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
	rc = from && to ? move_stacks(st, ui_set, "reset", to_global, from, to, &targets, &moved)
			: syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc && !(*report = json_pack("{s:O, s:O, s:s, s:[s*]}", "ui_targets", targets, "from_profiles", from,
					 "to_profile", SYN_PROFILE_GLOBAL, "notes", moved ? NULL : "already_at_global")))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
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
	rc = profiles ? syn_store_config(st, &config) : syn_error_set(SYN_ENOMEM, "out of memory");
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

		if (!rc && syn_name_is_pack(name) && syn__docs_profile_load(st, name, &doc) == SYN_ENOMEM)
			rc = SYN_ENOMEM;
		else if (!rc && doc) {
			json_object_foreach(json_object_get(runtime, "ui"), ui, e) {
				json_t *stack = syn__runtime_stack(runtime, ui);

				if (!stack || (!strcmp(syn__runtime_top(stack), name) &&
					       json_array_append_new(active_in, json_string(ui))))
					rc = SYN_ENOMEM;
				json_decref(stack);
			}
			if (json_array_append_new(profiles, json_pack("{s:s, s:s, s:i, s:O}", "name", name, "type",
				!strcmp(name, SYN_PROFILE_GLOBAL) ? "base" :
				!strncmp(name, SYN_WORK_PREFIX, strlen(SYN_WORK_PREFIX)) ? "work" : "custom",
				"packs_count", (json_int_t)json_array_size(json_object_get(doc, "packs")),
				"active_in", active_in)))
				rc = SYN_ENOMEM;
		}
		syn_error_clear();
		json_decref(doc);
		json_decref(active_in);
		free(ents[i]);
	}
	free(ents);
	if (!rc)
		*out = json_pack("{s:O}", "profiles", profiles);
	if (!*out)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
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
