/* Tests of the state module: state/ as a git repository. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define GIT_BIN "/usr/bin/git"

extern char **environ;

/* "<test_dir>/store/state/<fmt...>" in a malloc'ed string. */
static char *state_path(const char *fmt, ...) SYN_PRINTF(1, 2);

static char *state_path(const char *fmt, ...)
{
	char *rel, *p;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&rel, fmt, ap), 0);
	va_end(ap);
	ck_assert_int_ge(asprintf(&p, "%s/%s", syn_store_state_root(test_store), rel), 0);
	free(rel);
	return p;
}

static void write_text(const char *path, const char *text)
{
	test_write_file(path, text, strlen(text));
}

/* Change a document the way a command would: rewrite config.json with a new key. */
static void touch_config(const char *key, json_int_t value)
{
	char *p = state_path("config.json");
	json_t *doc = json_load_file(p, 0, NULL);

	ck_assert_ptr_nonnull(doc);
	json_object_set_new(doc, key, json_integer(value));
	ck_assert_int_eq(json_dump_file(doc, p, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
	json_decref(doc);
	free(p);
}

/* Commit under the store lock; returns the commit id ("" when none was made) in @oid. */
static void commit(const char *message, char *oid)
{
	int rc;

	ck_assert_msg(syn_store_lock(test_store, "test") == 0, "lock: %s", syn_error_last());
	rc = syn_state_commit(test_store, message, oid);
	syn_store_unlock(test_store);
	ck_assert_msg(rc == 0, "commit '%s': %s", message, syn_error_last());
}

static json_t *history(size_t limit)
{
	json_t *h = NULL;

	ck_assert_msg(syn_state_history(test_store, limit, &h) == 0, "history: %s", syn_error_last());
	ck_assert(json_is_array(json_object_get(h, "commits")));
	return h;
}

static size_t history_len(void)
{
	json_t *h = history(0);
	size_t n = json_array_size(json_object_get(h, "commits"));

	json_decref(h);
	return n;
}

static const char *commit_field(const json_t *h, size_t i, const char *key)
{
	const char *v = json_string_value(json_object_get(json_array_get(json_object_get(h, "commits"), i), key));

	ck_assert_msg(v != NULL, "commit %zu has no '%s'", i, key);
	return v;
}

static bool is_hex_oid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 40;
}

/*
 * Run `git -C <state> <args...>` and return its stdout, or NULL when git is
 * not installed (the caller then skips that assertion).
 */
static char *git_out(const char *const *args)
{
	posix_spawn_file_actions_t fa;
	char *out = test_path("git.out"), *err = test_path("git.err"), *text;
	const char *argv[16];
	size_t n = 0, i;
	pid_t pid;
	int status;

	if (access(GIT_BIN, X_OK) != 0) {
		free(out);
		free(err);
		return NULL;
	}
	argv[n++] = "git";
	argv[n++] = "-C";
	argv[n++] = syn_store_state_root(test_store);
	for (i = 0; args[i]; i++) {
		ck_assert_uint_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(posix_spawn(&pid, GIT_BIN, &fa, NULL, (char *const *)argv, environ), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	posix_spawn_file_actions_destroy(&fa);
	text = test_read_file(err, NULL);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "git %s failed: %s", args[0], text);
	free(text);
	text = test_read_file(out, NULL);
	ck_assert_ptr_nonnull(text);
	free(out);
	free(err);
	return text;
}

/* git itself finds every object of state/ well formed, each tree's entries in git's order. */
static void assert_fsck(void)
{
	free(git_out((const char *const[]){ "fsck", "--strict", "--no-dangling", "--no-progress", NULL }));
}

/* The file list of commit @rev ("HEAD", "HEAD~1"), one path a line; NULL without git. */
static char *tree_files(const char *rev)
{
	const char *const args[] = { "ls-tree", "-r", "--name-only", rev, NULL };

	return git_out(args);
}

/* Whether @list (git's one-path-a-line output) holds the line @path. */
static bool has_line(const char *list, const char *path)
{
	size_t n = strlen(path);
	const char *p = list;

	while ((p = strstr(p, path))) {
		if ((p == list || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
		p++;
	}
	return false;
}

/* ---- tests --------------------------------------------------------------------- */

START_TEST(test_init_made_one_commit)
{
	json_t *h = history(0);
	const char *when;
	char *files;

	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 1);
	ck_assert_str_eq(commit_field(h, 0, "message"), "store init");
	ck_assert_msg(is_hex_oid(commit_field(h, 0, "id")), "id: %s", commit_field(h, 0, "id"));
	ck_assert_ptr_nonnull(strchr(commit_field(h, 0, "author"), '<'));
	when = commit_field(h, 0, "time");
	ck_assert_uint_eq(strlen(when), 20);
	ck_assert_int_eq(when[19], 'Z');
	json_decref(h);
	/* the commit holds the default documents */
	files = tree_files("HEAD");
	if (files) {
		ck_assert_msg(has_line(files, "config.json"), "tree:\n%s", files);
		ck_assert_msg(has_line(files, "ui_sets.json"), "tree:\n%s", files);
		ck_assert_msg(has_line(files, "profiles/global/profile.json"), "tree:\n%s", files);
		free(files);
	}
}
END_TEST

START_TEST(test_commit_without_change)
{
	char oid[41] = "x";

	commit("nothing", oid);
	ck_assert_str_eq(oid, "");
	ck_assert_uint_eq(history_len(), 1);
}
END_TEST

START_TEST(test_commit_edit)
{
	char oid[41];
	json_t *h;

	touch_config("edited", 1);
	commit("edit config", oid);
	ck_assert_msg(is_hex_oid(oid), "oid: '%s'", oid);
	h = history(0);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 2);
	ck_assert_str_eq(commit_field(h, 0, "message"), "edit config");
	ck_assert_str_eq(commit_field(h, 0, "id"), oid);
	ck_assert_str_eq(commit_field(h, 1, "message"), "store init");
	json_decref(h);
}
END_TEST

/* An addition, then its deletion, are each one commit; the deleted file leaves the tree. */
START_TEST(test_commit_deletion)
{
	char oid[41], added[41], *dir = state_path("packs/X"), *pack = state_path("packs/X/pack.json"), *files;
	json_t *h;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	write_text(pack, "{\"name\": \"X\"}\n");
	commit("import X", added);
	ck_assert(is_hex_oid(added));
	ck_assert_int_eq(unlink(pack), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	commit("delete X", oid);
	ck_assert_msg(is_hex_oid(oid), "the deletion was not committed");
	ck_assert_str_ne(oid, added);
	h = history(0);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 3);
	ck_assert_str_eq(commit_field(h, 0, "message"), "delete X");
	ck_assert_str_eq(commit_field(h, 0, "id"), oid);
	json_decref(h);
	files = tree_files("HEAD");
	if (files) {
		ck_assert_msg(!has_line(files, "packs/X/pack.json"), "deleted file still in HEAD:\n%s", files);
		ck_assert(has_line(files, "config.json"));
		free(files);
		files = tree_files(added);
		ck_assert_msg(has_line(files, "packs/X/pack.json"), "%s:\n%s", added, files);
		free(files);
	}
	free(dir);
	free(pack);
}
END_TEST

/* Commit only @paths (NULL-terminated) under the store lock. */
static void commit_paths(const char *message, const char *const *paths, char *oid)
{
	int rc;

	ck_assert_msg(syn_store_lock(test_store, "test") == 0, "lock: %s", syn_error_last());
	rc = syn_state_commit_paths(test_store, message, paths, oid);
	syn_store_unlock(test_store);
	ck_assert_msg(rc == 0, "commit: %s", syn_error_last());
}

START_TEST(test_commit_of_named_paths_only)
{
	char oid[41], *x = state_path("packs/X"), *y = state_path("packs/Y"), *files;
	char *xp = state_path("packs/X/pack.json"), *xl = state_path("packs/X/lock.json");
	char *xd = state_path("packs/X/resources"), *xr = state_path("packs/X/resources/a.json");
	char *xt = state_path("packs/X/" SYN_FS_TMP_PREFIX "lock.json.7"), *yp = state_path("packs/Y/pack.json");

	ck_assert_int_eq(mkdir(x, 0755), 0);
	ck_assert_int_eq(mkdir(xd, 0755), 0);
	ck_assert_int_eq(mkdir(y, 0755), 0);
	write_text(xp, "{\"name\": \"X\"}\n");
	write_text(xl, "{}\n");
	write_text(xr, "{}\n");
	write_text(xt, "{");
	write_text(yp, "{\"name\": \"Y\"}\n");
	touch_config("edited", 3);
	/* a folder: everything under it, its temp files excepted; nothing else */
	commit_paths("import X", (const char *const[]){ "packs/X", NULL }, oid);
	ck_assert(is_hex_oid(oid));
	files = tree_files("HEAD");
	if (files) {
		ck_assert(has_line(files, "packs/X/pack.json"));
		ck_assert(has_line(files, "packs/X/resources/a.json"));
		ck_assert_msg(!strstr(files, SYN_FS_TMP_PREFIX), "temp file committed:\n%s", files);
		ck_assert_msg(!has_line(files, "packs/Y/pack.json"), "an unnamed path was committed:\n%s", files);
		free(files);
	}
	/* a file that is gone, and one that changed */
	ck_assert_int_eq(unlink(xr), 0);
	write_text(xl, "{\"resolved\": []}\n");
	commit_paths("edit X", (const char *const[]){ "packs/X/resources", "packs/X/lock.json", NULL }, oid);
	ck_assert(is_hex_oid(oid));
	files = tree_files("HEAD");
	if (files) {
		ck_assert_msg(!has_line(files, "packs/X/resources/a.json"), "deleted file still in HEAD:\n%s", files);
		ck_assert(has_line(files, "packs/X/lock.json"));
		free(files);
	}
	/* nothing changed at the paths: no commit */
	commit_paths("again", (const char *const[]){ "packs/X", NULL }, oid);
	ck_assert_str_eq(oid, "");
	/* a whole folder removed */
	ck_assert_int_eq(unlink(xp), 0);
	ck_assert_int_eq(unlink(xl), 0);
	ck_assert_int_eq(unlink(xt), 0);
	ck_assert_int_eq(rmdir(xd), 0);
	ck_assert_int_eq(rmdir(x), 0);
	commit_paths("delete X", (const char *const[]){ "packs/X", NULL }, oid);
	ck_assert(is_hex_oid(oid));
	files = tree_files("HEAD");
	if (files) {
		ck_assert_msg(!strstr(files, "packs/X/"), "deleted folder still in HEAD:\n%s", files);
		free(files);
	}
	assert_fsck();
	/* what was left out is still there for a commit of everything */
	commit("everything", oid);
	ck_assert(is_hex_oid(oid));
	files = tree_files("HEAD");
	if (files) {
		ck_assert(has_line(files, "packs/Y/pack.json"));
		free(files);
	}
	/* a path out of state/ is refused */
	ck_assert_int_eq(syn_state_commit_paths(test_store, "bad", (const char *const[]){ "../x", NULL }, oid),
			 SYN_EINVALID);
	free(x);
	free(y);
	free(xp);
	free(xl);
	free(xd);
	free(xr);
	free(xt);
	free(yp);
}
END_TEST

/* The line of `git ls-tree` output @list that names @path, as a new string; NULL when none. */
static char *tree_line(const char *list, const char *path)
{
	size_t n = strlen(path);
	const char *p = list, *start;

	while ((p = strstr(p, path))) {
		if (p > list && p[-1] == '\t' && (p[n] == '\n' || p[n] == '\0')) {
			for (start = p; start > list && start[-1] != '\n'; start--)
				;
			return strndup(start, (size_t)(p + n - start));
		}
		p++;
	}
	return NULL;
}

/* A new folder packs/@name holding a pack.json that says @name. */
static void new_pack(const char *name)
{
	char *p = state_path("packs/%s", name);

	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = state_path("packs/%s/pack.json", name);
	write_text(p, name);
	free(p);
}

/* Packs P_000 to P_<@n - 1>, each a pack.json that names it and an empty lock.json. */
static void new_packs(int n)
{
	char name[32], *p;
	int i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "P_%03d", i);
		new_pack(name);
		p = state_path("packs/%s/lock.json", name);
		write_text(p, "{}\n");
		free(p);
	}
}

