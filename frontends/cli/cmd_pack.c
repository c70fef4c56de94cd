/* Pack commands: import, list, show, resolve, install, delete, search. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void print_warnings(const json_t *warnings)
{
	json_t *w;
	size_t i;

	json_array_foreach(warnings, i, w)
		fprintf(stderr, "warning: %s\n", json_string_value(w));
}

static void render_import(struct cli *cli, const json_t *r)
{
	(void)cli;
	printf("%s pack: %s\n", json_is_true(json_object_get(r, "updated")) ? "Updated" : "Imported",
	       syn_doc_str(r, "pack_name", "?"));
	printf("  Type: %s\n  Dependencies: %lld\n  Previews: %lld image(s), %lld video(s)\n",
	       syn_doc_str(r, "pack_type", "?"), json_integer_value(json_object_get(r, "dependencies_count")),
	       json_integer_value(json_object_get(r, "previews_downloaded")),
	       json_integer_value(json_object_get(r, "videos_downloaded")));
	printf("Next: synapse install %s\n", syn_doc_str(r, "pack_name", "?"));
}

int cmd_import(struct cli *cli)
{
	struct syn_import_options o = { 0 };
	int64_t versions[CLI_MAX_VALUES];
	json_t *report;
	int i, rc;

	for (i = 0; i < cli->nvalues; i++) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(cli->values[i], &end, 10);
		if (errno || *end || v <= 0)
			return cli_usage_error(cli, "--version needs a version id (a positive number), not '%s'",
					       cli->values[i]);
		versions[i] = v;
	}
	o.version_ids = cli->nvalues ? versions : NULL;
	o.nversions = (size_t)cli->nvalues;
	o.name = cli_value(cli, "--name");
	o.no_previews = cli_has(cli, "--no-previews");
	o.no_add_global = cli_has(cli, "--no-add-global");
	if (!cli->json)
		fprintf(stderr, "Importing %s...\n", cli->pos[0]);
	rc = syn_pack_import(cli->store, cli->pos[0], &o, &report);
	if (rc)
		return cli_fail(cli);
	if (!cli->json)
		print_warnings(json_object_get(report, "warnings"));
	return cli_report(cli, report, render_import);
}

static void render_list(struct cli *cli, const json_t *r)
{
	json_t *packs = json_object_get(r, "packs"), *p;
	size_t i;

	(void)cli;
	if (!json_array_size(packs)) {
		printf("No packs yet. Import one with: synapse import <civitai-url>\n");
		return;
	}
	printf("%-4s %-40s %-12s %-5s %s\n", "#", "PACK", "TYPE", "DEPS", "INSTALLED");
	json_array_foreach(packs, i, p)
		printf("%-4zu %-40s %-12s %-5lld %s\n", i + 1, syn_doc_str(p, "name", "?"), syn_doc_str(p, "pack_type", "?"),
		       json_integer_value(json_object_get(p, "dependencies_count")),
		       json_object_get(p, "error") ? "error" : json_is_true(json_object_get(p, "installed")) ? "yes" : "no");
}

int cmd_list(struct cli *cli)
{
	json_t *report;

	if (syn_pack_list(cli->store, &report))
		return cli_fail(cli);
	return cli_report(cli, report, render_list);
}

static void render_show(struct cli *cli, const json_t *r)
{
	json_t *pack = json_object_get(r, "pack"), *src = json_object_get(pack, "source"), *d;
	size_t i;

	(void)cli;
	printf("%s (%s)\n", syn_doc_str(pack, "name", "?"), syn_doc_str(pack, "pack_type", "?"));
	if (json_string_value(json_object_get(pack, "version")))
		printf("  Version: %s\n", json_string_value(json_object_get(pack, "version")));
	if (json_string_value(json_object_get(pack, "base_model")))
		printf("  Base model: %s\n", json_string_value(json_object_get(pack, "base_model")));
	printf("  Source: %s model %lld %s\n", syn_doc_str(src, "provider", "?"),
	       json_integer_value(json_object_get(src, "model_id")), syn_doc_str(src, "url", ""));
	printf("\n  %-24s %-12s %-10s %s\n", "DEPENDENCY", "KIND", "STATUS", "FILE");
	json_array_foreach(json_object_get(r, "dependencies"), i, d)
		printf("  %-24s %-12s %-10s %s\n", syn_doc_str(d, "id", "?"), syn_doc_str(d, "kind", "?"),
		       syn_doc_str(d, "status", "?"), syn_doc_str(d, "filename", ""));
}

int cmd_show(struct cli *cli)
{
	json_t *report;

	if (syn_pack_show(cli->store, cli->pos[0], &report))
		return cli_fail(cli);
	return cli_report(cli, report, render_show);
}

static void render_resolve(struct cli *cli, const json_t *lock)
{
	json_t *e;
	size_t i;

	(void)cli;
	json_array_foreach(json_object_get(lock, "resolved"), i, e)
		printf("  %s: resolved %s\n", syn_doc_str(e, "dependency_id", "?"),
		       syn_doc_str(json_object_get(json_object_get(e, "artifact"), "provider"), "filename", ""));
	json_array_foreach(json_object_get(lock, "unresolved"), i, e)
		printf("  %s: unresolved (%s)\n", syn_doc_str(e, "dependency_id", "?"), syn_doc_str(e, "reason", "?"));
	printf("Resolved %zu dependency(ies)", json_array_size(json_object_get(lock, "resolved")));
	if (json_array_size(json_object_get(lock, "unresolved")))
		printf(", %zu unresolved", json_array_size(json_object_get(lock, "unresolved")));
	printf("\n");
}

int cmd_resolve(struct cli *cli)
{
	json_t *lock;

	if (syn_pack_resolve(cli->store, cli->pos[0], &lock))
		return cli_fail(cli);
	return cli_report(cli, lock, render_resolve);
}

/* ---- install progress ----------------------------------------------------- */

