/*
 * Progress on stderr for the operations that transfer files: one line per
 * file in flight (name, bar, bytes, rate, ETA) and a total line, redrawn in
 * place at most ten times a second. Only on a terminal (the caller checks).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define BAR_FILES 64
#define BAR_WIDTH 24
#define NAME_WIDTH 28

struct bar_file {
	const char *id;       /* the dependency id (borrowed for the operation's life) */
	char name[64];        /* the file name as shown */
	uint64_t done, total;
	uint64_t first;       /* bytes held when first seen (a resumed download) */
	struct timespec start;
};

struct cli_bar {
	pthread_mutex_t mu;
	struct bar_file files[BAR_FILES];
	int nfiles;
	int lines;            /* lines drawn last time, to move back over */
	struct timespec start, last;
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

/* One line: @label, a bar, done / total, the rate since @secs ago over @moved bytes, the ETA. */
static void draw_line(const char *label, uint64_t done, uint64_t total, uint64_t moved, double secs)
{
	static const char hashes[] = "########################";
	char d[32], t[32], r[32], eta[32] = "";
	double rate = secs > 0.05 ? (double)moved / secs : 0;
	int fill = total ? (int)((double)(done > total ? total : done) / (double)total * BAR_WIDTH) : 0;

	cli_size(d, sizeof(d), (double)done);
	cli_size(t, sizeof(t), (double)total);
	cli_size(r, sizeof(r), rate);
	if (done >= total && total)
		snprintf(eta, sizeof(eta), " done");
	else if (rate > 0 && total > done)
		snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(total - done) / rate);
	fprintf(stderr, "\033[2K%-*.*s [%.*s%*s] %s / %s  %s/s%s\n", NAME_WIDTH, NAME_WIDTH, label, fill, hashes,
		BAR_WIDTH - fill, "", d, t, r, eta);
}

static void bar_draw(struct cli_bar *b)
{
	uint64_t sum = 0, all = 0, moved = 0;
	int i;

	/* back to the first line drawn last time */
	if (b->lines)
		fprintf(stderr, "\033[%dA", b->lines);
	for (i = 0; i < b->nfiles; i++) {
		struct bar_file *f = &b->files[i];

		draw_line(f->name, f->done, f->total, f->done - f->first, seconds_since(&f->start));
		sum += f->done;
		all += f->total;
		moved += f->done - f->first;
	}
	draw_line(b->nfiles == 1 ? "total" : "total (all files)", sum, all, moved, seconds_since(&b->start));
	b->lines = b->nfiles + 1;
	fflush(stderr);
}

static void bar_progress(const char *dep, const char *file, uint64_t done, uint64_t total, void *payload)
{
	struct cli_bar *b = payload;
	struct bar_file *f = NULL;
	bool fresh = false;
	int i;

	pthread_mutex_lock(&b->mu);
	for (i = 0; i < b->nfiles; i++)
		if (!strcmp(b->files[i].id, dep))
			f = &b->files[i];
	if (!f && b->nfiles < BAR_FILES) {
		f = &b->files[b->nfiles++];
		f->id = dep;
		snprintf(f->name, sizeof(f->name), "%s", file ? file : dep);
		f->first = done;
		clock_gettime(CLOCK_MONOTONIC, &f->start);
		fresh = true;
	}
	if (f) {
		if (done < f->first)
			f->first = done; /* restarted from zero */
		f->done = done;
		f->total = total;
	}
	/* a new file or the end of one always shows; otherwise ten times a second */
	if (fresh || done == total || seconds_since(&b->last) >= 0.1) {
		clock_gettime(CLOCK_MONOTONIC, &b->last);
		bar_draw(b);
	}
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
	/* the last figures stay on the screen */
	if (b->lines)
		bar_draw(b);
	pthread_mutex_destroy(&b->mu);
	free(b);
}
