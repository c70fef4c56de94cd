/* The store: root resolution, layout, lock, init, config and status. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/lock.h"
#include "synapse/names.h"
#include "synapse/profile.h"
#include "synapse/blob.h"
#include "synapse/state.h"
#include "synapse/store.h"

#include "defaults.h"
#include "docs.h"
#include "internal.h"
#include "store.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

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
	/* the blob chain, primary first; nbackends is 0 until it is built */
	struct backend_link backends[STORE_MAX_BACKENDS];
	size_t nbackends;
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
	if (st->lock)
		syn_lock_release(st->lock);
	if (st->state_fd >= 0)
		close(st->state_fd);
	if (st->data_fd >= 0)
		close(st->data_fd);
	free(st->root);
	free(st->state_root);
	free(st->data_root);
	free(st);
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
	rc = syn_state_clear_stale_locks(st);
	if (rc)
		syn_store_unlock(st);
	return rc;
}

void syn_store_unlock(struct syn_store *st)
{
	if (st->lock_depth <= 0 || --st->lock_depth > 0)
		return;
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

json_t *syn__runtime_stack(const json_t *runtime, const char *ui)
{
	json_t *stack = json_object_get(json_object_get(json_object_get(runtime, "ui"), ui), "stack");
	json_t *copy = json_array();
	size_t i;

	for (i = 0; i < json_array_size(stack); i++)
		if (json_is_string(json_array_get(stack, i)))
			json_array_append(copy, json_array_get(stack, i));
	if (json_array_size(copy) == 0)
		json_array_append_new(copy, json_string(SYN_PROFILE_GLOBAL));
	return copy;
}

static bool in_list(const json_t *list, const char *name)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (!strcmp(json_string_value(json_array_get(list, i)), name))
			return true;
	return false;
}

/* config.json ui.known, checked: every entry a valid UI name. Borrowed from @config. */
static int enabled_uis(const struct syn_store *st, const json_t *config, const json_t **out)
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

/*
 * The enabled members of @set (named @name, from ui_sets.json) as a new
 * array: a set may name a UI that is not enabled (a default set, a UI
 * disabled since), which commands leave alone.
 */
