/*
 * Two UI layouts from a third party, built out of tree against an installed
 * Synapse with nothing but pkg-config, and dropped into SYNAPSE_PLUGIN_PATH:
 *
 *     cc -std=c11 -shared -fPIC $(pkg-config --cflags synapse) -o myui.so myui.c \
 *        $(pkg-config --libs synapse)
 *
 * "myui" keeps its models in folders of its own and is attached with a
 * `synapse` link inside each of them; "mypaths" reads the extra model folders
 * listed in a file of its own, mypaths.yaml.
 */
#include <synapse/sys/ui.h>

static const struct syn_ui_folder myui_folders[] = {
	{ "checkpoint", "Library/Base Models" },
	{ "lora", "Library/Adapters" },
	{ NULL, NULL },
};

static const struct syn_ui_attach myui_attach = {
	SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_LINKS, NULL, NULL, NULL,
};

static const struct syn_ui_layout myui = {
	SYN_UI_LAYOUT_VERSION, "myui", "My UI", "~/MyUI", myui_folders, NULL, &myui_attach,
};

static const struct syn_ui_folder mypaths_folders[] = {
	{ "checkpoint", "weights/base" },
	{ "lora", "weights/lora" },
	{ NULL, NULL },
};

static const struct syn_ui_path_key mypaths_keys[] = {
	{ "checkpoint", "base_models" },
	{ "lora", "adapters" },
	{ NULL, NULL },
};

static const struct syn_ui_attach mypaths_attach = {
	SYN_UI_ATTACH_VERSION, SYN_UI_ATTACH_EXTRA_PATHS, "mypaths.yaml", "synapse_store", mypaths_keys,
};

static const struct syn_ui_layout mypaths = {
	SYN_UI_LAYOUT_VERSION, "mypaths", "My Paths UI", "~/MyPaths", mypaths_folders, NULL, &mypaths_attach,
};

static int myui_init(struct syn_registry *reg)
{
	int rc = syn_register_ui(reg, &myui);

	return rc ? rc : syn_register_ui(reg, &mypaths);
}

SYN_PLUGIN_DEFINE("myui", "1.0.0", "MIT", "two third-party UI layouts", myui_init)
