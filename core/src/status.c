/*
 * status: what a store shows its UIs now, and what keeps their views from
 * being complete (missing blobs, unresolved dependencies, stale views).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/names.h"
#include "synapse/blob.h"
#include "synapse/profile.h"
#include "synapse/store.h"

#include "docs.h"
#include "runtime.h"
#include "view.h"

/* Add missing blobs and unresolved entries of @pack (per its lock.json). */
/*
 * Add what pack @pack lacks to the status lists: blobs not in the store,
 * required dependencies without a lock entry (@unresolved) and optional ones,
 * such as a base-model hint no source can name (@optional: not an error).
 */
static void status_pack(struct syn_store *st, const char *pack, json_t *missing, json_t *unresolved, json_t *optional,
			json_t *notes)
{
	json_t *lock = NULL, *packdoc = NULL, *deps, *entry;
	int fd = syn_store_state_fd(st), rc;
	size_t i, j;

	if (fd < 0 || syn_name_check_pack(pack)) {
		json_array_append_new(notes, json_string(syn_error_last()));
		return;
	}
	rc = syn__docs_pack_read(st, pack, "lock.json", &lock);
	if (rc && rc != SYN_ENOTFOUND)
		json_array_append_new(notes, json_string(syn_error_last()));
	if (syn__docs_pack_read(st, pack, "pack.json", &packdoc) == SYN_ECORRUPT)
		json_array_append_new(notes, json_string(syn_error_last()));
	deps = json_object_get(packdoc, "dependencies");
	json_array_foreach(json_object_get(lock, "resolved"), i, entry) {
		const char *dep = syn_doc_str(entry, "dependency_id", "");
		const char *sha = syn_doc_str(json_object_get(entry, "artifact"), "sha256", "");
		const char *kind = "unknown";
		json_t *d;

		if (!*sha || syn_blob_exists(st, sha))
			continue;
		json_array_foreach(deps, j, d)
			if (!strcmp(syn_doc_str(d, "id", ""), dep))
				kind = syn_doc_str(d, "kind", "unknown");
		json_array_append_new(missing, json_pack("{s:s, s:s, s:s, s:s}", "pack", pack, "dependency_id", dep,
							 "kind", kind, "sha256", sha));
	}
	json_array_foreach(json_object_get(lock, "unresolved"), i, entry) {
		json_t *details = json_object_get(entry, "details"), *d, *list = unresolved;

		json_array_foreach(deps, j, d)
			if (!strcmp(syn_doc_str(d, "id", ""), syn_doc_str(entry, "dependency_id", "")) &&
			    json_is_false(json_object_get(d, "required")))
				list = optional;
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o}", "pack", pack,
			"dependency_id", syn_doc_str(entry, "dependency_id", ""), "reason",
			syn_doc_str(entry, "reason", ""), "details", details ? json_incref(details) : json_object()));
	}
	syn_error_clear();
	json_decref(lock);
	json_decref(packdoc);
}

/*
 * Append to @shadowed (may be NULL) what @ui's view of @profile shadows, and
 * to @notes, each message once, every file it leaves out for a bad name or
 * an unreadable document.
 */
static void plan_notes(struct syn_store *st, const char *ui, const char *profile, json_t *shadowed, json_t *notes)
{
	json_t *plan = NULL, *e, *n;
	size_t i, k;

	if (syn_view_plan(st, ui, profile, &plan)) {
		syn_error_clear();
		return;
	}
	if (shadowed)
		json_array_extend(shadowed, json_object_get(plan, "shadowed"));
	json_array_foreach(json_object_get(plan, "errors"), i, e) {
		bool seen = false;

		json_array_foreach(notes, k, n)
			seen = seen || json_equal(n, e);
		if (!seen)
			json_array_append(notes, e);
	}
	json_decref(plan);
}

