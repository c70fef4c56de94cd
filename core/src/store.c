/*
 * The store handle: root resolution, directory descriptors, the lock,
 * config.json, UI targets and kind maps, and the blob backend chain. It
 * calls no operation; init.c and status.c build `store init` and `status`
 * on top of it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/lock.h"
#include "synapse/names.h"
#include "synapse/store.h"

#include "defaults.h"
#include "store.h"

/* The primary, then the backup: the chain config.json can describe. */
#define STORE_MAX_BACKENDS 2

/* One backend of a store's blob chain: started, or why it could not be. */
struct backend_link {
	struct syn_backend *be;
	unsigned int caps;
	int error;     /* when @be is NULL */
	char *message; /* when @be is NULL */
};

struct syn_store {
	struct syn_registry *reg;
	char *root;
	char *state_root;
	char *data_root;
	int state_fd;
	int data_fd;
	struct syn_lock *lock;
	int lock_depth;
	unsigned locks_taken; /* how many times the lock was taken: the current one's number while held */
	json_t *cleared_locks; /* the stale git locks the last lock taken removed */
	/* the blob chain, primary first; nbackends is 0 until it is built */
	struct backend_link backends[STORE_MAX_BACKENDS];
	size_t nbackends;
	/* what the modules above keep for the handle's lifetime (syn__store_set_cache()) */
	void *cache[SYN__CACHE_SLOTS];
	void (*cache_release[SYN__CACHE_SLOTS])(void *cache);
	unsigned hold, epoch; /* syn__store_hold() */
	char **trust_except;  /* held trusting (syn__store_hold_trusting()): all packs but these */
	size_t ntrust_except;
	bool trusting;
};

static char *env_or_null(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? (char *)v : NULL;
}

