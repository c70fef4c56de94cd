/*
 * view: plans, cached builds of each UI's per-profile trees of links, and the
 * `active` link a UI reads them through. What it shares with the modules
 * above it beyond synapse/profile.h (syn_view_plan(), syn_view_build()).
 */
#ifndef SYNAPSE_SRC_VIEW_H
#define SYNAPSE_SRC_VIEW_H

#include <stdbool.h>

#include <jansson.h>

#include "synapse/buf.h"
#include "synapse/hash.h"
#include "synapse/names.h"
#include "synapse/store.h"

/*
 * The full view key of the last profile a command needed: several UIs
 * showing one profile in one command compute it once.
 */
struct syn__view_key_cache {
	char profile[SYN_NAME_MAX + 1];
	char key[SYN_SHA256_HEX_LEN + 1];
};

/**
 * syn_view_build() sharing @cache (may be NULL) between the UIs of one
 * command: *@report (a new reference) and the errors as syn_view_build()
 * gives them.
 */
int syn__view_build_cached(struct syn_store *st, const char *ui, const char *profile, bool force,
			   struct syn__view_key_cache *cache, json_t **report);

/**
 * Whether views/<ui>/profiles/<profile> exists and was built from the plan
 * the profile has now, in *@current; in *@notes (a new reference, NULL when
 * the profile cannot be planned) {"shadowed": [...], "errors": [...]} of
 * that plan: what it shadows and what it leaves out for a bad name or an
 * unreadable document, from the view's own record when it is current by
 * its key (no document read): @key, the profile's source key
 * (syn__digest_source_key()) when the caller has it in this hold, or NULL
 * to have it computed. In *@gone (may be NULL) how many blobs the
 * view links are no longer in the store (their links dangle): one stat
 * per blob folder while the folders are as the view recorded them. SYN_ENOMEM
 * only; other errors leave *@current false and none set.
 */
int syn__view_check(struct syn_store *st, const char *ui, const char *profile, const char *key, bool *current,
		    size_t *gone, json_t **notes);

/**
 * Point views/<ui>/active at profiles/<profile> atomically (temp link +
 * rename). SYN_EINVALID for a bad name, SYN_EUNSUPPORTED when the filesystem
 * has no symbolic links, SYN_EIO.
 */
int syn__view_set_active(struct syn_store *st, const char *ui, const char *profile);

/**
 * The profile views/<ui>/active points at, in @out; SYN_ENOTFOUND when the
 * link is missing, SYN_ECORRUPT when it is not a link of the expected form.
 */
int syn__view_read_active(struct syn_store *st, const char *ui, struct syn_buf *out);

/**
 * The blobs the active view of @ui links, from the view's manifest (or its
 * plan, for a view that has none): @ui is appended, once, to the array
 * @into holds under each one's SHA-256. A UI with no active link adds
 * nothing. SYN_ECORRUPT for a damaged manifest, SYN_EIO, SYN_ENOMEM.
 */
int syn__view_active_blobs(struct syn_store *st, const char *ui, json_t *into);

/** Whether views/<ui>/profiles/<profile> is a directory (built, current or not). */
bool syn__view_exists(struct syn_store *st, const char *ui, const char *profile);

#endif