#define BAR_FILES 64

struct bar {
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

static void human(char *out, size_t size, double bytes)
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
	struct bar *b = payload;
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
	human(d, sizeof(d), (double)sum);
	human(t, sizeof(t), (double)all);
	human(r, sizeof(r), rate);
	if (rate > 0 && all > sum)
		snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(all - sum) / rate);
	fill = all ? (int)((double)sum / (double)all * width) : 0;
	fprintf(stderr, "\r[%.*s%*s] %s / %s  %s/s%s   ", fill, "##############################", width - fill, "",
		d, t, r, eta);
	b->drawn = true;
out:
	pthread_mutex_unlock(&b->mu);
}

static void render_install(struct cli *cli, const json_t *r)
{
	(void)cli;
	printf("Installed %lld blob(s) for %s: %zu downloaded, %zu already present\n",
	       json_integer_value(json_object_get(r, "blobs_installed")), syn_doc_str(r, "pack", "?"),
	       json_array_size(json_object_get(r, "downloaded")), json_array_size(json_object_get(r, "already_present")));
}

int cmd_install(struct cli *cli)
{
	struct bar bar = { .mu = PTHREAD_MUTEX_INITIALIZER };
	const char *jobs_s = cli_value(cli, "--jobs");
	unsigned long jobs = 4;
	bool tty = isatty(STDERR_FILENO) && !cli->json;
	json_t *report;
	int rc;

	if (jobs_s) {
		char *end;

		errno = 0;
		jobs = strtoul(jobs_s, &end, 10);
		if (errno || *end || jobs < 1 || jobs > 16)
			return cli_usage_error(cli, "--jobs needs a number from 1 to 16, not '%s'", jobs_s);
	}
	clock_gettime(CLOCK_MONOTONIC, &bar.start);
	rc = syn_pack_install(cli->store, cli->pos[0], (unsigned int)jobs, tty ? bar_progress : NULL, &bar, &report);
	if (bar.drawn)
		fputc('\n', stderr);
	if (rc)
		return cli_fail(cli);
	return cli_report(cli, report, render_install);
}

static void render_delete(struct cli *cli, const json_t *r)
{
	json_t *c = json_object_get(r, "cleanup");

	(void)cli;
	printf("Deleted pack: %s\n", syn_doc_str(r, "deleted", "?"));
	if (json_is_true(json_object_get(c, "removed_from_global")))
		printf("  removed from the global profile\n");
	if (json_is_true(json_object_get(c, "removed_work_profile")))
		printf("  removed its work profile\n");
	if (json_is_true(json_object_get(c, "removed_from_stacks")))
		printf("  removed from the UI profile stacks\n");
	printf("Its blobs stay in the store until you clean up orphans.\n");
	print_warnings(json_object_get(r, "warnings"));
}

int cmd_delete(struct cli *cli)
{
	json_t *report;

	if (syn_pack_delete(cli->store, cli->pos[0], cli_has(cli, "--force"), &report))
		return cli_fail(cli);
	return cli_report(cli, report, render_delete);
}

static void render_search(struct cli *cli, const json_t *r)
{
	json_t *items = json_object_get(r, "items"), *it, *m;
	size_t i, k;

	(void)cli;
	if (!json_array_size(items)) {
		printf("No results for '%s'\n", syn_doc_str(r, "query", ""));
		return;
	}
	printf("%-40s %-12s %-10s %s\n", "PACK", "TYPE", "PROVIDER", "MATCHED");
	json_array_foreach(items, i, it) {
		printf("%-40s %-12s %-10s ", syn_doc_str(it, "pack_name", "?"), syn_doc_str(it, "pack_type", "?"),
		       syn_doc_str(it, "provider", "?"));
		json_array_foreach(json_object_get(it, "matched"), k, m)
			printf("%s%s", k ? ", " : "", json_string_value(m));
		printf("\n");
	}
}

int cmd_search(struct cli *cli)
{
	json_t *report;

	if (syn_pack_search(cli->store, cli->pos[0], &report))
		return cli_fail(cli);
	return cli_report(cli, report, render_search);
}
