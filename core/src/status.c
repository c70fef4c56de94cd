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

/* The details of the last unresolved dependency status_pack() took: most packs repeat them (a base-model hint). */
struct details_memo {
	char *text;
	json_t *value;
};

/* The details @text of an unresolved dependency as JSON (a new reference; NULL without memory): parsed once while they repeat. */
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
	m->text = v ? strdup(text) : NULL;
	m->value = m->text ? json_incref(v) : NULL;
	return v;
}

/* One thing a pack lacks: a blob not in the store (@e) or a dependency without a lock entry (@u, its @details). */
struct lack {
	const char *pack;
	const struct syn__digest_entry *e;
	const struct syn__digest_unresolved *u;
	json_t *details;
};

/* What the packs lack, in profile order: borrowed from their digests, valid while the store is held. */
struct lacks {
	struct lack *v;
	size_t n, cap;
};

/* Add a lack to @l; @details (stolen) for an unresolved dependency. */
static int lacks_add(struct lacks *l, const char *pack, const struct syn__digest_entry *e,
		     const struct syn__digest_unresolved *u, json_t *details)
{
	if (u && !details)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct lack *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			json_decref(details);
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct lack){ pack, e, u, details };
	return 0;
}

static void lacks_dispose(struct lacks *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		json_decref(l->v[i].details);
	free(l->v);
}

/* What status gathers before it writes: the three lists of what the packs lack. */
struct gathered {
	struct lacks missing, unresolved, optional;
	struct details_memo memo;
};

/* The notes of a status, each once, and the set of what they say. */
struct notes {
	json_t *list; /* [message] */
	json_t *seen; /* {message: true} */
};

/* Append note @n (a string, stolen) to @notes unless it is there already; false without memory. */
static bool note_once(struct notes *notes, json_t *n)
{
	const char *text = json_string_value(n);

	if (!text) {
		json_decref(n);
		return false;
	}
	if (json_object_get(notes->seen, text)) {
		json_decref(n);
		return true;
	}
	if (json_object_set_new(notes->seen, text, json_true())) {
		json_decref(n);
		return false;
	}
	return !json_array_append_new(notes->list, n);
}

/*
 * Add what pack @pack lacks to @g: blobs not in the store, required
 * dependencies without a lock entry (unresolved) and optional ones, such
 * as a base-model hint no source can name (not an error); to @notes why
 * its documents cannot be read.
 */
static int status_pack(struct syn_store *st, const char *pack, struct gathered *g, struct notes *notes)
{
	const struct syn__pack_digest *d = NULL;
	size_t i;
	int rc = syn__digest_get(st, pack, &d);

	if (rc == SYN_ENOMEM)
		return rc;
	if (rc)
		return !note_once(notes, json_string(syn_error_last())) ? syn_error_set(SYN_ENOMEM, "out of memory")
									 : (syn_error_clear(), 0);
	if (d->lock_error && !note_once(notes, json_string(d->lock_error)))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (d->pack_error && d->pack_rc == SYN_ECORRUPT && !note_once(notes, json_string(d->pack_error)))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; !rc && i < d->nentries; i++)
		if (!syn_blob_exists(st, d->entries[i].sha256))
			rc = lacks_add(&g->missing, pack, &d->entries[i], NULL, NULL);
	for (i = 0; !rc && i < d->nunresolved; i++)
		rc = lacks_add(d->unresolved[i].optional ? &g->optional : &g->unresolved, pack, NULL, &d->unresolved[i],
			       details_of(&g->memo, d->unresolved[i].details));
	syn_error_clear();
	return rc;
}

/* Write the list @l under @key of the open object (each item's keys in byte order). */
static void emit_lacks(struct syn_emit *out, const char *key, const struct lacks *l)
{
	size_t i;

	syn_emit_key(out, key);
	syn_emit_array(out);
	for (i = 0; i < l->n; i++) {
		const struct lack *k = &l->v[i];

		syn_emit_object(out);
		syn_emit_key(out, "dependency_id");
		syn_emit_string(out, k->e ? k->e->dep_id : k->u->dep_id);
		if (k->e) {
			syn_emit_key(out, "kind");
			syn_emit_string(out, k->e->kind);
		} else {
			syn_emit_key(out, "details");
			syn_emit_value(out, k->details);
		}
		syn_emit_key(out, "pack");
		syn_emit_string(out, k->pack);
		syn_emit_key(out, k->e ? "sha256" : "reason");
		syn_emit_string(out, k->e ? k->e->sha256 : k->u->reason);
		syn_emit_end(out);
	}
	syn_emit_end(out);
}

/*
 * Append to @shadowed (may be NULL) what @plan_notes (syn__view_check())
 * says is shadowed, and to @notes, each message once, every file it leaves
 * out for a bad name or an unreadable document.
 */
static bool add_plan_notes(const json_t *plan_notes, json_t *shadowed, struct notes *notes)
{
	json_t *e;
	bool oom = false;
	size_t i;

	if (shadowed && json_object_get(plan_notes, "shadowed"))
		oom |= json_array_extend(shadowed, json_object_get(plan_notes, "shadowed")) != 0;
	json_array_foreach(json_object_get(plan_notes, "errors"), i, e)
		if (json_is_string(e))
			oom |= !note_once(notes, json_incref(e));
	return oom;
}

