/*
 * runtime: each UI's stack of profiles (runtime.json) and what the UIs look
 * at, kept in agreement with the stacks and the packs.
 */
#ifndef SYNAPSE_SRC_RUNTIME_H
#define SYNAPSE_SRC_RUNTIME_H

#include <stdbool.h>

#include <jansson.h>

#include "synapse/store.h"

#include "view.h"

/** Everything a stack operation works on: owned references, freed by syn__runtime_ctx_free(). */
struct syn__runtime_ctx {
	json_t *config;
	json_t *runtime;
	json_t *targets;
	bool runtime_changed; /* runtime needs writing back */
};

/**
 * Fill @c: config.json, runtime.json and the UIs of @ui_set (NULL: the
 * default set; "*": every enabled UI). @c is zeroed first and must be freed
 * with syn__runtime_ctx_free() whatever the result. The errors of
 * syn_store_config(), syn_store_ui_targets() and syn__docs_runtime_read().
 */
int syn__runtime_ctx_load(struct syn_store *st, const char *ui_set, struct syn__runtime_ctx *c);

/** Release what @c holds (not @c itself). */
void syn__runtime_ctx_free(struct syn__runtime_ctx *c);

/**
 * The stack array of @ui inside c->runtime (borrowed), created as
 * ["global"] when absent or empty (which marks the runtime changed);
 * NULL when out of memory.
 */
json_t *syn__runtime_stack_of(struct syn__runtime_ctx *c, const char *ui);

/** The profile on top of @stack (borrowed from it). */
const char *syn__runtime_top(const json_t *stack);

/** Write c->runtime back as runtime.json if it changed; syn__docs_runtime_write()'s errors. */
int syn__runtime_save(struct syn_store *st, struct syn__runtime_ctx *c);

/**
 * The stack of @ui in @runtime (borrowed) as a new array of its string
 * entries: ["global"] when absent or empty; NULL when out of memory.
 */
json_t *syn__runtime_stack(const json_t *runtime, const char *ui);

/**
 * Build (when needed) the view of @profile for @ui and point `active` at
 * it, sharing @kc (may be NULL) between the UIs of one command. The view's
 * shadowed entries are appended to @shadowed and its missing blobs merged
 * into @missing (each blob once, with the UIs that lack it); what the view
 * left out for a bad name or an unreadable document goes to @notes, each
 * message once. All three may be NULL. The errors of the view build and of
 * the link.
 */
int syn__runtime_activate(struct syn_store *st, struct syn__view_key_cache *kc, const char *ui, const char *profile,
			  json_t *shadowed, json_t *missing, json_t *notes);

/**
 * Remove @profile from every UI's stack (under the store lock); UIs showing
 * it switch to their new top. Without @force a profile that tops a stack is
 * refused (SYN_EGUARD). *@removed tells whether any stack held it; problems
 * switching a UI become strings in @warnings.
 */
int syn__runtime_drop(struct syn_store *st, const char *profile, bool force, bool *removed, json_t *warnings);

/**
 * Bring up to date, under the store lock, the view of every known UI whose
 * active profile's view no longer matches its packs and locks, after a
 * command changed the @nchanged packs @changed (import, install, delete,
 * resolve, update) and
 * committed: each view changes by its delta, and what the views recorded
 * about every other pack is trusted (syn__store_hold_trusting()). With
 * @force rebuild them all from scratch, trusting nothing (blobs went away);
 * @changed is then ignored. Problems become strings in @notes (may be
 * NULL). The errors of reading config.json and runtime.json.
 */
int syn__views_refresh(struct syn_store *st, bool force, const char *const *changed, size_t nchanged,
		       json_t *notes);

#endif
