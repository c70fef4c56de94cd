/*
 * synapse/sys/ui.h - UI layout plugins: where a UI looks for each asset kind.
 *
 * A UI layout is a static const table: the UI's name, its default install
 * root, an asset-kind -> folder table (relative to the UI root, and the same
 * relative path inside a Synapse view), an optional detect() that
 * recognises an install, and how `synapse attach` makes the UI see its view.
 * Register it from the plugin's init():
 *
 *     static const struct syn_ui_folder folders[] = {
 *         { "checkpoint", "models/checkpoints" }, ..., { NULL, NULL } };
 *     static const struct syn_ui_path_key keys[] = {
 *         { "checkpoint", "checkpoints" }, ..., { NULL, NULL } };
 *     static const struct syn_ui_attach attach = {
 *         SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_EXTRA_PATHS, "extra_model_paths.yaml", "synapse", keys };
 *     static const struct syn_ui_layout comfy = {
 *         SYN_UI_LAYOUT_VERSION, "comfyui", "ComfyUI", "~/ComfyUI", folders, detect, &attach };
 *     return syn_register_ui(reg, &comfy);
 *
 * A layout without `attach` (or of version 1) is attached with links.
 */
#ifndef SYNAPSE_SYS_UI_H
#define SYNAPSE_SYS_UI_H

#include "plugin.h"

SYN_BEGIN_DECLS

/** Version of struct syn_ui_layout. */
#define SYN_UI_LAYOUT_VERSION 2
/** Initializer setting the version member. */
#define SYN_UI_LAYOUT_INIT { SYN_UI_LAYOUT_VERSION }

/** One asset kind and the folder a UI reads it from. */
struct syn_ui_folder {
	const char *kind;   /**< asset kind: "checkpoint", "lora", ... */
	const char *folder; /**< relative path, e.g. "models/checkpoints" */
};

/** How a UI is made to see its Synapse view. */
enum syn_ui_attach_method {
	/**
	 * A `synapse` symlink inside each mapped model folder of the UI root,
	 * pointing at the same folder of the view (UIs that scan subfolders).
	 */
	SYN_UI_ATTACH_LINKS = 0,
	/**
	 * One section of a YAML file in the UI root listing extra model
	 * folders, in the form ComfyUI reads:
	 *
	 *     <section>:
	 *         base_path: <the view>
	 *         <key>: <folder of the kind, relative to base_path>
	 *
	 * Synapse edits only that section (between marker comment lines) and
	 * keeps the rest of the file byte for byte.
	 */
	SYN_UI_ATTACH_EXTRA_PATHS = 1,
};

/** One asset kind and the key an extra-paths file lists its folder under. */
struct syn_ui_path_key {
	const char *kind; /**< asset kind: "checkpoint" */
	const char *key;  /**< the UI's key: "checkpoints", [a-z0-9_-] */
};

/** Version of struct syn_ui_attach. */
#define SYN_UI_ATTACH_VERSION 1

/** How a UI is attached. Must outlive the process (static const). */
struct syn_ui_attach {
	unsigned int version;              /**< SYN_UI_ATTACH_VERSION */
	enum syn_ui_attach_method method;  /**< links or an extra-paths file */
	/** SYN_UI_ATTACH_EXTRA_PATHS: the file's name in the UI root ("extra_model_paths.yaml"). */
	const char *file;
	/** SYN_UI_ATTACH_EXTRA_PATHS: the top-level key of Synapse's section ("synapse"). */
	const char *section;
	/**
	 * SYN_UI_ATTACH_EXTRA_PATHS: kind -> key, in the order the section lists
	 * them, terminated by { NULL, NULL }. A kind the UI's kind map lacks is
	 * left out of the section.
	 */
	const struct syn_ui_path_key *keys;
};

/** A UI layout. Must outlive the process (static const). */
struct syn_ui_layout {
	unsigned int version;                /**< SYN_UI_LAYOUT_VERSION */
	const char *name;                    /**< "comfyui": [a-z0-9_-] */
	const char *display_name;            /**< "ComfyUI" */
	const char *default_root;            /**< "~/ComfyUI"; `~` is the user's home */
	const struct syn_ui_folder *folders; /**< terminated by { NULL, NULL } */
	/** Optional: true when the directory open at @root_dirfd is an install of this UI. */
	bool (*detect)(int root_dirfd);
	/**
	 * Added in version 2. How the UI is attached; NULL (and every version-1
	 * layout) means SYN_UI_ATTACH_LINKS. Read it with
	 * SYN_VTABLE_HAS(layout, 2, attach).
	 */
	const struct syn_ui_attach *attach;
};

/**
 * Register @layout (copied into a zeroed struct of the core's size: members
 * a newer core appends read as NULL). @size is sizeof(*layout) as the plugin
 * saw it. Refuses a duplicate UI name, a bad name or folder, an attach
 * declaration that is incomplete or of an unknown method, or a version
 * newer than the core knows. Returns 0 or a SYN_E* code.
 */
SYN_EXTERN int syn_register_ui_s(struct syn_registry *reg, const struct syn_ui_layout *layout, size_t size);

/** Register a UI layout, passing its size. */
#define syn_register_ui(reg, layout) syn_register_ui_s((reg), (layout), sizeof(*(layout)))

SYN_END_DECLS

#endif
