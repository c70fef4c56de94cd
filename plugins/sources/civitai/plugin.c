/*
 * The Civitai source plugin. This object is all a command loads at start:
 * it registers the source and nothing else. libcurl and the TLS stack behind
 * it cost more to load than most commands take to run, so the real
 * implementation lives in civitai/civitai-net.so beside this file and is
 * loaded the first time a Civitai source is created, by a command that is
 * about to use the network anyway.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "civitai.h"

typedef int (*create_fn)(struct syn_source **out, const struct syn_source_params *params);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static create_fn impl_create;
static char load_error[4608];

static void load_impl(void)
{
	Dl_info info;
	char path[4096];
	const char *slash;
	void *handle;

	if (!dladdr((void *)load_impl, &info) || !info.dli_fname || !(slash = strrchr(info.dli_fname, '/'))) {
		snprintf(load_error, sizeof(load_error), "cannot locate the civitai plugin's own directory");
		return;
	}
	snprintf(path, sizeof(path), "%.*s/civitai/civitai-net.so", (int)(slash - info.dli_fname), info.dli_fname);
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(load_error, sizeof(load_error), "cannot load '%s': %s (reinstall Synapse)", path, dlerror());
		return;
	}
	*(void **)&impl_create = dlsym(handle, "civitai_net_create");
	if (!impl_create)
		snprintf(load_error, sizeof(load_error), "'%s' has no civitai_net_create", path);
	/* never dlclose: the instances' vtables live in it */
}

static int civitai_create(struct syn_source **out, const struct syn_source_params *params)
{
	*out = NULL;
	if (pthread_once(&load_once, load_impl))
		return syn_error_set(SYN_ERROR, "cannot load the Civitai source");
	if (!impl_create)
		return syn_error_set(SYN_EUNSUPPORTED, "%s", load_error);
	return impl_create(out, params);
}

static const struct syn_source_class civitai_class = {
	SYN_SOURCE_VERSION, "civitai", civitai_create, CIV_REFS,
};

static int init(struct syn_registry *reg)
{
	return syn_register_source(reg, &civitai_class);
}

SYN_PLUGIN_DEFINE("civitai", "1.0.0", "MIT", "Civitai models: references, metadata and downloads", init)
