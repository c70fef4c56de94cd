/*
 * synapse/hash.h - streaming SHA-256 (OpenSSL EVP).
 */
#ifndef SYNAPSE_HASH_H
#define SYNAPSE_HASH_H

#include "common.h"

SYN_BEGIN_DECLS

/** An incremental SHA-256 computation. Opaque. */
struct syn_sha256;

/** Start a new computation in @out. Returns 0 or SYN_ENOMEM. */
SYN_EXTERN int syn_sha256_new(struct syn_sha256 **out);

/** Feed @len bytes. Returns 0 or SYN_ERROR. */
SYN_EXTERN int syn_sha256_update(struct syn_sha256 *h, const void *data, size_t len);

/** Finish and write the lowercase hex digest (65 bytes with NUL) to @hex. */
SYN_EXTERN int syn_sha256_final(struct syn_sha256 *h, char hex[SYN_SHA256_HEX_LEN + 1]);

/** Restart @h as a fresh computation. */
SYN_EXTERN int syn_sha256_reset(struct syn_sha256 *h);

/** Free @h. NULL-safe. */
SYN_EXTERN void syn_sha256_free(struct syn_sha256 *h);

/**
 * Hash everything readable from @fd from its current offset to EOF.
 * @size_out (optional) receives the number of bytes hashed.
 */
SYN_EXTERN int syn_sha256_fd(char hex[SYN_SHA256_HEX_LEN + 1], uint64_t *size_out, int fd);

/** Hash the file at @path. SYN_ENOTFOUND when missing. */
SYN_EXTERN int syn_sha256_file(char hex[SYN_SHA256_HEX_LEN + 1], uint64_t *size_out, const char *path);

/** Hash a memory buffer. */
SYN_EXTERN int syn_sha256_mem(char hex[SYN_SHA256_HEX_LEN + 1], const void *data, size_t len);

/** Where syn_fnv1a() starts. */
#define SYN_FNV1A_INIT 1469598103934665603ULL

/**
 * FNV-1a over @len bytes at @data, going on from @h (SYN_FNV1A_INIT to
 * start): a fast hash for tables and file stamps, not for integrity.
 */
SYN_EXTERN uint64_t syn_fnv1a(uint64_t h, const void *data, size_t len);

/**
 * A fast 64-bit checksum of @len bytes at @data: four lanes of eight bytes
 * at a time, about eight times FNV-1a's speed, for telling a damaged or
 * torn cache from a good one. Not cryptographic; it reads words in the
 * machine's byte order, so a file checked with it is only for the machine
 * that wrote it (elsewhere it reads as damaged and is rebuilt).
 */
SYN_EXTERN uint64_t syn_hash64(const void *data, size_t len);

SYN_END_DECLS

#endif
