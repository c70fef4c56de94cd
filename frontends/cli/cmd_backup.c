/* Backup commands: status, config, blob, restore, delete, pull, push, sync. */
#include <string.h>

#include "cli.h"

static long long int_of(const json_t *r, const char *key)
{
	return (long long)json_integer_value(json_object_get(r, key));
}

static void size_of(char *out, size_t size, const json_t *r, const char *key)
{
	cli_size(out, size, (double)json_integer_value(json_object_get(r, key)));
}

void render_backup_status(struct cli *cli, const json_t *r)
{
	char bytes[32], total[32], free_space[32];

	(void)cli;
	printf("Backup: %s (backend %s)\n", json_is_true(json_object_get(r, "enabled")) ? "enabled" : "disabled",
	       syn_doc_str(r, "backend", "?"));
	printf("  Path: %s\n", syn_doc_str(r, "path", "(not set)"));
	if (!json_is_true(json_object_get(r, "reachable"))) {
		printf("  Not reachable: %s\n", syn_doc_str(r, "error", "unknown"));
		return;
	}
	size_of(bytes, sizeof(bytes), r, "bytes");
	printf("  Blobs: %lld (%s)\n", int_of(r, "blobs"), bytes);
	if (json_is_integer(json_object_get(r, "free_space"))) {
		size_of(total, sizeof(total), r, "total_space");
		size_of(free_space, sizeof(free_space), r, "free_space");
		printf("  Space: %s free of %s\n", free_space, total);
	}
	printf("  Local only: %lld   Backup only: %lld   Both: %lld\n", int_of(r, "blobs_local_only"),
	       int_of(r, "blobs_backup_only"), int_of(r, "blobs_both"));
}

void render_backup_blob(struct cli *cli, const json_t *r)
{
	char bytes[32];

	(void)cli;
	size_of(bytes, sizeof(bytes), r, "bytes");
	if (json_is_true(json_object_get(r, "copied")))
		printf("Backed up %s (%s), verified\n", syn_doc_str(r, "sha256", "?"), bytes);
	else
		printf("Already on the backup: %s (%s), verified\n", syn_doc_str(r, "sha256", "?"), bytes);
}

void render_backup_restore(struct cli *cli, const json_t *r)
{
	char bytes[32];

	(void)cli;
	size_of(bytes, sizeof(bytes), r, "bytes");
	if (json_is_true(json_object_get(r, "restored")))
		printf("Restored %s (%s), verified\n", syn_doc_str(r, "sha256", "?"), bytes);
	else
		printf("Already in the local store: %s (%s)\n", syn_doc_str(r, "sha256", "?"), bytes);
}

void render_backup_delete(struct cli *cli, const json_t *r)
{
	const json_t *w;
	char bytes[32];
	size_t i;

	(void)cli;
	size_of(bytes, sizeof(bytes), r, "bytes_freed");
	printf("Deleted the backup copy of %s (%s freed)\n", syn_doc_str(r, "sha256", "?"), bytes);
	printf(json_is_true(json_object_get(r, "still_on_local")) ? "  The local copy stays.\n"
								   : "  There was no local copy.\n");
	json_array_foreach(json_object_get(r, "warnings"), i, w)
		fprintf(stderr, "warning: %s\n", json_string_value(w));
}

void render_backup_sync(struct cli *cli, const json_t *r)
{
	bool dry = json_is_true(json_object_get(r, "dry_run"));
	bool to = !strcmp(syn_doc_str(r, "direction", ""), "to_backup");
	const json_t *it;
	char size[32], total[32];
	size_t i;

	(void)cli;
	size_of(total, sizeof(total), r, dry ? "bytes_to_sync" : "bytes_synced");
	if (json_string_value(json_object_get(r, "pack")))
		printf("%s %s %s the backup\n", to ? "Push" : "Pull", syn_doc_str(r, "pack", "?"), to ? "to" : "from");
	else
		printf("Sync %s the backup\n", to ? "to" : "from");
	json_array_foreach(json_object_get(r, "items"), i, it) {
		size_of(size, sizeof(size), it, "size_bytes");
		printf("  %.12s  %10s  %s\n", syn_doc_str(it, "sha256", "?"), size,
		       syn_doc_str(it, "display_name", syn_doc_str(it, "dependency_id", "")));
	}
	if (dry)
		printf("Dry run: %lld blob(s), %s would be copied; run again with --execute\n",
		       int_of(r, "blobs_to_sync"), total);
	else
		printf("Copied %lld of %lld blob(s), %s, each verified\n", int_of(r, "blobs_synced"),
		       int_of(r, "blobs_to_sync"), total);
	if (json_array_size(json_object_get(r, "cleaned")))
		printf("Removed %zu local copy(ies) now safe on the backup\n", json_array_size(json_object_get(r, "cleaned")));
	json_array_foreach(json_object_get(r, "kept"), i, it)
		printf("  kept %.12s locally: %s\n", syn_doc_str(it, "sha256", "?"), syn_doc_str(it, "reason", ""));
	json_array_foreach(json_object_get(r, "errors"), i, it)
		printf("  problem: %s\n", json_string_value(it));
}
