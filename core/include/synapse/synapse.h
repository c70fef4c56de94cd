/*
 * synapse/synapse.h - the whole public API of libsynapse.
 */
#ifndef SYNAPSE_SYNAPSE_H
#define SYNAPSE_SYNAPSE_H

#include "attach.h"
#include "backup.h"
#include "blob.h"
#include "buf.h"
#include "common.h"
#include "doc.h"
#include "errors.h"
#include "fs.h"
#include "hash.h"
#include "inventory.h"
#include "lock.h"
#include "names.h"
#include "ops.h"
#include "pack.h"
#include "profile.h"
#include "rate.h"
#include "registry.h"
#include "state.h"
#include "store.h"
#include "ui.h"

SYN_BEGIN_DECLS

/**
 * Process-wide initialization, called once before any thread starts.
 * Heavy libraries (libgit2 for state history, libcurl for sources) are
 * loaded and initialized lazily, by the first operation that needs them, so
 * that quick commands start quickly. Returns 0 or SYN_ERROR.
 */
SYN_EXTERN int syn_global_init(void);

/** Undo syn_global_init(). */
SYN_EXTERN void syn_global_shutdown(void);

SYN_END_DECLS

#endif
