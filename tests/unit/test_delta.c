/* Tests of views changed link by link: a delta equals a full build, kill -9 in the middle, the pack digest cache. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "packs.h"

#define MAX_FILES 3

static const char *const two_uis[] = { "comfyui", "forge" };

/* ---- packs written by hand ------------------------------------------------- */

/* Insert the blob holding @content; its hash in @sha. */
static void put_blob(const char *content, char sha[65])
{
	char *path = test_path("blob.tmp"), got[65];

	ck_assert_int_eq(syn_sha256_mem(sha, content, strlen(content)), 0);
	test_write_file(path, content, strlen(content));
	ck_assert_msg(syn_blob_insert_file(test_store, path, sha, got) == 0, "%s", syn_error_last());
	free(path);
}

/*
 * Write pack @name's pack.json and lock.json: file i of kind @kinds[i]
 * exposed as @files[i], locked to the blob of @contents[i] (inserted).
 * The profile is not touched.
 */
static void write_pack(const char *name, size_t n, const char *const *files, const char *const *kinds,
		       const char *const *contents, bool insert)
{
	json_t *deps = json_array(), *resolved = json_array(), *pack, *lock;
	int fd = syn_store_state_fd(test_store);
	char rel[512];
	size_t i;

	for (i = 0; i < n; i++) {
		char id[32], sha[65];

		snprintf(id, sizeof(id), "file_%zu", i);
		if (insert)
			put_blob(contents[i], sha);
		else
			ck_assert_int_eq(syn_sha256_mem(sha, contents[i], strlen(contents[i])), 0);
		json_array_append_new(deps, json_pack("{s:s, s:s, s:b, s:{s:s, s:[]}, s:{s:s}, s:{s:s}}", "id", id,
			"kind", kinds[i], "required", 1, "expose", "filename", files[i], "trigger_words", "selector",
			"strategy", "url_download", "update_policy", "mode", "pinned"));
		json_array_append_new(resolved, json_pack("{s:s, s:{s:s, s:s, s:i, s:{s:s}, s:{s:[]}, s:{s:b}}}",
			"dependency_id", id, "artifact", "kind", kinds[i], "sha256", sha, "size_bytes", 10, "provider",
			"name", "url", "download", "urls", "integrity", "sha256_verified", 1));
	}
	pack = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "schema", "synapse.pack.v2", "name", name, "pack_type",
			 kinds[0], "source", "provider", "local", "dependencies", deps);
	lock = json_pack("{s:s, s:s, s:o, s:[]}", "schema", "synapse.lock.v2", "pack", name, "resolved", resolved,
			 "unresolved");
	snprintf(rel, sizeof(rel), "packs/%s/pack.json", name);
	ck_assert_int_eq(syn_doc_write(fd, rel, pack), 0);
	snprintf(rel, sizeof(rel), "packs/%s/lock.json", name);
	ck_assert_int_eq(syn_doc_write(fd, rel, lock), 0);
	json_decref(pack);
	json_decref(lock);
}

/* Set the global profile's packs to @names (@n of them), in order. */
static void set_profile(const char *const *names, size_t n)
{
	json_t *global = NULL, *packs = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(packs, json_pack("{s:s}", "name", names[i]));
	ck_assert_int_eq(syn_profile_show(test_store, "global", &global), 0);
	json_object_set_new(global, "packs", packs);
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "profiles/global/profile.json", global), 0);
	json_decref(global);
}

/* Commit what changed under state/, as every command does. */
static void commit(void)
{
	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_msg(syn_state_commit(test_store, "test step", NULL) == 0, "%s", syn_error_last());
	syn_store_unlock(test_store);
}

/* Rewrite pack.json of @name in place (same inode), its dependency @dep exposed as @fname. */
static void hand_edit(const char *name, size_t dep, const char *fname)
{
	char rel[512], *path, *text;
	json_t *pack;

	snprintf(rel, sizeof(rel), "store/state/packs/%s/pack.json", name);
	path = test_path(rel);
	pack = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(pack);
	json_object_set_new(json_object_get(json_array_get(json_object_get(pack, "dependencies"), dep), "expose"),
			    "filename", json_string(fname));
	text = json_dumps(pack, JSON_INDENT(1));
	test_write_file(path, text, strlen(text));
	free(text);
	json_decref(pack);
	free(path);
}

/* ---- trees ------------------------------------------------------------------ */

/*
 * What the tree at @root holds, one line per entry, sorted: "d <path>" for
 * a folder, "l <path> -> <target>" for a link, "f <path>" for anything
 * else; the view's own .synapse-* documents left out.
 */
static void walk(struct syn_buf *out, const char *root, const char *rel)
{
	struct dirent **ents;
	char path[PATH_MAX];
	int n, i;

	snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
	n = scandir(path, &ents, NULL, alphasort);
	ck_assert_msg(n >= 0, "scandir %s: %s", path, strerror(errno));
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char sub[PATH_MAX], full[2 * PATH_MAX], target[PATH_MAX];
		struct stat sb;
		ssize_t len;

		if (!strcmp(name, ".") || !strcmp(name, "..") || (!rel[0] && !strncmp(name, ".synapse-", 9))) {
			free(ents[i]);
			continue;
		}
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", name);
		snprintf(full, sizeof(full), "%s/%s", root, sub);
		ck_assert_int_eq(lstat(full, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			syn_buf_printf(out, "d %s\n", sub);
			walk(out, root, sub);
		} else if (S_ISLNK(sb.st_mode)) {
			len = readlink(full, target, sizeof(target) - 1);
			ck_assert_int_gt(len, 0);
			target[len] = '\0';
			syn_buf_printf(out, "l %s -> %s\n", sub, target);
		} else {
			syn_buf_printf(out, "f %s\n", sub);
		}
		free(ents[i]);
	}
	free(ents);
}

static char *view_root(const char *ui)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "store/data/views/%s/profiles/global", ui);
	return test_path(rel);
}

static char *snapshot(const char *ui)
{
	struct syn_buf out = SYN_BUF_INIT;
	char *root = view_root(ui);

	syn_buf_puts(&out, "");
	walk(&out, root, "");
	free(root);
	return syn_buf_detach(&out);
}

/* The first line where @a (the @a_name) and @b (the @b_name) differ, for a failure message (static buffer). */
static const char *first_diff(const char *a, const char *b, const char *a_name, const char *b_name)
{
	static char msg[2048];
	const char *la = a, *lb = b;

	while (*la && *lb) {
		const char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');

		if (ea - la != eb - lb || memcmp(la, lb, (size_t)(ea - la)))
			break;
		la = ea + 1;
		lb = eb + 1;
	}
	snprintf(msg, sizeof(msg), "first difference:\n  %s: %.*s\n  %s: %.*s", a_name,
		 (int)(strchr(la, '\n') ? strchr(la, '\n') - la : (ptrdiff_t)strlen(la)), la, b_name,
		 (int)(strchr(lb, '\n') ? strchr(lb, '\n') - lb : (ptrdiff_t)strlen(lb)), lb);
	return msg;
}

/* The links of snapshot @snap as sorted "<path> <sha256 the target names>" lines. */
static char *links_of(const char *snap)
{
	struct syn_buf out = SYN_BUF_INIT;
	const char *p;

	syn_buf_puts(&out, "");
	for (p = snap; *p; p = strchr(p, '\n') + 1) {
		const char *arrow, *eol = strchr(p, '\n'), *slash;

		if (p[0] != 'l')
			continue;
		arrow = strstr(p, " -> ");
		slash = eol;
		while (slash > arrow && slash[-1] != '/')
			slash--;
		syn_buf_printf(&out, "%.*s %.*s\n", (int)(arrow - p - 2), p + 2, (int)(eol - slash), slash);
	}
	return syn_buf_detach(&out);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of @plan in the form of links_of(): what its tree must link. */
static char *links_of_plan(const json_t *plan)
{
	const json_t *entries = json_object_get(plan, "entries");
	size_t n = json_array_size(entries), i;
	char **lines = calloc(n + 1, sizeof(*lines));
	struct syn_buf out = SYN_BUF_INIT;

	syn_buf_puts(&out, "");
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(entries, i);

		ck_assert_int_ge(asprintf(&lines[i], "%s %s\n", json_string_value(json_object_get(e, "dst_relpath")),
					  json_string_value(json_object_get(e, "sha256"))), 0);
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n; i++) {
		syn_buf_puts(&out, lines[i]);
		free(lines[i]);
	}
	free(lines);
	return syn_buf_detach(&out);
}