static int absolute(char **out, const char *path)
{
	struct syn_buf b = SYN_BUF_INIT;
	int rc = syn_fs_abspath(&b, path);

	if (rc) {
		syn_buf_dispose(&b);
		return rc;
	}
	*out = syn_buf_detach(&b);
	return *out ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

int syn_store_open(struct syn_store **out, struct syn_registry *reg, const char *root)
{
	struct syn_store *st;
	struct syn_buf b = SYN_BUF_INIT;
	const char *state = env_or_null("SYNAPSE_STATE_ROOT"), *data = env_or_null("SYNAPSE_DATA_ROOT");
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	st->reg = reg;
	st->state_fd = st->data_fd = -1;
	if (!root)
		root = env_or_null("SYNAPSE_ROOT");
	rc = absolute(&st->root, root ? root : "~/.synapse/store");
	if (!rc) {
		rc = syn_buf_printf(&b, "%s/state", st->root);
		if (!rc)
			rc = absolute(&st->state_root, state ? state : b.ptr);
		syn_buf_clear(&b);
	}
	if (!rc) {
		rc = syn_buf_printf(&b, "%s/data", st->root);
		if (!rc)
			rc = absolute(&st->data_root, data ? data : b.ptr);
	}
	syn_buf_dispose(&b);
	if (rc) {
		syn_store_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

static void forget_trust(struct syn_store *st)
{
	size_t i;

	for (i = 0; i < st->ntrust_except; i++)
		free(st->trust_except[i]);
	free(st->trust_except);
	st->trust_except = NULL;
	st->ntrust_except = 0;
	st->trusting = false;
}

void syn_store_free(struct syn_store *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->nbackends; i++) {
		if (st->backends[i].be)
			st->backends[i].be->free(st->backends[i].be);
		free(st->backends[i].message);
	}
	/* the caches first: a thread one of them keeps (a commit) ends under the lock */
	for (i = 0; i < SYN__CACHE_SLOTS; i++)
		if (st->cache_release[i])
			st->cache_release[i](st->cache[i]);
	if (st->lock)
		syn_lock_release(st->lock);
	forget_trust(st);
	json_decref(st->cleared_locks);
	if (st->state_fd >= 0)
		close(st->state_fd);
	if (st->data_fd >= 0)
		close(st->data_fd);
	free(st->root);
	free(st->state_root);
	free(st->data_root);
	free(st);
}

void syn__store_set_cache(struct syn_store *st, enum syn__cache_slot slot, void *cache, void (*release)(void *cache))
{
	if (st->cache_release[slot] && st->cache[slot] != cache)
		st->cache_release[slot](st->cache[slot]);
	st->cache[slot] = cache;
	st->cache_release[slot] = release;
}

void *syn__store_cache(const struct syn_store *st, enum syn__cache_slot slot)
{
	return st->cache[slot];
}

void syn__store_hold(struct syn_store *st)
{
	if (!st->hold++)
		st->epoch++;
}

int syn__store_hold_trusting(struct syn_store *st, const char *const *changed, size_t nchanged)
{
	char **copy = NULL;
	size_t i;

	if (st->hold) { /* only the outermost hold decides */
		syn__store_hold(st);
		return 0;
	}
	if (nchanged && !(copy = calloc(nchanged, sizeof(*copy))))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; i < nchanged; i++) {
		if (!(copy[i] = strdup(changed[i]))) {
			while (i)
				free(copy[--i]);
			free(copy);
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
	}
	syn__store_hold(st);
	st->trust_except = copy;
	st->ntrust_except = nchanged;
	st->trusting = true;
	return 0;
}

bool syn__store_trusts(const struct syn_store *st, const char *pack)
{
	size_t i;

	if (!st->hold || !st->trusting)
		return false;
	for (i = 0; i < st->ntrust_except; i++)
		if (!strcmp(st->trust_except[i], pack))
			return false;
	return true;
}

size_t syn__store_untrusted(const struct syn_store *st, const char *const **packs)
{
	*packs = (const char *const *)st->trust_except;
	return st->hold && st->trusting ? st->ntrust_except : 0;
}

bool syn__store_locked(const struct syn_store *st)
{
	return st->lock_depth > 0;
}

unsigned syn__store_lock_number(const struct syn_store *st)
{
	return st->lock_depth > 0 ? st->locks_taken : 0;
}

void syn__store_release(struct syn_store *st)
{
	if (st->hold && !--st->hold)
		forget_trust(st);
}

unsigned syn__store_held(const struct syn_store *st)
{
	return st->hold ? st->epoch : 0;
}

const char *syn_store_root(const struct syn_store *st)
{
	return st->root;
}

const char *syn_store_state_root(const struct syn_store *st)
{
	return st->state_root;
}

const char *syn_store_data_root(const struct syn_store *st)
{
	return st->data_root;
}

struct syn_registry *syn_store_registry(const struct syn_store *st)
{
	return st->reg;
}

bool syn_store_is_initialized(const struct syn_store *st)
{
	struct syn_buf p = SYN_BUF_INIT;
	struct stat sb;
	bool ok;

	ok = !syn_buf_printf(&p, "%s/config.json", st->state_root) && stat(p.ptr, &sb) == 0 && S_ISREG(sb.st_mode);
	syn_buf_dispose(&p);
	return ok;
}

int syn_store_require_init(const struct syn_store *st)
{
	if (syn_store_is_initialized(st))
		return 0;
	return syn_error_set(SYN_ENOTINIT, "store not initialized at %s; run 'synapse store init'", st->root);
}

static int open_dir_fd(int *cache, const char *path)
{
	if (*cache >= 0)
		return *cache;
	*cache = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*cache < 0) {
		if (errno == ENOENT)
			return syn_error_set(SYN_ENOTFOUND, "'%s' does not exist", path);
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", path);
	}
	return *cache;
}

int syn_store_state_fd(struct syn_store *st)
{
	return open_dir_fd(&st->state_fd, st->state_root);
}

int syn_store_data_fd(struct syn_store *st)
{
	return open_dir_fd(&st->data_fd, st->data_root);
}

/* Remove every "*.lock" directly inside @parent/@rel, naming each in @removed (may be NULL). */
static int clear_locks_in(int parent, const char *rel, json_t *removed)
{
	struct dirent *de;
	DIR *d = syn_fs_opendir(parent, rel);
	int fd, rc = 0;

	if (!d)
		return 0;
	fd = dirfd(d);
	while (!rc && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n <= 5 || strcmp(de->d_name + n - 5, ".lock"))
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0) {
			if (removed && json_array_append_new(removed, json_sprintf("state/%s/%s", rel, de->d_name)))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
		} else if (errno != ENOENT) {
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove stale git lock '%s/%s'", rel,
						 de->d_name);
		}
	}
	closedir(d);
	return rc;
}

