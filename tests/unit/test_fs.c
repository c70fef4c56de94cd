/* Tests of atomic, durable file operations. */
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static void crash_before_rename(const char *stage, const char *path)
{
	(void)path;
	if (!strcmp(stage, "before-rename"))
		raise(SIGKILL);
}

START_TEST(atomic_write_replaces_content)
{
	char *path = test_path("doc.json");
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	struct stat sb;
	char *got;

	ck_assert_int_eq(syn_fs_write_atomic(dfd, "doc.json", "old\n", 4, 0644), 0);
	ck_assert_int_eq(syn_fs_write_atomic(dfd, "doc.json", "new content\n", 12, 0600), 0);
	got = test_read_file(path, NULL);
	ck_assert_str_eq(got, "new content\n");
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(test_count_named(test_dir, SYN_FS_TMP_PREFIX), 0);
	free(got);
	free(path);
	close(dfd);
}
END_TEST

START_TEST(atomic_write_creates_parents)
{
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	char *path = test_path("a/b/c/pack.json"), *got;

	ck_assert_int_eq(syn_fs_write_atomic(dfd, "a/b/c/pack.json", "{}\n", 3, 0644), 0);
	got = test_read_file(path, NULL);
	ck_assert_str_eq(got, "{}\n");
	free(got);
	free(path);
	close(dfd);
}
END_TEST

START_TEST(crash_between_write_and_rename_keeps_old_content)
{
	char *path = test_path("config.json"), *got;
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY), status;
	pid_t pid;

	ck_assert_int_eq(syn_fs_write_atomic(dfd, "config.json", "{\"v\": 1}\n", 9, 0644), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		syn_fs_set_fault_hook(crash_before_rename);
		syn_fs_write_atomic(dfd, "config.json", "{\"v\": 2, \"half\": tru", 20, 0644);
		_exit(0); /* not reached: the hook kills the process */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	got = test_read_file(path, NULL);
	ck_assert_str_eq(got, "{\"v\": 1}\n");
	/* the new bytes were fully written to a temp file that never became the document */
	ck_assert_int_eq(test_count_named(test_dir, SYN_FS_TMP_PREFIX "config.json"), 1);
	/* and the document still parses */
	{
		json_t *doc;

		ck_assert_int_eq(syn_doc_read(&doc, dfd, "config.json", path), 0);
		ck_assert_int_eq(json_integer_value(json_object_get(doc, "v")), 1);
		json_decref(doc);
	}
	free(got);
	free(path);
	close(dfd);
}
END_TEST

START_TEST(write_into_missing_parent_fails_cleanly)
{
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	char *blocker = test_path("file");

	test_write_file(blocker, "x", 1);
	ck_assert_int_eq(syn_fs_write_atomic(dfd, "file/child.json", "{}", 2, 0644), SYN_EEXISTS);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "not a directory"));
	free(blocker);
	close(dfd);
}
END_TEST

START_TEST(read_reports_missing_and_oversize)
{
	struct syn_buf b = SYN_BUF_INIT;
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	char *path = test_path("big");

	ck_assert_int_eq(syn_fs_read(&b, dfd, "nope", 100), SYN_ENOTFOUND);
	test_write_file(path, "0123456789", 10);
	ck_assert_int_eq(syn_fs_read(&b, dfd, "big", 5), SYN_ECORRUPT);
	ck_assert_int_eq(syn_fs_read(&b, dfd, "big", 10), 0);
	ck_assert_str_eq(b.ptr, "0123456789");
	syn_buf_dispose(&b);
	free(path);
	close(dfd);
}
END_TEST

START_TEST(remove_tree_does_not_follow_links)
{
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	char *keep = test_path("keep"), *keepfile = test_path("keep/precious"), *tree = test_path("tree");
	char *link = test_path("tree/sub/link");

	ck_assert_int_eq(syn_fs_mkdirs(dfd, "keep"), 0);
	test_write_file(keepfile, "user data", 9);
	ck_assert_int_eq(syn_fs_mkdirs(dfd, "tree/sub"), 0);
	ck_assert_int_eq(symlink(keep, link), 0);
	ck_assert_int_eq(syn_fs_remove_tree(dfd, "tree"), 0);
	ck_assert(!test_exists(tree));
	ck_assert(test_exists(keepfile));
	ck_assert_int_eq(syn_fs_remove_tree(dfd, "tree"), 0);
	free(keep);
	free(keepfile);
	free(tree);
	free(link);
	close(dfd);
}
END_TEST

