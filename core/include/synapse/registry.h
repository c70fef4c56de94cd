/*
 * synapse/registry.h - the plugin registry and loader, as frontends see it.
 */
#ifndef SYNAPSE_REGISTRY_H
#define SYNAPSE_REGISTRY_H

#include <jansson.h>

#include "common.h"
#include "sys/backend.h"
#include "sys/source.h"
#include "sys/ui.h"

SYN_BEGIN_DECLS

/** Create an empty registry. Free with syn_registry_free(). */
SYN_EXTERN int syn_registry_new(struct syn_registry **out);

/** Free the registry. Loaded plugins stay mapped (never dlclose'd). NULL-safe. */
SYN_EXTERN void syn_registry_free(struct syn_registry *reg);

/**
 * Load every plugin from the standard search path: each directory of
 * SYNAPSE_PLUGIN_PATH (colon-separated), then `../lib/synapse/plugins` and
 * `../<libdir>/synapse/plugins` relative to the running executable, then the
 * compiled-in install directory. A directory seen before (same device and
 * inode) is skipped. Plugins that cannot be used are recorded as skipped
 * with a reason (see syn_registry_report()); this never fails for them.
 */
SYN_EXTERN int syn_registry_load_default(struct syn_registry *reg);

/** Load every regular `*.so` in @dir, in sorted order. A missing dir is fine. */
SYN_EXTERN int syn_registry_load_dir(struct syn_registry *reg, const char *dir);

/**
 * Load one plugin file. Returns 0 when loaded; otherwise records it as
 * skipped and returns the reason's code (the message says why).
 */
SYN_EXTERN int syn_registry_load_file(struct syn_registry *reg, const char *path);

/**
 * Register a plugin linked into the program itself (no file). Same checks
 * and rollback as a loaded file; @origin is shown as its file.
 */
SYN_EXTERN int syn_registry_add_builtin(struct syn_registry *reg, const struct syn_plugin_desc *desc, const char *origin);

/** The UI layout named @name, or NULL. Borrowed from the registry. */
SYN_EXTERN const struct syn_ui_layout *syn_registry_ui(const struct syn_registry *reg, const char *name);

/** The number of registered UI layouts, and the @i-th in registration order. */
SYN_EXTERN size_t syn_registry_ui_count(const struct syn_registry *reg);
SYN_EXTERN const struct syn_ui_layout *syn_registry_ui_at(const struct syn_registry *reg, size_t i);

/** The backend class named @name, or NULL. */
SYN_EXTERN const struct syn_backend_class *syn_registry_backend(const struct syn_registry *reg, const char *name);

/** The source class named @name, or NULL. */
SYN_EXTERN const struct syn_source_class *syn_registry_source(const struct syn_registry *reg, const char *name);

/** The number of registered source classes, and the @i-th in registration order. */
SYN_EXTERN size_t syn_registry_source_count(const struct syn_registry *reg);
SYN_EXTERN const struct syn_source_class *syn_registry_source_at(const struct syn_registry *reg, size_t i);

/**
 * The report `synapse plugins` prints: {"plugins": [{name, version, license,
 * description, file, abi, registered: {sources, uis, backends}}],
 * "skipped": [{file, reason}]}. A new reference, NULL when out of memory.
 */
SYN_EXTERN json_t *syn_registry_report(const struct syn_registry *reg);

/** The number of plugins skipped so far (for warnings). */
SYN_EXTERN size_t syn_registry_skipped_count(const struct syn_registry *reg);

/** The @i-th skipped plugin's file and reason (borrowed). */
SYN_EXTERN void syn_registry_skipped_at(const struct syn_registry *reg, size_t i, const char **file, const char **reason);

SYN_END_DECLS

#endif
