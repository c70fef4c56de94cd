/*
 * status: what a store shows its UIs now, and what keeps their views from
 * being complete (missing blobs, unresolved dependencies, stale views).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/names.h"
#include "synapse/blob.h"
#include "synapse/profile.h"
#include "synapse/store.h"

#include "digest.h"
#include "docs.h"
#include "runtime.h"
#include "store.h"
#include "view.h"

/* The details of the last unresolved dependency status_pack() listed: most packs repeat them (a base-model hint). */
struct details_memo {
	char *text;
	json_t *value;
};

/* The details @text of an unresolved dependency as JSON (a new reference): parsed once while they repeat. */
static json_t *details_of(struct details_memo *m, const char *text)
{
	json_t *v;

	if (m->text && !strcmp(m->text, text))
		return json_incref(m->value);
	v = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!v)
		v = json_object();
	free(m->text);
	json_decref(m->value);
	m->text = strdup(text);
	m->value = m->text ? json_incref(v) : NULL;
	return v;
}

/*
 * Add what pack @pack lacks to the status lists: blobs not in the store,
 * required dependencies without a lock entry (@unresolved) and optional ones,
 * such as a base-model hint no source can name (@optional: not an error).
 */
static int status_pack(struct syn_store *st, const char *pack, struct details_memo *memo, json_t *missing,
		       json_t *unresolved, json_t *optional, json_t *notes)
{
	const struct syn__pack_digest *d = NULL;
	bool oom = false;
	size_t i;
	int rc = syn__digest_get(st, pack, &d);

	if (rc == SYN_ENOMEM)
		return rc;
	if (rc)
		return json_array_append_new(notes, json_string(syn_error_last())) ?
			syn_error_set(SYN_ENOMEM, "out of memory") : (syn_error_clear(), 0);
	if (d->lock_error)
		oom |= json_array_append_new(notes, json_string(d->lock_error)) != 0;
	if (d->pack_error && d->pack_rc == SYN_ECORRUPT)
		oom |= json_array_append_new(notes, json_string(d->pack_error)) != 0;
	for (i = 0; i < d->nentries; i++) {
		const struct syn__digest_entry *e = &d->entries[i];

		if (!syn_blob_exists(st, e->sha256))
			oom |= json_array_append_new(missing, json_pack("{s:s, s:s, s:s, s:s}", "pack", pack,
				"dependency_id", e->dep_id, "kind", e->kind, "sha256", e->sha256)) != 0;
	}
	for (i = 0; i < d->nunresolved; i++) {
		const struct syn__digest_unresolved *u = &d->unresolved[i];

		oom |= json_array_append_new(u->optional ? optional : unresolved, json_pack("{s:s, s:s, s:s, s:o}",
			"pack", pack, "dependency_id", u->dep_id, "reason", u->reason, "details",
			details_of(memo, u->details))) != 0;
	}
	syn_error_clear();
	return oom ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
}

/*
 * Append to @shadowed (may be NULL) what @plan_notes (syn__view_check())
 * says is shadowed, and to @notes, each message once, every file it leaves
 * out for a bad name or an unreadable document.
 */
static bool add_plan_notes(const json_t *plan_notes, json_t *shadowed, json_t *notes)
{
	json_t *e, *n;
	bool oom = false;
	size_t i, k;

	if (shadowed && json_object_get(plan_notes, "shadowed"))
		oom |= json_array_extend(shadowed, json_object_get(plan_notes, "shadowed")) != 0;
	json_array_foreach(json_object_get(plan_notes, "errors"), i, e) {
		bool seen = false;

		json_array_foreach(notes, k, n)
			seen = seen || json_equal(n, e);
		if (!seen)
			oom |= json_array_append(notes, e) != 0;
	}
	return oom;
}