/* The target of link @path in snapshot @snap ("" when it has none there), in @out. */
static void target_in(const char *snap, const char *path, char *out, size_t size)
{
	size_t plen = strlen(path);
	const char *p;

	out[0] = '\0';
	for (p = snap; *p; p = strchr(p, '\n') + 1)
		if (p[0] == 'l' && !strncmp(p + 2, path, plen) && !strncmp(p + 2 + plen, " -> ", 4)) {
			const char *t = p + 2 + plen + 4;

			snprintf(out, size, "%.*s", (int)(strchr(t, '\n') - t), t);
			return;
		}
}

/* How many links differ between snapshots @a and @b: in one only, or with another target. */
static size_t links_changed(const char *a, const char *b)
{
	const char *snaps[2] = { a, b };
	size_t n = 0, s;
	const char *p;

	for (s = 0; s < 2; s++)
		for (p = snaps[s]; *p; p = strchr(p, '\n') + 1) {
			char path[PATH_MAX], mine[PATH_MAX], theirs[PATH_MAX];
			const char *arrow = strstr(p, " -> ");

			if (p[0] != 'l')
				continue;
			snprintf(path, sizeof(path), "%.*s", (int)(arrow - p - 2), p + 2);
			target_in(snaps[s], path, mine, sizeof(mine));
			target_in(snaps[1 - s], path, theirs, sizeof(theirs));
			/* a changed target is counted once, from the old snapshot */
			if (!theirs[0] || (s == 0 && strcmp(mine, theirs)))
				n++;
		}
	return n;
}

/* Whether @plan has an entry at @dst. */
static bool plan_has(const json_t *plan, const char *dst)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(plan, "entries"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "dst_relpath")), dst))
			return true;
	return false;
}

/* Build the global view of @ui (store lock held); the report. */
static json_t *build(const char *ui, bool force)
{
	json_t *report = NULL;

	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_msg(syn_view_build(test_store, ui, "global", force, &report) == 0, "%s build of %s: %s",
		      force ? "full" : "delta", ui, syn_error_last());
	syn_store_unlock(test_store);
	return report;
}

/* The tree of @ui's global view equals what @plan says and what a full build makes; @snap is the tree. */
static void assert_tree_is_the_plan(const char *ui, const char *snap, const json_t *plan, const char *when)
{
	char *have = links_of(snap), *want = links_of_plan(plan);

	ck_assert_msg(!strcmp(have, want), "%s, %s: the tree does not link what the plan says; %s", when, ui,
		      first_diff(have, want, "tree", "plan"));
	free(have);
	free(want);
}

static void assert_full_build_is(const char *ui, const char *snap, const char *when)
{
	json_t *report = build(ui, true);
	char *full = snapshot(ui);

	ck_assert(json_is_true(json_object_get(report, "rebuilt")));
	ck_assert_msg(!strcmp(snap, full), "%s, %s: the delta's tree is not the full build's; %s", when, ui,
		      first_diff(snap, full, "delta", "full build"));
	json_decref(report);
	free(full);
}

/* ---- 1. delta equals full rebuild ------------------------------------------- */

#define NPACKS 48

struct model_pack {
	bool alive;
	size_t n;
	char name[16];
	const char *files[MAX_FILES];
	const char *kinds[MAX_FILES];
	char *contents[MAX_FILES];
};

static const char *const kinds[] = { "lora", "checkpoint", "vae", "foo" };
static const char *const names[] = { "a.safetensors", "b.safetensors", "c.safetensors", "d.safetensors",
				     "e.ckpt", "f.pt" };
static const char *const hostile[] = { "../evil.safetensors", "../../../../evil.safetensors", "evil/x.safetensors",
				       ".evil.safetensors", "" };

static unsigned int seed_state;

static unsigned int rnd(unsigned int n)
{
	return (unsigned int)rand_r(&seed_state) % n;
}

/* The profile holds the alive packs in the order they were made. */
static void profile_of(const struct model_pack *packs)
{
	const char *list[NPACKS];
	size_t i, n = 0;

	for (i = 0; i < NPACKS; i++)
		if (packs[i].alive)
			list[n++] = packs[i].name;
	set_profile(list, n);
}

static void rewrite(const struct model_pack *p)
{
	write_pack(p->name, p->n, p->files, p->kinds, (const char *const *)p->contents, true);
}

/* A random alive pack, or NULL. */
static struct model_pack *some_pack(struct model_pack *packs)
{
	size_t alive[NPACKS], n = 0, i;

	for (i = 0; i < NPACKS; i++)
		if (packs[i].alive)
			alive[n++] = i;
	return n ? &packs[alive[rnd((unsigned int)n)]] : NULL;
}

/*
 * 150 random steps on one store (packs made, deleted, relocked, their blobs
 * removed and put back, their exposed names edited by hand), each followed
 * by a build without force of the global views of comfyui and forge: the
 * tree changed link by link links what the plan says, its report counts
 * the links that changed and says what the plan says, and every few steps
 * a full build of the same plan makes the same tree.
 */
