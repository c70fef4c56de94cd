/* The default documents `store init` writes (original §2.3, §2.5, §2.8, §2.9). */
#include <string.h>

#include "synapse/registry.h"
#include "synapse/store.h"

#include "internal.h"

/* The UIs a new store knows, in the original's order. */
static const char *const known_uis[] = { "comfyui", "forge", "a1111", "sdnext" };

/* The original's ComfyUI-style map, used for a known UI whose plugin is not loaded. */
static const struct syn_ui_folder fallback_folders[] = {
	{ "checkpoint", "models/checkpoints" },
	{ "lora", "models/loras" },
	{ "vae", "models/vae" },
	{ "embedding", "models/embeddings" },
	{ "controlnet", "models/controlnet" },
	{ "upscaler", "models/upscale_models" },
	{ "clip", "models/clip" },
	{ "text_encoder", "models/text_encoders" },
	{ "diffusion_model", "models/diffusion_models" },
	{ "unet", "models/unet" },
	{ NULL, NULL },
};

static json_t *kind_map_of(const struct syn_ui_folder *folders)
{
	json_t *map = json_object();
	size_t i;

	for (i = 0; folders[i].kind; i++)
		json_object_set_new(map, folders[i].kind, json_string(folders[i].folder));
	return map;
}

static json_t *alias(const char *filename)
{
	return json_pack("{s:s, s:s, s:{s:{s:i, s:i, s:i}, s:s}}", "default_expose_filename", filename,
			 "kind", "checkpoint", "selector", "civitai", "file_id", 0, "model_id", 0, "version_id", 0,
			 "strategy", "civitai_file");
}

json_t *syn__default_config(const struct syn_registry *reg)
{
	json_t *kind_map = json_object(), *known = json_array(), *roots = json_object();
	size_t i;

	for (i = 0; i < sizeof(known_uis) / sizeof(known_uis[0]); i++) {
		const struct syn_ui_layout *ui = syn_registry_ui(reg, known_uis[i]);

		json_array_append_new(known, json_string(known_uis[i]));
		json_object_set_new(kind_map, known_uis[i], kind_map_of(ui ? ui->folders : fallback_folders));
		if (ui && ui->default_root)
			json_object_set_new(roots, known_uis[i], json_string(ui->default_root));
	}
	return json_pack("{s:{s:b, s:b, s:n, s:b}, s:{s:o, s:o, s:o, s:o}, "
			 "s:{s:s, s:s, s:s, s:s}, s:{s:{s:[s], s:b}, s:{s:[s,s,s], s:b}}, s:s, "
			 "s:{s:o, s:o, s:o}}",
		"backup", "auto_backup_new", 0, "enabled", 0, "path", "warn_before_delete_last_copy", 1,
		"base_model_aliases",
		"Illustrious", alias("illustrious_v1.safetensors"),
		"Pony", alias("ponyDiffusionV6XL.safetensors"),
		"SD1.5", alias("v1-5-pruned-emaonly.safetensors"),
		"SDXL", alias("sd_xl_base_1.0.safetensors"),
		"defaults", "active_profile", SYN_PROFILE_GLOBAL, "conflicts_mode", "last_wins",
		"ui_set", "local", "use_base", SYN_PROFILE_GLOBAL,
		"providers", "civitai", "preferred_ext", ".safetensors", "primary_file_only_default", 1,
		"huggingface", "preferred_ext", ".safetensors", ".bin", ".gguf", "primary_file_only_default", 0,
		"schema", SYN_SCHEMA_CONFIG,
		"ui", "kind_map", kind_map, "known", known, "roots", roots);
}

json_t *syn__default_ui_sets(void)
{
	return json_pack("{s:s, s:{s:[s,s], s:[s], s:[s,s,s,s], s:[s], s:[s], s:[s], s:[s]}}",
		"schema", SYN_SCHEMA_UI_SETS, "sets",
		"local", "comfyui", "forge",
		"comfy_only", "comfyui",
		"all", "comfyui", "forge", "a1111", "sdnext",
		"comfyui", "comfyui", "forge", "forge", "a1111", "a1111", "sdnext", "sdnext");
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

	if (!json_is_array(known) || json_array_size(known) == 0) {
		json_object_set_new(ui, "comfyui", json_pack("{s:[s]}", "stack", SYN_PROFILE_GLOBAL));
		json_object_set_new(ui, "forge", json_pack("{s:[s]}", "stack", SYN_PROFILE_GLOBAL));
	}
	for (i = 0; i < json_array_size(known); i++) {
		const char *name = json_string_value(json_array_get(known, i));

		if (name)
			json_object_set_new(ui, name, json_pack("{s:[s]}", "stack", SYN_PROFILE_GLOBAL));
	}
	return json_pack("{s:s, s:o}", "schema", SYN_SCHEMA_RUNTIME, "ui", ui);
}