static void crash_aside(const char *stage, const char *path)
{
	(void)path;
	if (!strcmp(stage, "aside"))
		raise(SIGKILL);
}

/* A tree removed aside goes whole: killed midway, it is a temporary beside its place, every file in it. */
START_TEST(remove_tree_aside_goes_whole_or_not_at_all)
{
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY), status;
	char *file = test_path("packs/P/pack.json"), *tree = test_path("packs/P"), *packs = test_path("packs");
	pid_t pid;

	ck_assert_int_eq(syn_fs_mkdirs(dfd, "packs/P/previews"), 0);
	test_write_file(file, "{}\n", 3);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		syn_fs_set_fault_hook(crash_aside);
		syn_fs_remove_tree_aside(dfd, "packs/P");
		_exit(0); /* not reached: the hook kills the process */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert(!test_exists(tree));
	ck_assert_int_eq(test_count_named(packs, SYN_FS_TMP_PREFIX "P."), 1);
	{
		char *pattern = test_path("packs/" SYN_FS_TMP_PREFIX "P.*/pack.json");
		glob_t g;

		ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
		ck_assert_uint_eq(g.gl_pathc, 1);
		globfree(&g);
		free(pattern);
	}
	/* again, to the end: the tree goes, the temporary of the killed run stays for doctor */
	ck_assert_int_eq(syn_fs_mkdirs(dfd, "packs/P"), 0);
	test_write_file(file, "{}\n", 3);
	ck_assert_int_eq(syn_fs_remove_tree_aside(dfd, "packs/P"), 0);
	ck_assert(!test_exists(tree));
	ck_assert_int_eq(test_count_named(packs, SYN_FS_TMP_PREFIX "P."), 1);
	ck_assert_int_eq(syn_fs_remove_tree_aside(dfd, "packs/P"), 0); /* missing: success */
	ck_assert_int_eq(syn_fs_remove_tree_aside(dfd, "nowhere/P"), 0);
	free(file);
	free(tree);
	free(packs);
	close(dfd);
}
END_TEST

START_TEST(abspath_normalizes)
{
	struct syn_buf b = SYN_BUF_INIT;

	ck_assert_int_eq(syn_fs_abspath(&b, "/a/./b//c/../d/"), 0);
	ck_assert_str_eq(b.ptr, "/a/b/d");
	ck_assert_int_eq(syn_fs_abspath(&b, "/.."), 0);
	ck_assert_str_eq(b.ptr, "/");
	setenv("HOME", "/home/someone", 1);
	ck_assert_int_eq(syn_fs_abspath(&b, "~/.synapse/store"), 0);
	ck_assert_str_eq(b.ptr, "/home/someone/.synapse/store");
	ck_assert_int_eq(chdir(test_dir), 0);
	ck_assert_int_eq(syn_fs_abspath(&b, "rel/x"), 0);
	ck_assert(strncmp(b.ptr, test_dir, strlen(test_dir)) == 0);
	ck_assert_str_eq(b.ptr + strlen(test_dir), "/rel/x");
	ck_assert_int_eq(syn_fs_abspath(&b, ""), SYN_EINVALID);
	syn_buf_dispose(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fs");

	TEST(s, atomic_write_replaces_content, tmp_setup, tmp_teardown);
	TEST(s, atomic_write_creates_parents, tmp_setup, tmp_teardown);
	TEST(s, crash_between_write_and_rename_keeps_old_content, tmp_setup, tmp_teardown);
	TEST(s, write_into_missing_parent_fails_cleanly, tmp_setup, tmp_teardown);
	TEST(s, read_reports_missing_and_oversize, tmp_setup, tmp_teardown);
	TEST(s, remove_tree_does_not_follow_links, tmp_setup, tmp_teardown);
	TEST(s, remove_tree_aside_goes_whole_or_not_at_all, tmp_setup, tmp_teardown);
	TEST(s, abspath_normalizes, tmp_setup, tmp_teardown);
	return test_main(s);
}