int syn__store_clear_stale_locks(struct syn_store *st, json_t *removed)
{
	int fd = syn_store_state_fd(st), rc;

	if (fd < 0) /* no state/ yet: nothing to clear */
		return fd == SYN_ENOTFOUND ? (syn_error_clear(), 0) : fd;
	rc = clear_locks_in(fd, ".git", removed);
	if (!rc)
		rc = clear_locks_in(fd, ".git/refs/heads", removed);
	return rc;
}

const json_t *syn__store_cleared_locks(const struct syn_store *st)
{
	return st->cleared_locks;
}

int syn_store_lock(struct syn_store *st, const char *command)
{
	struct syn_buf path = SYN_BUF_INIT;
	int rc;

	if (st->lock_depth > 0) {
		st->lock_depth++;
		return 0;
	}
	rc = syn_fs_mkdirs(AT_FDCWD, st->data_root);
	if (!rc)
		rc = syn_buf_printf(&path, "%s/.synapse.lock", st->data_root);
	if (!rc)
		rc = syn_lock_acquire(&st->lock, path.ptr, syn_lock_default_timeout_ms(), command);
	syn_buf_dispose(&path);
	if (rc)
		return rc;
	st->lock_depth = 1;
	st->locks_taken++;
	json_decref(st->cleared_locks);
	st->cleared_locks = json_array();
	rc = st->cleared_locks ? syn__store_clear_stale_locks(st, st->cleared_locks)
			       : syn_error_set(SYN_ENOMEM, "out of memory");
	if (rc)
		syn_store_unlock(st);
	return rc;
}

void syn_store_unlock(struct syn_store *st)
{
	if (st->lock_depth <= 0 || --st->lock_depth > 0)
		return;
	/* a commit still being made ends under the lock it was started under */
	syn__store_set_cache(st, SYN__CACHE_COMMIT, NULL, NULL);
	syn_lock_release(st->lock);
	st->lock = NULL;
}

int syn_store_config(struct syn_store *st, json_t **out)
{
	struct syn_buf display = SYN_BUF_INIT;
	int fd, rc;

	*out = NULL;
	rc = syn_store_require_init(st);
	if (rc)
		return rc;
	fd = syn_store_state_fd(st);
	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&display, "%s/config.json", st->state_root);
	if (!rc)
		rc = syn_doc_read(out, fd, "config.json", display.ptr);
	syn_buf_dispose(&display);
	return rc;
}

int syn__store_read_or_default(json_t **out, int dirfd, const char *root, const char *relpath, json_t *fallback)
{
	struct syn_buf display = SYN_BUF_INIT;
	int rc = syn_buf_printf(&display, "%s/%s", root, relpath);

	if (!rc)
		rc = syn_doc_read(out, dirfd, relpath, display.ptr);
	syn_buf_dispose(&display);
	if (rc == SYN_ENOTFOUND) {
		*out = fallback;
		syn_error_clear();
		return fallback ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	json_decref(fallback);
	return rc;
}

static bool in_list(const json_t *list, const char *name)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (!strcmp(json_string_value(json_array_get(list, i)), name))
			return true;
	return false;
}

int syn__store_enabled_uis(const struct syn_store *st, const json_t *config, const json_t **out)
{
	const json_t *known = json_object_get(json_object_get(config, "ui"), "known");
	size_t i;

	*out = NULL;
	if (known && !json_is_array(known))
		return syn_error_set(SYN_ECORRUPT, "ui.known in '%s/config.json' is not a list", st->state_root);
	for (i = 0; i < json_array_size(known); i++) {
		const char *ui = json_string_value(json_array_get(known, i));

		if (!ui || syn_name_check_ident("UI name", ui))
			return syn_error_set(SYN_ECORRUPT, "ui.known in '%s/config.json' has an invalid entry",
					     st->state_root);
	}
	*out = known;
	return 0;
}

