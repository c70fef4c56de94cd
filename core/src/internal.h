/*
 * Functions shared between core modules but not exported from libsynapse.
 */
#ifndef SYNAPSE_INTERNAL_H
#define SYNAPSE_INTERNAL_H

#include <jansson.h>

#include "synapse/names.h"
#include "synapse/store.h"

/** The stack of @ui in @runtime as a new array (["global"] when absent or empty). */
json_t *syn__runtime_stack(const json_t *runtime, const char *ui);

/**
 * Rebuild, under the store lock, the view of every known UI whose active
 * profile's view no longer matches its packs and locks (after import,
 * install, delete); with @force rebuild them all (blobs went away). Problems
 * become strings in @notes (may be NULL).
 */
int syn__views_refresh(struct syn_store *st, bool force, json_t *notes);

/**
 * Whether views/<ui>/profiles/<profile> exists and was built from the plan
 * the profile has now.
 */
bool syn__view_is_current(struct syn_store *st, const char *ui, const char *profile);

/*
 * The full view key of the last profile a command needed: several UIs
 * showing one profile in one command compute it once.
 */
struct syn__view_key_cache {
	char profile[SYN_NAME_MAX + 1];
	char key[SYN_SHA256_HEX_LEN + 1];
};

/** syn_view_build() sharing @cache (may be NULL) between the UIs of one command. */
int syn__view_build_cached(struct syn_store *st, const char *ui, const char *profile, bool force,
			   struct syn__view_key_cache *cache, json_t **report);

/**
 * Remove @profile from every UI's stack (under the store lock); UIs showing
 * it switch to their new top. Without @force a profile that tops a stack is
 * refused (SYN_EGUARD). *@removed tells whether any stack held it; problems
 * switching a UI become strings in @warnings.
 */
int syn__runtime_drop(struct syn_store *st, const char *profile, bool force, bool *removed, json_t *warnings);

/** Point views/<ui>/active at profiles/<profile> atomically (temp link + rename). */
int syn__view_set_active(struct syn_store *st, const char *ui, const char *profile);

/**
 * The profile views/<ui>/active points at, in @out; SYN_ENOTFOUND when the
 * link is missing, SYN_ECORRUPT when it is not a link of the expected form.
 */
int syn__view_read_active(struct syn_store *st, const char *ui, struct syn_buf *out);

/**
 * The attach method @layout declares, as attach reports name it:
 * "extra_model_paths" or "symlink" (also for NULL: a UI without a loaded
 * plugin is attached with links). Borrowed, static.
 */
const char *syn__attach_method(const struct syn_ui_layout *layout);

/**
 * Whether anything attach made for @ui is in its root (the extra-paths
 * section, or any one `synapse` link), in *@present. A missing root holds
 * nothing. SYN_ENOMEM, or the config's errors.
 */
int syn__attach_present(struct syn_store *st, const char *ui, bool *present);

#endif
