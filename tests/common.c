/* Shared test scaffolding. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

char *test_dir;
struct syn_registry *test_reg;
struct syn_store *test_store;

void tmp_setup(void)
{
	char tmpl[] = "/tmp/synapse-test-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	test_dir = strdup(tmpl);
	ck_assert_int_eq(syn_global_init(), 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		chmod(path, 0755);
	remove(path);
	return 0;
}

void tmp_teardown(void)
{
	if (test_dir && !getenv("SYNAPSE_TEST_KEEP"))
		nftw(test_dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	free(test_dir);
	test_dir = NULL;
}

struct syn_registry *test_registry(void)
{
	struct syn_registry *reg;

	ck_assert_int_eq(syn_registry_new(&reg), 0);
	ck_assert_int_eq(syn_registry_load_dir(reg, SYN_TEST_PLUGIN_DIR), 0);
	return reg;
}

void store_setup(void)
{
	json_t *report = NULL;
	char *root;

	tmp_setup();
	test_reg = test_registry();
	root = test_path("store");
	ck_assert_int_eq(syn_store_open(&test_store, test_reg, root), 0);
	ck_assert_msg(syn_store_init(test_store, false, &report) == 0, "init: %s", syn_error_last());
	json_decref(report);
	free(root);
}

void store_teardown(void)
{
	syn_store_free(test_store);
	syn_registry_free(test_reg);
	test_store = NULL;
	test_reg = NULL;
	tmp_teardown();
}

int test_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* stores must not pick up the developer's own environment */
	unsetenv("SYNAPSE_ROOT");
	unsetenv("SYNAPSE_STATE_ROOT");
	unsetenv("SYNAPSE_DATA_ROOT");
	unsetenv("SYNAPSE_PLUGIN_PATH");
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

char *test_path(const char *rel)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", test_dir, rel), 0);
	return p;
}

void test_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = data;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
	ck_assert_int_eq(close(fd), 0);
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

size_t test_record_pieces(const char *path, char ***out)
{
	char *index = test_read_file(path, NULL), *line, *save = NULL;
	size_t n = 0;

	*out = NULL;
	if (!index)
		return 0;
	ck_assert_msg(!strncmp(index, "synapse-chunks 1\n", 17), "%s is no index of pieces", path);
	*out = calloc(strlen(index) / 64 + 2, sizeof(**out));
	ck_assert_ptr_nonnull(*out);
	for (line = strtok_r(index + 17, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(strlen(line) > 65 && line[64] == ' ', "%s: bad index line '%s'", path, line);
		ck_assert_int_ge(asprintf(&(*out)[n], "%s.d/%.64s", path, line), 0);
		n++;
	}
	free(index);
	return n;
}

char *test_read_record(const char *path, size_t *len)
{
	char **pieces, *text = NULL;
	size_t n = test_record_pieces(path, &pieces), i, have = 0;

	if (!pieces)
		return NULL;
	text = calloc(1, 1);
	for (i = 0; i < n; i++) {
		size_t plen;
		char *piece = test_read_file(pieces[i], &plen);

		ck_assert_msg(piece != NULL, "a piece of %s is missing: %s", path, pieces[i]);
		text = realloc(text, have + plen + 1);
		ck_assert_ptr_nonnull(text);
		memcpy(text + have, piece, plen);
		have += plen;
		text[have] = '\0';
		free(piece);
		free(pieces[i]);
	}
	free(pieces);
	if (len)
		*len = have;
	return text;
}

char *test_record_piece(const char *path, const char *needle)
{
	char **pieces, *found = NULL;
	size_t n = test_record_pieces(path, &pieces), i;

	for (i = 0; i < n; i++) {
		char *piece = test_read_file(pieces[i], NULL);

		if (!found && piece && strstr(piece, needle))
			found = strdup(pieces[i]);
		free(piece);
		free(pieces[i]);
	}
	free(pieces);
	return found;
}

bool test_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static const char *count_needle;
static int count_hits;

static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	if (strstr(path + ftw->base, count_needle))
		count_hits++;
	return 0;
}

void test_backdate_pack(const char *name)
{
	static const char *const docs[] = { "pack.json", "lock.json" };
	struct timespec ts[2];
	char rel[512];
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 3600;
	ts[1] = ts[0];
	for (i = 0; i < 2; i++) {
		snprintf(rel, sizeof(rel), "packs/%s/%s", name, docs[i]);
		ck_assert_int_eq(utimensat(syn_store_state_fd(test_store), rel, ts, 0), 0);
	}
}

int test_count_named(const char *dir, const char *needle)
{
	count_needle = needle;
	count_hits = 0;
	nftw(dir, count_entry, 32, FTW_PHYS);
	return count_hits;
}

pid_t test_cli_spawn(const char *const *args, const char *const *env, const char *out, const char *err)
{
	posix_spawn_file_actions_t fa;
	char *root = test_path("store");
	char **argv, **envp, *root_env;
	size_t nargs = 0, nenv = 0, nextra = 0, i, k;
	pid_t pid;

	while (args[nargs])
		nargs++;
	while (environ[nenv])
		nenv++;
	while (env && env[nextra])
		nextra++;
	argv = calloc(nargs + 2, sizeof(*argv));
	envp = calloc(nenv + nextra + 2, sizeof(*envp));
	ck_assert(argv && envp);
	argv[0] = (char *)SYN_TEST_BIN;
	for (i = 0; i < nargs; i++)
		argv[i + 1] = (char *)args[i];
	ck_assert_int_ge(asprintf(&root_env, "SYNAPSE_ROOT=%s", root), 0);
	k = 0;
	for (i = 0; i < nenv; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t key = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]), j;
		bool overridden = !strncmp(environ[i], "SYNAPSE_ROOT=", 13);

		/* a variable the caller sets replaces the inherited one */
		for (j = 0; j < nextra && !overridden; j++)
			overridden = !strncmp(environ[i], env[j], key);
		if (!overridden)
			envp[k++] = environ[i];
	}
	envp[k++] = root_env;
	for (i = 0; i < nextra; i++)
		envp[k++] = (char *)env[i];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(posix_spawn(&pid, SYN_TEST_BIN, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	free(root);
	free(root_env);
	free(argv);
	free(envp);
	return pid;
}

struct test_run test_cli(const char *const *args, const char *const *env)
{
	struct test_run r = { 0 };
	char *out = test_path("cli.out"), *err = test_path("cli.err");
	pid_t pid = test_cli_spawn(args, env, out, err);
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r.out = test_read_file(out, NULL);
	r.err = test_read_file(err, NULL);
	free(out);
	free(err);
	return r;
}

void test_run_free(struct test_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