int syn_store_status(struct syn_store *st, const char *ui_set, json_t **out)
{
	json_t *config = NULL, *runtime = NULL, *targets = NULL, *profile_doc = NULL;
	json_t *active = json_object(), *stacks = json_object(), *in_sync = json_object();
	json_t *missing = json_array(), *unresolved = json_array(), *notes = json_array(), *shadowed = json_array();
	json_t *optional = json_array();
	const char *profile = SYN_PROFILE_GLOBAL;
	json_t *first_stack = NULL, *v;
	size_t i;
	int rc;

	*out = NULL;
	rc = syn_store_config(st, &config);
	if (!rc)
		rc = syn_store_ui_targets(st, ui_set, &targets);
	if (!rc)
		rc = syn__docs_runtime_read(st, config, &runtime);
	if (rc)
		goto out;
	json_array_foreach(targets, i, v) {
		const char *ui = json_string_value(v);
		json_t *stack = syn__runtime_stack(runtime, ui);
		const char *top = json_string_value(json_array_get(stack, json_array_size(stack) - 1));
		struct syn_buf link = SYN_BUF_INIT;
		bool ok = false;
		size_t gone;

		if (syn__view_read_active(st, ui, &link)) {
			json_object_set_new(active, ui, json_null());
			json_array_append_new(notes, json_sprintf("%s: %s", ui, syn_error_last()));
		} else {
			json_object_set_new(active, ui, json_string(link.ptr));
			ok = !strcmp(link.ptr, top);
			if (!ok)
				json_array_append_new(notes, json_sprintf("%s: active view is '%s' but the top of its "
					"stack is '%s'; run 'synapse doctor --rebuild-views'", ui, link.ptr, top));
			else if (!syn__view_exists(st, ui, top)) {
				ok = false;
				json_array_append_new(notes, json_sprintf("%s: the view of '%s' is missing; run "
					"'synapse doctor --rebuild-views'", ui, top));
			} else if ((gone = syn__view_links_gone(st, ui, top))) {
				ok = false;
				json_array_append_new(notes, json_sprintf("%s: the view of '%s' links %zu blob(s) no longer "
					"in the store; run 'synapse install <pack>' for the packs under missing blobs, or "
					"'synapse use <pack> --sync'", ui, top, gone));
			} else if (!syn__view_is_current(st, ui, top)) {
				ok = false;
				json_array_append_new(notes, json_sprintf("%s: the view of '%s' is out of date; run "
					"'synapse doctor --rebuild-views'", ui, top));
			}
			plan_notes(st, ui, top, ok ? shadowed : NULL, notes);
		}
		json_object_set_new(in_sync, ui, json_boolean(ok));
		json_object_set(stacks, ui, stack);
		if (!first_stack)
			first_stack = json_incref(stack);
		json_decref(stack);
		syn_buf_dispose(&link);
	}
	if (first_stack)
		profile = json_string_value(json_array_get(first_stack, json_array_size(first_stack) - 1));
	if (syn__docs_profile_read(st, profile, &profile_doc))
		json_array_append_new(notes, json_string(syn_error_last()));
	json_array_foreach(json_object_get(profile_doc, "packs"), i, v)
		status_pack(st, syn_doc_str(v, "name", ""), missing, unresolved, optional, notes);
	*out = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "profile", profile, "ui_targets", targets,
			 "active", active, "stacks", stacks, "in_sync", in_sync, "missing_blobs", missing,
			 "unresolved", unresolved, "unresolved_optional", optional, "shadowed", shadowed, "notes", notes);
	syn_error_clear();
	if (!*out)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
out:
	json_decref(first_stack);
	json_decref(profile_doc);
	json_decref(config);
	json_decref(runtime);
	json_decref(targets);
	json_decref(active);
	json_decref(stacks);
	json_decref(in_sync);
	json_decref(missing);
	json_decref(unresolved);
	json_decref(optional);
	json_decref(notes);
	json_decref(shadowed);
	return rc;
}
