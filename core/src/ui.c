/*
 * The UIs of a store (see synapse/ui.h): listing the loaded layouts and
 * enabling or disabling one. What a UI is comes from its layout; what the
 * store does with it comes from config.json ui.known.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/profile.h"
#include "synapse/registry.h"
#include "synapse/state.h"
#include "synapse/store.h"
#include "synapse/ui.h"

#include "docs.h"
#include "attach.h"
#include "view.h"

static int nomem(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* The index of @name in the array @list, or -1. */
static long index_of(const json_t *list, const char *name)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (json_is_string(json_array_get(list, i)) && !strcmp(json_string_value(json_array_get(list, i)), name))
			return (long)i;
	return -1;
}

/* The name of the plugin that registered UI @ui, from a registry report (borrowed), or NULL. */
static const char *plugin_of(const json_t *plugins, const char *ui)
{
	json_t *p, *u;
	size_t i, k;

	json_array_foreach(json_object_get(plugins, "plugins"), i, p)
		json_array_foreach(json_object_get(json_object_get(p, "registered"), "uis"), k, u)
			if (json_is_string(u) && !strcmp(json_string_value(u), ui))
				return json_string_value(json_object_get(p, "name"));
	return NULL;
}

/* The layout's own kind -> folder table as a new object, or NULL when out of memory. */
static json_t *layout_map(const struct syn_ui_layout *layout)
{
	json_t *map = json_object();
	size_t i;

	for (i = 0; map && layout && layout->folders[i].kind; i++)
		if (json_object_set_new(map, layout->folders[i].kind, json_string(layout->folders[i].folder))) {
			json_decref(map);
			map = NULL;
		}
	return map;
}

/* ---- ui list ------------------------------------------------------------------ */

/* Whether @layout's detect() recognises an install at the absolute path @root. */
static bool detected_at(const struct syn_ui_layout *layout, const char *root)
{
	bool found = false;
	int fd;

	if (!layout || !layout->detect || !root)
		return false;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		found = layout->detect(fd);
		close(fd);
	}
	return found;
}

/*
 * Append the `ui list` entry of UI @name (@layout NULL: known from
 * config.json alone) to @uis.
 */
static int list_one(struct syn_store *st, const json_t *config, const json_t *plugins, const char *name,
		    const struct syn_ui_layout *layout, bool enabled, json_t *uis)
{
	const json_t *roots = json_object_get(json_object_get(config, "ui"), "roots");
	const char *root = json_string_value(json_object_get(roots, name));
	struct syn_buf abs = SYN_BUF_INIT;
	json_t *map = NULL, *entry;
	int rc = 0;

	if (!root || !*root)
		root = layout ? layout->default_root : NULL;
	if (root && syn_fs_abspath(&abs, root))
		syn_error_clear();
	/* a kind map config.json gets wrong is shown as the layout has it; status and use report the error */
	if (config && syn_store_kind_map(st, name, &map))
		syn_error_clear();
	if (!map)
		map = layout_map(layout);
	if (!map) {
		rc = nomem();
		goto out;
	}
	entry = json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:O, s:b, s:s}", "name", name,
			  "display_name", layout ? layout->display_name : NULL, "plugin", plugin_of(plugins, name),
			  "root", abs.len ? abs.ptr : root, "detected", detected_at(layout, abs.len ? abs.ptr : NULL),
			  "kind_map", map, "enabled", enabled, "attach", syn__attach_method(layout));
	if (!entry || json_array_append_new(uis, entry))
		rc = nomem();
out:
	json_decref(map);
	syn_buf_dispose(&abs);
	return rc;
}

