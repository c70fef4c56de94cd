/* Inventory commands: list, orphans, missing, impacts, verify, cleanup, delete. */
#include <string.h>

#include "cli.h"

static void print_warnings(const json_t *warnings)
{
	json_t *w;
	size_t i;

	json_array_foreach(warnings, i, w)
		fprintf(stderr, "warning: %s\n", json_string_value(w));
}

static double bytes_of(const json_t *obj, const char *key)
{
	return (double)json_integer_value(json_object_get(obj, key));
}

/* "A, B" from an array of strings, "-" when empty, into @out. */
static const char *joined(const json_t *list, char *out, size_t size)
{
	size_t i, len = 0;
	json_t *v;

	snprintf(out, size, "-");
	json_array_foreach(list, i, v) {
		int w = snprintf(out + len, size - len, "%s%s", i ? ", " : "", json_string_value(v));

		if (w < 0 || (size_t)w >= size - len)
			break;
		len += (size_t)w;
	}
	return out;
}

static void print_item(const json_t *item)
{
	char size[32], packs[128], uis[96];

	cli_size(size, sizeof(size), bytes_of(item, "size_bytes"));
	printf("%10s  %-11s  %-11s  %-10s  %.12s  %-32s  %s", size, syn_doc_str(item, "status", "?"),
	       syn_doc_str(item, "location", "?"), syn_doc_str(item, "kind", "?"), syn_doc_str(item, "sha256", "?"),
	       syn_doc_str(item, "display_name", "?"), joined(json_object_get(item, "used_by_packs"), packs, sizeof(packs)));
	if (json_array_size(json_object_get(item, "active_in_uis")))
		printf("  [active: %s]", joined(json_object_get(item, "active_in_uis"), uis, sizeof(uis)));
	printf("\n");
}

static void print_summary(const json_t *s)
{
	const json_t *dedup = json_object_get(s, "dedup"), *backup = json_object_get(s, "backup");
	char a[32], b[32], c[32];

	cli_size(a, sizeof(a), bytes_of(s, "bytes_total"));
	printf("\n%lld blob(s), %s stored here\n", (long long)json_integer_value(json_object_get(s, "blobs_total")), a);
	cli_size(a, sizeof(a), bytes_of(s, "bytes_referenced"));
	cli_size(b, sizeof(b), bytes_of(s, "bytes_orphan"));
	printf("  referenced %lld (%s), orphan %lld (%s), missing %lld, backup only %lld\n",
	       (long long)json_integer_value(json_object_get(s, "blobs_referenced")), a,
	       (long long)json_integer_value(json_object_get(s, "blobs_orphan")), b,
	       (long long)json_integer_value(json_object_get(s, "blobs_missing")),
	       (long long)json_integer_value(json_object_get(s, "blobs_backup_only")));
	cli_size(a, sizeof(a), bytes_of(dedup, "bytes_saved"));
	cli_size(b, sizeof(b), bytes_of(dedup, "bytes_as_copies"));
	cli_size(c, sizeof(c), bytes_of(dedup, "bytes_stored"));
	printf("  deduplication saves %s (%s as separate copies, %s stored)\n", a, b, c);
	if (json_is_integer(json_object_get(s, "disk_free"))) {
		cli_size(a, sizeof(a), bytes_of(s, "disk_free"));
		cli_size(b, sizeof(b), bytes_of(s, "disk_total"));
		printf("  disk: %s free of %s\n", a, b);
	} else {
		printf("  disk: free space unknown\n");
	}
	if (!json_is_true(json_object_get(backup, "enabled")))
		printf("  backup: not enabled\n");
	else if (!json_is_true(json_object_get(backup, "reachable")))
		printf("  backup: cannot be reached (%s); what it holds is unknown\n", syn_doc_str(backup, "error", "?"));
	else {
		cli_size(a, sizeof(a), bytes_of(backup, "bytes_on_backup"));
		printf("  backup: %lld blob(s), %s\n", (long long)json_integer_value(json_object_get(backup, "blobs_on_backup")),
		       a);
	}
	if (json_integer_value(json_object_get(s, "blobs_orphan")))
		printf("Run 'synapse inventory cleanup' to see what removing the orphans frees.\n");
}