START_TEST(a_delta_equals_a_full_build)
{
	struct model_pack packs[NPACKS];
	const char *env = getenv("SYN_TEST_SEED");
	unsigned int seed = env ? (unsigned int)strtoul(env, NULL, 0) : 20261202u;
	char *prev[2] = { NULL, NULL }, *views = test_path("store/data/views"), *evil = test_path("store/data/evil.safetensors");
	size_t made = 0, deltas = 0, fulls = 0, changed_total = 0, report_misses = 0;
	static char report_miss[2048];
	int step, u;

	fprintf(stderr, "a_delta_equals_a_full_build: seed %u (SYN_TEST_SEED overrides; SYN_TEST_VERBOSE=1 names "
		"every report that disagrees with its plan)\n", seed);
	seed_state = seed;
	memset(packs, 0, sizeof(packs));
	for (u = 0; u < 2; u++)
		prev[u] = snapshot(two_uis[u]);
	for (step = 0; step < 150; step++) {
		unsigned int op = rnd(100);
		struct model_pack *p = NULL;
		char what[256];
		bool doc_changed = true, api_built = false;
		size_t i;

		if (made < NPACKS && (op < 30 || made < 3)) {
			/* a new pack, its names often another's */
			struct model_pack *other = some_pack(packs);

			p = &packs[made];
			snprintf(p->name, sizeof(p->name), "P%02zu", made);
			made++;
			p->alive = true;
			p->n = 1 + rnd(MAX_FILES);
			for (i = 0; i < p->n; i++) {
				unsigned int how = rnd(4);

				p->files[i] = names[rnd(sizeof(names) / sizeof(names[0]))];
				p->kinds[i] = kinds[rnd(4)];
				if (how == 0 && other) {
					/* the same bytes under the same name as another pack's file */
					size_t k = rnd((unsigned int)other->n);

					p->files[i] = other->files[k];
					p->kinds[i] = other->kinds[k];
					p->contents[i] = strdup(other->contents[k]);
				} else {
					ck_assert_int_ge(asprintf(&p->contents[i], "%s:%zu:%u", p->name, i, rnd(1000)), 0);
				}
			}
			rewrite(p);
			profile_of(packs);
			snprintf(what, sizeof(what), "create %s", p->name);
		} else if (op < 42 && (p = some_pack(packs))) {
			json_t *r = NULL;

			p->alive = false;
			if (rnd(2)) {
				/* the command itself changes the views it touched */
				ck_assert_msg(syn_pack_delete(test_store, p->name, true, &r) == 0, "%s", syn_error_last());
				json_decref(r);
				api_built = true;
			} else {
				char rel[64];

				snprintf(rel, sizeof(rel), "packs/%s", p->name);
				ck_assert_int_eq(syn_fs_remove_tree(syn_store_state_fd(test_store), rel), 0);
				profile_of(packs);
			}
			snprintf(what, sizeof(what), "delete %s", p->name);
		} else if (op < 60 && (p = some_pack(packs))) {
			/* relock onto another pack's bytes, or new ones */
			struct model_pack *other = some_pack(packs);
			size_t k = rnd((unsigned int)p->n);

			char *was = p->contents[k];

			/* the other pack may be this one, and its file this file */
			if (rnd(3))
				p->contents[k] = strdup(other->contents[rnd((unsigned int)other->n)]);
			else
				ck_assert_int_ge(asprintf(&p->contents[k], "%s:%zu:r%u", p->name, k, rnd(100000)), 0);
			free(was);
			rewrite(p);
			snprintf(what, sizeof(what), "relock %s/file_%zu", p->name, k);
		} else if (op < 72 && (p = some_pack(packs))) {
			/* a blob leaves the store */
			size_t k = rnd((unsigned int)p->n);
			char sha[65];

			ck_assert_int_eq(syn_sha256_mem(sha, p->contents[k], strlen(p->contents[k])), 0);
			syn_blob_remove(test_store, sha);
			syn_error_clear();
			ck_assert(!syn_blob_exists(test_store, sha));
			doc_changed = false;
			snprintf(what, sizeof(what), "remove blob of %s/file_%zu", p->name, k);
		} else if (op < 80 && (p = some_pack(packs))) {
			/* and comes back */
			size_t k = rnd((unsigned int)p->n);
			char sha[65];

			put_blob(p->contents[k], sha);
			doc_changed = false;
			snprintf(what, sizeof(what), "re-add blob of %s/file_%zu", p->name, k);
		} else if ((p = some_pack(packs))) {
			/* a hand edit of an exposed name, in place; sometimes a hostile one */
			size_t k = rnd((unsigned int)p->n);

			p->files[k] = rnd(4) ? names[rnd(sizeof(names) / sizeof(names[0]))]
					     : hostile[rnd(sizeof(hostile) / sizeof(hostile[0]))];
			hand_edit(p->name, k, p->files[k]);
			snprintf(what, sizeof(what), "hand edit %s/file_%zu to '%s'", p->name, k, p->files[k]);
		} else {
			continue;
		}
		/* some documents settled (the digest cache trusts them), some just written */
		if (doc_changed && p->alive && rnd(2))
			test_backdate_pack(p->name);
		commit();
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " (step %d, seed %u)", step, seed);

		for (u = 0; u < 2; u++) {
			json_t *report = build(two_uis[u], false), *plan = NULL;
			char *snap = snapshot(two_uis[u]);
			bool miss;

			deltas++;
			ck_assert_msg(json_is_false(json_object_get(report, "rebuilt")), "%s: %s was rebuilt, not changed",
				      what, two_uis[u]);
			ck_assert_msg(syn_view_plan(test_store, two_uis[u], "global", &plan) == 0, "%s", syn_error_last());
			/* the report says what the plan says (checked to the end, then failed on the first miss) */
			miss = !json_equal(json_object_get(report, "shadowed"), json_object_get(plan, "shadowed")) ||
			       !json_equal(json_object_get(report, "missing_blobs"), json_object_get(plan, "missing_blobs"));
			if (miss && !report_miss[0]) {
				char *rs = json_dumps(json_object_get(report, "shadowed"), JSON_SORT_KEYS);
				char *ps = json_dumps(json_object_get(plan, "shadowed"), JSON_SORT_KEYS);
				char *rm = json_dumps(json_object_get(report, "missing_blobs"), JSON_SORT_KEYS);
				char *pm = json_dumps(json_object_get(plan, "missing_blobs"), JSON_SORT_KEYS);

				snprintf(report_miss, sizeof(report_miss), "%s, %s: the build report says shadowed %s, "
					 "missing_blobs %s; the plan says shadowed %s, missing_blobs %s", what, two_uis[u],
					 rs, rm, ps, pm);
				free(rs);
				free(ps);
				free(rm);
				free(pm);
			}
			if (miss && getenv("SYN_TEST_VERBOSE"))
				fprintf(stderr, "report disagrees with the plan: %s, %s\n", what, two_uis[u]);
			report_misses += miss;
			ck_assert_msg(api_built || (size_t)json_integer_value(json_object_get(report, "changed")) ==
							   links_changed(prev[u], snap),
				      "%s, %s: the report says %lld links changed, the tree %zu", what, two_uis[u],
				      (long long)json_integer_value(json_object_get(report, "changed")),
				      links_changed(prev[u], snap));
			changed_total += (size_t)json_integer_value(json_object_get(report, "changed"));
			assert_tree_is_the_plan(two_uis[u], snap, plan, what);
			/* every few steps the full build, made anew beside it, is the same tree */
			if (step % 4 == 3 || step == 149) {
				assert_full_build_is(two_uis[u], snap, what);
				fulls++;
			}
			free(prev[u]);
			prev[u] = snap;
			json_decref(plan);
			json_decref(report);
		}
		ck_assert_msg(test_count_named(views, "evil") == 0, "%s: a hostile name was linked", what);
		ck_assert(!test_exists(evil));
	}
	/* (the views of the other UIs are not kept up to date here) */
	for (u = 0; u < 2; u++) {
		char *root = view_root(two_uis[u]);

		dangling_links = 0;
		nftw(root, check_link, 32, FTW_PHYS);
		ck_assert_msg(dangling_links == 0, "%s: %d dangling links", two_uis[u], dangling_links);
		free(root);
	}
	fprintf(stderr, "a_delta_equals_a_full_build: %zu packs, %zu deltas (%zu links changed), %zu full builds\n",
		made, deltas, changed_total, fulls);
	ck_assert_uint_gt(changed_total, 100);
	ck_assert_msg(report_misses == 0, "every tree matched its plan and its full build, but %zu build reports "
		      "disagree with their plan; the first: %s", report_misses, report_miss);
	for (step = 0; step < NPACKS; step++)
		for (u = 0; u < MAX_FILES; u++)
			free(packs[step].contents[u]);
	free(prev[0]);
	free(prev[1]);
	free(views);
	free(evil);
}
END_TEST

/* The record views/@ui/profiles/global keeps of its tree: its manifest, and the lists of its metadata. */
static char *record_of(const char *ui)
{
	char rel[256], *path, *manifest, *lists_text, *out;
	json_t *meta, *lists;
	size_t len;

	snprintf(rel, sizeof(rel), "store/data/views/%s/profiles/global/.synapse-entries", ui);
	path = test_path(rel);
	manifest = test_read_record(path, &len);
	ck_assert_ptr_nonnull(manifest);
	free(path);
	snprintf(rel, sizeof(rel), "store/data/views/%s/profiles/global/.synapse-view", ui);
	path = test_path(rel);
	meta = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(meta);
	lists = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "plan", json_object_get(meta, "plan"), "entries",
			  json_object_get(meta, "entries"), "shadowed", json_object_get(meta, "shadowed"),
			  "shadowed_blobs", json_object_get(meta, "shadowed_blobs"), "missing_blobs",
			  json_object_get(meta, "missing_blobs"), "errors", json_object_get(meta, "errors"));
	ck_assert_ptr_nonnull(lists);
	lists_text = json_dumps(lists, JSON_INDENT(1));
	ck_assert_int_ge(asprintf(&out, "%s\n%s", manifest, lists_text), 0);
	free(lists_text);
	json_decref(lists);
	json_decref(meta);
	free(manifest);
	free(path);
	return out;
}

