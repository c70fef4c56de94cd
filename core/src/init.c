/*
 * init: `store init`, creating a store's directories and default documents
 * (or, with --force, repairing them) and giving every enabled UI its view.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/profile.h"
#include "synapse/state.h"
#include "synapse/store.h"

#include "defaults.h"
#include "docs.h"
#include "runtime.h"
#include "store.h"
#include "view.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

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

	if (!doc || syn__store_enabled_uis(st, config, &known))
		goto fail;
	json_object_foreach_safe(sets, tmp, name, set) {
		if (syn__store_enabled_members(st, name, set, known, &only))
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
		return syn__default_config(syn_store_registry(st));
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
		const char *root = d->in_state ? syn_store_state_root(st) : syn_store_data_root(st);
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
			if (!rc && json_array_append_new(repaired, json_pack("{s:s, s:s}", "document", display.ptr,
									     "moved_to", moved.ptr)))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
			rc = rc ? rc : SYN_ENOTFOUND;
		}
		if (rc == SYN_ENOTFOUND) {
			syn_error_clear();
			doc = make_default(st, d->relpath, config);
			rc = doc ? syn_doc_write(fd, d->relpath, doc) : syn_error_set(SYN_ENOMEM, "out of memory");
			if (!rc && !moved.len && json_array_append_new(repaired, json_pack("{s:s, s:n}", "document",
												   display.ptr, "moved_to")))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
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
	struct syn__runtime_ctx c;
	json_t *report = NULL;
	size_t i;
	int rc;

	rc = syn__runtime_ctx_load(st, "*", &c);
	for (i = 0; !rc && i < json_array_size(c.targets); i++) {
		const char *ui = json_string_value(json_array_get(c.targets, i));
		struct syn_buf active = SYN_BUF_INIT;
		json_t *stack;
		const char *top;

		if (!ui || syn_name_check_ident("UI name", ui)) {
			rc = syn_error_prefix("config.json ui.known");
			break;
		}
		stack = syn__runtime_stack(c.runtime, ui);
		top = json_string_value(json_array_get(stack, json_array_size(stack) - 1));
		rc = stack ? syn_view_build(st, ui, top, false, &report) : syn_error_set(SYN_ENOMEM, "out of memory");
		if (!rc && (syn__view_read_active(st, ui, &active) || strcmp(active.ptr, top)))
			rc = syn__view_set_active(st, ui, top);
		json_decref(report);
		report = NULL;
		json_decref(stack);
		syn_buf_dispose(&active);
	}
	syn__runtime_ctx_free(&c);
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
	rc = repaired ? syn_fs_mkdirs(AT_FDCWD, syn_store_state_root(st)) : syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		rc = syn_fs_mkdirs(AT_FDCWD, syn_store_data_root(st));
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
		*report = json_pack("{s:b, s:s, s:b, s:O}", "initialized", 1, "root", syn_store_root(st),
				    "created", !was, "repaired", repaired);
		if (!*report)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
out:
	json_decref(repaired);
	return rc;
}