int syn_store_status(struct syn_store *st, const char *ui_set, json_t **out)
{
	json_t *config = NULL, *runtime = NULL, *targets = NULL;
	const json_t *profile_doc = NULL;
	json_t *active = json_object(), *stacks = json_object(), *in_sync = json_object();
	json_t *missing = json_array(), *unresolved = json_array(), *notes = json_array(), *shadowed = json_array();
	json_t *optional = json_array();
	const char *profile = SYN_PROFILE_GLOBAL;
	struct details_memo memo = { NULL, NULL };
	json_t *first_stack = NULL, *v;
	bool oom = !active || !stacks || !in_sync || !missing || !unresolved || !notes || !shadowed || !optional;
	size_t i;
	int rc;

	*out = NULL;
	rc = oom ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
	syn__store_hold(st);
	if (!rc)
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
		json_t *plan_notes = NULL;
		bool ok = false, current = false;
		size_t gone;

		if (!stack) {
			oom = true;
			break;
		}
		if (syn__view_read_active(st, ui, &link)) {
			oom |= syn_error_code() == SYN_ENOMEM;
			oom |= json_object_set_new(active, ui, json_null()) != 0;
			oom |= json_array_append_new(notes, json_sprintf("%s: %s", ui, syn_error_last())) != 0;
		} else {
			oom |= json_object_set_new(active, ui, json_string(link.ptr)) != 0;
			ok = !strcmp(link.ptr, top);
			if (!ok)
				oom |= json_array_append_new(notes, json_sprintf("%s: active view is '%s' but the top of its "
					"stack is '%s'; run 'synapse doctor --rebuild-views'", ui, link.ptr, top)) != 0;
			else if (!syn__view_exists(st, ui, top)) {
				ok = false;
				oom |= json_array_append_new(notes, json_sprintf("%s: the view of '%s' is missing; run "
					"'synapse doctor --rebuild-views'", ui, top)) != 0;
			}
			if (syn__view_check(st, ui, top, &current, &gone, &plan_notes) == SYN_ENOMEM) {
				oom = true;
			} else if (ok && gone) {
				ok = false;
				oom |= json_array_append_new(notes, json_sprintf("%s: the view of '%s' links %zu blob(s) no "
					"longer in the store; run 'synapse install <pack>' for the packs under missing blobs, "
					"or 'synapse use <pack> --sync'", ui, top, gone)) != 0;
			} else if (ok && !current) {
				ok = false;
				oom |= json_array_append_new(notes, json_sprintf("%s: the view of '%s' is out of date; run "
					"'synapse doctor --rebuild-views'", ui, top)) != 0;
			}
			oom |= add_plan_notes(plan_notes, ok ? shadowed : NULL, notes);
			json_decref(plan_notes);
		}
		oom |= json_object_set_new(in_sync, ui, json_boolean(ok)) != 0;
		oom |= json_object_set(stacks, ui, stack) != 0;
		if (!first_stack)
			first_stack = json_incref(stack);
		json_decref(stack);
		syn_buf_dispose(&link);
	}
	if (oom) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	if (first_stack)
		profile = json_string_value(json_array_get(first_stack, json_array_size(first_stack) - 1));
	rc = syn__docs_profile_peek(st, profile, &profile_doc);
	if (rc == SYN_ENOMEM || (rc && json_array_append_new(notes, json_string(syn_error_last())))) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	syn__digest_prefetch(st, json_object_get(profile_doc, "packs"));
	json_array_foreach(json_object_get(profile_doc, "packs"), i, v)
		if ((rc = status_pack(st, syn_doc_str(v, "name", ""), &memo, missing, unresolved, optional, notes)))
			goto out;
	syn__digest_flush(st);
	*out = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "profile", profile, "ui_targets", targets,
			 "active", active, "stacks", stacks, "in_sync", in_sync, "missing_blobs", missing,
			 "unresolved", unresolved, "unresolved_optional", optional, "shadowed", shadowed, "notes", notes);
	syn_error_clear();
	rc = *out ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
out:
	syn__store_release(st);
	free(memo.text);
	json_decref(memo.value);
	json_decref(first_stack);
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