/* The source key of the profile the last UI showed: the UIs of a set mostly show the same one. */
struct key_memo {
	char profile[SYN_NAME_MAX + 1];
	char key[SYN_SHA256_HEX_LEN + 1];
	bool known;
};

/* The source key of @profile for syn__view_check(), computed once while the UIs repeat it; NULL when it cannot be. */
static const char *key_of(struct syn_store *st, struct key_memo *m, const char *profile)
{
	if (m->known && !strcmp(m->profile, profile))
		return m->key;
	m->known = strlen(profile) < sizeof(m->profile) && !syn__digest_source_key(st, profile, m->key);
	syn_error_clear();
	if (m->known)
		memcpy(m->profile, profile, strlen(profile) + 1);
	return m->known ? m->key : NULL;
}

int syn_store_status_emit(struct syn_store *st, const char *ui_set, struct syn_emit *out)
{
	json_t *config = NULL, *runtime = NULL, *targets = NULL;
	const struct syn__names *names = NULL;
	json_t *active = json_object(), *stacks = json_object(), *in_sync = json_object();
	struct notes notes = { json_array(), json_object() };
	json_t *shadowed = json_array();
	const char *profile = SYN_PROFILE_GLOBAL;
	struct gathered g = { 0 };
	struct key_memo keys = { .known = false };
	json_t *first_stack = NULL, *v;
	bool oom = !active || !stacks || !in_sync || !notes.list || !notes.seen || !shadowed;
	size_t i;
	int rc;

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
			oom |= !note_once(&notes, json_sprintf("%s: %s", ui, syn_error_last()));
		} else {
			oom |= json_object_set_new(active, ui, json_string(link.ptr)) != 0;
			ok = !strcmp(link.ptr, top);
			if (!ok)
				oom |= !note_once(&notes, json_sprintf("%s: active view is '%s' but the top of its "
					"stack is '%s'; run 'synapse doctor --rebuild-views'", ui, link.ptr, top));
			else if (!syn__view_exists(st, ui, top)) {
				ok = false;
				oom |= !note_once(&notes, json_sprintf("%s: the view of '%s' is missing; run "
					"'synapse doctor --rebuild-views'", ui, top));
			}
			if (syn__view_check(st, ui, top, key_of(st, &keys, top), &current, &gone, &plan_notes) ==
			    SYN_ENOMEM) {
				oom = true;
			} else if (ok && gone) {
				ok = false;
				oom |= !note_once(&notes, json_sprintf("%s: the view of '%s' links %zu blob(s) no "
					"longer in the store; run 'synapse install <pack>' for the packs under missing blobs, "
					"or 'synapse use <pack> --sync'", ui, top, gone));
			} else if (ok && !current) {
				ok = false;
				oom |= !note_once(&notes, json_sprintf("%s: the view of '%s' is out of date; run "
					"'synapse doctor --rebuild-views'", ui, top));
			}
			oom |= add_plan_notes(plan_notes, ok ? shadowed : NULL, &notes);
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
	rc = syn__docs_profile_packs(st, profile, &names);
	if (rc == SYN_ENOMEM || (rc && !note_once(&notes, json_string(syn_error_last())))) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
	if (names)
		syn__digest_prefetch_names(st, names->v, names->n);
	for (i = 0; names && i < names->n; i++)
		if ((rc = status_pack(st, names->v[i], &g, &notes)))
			goto out;
	syn__digest_flush(st);
	syn_error_clear();
	/* everything that can fail but writing is done: the report goes out as it is made */
	syn_emit_object(out);
	syn_emit_key(out, "active");
	syn_emit_value(out, active);
	syn_emit_key(out, "in_sync");
	syn_emit_value(out, in_sync);
	emit_lacks(out, "missing_blobs", &g.missing);
	syn_emit_key(out, "notes");
	syn_emit_value(out, notes.list);
	syn_emit_key(out, "profile");
	syn_emit_string(out, profile);
	syn_emit_key(out, "shadowed");
	syn_emit_value(out, shadowed);
	syn_emit_key(out, "stacks");
	syn_emit_value(out, stacks);
	syn_emit_key(out, "ui_targets");
	syn_emit_value(out, targets);
	emit_lacks(out, "unresolved", &g.unresolved);
	emit_lacks(out, "unresolved_optional", &g.optional);
	rc = syn_emit_end(out);
out:
	syn__store_release(st);
	lacks_dispose(&g.missing);
	lacks_dispose(&g.unresolved);
	lacks_dispose(&g.optional);
	free(g.memo.text);
	json_decref(g.memo.value);
	json_decref(first_stack);
	json_decref(config);
	json_decref(runtime);
	json_decref(targets);
	json_decref(active);
	json_decref(stacks);
	json_decref(in_sync);
	json_decref(notes.list);
	json_decref(notes.seen);
	json_decref(shadowed);
	return rc;
}

/* syn_store_status_emit()'s arguments, for syn_emit_tree(). */
struct status_args {
	struct syn_store *st;
	const char *ui_set;
};

static int emit_status(struct syn_emit *e, void *arg)
{
	const struct status_args *a = arg;

	return syn_store_status_emit(a->st, a->ui_set, e);
}

int syn_store_status(struct syn_store *st, const char *ui_set, json_t **out)
{
	struct status_args a = { st, ui_set };

	return syn_emit_tree(out, emit_status, &a);
}
