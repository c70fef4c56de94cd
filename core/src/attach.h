/*
 * attach: pointing each UI at its Synapse view (an extra-paths section in
 * the UI's config, or `synapse` links in its model folders). What it shares
 * with the operations above it beyond synapse/attach.h.
 */
#ifndef SYNAPSE_SRC_ATTACH_H
#define SYNAPSE_SRC_ATTACH_H

#include <stdbool.h>

#include "synapse/store.h"
#include "synapse/sys/ui.h"

/**
 * The attach method @layout declares, as attach reports name it:
 * "extra_model_paths" or "symlink" (also for NULL: a UI without a loaded
 * plugin is attached with links). Borrowed, static.
 */
const char *syn__attach_method(const struct syn_ui_layout *layout);

/**
 * Whether anything attach made for @ui is in its root (the extra-paths
 * section, or any one `synapse` link), in *@present. A missing root holds
 * nothing. SYN_ENOMEM, or the config's errors.
 */
int syn__attach_present(struct syn_store *st, const char *ui, bool *present);

#endif
