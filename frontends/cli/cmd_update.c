/* Update commands: check-updates and update. */
#include <string.h>

#include "cli.h"

static const char *version_of(const json_t *file, char *buf, size_t size)
{
	snprintf(buf, size, "%s (%lld)", syn_doc_str(file, "version_name", "?"),
		 (long long)json_integer_value(json_object_get(file, "provider_version_id")));
	return buf;
}

static void print_change(const json_t *c)
{
	const json_t *old = json_object_get(c, "old"), *new = json_object_get(c, "new");
	char a[160], b[160], size[32];

	cli_size(size, sizeof(size), (double)json_integer_value(json_object_get(new, "size_bytes")));
	printf("  %s: %s -> %s  %s  %s\n", syn_doc_str(c, "dependency_id", "?"), version_of(old, a, sizeof(a)),
	       version_of(new, b, sizeof(b)), syn_doc_str(new, "filename", "?"), size);
}

static void print_candidates(const json_t *list)
{
	const json_t *c;
	char size[32];
	size_t i;

	json_array_foreach(list, i, c) {
		cli_size(size, sizeof(size), (double)json_integer_value(json_object_get(c, "size_bytes")));
		printf("      %-10lld %-48s %-12s %-6s %10s%s\n", (long long)json_integer_value(json_object_get(c, "file_id")),
		       syn_doc_str(c, "name", "?"), syn_doc_str(c, "format", "-"), syn_doc_str(c, "precision", "-"), size,
		       json_is_true(json_object_get(c, "primary")) ? "  primary" : "");
	}
}

/* Everything of @plan a person has to know, or nothing when it is up to date. */
static void print_plan(const char *name, const json_t *plan, bool alone)
{
	const char *status = syn_doc_str(plan, "status", "?");
	const json_t *e;
	size_t i;

	if (!strcmp(status, "up_to_date") || !strcmp(status, "not_followed")) {
		if (alone)
			printf("%s is up to date%s.\n", name, !strcmp(status, "not_followed")
			       ? " (no dependency follows the latest version)" : "");
		if (alone)
			json_array_foreach(json_object_get(plan, "notes"), i, e)
				printf("  %s: %s\n", syn_doc_str(e, "dependency_id", "?"), syn_doc_str(e, "note", ""));
		return;
	}
	printf("%s: %s\n", name, !strcmp(status, "updates") ? "updates" : !strcmp(status, "error") ? "cannot be checked"
	       : "needs a choice");
	json_array_foreach(json_object_get(plan, "changes"), i, e)
		print_change(e);
	json_array_foreach(json_object_get(plan, "held"), i, e) {
		print_change(e);
		printf("    held: %s\n    take it with: synapse update %s --choose %s=%lld\n", syn_doc_str(e, "message", ""),
		       name, syn_doc_str(e, "dependency_id", "?"),
		       (long long)json_integer_value(json_object_get(json_object_get(e, "new"), "provider_file_id")));
	}
	json_array_foreach(json_object_get(plan, "ambiguous"), i, e) {
		printf("  %s: %s\n", syn_doc_str(e, "dependency_id", "?"), syn_doc_str(e, "reason", ""));
		print_candidates(json_object_get(e, "candidates"));
		printf("    choose with: synapse update %s --choose %s=FILE_ID\n", name, syn_doc_str(e, "dependency_id", "?"));
	}
	json_array_foreach(json_object_get(plan, "errors"), i, e)
		printf("  %s: error: %s\n", syn_doc_str(e, "dependency_id", "pack"), syn_doc_str(e, "error", "?"));
}

void render_check_updates(struct cli *cli, const json_t *r)
{
	const json_t *plans = json_object_get(r, "plans"), *plan;
	bool alone = json_object_get(cli->args, "pack") != NULL;
	const char *name;
	size_t errors = 0;

	json_object_foreach((json_t *)plans, name, plan) {
		print_plan(name, plan, alone);
		errors += !strcmp(syn_doc_str(plan, "status", ""), "error");
	}
	if (alone)
		return;
	printf("Checked %lld pack(s): %lld with updates (%lld change(s))", json_integer_value(json_object_get(r, "packs_checked")),
	       json_integer_value(json_object_get(r, "packs_with_updates")),
	       json_integer_value(json_object_get(r, "total_changes")));
	if (errors)
		printf(", %zu could not be checked", errors);
	printf(".\n");
	if (json_integer_value(json_object_get(r, "packs_with_updates")))
		printf("Apply with: synapse update <pack>, or synapse update --all\n");
}

static void print_replaced(const json_t *replaced)
{
	if (json_array_size(replaced))
		printf("  %zu replaced blob(s) stay in the store; 'synapse inventory cleanup' reclaims them once nothing "
		       "uses them\n", json_array_size(replaced));
}

void render_update(struct cli *cli, const json_t *r)
{
	const json_t *e, *res;
	const char *name;
	size_t i;

	if (!json_object_get(r, "results")) {
		name = syn_doc_str(r, "pack", "?");
		if (json_is_true(json_object_get(r, "already_up_to_date"))) {
			printf("%s is up to date.\n", name);
			return;
		}
		printf("%s %s:\n", json_is_true(json_object_get(r, "dry_run")) ? "Would update" : "Updated", name);
		json_array_foreach(json_object_get(r, "changes"), i, e)
			print_change(e);
		print_replaced(json_object_get(r, "replaced"));
		json_array_foreach(json_object_get(json_object_get(r, "plan"), "errors"), i, e)
			fprintf(stderr, "warning: %s could not be checked: %s\n", syn_doc_str(e, "dependency_id", "a dependency"),
				syn_doc_str(e, "error", "?"));
		if (json_string_value(json_object_get(r, "next")))
			printf("Its new files are not downloaded yet. Next: %s\n", json_string_value(json_object_get(r, "next")));
		json_array_foreach(json_object_get(r, "warnings"), i, e)
			fprintf(stderr, "warning: %s\n", json_string_value(e));
		return;
	}
	(void)cli;
	json_object_foreach((json_t *)json_object_get(r, "results"), name, res) {
		const char *status = syn_doc_str(res, "status", "?");

		if (!strcmp(status, "up_to_date"))
			continue;
		printf("%s: %s\n", name, !strcmp(status, "would_apply") ? "would update" : status);
		json_array_foreach(json_object_get(res, "changes"), i, e)
			print_change(e);
		if (json_string_value(json_object_get(res, "reason")))
			printf("  %s\n", json_string_value(json_object_get(res, "reason")));
		if (json_string_value(json_object_get(res, "error")))
			printf("  error: %s\n", json_string_value(json_object_get(res, "error")));
		if (json_array_size(json_object_get(res, "missing")))
			printf("  new files not downloaded yet: synapse install %s\n", name);
	}
	printf("%s %lld pack(s), skipped %lld, failed %lld, up to date %lld\n",
	       json_is_true(json_object_get(r, "dry_run")) ? "Would update" : "Updated",
	       json_integer_value(json_object_get(r, "total_applied")), json_integer_value(json_object_get(r, "total_skipped")),
	       json_integer_value(json_object_get(r, "total_failed")), json_integer_value(json_object_get(r, "total_up_to_date")));
	json_array_foreach(json_object_get(r, "warnings"), i, e)
		fprintf(stderr, "warning: %s\n", json_string_value(e));
}
