/*
 * synapse/synapse.h - the whole public API of libsynapse.
 */
#ifndef SYNAPSE_SYNAPSE_H
#define SYNAPSE_SYNAPSE_H

#include "attach.h"
#include "blob.h"
#include "buf.h"
#include "common.h"
#include "doc.h"
#include "errors.h"
#include "fs.h"
#include "hash.h"
#include "lock.h"
#include "names.h"
#include "pack.h"
#include "profile.h"
#include "registry.h"
#include "state.h"
#include "store.h"

SYN_BEGIN_DECLS

/**
 * Process-wide initialization, called once before any thread starts:
 * libgit2 (with fsync of git objects) and OpenSSL. Network libraries are
 * initialized lazily by the plugins that use them. Returns 0 or SYN_ERROR.
 */
SYN_EXTERN int syn_global_init(void);

/** Undo syn_global_init(). */
SYN_EXTERN void syn_global_shutdown(void);

SYN_END_DECLS

#endif
