/*
 * A third-party UI layout plugin, built out of tree against an installed
 * Synapse with nothing but pkg-config:
 *
 *     cc -std=c11 -shared -fPIC $(pkg-config --cflags synapse) -o hello.so hello.c \
 *        $(pkg-config --libs synapse)
 */
#include <synapse/sys/ui.h>

static const struct syn_ui_folder folders[] = {
	{ "checkpoint", "Models/Stable-Diffusion" },
	{ "lora", "Models/Lora" },
	{ NULL, NULL },
};

static const struct syn_ui_layout hello_ui = {
	SYN_UI_LAYOUT_VERSION, "hello", "Hello UI", "~/HelloUI", folders, NULL, NULL,
};

static int hello_init(struct syn_registry *reg)
{
	return syn_register_ui(reg, &hello_ui);
}

SYN_PLUGIN_DEFINE("hello", "1.0.0", "MIT", "an example UI layout", hello_init)
