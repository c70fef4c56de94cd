/*
 * synapse/sys/ui.h - UI layout plugins: where a UI looks for each asset kind.
 *
 * A UI layout is a static const table: the UI's name, its default install
 * root, an asset-kind -> folder table (relative to the UI root, and the same
 * relative path inside a Synapse view), and an optional detect() that
 * recognises an install. Register it from the plugin's init():
 *
 *     static const struct syn_ui_folder folders[] = {
 *         { "checkpoint", "models/checkpoints" }, ..., { NULL, NULL } };
 *     static const struct syn_ui_layout comfy = {
 *         SYN_UI_LAYOUT_VERSION, "comfyui", "ComfyUI", "~/ComfyUI", folders, detect };
 *     return syn_register_ui(reg, &comfy);
 */
#ifndef SYNAPSE_SYS_UI_H
#define SYNAPSE_SYS_UI_H

#include "plugin.h"

SYN_BEGIN_DECLS

/** Version of struct syn_ui_layout. */
#define SYN_UI_LAYOUT_VERSION 1
/** Initializer setting the version member. */
#define SYN_UI_LAYOUT_INIT { SYN_UI_LAYOUT_VERSION }

/** One asset kind and the folder a UI reads it from. */
struct syn_ui_folder {
	const char *kind;   /**< asset kind: "checkpoint", "lora", ... */
	const char *folder; /**< relative path, e.g. "models/checkpoints" */
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
};

/**
 * Register @layout (copied into a zeroed struct of the core's size: members
 * a newer core appends read as NULL). @size is sizeof(*layout) as the plugin
 * saw it. Refuses a duplicate UI name, a bad name or folder, or a version
 * newer than the core knows. Returns 0 or a SYN_E* code.
 */
SYN_EXTERN int syn_register_ui_s(struct syn_registry *reg, const struct syn_ui_layout *layout, size_t size);

/** Register a UI layout, passing its size. */
#define syn_register_ui(reg, layout) syn_register_ui_s((reg), (layout), sizeof(*(layout)))

SYN_END_DECLS

#endif
