/*
 * Shared test scaffolding (libpipeline's tests/common.h shape): a fresh
 * temporary directory, and optionally a fresh initialized store, per test.
 */
#ifndef SYNAPSE_TEST_COMMON_H
#define SYNAPSE_TEST_COMMON_H

#include <sys/types.h>

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include <synapse/synapse.h>

/** The per-test temporary directory (absolute). */
extern char *test_dir;
/** Registry with the in-tree plugins (store fixture only). */
extern struct syn_registry *test_reg;
/** An initialized store at <test_dir>/store (store fixture only). */
extern struct syn_store *test_store;

/** Checked fixtures: a temp dir; a temp dir plus an initialized store. */
void tmp_setup(void);
void tmp_teardown(void);
void store_setup(void);
void store_teardown(void);

/** Add test @fn to @s in a TCase of its own, with @setup/@teardown as a checked fixture. */
#define TEST(s, fn, setup, teardown)                                          \
	do {                                                                  \
		TCase *tc_ = tcase_create(#fn);                               \
		tcase_add_checked_fixture(tc_, setup, teardown);              \
		tcase_set_timeout(tc_, 60);                                   \
		tcase_add_test(tc_, fn);                                      \
		suite_add_tcase(s, tc_);                                      \
	} while (0)

/** Run the suite; the process exit status. */
int test_main(Suite *s);

/** "<test_dir>/<rel>" in a malloc'ed string. */
char *test_path(const char *rel);

/** Write @len bytes to @path (created 0644, parents must exist). */
void test_write_file(const char *path, const void *data, size_t len);

/** Read a whole file (NUL-terminated, malloc'ed); NULL when missing. */
char *test_read_file(const char *path, size_t *len);

/**
 * The text of a view's record @path (".synapse-entries", ".synapse-sources"):
 * its index's pieces, <path>.d/<sha256>, one after the other (NUL-terminated,
 * malloc'ed); NULL when the index is missing. Fails the test when a piece
 * named is missing or of another length.
 */
char *test_read_record(const char *path, size_t *len);

/**
 * Each piece record @path names, in order, as "<path>.d/<sha256>" paths in
 * *@out (malloc'ed, as is the array, NULL-terminated); their count. *@out
 * is NULL when the index is missing.
 */
size_t test_record_pieces(const char *path, char ***out);

/** The path of the first piece of record @path that holds @needle (malloc'ed); NULL when none does. */
char *test_record_piece(const char *path, const char *needle);

/** Whether @path exists (lstat). */
bool test_exists(const char *path);

/**
 * Date pack @name's pack.json and lock.json in the test store an hour back,
 * as if they had been written long ago (the pack cache trusts only settled
 * metadata).
 */
void test_backdate_pack(const char *name);

/** Count directory entries under @dir (recursively) whose name contains @needle. */
int test_count_named(const char *dir, const char *needle);

/** Make a fresh registry loaded from the build's plugin directory. */
struct syn_registry *test_registry(void);

/** The result of running the synapse binary. */
struct test_run {
	int status; /* exit status, or 128+signal */
	char *out;  /* stdout, NUL-terminated */
	char *err;  /* stderr */
};

/**
 * Run build/bin/synapse with @args (NULL-terminated) and SYNAPSE_ROOT set to
 * <test_dir>/store plus @env (NULL-terminated "K=V" list, may be NULL).
 */
struct test_run test_cli(const char *const *args, const char *const *env);

/**
 * Start build/bin/synapse as test_cli() does, its stdout and stderr going to
 * the files @out and @err, without waiting: the caller waits for (or kills)
 * the returned process.
 */
pid_t test_cli_spawn(const char *const *args, const char *const *env, const char *out, const char *err);

/** Free a run's buffers. */
void test_run_free(struct test_run *r);

#endif
