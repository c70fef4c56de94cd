/*
 * synapse/profile.h - views, profiles and the runtime stacks: use / back /
 * reset, and doctor.
 *
 * A view is a tree of relative symlinks per UI and profile
 * (data/views/<ui>/profiles/<profile>/<kind folder>/<file> -> blob); the
 * link data/views/<ui>/active points at one of them. For every UI the top of
 * its stack in data/runtime.json, its `active` link and that view agree;
 * every command here leaves them so, under the store lock.
 */
#ifndef SYNAPSE_PROFILE_H
#define SYNAPSE_PROFILE_H

#include <jansson.h>

#include "common.h"
#include "pack.h"
#include "store.h"

SYN_BEGIN_DECLS

/** Prefix of the work profile of a pack: work__<Pack>. */
#define SYN_WORK_PREFIX "work__"

/**
 * Plan the view of @profile for @ui without touching the disk: packs in
 * profile order, each resolved dependency at <kind folder>/<expose.filename>;
 * on a clash the later pack wins.
 * @plan: {ui, profile, entries: [{dst_relpath, sha256, pack, dependency_id}],
 * shadowed: [{ui, dst_relpath, winner_pack, loser_pack}], missing_blobs:
 * [{pack, dependency_id, kind, sha256}], errors: [..]}. A missing blob is
 * reported and shadows nothing; an unsafe file name is reported in errors and
 * never linked.
 */
SYN_EXTERN int syn_view_plan(struct syn_store *st, const char *ui, const char *profile, json_t **plan);

/**
 * Bring the view of @profile for @ui in line with its plan. A view that
 * exists and whose record is intact is changed link by link (each added or
 * replaced link renamed into place, each removed one unlinked); otherwise,
 * and always with @force, a fresh tree is staged beside the old one and
 * swapped in with renameat2(RENAME_EXCHANGE), so there is no instant
 * without a view. Nothing is done when the view was built from the same
 * documents and blobs: since Synapse's last commit (its generation) or, by
 * file metadata, since then. A document edited by hand without a commit is
 * noticed by status and doctor, which compare the metadata of every
 * document, and a view it left stale is repaired by doctor's rebuild.
 * Call with the store lock held.
 * @report: {ui, profile, rebuilt (a new tree was swapped in), changed (links
 * added, replaced or removed), entries, shadowed, missing_blobs, errors}.
 */
SYN_EXTERN int syn_view_build(struct syn_store *st, const char *ui, const char *profile, bool force,
			      json_t **report);

/**
 * Switch the UIs of @ui_set to the pack's work profile: regenerate
 * work__<Pack> (global with the pack moved last); build its views; flip
 * `active`; push it on each UI's stack unless already on top. With @sync,
 * then download the blobs the views lacked (outside the store lock) and
 * rebuild the views with them.
 * @report: {pack, created_profile, activated_profile, ui_targets, synced,
 * shadowed, missing_blobs, notes}.
 */
SYN_EXTERN int syn_profile_use(struct syn_store *st, const char *pack, const char *ui_set, bool sync,
			       json_t **report);

/**
 * syn_profile_use() reporting the progress of its downloads to @progress
 * (may be NULL) with @payload, as syn_pack_install() does.
 */
SYN_EXTERN int syn_profile_use_progress(struct syn_store *st, const char *pack, const char *ui_set, bool sync,
					syn_install_progress_cb progress, void *payload, json_t **report);

/**
 * Pop each UI's stack (never below global) and flip `active` back, building
 * the view when it is missing. @report: {ui_targets, from_profile,
 * to_profile, from_profiles: {ui: p}, to_profiles: {ui: p}, notes}.
 */
SYN_EXTERN int syn_profile_back(struct syn_store *st, const char *ui_set, json_t **report);

/** Set each UI's stack to [global] and activate it. @report: {ui_targets, from_profiles, to_profile, notes}. */
SYN_EXTERN int syn_profile_reset(struct syn_store *st, const char *ui_set, json_t **report);

/** {profiles: [{name, type: base|work|custom, packs_count, active_in: [ui..]}]}. */
SYN_EXTERN int syn_profile_list(struct syn_store *st, json_t **out);

/** The profile document of @name; SYN_ENOTFOUND when missing. */
SYN_EXTERN int syn_profile_show(struct syn_store *st, const char *name, json_t **out);

/**
 * Check and repair: stale temporary files, unfinished view builds and stale
 * git locks are removed; with @rebuild_views each UI's stack, `active` and
 * view are brought into agreement (stack entries whose profile is gone are
 * dropped, the top's view is rebuilt, `active` re-pointed); with
 * @verify_blobs every blob is re-hashed and a corrupt one moved to
 * data/quarantine/. Then the store's status is taken.
 * @report: {profile, ui_targets, actions, repaired: [..], invalid_blobs,
 * notes, healthy, ...status}: one `repaired` line for each thing fixed
 * (a missing or out-of-date view rebuilt, naming the UI and profile; an
 * `active` re-pointed; a stack entry dropped or its profile regenerated; a
 * blob quarantined; a stale file or lock removed); `notes`, `missing_blobs`
 * and `in_sync` say what is still wrong.
 * Returns 0 only for a healthy store: nothing to repair and nothing wrong
 * after. When something was repaired or is still wrong it returns
 * SYN_ECORRUPT ("the store was not healthy: N problem(s) found, M
 * repaired; see the report") and still sets *@report (the caller's).
 * Other failures (SYN_ENOTINIT, SYN_ELOCKED, SYN_EIO, SYN_ENOMEM, ...)
 * leave *@report NULL.
 */
SYN_EXTERN int syn_doctor(struct syn_store *st, const char *ui_set, bool rebuild_views, bool verify_blobs,
			  json_t **report);

SYN_END_DECLS

#endif