void render_inventory(struct cli *cli, const json_t *r)
{
	const json_t *items = json_object_get(r, "items"), *item;
	size_t i;

	(void)cli;
	if (json_array_size(items))
		printf("%10s  %-11s  %-11s  %-10s  %-12s  %-32s  %s\n", "SIZE", "STATUS", "LOCATION", "KIND", "SHA256",
		       "NAME", "PACKS");
	else
		printf("No blobs.\n");
	json_array_foreach(items, i, item)
		print_item(item);
	print_summary(json_object_get(r, "summary"));
	print_warnings(json_object_get(r, "warnings"));
}

void render_inventory_impacts(struct cli *cli, const json_t *r)
{
	char size[32], packs[256], uis[128];

	(void)cli;
	cli_size(size, sizeof(size), bytes_of(r, "size_bytes"));
	printf("%s (%s, %s, %s)\n", syn_doc_str(r, "sha256", "?"), syn_doc_str(r, "display_name", "?"),
	       syn_doc_str(r, "kind", "unknown kind"), size);
	printf("  status: %s; on this machine: %s; on the backup: %s\n", syn_doc_str(r, "status", "?"),
	       json_is_true(json_object_get(r, "on_local")) ? "yes" : "no",
	       json_is_null(json_object_get(r, "on_backup")) ? "unknown"
	       : json_is_true(json_object_get(r, "on_backup")) ? "yes" : "no");
	printf("  used by packs: %s\n", joined(json_object_get(r, "used_by_packs"), packs, sizeof(packs)));
	printf("  active in UIs: %s\n", joined(json_object_get(r, "active_in_uis"), uis, sizeof(uis)));
	if (json_is_true(json_object_get(r, "can_delete_safely")))
		printf("Safe to delete.\n");
	else
		printf("Not safe to delete: %s.\n", syn_doc_str(r, "reason", "?"));
}

void render_inventory_verify(struct cli *cli, const json_t *r)
{
	const json_t *sha;
	size_t i;

	(void)cli;
	printf("Verified %lld blob(s) in %lld ms: %zu valid, %zu invalid.\n",
	       (long long)json_integer_value(json_object_get(r, "verified")),
	       (long long)json_integer_value(json_object_get(r, "duration_ms")),
	       json_array_size(json_object_get(r, "valid")), json_array_size(json_object_get(r, "invalid")));
	json_array_foreach(json_object_get(r, "invalid"), i, sha)
		printf("  invalid: %s\n", json_string_value(sha));
}

void render_inventory_cleanup(struct cli *cli, const json_t *r)
{
	bool dry = json_is_true(json_object_get(r, "dry_run"));
	const json_t *item;
	char size[32];
	size_t i;

	(void)cli;
	cli_size(size, sizeof(size), bytes_of(r, "bytes_freed"));
	if (dry)
		printf("%lld orphan blob(s); removing %zu would free %s:\n",
		       (long long)json_integer_value(json_object_get(r, "orphans_found")),
		       json_array_size(json_object_get(r, "deleted")), size);
	else
		printf("Removed %lld of %lld orphan blob(s), freed %s:\n",
		       (long long)json_integer_value(json_object_get(r, "orphans_deleted")),
		       (long long)json_integer_value(json_object_get(r, "orphans_found")), size);
	json_array_foreach(json_object_get(r, "deleted"), i, item)
		print_item(item);
	json_array_foreach(json_object_get(r, "errors"), i, item)
		fprintf(stderr, "error: %s\n", json_string_value(item));
	print_warnings(json_object_get(r, "warnings"));
	if (dry && json_array_size(json_object_get(r, "deleted")))
		printf("Nothing was removed. Run 'synapse inventory cleanup --execute' to remove them.\n");
}

void render_inventory_delete(struct cli *cli, const json_t *r)
{
	char size[32], from[64], left[64];

	(void)cli;
	cli_size(size, sizeof(size), bytes_of(r, "bytes_freed"));
	printf("Deleted blob %.12s from %s (%s freed); it remains on: %s\n", syn_doc_str(r, "sha256", "?"),
	       joined(json_object_get(r, "deleted_from"), from, sizeof(from)), size,
	       json_array_size(json_object_get(r, "remaining_on")) ? joined(json_object_get(r, "remaining_on"), left,
									    sizeof(left))
								    : "nothing");
	print_warnings(json_object_get(r, "warnings"));
}