static int enabled_members(const struct syn_store *st, const char *name, const json_t *set, const json_t *known,
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
		rc = enabled_uis(st, config, &known);
	if (rc)
		goto out;
	if (!ui_set)
		ui_set = syn_doc_str(json_object_get(config, "defaults"), "ui_set", "local");
	if (!strcmp(ui_set, "all")) {
		rc = enabled_members(st, ui_set, known, known, out);
		goto out;
	}
	fd = syn_store_state_fd(st);
	rc = fd < 0 ? fd : syn__store_read_or_default(&sets_doc, fd, st->state_root, "ui_sets.json", syn__default_ui_sets());
	if (rc)
		goto out;
	set = json_object_get(json_object_get(sets_doc, "sets"), ui_set);
	if (json_is_array(set))
		rc = enabled_members(st, ui_set, set, known, out);
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
	for (i = 0; layout && layout->folders[i].kind; i++)
		json_object_set_new(map, layout->folders[i].kind, json_string(layout->folders[i].folder));
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
		json_object_set(map, kind, v);
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

/* ---- init ---------------------------------------------------------------- */

struct default_doc {
	bool in_state;
	const char *relpath;
};

static const struct default_doc default_docs[] = {
	{ true, "config.json" },
	{ true, "ui_sets.json" },
	{ true, "profiles/" SYN_PROFILE_GLOBAL "/profile.json" },
	{ false, "runtime.json" },
};

/*
 * The default ui_sets.json with only the enabled UIs of @config in each set,
 * and no set left empty but `local`, the default one. NULL when out of memory.
 */
static json_t *default_sets_of(struct syn_store *st, const json_t *config)
{
	json_t *doc = syn__default_ui_sets(), *sets = json_object_get(doc, "sets"), *set, *only = NULL;
	const json_t *known = NULL;
	const char *name;
	void *tmp;

	if (!doc || enabled_uis(st, config, &known))
		goto fail;
	json_object_foreach_safe(sets, tmp, name, set) {
		if (enabled_members(st, name, set, known, &only))
			goto fail;
		if (json_array_size(only) == 0 && strcmp(name, "local"))
			json_object_del(sets, name);
		else if (json_object_set(sets, name, only))
			goto fail;
		json_decref(only);
		only = NULL;
	}
	return doc;
fail:
	json_decref(only);
	json_decref(doc);
	return NULL;
}

static json_t *make_default(struct syn_store *st, const char *relpath, const json_t *config)
{
	if (!strcmp(relpath, "config.json"))
		return syn__default_config(st->reg);
	if (!strcmp(relpath, "ui_sets.json"))
		return default_sets_of(st, config);
	if (!strcmp(relpath, "runtime.json"))
		return syn__default_runtime(config);
	return syn__default_profile(SYN_PROFILE_GLOBAL);
}

/*
 * Move an unparseable document aside to <name>.corrupt-<UTC timestamp>
 * (with -N appended when that name is taken: an earlier copy is never lost).
 */
static int move_aside(int dirfd, const char *relpath, struct syn_buf *moved)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n, rc;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (n = 0; n < 1000; n++) {
		syn_buf_clear(moved);
		rc = n ? syn_buf_printf(moved, "%s.corrupt-%s-%d", relpath, stamp, n)
		       : syn_buf_printf(moved, "%s.corrupt-%s", relpath, stamp);
		if (rc)
			return rc;
		if (renameat2(dirfd, relpath, dirfd, moved->ptr, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST)
			return syn_error_set_errno(SYN_EIO, errno, "cannot move '%s' aside", relpath);
	}
	return syn_error_set(SYN_EEXISTS, "cannot move '%s' aside: too many earlier copies", relpath);
}

/* Write every default document that is missing (or, with @force, corrupt). */
static int init_documents(struct syn_store *st, bool force, json_t *repaired)
{
	json_t *config = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < sizeof(default_docs) / sizeof(default_docs[0]); i++) {
		const struct default_doc *d = &default_docs[i];
		const char *root = d->in_state ? st->state_root : st->data_root;
		int fd = d->in_state ? syn_store_state_fd(st) : syn_store_data_fd(st);
		struct syn_buf display = SYN_BUF_INIT, moved = SYN_BUF_INIT;
		json_t *doc = NULL;

		if (fd < 0) {
			rc = fd;
			break;
		}
		rc = syn_buf_printf(&display, "%s/%s", root, d->relpath);
		if (!rc)
			rc = syn_doc_read(&doc, fd, d->relpath, display.ptr);
		if (rc == SYN_ECORRUPT && force) {
			rc = move_aside(fd, d->relpath, &moved);
			if (!rc)
				json_array_append_new(repaired, json_pack("{s:s, s:s}", "document", display.ptr,
									  "moved_to", moved.ptr));
			rc = rc ? rc : SYN_ENOTFOUND;
		}
		if (rc == SYN_ENOTFOUND) {
			syn_error_clear();
			doc = make_default(st, d->relpath, config);
			rc = doc ? syn_doc_write(fd, d->relpath, doc) : syn_error_set(SYN_ENOMEM, "out of memory");
			if (!rc && !moved.len)
				json_array_append_new(repaired, json_pack("{s:s, s:n}", "document", display.ptr,
									  "moved_to"));
		}
		if (!rc && !strcmp(d->relpath, "config.json")) {
			config = doc;
			doc = NULL;
		}
		json_decref(doc);
		syn_buf_dispose(&display);
		syn_buf_dispose(&moved);
	}
	json_decref(config);
	return rc;
}

/*
 * Give every known UI the view of the top of its stack and an `active`
 * link to it (a store made by the original has neither).
 */
static int init_views(struct syn_store *st)
{
	json_t *config = NULL, *runtime = NULL, *known, *report = NULL;
	size_t i;
	int rc;

	rc = syn_store_config(st, &config);
	if (!rc)
		rc = syn__docs_runtime_read(st, config, &runtime);
	known = json_object_get(json_object_get(config, "ui"), "known");
	for (i = 0; !rc && i < json_array_size(known); i++) {
		const char *ui = json_string_value(json_array_get(known, i));
		struct syn_buf active = SYN_BUF_INIT;
		json_t *stack;
		const char *top;

		if (!ui || syn_name_check_ident("UI name", ui)) {
			rc = syn_error_prefix("config.json ui.known");
			break;
		}
		stack = syn__runtime_stack(runtime, ui);
		top = json_string_value(json_array_get(stack, json_array_size(stack) - 1));
		rc = syn_view_build(st, ui, top, false, &report);
		if (!rc && (syn__view_read_active(st, ui, &active) || strcmp(active.ptr, top)))
			rc = syn__view_set_active(st, ui, top);
		json_decref(report);
		report = NULL;
		json_decref(stack);
		syn_buf_dispose(&active);
	}
	json_decref(runtime);
	json_decref(config);
	return rc;
}

