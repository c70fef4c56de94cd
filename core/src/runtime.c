/*
 * runtime: the stack of profiles each UI shows (runtime.json), and keeping
 * what the UIs look at (their `active` links and the views behind them) in
 * agreement with the stacks and with the packs.
 */
#include <string.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/names.h"
#include "synapse/profile.h"
#include "synapse/store.h"

#include "digest.h"
#include "docs.h"
#include "runtime.h"
#include "store.h"
#include "view.h"

json_t *syn__runtime_stack(const json_t *runtime, const char *ui)
{
	json_t *stack = json_object_get(json_object_get(json_object_get(runtime, "ui"), ui), "stack");
	json_t *copy = json_array();
	size_t i;

	for (i = 0; copy && i < json_array_size(stack); i++)
		if (json_is_string(json_array_get(stack, i)) && json_array_append(copy, json_array_get(stack, i)))
			goto out_nomem;
	if (json_array_size(copy) == 0 && json_array_append_new(copy, json_string(SYN_PROFILE_GLOBAL)))
		goto out_nomem;
	return copy;
out_nomem:
	json_decref(copy);
	return NULL;
}

void syn__runtime_ctx_free(struct syn__runtime_ctx *c)
{
	json_decref(c->config);
	json_decref(c->runtime);
	json_decref(c->targets);
}

int syn__runtime_ctx_load(struct syn_store *st, const char *ui_set, struct syn__runtime_ctx *c)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = syn_store_config(st, &c->config);
	if (!rc)
		rc = ui_set && !strcmp(ui_set, "*") ? 0 : syn_store_ui_targets(st, ui_set, &c->targets);
	if (!rc && !c->targets) {
		json_t *known = json_object_get(json_object_get(c->config, "ui"), "known");

		if (known && !(c->targets = json_deep_copy(known)))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (!rc)
		rc = syn__docs_runtime_read(st, c->config, &c->runtime);
	return rc;
}

json_t *syn__runtime_stack_of(struct syn__runtime_ctx *c, const char *ui)
{
	json_t *uis = json_object_get(c->runtime, "ui"), *entry, *stack;

	if (!json_is_object(uis)) {
		uis = json_object();
		if (json_object_set_new(c->runtime, "ui", uis))
			return NULL;
	}
	entry = json_object_get(uis, ui);
	if (!json_is_object(entry)) {
		entry = json_object();
		if (json_object_set_new(uis, ui, entry))
			return NULL;
	}
	stack = json_object_get(entry, "stack");
	if (!json_is_array(stack)) {
		stack = json_array();
		if (json_object_set_new(entry, "stack", stack))
			return NULL;
	}
	if (json_array_size(stack) == 0) {
		if (json_array_append_new(stack, json_string(SYN_PROFILE_GLOBAL)))
			return NULL;
		c->runtime_changed = true;
	}
	return stack;
}

const char *syn__runtime_top(const json_t *stack)
{
	return json_string_value(json_array_get(stack, json_array_size(stack) - 1));
}

int syn__runtime_save(struct syn_store *st, struct syn__runtime_ctx *c)
{
	return c->runtime_changed ? syn__docs_runtime_write(st, c->runtime) : 0;
}

/*
 * Add the blobs @found missing from @ui's view to @missing, each blob once
 * with the UIs whose views lack it.
 */
