/*
 * SD.Next layout. Folders are the "System Paths" defaults of
 * vladmandic/sdnext modules/ui_definitions.py (ckpt_dir, lora_dir, vae_dir,
 * embeddings_dir, control_dir, unet_dir, te_dir, hypernetwork_dir), all
 * under models_path from modules/paths.py.
 */
#include <synapse/sys/ui.h>

#include "../detect.h"

static const struct syn_ui_folder folders[] = {
	{ "checkpoint", "models/Stable-diffusion" },
	{ "lora", "models/Lora" },
	{ "vae", "models/VAE" },
	{ "embedding", "models/embeddings" },
	{ "controlnet", "models/control" },
	{ "upscaler", "models/ESRGAN" },
	{ "unet", "models/UNET" },
	{ "diffusion_model", "models/UNET" },
	{ "text_encoder", "models/Text-encoder" },
	{ "hypernetwork", "models/hypernetworks" },
	{ NULL, NULL },
};

/* SD.Next ships launch.py, installer.py and modules/. */
static bool detect(int root)
{
	return ui_has(root, "launch.py", false) && ui_has(root, "installer.py", false) && ui_has(root, "modules", true);
}

/* it scans model folders recursively */
static const struct syn_ui_attach attach = { SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_LINKS, NULL, NULL, NULL };

static const struct syn_ui_layout layout = {
	SYN_UI_LAYOUT_VERSION, "sdnext", "SD.Next", "~/sdnext", folders, detect, &attach,
};

static int init(struct syn_registry *reg)
{
	return syn_register_ui(reg, &layout);
}

SYN_PLUGIN_DEFINE("sdnext", "1.0.0", "MIT", "SD.Next model folders", init)
