/*
 * synapse/store.h - the store: its root, layout, lock, documents and the
 * store-level operations frontends call (init, config, status).
 *
 * Operations return JSON reports (new references): the CLI renders them as
 * text or prints them with --json; the HTTP server sends them as they are.
 *
 * Threads: a registry is read-only once its plugins are loaded, and one may
 * be shared by any number of threads and stores. A struct syn_store is not
 * shared: open one per thread (a server opens one per request thread), all
 * on the same root if need be. Each handle takes the store lock through its
 * own descriptor, so handles exclude each other like processes do. Error
 * state (syn_error_last()) is per thread. Every allocation failure is
 * reported as SYN_ENOMEM.
 */
#ifndef SYNAPSE_STORE_H
#define SYNAPSE_STORE_H

#include <jansson.h>

#include "common.h"
#include "doc.h"
#include "registry.h"

SYN_BEGIN_DECLS

/** An open store. Opaque. */
struct syn_store;

/** Schema strings of the store's documents. */
#define SYN_SCHEMA_CONFIG "synapse.config.v2"
#define SYN_SCHEMA_UI_SETS "synapse.ui_sets.v1"
#define SYN_SCHEMA_PROFILE "synapse.profile.v1"
#define SYN_SCHEMA_RUNTIME "synapse.runtime.v1"

/** The profile every UI falls back to. */
#define SYN_PROFILE_GLOBAL "global"

/**
 * Open the store at @root (NULL: $SYNAPSE_ROOT, else ~/.synapse/store),
 * made absolute; SYNAPSE_STATE_ROOT / SYNAPSE_DATA_ROOT override the two
 * halves. The store need not exist or be initialized yet. @reg is borrowed
 * and must outlive the store.
 */
SYN_EXTERN int syn_store_open(struct syn_store **out, struct syn_registry *reg, const char *root);

/** Close the store, releasing its lock if held. NULL-safe. */
SYN_EXTERN void syn_store_free(struct syn_store *st);

/** The store root, state/ and data/ directories (absolute; borrowed). */
SYN_EXTERN const char *syn_store_root(const struct syn_store *st);
SYN_EXTERN const char *syn_store_state_root(const struct syn_store *st);
SYN_EXTERN const char *syn_store_data_root(const struct syn_store *st);

/** The registry the store was opened with (borrowed). */
SYN_EXTERN struct syn_registry *syn_store_registry(const struct syn_store *st);

/** Whether state/config.json exists. */
SYN_EXTERN bool syn_store_is_initialized(const struct syn_store *st);

/**
 * 0 when initialized, else SYN_ENOTINIT with
 * "store not initialized at <root>; run 'synapse store init'".
 */
SYN_EXTERN int syn_store_require_init(const struct syn_store *st);

/**
 * Directory fds of state/ and data/, opened on first use (O_DIRECTORY).
 * Return the fd (>= 0) or a negative SYN_E* code. Owned by the store.
 */
SYN_EXTERN int syn_store_state_fd(struct syn_store *st);
SYN_EXTERN int syn_store_data_fd(struct syn_store *st);

/**
 * Take the store-wide lock (data/.synapse.lock) for @command, waiting
 * SYNAPSE_LOCK_TIMEOUT seconds (default 30). Nested calls only count.
 * Under the lock stale git lock files in state/.git are removed.
 */
SYN_EXTERN int syn_store_lock(struct syn_store *st, const char *command);

/** Release one level of the store lock. */
SYN_EXTERN void syn_store_unlock(struct syn_store *st);

/**
 * Initialize the store: the directory layout, default documents
 * (config.json with every registered UI's folder table, ui_sets.json,
 * profiles/global/profile.json, data/runtime.json), the state/ git
 * repository and the empty `global` view with `active` for each UI.
 * Existing documents are kept. With @force, documents that are missing or
 * cannot be parsed are moved aside to `<name>.corrupt-<timestamp>` and
 * rewritten; packs, parseable profiles and blobs are never touched.
 * @report: {"initialized": true, "root", "created": bool, "repaired": [..]}.
 */
SYN_EXTERN int syn_store_init(struct syn_store *st, bool force, json_t **report);

/** The parsed config.json (a new reference). */
SYN_EXTERN int syn_store_config(struct syn_store *st, json_t **out);

/**
 * The report of `synapse status`: {profile (the first UI's top), ui_targets,
 * active: {ui: profile | null}, stacks: {ui: [..]}, in_sync: {ui: bool},
 * missing_blobs: [{pack, dependency_id, kind, sha256}], unresolved and
 * unresolved_optional: [{pack, dependency_id, reason, details}], shadowed,
 * notes: [why a view is not in sync, or a document cannot be read]}.
 * @ui_set NULL = the default set. Takes no lock and changes no document
 * (what it learns of the packs goes to their digest cache).
 */
SYN_EXTERN int syn_store_status(struct syn_store *st, const char *ui_set, json_t **out);

/**
 * The same report written through @out (synapse/doc.h) as it is made:
 * everything is gathered first, so a failure writes nothing (unless
 * writing fails).
 */
SYN_EXTERN int syn_store_status_emit(struct syn_store *st, const char *ui_set, struct syn_emit *out);

/**
 * The UIs of set @ui_set (NULL = config defaults.ui_set) as a new JSON
 * array. An unknown set is SYN_ENOTFOUND listing the known sets.
 */
SYN_EXTERN int syn_store_ui_targets(struct syn_store *st, const char *ui_set, json_t **out);

/**
 * The effective kind -> folder map of UI @ui: the UI plugin's table with
 * config.json ui.kind_map.<ui> entries overriding it kind by kind.
 */
SYN_EXTERN int syn_store_kind_map(struct syn_store *st, const char *ui, json_t **out);

/**
 * The primary blob backend of this store (`local`): backend 0 of the chain
 * (see syn_store_backend_at()), building the chain on first use.
 * Borrowed; SYN_ENOTFOUND when no plugin provides it.
 */
SYN_EXTERN int syn_store_backend(struct syn_store *st, struct syn_backend **out);

/**
 * The number of backends in this store's blob chain in *@out: the primary
 * (`local`), then, when config.json `backup.enabled` is true, the backup
 * named by `backup.backend` (default `backup_path`, its root `backup.path`,
 * its settings `backup.<name>`). The chain is built from config once per
 * handle, on first use; after that it is only read, so the threads of one
 * command may share it. A backup that no plugin provides or that fails to
 * start is no error here: it is reported when it is asked for.
 */
SYN_EXTERN int syn_store_backend_count(struct syn_store *st, size_t *out);

/**
 * Backend @index of the chain (0 is the primary) in *@out, borrowed, and
 * its SYN_BACKEND_CAP_* bits in *@caps (may be NULL). A configured backend
 * that is not loaded or did not start gives an error naming it and what to
 * do; SYN_EINVALID past the end of the chain.
 */
SYN_EXTERN int syn_store_backend_at(struct syn_store *st, size_t index, struct syn_backend **out, unsigned int *caps);

SYN_END_DECLS

#endif
