/*
 * The plugin registry and loader.
 *
 * Registration copies each vtable or table into a zeroed struct of the
 * core's size (OBS obs_register_source_s, Linux copy_struct_from_user), so a
 * plugin built against an older header reads NULL for members appended
 * since. A plugin whose init() fails has all its registrations rolled back
 * (Redis moduleLoad). Handles are never dlclose'd: vtables and strings must
 * outlive the registry.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synapse/buf.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/registry.h"

#include "config.h"

struct plugin_rec {
	char *file;
	const struct syn_plugin_desc *desc;
};

struct skip_rec {
	char *file;
	char *reason;
};

struct ui_rec {
	struct syn_ui_layout layout;
	size_t plugin;
};

struct backend_rec {
	struct syn_backend_class cls;
	size_t plugin;
};

struct source_rec {
	struct syn_source_class cls;
	size_t plugin;
};

struct dir_id {
	dev_t dev;
	ino_t ino;
};

#define NO_PLUGIN ((size_t)-1)

struct syn_registry {
	struct plugin_rec *plugins;
	size_t nplugins, aplugins;
	struct skip_rec *skipped;
	size_t nskipped, askipped;
	struct ui_rec *uis;
	size_t nuis, auis;
	struct backend_rec *backends;
	size_t nbackends, abackends;
	struct source_rec *sources;
	size_t nsources, asources;
	struct dir_id *dirs;
	size_t ndirs, adirs;
	size_t current; /* plugin whose init() is running, or NO_PLUGIN */
};

/* Make room for one more element of @size in *@arr. */
static int grow(void **arr, size_t *alloc, size_t count, size_t size)
{
	size_t n;
	void *p;

	if (count < *alloc)
		return 0;
	n = *alloc ? *alloc * 2 : 8;
	p = realloc(*arr, n * size);
	if (!p)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	*arr = p;
	*alloc = n;
	return 0;
}