START_TEST(test_commit_of_named_paths_in_many_packs)
{
	const char *const ls[] = { "ls-tree", "HEAD", "packs/", NULL };
	const char *const st[] = { "status", "--porcelain", "--untracked-files=all", NULL };
	const char *const read_tree[] = { "read-tree", "HEAD", NULL };
	const char *const changed[] = { "packs/P_100", "packs/P_200", "packs/P_300", "packs/P_100-b", "packs/P_10.x",
					NULL };
	char oid[41], name[32], *p, *before, *after, *files, *line, *old, *text;
	int i;

	new_packs(300);
	commit("packs", oid);
	ck_assert(is_hex_oid(oid));
	before = git_out(ls);
	if (!before)
		return;
	/* one pack edited (a file changed, one added in a new folder, one gone), one removed, one added */
	p = state_path("packs/P_100/pack.json");
	write_text(p, "edited");
	free(p);
	p = state_path("packs/P_100/resources");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = state_path("packs/P_100/resources/a.json");
	write_text(p, "{\"a\": 1}\n");
	free(p);
	p = state_path("packs/P_100/lock.json");
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	p = state_path("packs/P_200");
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, p), 0);
	free(p);
	new_pack("P_300");
	/* names that sort next to P_100's: before it ('-', '.' < '/'), as git orders a folder */
	new_pack("P_100-b");
	p = state_path("packs/P_10.x");
	write_text(p, "a file among the packs");
	free(p);
	/* an unnamed pack changed too: left for a later commit */
	p = state_path("packs/P_007/pack.json");
	write_text(p, "not yet");
	free(p);
	commit_paths("three packs", changed, oid);
	ck_assert(is_hex_oid(oid));
	after = git_out(ls);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "packs/P_%03d", i);
		old = tree_line(before, name);
		line = tree_line(after, name);
		ck_assert_ptr_nonnull(old);
		if (i == 200)
			ck_assert_msg(!line, "removed pack still in HEAD: %s", line);
		else if (i == 100)
			ck_assert_msg(line && strcmp(line, old), "edited pack unchanged: %s", old);
		else
			ck_assert_msg(line && !strcmp(line, old), "untouched pack changed: %s -> %s", old, line);
		free(old);
		free(line);
	}
	line = tree_line(after, "packs/P_300");
	ck_assert_ptr_nonnull(line);
	free(line);
	line = tree_line(after, "packs/P_100-b");
	ck_assert_ptr_nonnull(line);
	free(line);
	assert_fsck();
	files = git_out((const char *const[]){ "ls-tree", "-r", "--name-only", "HEAD", "packs/P_100", NULL });
	ck_assert_str_eq(files, "packs/P_100/pack.json\npacks/P_100/resources/a.json\n");
	free(files);
	text = git_out((const char *const[]){ "show", "HEAD:packs/P_100/pack.json", NULL });
	ck_assert_str_eq(text, "edited");
	free(text);
	/*
	 * the work tree differs from the commit by the unnamed change only (the
	 * index, which such commits leave behind, made HEAD's tree first)
	 */
	free(git_out(read_tree));
	text = git_out(st);
	ck_assert_str_eq(text, " M packs/P_007/pack.json\n");
	free(text);
	/* a pack folder that became a file: still committed, the rest kept */
	p = state_path("packs/P_050");
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, p), 0);
	write_text(p, "a file");
	free(p);
	commit_paths("P_050", (const char *const[]){ "packs/P_050", "packs/P_007", NULL }, oid);
	ck_assert(is_hex_oid(oid));
	text = git_out((const char *const[]){ "show", "HEAD:packs/P_050", NULL });
	ck_assert_str_eq(text, "a file");
	free(text);
	text = git_out(st);
	ck_assert_str_eq(text, "");
	free(text);
	/* and back to a folder */
	p = state_path("packs/P_050");
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = state_path("packs/P_050/pack.json");
	write_text(p, "P_050");
	free(p);
	commit_paths("P_050 again", (const char *const[]){ "packs/P_050", NULL }, oid);
	ck_assert(is_hex_oid(oid));
	text = git_out((const char *const[]){ "show", "HEAD:packs/P_050/pack.json", NULL });
	ck_assert_str_eq(text, "P_050");
	free(text);
	assert_fsck();
	free(git_out(read_tree));
	text = git_out(st);
	ck_assert_str_eq(text, "");
	free(text);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_temp_files_not_committed)
{
	char oid[41], *tmp1 = state_path(SYN_FS_TMP_PREFIX "config.json.1234");
	char *tmp2 = state_path("profiles/global/" SYN_FS_TMP_PREFIX "profile.json.99"), *files;

	write_text(tmp1, "{\"half\": ");
	write_text(tmp2, "{");
	/* temp files alone are no change */
	commit("only temp files", oid);
	ck_assert_str_eq(oid, "");
	ck_assert_uint_eq(history_len(), 1);
	/* and they stay out of a real commit */
	touch_config("edited", 2);
	commit("edit config", oid);
	ck_assert(is_hex_oid(oid));
	files = tree_files("HEAD");
	if (files) {
		ck_assert_msg(strstr(files, SYN_FS_TMP_PREFIX) == NULL, "temp file committed:\n%s", files);
		ck_assert(has_line(files, "config.json"));
		free(files);
	}
	free(tmp1);
	free(tmp2);
}
END_TEST