/*
 * 120 random steps (packs made, deleted by hand, relocked, renamed by hand,
 * moved in the profile, their blobs put back), each read by a plan as
 * status reads them, then a command that changes one other pack: its
 * refresh of the views, taking the other packs from what the views
 * recorded, writes the tree and the record (manifest, shadows, missing
 * blobs, errors) a full build writes.
 */
START_TEST(a_command_that_changes_one_pack_writes_the_record_a_full_build_writes)
{
	struct model_pack packs[NPACKS];
	const char *env = getenv("SYN_TEST_SEED");
	unsigned int seed = env ? (unsigned int)strtoul(env, NULL, 0) : 20261203u;
	const char *tfile[] = { "t.safetensors" }, *tkind[] = { "lora" };
	size_t made = 0, i;
	int step, u;

	fprintf(stderr, "a_command_that_changes_one_pack_writes_the_record_a_full_build_writes: seed %u\n", seed);
	seed_state = seed;
	memset(packs, 0, sizeof(packs));
	for (step = 0; step < 120; step++) {
		unsigned int op = rnd(100);
		struct model_pack *p = NULL;
		char what[256], tcontent[32];
		json_t *r = NULL;

		if (made < NPACKS && (op < 30 || made < 3)) {
			struct model_pack *other = some_pack(packs);

			p = &packs[made];
			snprintf(p->name, sizeof(p->name), "P%02zu", made);
			made++;
			p->alive = true;
			p->n = 1 + rnd(MAX_FILES);
			for (i = 0; i < p->n; i++) {
				p->files[i] = names[rnd(sizeof(names) / sizeof(names[0]))];
				p->kinds[i] = kinds[rnd(4)];
				if (rnd(4) == 0 && other) {
					size_t k = rnd((unsigned int)other->n);

					p->files[i] = other->files[k];
					p->kinds[i] = other->kinds[k];
					p->contents[i] = strdup(other->contents[k]);
				} else {
					ck_assert_int_ge(asprintf(&p->contents[i], "%s:%zu:%u", p->name, i, rnd(1000)), 0);
				}
			}
			/* now and then a blob that is not there yet */
			write_pack(p->name, p->n, p->files, p->kinds, (const char *const *)p->contents, rnd(5) != 0);
			profile_of(packs);
			snprintf(what, sizeof(what), "create %s", p->name);
		} else if (op < 40 && (p = some_pack(packs))) {
			char rel[64];

			p->alive = false;
			snprintf(rel, sizeof(rel), "packs/%s", p->name);
			ck_assert_int_eq(syn_fs_remove_tree(syn_store_state_fd(test_store), rel), 0);
			profile_of(packs);
			snprintf(what, sizeof(what), "delete %s by hand", p->name);
		} else if (op < 58 && (p = some_pack(packs))) {
			struct model_pack *other = some_pack(packs);
			size_t k = rnd((unsigned int)p->n);
			char *was = p->contents[k];

			if (rnd(3))
				p->contents[k] = strdup(other->contents[rnd((unsigned int)other->n)]);
			else
				ck_assert_int_ge(asprintf(&p->contents[k], "%s:%zu:r%u", p->name, k, rnd(100000)), 0);
			free(was);
			rewrite(p);
			snprintf(what, sizeof(what), "relock %s/file_%zu", p->name, k);
		} else if (op < 70 && (p = some_pack(packs))) {
			size_t k = rnd((unsigned int)p->n);
			char sha[65];

			put_blob(p->contents[k], sha);
			snprintf(what, sizeof(what), "put back the blob of %s/file_%zu", p->name, k);
		} else if (op < 80 && made > 2) {
			/* the profile's order changed by hand: the last pack made moves first */
			struct model_pack moved;

			memmove(&moved, &packs[made - 1], sizeof(moved));
			memmove(&packs[1], &packs[0], (made - 1) * sizeof(packs[0]));
			memcpy(&packs[0], &moved, sizeof(moved));
			profile_of(packs);
			snprintf(what, sizeof(what), "move %s first", packs[0].name);
		} else if ((p = some_pack(packs))) {
			size_t k = rnd((unsigned int)p->n);

			p->files[k] = rnd(4) ? names[rnd(sizeof(names) / sizeof(names[0]))]
					     : hostile[rnd(sizeof(hostile) / sizeof(hostile[0]))];
			hand_edit(p->name, k, p->files[k]);
			snprintf(what, sizeof(what), "hand edit %s/file_%zu to '%s'", p->name, k, p->files[k]);
		} else {
			continue;
		}
		if (p && p->alive && rnd(2))
			test_backdate_pack(p->name);
		/* a pack the command will delete, outside the profile */
		snprintf(tcontent, sizeof(tcontent), "T:%d", step);
		write_pack("T", 1, tfile, tkind, (const char *const[]){ tcontent }, true);
		commit();
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " (step %d, seed %u)", step, seed);
		/* read as status reads it, then the command */
		for (u = 0; u < 2; u++) {
			json_t *plan = NULL;

			ck_assert_int_eq(syn_view_plan(test_store, two_uis[u], "global", &plan), 0);
			json_decref(plan);
		}
		ck_assert_msg(syn_pack_delete(test_store, "T", true, &r) == 0, "%s: %s", what, syn_error_last());
		json_decref(r);
		for (u = 0; u < 2; u++) {
			char *snap = snapshot(two_uis[u]), *record = record_of(two_uis[u]), *full_record;
			json_t *plan = NULL;

			ck_assert_int_eq(syn_view_plan(test_store, two_uis[u], "global", &plan), 0);
			assert_tree_is_the_plan(two_uis[u], snap, plan, what);
			assert_full_build_is(two_uis[u], snap, what);
			full_record = record_of(two_uis[u]);
			ck_assert_msg(!strcmp(record, full_record), "%s, %s: the record is not a full build's; %s", what,
				      two_uis[u], first_diff(record, full_record, "command", "full build"));
			free(full_record);
			free(record);
			free(snap);
			json_decref(plan);
		}
	}
	for (step = 0; step < NPACKS; step++)
		for (u = 0; u < MAX_FILES; u++)
			free(packs[step].contents[u]);
}
END_TEST

/*
 * A blob the view does not link, because a later pack's file of the same
 * name shadows it, leaves the store: the plan no longer reports that
 * shadow and names the blob as missing; the next build's report must too.
 */
START_TEST(removing_a_shadowed_blob_changes_the_next_build_report)
{
	const char *file[] = { "x.safetensors" }, *kind[] = { "lora" }, *ca[] = { "A:x" }, *cb[] = { "B:x" };
	const char *list[] = { "A", "B" };
	json_t *report, *plan = NULL, *status = NULL;
	char sha[65];

	write_pack("A", 1, file, kind, ca, true);
	write_pack("B", 1, file, kind, cb, true);
	set_profile(list, 2);
	commit();
	report = build("comfyui", false);
	ck_assert_uint_eq(json_array_size(json_object_get(report, "shadowed")), 1);
	json_decref(report);
	ck_assert_int_eq(syn_sha256_mem(sha, "A:x", 3), 0);
	ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "shadowed")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(plan, "missing_blobs")), 1);
	report = build("comfyui", false);
	ck_assert_int_eq(syn_store_status(test_store, "comfyui", &status), 0);
	ck_assert_msg(json_equal(json_object_get(report, "shadowed"), json_object_get(plan, "shadowed")) &&
			      json_equal(json_object_get(report, "missing_blobs"), json_object_get(plan, "missing_blobs")),
		      "after removing the blob of A's shadowed x.safetensors, syn_view_build(force=false) reports "
		      "shadowed %s and missing_blobs %s; the plan says shadowed [] and missing_blobs [A/file_0]",
		      json_dumps(json_object_get(report, "shadowed"), JSON_COMPACT),
		      json_dumps(json_object_get(report, "missing_blobs"), JSON_COMPACT));
	json_decref(status);
	json_decref(report);
	json_decref(plan);
}
END_TEST

