/*
 * synapse/attach.h - make each UI see its Synapse view without moving the
 * user's own files.
 */
#ifndef SYNAPSE_ATTACH_H
#define SYNAPSE_ATTACH_H

#include <jansson.h>

#include "common.h"
#include "store.h"

SYN_BEGIN_DECLS

/**
 * Attach every UI of @ui_set (NULL = the default set) to its view.
 * ComfyUI: a `synapse:` section in <root>/extra_model_paths.yaml, between
 * `# synapse: begin` / `# synapse: end` marker lines, whose paths go through
 * data/views/comfyui/active; the rest of the file is kept byte for byte and
 * the user's original file is backed up once. A1111, Forge, SD.Next (and any
 * other UI): a `synapse` symlink inside each mapped model folder of the UI
 * root, pointing at the same folder of data/views/<ui>/active. A user's
 * file or folder is never moved, deleted or overwritten. The UI root is
 * config.json ui.roots.<ui>, else the layout's default root; it must exist.
 * @report: {<ui>: {ui, success, method, created: [..], errors: [..]}}.
 */
SYN_EXTERN int syn_attach(struct syn_store *st, const char *ui_set, json_t **report);

/**
 * Undo syn_attach(): remove the synapse section (restoring the backed-up
 * file byte for byte when the section is all Synapse added) and the
 * `synapse` links Synapse made. Same report shape ("removed" instead of
 * "created").
 */
SYN_EXTERN int syn_detach(struct syn_store *st, const char *ui_set, json_t **report);

/** {<ui>: {ui, attached, method, root, path, details}} for every UI of the set. */
SYN_EXTERN int syn_attach_status(struct syn_store *st, const char *ui_set, json_t **report);

SYN_END_DECLS

#endif