int syn_store_init(struct syn_store *st, bool force, json_t **report)
{
	static const char *const state_dirs[] = { "packs", "profiles" };
	static const char *const data_dirs[] = { "blobs/sha256", "views", "cache", "tmp" };
	bool was = syn_store_is_initialized(st);
	json_t *repaired = json_array();
	size_t i;
	int rc;

	*report = NULL;
	rc = syn_fs_mkdirs(AT_FDCWD, st->state_root);
	if (!rc)
		rc = syn_fs_mkdirs(AT_FDCWD, st->data_root);
	if (rc)
		goto out;
	rc = syn_store_lock(st, force ? "store init --force" : "store init");
	if (rc)
		goto out;
	for (i = 0; !rc && i < sizeof(state_dirs) / sizeof(state_dirs[0]); i++)
		rc = syn_fs_mkdirs(syn_store_state_fd(st), state_dirs[i]);
	for (i = 0; !rc && i < sizeof(data_dirs) / sizeof(data_dirs[0]); i++)
		rc = syn_fs_mkdirs(syn_store_data_fd(st), data_dirs[i]);
	if (!rc && (!was || force))
		rc = init_documents(st, force, repaired);
	if (!rc)
		rc = syn_state_ensure_repo(st);
	if (!rc && (!was || force))
		rc = init_views(st);
	if (!rc)
		rc = syn_state_commit(st, force ? "store init --force" : "store init", NULL);
	syn_store_unlock(st);
	if (!rc) {
		/* a new store's documents are all "recreated": only what was moved aside is news */
		if (!was) {
			size_t k = json_array_size(repaired);

			while (k-- > 0)
				if (json_is_null(json_object_get(json_array_get(repaired, k), "moved_to")))
					json_array_remove(repaired, k);
		}
		*report = json_pack("{s:b, s:s, s:b, s:O}", "initialized", 1, "root", st->root, "created", !was,
				    "repaired", repaired);
	}
out:
	json_decref(repaired);
	return rc;
}

/* ---- status -------------------------------------------------------------- */

/* Add missing blobs and unresolved entries of @pack (per its lock.json). */
/*
 * Add what pack @pack lacks to the status lists: blobs not in the store,
 * required dependencies without a lock entry (@unresolved) and optional ones,
 * such as a base-model hint no source can name (@optional: not an error).
 */
static void status_pack(struct syn_store *st, const char *pack, json_t *missing, json_t *unresolved, json_t *optional,
			json_t *notes)
{
	json_t *lock = NULL, *packdoc = NULL, *deps, *entry;
	int fd = syn_store_state_fd(st), rc;
	size_t i, j;

	if (fd < 0 || syn_name_check_pack(pack)) {
		json_array_append_new(notes, json_string(syn_error_last()));
		return;
	}
	rc = syn__docs_pack_read(st, pack, "lock.json", &lock);
	if (rc && rc != SYN_ENOTFOUND)
		json_array_append_new(notes, json_string(syn_error_last()));
	if (syn__docs_pack_read(st, pack, "pack.json", &packdoc) == SYN_ECORRUPT)
		json_array_append_new(notes, json_string(syn_error_last()));
	deps = json_object_get(packdoc, "dependencies");
	json_array_foreach(json_object_get(lock, "resolved"), i, entry) {
		const char *dep = syn_doc_str(entry, "dependency_id", "");
		const char *sha = syn_doc_str(json_object_get(entry, "artifact"), "sha256", "");
		const char *kind = "unknown";
		json_t *d;

		if (!*sha || syn_blob_exists(st, sha))
			continue;
		json_array_foreach(deps, j, d)
			if (!strcmp(syn_doc_str(d, "id", ""), dep))
				kind = syn_doc_str(d, "kind", "unknown");
		json_array_append_new(missing, json_pack("{s:s, s:s, s:s, s:s}", "pack", pack, "dependency_id", dep,
							 "kind", kind, "sha256", sha));
	}
	json_array_foreach(json_object_get(lock, "unresolved"), i, entry) {
		json_t *details = json_object_get(entry, "details"), *d, *list = unresolved;

		json_array_foreach(deps, j, d)
			if (!strcmp(syn_doc_str(d, "id", ""), syn_doc_str(entry, "dependency_id", "")) &&
			    json_is_false(json_object_get(d, "required")))
				list = optional;
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o}", "pack", pack,
			"dependency_id", syn_doc_str(entry, "dependency_id", ""), "reason",
			syn_doc_str(entry, "reason", ""), "details", details ? json_incref(details) : json_object()));
	}
	syn_error_clear();
	json_decref(lock);
	json_decref(packdoc);
}

