/*
 * Stable Diffusion WebUI Forge layout: A1111's folders (modules/paths_internal.py,
 * modules/cmd_args.py) plus models/text_encoder (--text-encoder-dir,
 * modules_forge/main_entry.py).
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
	{ "text_encoder", "models/text_encoder" },
	{ NULL, NULL },
};

/* Forge is an A1111 fork with its own modules_forge/ package. */
static bool detect(int root)
{
	return ui_has(root, "webui.py", false) && ui_has(root, "modules_forge", true);
}

/* it scans model folders recursively, as A1111 does */
static const struct syn_ui_attach attach = { SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_LINKS, NULL, NULL, NULL };

static const struct syn_ui_layout layout = {
	SYN_UI_LAYOUT_VERSION, "forge", "Stable Diffusion WebUI Forge", "~/stable-diffusion-webui-forge", folders, detect,
	&attach,
};

static int init(struct syn_registry *reg)
{
	return syn_register_ui(reg, &layout);
}

SYN_PLUGIN_DEFINE("forge", "1.0.0", "MIT", "Stable Diffusion WebUI Forge model folders", init)
