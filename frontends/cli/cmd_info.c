/* `synapse status`, `synapse plugins`, `synapse history`. */
#include <string.h>

#include "cli.h"

void render_status(struct cli *cli, const json_t *r)
{
	json_t *targets = json_object_get(r, "ui_targets"), *v, *e;
	json_t *missing = json_object_get(r, "missing_blobs"), *unresolved = json_object_get(r, "unresolved");
	json_t *shadowed = json_object_get(r, "shadowed"), *notes = json_object_get(r, "notes");
	size_t i, j;

	printf("Synapse status: %s\n\n", syn_store_root(cli->store));
	printf("  %-10s %-24s %-8s %s\n", "UI", "ACTIVE", "IN SYNC", "STACK");
	json_array_foreach(targets, i, v) {
		const char *ui = json_string_value(v);
		json_t *stack = json_object_get(json_object_get(r, "stacks"), ui);
		const char *active = json_string_value(json_object_get(json_object_get(r, "active"), ui));

		printf("  %-10s %-24s %-8s ", ui, active ? active : "(none)",
		       json_is_true(json_object_get(json_object_get(r, "in_sync"), ui)) ? "yes" : "NO");
		json_array_foreach(stack, j, e)
			printf("%s%s", j ? " > " : "", json_string_value(e));
		printf("\n");
	}
	if (json_array_size(notes)) {
		printf("\n");
		json_array_foreach(notes, i, e)
			printf("warning: %s\n", json_string_value(e));
	}
	if (json_array_size(missing)) {
		printf("\n");
		cli_print_missing(missing);
	}
	if (json_array_size(unresolved)) {
		printf("\n%zu unresolved dependency(ies):\n", json_array_size(unresolved));
		json_array_foreach(unresolved, i, e)
			printf("  %s/%s: %s\n", syn_doc_str(e, "pack", "?"), syn_doc_str(e, "dependency_id", "?"),
			       syn_doc_str(e, "reason", "?"));
	}
	if (json_array_size(shadowed)) {
		printf("\n");
		cli_print_shadowed(shadowed);
	}
	if (!json_array_size(missing) && !json_array_size(unresolved) && !json_array_size(notes))
		printf("\nAll dependencies resolved and installed; every view agrees with its stack.\n");
}

static void print_names(const char *label, const json_t *arr)
{
	json_t *v;
	size_t i;

	if (!json_array_size(arr))
		return;
	printf("    %s:", label);
	json_array_foreach(arr, i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
}

void render_plugins(struct cli *cli, const json_t *r)
{
	json_t *p;
	size_t i;

	(void)cli;
	printf("%zu plugin(s) loaded:\n", json_array_size(json_object_get(r, "plugins")));
	json_array_foreach(json_object_get(r, "plugins"), i, p) {
		json_t *reg = json_object_get(p, "registered");

		printf("  %s %s (%s, ABI %s)\n    %s\n    file: %s\n", syn_doc_str(p, "name", "?"),
		       syn_doc_str(p, "version", "?"), syn_doc_str(p, "license", "no license"),
		       syn_doc_str(p, "abi", "?"), syn_doc_str(p, "description", ""), syn_doc_str(p, "file", "?"));
		print_names("sources", json_object_get(reg, "sources"));
		print_names("UI layouts", json_object_get(reg, "uis"));
		print_names("backends", json_object_get(reg, "backends"));
	}
	if (json_array_size(json_object_get(r, "skipped"))) {
		printf("\n%zu skipped:\n", json_array_size(json_object_get(r, "skipped")));
		json_array_foreach(json_object_get(r, "skipped"), i, p)
			printf("  %s\n    %s\n", syn_doc_str(p, "file", "?"), syn_doc_str(p, "reason", "?"));
	}
}

void render_history(struct cli *cli, const json_t *r)
{
	json_t *c;
	size_t i;

	(void)cli;
	if (!json_array_size(json_object_get(r, "commits")))
		printf("No state changes recorded yet.\n");
	json_array_foreach(json_object_get(r, "commits"), i, c)
		printf("%.10s  %s  %s\n", syn_doc_str(c, "id", ""), syn_doc_str(c, "time", ""),
		       syn_doc_str(c, "message", ""));
}

void render_ui_list(struct cli *cli, const json_t *r)
{
	json_t *u, *v;
	const char *kind;
	size_t i;

	(void)cli;
	json_array_foreach(json_object_get(r, "uis"), i, u) {
		printf("%s (plugin %s, %s)\n  root: %s (%s)\n  attach: %s\n", syn_doc_str(u, "name", "?"),
		       syn_doc_str(u, "plugin", "not loaded"),
		       json_is_true(json_object_get(u, "enabled")) ? "enabled"
								   : "available: run 'synapse ui enable' to use it",
		       syn_doc_str(u, "root", "?"),
		       json_is_true(json_object_get(u, "detected")) ? "an install was detected there" : "no install detected",
		       syn_doc_str(u, "attach", "?"));
		json_object_foreach(json_object_get(u, "kind_map"), kind, v)
			printf("    %-16s %s\n", kind, json_string_value(v));
	}
}

void render_ui_enable(struct cli *cli, const json_t *r)
{
	json_t *n;
	size_t i;

	(void)cli;
	if (!json_is_true(json_object_get(r, "changed")))
		printf("%s is already %s\n", syn_doc_str(r, "ui", "?"),
		       json_is_true(json_object_get(r, "enabled")) ? "enabled" : "disabled");
	else if (json_is_true(json_object_get(r, "enabled")))
		printf("Enabled %s: its view is %s\nAttach it with: synapse attach --ui-set %s\n", syn_doc_str(r, "ui", "?"),
		       syn_doc_str(r, "view", "?"), syn_doc_str(r, "ui", "?"));
	else
		printf("Disabled %s\n", syn_doc_str(r, "ui", "?"));
	json_array_foreach(json_object_get(r, "notes"), i, n)
		fprintf(stderr, "warning: %s\n", json_string_value(n));
}
