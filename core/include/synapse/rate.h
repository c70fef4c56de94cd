/*
 * synapse/rate.h - the download rate limit.
 *
 * One token bucket per process caps the bytes per second that every
 * connection of every download together receives (config.json
 * `download.max_rate`, `--limit-rate`). A sink takes tokens for each block
 * it stores and sleeps when the bucket is in debt, so a source sees a
 * slower sink and TCP slows the sender down.
 */
#ifndef SYNAPSE_RATE_H
#define SYNAPSE_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

SYN_BEGIN_DECLS

/** A token bucket. Zero-initialized it lets everything through. */
struct syn_rate_bucket {
	uint64_t rate;    /**< bytes per second; 0 = unlimited */
	double tokens;    /**< bytes that may pass now; negative: debt to wait off */
	uint64_t last_ns; /**< when tokens were last counted */
};

/**
 * Set @b's rate to @rate bytes per second (0: unlimited) at time @now_ns
 * (any monotonic clock), starting with a full burst.
 */
SYN_EXTERN void syn_rate_bucket_set(struct syn_rate_bucket *b, uint64_t rate, uint64_t now_ns);

/**
 * Let @n bytes through @b at time @now_ns: the nanoseconds to wait before
 * they are within the rate (0: at once). The bucket refills at its rate
 * and holds at most a quarter of a second's worth (at least 16 KiB), so
 * over any interval the bytes passed stay within rate x interval plus
 * that burst.
 */
SYN_EXTERN uint64_t syn_rate_bucket_take(struct syn_rate_bucket *b, uint64_t n, uint64_t now_ns);

/** Cap this process's downloads at @rate bytes per second in all (0: unlimited). */
SYN_EXTERN void syn_rate_limit_set(uint64_t rate);

/** The cap syn_rate_limit_set() set, 0 when unlimited. */
SYN_EXTERN uint64_t syn_rate_limit(void);

/** Wait until @n more bytes are within the process's cap (thread-safe). */
SYN_EXTERN void syn_rate_pass(size_t n);

/**
 * Parse a rate: a positive number of bytes per second with an optional
 * suffix k, M or G (powers of 1024; "B", "/s" and "iB" after it are
 * accepted: "10M", "500k", "2.5MiB/s"), or "0" for unlimited, into *@out.
 * SYN_EINVALID naming @s otherwise.
 */
SYN_EXTERN int syn_rate_parse(const char *s, uint64_t *out);

SYN_END_DECLS

#endif