#define GROW(reg, field) \
	grow((void **)&(reg)->field, &(reg)->a##field, (reg)->n##field, sizeof(*(reg)->field))

int syn_registry_new(struct syn_registry **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	(*out)->current = NO_PLUGIN;
	return 0;
}

void syn_registry_free(struct syn_registry *reg)
{
	size_t i;

	if (!reg)
		return;
	for (i = 0; i < reg->nplugins; i++)
		free(reg->plugins[i].file);
	for (i = 0; i < reg->nskipped; i++) {
		free(reg->skipped[i].file);
		free(reg->skipped[i].reason);
	}
	free(reg->plugins);
	free(reg->skipped);
	free(reg->uis);
	free(reg->backends);
	free(reg->sources);
	free(reg->dirs);
	free(reg);
}

/* Common checks of a registration; @kind names the thing in messages. */
static int check_registration(struct syn_registry *reg, const char *kind, unsigned int version,
			      unsigned int max_version, size_t size, size_t core_size, const char *name)
{
	if (!reg || reg->current == NO_PLUGIN)
		return syn_error_set(SYN_EINVALID, "%s registered outside a plugin's init()", kind);
	if (version < 1 || version > max_version)
		return syn_error_set(SYN_EUNSUPPORTED, "%s '%s' has version %u; this Synapse supports 1..%u",
				     kind, name ? name : "?", version, max_version);
	if (size < sizeof(unsigned int) || size > core_size)
		return syn_error_set(SYN_EUNSUPPORTED, "%s '%s' has size %zu; this Synapse knows at most %zu",
				     kind, name ? name : "?", size, core_size);
	return syn_name_check_ident(kind, name);
}

/* A declared attach method must be one this core can carry out, and complete. */
static int check_attach(const struct syn_ui_layout *layout)
{
	const struct syn_ui_attach *a;
	size_t i;
	int rc = 0;

	if (!SYN_VTABLE_HAS(layout, 2, attach))
		return 0;
	a = layout->attach;
	if (a->version < 1 || a->version > SYN_UI_ATTACH_VERSION)
		return syn_error_set(SYN_EUNSUPPORTED, "its attach declaration has version %u; this Synapse supports 1..%u",
				     a->version, SYN_UI_ATTACH_VERSION);
	switch (a->method) {
	case SYN_UI_ATTACH_LINKS:
		return 0;
	case SYN_UI_ATTACH_EXTRA_PATHS:
		break;
	default:
		return syn_error_set(SYN_EUNSUPPORTED, "its attach method %d is unknown to this Synapse", (int)a->method);
	}
	rc = syn_name_check_file(a->file);
	if (!rc)
		rc = syn_name_check_ident("extra-paths section", a->section);
	if (!rc && !a->keys)
		rc = syn_error_set(SYN_EINVALID, "its extra-paths file '%s' has no key table", a->file);
	for (i = 0; !rc && a->keys[i].kind; i++) {
		rc = syn_name_check_ident("asset kind", a->keys[i].kind);
		if (!rc)
			rc = syn_name_check_ident("extra-paths key", a->keys[i].key);
	}
	return rc;
}

int syn_register_ui_s(struct syn_registry *reg, const struct syn_ui_layout *layout, size_t size)
{
	struct ui_rec rec;
	size_t i;
	int rc;

	rc = check_registration(reg, "UI layout", layout ? layout->version : 0, SYN_UI_LAYOUT_VERSION, size,
				sizeof(rec.layout), layout && size >= offsetof(struct syn_ui_layout, display_name) ? layout->name : NULL);
	if (rc)
		return rc;
	memset(&rec, 0, sizeof(rec));
	memcpy(&rec.layout, layout, size);
	rec.plugin = reg->current;
	if (syn_registry_ui(reg, rec.layout.name))
		return syn_error_set(SYN_EEXISTS, "UI layout '%s' is already registered", rec.layout.name);
	if (!rec.layout.folders)
		return syn_error_set(SYN_EINVALID, "UI layout '%s' has no folder table", rec.layout.name);
	for (i = 0; rec.layout.folders[i].kind; i++) {
		rc = syn_name_check_ident("asset kind", rec.layout.folders[i].kind);
		if (!rc)
			rc = syn_name_check_relpath("folder", rec.layout.folders[i].folder);
		if (rc)
			syn_error_prefix("UI layout '%s'", rec.layout.name);
		if (rc)
			return rc;
	}
	rc = check_attach(&rec.layout);
	if (rc)
		return syn_error_prefix("UI layout '%s'", rec.layout.name);
	rc = GROW(reg, uis);
	if (rc)
		return rc;
	reg->uis[reg->nuis++] = rec;
	return 0;
}

int syn_register_backend_s(struct syn_registry *reg, const struct syn_backend_class *cls, size_t size)
{
	struct backend_rec rec;
	int rc;

	rc = check_registration(reg, "backend", cls ? cls->version : 0, SYN_BACKEND_VERSION, size, sizeof(rec.cls),
				cls && size >= offsetof(struct syn_backend_class, create) ? cls->name : NULL);
	if (rc)
		return rc;
	memset(&rec, 0, sizeof(rec));
	memcpy(&rec.cls, cls, size);
	rec.plugin = reg->current;
	if (syn_registry_backend(reg, rec.cls.name))
		return syn_error_set(SYN_EEXISTS, "backend '%s' is already registered", rec.cls.name);
	if (!rec.cls.create)
		return syn_error_set(SYN_EINVALID, "backend '%s' has no create()", rec.cls.name);
	rc = GROW(reg, backends);
	if (rc)
		return rc;
	reg->backends[reg->nbackends++] = rec;
	return 0;
}

int syn_register_source_s(struct syn_registry *reg, const struct syn_source_class *cls, size_t size)
{
	struct source_rec rec;
	int rc;

	rc = check_registration(reg, "source", cls ? cls->version : 0, SYN_SOURCE_VERSION, size, sizeof(rec.cls),
				cls && size >= offsetof(struct syn_source_class, create) ? cls->name : NULL);
	if (rc)
		return rc;
	memset(&rec, 0, sizeof(rec));
	memcpy(&rec.cls, cls, size);
	rec.plugin = reg->current;
	if (syn_registry_source(reg, rec.cls.name))
		return syn_error_set(SYN_EEXISTS, "source '%s' is already registered", rec.cls.name);
	if (!rec.cls.create)
		return syn_error_set(SYN_EINVALID, "source '%s' has no create()", rec.cls.name);
	rc = GROW(reg, sources);
	if (rc)
		return rc;
	reg->sources[reg->nsources++] = rec;
	return 0;
}

const struct syn_ui_layout *syn_registry_ui(const struct syn_registry *reg, const char *name)
{
	size_t i;

	for (i = 0; name && i < reg->nuis; i++)
		if (!strcmp(reg->uis[i].layout.name, name))
			return &reg->uis[i].layout;
	return NULL;
}

size_t syn_registry_ui_count(const struct syn_registry *reg)
{
	return reg->nuis;
}

const struct syn_ui_layout *syn_registry_ui_at(const struct syn_registry *reg, size_t i)
{
	return i < reg->nuis ? &reg->uis[i].layout : NULL;
}

const struct syn_backend_class *syn_registry_backend(const struct syn_registry *reg, const char *name)
{
	size_t i;

	for (i = 0; name && i < reg->nbackends; i++)
		if (!strcmp(reg->backends[i].cls.name, name))
			return &reg->backends[i].cls;
	return NULL;
}

const struct syn_source_class *syn_registry_source(const struct syn_registry *reg, const char *name)
{
	size_t i;

	for (i = 0; name && i < reg->nsources; i++)
		if (!strcmp(reg->sources[i].cls.name, name))
			return &reg->sources[i].cls;
	return NULL;
}

size_t syn_registry_source_count(const struct syn_registry *reg)
{
	return reg->nsources;
}

const struct syn_source_class *syn_registry_source_at(const struct syn_registry *reg, size_t i)
{
	return i < reg->nsources ? &reg->sources[i].cls : NULL;
}

static int add_skip(struct syn_registry *reg, const char *file, int code)
{
	struct skip_rec rec;

	if (GROW(reg, skipped))
		return code;
	rec.file = strdup(file);
	rec.reason = strdup(syn_error_last());
	if (!rec.file || !rec.reason) {
		free(rec.file);
		free(rec.reason);
		return code;
	}
	reg->skipped[reg->nskipped++] = rec;
	return code;
}

/* Run a descriptor's checks and init(); rolls back on failure. */
static int add_plugin(struct syn_registry *reg, const struct syn_plugin_desc *desc, const char *file)
{
	size_t nuis = reg->nuis, nbackends = reg->nbackends, nsources = reg->nsources, i;
	struct plugin_rec rec;
	int rc;

	if (!desc)
		return syn_error_set(SYN_EINVALID, "its descriptor function returned NULL");
	if (desc->abi_major != SYN_PLUGIN_ABI_MAJOR || desc->abi_minor > SYN_PLUGIN_ABI_MINOR)
		return syn_error_set(SYN_EUNSUPPORTED,
				     "built for plugin ABI %u.%u, but this Synapse provides %d.%d; rebuild the plugin",
				     desc->abi_major, desc->abi_minor, SYN_PLUGIN_ABI_MAJOR, SYN_PLUGIN_ABI_MINOR);
	rc = syn_name_check_ident("plugin name", desc->name);
	if (rc)
		return rc;
	if (!desc->init)
		return syn_error_set(SYN_EINVALID, "plugin '%s' has no init()", desc->name);
	for (i = 0; i < reg->nplugins; i++)
		if (!strcmp(reg->plugins[i].desc->name, desc->name))
			return syn_error_set(SYN_EEXISTS, "duplicate plugin '%s': already loaded from '%s'",
					     desc->name, reg->plugins[i].file);
	rc = GROW(reg, plugins);
	if (rc)
		return rc;
	rec.file = strdup(file);
	rec.desc = desc;
	if (!rec.file)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	reg->current = reg->nplugins;
	syn_error_clear();
	rc = desc->init(reg);
	reg->current = NO_PLUGIN;
	if (rc) {
		reg->nuis = nuis;
		reg->nbackends = nbackends;
		reg->nsources = nsources;
		free(rec.file);
		if (!syn_error_last()[0])
			syn_error_set(rc, "%s", syn_strerror(rc));
		return syn_error_prefix("init() of plugin '%s' failed", desc->name);
	}
	reg->plugins[reg->nplugins++] = rec;
	return 0;
}

int syn_registry_add_builtin(struct syn_registry *reg, const struct syn_plugin_desc *desc, const char *origin)
{
	int rc = add_plugin(reg, desc, origin);

	return rc ? add_skip(reg, origin, rc) : 0;
}

int syn_registry_load_file(struct syn_registry *reg, const char *path)
{
	syn_plugin_desc_fn fn;
	void *handle;
	int rc;

	dlerror();
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		const char *why = dlerror();

		rc = syn_error_set(SYN_EINVALID, "cannot load: %s (check its dependencies with ldd(1))",
				   why ? why : "unknown error");
		return add_skip(reg, path, rc);
	}
	*(void **)&fn = dlsym(handle, SYN_PLUGIN_DESC_SYMBOL);
	if (!fn) {
		rc = syn_error_set(SYN_EINVALID, "no '%s' symbol: not a Synapse plugin", SYN_PLUGIN_DESC_SYMBOL);
		return add_skip(reg, path, rc);
	}
	rc = add_plugin(reg, fn(), path);
	return rc ? add_skip(reg, path, rc) : 0;
}