int syn_ui_list(struct syn_store *st, json_t **report)
{
	const struct syn_registry *reg = syn_store_registry(st);
	json_t *plugins = syn_registry_report(reg), *uis = json_array(), *config = NULL, *known, *v;
	size_t i;
	int rc = 0;

	*report = NULL;
	if (!plugins || !uis) {
		rc = nomem();
		goto out;
	}
	if (syn_store_is_initialized(st))
		rc = syn_store_config(st, &config);
	if (rc)
		goto out;
	known = json_object_get(json_object_get(config, "ui"), "known");
	for (i = 0; !rc && i < syn_registry_ui_count(reg); i++) {
		const struct syn_ui_layout *layout = syn_registry_ui_at(reg, i);

		rc = list_one(st, config, plugins, layout->name, layout, index_of(known, layout->name) >= 0, uis);
	}
	/* enabled UIs without a loaded plugin still have views; a bad entry is status's to report */
	json_array_foreach(known, i, v) {
		const char *name = json_string_value(v);

		if (rc)
			break;
		if (!name || syn_name_check_ident("UI name", name))
			syn_error_clear();
		else if (!syn_registry_ui(reg, name))
			rc = list_one(st, config, plugins, name, NULL, true, uis);
	}
	if (rc)
		goto out;
	*report = json_pack("{s:O}", "uis", uis);
	if (!*report)
		rc = nomem();
out:
	json_decref(config);
	json_decref(plugins);
	json_decref(uis);
	return rc;
}

/* ---- enable / disable ---------------------------------------------------------- */

/* What a change wrote, to put back when a later step fails. */
struct undo {
	json_t *config;  /* config.json before, once written */
	json_t *runtime; /* runtime.json before, once written */
	bool view;       /* data/views/<ui> was created */
};

/*
 * Put back what @u records, keeping the message of the failure @rc. Best
 * effort: a step that fails here too leaves what status and doctor report
 * and repair, and the first failure is the one the user has to see.
 */
static int undo_change(struct syn_store *st, const struct undo *u, const char *ui, int rc)
{
	char msg[1024];
	struct syn_buf rel = SYN_BUF_INIT;

	snprintf(msg, sizeof(msg), "%s", syn_error_last());
	if (u->runtime)
		syn__docs_runtime_write(st, u->runtime);
	if (u->config)
		syn_doc_write(syn_store_state_fd(st), "config.json", u->config);
	if (u->view && !syn_buf_printf(&rel, "views/%s", ui))
		syn_fs_remove_tree(syn_store_data_fd(st), rel.ptr);
	syn_buf_dispose(&rel);
	return syn_error_set(rc, "%s", msg);
}

/* Write @config as config.json, keeping @before (stolen) in @u for undo_change(). */
static int write_config(struct syn_store *st, const json_t *config, json_t *before, struct undo *u)
{
	int fd = syn_store_state_fd(st);
	int rc = fd < 0 ? fd : syn_doc_write(fd, "config.json", config);

	if (rc)
		json_decref(before);
	else
		u->config = before;
	return rc;
}

/*
 * Set the runtime stack of @ui to ["global"] (@set) or drop it, in
 * runtime.json, keeping the old document in @u.
 */
static int write_stack(struct syn_store *st, const json_t *config, const char *ui, bool set, struct undo *u)
{
	json_t *runtime = NULL, *before = NULL, *uis;
	int rc;

	rc = syn__docs_runtime_read(st, config, &runtime);
	if (rc)
		goto out;
	before = json_deep_copy(runtime);
	uis = json_object_get(runtime, "ui");
	if (!json_is_object(uis)) {
		uis = json_object();
		if (!uis || json_object_set_new(runtime, "ui", uis)) {
			rc = nomem();
			goto out;
		}
	}
	if (!before || (set && json_object_set_new(uis, ui, json_pack("{s:[s]}", "stack", SYN_PROFILE_GLOBAL)))) {
		rc = nomem();
		goto out;
	}
	if (!set)
		json_object_del(uis, ui);
	rc = syn__docs_runtime_write(st, runtime);
	if (!rc) {
		u->runtime = before;
		before = NULL;
	}
out:
	json_decref(before);
	json_decref(runtime);
	return rc;
}

