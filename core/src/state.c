/*
 * state/ as a git repository: one commit per state change. The libgit2 side
 * lives in synapse-git.so (git.c), loaded on first use from the synapse/
 * directory beside libsynapse.
 */
#include <string.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "synapse/errors.h"
#include "synapse/state.h"

#include "synapse/names.h"

#include "state.h"
#include "store.h"

typedef void (*prepare_fn)(void);
typedef int (*ensure_fn)(const char *root);
typedef int (*commit_fn)(const char *root, const char *message, const char *const *paths, char *oid_out);
typedef int (*history_fn)(const char *root, size_t limit, json_t **out);
typedef int (*pack_fn)(const char *root, size_t at_least, size_t *packed, uint64_t *freed);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static prepare_fn git_prepare;
static ensure_fn git_ensure;
static commit_fn git_commit;
static history_fn git_history;
static pack_fn git_pack;
static char load_error[4608];

static void load_git(void)
{
	char path[4096];
	const char *slash;
	Dl_info info;
	void *h;

	if (!dladdr((void *)load_git, &info) || !info.dli_fname || !(slash = strrchr(info.dli_fname, '/'))) {
		snprintf(load_error, sizeof(load_error), "cannot locate libsynapse's own directory");
		return;
	}
	snprintf(path, sizeof(path), "%.*s/synapse/synapse-git.so", (int)(slash - info.dli_fname), info.dli_fname);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(load_error, sizeof(load_error), "cannot load '%s': %s (reinstall Synapse)", path, dlerror());
		return;
	}
	*(void **)&git_prepare = dlsym(h, "syn_git_prepare");
	*(void **)&git_ensure = dlsym(h, "syn_git_ensure_repo");
	*(void **)&git_commit = dlsym(h, "syn_git_commit");
	*(void **)&git_history = dlsym(h, "syn_git_history");
	*(void **)&git_pack = dlsym(h, "syn_git_pack");
	if (!git_prepare || !git_ensure || !git_commit || !git_history || !git_pack) {
		git_ensure = NULL;
		snprintf(load_error, sizeof(load_error), "'%s' lacks the state history functions", path);
	}
}

static int git_loaded(void)
{
	pthread_once(&load_once, load_git);
	return git_ensure ? 0 : syn_error_set(SYN_EUNSUPPORTED, "%s", load_error);
}

/* The thread syn_state_prepare() started, joined when the handle is freed. */
struct prepare {
	pthread_t thread;
};

static void *prepare_git(void *unused)
{
	(void)unused;
	if (!git_loaded())
		git_prepare();
	syn_error_clear();
	return NULL;
}

static void prepare_join(void *p)
{
	struct prepare *w = p;

	pthread_join(w->thread, NULL);
	free(w);
}

void syn_state_prepare(struct syn_store *st)
{
	struct prepare *w;

	if (syn__store_cache(st, SYN__CACHE_GIT) || !(w = malloc(sizeof(*w))))
		return;
	if (pthread_create(&w->thread, NULL, prepare_git, NULL)) {
		free(w);
		return;
	}
	syn__store_set_cache(st, SYN__CACHE_GIT, w, prepare_join);
}

int syn_state_ensure_repo(struct syn_store *st)
{
	int rc = git_loaded();

	return rc ? rc : git_ensure(syn_store_state_root(st));
}

int syn_state_commit(struct syn_store *st, const char *message, char *oid_out)
{
	return syn_state_commit_paths(st, message, NULL, oid_out);
}

int syn_state_commit_paths(struct syn_store *st, const char *message, const char *const *paths, char *oid_out)
{
	size_t i;
	int rc = git_loaded();

	for (i = 0; !rc && paths && paths[i]; i++)
		rc = syn_name_check_relpath("state path", paths[i]);
	return rc ? rc : git_commit(syn_store_state_root(st), message, paths, oid_out);
}

int syn__state_pack(struct syn_store *st, size_t at_least, size_t *packed, uint64_t *freed)
{
	int rc = git_loaded();

	*packed = 0;
	*freed = 0;
	return rc ? rc : git_pack(syn_store_state_root(st), at_least, packed, freed);
}

/* A commit on a thread of its own (syn__state_commit_start()). */
struct pending {
	pthread_t thread;
	bool running;
	char *root, *message;
	char **paths; /* NULL-terminated, or NULL for everything */
	int rc;
	char *error;  /* its message when rc (NULL without memory) */
};

static void *pending_run(void *arg)
{
	struct pending *c = arg;

	c->rc = git_commit(c->root, c->message, (const char *const *)c->paths, NULL);
	c->error = c->rc ? strdup(syn_error_last()) : NULL;
	syn_error_clear();
	return NULL;
}

static void pending_join(struct pending *c)
{
	if (c->running)
		pthread_join(c->thread, NULL);
	c->running = false;
}

/* The store slot's release: wait for the commit, free what it had. */
static void pending_free(void *p)
{
	struct pending *c = p;
	size_t i;

	if (!c)
		return;
	pending_join(c);
	for (i = 0; c->paths && c->paths[i]; i++)
		free(c->paths[i]);
	free(c->paths);
	free(c->root);
	free(c->message);
	free(c->error);
	free(c);
}

int syn__state_commit_start(struct syn_store *st, const char *message, const char *const *paths)
{
	struct pending *c;
	size_t i, n = 0;
	int rc = syn__state_commit_finish(st, 0);

	if (!rc)
		rc = git_loaded();
	for (i = 0; !rc && paths && paths[i]; i++, n++)
		rc = syn_name_check_relpath("state path", paths[i]);
	if (rc)
		return rc;
	c = calloc(1, sizeof(*c));
	if (c && (!(c->root = strdup(syn_store_state_root(st))) || !(c->message = strdup(message)) ||
		  (paths && !(c->paths = calloc(n + 1, sizeof(*c->paths))))))
		goto oom;
	for (i = 0; c && i < n; i++)
		if (!(c->paths[i] = strdup(paths[i])))
			goto oom;
	if (!c)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	c->running = pthread_create(&c->thread, NULL, pending_run, c) == 0;
	if (!c->running) {
		/* no thread: made here and now */
		rc = git_commit(c->root, c->message, (const char *const *)c->paths, NULL);
		pending_free(c);
		return rc;
	}
	syn__store_set_cache(st, SYN__CACHE_COMMIT, c, pending_free);
	return 0;
oom:
	pending_free(c);
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

bool syn__state_commit_running(const struct syn_store *st)
{
	const struct pending *c = syn__store_cache(st, SYN__CACHE_COMMIT);

	return c && c->running;
}

void syn__state_commit_join(struct syn_store *st)
{
	struct pending *c = syn__store_cache(st, SYN__CACHE_COMMIT);

	if (c)
		pending_join(c);
}

int syn__state_commit_finish(struct syn_store *st, int rc)
{
	struct pending *c = syn__store_cache(st, SYN__CACHE_COMMIT);

	if (!c)
		return rc;
	pending_join(c);
	if (!rc && c->rc)
		rc = c->error ? syn_error_set(c->rc, "%s", c->error) : syn_error_set(c->rc, "the state commit failed");
	syn__store_set_cache(st, SYN__CACHE_COMMIT, NULL, NULL);
	return rc;
}

int syn_state_history(struct syn_store *st, size_t limit, json_t **out)
{
	int rc = git_loaded();

	*out = NULL;
	return rc ? rc : git_history(syn_store_state_root(st), limit, out);
}

int syn_state_clear_stale_locks(struct syn_store *st)
{
	return syn__store_clear_stale_locks(st, NULL);
}
