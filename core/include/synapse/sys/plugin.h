/*
 * synapse/sys/plugin.h - what every Synapse plugin exports.
 *
 * A plugin is a shared object exporting one function,
 *
 *     const struct syn_plugin_desc *synapse_plugin_desc(void);
 *
 * normally written with SYN_PLUGIN_DEFINE(). The loader accepts it when
 * abi_major equals SYN_PLUGIN_ABI_MAJOR and abi_minor is at most the core's
 * SYN_PLUGIN_ABI_MINOR, then calls init(), which registers sources, UI
 * layouts or blob backends (see source.h, ui.h, backend.h). If init() fails,
 * everything it registered is rolled back and the plugin is skipped.
 *
 * Build one out of tree with:
 *     cc -shared -fPIC $(pkg-config --cflags --libs synapse) -o my.so my.c
 */
#ifndef SYNAPSE_SYS_PLUGIN_H
#define SYNAPSE_SYS_PLUGIN_H

#include "../buf.h"
#include "../common.h"
#include "../errors.h"

SYN_BEGIN_DECLS

/** Incremented when a change forces every plugin to be rebuilt. */
#define SYN_PLUGIN_ABI_MAJOR 1
/** Incremented when members are appended; older plugins keep working. */
#define SYN_PLUGIN_ABI_MINOR 3

/** The name of the one symbol every plugin exports. */
#define SYN_PLUGIN_DESC_SYMBOL "synapse_plugin_desc"

/** The registry a plugin's init() registers into. Opaque, owned by the core. */
struct syn_registry;

/** A plugin's self-description. Lives as long as the process (static const). */
struct syn_plugin_desc {
	unsigned int abi_major;  /**< SYN_PLUGIN_ABI_MAJOR the plugin was built with */
	unsigned int abi_minor;  /**< SYN_PLUGIN_ABI_MINOR the plugin was built with */
	const char *name;        /**< unique plugin name, [a-z0-9_-] */
	const char *version;     /**< the plugin's own version string */
	const char *license;     /**< SPDX identifier */
	const char *description; /**< one line for `synapse plugins` */
	/** Register what the plugin provides. 0, or a negative SYN_E* code. */
	int (*init)(struct syn_registry *reg);
};

/**
 * Whether member @member of vtable @vt (any Synapse struct whose first member
 * is `unsigned int version`) is there and set. A member appended in version
 * @since exists only in structs of that version or later: an older plugin's
 * struct is shorter, so the member is never read unless the version says it
 * is there. Every member added after version 1 is read through this.
 */
#define SYN_VTABLE_HAS(vt, since, member) ((vt)->version >= (since) && (vt)->member != NULL)

/** Type of the exported descriptor function. */
typedef const struct syn_plugin_desc *(*syn_plugin_desc_fn)(void);

/** Define the exported descriptor of a plugin. */
#define SYN_PLUGIN_DEFINE(pname, pversion, plicense, pdescription, pinit)            \
	SYN_EXTERN const struct syn_plugin_desc *synapse_plugin_desc(void);           \
	const struct syn_plugin_desc *synapse_plugin_desc(void)                       \
	{                                                                             \
		static const struct syn_plugin_desc desc = {                          \
			SYN_PLUGIN_ABI_MAJOR, SYN_PLUGIN_ABI_MINOR, pname, pversion,  \
			plicense, pdescription, pinit };                              \
		return &desc;                                                         \
	}

SYN_END_DECLS

#endif