/* config.json's "ui" object with its known / kind_map / roots members, created when missing (borrowed). */
static int ui_section(json_t *config, json_t **ui, json_t **known, json_t **kind_map, json_t **roots)
{
	static const char *const keys[] = { "known", "kind_map", "roots" };
	json_t **members[] = { known, kind_map, roots };
	size_t i;

	*ui = json_object_get(config, "ui");
	if (!json_is_object(*ui)) {
		*ui = json_object();
		if (!*ui || json_object_set_new(config, "ui", *ui))
			return nomem();
	}
	for (i = 0; i < 3; i++) {
		*members[i] = json_object_get(*ui, keys[i]);
		if (i == 0 ? json_is_array(*members[i]) : json_is_object(*members[i]))
			continue;
		*members[i] = i == 0 ? json_array() : json_object();
		if (!*members[i] || json_object_set_new(*ui, keys[i], *members[i]))
			return nomem();
	}
	return 0;
}

/* "no loaded plugin provides UI" naming the loaded UIs. */
static int not_loaded(const struct syn_registry *reg, const char *name)
{
	struct syn_buf names = SYN_BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < syn_registry_ui_count(reg); i++)
		rc = syn_buf_printf(&names, "%s%s", i ? ", " : "", syn_registry_ui_at(reg, i)->name);
	if (!rc)
		rc = syn_error_set(SYN_ENOTFOUND, "no loaded plugin provides UI '%s'; loaded UIs: %s (see 'synapse "
				   "plugins')", name, names.len ? names.ptr : "(none)");
	syn_buf_dispose(&names);
	return rc;
}

static int commit(struct syn_store *st, const char *verb, const char *name)
{
	struct syn_buf msg = SYN_BUF_INIT;
	int rc = syn_buf_printf(&msg, "%s %s", verb, name);

	if (!rc)
		rc = syn_state_ensure_repo(st);
	/* enabling or disabling a UI changes config.json alone in state/ */
	if (!rc)
		rc = syn_state_commit_paths(st, msg.ptr, (const char *const[]){ "config.json", NULL }, NULL);
	syn_buf_dispose(&msg);
	return rc;
}

/* The report of enable: {ui, enabled: true, changed, view}. */
static int enabled_report(struct syn_store *st, const char *name, bool changed, json_t **report)
{
	struct syn_buf view = SYN_BUF_INIT;
	int rc = syn_buf_printf(&view, "%s/views/%s/active", syn_store_data_root(st), name);

	if (!rc) {
		*report = json_pack("{s:s, s:b, s:b, s:s}", "ui", name, "enabled", 1, "changed", changed,
				    "view", view.ptr);
		if (!*report)
			rc = nomem();
	}
	syn_buf_dispose(&view);
	return rc;
}

/* The report of disable: {ui, enabled: false, changed, view: null, notes}. */
static int disabled_report(const char *name, bool changed, json_t *notes, json_t **report)
{
	*report = json_pack("{s:s, s:b, s:b, s:n, s:O}", "ui", name, "enabled", 0, "changed", changed, "view",
			    "notes", notes);
	return *report ? 0 : nomem();
}

/* Start enable/disable: @name checked, the store initialized and locked, config.json read. */
static int begin(struct syn_store *st, const char *name, const char *command, json_t **config)
{
	int rc;

	*config = NULL;
	rc = syn_name_check_ident("UI name", name);
	if (!rc)
		rc = syn_store_require_init(st);
	if (!rc)
		rc = syn_store_lock(st, command);
	if (rc)
		return rc;
	rc = syn_store_config(st, config);
	if (rc)
		syn_store_unlock(st);
	return rc;
}

