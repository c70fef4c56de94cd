/*
 * ComfyUI layout. Folders from Comfy-Org/ComfyUI folder_paths.py
 * (models_dir = <base>/models; folder_names_and_paths). Newer builds read
 * text encoders and diffusion models from models/text_encoders and
 * models/diffusion_models and still search the legacy models/clip and
 * models/unet, so both pairs are kinds of their own.
 */
#include <synapse/sys/ui.h>

#include "../detect.h"

static const struct syn_ui_folder folders[] = {
	{ "checkpoint", "models/checkpoints" },
	{ "lora", "models/loras" },
	{ "vae", "models/vae" },
	{ "embedding", "models/embeddings" },
	{ "controlnet", "models/controlnet" },
	{ "upscaler", "models/upscale_models" },
	{ "text_encoder", "models/text_encoders" },
	{ "diffusion_model", "models/diffusion_models" },
	{ "unet", "models/unet" },
	{ "clip", "models/clip" },
	{ "hypernetwork", "models/hypernetworks" },
	{ NULL, NULL },
};

/* A ComfyUI checkout has main.py, folder_paths.py and the comfy/ package. */
static bool detect(int root)
{
	return ui_has(root, "main.py", false) && ui_has(root, "folder_paths.py", false) && ui_has(root, "comfy", true);
}

/* folder_paths' key of each kind, read from the extra_model_paths.yaml in the ComfyUI root */
static const struct syn_ui_path_key keys[] = {
	{ "checkpoint", "checkpoints" },
	{ "lora", "loras" },
	{ "vae", "vae" },
	{ "embedding", "embeddings" },
	{ "controlnet", "controlnet" },
	{ "upscaler", "upscale_models" },
	{ "clip", "clip" },
	{ "text_encoder", "text_encoders" },
	{ "diffusion_model", "diffusion_models" },
	{ "unet", "unet" },
	{ "hypernetwork", "hypernetworks" },
	{ NULL, NULL },
};

static const struct syn_ui_attach attach = {
	SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_EXTRA_PATHS, "extra_model_paths.yaml", "synapse", keys,
};

static const struct syn_ui_layout layout = {
	SYN_UI_LAYOUT_VERSION, "comfyui", "ComfyUI", "~/ComfyUI", folders, detect, &attach,
};

static int init(struct syn_registry *reg)
{
	return syn_register_ui(reg, &layout);
}

SYN_PLUGIN_DEFINE("comfyui", "1.0.0", "MIT", "ComfyUI model folders", init)
