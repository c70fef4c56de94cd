/* `synapse status`, `synapse plugins`, `synapse history`. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void render_status(struct cli *cli, const json_t *r)
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
		printf("\n%zu missing blob(s):\n", json_array_size(missing));
		json_array_foreach(missing, i, e)
			printf("  %s/%s (%s) %s\n", syn_doc_str(e, "pack", "?"), syn_doc_str(e, "dependency_id", "?"),
			       syn_doc_str(e, "kind", "?"), syn_doc_str(e, "sha256", "?"));
	}
	if (json_array_size(unresolved)) {
		printf("\n%zu unresolved dependency(ies):\n", json_array_size(unresolved));
		json_array_foreach(unresolved, i, e)
			printf("  %s/%s: %s\n", syn_doc_str(e, "pack", "?"), syn_doc_str(e, "dependency_id", "?"),
			       syn_doc_str(e, "reason", "?"));
	}
	if (json_array_size(shadowed))
		printf("\n%zu shadowed file(s) (the later pack wins)\n", json_array_size(shadowed));
	if (!json_array_size(missing) && !json_array_size(unresolved) && !json_array_size(notes))
		printf("\nAll dependencies resolved and installed; every view agrees with its stack.\n");
}

int cmd_status(struct cli *cli)
{
	json_t *report;

	if (syn_store_status(cli->store, cli_value(cli, "--ui-set"), &report) < 0)
		return cli_fail(cli);
	return cli_report(cli, report, render_status);
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

static void render_plugins(struct cli *cli, const json_t *r)
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

int cmd_plugins(struct cli *cli)
{
	return cli_report(cli, syn_registry_report(cli->reg), render_plugins);
}

static void render_history(struct cli *cli, const json_t *r)
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

int cmd_history(struct cli *cli)
{
	const char *value = cli_value(cli, "--limit");
	unsigned long limit = 0;
	json_t *report;

	if (value) {
		char *end;

		errno = 0;
		limit = strtoul(value, &end, 10);
		if (errno || *end || !*value || value[0] == '-')
			return cli_usage_error(cli, "--limit needs a non-negative number, not '%s'", value);
	}
	if (syn_state_history(cli->store, limit, &report) < 0)
		return cli_fail(cli);
	return cli_report(cli, report, render_history);
}

/* The plugin that registered UI @ui, from the registry report. */
static const char *plugin_of(const json_t *report, const char *ui)
{
	json_t *p, *u;
	size_t i, k;

	json_array_foreach(json_object_get(report, "plugins"), i, p)
		json_array_foreach(json_object_get(json_object_get(p, "registered"), "uis"), k, u)
			if (!strcmp(json_string_value(u), ui))
				return json_string_value(json_object_get(p, "name"));
	return NULL;
}

static void render_ui_list(struct cli *cli, const json_t *r)
{
	json_t *u, *v;
	const char *kind;
	size_t i;

	(void)cli;
	json_array_foreach(json_object_get(r, "uis"), i, u) {
		printf("%s (plugin %s)\n  root: %s (%s)\n", syn_doc_str(u, "name", "?"), syn_doc_str(u, "plugin", "?"),
		       syn_doc_str(u, "root", "?"),
		       json_is_true(json_object_get(u, "detected")) ? "an install was detected there" : "no install detected");
		json_object_foreach(json_object_get(u, "kind_map"), kind, v)
			printf("    %-16s %s\n", kind, json_string_value(v));
	}
}

int cmd_ui_list(struct cli *cli)
{
	struct syn_registry *reg = cli->reg;
	json_t *plugins = syn_registry_report(reg), *uis = json_array(), *config = NULL;
	size_t i;

	/* with an initialized store its roots and folder overrides count; without, the plugins' defaults */
	if (cli->store && syn_store_is_initialized(cli->store) && syn_store_config(cli->store, &config))
		syn_error_clear();
	for (i = 0; i < syn_registry_ui_count(reg); i++) {
		const struct syn_ui_layout *ui = syn_registry_ui_at(reg, i);
		const char *root = syn_doc_str(json_object_get(json_object_get(config, "ui"), "roots"), ui->name,
					       ui->default_root);
		struct syn_buf abs = SYN_BUF_INIT;
		json_t *map = NULL;
		bool detected = false;
		size_t k;

		if (config && syn_store_kind_map(cli->store, ui->name, &map))
			syn_error_clear();
		if (!map) {
			map = json_object();
			for (k = 0; ui->folders[k].kind; k++)
				json_object_set_new(map, ui->folders[k].kind, json_string(ui->folders[k].folder));
		}
		if (root && !syn_fs_abspath(&abs, root) && ui->detect) {
			int fd = open(abs.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (fd >= 0) {
				detected = ui->detect(fd);
				close(fd);
			}
		}
		syn_error_clear();
		json_array_append_new(uis, json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:o}", "name", ui->name,
			"display_name", ui->display_name, "plugin", plugin_of(plugins, ui->name),
			"root", abs.len ? abs.ptr : root, "detected", detected, "kind_map", map));
		syn_buf_dispose(&abs);
	}
	json_decref(plugins);
	json_decref(config);
	return cli_report(cli, json_pack("{s:o}", "uis", uis), render_ui_list);
}
