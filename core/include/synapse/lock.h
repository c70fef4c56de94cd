/*
 * synapse/lock.h - the store-wide write lock (flock on data/.synapse.lock).
 */
#ifndef SYNAPSE_LOCK_H
#define SYNAPSE_LOCK_H

#include "common.h"

SYN_BEGIN_DECLS

/** A held lock. Opaque. */
struct syn_lock;

/**
 * Take an exclusive flock on @path (created 0600 when missing, never
 * deleted), waiting up to @timeout_ms milliseconds (0 = do not wait).
 * While held the file records the holder's pid and @holder (a command name)
 * so a waiter can say who has it. On timeout returns SYN_ELOCKED with
 * "store lock '<path>' is held by pid N (<holder>); gave up after waiting S s".
 */
SYN_EXTERN int syn_lock_acquire(struct syn_lock **out, const char *path, long timeout_ms, const char *holder);

/** Release and free the lock. NULL-safe. */
SYN_EXTERN void syn_lock_release(struct syn_lock *lock);

/**
 * The lock wait in milliseconds from SYNAPSE_LOCK_TIMEOUT (seconds, may be
 * fractional), else 30 s.
 */
SYN_EXTERN long syn_lock_default_timeout_ms(void);

SYN_END_DECLS

#endif
