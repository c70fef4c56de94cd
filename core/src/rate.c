/*
 * rate: the process's token bucket for downloads. Debt is allowed (a block
 * larger than the bucket passes and is waited off afterwards), so the
 * long-run rate is exact whatever the block sizes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "synapse/errors.h"
#include "synapse/rate.h"

#define NS 1000000000ull
#define BURST_MIN 16384.0

static double burst_of(uint64_t rate)
{
	double b = (double)rate / 4;

	return b < BURST_MIN ? BURST_MIN : b;
}

void syn_rate_bucket_set(struct syn_rate_bucket *b, uint64_t rate, uint64_t now_ns)
{
	b->rate = rate;
	b->tokens = rate ? burst_of(rate) : 0;
	b->last_ns = now_ns;
}

uint64_t syn_rate_bucket_take(struct syn_rate_bucket *b, uint64_t n, uint64_t now_ns)
{
	double burst;

	if (!b->rate)
		return 0;
	burst = burst_of(b->rate);
	if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) * (double)b->rate / (double)NS;
		if (b->tokens > burst)
			b->tokens = burst;
		b->last_ns = now_ns;
	}
	b->tokens -= (double)n;
	if (b->tokens >= 0)
		return 0;
	return (uint64_t)(-b->tokens * (double)NS / (double)b->rate) + 1;
}

static pthread_mutex_t rate_mu = PTHREAD_MUTEX_INITIALIZER;
static struct syn_rate_bucket rate_bucket;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

void syn_rate_limit_set(uint64_t rate)
{
	pthread_mutex_lock(&rate_mu);
	if (rate != rate_bucket.rate)
		syn_rate_bucket_set(&rate_bucket, rate, now_ns());
	pthread_mutex_unlock(&rate_mu);
}

uint64_t syn_rate_limit(void)
{
	uint64_t r;

	pthread_mutex_lock(&rate_mu);
	r = rate_bucket.rate;
	pthread_mutex_unlock(&rate_mu);
	return r;
}

void syn_rate_pass(size_t n)
{
	uint64_t wait;
	struct timespec ts;

	pthread_mutex_lock(&rate_mu);
	wait = syn_rate_bucket_take(&rate_bucket, n, now_ns());
	pthread_mutex_unlock(&rate_mu);
	if (!wait)
		return;
	/* the debt is this caller's: sleeping it off holds back every connection in turn */
	ts.tv_sec = (time_t)(wait / NS);
	ts.tv_nsec = (long)(wait % NS);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int syn_rate_parse(const char *s, uint64_t *out)
{
	const char *p;
	char *end;
	double v, mult = 1;

	*out = 0;
	if (!s || !*s || (*s < '0' || *s > '9'))
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (errno || !(v >= 0 && v <= 1e15))
		goto bad;
	p = end;
	switch (*p) {
	case 'k': case 'K': mult = 1024.0; p++; break;
	case 'm': case 'M': mult = 1024.0 * 1024; p++; break;
	case 'g': case 'G': mult = 1024.0 * 1024 * 1024; p++; break;
	default: break;
	}
	if (mult > 1 && *p == 'i')
		p++;
	if (*p == 'B')
		p++;
	if (!strcmp(p, "/s"))
		p += 2;
	if (*p)
		goto bad;
	v *= mult;
	if (v > 1e15 || (v > 0 && v < 1))
		goto bad;
	*out = (uint64_t)v;
	return 0;
bad:
	return syn_error_set(SYN_EINVALID, "invalid rate '%s': give bytes per second, e.g. 10M, 500k or 0 for no "
			     "limit", s ? s : "");
}
