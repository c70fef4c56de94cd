/*
 * AUTOMATIC1111 stable-diffusion-webui layout. Folders from
 * modules/paths_internal.py (models_path), modules/sd_models.py
 * ("Stable-diffusion"), modules/sd_vae.py ("VAE"),
 * extensions-builtin/Lora/preload.py ("Lora"), modules/cmd_args.py
 * (embeddings at the top level, hypernetworks, ESRGAN) and
 * Mikubill/sd-webui-controlnet scripts/global_state.py ("ControlNet").
 */
#include <synapse/sys/ui.h>

#include "../detect.h"

static const struct syn_ui_folder folders[] = {
	{ "checkpoint", "models/Stable-diffusion" },
	{ "lora", "models/Lora" },
	{ "vae", "models/VAE" },
	{ "embedding", "embeddings" },
	{ "controlnet", "models/ControlNet" },
	{ "upscaler", "models/ESRGAN" },
	{ "hypernetwork", "models/hypernetworks" },
	{ NULL, NULL },
};

/* webui.py and modules/, without Forge's modules_forge/. */
static bool detect(int root)
{
	return ui_has(root, "webui.py", false) && ui_has(root, "modules", true) &&
	       !ui_has(root, "modules_forge", true);
}

/* it scans model folders recursively, so a link inside each one is enough */
static const struct syn_ui_attach attach = { SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_LINKS, NULL, NULL, NULL };

static const struct syn_ui_layout layout = {
	SYN_UI_LAYOUT_VERSION, "a1111", "AUTOMATIC1111 WebUI", "~/stable-diffusion-webui", folders, detect, &attach,
};

static int init(struct syn_registry *reg)
{
	return syn_register_ui(reg, &layout);
}

SYN_PLUGIN_DEFINE("a1111", "1.0.0", "MIT", "AUTOMATIC1111 stable-diffusion-webui model folders", init)
