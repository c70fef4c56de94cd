/* Pack commands: import, list, show, resolve, install, delete, search. */
#include <string.h>

#include "cli.h"

static void print_warnings(const json_t *warnings)
{
	json_t *w;
	size_t i;

	json_array_foreach(warnings, i, w)
		fprintf(stderr, "warning: %s\n", json_string_value(w));
}

void render_import(struct cli *cli, const json_t *r)
{
	(void)cli;
	printf("%s pack: %s\n", json_is_true(json_object_get(r, "updated")) ? "Updated" : "Imported",
	       syn_doc_str(r, "pack_name", "?"));
	printf("  Type: %s\n  Dependencies: %lld\n  Previews: %lld image(s), %lld video(s)\n",
	       syn_doc_str(r, "pack_type", "?"), json_integer_value(json_object_get(r, "dependencies_count")),
	       json_integer_value(json_object_get(r, "previews_downloaded")),
	       json_integer_value(json_object_get(r, "videos_downloaded")));
	if (json_is_true(json_object_get(r, "installed")))
		printf("Every file it needs is already installed.\n");
	else
		printf("Next: synapse install %s\n", syn_doc_str(r, "pack_name", "?"));
}

void render_list(struct cli *cli, const json_t *r)
{
	json_t *packs = json_object_get(r, "packs"), *p;
	size_t i;

	(void)cli;
	if (!json_array_size(packs)) {
		printf("No packs yet. Import one with: synapse import <civitai-url>\n");
		return;
	}
	printf("%-4s %-40s %-12s %-5s %s\n", "#", "PACK", "TYPE", "DEPS", "INSTALLED");
	json_array_foreach(packs, i, p)
		printf("%-4zu %-40s %-12s %-5lld %s\n", i + 1, syn_doc_str(p, "name", "?"), syn_doc_str(p, "pack_type", "?"),
		       json_integer_value(json_object_get(p, "dependencies_count")),
		       json_object_get(p, "error") ? "error" : json_is_true(json_object_get(p, "installed")) ? "yes" : "no");
}

void render_show(struct cli *cli, const json_t *r)
{
	json_t *pack = json_object_get(r, "pack"), *src = json_object_get(pack, "source"), *d;
	size_t i;

	(void)cli;
	printf("%s (%s)\n", syn_doc_str(pack, "name", "?"), syn_doc_str(pack, "pack_type", "?"));
	if (json_string_value(json_object_get(pack, "version")))
		printf("  Version: %s\n", json_string_value(json_object_get(pack, "version")));
	if (json_string_value(json_object_get(pack, "base_model")))
		printf("  Base model: %s\n", json_string_value(json_object_get(pack, "base_model")));
	printf("  Source: %s model %lld %s\n", syn_doc_str(src, "provider", "?"),
	       json_integer_value(json_object_get(src, "model_id")), syn_doc_str(src, "url", ""));
	printf("\n  %-24s %-12s %-10s %s\n", "DEPENDENCY", "KIND", "STATUS", "FILE");
	json_array_foreach(json_object_get(r, "dependencies"), i, d)
		printf("  %-24s %-12s %-10s %s\n", syn_doc_str(d, "id", "?"), syn_doc_str(d, "kind", "?"),
		       syn_doc_str(d, "status", "?"), syn_doc_str(d, "filename", ""));
}

void render_resolve(struct cli *cli, const json_t *lock)
{
	json_t *e;
	size_t i;

	(void)cli;
	json_array_foreach(json_object_get(lock, "resolved"), i, e)
		printf("  %s: resolved %s\n", syn_doc_str(e, "dependency_id", "?"),
		       syn_doc_str(json_object_get(json_object_get(e, "artifact"), "provider"), "filename", ""));
	json_array_foreach(json_object_get(lock, "unresolved"), i, e)
		printf("  %s: unresolved (%s)\n", syn_doc_str(e, "dependency_id", "?"), syn_doc_str(e, "reason", "?"));
	printf("Resolved %zu dependency(ies)", json_array_size(json_object_get(lock, "resolved")));
	if (json_array_size(json_object_get(lock, "unresolved")))
		printf(", %zu unresolved", json_array_size(json_object_get(lock, "unresolved")));
	printf("\n");
}

void render_install(struct cli *cli, const json_t *r)
{
	(void)cli;
	printf("Installed %lld blob(s) for %s: %zu downloaded, %zu already present\n",
	       json_integer_value(json_object_get(r, "blobs_installed")), syn_doc_str(r, "pack", "?"),
	       json_array_size(json_object_get(r, "downloaded")), json_array_size(json_object_get(r, "already_present")));
}

void render_delete(struct cli *cli, const json_t *r)
{
	json_t *c = json_object_get(r, "cleanup");

	(void)cli;
	printf("Deleted pack: %s\n", syn_doc_str(r, "deleted", "?"));
	if (json_is_true(json_object_get(c, "removed_from_global")))
		printf("  removed from the global profile\n");
	if (json_is_true(json_object_get(c, "removed_work_profile")))
		printf("  removed its work profile\n");
	if (json_is_true(json_object_get(c, "removed_from_stacks")))
		printf("  removed from the UI profile stacks\n");
	printf("Its blobs stay in the store; run 'synapse inventory cleanup' to reclaim them once nothing uses them.\n");
	print_warnings(json_object_get(r, "warnings"));
}

void render_search(struct cli *cli, const json_t *r)
{
	json_t *items = json_object_get(r, "items"), *it, *m;
	size_t i, k;

	(void)cli;
	if (!json_array_size(items)) {
		printf("No results for '%s'\n", syn_doc_str(r, "query", ""));
		return;
	}
	printf("%-40s %-12s %-10s %s\n", "PACK", "TYPE", "PROVIDER", "MATCHED");
	json_array_foreach(items, i, it) {
		printf("%-40s %-12s %-10s ", syn_doc_str(it, "pack_name", "?"), syn_doc_str(it, "pack_type", "?"),
		       syn_doc_str(it, "provider", "?"));
		json_array_foreach(json_object_get(it, "matched"), k, m)
			printf("%s%s", k ? ", " : "", json_string_value(m));
		printf("\n");
	}
}