static int so_filter(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return de->d_name[0] != '.' && n > 3 && !strcmp(de->d_name + n - 3, ".so");
}

int syn_registry_load_dir(struct syn_registry *reg, const char *dir)
{
	struct dirent **names = NULL;
	struct stat sb;
	int n, i, rc = 0;

	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return 0;
	for (i = 0; i < (int)reg->ndirs; i++)
		if (reg->dirs[i].dev == sb.st_dev && reg->dirs[i].ino == sb.st_ino)
			return 0;
	rc = GROW(reg, dirs);
	if (rc)
		return rc;
	reg->dirs[reg->ndirs].dev = sb.st_dev;
	reg->dirs[reg->ndirs].ino = sb.st_ino;
	reg->ndirs++;
	n = scandir(dir, &names, so_filter, alphasort);
	if (n < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot read plugin directory '%s'", dir);
	for (i = 0; i < n; i++) {
		struct syn_buf path = SYN_BUF_INIT;

		if (!syn_buf_printf(&path, "%s/%s", dir, names[i]->d_name)) {
			if (lstat(path.ptr, &sb) == 0 && S_ISREG(sb.st_mode))
				syn_registry_load_file(reg, path.ptr);
			else
				add_skip(reg, path.ptr, syn_error_set(SYN_EINVALID, "not a regular file"));
		}
		syn_buf_dispose(&path);
		free(names[i]);
	}
	free(names);
	return 0;
}

/*
 * Load <exe_dir>/../<libdir>/synapse/plugins, normalized for display; *found
 * is set when that directory exists.
 */
static int load_relative(struct syn_registry *reg, struct syn_buf *dir, const char *exe_dir, const char *libdir,
			 bool *found)
{
	struct syn_buf raw = SYN_BUF_INIT;
	struct stat sb;
	int rc = syn_buf_printf(&raw, "%s/../%s/synapse/plugins", exe_dir, libdir);

	if (!rc)
		rc = syn_fs_abspath(dir, raw.ptr);
	if (!rc && stat(dir->ptr, &sb) == 0 && S_ISDIR(sb.st_mode))
		*found = true;
	if (!rc)
		rc = syn_registry_load_dir(reg, dir->ptr);
	syn_buf_dispose(&raw);
	return rc;
}

/*
 * SYNAPSE_PLUGIN_PATH, then the plugins of the executable's own tree (a build
 * tree or an install prefix). The compiled-in install directory is only a
 * fallback for an executable that has no plugin directory beside it: a build
 * tree's binary must not also load what `cmake --install` put in the prefix,
 * nor a binary installed in one prefix the plugins of another.
 */
int syn_registry_load_default(struct syn_registry *reg)
{
	const char *env = getenv("SYNAPSE_PLUGIN_PATH");
	char exe[PATH_MAX];
	bool found = false;
	ssize_t n;
	int rc = 0;

	if (env && *env) {
		char *copy = strdup(env), *save = NULL, *dir;

		if (!copy)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		for (dir = strtok_r(copy, ":", &save); dir && !rc; dir = strtok_r(NULL, ":", &save))
			rc = syn_registry_load_dir(reg, dir);
		free(copy);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (!rc && n > 0) {
		struct syn_buf dir = SYN_BUF_INIT;
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		rc = load_relative(reg, &dir, exe, "lib", &found);
		if (!rc && strcmp(SYN_INSTALL_LIBDIR, "lib"))
			rc = load_relative(reg, &dir, exe, SYN_INSTALL_LIBDIR, &found);
		syn_buf_dispose(&dir);
	}
	if (!rc && !found)
		rc = syn_registry_load_dir(reg, SYN_PLUGINDIR);
	return rc;
}

size_t syn_registry_skipped_count(const struct syn_registry *reg)
{
	return reg->nskipped;
}

void syn_registry_skipped_at(const struct syn_registry *reg, size_t i, const char **file, const char **reason)
{
	*file = i < reg->nskipped ? reg->skipped[i].file : NULL;
	*reason = i < reg->nskipped ? reg->skipped[i].reason : NULL;
}

json_t *syn_registry_report(const struct syn_registry *reg)
{
	json_t *plugins = json_array(), *skipped = json_array();
	int oom = !plugins || !skipped;
	size_t i, j;

	for (i = 0; i < reg->nplugins; i++) {
		const struct syn_plugin_desc *d = reg->plugins[i].desc;
		json_t *sources = json_array(), *uis = json_array(), *backends = json_array();
		char abi[32];

		for (j = 0; j < reg->nsources; j++)
			if (reg->sources[j].plugin == i)
				oom |= json_array_append_new(sources, json_string(reg->sources[j].cls.name));
		for (j = 0; j < reg->nuis; j++)
			if (reg->uis[j].plugin == i)
				oom |= json_array_append_new(uis, json_string(reg->uis[j].layout.name));
		for (j = 0; j < reg->nbackends; j++)
			if (reg->backends[j].plugin == i)
				oom |= json_array_append_new(backends, json_string(reg->backends[j].cls.name));
		snprintf(abi, sizeof(abi), "%u.%u", d->abi_major, d->abi_minor);
		oom |= json_array_append_new(plugins, json_pack("{s:s, s:s?, s:s?, s:s?, s:s, s:s, s:{s:o, s:o, s:o}}",
			"name", d->name, "version", d->version, "license", d->license,
			"description", d->description, "file", reg->plugins[i].file, "abi", abi,
			"registered", "sources", sources, "uis", uis, "backends", backends));
	}
	for (i = 0; i < reg->nskipped; i++)
		oom |= json_array_append_new(skipped, json_pack("{s:s, s:s}", "file", reg->skipped[i].file,
							 "reason", reg->skipped[i].reason));
	if (oom) {
		json_decref(plugins);
		json_decref(skipped);
		return NULL;
	}
	return json_pack("{s:o, s:o}", "plugins", plugins, "skipped", skipped);
}