/* After a command changed packs: each UI's tree (not built again) links what the plan says, as a full build does. */
static void assert_views_follow(const char *when)
{
	size_t u;

	for (u = 0; u < 2; u++) {
		json_t *plan = NULL, *status = NULL;
		char *snap = snapshot(two_uis[u]);

		ck_assert_int_eq(syn_view_plan(test_store, two_uis[u], "global", &plan), 0);
		assert_tree_is_the_plan(two_uis[u], snap, plan, when);
		ck_assert_msg(syn_store_status(test_store, two_uis[u], &status) == 0, "%s", syn_error_last());
		ck_assert_msg(json_is_true(json_object_get(json_object_get(status, "in_sync"), two_uis[u])),
			      "%s, %s: out of sync: %s", when, two_uis[u], json_dumps(json_object_get(status, "notes"), 0));
		assert_full_build_is(two_uis[u], snap, when);
		json_decref(status);
		json_decref(plan);
		free(snap);
	}
}

/* Delete pack @name as the command does, its views changed as part of it. */
static void delete_pack(const char *name)
{
	json_t *r = NULL;

	ck_assert_msg(syn_pack_delete(test_store, name, true, &r) == 0, "%s", syn_error_last());
	json_decref(r);
}

/*
 * A command that changes one pack plans the views from what they recorded
 * each other pack gives them (.synapse-sources). What it takes from there
 * must still be what the packs give now: a hand edit another command has
 * read since, a blob found missing that has arrived, a damaged, short or
 * missing record all show in the views as a full build would make them.
 */
/* The path of the last piece record @path names (malloc'ed). */
static char *last_piece(const char *path)
{
	char **pieces, *last;
	size_t n = test_record_pieces(path, &pieces), i;

	ck_assert_uint_gt(n, 0);
	last = pieces[n - 1];
	for (i = 0; i + 1 < n; i++)
		free(pieces[i]);
	free(pieces);
	return last;
}

/* Make pack @name of one file (@files, @of_kinds, @contents), last in the profile after B, C and D; commit; delete it. */
static void add_and_delete(const char *name, const char *const *files, const char *const *of_kinds,
			   const char *const *contents)
{
	write_pack(name, 1, files, of_kinds, contents, true);
	set_profile((const char *[]){ "B", "C", "D", name }, 4);
	commit();
	delete_pack(name);
}

START_TEST(a_change_of_one_pack_takes_the_others_from_the_view_and_still_sees_what_changed)
{
	const char *fx[] = { "x.safetensors" }, *fy[] = { "y.safetensors" }, *fz[] = { "z.safetensors" };
	const char *lora[] = { "lora" }, *vae[] = { "vae" };
	const char *ca[] = { "A:x" }, *cb[] = { "B:x" }, *cc[] = { "C:z" }, *cd[] = { "D:y" }, *ce[] = { "E:y" };
	const char *list[] = { "A", "B", "C", "D", "E" };
	char *sources = test_path("store/data/views/comfyui/profiles/global/.synapse-sources"), sha[65], *text, *piece;
	char *views = test_path("store/data/views");
	json_t *plan = NULL;
	size_t len, i;

	write_pack("A", 1, fx, lora, ca, true);
	write_pack("B", 1, fx, lora, cb, true); /* shadows A's x.safetensors */
	write_pack("C", 1, fz, vae, cc, false); /* its blob is missing */
	write_pack("D", 1, fy, lora, cd, true);
	write_pack("E", 1, fy, vae, ce, true);
	set_profile(list, 5);
	test_backdate_pack("A");
	test_backdate_pack("B");
	test_backdate_pack("C");
	test_backdate_pack("D");
	test_backdate_pack("E");
	commit();
	json_decref(build("comfyui", false));
	json_decref(build("forge", false));
	ck_assert_msg(test_exists(sources), "a built view keeps what each pack gives it");
	assert_views_follow("built");

	/* a hand edit of D, read by a plan (as status reads it) before the next command */
	hand_edit("D", 0, "w.safetensors");
	test_backdate_pack("D");
	ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
	ck_assert(plan_has(plan, "models/loras/w.safetensors"));
	json_decref(plan);
	delete_pack("E");
	assert_views_follow("D edited by hand and read, then E deleted");

	/* C's blob arrives without C changing, then another pack's change */
	put_blob(cc[0], sha);
	delete_pack("A");
	assert_views_follow("C's blob arrived, then A deleted");

	/* a damaged record is not taken */
	piece = test_record_piece(sources, "\nc\t");
	ck_assert_ptr_nonnull(piece);
	text = test_read_file(piece, &len);
	ck_assert_ptr_nonnull(text);
	memcpy(strstr(text, "\nc\t") + 1, "c\t../../evil\t", 14);
	test_write_file(piece, text, len);
	free(text);
	free(piece);
	add_and_delete("F", fz, lora, ca);
	assert_views_follow("a damaged record, then F deleted");
	ck_assert_int_eq(test_count_named(views, "evil"), 0);

	/* nor one a crash left short at the end of a line: its last piece, then its index */
	for (i = 0; i < 2; i++) {
		char *path = i ? strdup(sources) : last_piece(sources);

		text = test_read_file(path, &len);
		ck_assert_ptr_nonnull(text);
		ck_assert(len > 1 && text[len - 1] == '\n');
		text[len - 1] = '\0';
		ck_assert_ptr_nonnull(strrchr(text, '\n'));
		test_write_file(path, text, (size_t)(strrchr(text, '\n') + 1 - text));
		free(text);
		free(path);
		add_and_delete("G", fz, lora, ca);
		assert_views_follow(i ? "an index cut short, then G deleted" : "a piece cut short, then G deleted");
	}

	/* nor one whose index names an empty piece (there, and as long as the index says) */
	{
		static const char empty_sha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
		char *index = test_read_file(sources, &len), *more, *piece_path;

		ck_assert_ptr_nonnull(index);
		ck_assert_int_ge(asprintf(&more, "%s%s 0\n", index, empty_sha), 0);
		test_write_file(sources, more, strlen(more));
		ck_assert_int_ge(asprintf(&piece_path, "%s.d/%s", sources, empty_sha), 0);
		test_write_file(piece_path, "", 0);
		free(piece_path);
		free(more);
		free(index);
		delete_pack("D");
		assert_views_follow("an index naming an empty piece, then D deleted");
	}

	/* nor a missing one */
	ck_assert_int_eq(unlink(sources), 0);
	delete_pack("B");
	assert_views_follow("no record, then B deleted");
	ck_assert_msg(test_exists(sources), "the record is written again");
	free(sources);
	free(views);
}
END_TEST

/* Each piece record @path names, as "<sha256> <inode>" lines (malloc'ed); their count in *@n. */
static char *pieces_and_inodes(const char *path, size_t *n)
{
	char **pieces, *out = strdup("");
	size_t i;

	ck_assert_ptr_nonnull(out);
	*n = test_record_pieces(path, &pieces);
	ck_assert_ptr_nonnull(pieces);
	for (i = 0; i < *n; i++) {
		struct stat sb;
		char *more;

		ck_assert_msg(stat(pieces[i], &sb) == 0, "%s is missing", pieces[i]);
		ck_assert_int_ge(asprintf(&more, "%s%s %llu\n", out, strrchr(pieces[i], '/') + 1,
					  (unsigned long long)sb.st_ino), 0);
		free(out);
		out = more;
		free(pieces[i]);
	}
	free(pieces);
	return out;
}

