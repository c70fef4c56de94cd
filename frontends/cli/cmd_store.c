/* `synapse store init` and `synapse store config`. */
#include <string.h>

#include "cli.h"

void render_init(struct cli *cli, const json_t *r)
{
	json_t *repaired = json_object_get(r, "repaired"), *item;
	size_t i;

	(void)cli;
	if (json_is_true(json_object_get(r, "already_initialized"))) {
		printf("Store already initialized at %s; use 'synapse store init --force' to repair it\n",
		       json_string_value(json_object_get(r, "root")));
		return;
	}
	if (json_is_true(json_object_get(r, "created")))
		printf("Store initialized at %s\n", json_string_value(json_object_get(r, "root")));
	else if (json_array_size(repaired) == 0)
		printf("Store already initialized at %s (nothing to repair)\n",
		       json_string_value(json_object_get(r, "root")));
	else
		printf("Store at %s repaired:\n", json_string_value(json_object_get(r, "root")));
	json_array_foreach(repaired, i, item) {
		const char *moved = json_string_value(json_object_get(item, "moved_to"));

		if (moved)
			printf("  rewrote %s (the unreadable copy is %s)\n",
			       json_string_value(json_object_get(item, "document")), moved);
		else
			printf("  recreated %s\n", json_string_value(json_object_get(item, "document")));
	}
}

void render_config(struct cli *cli, const json_t *config)
{
	json_t *defaults = json_object_get(config, "defaults"), *ui = json_object_get(config, "ui");
	json_t *targets = NULL, *known = json_object_get(ui, "known"), *roots = json_object_get(ui, "roots"), *v;
	const json_t *backup = json_object_get(config, "backup");
	size_t i;

	printf("Store root       %s\n", syn_store_root(cli->store));
	printf("State            %s\n", syn_store_state_root(cli->store));
	printf("Data             %s\n", syn_store_data_root(cli->store));
	printf("Default UI set   %s", syn_doc_str(defaults, "ui_set", "local"));
	if (syn_store_ui_targets(cli->store, NULL, &targets) == 0) {
		printf(" (");
		json_array_foreach(targets, i, v)
			printf("%s%s", i ? ", " : "", json_string_value(v));
		printf(")");
	}
	printf("\nDefault profile  %s\n", syn_doc_str(defaults, "active_profile", SYN_PROFILE_GLOBAL));
	printf("UIs:\n");
	json_array_foreach(known, i, v) {
		const char *name = json_string_value(v);

		printf("  %-10s root %s\n", name ? name : "?", syn_doc_str(roots, name ? name : "", "(not set)"));
	}
	printf("Backup           %s", json_is_true(json_object_get(backup, "enabled")) ? "enabled" : "disabled");
	if (json_string_value(json_object_get(backup, "path")))
		printf(" (%s)", json_string_value(json_object_get(backup, "path")));
	printf("\n");
	json_decref(targets);
}
