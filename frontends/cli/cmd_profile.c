/* Profile commands: use, back, reset, profiles list|show, doctor. */
#include <string.h>

#include "cli.h"

static void print_list(const char *label, const json_t *arr)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		printf("%s%s\n", label, json_string_value(v));
}

void render_use(struct cli *cli, const json_t *r)
{
	json_t *v;
	size_t i;

	(void)cli;
	printf("Activated: %s\n  Pack: %s\n  UIs:", syn_doc_str(r, "activated_profile", "?"), syn_doc_str(r, "pack", "?"));
	json_array_foreach(json_object_get(r, "ui_targets"), i, v)
		printf("%s %s", i ? "," : "", json_string_value(v));
	printf("\n");
	cli_print_shadowed(json_object_get(r, "shadowed"));
	cli_print_missing(json_object_get(r, "missing_blobs"));
	print_list("note: ", json_object_get(r, "notes"));
}

void render_back(struct cli *cli, const json_t *r)
{
	json_t *to = json_object_get(r, "to_profiles"), *v;
	const char *ui;

	(void)cli;
	json_object_foreach(json_object_get(r, "from_profiles"), ui, v) {
		const char *t = syn_doc_str(to, ui, "?");

		if (!strcmp(json_string_value(v), t))
			printf("%s: already at its base profile %s\n", ui, t);
		else
			printf("%s: %s -> %s\n", ui, json_string_value(v), t);
	}
}

void render_reset(struct cli *cli, const json_t *r)
{
	json_t *v;
	const char *ui;
	bool any = false;

	(void)cli;
	json_object_foreach(json_object_get(r, "from_profiles"), ui, v) {
		if (strcmp(json_string_value(v), SYN_PROFILE_GLOBAL)) {
			printf("%s: %s -> global\n", ui, json_string_value(v));
			any = true;
		}
	}
	printf(any ? "Reset to: global\n" : "Already at the global profile\n");
}

void render_profiles(struct cli *cli, const json_t *r)
{
	json_t *p, *u;
	size_t i, k;

	(void)cli;
	printf("%-40s %-7s %-6s %s\n", "PROFILE", "TYPE", "PACKS", "ACTIVE IN");
	json_array_foreach(json_object_get(r, "profiles"), i, p) {
		printf("%-40s %-7s %-6lld ", syn_doc_str(p, "name", "?"), syn_doc_str(p, "type", "?"),
		       json_integer_value(json_object_get(p, "packs_count")));
		if (!json_array_size(json_object_get(p, "active_in")))
			printf("-");
		json_array_foreach(json_object_get(p, "active_in"), k, u)
			printf("%s%s", k ? ", " : "", json_string_value(u));
		printf("\n");
	}
}

void render_profile(struct cli *cli, const json_t *p)
{
	json_t *e;
	size_t i;

	(void)cli;
	printf("%s (%zu pack(s), later wins)\n", syn_doc_str(p, "name", "?"), json_array_size(json_object_get(p, "packs")));
	json_array_foreach(json_object_get(p, "packs"), i, e)
		printf("  %zu. %s\n", i + 1, syn_doc_str(e, "name", "?"));
}

void render_doctor(struct cli *cli, const json_t *r)
{
	json_t *v;
	size_t i;
	bool in_sync = true;
	const char *ui;

	(void)cli;
	print_list("repaired: ", json_object_get(r, "repaired"));
	v = json_object_get(r, "actions");
	if (json_integer_value(json_object_get(v, "history_objects_packed")) > 0)
		printf("packed %lld loose object(s) of the state history, freeing %.1f MiB\n",
		       (long long)json_integer_value(json_object_get(v, "history_objects_packed")),
		       (double)json_integer_value(json_object_get(v, "history_bytes_freed")) / (1024.0 * 1024.0));
	json_array_foreach(json_object_get(r, "invalid_blobs"), i, v)
		printf("corrupt blob: %s (moved to data/quarantine/)\n", json_string_value(v));
	json_object_foreach(json_object_get(r, "in_sync"), ui, v)
		in_sync = in_sync && json_is_true(v);
	print_list("warning: ", json_object_get(r, "notes"));
	cli_print_missing(json_object_get(r, "missing_blobs"));
	/* the operation decides: healthy means nothing was found, repaired or not */
	if (json_is_true(json_object_get(r, "healthy")))
		printf("Store is healthy: every view agrees with its stack.\n");
	else if (!in_sync)
		printf("Some views disagree with their stacks: run 'synapse doctor --rebuild-views'.\n");
	else if (json_array_size(json_object_get(r, "repaired")) && !json_array_size(json_object_get(r, "notes")) &&
		 !json_array_size(json_object_get(r, "missing_blobs")))
		printf("The store was not healthy; every problem found was repaired.\n");
}