/* How many of the "<sha256> <inode>" lines of @now are not in @before: the pieces written anew. */
static size_t written_again(const char *before, const char *now)
{
	char *copy = strdup(now), *line, *save = NULL;
	size_t n = 0;

	ck_assert_ptr_nonnull(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		n += !strstr(before, line);
	free(copy);
	return n;
}

/*
 * A view's records are kept in pieces: a change of one pack in a large view
 * writes again the few pieces its lines fall in, not the whole record, and
 * what they read back as is what a full build writes.
 */
START_TEST(a_change_of_one_pack_writes_a_few_pieces_of_the_records)
{
	enum { BIG = 3000 };
	static const char *const records[] = { ".synapse-entries", ".synapse-sources" };
	const char **files = calloc(BIG, sizeof(*files)), **big_kinds = calloc(BIG, sizeof(*big_kinds));
	const char **contents = calloc(BIG, sizeof(*contents));
	const char *small[] = { "small.safetensors" }, *lora[] = { "lora" }, *one[] = { "small" };
	char *before[2], *full_record, *delta_record;
	size_t i, all;

	ck_assert(files && big_kinds && contents);
	for (i = 0; i < BIG; i++) {
		ck_assert_int_ge(asprintf((char **)&files[i], "big_%04zu.safetensors", i), 0);
		ck_assert_int_ge(asprintf((char **)&contents[i], "big content %zu", i), 0);
		big_kinds[i] = "lora";
	}
	write_pack("Big", BIG, files, big_kinds, contents, true);
	write_pack("Small", 1, small, lora, one, true);
	set_profile((const char *[]){ "Small", "Big" }, 2);
	commit();
	json_decref(build("comfyui", false));
	for (i = 0; i < 2; i++) {
		char rel[128], *path;

		snprintf(rel, sizeof(rel), "store/data/views/comfyui/profiles/global/%s", records[i]);
		path = test_path(rel);
		before[i] = pieces_and_inodes(path, &all);
		free(path);
	}

	delete_pack("Small");
	for (i = 0; i < 2; i++) {
		char rel[128], *path, *now, *dir;
		size_t fresh;

		snprintf(rel, sizeof(rel), "store/data/views/comfyui/profiles/global/%s", records[i]);
		path = test_path(rel);
		now = pieces_and_inodes(path, &all);
		fresh = written_again(before[i], now);
		ck_assert_msg(all >= 5 && fresh >= 1 && fresh <= 3, "%s: %zu of its %zu pieces written again",
			      records[i], fresh, all);
		/* the pieces the index no longer names are gone */
		ck_assert_int_ge(asprintf(&dir, "%s.d", path), 0);
		ck_assert_int_eq(test_count_named(dir, ""), (int)all + 1); /* and the folder itself */
		free(dir);
		free(now);
		free(path);
		free(before[i]);
	}
	delta_record = record_of("comfyui");
	json_decref(build("comfyui", true));
	full_record = record_of("comfyui");
	ck_assert_str_eq(delta_record, full_record);
	free(delta_record);
	free(full_record);
	for (i = 0; i < BIG; i++) {
		free((char *)files[i]);
		free((char *)contents[i]);
	}
	free(files);
	free(big_kinds);
	free(contents);
}
END_TEST

/*
 * A UI's folders change between two commands: what its view recorded each
 * pack gives it places the files in the old folders, so the next change of
 * a pack moves every file, as a full build places them.
 */
START_TEST(a_ui_whose_folders_changed_has_every_file_moved)
{
	const char *fx[] = { "x.safetensors" }, *fy[] = { "y.safetensors" }, *fz[] = { "z.safetensors" };
	const char *lora[] = { "lora" }, *vae[] = { "vae" };
	const char *ca[] = { "A:x" }, *cb[] = { "B:y" }, *cc[] = { "C:z" };
	char *views = test_path("store/data/views/comfyui/profiles/global");
	json_t *cfg = NULL, *plan = NULL;

	write_pack("A", 1, fx, lora, ca, true);
	write_pack("B", 1, fy, lora, cb, true);
	write_pack("C", 1, fz, vae, cc, true);
	set_profile((const char *[]){ "A", "B", "C" }, 3);
	commit();
	json_decref(build("comfyui", false));
	json_decref(build("forge", false));
	assert_views_follow("built");

	ck_assert_int_eq(syn_store_config(test_store, &cfg), 0);
	json_object_set_new(json_object_get(json_object_get(json_object_get(cfg, "ui"), "kind_map"), "comfyui"), "lora",
			    json_string("models/moved_loras"));
	ck_assert_int_eq(syn_doc_write(syn_store_state_fd(test_store), "config.json", cfg), 0);
	json_decref(cfg);
	commit();
	delete_pack("C");
	assert_views_follow("comfyui's lora folder moved, then C deleted");
	ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
	ck_assert(plan_has(plan, "models/moved_loras/x.safetensors"));
	ck_assert(plan_has(plan, "models/moved_loras/y.safetensors"));
	json_decref(plan);
	ck_assert_int_eq(test_count_named(views, "x.safetensors"), 1);
	free(views);
}
END_TEST

/* ---- 2. kill -9 in the middle of a delta ------------------------------------ */

#define MANY 120

static const char *kill_at; /* the record document whose write the child dies at */
static int kill_countdown;

static void die_at(const char *stage, const char *path)
{
	if (!strcmp(stage, "before-rename") && kill_at && strstr(path, kill_at) && --kill_countdown <= 0)
		raise(SIGKILL);
}

/*
 * Plan "a" holds all MANY packs on their first bytes; plan "b" every other
 * one, a quarter of all relocked onto other bytes (both in the store).
 * Only what differs from the other plan is written, unless @all.
 */
static void many_packs_plan(bool b, bool all)
{
	char *list[MANY];
	size_t i, n = 0;

	for (i = 0; i < MANY; i++) {
		char pack[16], file[32], content[64], sha[65];
		const char *f = file, *kind = i % 3 ? "lora" : "checkpoint", *c = content;

		snprintf(pack, sizeof(pack), "M%03zu", i);
		snprintf(file, sizeof(file), "%s.safetensors", pack);
		if (all) {
			snprintf(content, sizeof(content), "%s:second", pack);
			put_blob(content, sha);
		}
		snprintf(content, sizeof(content), "%s:%s", pack, b && i % 4 == 1 ? "second" : "first");
		if (all || i % 4 == 1)
			write_pack(pack, 1, &f, &kind, &c, all);
		if (!b || i % 2)
			list[n++] = strdup(pack);
	}
	/* the profile changes every time: no commit is needed for a build to notice */
	set_profile((const char *const *)list, n);
	for (i = 0; i < n; i++)
		free(list[i]);
	if (all)
		commit();
}

START_TEST(kill_9_in_the_middle_of_a_delta_is_out_of_date_then_repaired)
{
	static const char *const stages[] = { ".synapse-entries", ".synapse-sources", ".synapse-view" };
	unsigned int seed = 7u;
	char *marker = test_path("store/data/views/comfyui/profiles/global/.synapse-delta");
	json_t *report;
	int round, marked = 0, unmarked = 0, midway = 0;
	struct timespec t0, t1;
	long span_ns = 0;

	many_packs_plan(false, true);
	report = build("comfyui", false);
	ck_assert_int_ge(json_integer_value(json_object_get(report, "changed")), MANY);
	json_decref(report);
	setenv("SYNAPSE_LOCK_TIMEOUT", "5", 1);
	for (round = 0; round < 11; round++) {
		json_t *status = NULL, *plan = NULL, *r = NULL;
		char *snap, *have, *want, *notes, *full;
		bool present, equal, finished;
		int wstatus, rc;
		pid_t pid;

		/* from the one plan to the other: half the links go, a quarter change bytes */
		many_packs_plan(round % 2 == 0, false);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			json_t *cr = NULL;

			if (round < 3) {
				/* the first rounds die writing each record document in turn, after every link changed */
				kill_at = stages[round];
				kill_countdown = 1;
				syn_fs_set_fault_hook(die_at);
			}
			if (syn_store_lock(test_store, "child"))
				_exit(3);
			if (syn_view_build(test_store, "comfyui", "global", false, &cr))
				_exit(4);
			_exit(0);
		}
		if (round > 3) {
			/* the later ones at a moment spread over how long round 3 took, so some land mid-way */
			long ns = span_ns * (round - 3) / 8 + (long)(rand_r(&seed) % 200) * 1000L;
			struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
		}
		ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
		if (round == 3) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			span_ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
		}
		finished = WIFEXITED(wstatus);
		ck_assert_msg(!finished || WEXITSTATUS(wstatus) == 0, "the child failed: %d", WEXITSTATUS(wstatus));
		ck_assert_msg(finished || (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL), "child: %d", wstatus);
		present = test_exists(marker);
		if (round < 3)
			ck_assert_msg(present && !finished, "round %d: killed at %s without the marker", round,
				      stages[round]);
		present ? marked++ : unmarked++;

		snap = snapshot("comfyui");
		ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
		have = links_of(snap);
		want = links_of_plan(plan);
		equal = !strcmp(have, want);
		/* neither the old tree nor the new: killed between two link changes */
		midway += present && !equal && round > 3;
		ck_assert_msg(syn_store_status(test_store, "comfyui", &status) == 0, "%s", syn_error_last());
		notes = json_dumps(json_object_get(status, "notes"), 0);
		if (present || !equal) {
			ck_assert_msg(json_is_false(json_object_get(json_object_get(status, "in_sync"), "comfyui")),
				      "round %d (marker %d, tree as planned %d): in sync", round, present, equal);
			ck_assert_msg(strstr(notes, "comfyui") && strstr(notes, "out of date"),
				      "round %d: no 'out of date' note: %s", round, notes);
		} else if (finished) {
			ck_assert_msg(json_is_true(json_object_get(json_object_get(status, "in_sync"), "comfyui")),
				      "round %d: a finished delta is out of sync: %s", round, notes);
		}
		ck_assert_int_eq(count_dangling(), 0);
		free(notes);
		json_decref(status);
		free(snap);
		free(have);
		free(want);
		json_decref(plan);

		/* doctor repairs it: the tree is a fresh full build's, status in sync */
		rc = syn_doctor(test_store, NULL, true, false, &r);
		ck_assert_msg(rc == 0 || rc == SYN_ECORRUPT, "%s", syn_error_last());
		ck_assert_ptr_nonnull(r);
		json_decref(r);
		ck_assert(!test_exists(marker));
		ck_assert_int_eq(syn_store_status(test_store, "comfyui", &status), 0);
		ck_assert_msg(json_is_true(json_object_get(json_object_get(status, "in_sync"), "comfyui")),
			      "round %d: out of sync after doctor: %s", round,
			      json_dumps(json_object_get(status, "notes"), 0));
		json_decref(status);
		snap = snapshot("comfyui");
		ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
		assert_tree_is_the_plan("comfyui", snap, plan, "after doctor");
		json_decref(plan);
		full = snap;
		assert_full_build_is("comfyui", full, "after doctor");
		free(snap);
	}
	fprintf(stderr, "kill_9_in_the_middle_of_a_delta: %d rounds ended with the marker, %d without, "
		"%d killed during the link changes (round 3 took %ld us)\n", marked, unmarked, midway, span_ns / 1000);
	free(marker);
}
END_TEST