int syn__store_enabled_members(const struct syn_store *st, const char *name, const json_t *set, const json_t *known,
			   json_t **out)
{
	json_t *arr = json_array();
	size_t i;

	*out = NULL;
	if (!arr)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(set); i++) {
		const char *ui = json_string_value(json_array_get(set, i));

		if (!ui || syn_name_check_ident("UI name", ui)) {
			json_decref(arr);
			return syn_error_set(SYN_ECORRUPT, "UI set '%s' in '%s/ui_sets.json' has an invalid entry",
					     name, st->state_root);
		}
		if (in_list(known, ui) && !in_list(arr, ui) && json_array_append_new(arr, json_string(ui))) {
			json_decref(arr);
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
	}
	*out = arr;
	return 0;
}

/* SYN_ENOTFOUND for set @ui_set, listing the sets and UIs that would work. */
static int unknown_set(const struct syn_store *st, const char *ui_set, const json_t *sets, const json_t *known)
{
	struct syn_buf names = SYN_BUF_INIT, uis = SYN_BUF_INIT;
	const char *key;
	json_t *v;
	size_t i;
	int rc;

	rc = syn_buf_puts(&names, "all");
	json_object_foreach((json_t *)sets, key, v)
		if (!rc && strcmp(key, "all") && json_is_array(v))
			rc = syn_buf_printf(&names, ", %s", key);
	for (i = 0; !rc && i < json_array_size(known); i++)
		rc = syn_buf_printf(&uis, "%s%s", i ? ", " : "", json_string_value(json_array_get(known, i)));
	if (!rc && syn_registry_ui(st->reg, ui_set))
		rc = syn_error_set(SYN_ENOTFOUND, "unknown UI set '%s'; known sets: %s; enabled UIs: %s; UI '%s' is "
				   "available but not enabled: run 'synapse ui enable %s'", ui_set, names.ptr,
				   uis.len ? uis.ptr : "(none)", ui_set, ui_set);
	else if (!rc)
		rc = syn_error_set(SYN_ENOTFOUND, "unknown UI set '%s'; known sets: %s; enabled UIs: %s", ui_set,
				   names.ptr, uis.len ? uis.ptr : "(none)");
	syn_buf_dispose(&names);
	syn_buf_dispose(&uis);
	return rc;
}

/*
 * `all` is every enabled UI, so a UI enabled later is in it; any other name
 * is a set of ui_sets.json, else an enabled UI as a set of one.
 */
int syn_store_ui_targets(struct syn_store *st, const char *ui_set, json_t **out)
{
	json_t *config = NULL, *sets_doc = NULL, *set;
	const json_t *known = NULL;
	int fd, rc;

	*out = NULL;
	rc = syn_store_config(st, &config);
	if (!rc)
		rc = syn__store_enabled_uis(st, config, &known);
	if (rc)
		goto out;
	if (!ui_set)
		ui_set = syn_doc_str(json_object_get(config, "defaults"), "ui_set", "local");
	if (!strcmp(ui_set, "all")) {
		rc = syn__store_enabled_members(st, ui_set, known, known, out);
		goto out;
	}
	fd = syn_store_state_fd(st);
	rc = fd < 0 ? fd : syn__store_read_or_default(&sets_doc, fd, st->state_root, "ui_sets.json",
						       syn__default_ui_sets());
	if (rc)
		goto out;
	set = json_object_get(json_object_get(sets_doc, "sets"), ui_set);
	if (json_is_array(set))
		rc = syn__store_enabled_members(st, ui_set, set, known, out);
	else if (in_list(known, ui_set))
		rc = (*out = json_pack("[s]", ui_set)) ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	else
		rc = unknown_set(st, ui_set, json_object_get(sets_doc, "sets"), known);
out:
	json_decref(sets_doc);
	json_decref(config);
	return rc;
}