START_TEST(test_stale_git_locks_cleared)
{
	char *head = state_path(".git/HEAD"), *text, *ref, *nl, *index_lock = state_path(".git/index.lock"), *ref_lock;
	char oid[41];
	int rc;

	/* a killed commit leaves index.lock and the branch's lock behind */
	text = test_read_file(head, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(!strncmp(text, "ref: ", 5), "HEAD: %s", text);
	ref = text + 5;
	nl = strchr(ref, '\n');
	if (nl)
		*nl = '\0';
	ref_lock = state_path(".git/%s.lock", ref);
	write_text(index_lock, "");
	write_text(ref_lock, "");
	touch_config("edited", 3);
	/* without the cleanup they block every commit */
	rc = syn_state_commit(test_store, "blocked", oid);
	ck_assert_int_ne(rc, 0);
	ck_assert_uint_eq(history_len(), 1);

	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	syn_store_unlock(test_store);
	ck_assert_msg(!test_exists(index_lock), "index.lock not removed");
	ck_assert_msg(!test_exists(ref_lock), "%s.lock not removed", ref);
	commit("after crash", oid);
	ck_assert(is_hex_oid(oid));
	ck_assert_uint_eq(history_len(), 2);
	free(text);
	free(head);
	free(index_lock);
	free(ref_lock);
}
END_TEST

START_TEST(test_store_without_git)
{
	char *git = state_path(".git"), oid[41];
	json_t *h;

	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, git), 0);
	ck_assert(!test_exists(git));
	h = history(0);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 0);
	json_decref(h);
	ck_assert(!test_exists(git)); /* reading does not create it */
	commit("first change", oid);
	ck_assert(is_hex_oid(oid));
	ck_assert(test_exists(git));
	h = history(0);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 1);
	ck_assert_str_eq(commit_field(h, 0, "message"), "first change");
	ck_assert_str_eq(commit_field(h, 0, "id"), oid);
	json_decref(h);
	free(git);
}
END_TEST

