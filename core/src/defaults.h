/*
 * defaults: the documents a new store starts from. Each function returns a
 * new reference, or NULL when out of memory.
 */
#ifndef SYNAPSE_SRC_DEFAULTS_H
#define SYNAPSE_SRC_DEFAULTS_H

#include <jansson.h>

#include "synapse/registry.h"

/** Default config.json built from the UI layouts registered in @reg (borrowed). */
json_t *syn__default_config(const struct syn_registry *reg);

/** Default ui_sets.json. */
json_t *syn__default_ui_sets(void);

/** Empty profile document named @name (borrowed, not checked). */
json_t *syn__default_profile(const char *name);

/** runtime.json with every UI of @config (borrowed) at ["global"]. */
json_t *syn__default_runtime(const json_t *config);

#endif
