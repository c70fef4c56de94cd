/* The default documents `store init` writes: config.json, ui_sets.json, the global profile, runtime.json. */
#include <string.h>

#include "synapse/registry.h"
#include "synapse/store.h"

#include "blob.h"
#include "defaults.h"

/*
 * The default UI sets name stock UIs: `local` is ComfyUI and Forge side by
 * side, `comfy_only` ComfyUI alone. Only the enabled ones are written (see
 * init.c), so a store without these plugins gets sets of what it has.
 */
static const char *const local_set[] = { "comfyui", "forge" };
static const char *const comfy_only_set[] = { "comfyui" };

/* @folders as a kind -> folder object, or NULL when out of memory. */
static json_t *kind_map_of(const struct syn_ui_folder *folders)
{
	json_t *map = json_object();
	size_t i;

	for (i = 0; map && folders[i].kind; i++)
		if (json_object_set_new(map, folders[i].kind, json_string(folders[i].folder))) {
			json_decref(map);
			map = NULL;
		}
	return map;
}

/* @names as a JSON array of strings, or NULL when out of memory. */
static json_t *names_of(const char *const *names, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(names[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	return arr;
}

static json_t *alias(const char *filename)
{
	return json_pack("{s:s, s:s, s:{s:{s:i, s:i, s:i}, s:s}}", "default_expose_filename", filename,
			 "kind", "checkpoint", "selector", "civitai", "file_id", 0, "model_id", 0, "version_id", 0,
			 "strategy", "civitai_file");
}

/*
 * Every loaded UI layout is enabled, with its folder table and default root
 * copied into ui.kind_map and ui.roots. The core keeps no folder table of
 * its own: a UI in ui.known whose plugin is not loaded (later, or on another
 * machine) keeps working from its ui.kind_map entry.
 */
json_t *syn__default_config(const struct syn_registry *reg)
{
	json_t *kind_map = json_object(), *known = json_array(), *roots = json_object();
	size_t i;

	for (i = 0; kind_map && known && roots && i < syn_registry_ui_count(reg); i++) {
		const struct syn_ui_layout *ui = syn_registry_ui_at(reg, i);

		if (json_array_append_new(known, json_string(ui->name)) ||
		    json_object_set_new(kind_map, ui->name, kind_map_of(ui->folders)) ||
		    (ui->default_root && json_object_set_new(roots, ui->name, json_string(ui->default_root))))
			goto fail;
	}
	if (!kind_map || !known || !roots)
		goto fail;
	/* download: connections per file, the size from which a file is segmented, bytes/s in all (0: no cap) */
	return json_pack("{s:{s:b, s:b, s:n, s:b}, s:{s:o, s:o, s:o, s:o}, s:{s:i, s:i, s:I}, "
			 "s:{s:s, s:s, s:s, s:s}, s:{s:{s:[s], s:b}, s:{s:[s,s,s], s:b}}, s:s, "
			 "s:{s:o, s:o, s:o}}",
		"backup", "auto_backup_new", 0, "enabled", 0, "path", "warn_before_delete_last_copy", 1,
		"base_model_aliases",
		"Illustrious", alias("illustrious_v1.safetensors"),
		"Pony", alias("ponyDiffusionV6XL.safetensors"),
		"SD1.5", alias("v1-5-pruned-emaonly.safetensors"),
		"SDXL", alias("sd_xl_base_1.0.safetensors"),
		"download", "connections", (int)SYN__CONNECTIONS_DEFAULT, "max_rate", 0, "segment_min",
		(json_int_t)SYN__SEGMENT_MIN_DEFAULT,
		"defaults", "active_profile", SYN_PROFILE_GLOBAL, "conflicts_mode", "last_wins",
		"ui_set", "local", "use_base", SYN_PROFILE_GLOBAL,
		"providers", "civitai", "preferred_ext", ".safetensors", "primary_file_only_default", 1,
		"huggingface", "preferred_ext", ".safetensors", ".bin", ".gguf", "primary_file_only_default", 0,
		"schema", SYN_SCHEMA_CONFIG,
		"ui", "kind_map", kind_map, "known", known, "roots", roots);
fail:
	json_decref(kind_map);
	json_decref(known);
	json_decref(roots);
	return NULL;
}

json_t *syn__default_ui_sets(void)
{
	return json_pack("{s:s, s:{s:o, s:o}}", "schema", SYN_SCHEMA_UI_SETS, "sets",
			 "local", names_of(local_set, sizeof(local_set) / sizeof(local_set[0])),
			 "comfy_only", names_of(comfy_only_set, sizeof(comfy_only_set) / sizeof(comfy_only_set[0])));
}

json_t *syn__default_profile(const char *name)
{
	return json_pack("{s:{s:s}, s:s, s:[], s:s}", "conflicts", "mode", "last_wins", "name", name,
			 "packs", "schema", SYN_SCHEMA_PROFILE);
}

json_t *syn__default_runtime(const json_t *config)
{
	json_t *ui = json_object();
	json_t *known = json_object_get(json_object_get(config, "ui"), "known");
	size_t i;

	for (i = 0; ui && i < json_array_size(known); i++) {
		const char *name = json_string_value(json_array_get(known, i));

		if (name && json_object_set_new(ui, name, json_pack("{s:[s]}", "stack", SYN_PROFILE_GLOBAL))) {
			json_decref(ui);
			ui = NULL;
		}
	}
	return ui ? json_pack("{s:s, s:o}", "schema", SYN_SCHEMA_RUNTIME, "ui", ui) : NULL;
}
