/* A progress bar on stderr for the operations that transfer files. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define BAR_FILES 64

struct cli_bar {
	pthread_mutex_t mu;
	struct { const char *id; uint64_t done, total; } files[BAR_FILES];
	int nfiles;
	struct timespec start, last;
	bool drawn;
};

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

void cli_size(char *out, size_t size, double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void bar_progress(const char *dep, const char *file, uint64_t done, uint64_t total, void *payload)
{
	struct cli_bar *b = payload;
	uint64_t sum = 0, all = 0;
	char d[32], t[32], r[32], eta[32] = "";
	double secs, rate;
	int i, width = 30, fill;

	(void)file;
	pthread_mutex_lock(&b->mu);
	for (i = 0; i < b->nfiles && strcmp(b->files[i].id, dep); i++)
		;
	if (i == b->nfiles && b->nfiles < BAR_FILES)
		b->files[b->nfiles++].id = dep;
	if (i < BAR_FILES) {
		b->files[i].done = done;
		b->files[i].total = total;
	}
	if (seconds_since(&b->last) < 0.1 && done != total)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &b->last);
	for (i = 0; i < b->nfiles; i++) {
		sum += b->files[i].done;
		all += b->files[i].total;
	}
	secs = seconds_since(&b->start);
	rate = secs > 0 ? (double)sum / secs : 0;
	cli_size(d, sizeof(d), (double)sum);
	cli_size(t, sizeof(t), (double)all);
	cli_size(r, sizeof(r), rate);
	if (rate > 0 && all > sum)
		snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(all - sum) / rate);
	fill = all ? (int)((double)sum / (double)all * width) : 0;
	fprintf(stderr, "\r[%.*s%*s] %s / %s  %s/s%s   ", fill, "##############################", width - fill, "",
		d, t, r, eta);
	b->drawn = true;
out:
	pthread_mutex_unlock(&b->mu);
}

struct cli_bar *cli_bar_start(struct syn_progress *progress)
{
	struct cli_bar *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	pthread_mutex_init(&b->mu, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b->start);
	progress->fn = bar_progress;
	progress->payload = b;
	return b;
}

void cli_bar_end(struct cli_bar *b)
{
	if (!b)
		return;
	if (b->drawn)
		fputc('\n', stderr);
	pthread_mutex_destroy(&b->mu);
	free(b);
}
