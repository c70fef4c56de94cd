/*
 * synapse/common.h - export macros and version numbers shared by every header.
 */
#ifndef SYNAPSE_COMMON_H
#define SYNAPSE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define SYN_BEGIN_DECLS extern "C" {
#define SYN_END_DECLS }
#else
#define SYN_BEGIN_DECLS
#define SYN_END_DECLS
#endif

/** Marks a function or object as part of libsynapse's exported ABI. */
#define SYN_EXTERN __attribute__((visibility("default")))

/** printf-style format checking for variadic helpers. */
#define SYN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/** Version of the Synapse core library. */
#define SYN_VERSION_STRING "0.1.0"

/** Length of a lowercase hex SHA-256 digest, without the terminating NUL. */
#define SYN_SHA256_HEX_LEN 64

#endif