/* A fresh HOME (optionally with a ~/.gitconfig) set before libgit2 starts. */
static char *home_dir, *saved_home, *saved_xdg;

static void home_prepare(const char *gitconfig)
{
	char tmpl[] = "/tmp/synapse-home-XXXXXX";
	const char *v;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	home_dir = strdup(tmpl);
	v = getenv("HOME");
	saved_home = v ? strdup(v) : NULL;
	v = getenv("XDG_CONFIG_HOME");
	saved_xdg = v ? strdup(v) : NULL;
	setenv("HOME", home_dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	if (gitconfig) {
		char *p;

		ck_assert_int_ge(asprintf(&p, "%s/.gitconfig", home_dir), 0);
		write_text(p, gitconfig);
		free(p);
	}
}

static void empty_home_setup(void)
{
	home_prepare(NULL);
	store_setup();
}

static void gitconfig_home_setup(void)
{
	home_prepare("[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n");
	store_setup();
}

static void home_teardown(void)
{
	char *p;

	store_teardown();
	ck_assert_int_ge(asprintf(&p, "%s/.gitconfig", home_dir), 0);
	unlink(p);
	free(p);
	rmdir(home_dir);
	free(home_dir);
	home_dir = NULL;
	if (saved_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	if (saved_xdg)
		setenv("XDG_CONFIG_HOME", saved_xdg, 1);
	free(saved_home);
	free(saved_xdg);
	saved_home = saved_xdg = NULL;
}

START_TEST(test_signature_fallback)
{
	char oid[41];
	json_t *h;

	touch_config("edited", 4);
	commit("edit config", oid);
	h = history(0);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 2);
	ck_assert_str_eq(commit_field(h, 0, "author"), "Synapse <synapse@localhost>");
	ck_assert_str_eq(commit_field(h, 1, "author"), "Synapse <synapse@localhost>");
	json_decref(h);
}
END_TEST

START_TEST(test_signature_from_git_config)
{
	char oid[41];
	json_t *h;

	touch_config("edited", 5);
	commit("edit config", oid);
	h = history(0);
	ck_assert_str_eq(commit_field(h, 0, "author"), "Ada Lovelace <ada@example.com>");
	ck_assert_str_eq(commit_field(h, 1, "author"), "Ada Lovelace <ada@example.com>");
	json_decref(h);
}
END_TEST

START_TEST(test_history_limit)
{
	static const char *const msgs[] = { "one", "two", "three" };
	char oid[41];
	json_t *h;
	size_t i;

	for (i = 0; i < 3; i++) {
		touch_config("step", (json_int_t)i);
		commit(msgs[i], oid);
		ck_assert(is_hex_oid(oid));
	}
	h = history(2);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 2);
	ck_assert_str_eq(commit_field(h, 0, "message"), "three");
	ck_assert_str_eq(commit_field(h, 1, "message"), "two");
	json_decref(h);
	h = history(0);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 4);
	ck_assert_str_eq(commit_field(h, 0, "message"), "three");
	ck_assert_str_eq(commit_field(h, 1, "message"), "two");
	ck_assert_str_eq(commit_field(h, 2, "message"), "one");
	ck_assert_str_eq(commit_field(h, 3, "message"), "store init");
	json_decref(h);
	h = history(100);
	ck_assert_uint_eq(json_array_size(json_object_get(h, "commits")), 4);
	json_decref(h);
}
END_TEST