static int kind_map_from(const struct syn_store *st, const json_t *config, const char *ui, json_t **out)
{
	const struct syn_ui_layout *layout = syn_registry_ui(st->reg, ui);
	json_t *over = json_object_get(json_object_get(json_object_get(config, "ui"), "kind_map"), ui);
	json_t *map = json_object();
	const char *kind;
	json_t *v;
	size_t i;
	int rc;

	if (!layout && !json_is_object(over)) {
		json_decref(map);
		return syn_error_set(SYN_ENOTFOUND, "unknown UI '%s': no layout plugin and no ui.kind_map entry", ui);
	}
	for (i = 0; map && layout && layout->folders[i].kind; i++)
		if (json_object_set_new(map, layout->folders[i].kind, json_string(layout->folders[i].folder))) {
			json_decref(map);
			map = NULL;
		}
	if (!map)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	json_object_foreach(over, kind, v) {
		const char *folder = json_string_value(v);

		rc = syn_name_check_ident("asset kind", kind);
		if (!rc)
			rc = folder ? syn_name_check_relpath("folder", folder)
				    : syn_error_set(SYN_EINVALID, "folder is not a string");
		if (rc) {
			json_decref(map);
			return syn_error_prefix("config.json ui.kind_map.%s.%s", ui, kind);
		}
		if (json_object_set(map, kind, v)) {
			json_decref(map);
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
	}
	*out = map;
	return 0;
}

int syn_store_kind_map(struct syn_store *st, const char *ui, json_t **out)
{
	json_t *config = NULL;
	int rc;

	*out = NULL;
	rc = syn_name_check_ident("UI name", ui);
	if (!rc)
		rc = syn_store_config(st, &config);
	if (!rc)
		rc = kind_map_from(st, config, ui, out);
	json_decref(config);
	return rc;
}

/*
 * What @be can do: declared by an instance of version 2 or later, derived
 * from the methods a version 1 instance has (the only place that looks at
 * which pointers are set).
 */
static unsigned int backend_caps(struct syn_backend *be)
{
	unsigned int caps = 0;

	if (be->version >= 2)
		return SYN_VTABLE_HAS(be, 2, capabilities) ? be->capabilities(be) : 0;
	if (be->stage_open && be->stage_commit && be->stage_abort)
		caps |= SYN_BACKEND_CAP_STAGE;
	if (be->local_path)
		caps |= SYN_BACKEND_CAP_LOCAL_PATH;
	if (be->put)
		caps |= SYN_BACKEND_CAP_PUT;
	if (be->remove)
		caps |= SYN_BACKEND_CAP_REMOVE;
	if (be->foreach)
		caps |= SYN_BACKEND_CAP_LIST;
	return caps;
}

/*
 * Refuse an instance whose bits promise methods it lacks, so that callers
 * test a bit and nothing else.
 */
static int check_backend(struct syn_backend *be, unsigned int caps, const char *name)
{
	const char *lacks = NULL;

	if (!be->exists || !be->size || !be->open || !be->free)
		lacks = "exists(), size(), open() or free()";
	else if ((caps & SYN_BACKEND_CAP_STAGE) && (!be->stage_open || !be->stage_commit || !be->stage_abort))
		lacks = "stage_open(), stage_commit() or stage_abort()";
	else if ((caps & SYN_BACKEND_CAP_LOCAL_PATH) && !be->local_path)
		lacks = "local_path()";
	else if ((caps & SYN_BACKEND_CAP_PUT) && !be->put)
		lacks = "put()";
	else if ((caps & SYN_BACKEND_CAP_REMOVE) && !be->remove)
		lacks = "remove()";
	else if ((caps & SYN_BACKEND_CAP_LIST) && !be->foreach)
		lacks = "foreach()";
	else if ((caps & SYN_BACKEND_CAP_META) && (!SYN_VTABLE_HAS(be, 2, meta_read) || !SYN_VTABLE_HAS(be, 2, meta_write)))
		lacks = "meta_read() or meta_write()";
	else if ((caps & SYN_BACKEND_CAP_QUARANTINE) && !SYN_VTABLE_HAS(be, 2, quarantine))
		lacks = "quarantine()";
	else if ((caps & SYN_BACKEND_CAP_SPACE) && !SYN_VTABLE_HAS(be, 3, space))
		lacks = "space()";
	else if ((caps & SYN_BACKEND_CAP_LINK) && !SYN_VTABLE_HAS(be, 4, link))
		lacks = "link()";
	if (!lacks)
		return 0;
	return syn_error_set(SYN_EINVALID, "the '%s' blob backend declares capabilities it does not implement: "
			     "it has no %s; update its plugin", name, lacks);
}

/* Create an instance of backend class @name into @link. */
static int start_backend(struct syn_store *st, const char *name, const char *root, const json_t *options,
			 struct backend_link *link)
{
	const struct syn_backend_class *cls = syn_registry_backend(st->reg, name);
	struct syn_backend_params params = { SYN_BACKEND_VERSION, st->data_root, root, syn_fs_fsync_enabled(),
					     options };
	struct syn_backend *be = NULL;
	int rc;

	if (!cls)
		return syn_error_set(SYN_ENOTFOUND, "no plugin provides the '%s' blob backend; "
				     "check that Synapse's plugins are installed (see 'synapse plugins')", name);
	rc = cls->create(&be, &params);
	if (rc)
		return syn_error_prefix("cannot start the '%s' blob backend", name);
	if (!be || be->version < 1 || be->version > SYN_BACKEND_VERSION) {
		rc = syn_error_set(SYN_EUNSUPPORTED, "the '%s' blob backend has an unsupported version", name);
		goto out_free;
	}
	link->caps = backend_caps(be);
	rc = check_backend(be, link->caps, name);
	if (rc)
		goto out_free;
	link->be = be;
	return 0;
out_free:
	if (be && be->free)
		be->free(be);
	return rc;
}

/*
 * The backup named by config.json, appended to the chain. Whether it
 * started or not it takes its place: a backup that is not there is an error
 * for the command that needs it, not for every command.
 */
static int add_backup(struct syn_store *st)
{
	struct backend_link *link = &st->backends[st->nbackends];
	json_t *config = NULL, *backup;
	const char *name;
	int rc = 0;

	if (!syn_store_is_initialized(st))
		return 0;
	rc = syn_store_config(st, &config);
	if (rc)
		return rc;
	backup = json_object_get(config, "backup");
	if (!json_is_true(json_object_get(backup, "enabled")))
		goto out;
	name = syn_doc_str(backup, "backend", "backup_path");
	rc = syn_name_check_ident("backup.backend", name);
	if (!rc)
		rc = start_backend(st, name, json_string_value(json_object_get(backup, "path")),
				   json_is_object(json_object_get(backup, name)) ? json_object_get(backup, name) : NULL,
				   link);
	if (rc == SYN_ENOMEM)
		goto out;
	if (rc) {
		syn_error_prefix("the backup named by config.json backup.backend is unavailable "
				 "(enable its plugin, or change or disable the backup)");
		link->error = rc;
		link->message = strdup(syn_error_last());
		syn_error_clear();
		rc = link->message ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (!rc)
		st->nbackends++;
out:
	json_decref(config);
	return rc;
}

/* Build the chain on first use: the primary must start, the backup may be missing. */
static int build_chain(struct syn_store *st)
{
	int rc;

	if (st->nbackends)
		return 0;
	rc = start_backend(st, "local", NULL, NULL, &st->backends[0]);
	if (rc)
		return rc;
	st->nbackends = 1;
	rc = add_backup(st);
	if (rc) {
		st->backends[0].be->free(st->backends[0].be);
		memset(&st->backends[0], 0, sizeof(st->backends[0]));
		st->nbackends = 0;
	}
	return rc;
}

int syn_store_backend_count(struct syn_store *st, size_t *out)
{
	int rc = build_chain(st);

	*out = rc ? 0 : st->nbackends;
	return rc;
}

int syn_store_backend_at(struct syn_store *st, size_t index, struct syn_backend **out, unsigned int *caps)
{
	const struct backend_link *link;
	int rc = build_chain(st);

	*out = NULL;
	if (caps)
		*caps = 0;
	if (rc)
		return rc;
	if (index >= st->nbackends)
		return syn_error_set(SYN_EINVALID, "the blob chain has no backend %zu", index);
	link = &st->backends[index];
	if (!link->be)
		return syn_error_set(link->error, "%s", link->message);
	*out = link->be;
	if (caps)
		*caps = link->caps;
	return 0;
}

int syn_store_backend(struct syn_store *st, struct syn_backend **out)
{
	return syn_store_backend_at(st, 0, out, NULL);
}