int syn_ui_enable(struct syn_store *st, const char *name, json_t **report)
{
	const struct syn_registry *reg = syn_store_registry(st);
	const struct syn_ui_layout *layout;
	struct undo u = { NULL, NULL, false };
	json_t *config = NULL, *before = NULL, *ui, *known, *kind_map, *roots, *map = NULL, *built = NULL, *over, *v;
	const char *kind, *root;
	int rc;

	*report = NULL;
	rc = begin(st, name, "ui enable", &config);
	if (rc)
		return rc;
	rc = ui_section(config, &ui, &known, &kind_map, &roots);
	if (rc)
		goto out;
	if (index_of(known, name) >= 0) {
		rc = enabled_report(st, name, false, report);
		goto out;
	}
	layout = syn_registry_ui(reg, name);
	if (!layout) {
		rc = not_loaded(reg, name);
		goto out;
	}
	before = json_deep_copy(config);
	map = layout_map(layout);
	if (!before || !map) {
		rc = nomem();
		goto out;
	}
	over = json_object_get(kind_map, name);
	json_object_foreach(over, kind, v)
		if (json_object_set(map, kind, v)) {
			rc = nomem();
			goto out;
		}
	root = json_string_value(json_object_get(roots, name));
	if (json_array_append_new(known, json_string(name)) || json_object_set(kind_map, name, map) ||
	    ((!root || !*root) && layout->default_root &&
	     json_object_set_new(roots, name, json_string(layout->default_root)))) {
		rc = nomem();
		goto out;
	}
	rc = write_config(st, config, before, &u);
	before = NULL;
	if (!rc)
		rc = write_stack(st, config, name, true, &u);
	if (!rc) {
		u.view = true;
		rc = syn_view_build(st, name, SYN_PROFILE_GLOBAL, false, &built);
	}
	if (!rc)
		rc = syn__view_set_active(st, name, SYN_PROFILE_GLOBAL);
	if (!rc)
		rc = commit(st, "ui enable", name);
	if (!rc)
		rc = enabled_report(st, name, true, report);
	if (rc)
		rc = undo_change(st, &u, name, rc);
out:
	syn_store_unlock(st);
	json_decref(u.config);
	json_decref(u.runtime);
	json_decref(built);
	json_decref(map);
	json_decref(before);
	json_decref(config);
	return rc;
}

int syn_ui_disable(struct syn_store *st, const char *name, json_t **report)
{
	struct undo u = { NULL, NULL, false };
	struct syn_buf rel = SYN_BUF_INIT;
	json_t *config = NULL, *before = NULL, *notes = NULL, *ui, *known, *kind_map, *roots;
	bool present = false;
	long at;
	int rc;

	*report = NULL;
	rc = begin(st, name, "ui disable", &config);
	if (rc)
		return rc;
	notes = json_array();
	rc = notes ? ui_section(config, &ui, &known, &kind_map, &roots) : nomem();
	if (rc)
		goto out;
	at = index_of(known, name);
	if (at < 0) {
		rc = disabled_report(name, false, notes, report);
		goto out;
	}
	/* the UI would be left reading links or a section that point at a view about to go */
	rc = syn__attach_present(st, name, &present);
	if (!rc && present)
		rc = syn_error_set(SYN_EGUARD, "UI '%s' is attached to its Synapse view; run 'synapse detach "
				   "--ui-set %s' first, then disable it", name, name);
	if (rc)
		goto out;
	before = json_deep_copy(config);
	if (!before) {
		rc = nomem();
		goto out;
	}
	json_array_remove(known, (size_t)at);
	json_object_del(kind_map, name);
	json_object_del(roots, name);
	rc = write_config(st, config, before, &u);
	before = NULL;
	if (!rc)
		rc = write_stack(st, config, name, false, &u);
	if (!rc)
		rc = commit(st, "ui disable", name);
	if (rc) {
		rc = undo_change(st, &u, name, rc);
		goto out;
	}
	/* the state change is made: views left behind are only data, rebuilt if the UI comes back */
	rc = syn_buf_printf(&rel, "views/%s", name);
	if (!rc && syn_fs_remove_tree(syn_store_data_fd(st), rel.ptr) &&
	    json_array_append_new(notes, json_sprintf("cannot remove '%s/%s': %s", syn_store_data_root(st),
						      rel.ptr, syn_error_last())))
		rc = nomem();
	syn_error_clear();
	if (!rc)
		rc = disabled_report(name, true, notes, report);
out:
	syn_store_unlock(st);
	syn_buf_dispose(&rel);
	json_decref(u.config);
	json_decref(u.runtime);
	json_decref(before);
	json_decref(notes);
	json_decref(config);
	return rc;
}
