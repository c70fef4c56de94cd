/*
 * Functions shared between core modules but not exported from libsynapse.
 */
#ifndef SYNAPSE_INTERNAL_H
#define SYNAPSE_INTERNAL_H

#include <jansson.h>

#include "synapse/names.h"
#include "synapse/store.h"

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