/* How many loose objects state/.git holds (files in its objects/<2 hex digits>/ folders). */
static size_t loose_objects(void)
{
	char *objects = state_path(".git/objects"), *dir;
	size_t n = 0;
	int i;

	for (i = 0; i < 256; i++) {
		int k;

		ck_assert_int_ge(asprintf(&dir, "%s/%02x", objects, i), 0);
		k = test_count_named(dir, "");
		n += k > 0 ? (size_t)k - 1 : 0; /* less the folder itself */
		free(dir);
	}
	free(objects);
	return n;
}

/* The number of "pack-*<suffix>" files in state/.git/objects/pack. */
static int packs_named(const char *suffix)
{
	char *dir = state_path(".git/objects/pack");
	int n = test_count_named(dir, suffix);

	free(dir);
	return n;
}

/*
 * doctor packs what the commits left loose: the loose files go, one pack
 * holds them, the history reads as before, and the next commit builds on
 * the packed trees. With few loose objects it leaves them be.
 */
START_TEST(test_doctor_packs_the_loose_history)
{
	char oid[41], *p, *files;
	size_t before, history_before;
	json_t *r = NULL, *actions;

	new_packs(150);
	commit("packs", oid);
	p = state_path("packs/P_007/lock.json");
	write_text(p, "{\"edited\": 1}\n");
	free(p);
	commit("edit", oid);
	before = loose_objects();
	history_before = history_len();
	ck_assert_uint_ge(before, 300);
	ck_assert_int_eq(packs_named(".pack"), 0);

	syn_doctor(test_store, NULL, false, false, &r);
	ck_assert_ptr_nonnull(r);
	actions = json_object_get(r, "actions");
	ck_assert_int_eq(json_integer_value(json_object_get(actions, "history_objects_packed")), (json_int_t)before);
	ck_assert_int_gt(json_integer_value(json_object_get(actions, "history_bytes_freed")), 0);
	json_decref(r);
	ck_assert_uint_eq(loose_objects(), 0);
	ck_assert_int_eq(packs_named(".pack"), 1);
	ck_assert_int_eq(packs_named(".idx"), 1);
	ck_assert_uint_eq(history_len(), history_before);

	p = state_path("packs/P_042/pack.json");
	write_text(p, "after the pack");
	free(p);
	commit("after", oid);
	ck_assert_uint_eq(history_len(), history_before + 1);
	assert_fsck();
	files = tree_files("HEAD");
	if (files) {
		ck_assert(has_line(files, "packs/P_042/pack.json"));
		ck_assert(has_line(files, "packs/P_149/lock.json"));
		free(files);
	}

	/* what a packer killed midway left goes once it is an hour old; a younger one may be a live packer's */
	{
		char *stale = state_path(".git/objects/pack/pack_git2_dead");
		char *young = state_path(".git/objects/pack/pack_git2_live");
		struct timespec ts[2] = { { .tv_sec = time(NULL) - 7200 }, { .tv_sec = time(NULL) - 7200 } };

		write_text(stale, "half a pack");
		write_text(young, "a pack being written");
		ck_assert_int_eq(utimensat(AT_FDCWD, stale, ts, 0), 0);
		syn_doctor(test_store, NULL, false, false, &r);
		json_decref(r);
		ck_assert_msg(access(stale, F_OK) != 0, "a stale temporary pack is removed");
		ck_assert_msg(access(young, F_OK) == 0, "a young temporary pack is left");
		ck_assert_int_eq(unlink(young), 0);
		free(stale);
		free(young);
	}

	/* a handful of loose objects stay loose */
	ck_assert_uint_gt(loose_objects(), 0);
	syn_doctor(test_store, NULL, false, false, &r);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "actions"), "history_objects_packed")), 0);
	json_decref(r);
	ck_assert_uint_gt(loose_objects(), 0);
	ck_assert_int_eq(packs_named(".pack"), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("state");

	TEST(s, test_init_made_one_commit, store_setup, store_teardown);
	TEST(s, test_commit_without_change, store_setup, store_teardown);
	TEST(s, test_commit_edit, store_setup, store_teardown);
	TEST(s, test_commit_of_named_paths_only, store_setup, store_teardown);
	TEST(s, test_commit_of_named_paths_in_many_packs, store_setup, store_teardown);
	TEST(s, test_commit_deletion, store_setup, store_teardown);
	TEST(s, test_temp_files_not_committed, store_setup, store_teardown);
	TEST(s, test_stale_git_locks_cleared, store_setup, store_teardown);
	TEST(s, test_store_without_git, store_setup, store_teardown);
	TEST(s, test_signature_fallback, empty_home_setup, home_teardown);
	TEST(s, test_signature_from_git_config, gitconfig_home_setup, home_teardown);
	TEST(s, test_history_limit, store_setup, store_teardown);
	TEST(s, test_doctor_packs_the_loose_history, store_setup, store_teardown);
	return test_main(s);
}