static int merge_missing(json_t *missing, const json_t *found, const char *ui)
{
	json_t *e, *m;
	size_t i, k;

	json_array_foreach(found, i, e) {
		json_t *uis = NULL;

		json_array_foreach(missing, k, m)
			if (!strcmp(syn_doc_str(m, "sha256", ""), syn_doc_str(e, "sha256", "")) &&
			    !strcmp(syn_doc_str(m, "pack", ""), syn_doc_str(e, "pack", "")) &&
			    !strcmp(syn_doc_str(m, "dependency_id", ""), syn_doc_str(e, "dependency_id", "")))
				uis = json_object_get(m, "uis");
		if (!uis) {
			json_t *entry = json_deep_copy(e);

			uis = json_array();
			if (!entry || json_object_set_new(entry, "uis", uis)) {
				json_decref(entry);
				return syn_error_set(SYN_ENOMEM, "out of memory");
			}
			if (json_array_append_new(missing, entry)) /* takes @entry, and @uis with it, either way */
				return syn_error_set(SYN_ENOMEM, "out of memory");
		}
		if (json_array_append_new(uis, json_string(ui)))
			return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	return 0;
}

/* Append the strings of @found to @notes, each message once. */
static int note_once(json_t *notes, const json_t *found)
{
	json_t *e, *n;
	size_t i, k;

	json_array_foreach(found, i, e) {
		bool seen = false;

		json_array_foreach(notes, k, n)
			seen = seen || json_equal(n, e);
		if (!seen && json_array_append(notes, e))
			return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	return 0;
}

int syn__runtime_activate(struct syn_store *st, struct syn__view_key_cache *kc, const char *ui, const char *profile,
			  json_t *shadowed, json_t *missing, json_t *notes)
{
	struct syn_buf active = SYN_BUF_INIT;
	json_t *report = NULL;
	int rc;

	rc = syn__view_build_cached(st, ui, profile, false, kc, &report);
	if (!rc && shadowed && json_object_get(report, "shadowed") &&
	    json_array_extend(shadowed, json_object_get(report, "shadowed")))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc && missing)
		rc = merge_missing(missing, json_object_get(report, "missing_blobs"), ui);
	if (!rc && notes)
		rc = note_once(notes, json_object_get(report, "errors"));
	if (!rc && (syn__view_read_active(st, ui, &active) || strcmp(active.ptr, profile)))
		rc = syn__view_set_active(st, ui, profile);
	if (!rc)
		syn_error_clear();
	json_decref(report);
	syn_buf_dispose(&active);
	return rc;
}

int syn__runtime_drop(struct syn_store *st, const char *profile, bool force, bool *removed, json_t *warnings)
{
	struct syn__view_key_cache kc = { "", "" };
	struct syn__runtime_ctx c = { 0 };
	const char *ui;
	json_t *entry;
	int rc;

	*removed = false;
	rc = syn__runtime_ctx_load(st, "*", &c);
	json_object_foreach(json_object_get(c.runtime, "ui"), ui, entry) {
		json_t *stack = syn__runtime_stack_of(&c, ui);

		if (!rc && !stack)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		if (rc)
			break;
		if (!force && !strcmp(syn__runtime_top(stack), profile))
			rc = syn_error_set(SYN_EGUARD, "'%s' is the active profile of %s; run 'synapse back' first, "
					   "or delete with --force", profile, ui);
	}
	json_object_foreach(json_object_get(c.runtime, "ui"), ui, entry) {
		json_t *stack = syn__runtime_stack_of(&c, ui);
		struct syn_buf active = SYN_BUF_INIT;
		size_t i;

		if (!rc && !stack)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		if (rc)
			break;
		for (i = json_array_size(stack); i-- > 0;) {
			const char *p = json_string_value(json_array_get(stack, i));

			if (p && !strcmp(p, profile)) {
				json_array_remove(stack, i);
				c.runtime_changed = *removed = true;
			}
		}
		stack = syn__runtime_stack_of(&c, ui); /* an emptied stack becomes [global] */
		if (!stack) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			break;
		}
		/* a UI that was showing it goes to its new top, view built if need be */
		if (!syn_name_check_ident("UI name", ui) && !syn__view_read_active(st, ui, &active) &&
		    !strcmp(active.ptr, profile) &&
		    syn__runtime_activate(st, &kc, ui, syn__runtime_top(stack), NULL, NULL, NULL) &&
		    json_array_append_new(warnings, json_sprintf("%s: %s", ui, syn_error_last())))
			rc = SYN_ENOMEM;
		if (rc)
			syn_error_set(SYN_ENOMEM, "out of memory");
		else
			syn_error_clear();
		syn_buf_dispose(&active);
	}
	if (!rc)
		rc = syn__runtime_save(st, &c);
	syn__runtime_ctx_free(&c);
	return rc;
}

int syn__views_refresh(struct syn_store *st, bool force, const char *const *changed, size_t nchanged,
		       json_t *notes)
{
	struct syn__runtime_ctx c;
	json_t *report = NULL;
	bool held = false;
	size_t i;
	int rc;

	rc = syn__runtime_ctx_load(st, "*", &c);
	/* the UIs' views read the same packs, which nothing changes meanwhile */
	if (!rc && force)
		syn__store_hold(st);
	else if (!rc)
		rc = syn__store_hold_trusting(st, changed, nchanged);
	held = !rc;
	for (i = 0; !rc && i < json_array_size(c.targets); i++) {
		const char *ui = json_string_value(json_array_get(c.targets, i));
		json_t *stack = syn__runtime_stack(c.runtime, ui ? ui : "");
		const char *top = json_string_value(json_array_get(stack, json_array_size(stack) - 1));
		struct syn_buf active = SYN_BUF_INIT;

		if (!stack) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			break;
		}
		/* only views a UI is looking at now; others are rebuilt when used */
		if (ui && !syn__view_read_active(st, ui, &active) && !strcmp(active.ptr, top)) {
			if (syn_view_build(st, ui, top, force, &report) && notes &&
			    json_array_append_new(notes, json_sprintf("%s: %s", ui, syn_error_last())))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
			json_decref(report);
			report = NULL;
		}
		if (!rc)
			syn_error_clear();
		syn_buf_dispose(&active);
		json_decref(stack);
	}
	if (held)
		syn__store_release(st);
	syn__runtime_ctx_free(&c);
	return rc;
}
