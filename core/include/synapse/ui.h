/*
 * synapse/ui.h - the UIs a store serves: which layouts are loaded, which of
 * them the store has enabled, and turning one on or off.
 *
 * A UI is enabled when it is in config.json ui.known: it then has
 * ui.kind_map.<ui> and ui.roots.<ui>, a runtime stack, a view and an
 * `active` link, and it is a member of the set `all` and a set of its own.
 * `store init` enables every loaded layout; these functions enable a layout
 * loaded later (dropped into the plugin path) and disable one.
 */
#ifndef SYNAPSE_UI_H
#define SYNAPSE_UI_H

#include <jansson.h>

#include "common.h"
#include "store.h"

SYN_BEGIN_DECLS

/**
 * The report of `synapse ui list`: {"uis": [{name, display_name, plugin,
 * root, detected, kind_map: {kind: folder}, enabled, attach}]}. Every loaded
 * layout is listed, in loading order; one not in ui.known is available
 * (enabled false); then every enabled UI whose plugin is not loaded (plugin
 * null, kind_map from config.json). `root` is absolute (config.json
 * ui.roots.<ui>, else the layout's default), `detected` whether detect()
 * recognises an install there, `attach` the method attach uses,
 * "extra_model_paths" or "symlink". Works on an uninitialized store too
 * (plugin defaults, nothing enabled). Reads only; takes no lock.
 * @report is a new reference. SYN_ENOMEM; SYN_ECORRUPT for a bad config.json.
 */
SYN_EXTERN int syn_ui_list(struct syn_store *st, json_t **report);

/**
 * Enable the loaded UI layout @name: under the store lock add it to
 * config.json ui.known, fill ui.kind_map.<name> from the layout's table
 * (entries already there are the user's and are kept) and ui.roots.<name>
 * with its default root unless set; set its runtime stack to ["global"],
 * build its view of `global` and point `active` at it; commit "ui enable
 * <name>". On failure the documents are put back.
 * @report: {ui, enabled: true, changed, view: "<data>/views/<ui>/active"};
 * changed is false (and nothing is written) when it was enabled already.
 * SYN_EINVALID for a bad name, SYN_ENOTINIT, SYN_ELOCKED, SYN_ENOTFOUND
 * when no loaded plugin provides @name (the message lists the loaded UIs).
 */
SYN_EXTERN int syn_ui_enable(struct syn_store *st, const char *name, json_t **report);

/**
 * Disable UI @name: under the store lock remove it from config.json
 * ui.known with its ui.kind_map and ui.roots entries, drop its runtime
 * stack, commit "ui disable <name>", then remove data/views/<name> (a
 * failure there becomes a note: the state change stands). A UI that is
 * still attached (any part of what attach made is in its root) is refused
 * with SYN_EGUARD: run detach first. The UI need not have a loaded plugin.
 * @report: {ui, enabled: false, changed, view: null, notes: [..]}; changed
 * is false when it was not enabled. SYN_EINVALID, SYN_ENOTINIT, SYN_ELOCKED.
 */
SYN_EXTERN int syn_ui_disable(struct syn_store *st, const char *name, json_t **report);

SYN_END_DECLS

#endif