/* ---- 3. the digest cache ------------------------------------------------------ */

static void three_packs(void)
{
	const char *files[] = { "a.safetensors", "shared.safetensors" }, *k2[] = { "lora", "lora" };
	const char *c1[] = { "X:a", "X:shared" }, *c2[] = { "Y:a", "Y:shared" }, *c3[] = { "Z:vae" };
	const char *f3[] = { "v.safetensors" }, *k3[] = { "vae" };
	const char *list[] = { "X", "Y", "Z" };

	write_pack("X", 2, files, k2, c1, true);
	write_pack("Y", 2, files, k2, c2, true);
	write_pack("Z", 1, f3, k3, c3, true);
	set_profile(list, 3);
	test_backdate_pack("X");
	test_backdate_pack("Y");
	test_backdate_pack("Z");
	commit();
}

/* A plan of the global profile for comfyui through a new store handle (so a fresh read of the cache). */
static json_t *fresh_plan(void)
{
	struct syn_store *st;
	char *root = test_path("store");
	json_t *plan = NULL;

	ck_assert_int_eq(syn_store_open(&st, test_reg, root), 0);
	ck_assert_msg(syn_view_plan(st, "comfyui", "global", &plan) == 0, "%s", syn_error_last());
	syn_store_free(st);
	free(root);
	return plan;
}

static char *cache_path(void)
{
	return test_path("store/data/cache/packs.digest");
}

START_TEST(a_damaged_digest_cache_is_ignored)
{
	char *path = cache_path(), *good, *bad;
	size_t len, i;
	json_t *ref, *plan;

	three_packs();
	ref = fresh_plan();
	ck_assert_uint_eq(json_array_size(json_object_get(ref, "entries")), 3);
	ck_assert_uint_eq(json_array_size(json_object_get(ref, "shadowed")), 2);
	json_decref(fresh_plan()); /* settled documents: their digests are in the cache now */
	good = test_read_file(path, &len);
	ck_assert_ptr_nonnull(good);
	ck_assert_ptr_nonnull(strstr(good, "p\tY\t"));
	for (i = 0; i < 8; i++) {
		size_t blen = len;

		bad = malloc(len + 64);
		memcpy(bad, good, len);
		switch (i) {
		case 0: blen = len / 2; break;                              /* cut in the middle */
		case 1: blen = len - 1; break;                              /* its last newline gone */
		case 2: blen = 0; break;                                    /* empty */
		case 3: memset(bad, 'g', len); break;                       /* garbage */
		case 4: blen = (size_t)(strchr(good, '\n') + 1 - good); break; /* the header alone */
		case 5: bad[strlen("synapse-pack-digest ")] = '9'; break;   /* another version */
		case 6: {                                                    /* a record line with a field too many */
			char *e = strstr(bad, "\ne\t");

			ck_assert_ptr_nonnull(e);
			memmove(e + 3 + 2, e + 3, len - (size_t)(e + 3 - bad));
			memcpy(e + 3, "x\t", 2);
			blen = len + 2;
			break;
		}
		default: {                                                   /* a record's name line broken */
			char *pl = strstr(bad, "\np\t");

			ck_assert_ptr_nonnull(pl);
			pl[2] = ' ';
			break;
		}
		}
		test_write_file(path, bad, blen);
		plan = fresh_plan();
		ck_assert_msg(json_equal(plan, ref), "damage %zu: plan %s, not %s", i, json_dumps(plan, 0),
			      json_dumps(ref, 0));
		json_decref(plan);
		free(bad);
	}
	/* and the view, built through a damaged cache, is the plan's */
	test_write_file(path, good, len / 3);
	{
		json_t *r = build("comfyui", false);
		char *snap = snapshot("comfyui");

		assert_tree_is_the_plan("comfyui", snap, ref, "damaged cache");
		free(snap);
		json_decref(r);
	}
	json_decref(ref);
	free(good);
	free(path);
}
END_TEST

/*
 * Seal the batches of cache text @text again after an edit that kept every
 * length (each "end" line's checksum is syn_hash64() of its batch, in 16 hex digits).
 */
static void reseal(char *text, size_t len)
{
	char *batch = strchr(text, '\n') + 1, *line = batch, *tab;

	while (line < text + len) {
		char *nl = memchr(line, '\n', (size_t)(text + len - line));

		ck_assert_ptr_nonnull(nl);
		if (!strncmp(line, "end\t", 4)) {
			char hex[17];

			tab = memchr(line + 4, '\t', (size_t)(nl - line - 4));
			ck_assert_ptr_nonnull(tab);
			snprintf(hex, sizeof(hex), "%016llx",
				 (unsigned long long)syn_hash64(batch, (size_t)(line - batch)));
			ck_assert_int_eq(nl - tab - 1, 16);
			memcpy(tab + 1, hex, 16);
			batch = nl + 1;
		}
		line = nl + 1;
	}
}