/* Whether views/<ui>/profiles/<profile> is a directory. */
static bool view_exists(struct syn_store *st, const char *ui, const char *profile)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct stat sb;
	int fd = syn_store_data_fd(st);
	bool ok;

	ok = fd >= 0 && !syn_buf_printf(&rel, "views/%s/profiles/%s", ui, profile) &&
	     fstatat(fd, rel.ptr, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
	syn_buf_dispose(&rel);
	return ok;
}

int syn_store_status(struct syn_store *st, const char *ui_set, json_t **out)
{
	json_t *config = NULL, *runtime = NULL, *targets = NULL, *profile_doc = NULL;
	json_t *active = json_object(), *stacks = json_object(), *in_sync = json_object();
	json_t *missing = json_array(), *unresolved = json_array(), *notes = json_array(), *shadowed = json_array();
	json_t *optional = json_array();
	const char *profile = SYN_PROFILE_GLOBAL;
	json_t *first_stack = NULL, *v;
	size_t i;
	int rc;

	*out = NULL;
	rc = syn_store_config(st, &config);
	if (!rc)
		rc = syn_store_ui_targets(st, ui_set, &targets);
	if (!rc)
		rc = syn__docs_runtime_read(st, config, &runtime);
	if (rc)
		goto out;
	json_array_foreach(targets, i, v) {
		const char *ui = json_string_value(v);
		json_t *stack = syn__runtime_stack(runtime, ui);
		const char *top = json_string_value(json_array_get(stack, json_array_size(stack) - 1));
		struct syn_buf link = SYN_BUF_INIT;
		bool ok = false;

		if (syn__view_read_active(st, ui, &link)) {
			json_object_set_new(active, ui, json_null());
			json_array_append_new(notes, json_sprintf("%s: %s", ui, syn_error_last()));
		} else {
			json_object_set_new(active, ui, json_string(link.ptr));
			ok = !strcmp(link.ptr, top);
			if (!ok)
				json_array_append_new(notes, json_sprintf("%s: active view is '%s' but the top of its "
					"stack is '%s'; run 'synapse doctor --rebuild-views'", ui, link.ptr, top));
			else if (!view_exists(st, ui, top)) {
				ok = false;
				json_array_append_new(notes, json_sprintf("%s: the view of '%s' is missing; run "
					"'synapse doctor --rebuild-views'", ui, top));
			} else if (!syn__view_is_current(st, ui, top)) {
				ok = false;
				json_array_append_new(notes, json_sprintf("%s: the view of '%s' is out of date; run "
					"'synapse doctor --rebuild-views'", ui, top));
			}
			if (ok) {
				json_t *plan = NULL;

				if (!syn_view_plan(st, ui, top, &plan))
					json_array_extend(shadowed, json_object_get(plan, "shadowed"));
				syn_error_clear();
				json_decref(plan);
			}
		}
		json_object_set_new(in_sync, ui, json_boolean(ok));
		json_object_set(stacks, ui, stack);
		if (!first_stack)
			first_stack = json_incref(stack);
		json_decref(stack);
		syn_buf_dispose(&link);
	}
	if (first_stack)
		profile = json_string_value(json_array_get(first_stack, json_array_size(first_stack) - 1));
	if (syn__docs_profile_read(st, profile, &profile_doc))
		json_array_append_new(notes, json_string(syn_error_last()));
	json_array_foreach(json_object_get(profile_doc, "packs"), i, v)
		status_pack(st, syn_doc_str(v, "name", ""), missing, unresolved, optional, notes);
	*out = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "profile", profile, "ui_targets", targets,
			 "active", active, "stacks", stacks, "in_sync", in_sync, "missing_blobs", missing,
			 "unresolved", unresolved, "unresolved_optional", optional, "shadowed", shadowed, "notes", notes);
	syn_error_clear();
	if (!*out)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
out:
	json_decref(first_stack);
	json_decref(profile_doc);
	json_decref(config);
	json_decref(runtime);
	json_decref(targets);
	json_decref(active);
	json_decref(stacks);
	json_decref(in_sync);
	json_decref(missing);
	json_decref(unresolved);
	json_decref(optional);
	json_decref(notes);
	json_decref(shadowed);
	return rc;
}
