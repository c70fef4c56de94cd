/*
 * synapse/errors.h - error codes and the thread-local error message.
 *
 * Every function that acts returns 0 on success or a negative SYN_E* code and
 * leaves a human-readable message in thread-local state (libgit2 style).
 */
#ifndef SYNAPSE_ERRORS_H
#define SYNAPSE_ERRORS_H

#include "common.h"

SYN_BEGIN_DECLS

/** Error codes. Values are part of the ABI: new codes are only appended. */
enum syn_error_code {
	SYN_OK = 0,
	SYN_ERROR = -1,         /**< generic failure */
	SYN_ENOTFOUND = -3,     /**< the named thing does not exist */
	SYN_EEXISTS = -4,       /**< the thing already exists */
	SYN_EINVALID = -5,      /**< bad input: a name, an argument, a reference */
	SYN_ECORRUPT = -6,      /**< a document or blob on disk is malformed */
	SYN_EIO = -7,           /**< an operating-system call failed */
	SYN_ENOSPC = -8,        /**< no space left on the device */
	SYN_ENOMEM = -9,        /**< out of memory */
	SYN_ENOTINIT = -10,     /**< the store is not initialized */
	SYN_EUNSUPPORTED = -11, /**< the filesystem or plugin lacks a capability */
	SYN_ENETWORK = -12,     /**< a remote peer failed or could not be reached */
	SYN_EAUTH = -13,        /**< the remote peer refused our credentials */
	SYN_ELOCKED = -14,      /**< a lock could not be taken in time */
	SYN_EGUARD = -15,       /**< refused by a guard rail (e.g. last copy of a blob) */
	SYN_EPASSTHROUGH = -30, /**< "not mine": let the next plugin try */
	SYN_EMISMATCH = -33,    /**< content does not match its expected digest */
	SYN_EUSAGE = -34,       /**< an operation was called with arguments it does not take */
};

/**
 * Set the thread's error message and return @code, so that
 * `return syn_error_set(SYN_EINVALID, "bad name '%s'", n);` works.
 * The message is formatted with printf rules and truncated at 1 KiB.
 */
SYN_EXTERN int syn_error_set(int code, const char *fmt, ...) SYN_PRINTF(2, 3);

/**
 * Like syn_error_set(), then append ": <strerror(errnum)>".
 * Maps ENOSPC/EDQUOT to SYN_ENOSPC and ENOMEM to SYN_ENOMEM whatever @code says.
 */
SYN_EXTERN int syn_error_set_errno(int code, int errnum, const char *fmt, ...) SYN_PRINTF(3, 4);

/** Prefix the current message with "<prefix>: " (keeps the code). Returns the code. */
SYN_EXTERN int syn_error_prefix(const char *fmt, ...) SYN_PRINTF(1, 2);

/** The last error message set on this thread; never NULL ("" when none). */
SYN_EXTERN const char *syn_error_last(void);

/** The code of the last error set on this thread (SYN_OK when none). */
SYN_EXTERN int syn_error_code(void);

/** Forget the thread's last error. */
SYN_EXTERN void syn_error_clear(void);

/** A static description of an error code ("not found", ...). */
SYN_EXTERN const char *syn_strerror(int code);

SYN_END_DECLS

#endif