START_TEST(settled_documents_come_from_the_cache_and_a_hand_edit_is_noticed)
{
	char *path = cache_path(), *text, *at;
	json_t *plan;
	size_t len;

	three_packs();
	json_decref(fresh_plan());
	text = test_read_file(path, &len);
	ck_assert_ptr_nonnull(text);
	/* change what the cache says Z exposes (same length), leaving its signature alone */
	at = strstr(text, "\tv.safetensors\t");
	ck_assert_msg(at != NULL, "Z's file is not in the cache: %s", text);
	memcpy(at + 1, "w", 1);
	reseal(text, len);
	test_write_file(path, text, len);
	plan = fresh_plan();
	ck_assert_msg(plan_has(plan, "models/vae/w.safetensors"), "the settled documents were read, not the cache: %s",
		      json_dumps(plan, 0));
	json_decref(plan);

	/* an edit in place that changes the size: read from the document */
	hand_edit("Z", 0, "renamed.safetensors");
	test_backdate_pack("Z"); /* even dated back, its size and mtime differ from the cache's */
	plan = fresh_plan();
	ck_assert_msg(plan_has(plan, "models/vae/renamed.safetensors"), "%s", json_dumps(plan, 0));
	ck_assert(!plan_has(plan, "models/vae/w.safetensors"));
	json_decref(plan);
	/* the same within one handle: the test's own store saw the old digest before */
	hand_edit("Z", 0, "again.safetensors");
	ck_assert_int_eq(syn_view_plan(test_store, "comfyui", "global", &plan), 0);
	ck_assert_msg(plan_has(plan, "models/vae/again.safetensors"), "%s", json_dumps(plan, 0));
	json_decref(plan);
	free(text);
	free(path);
}
END_TEST

/*
 * A store of enough packs that their digests are checked on every core
 * first (syn__digest_prefetch()): the plan is every pack's, and a pack
 * edited in place, even dated back, is read from its documents.
 */
START_TEST(digests_checked_on_every_core_still_notice_a_hand_edit)
{
	enum { N = 300 };
	char *list[N];
	char dst[64];
	json_t *plan;
	size_t i;

	for (i = 0; i < N; i++) {
		char pack[16], file[32], content[32];
		const char *f = file, *kind = "lora", *c = content;

		snprintf(pack, sizeof(pack), "P%03zu", i);
		snprintf(file, sizeof(file), "%s.safetensors", pack);
		snprintf(content, sizeof(content), "%s:bytes", pack);
		write_pack(pack, 1, &f, &kind, &c, true);
		test_backdate_pack(pack);
		list[i] = strdup(pack);
	}
	set_profile((const char *const *)list, N);
	commit();
	for (i = 0; i < 2; i++) { /* the first fills the cache, the second is checked from it */
		size_t k;

		plan = fresh_plan();
		ck_assert_uint_eq(json_array_size(json_object_get(plan, "entries")), N);
		for (k = 0; k < N; k += 37) {
			snprintf(dst, sizeof(dst), "models/loras/P%03zu.safetensors", k);
			ck_assert_msg(plan_has(plan, dst), "%s is not planned", dst);
		}
		json_decref(plan);
	}
	hand_edit("P150", 0, "edited.safetensors");
	test_backdate_pack("P150");
	plan = fresh_plan();
	ck_assert(plan_has(plan, "models/loras/edited.safetensors"));
	ck_assert(!plan_has(plan, "models/loras/P150.safetensors"));
	ck_assert(plan_has(plan, "models/loras/P151.safetensors"));
	json_decref(plan);
	for (i = 0; i < N; i++)
		free(list[i]);
}
END_TEST

START_TEST(a_change_of_one_pack_appends_its_record_and_a_cut_append_is_dropped)
{
	char *path = cache_path(), *before, *after, *text, *at;
	size_t blen, alen, len;
	json_t *plan;

	three_packs();
	json_decref(fresh_plan());
	before = test_read_file(path, &blen);
	ck_assert_ptr_nonnull(before);
	/* one pack changes: its record is appended, the file before it stays as it was */
	hand_edit("Z", 0, "renamed.safetensors");
	test_backdate_pack("Z");
	json_decref(fresh_plan());
	after = test_read_file(path, &alen);
	ck_assert_uint_gt(alen, blen);
	ck_assert_int_eq(memcmp(before, after, blen), 0);
	ck_assert_ptr_nonnull(strstr(after + blen, "p\tZ\t"));
	ck_assert_ptr_null(strstr(after + blen, "p\tX\t"));

	/* what the file says of Z is its last record: prove it by changing that one, sealed again */
	text = test_read_file(path, &len);
	at = strstr(text + blen, "\trenamed.safetensors\t");
	ck_assert_msg(at != NULL, "Z's new record is not in the appended batch: %s", text + blen);
	memcpy(at + 1, "R", 1);
	reseal(text, len);
	/* ... then a batch cut short after it, as a command killed while appending leaves */
	{
		static const char tail[] = "p\tX\t0123456789abcdef\tlora";
		char *cut = malloc(len + sizeof(tail));

		memcpy(cut, text, len);
		memcpy(cut + len, tail, sizeof(tail) - 1);
		test_write_file(path, cut, len + sizeof(tail) - 1);
		free(cut);
	}
	plan = fresh_plan();
	ck_assert_msg(plan_has(plan, "models/vae/Renamed.safetensors"), "the whole batches were not read: %s",
		      json_dumps(plan, 0));
	json_decref(plan);
	/* the next write is the whole file again, with nothing of the cut batch */
	hand_edit("Z", 0, "third.safetensors");
	test_backdate_pack("Z");
	json_decref(fresh_plan());
	free(after);
	after = test_read_file(path, &alen);
	ck_assert_ptr_null(strstr(after, "0123456789abcdef\tlora"));
	ck_assert_ptr_nonnull(strstr(after, "\tthird.safetensors\t"));
	ck_assert_ptr_null(strstr(after, "\tRenamed.safetensors\t"));
	free(before);
	free(after);
	free(text);
	free(path);
}
END_TEST

START_TEST(a_deleted_pack_leaves_the_digest_cache)
{
	char *path = cache_path(), *text;
	json_t *plan, *r = NULL;
	size_t len;

	three_packs();
	json_decref(fresh_plan());
	ck_assert_msg(syn_pack_delete(test_store, "Z", true, &r) == 0, "%s", syn_error_last());
	json_decref(r);
	text = test_read_file(path, &len);
	ck_assert_ptr_nonnull(strstr(text, "\nx\tZ\n"));
	free(text);
	plan = fresh_plan();
	ck_assert(!plan_has(plan, "models/vae/v.safetensors"));
	json_decref(plan);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("delta");

	TEST(s, a_delta_equals_a_full_build, store_setup, store_teardown);
	TEST(s, a_command_that_changes_one_pack_writes_the_record_a_full_build_writes, store_setup, store_teardown);
	TEST(s, removing_a_shadowed_blob_changes_the_next_build_report, store_setup, store_teardown);
	TEST(s, a_change_of_one_pack_takes_the_others_from_the_view_and_still_sees_what_changed, store_setup,
	     store_teardown);
	TEST(s, a_change_of_one_pack_writes_a_few_pieces_of_the_records, store_setup, store_teardown);
	TEST(s, a_ui_whose_folders_changed_has_every_file_moved, store_setup, store_teardown);
	TEST(s, kill_9_in_the_middle_of_a_delta_is_out_of_date_then_repaired, store_setup, store_teardown);
	TEST(s, a_damaged_digest_cache_is_ignored, store_setup, store_teardown);
	TEST(s, settled_documents_come_from_the_cache_and_a_hand_edit_is_noticed, store_setup, store_teardown);
	TEST(s, digests_checked_on_every_core_still_notice_a_hand_edit, store_setup, store_teardown);
	TEST(s, a_change_of_one_pack_appends_its_record_and_a_cut_append_is_dropped, store_setup, store_teardown);
	TEST(s, a_deleted_pack_leaves_the_digest_cache, store_setup, store_teardown);
	return test_main(s);
}
