/* adopt: what was found, stored, recognised and packed, as a readable report. */
#include <string.h>

#include "cli.h"

static long long num(const json_t *r, const char *key)
{
	return (long long)json_integer_value(json_object_get(r, key));
}

void render_adopt(struct cli *cli, const json_t *r)
{
	const json_t *e, *p;
	char size[32];
	size_t i, k;

	(void)cli;
	cli_size(size, sizeof(size), (double)num(r, "bytes_stored"));
	printf("%s%lld file(s) scanned: %lld hashed, %lld from the cache\n",
	       json_is_true(json_object_get(r, "dry_run")) ? "dry run: " : "", num(r, "files_scanned"),
	       num(r, "hashed"), num(r, "cached"));
	printf("%s %lld new blob(s) (%s; %lld cloned, %lld hard-linked), %lld stored already",
	       json_is_true(json_object_get(r, "dry_run")) ? "would store" : "stored", num(r, "adopted"), size,
	       num(r, "cloned"), num(r, "hard_linked"), num(r, "already_stored"));
	if (num(r, "moved"))
		printf(", %lld original(s) replaced by links", num(r, "moved"));
	printf("\n");
	if (json_array_size(json_object_get(r, "recognised")))
		printf("\nrecognised:\n");
	json_array_foreach(json_object_get(r, "recognised"), i, e)
		printf("  %-40s  %s %lld@%lld  -> %s\n", syn_doc_str(e, "path", "?"), syn_doc_str(e, "source", "?"),
		       num(e, "model_id"), num(e, "version_id"), syn_doc_str(e, "pack", "(no pack)"));
	if (json_array_size(json_object_get(r, "unrecognised")))
		printf("\nunrecognised:\n");
	json_array_foreach(json_object_get(r, "unrecognised"), i, e)
		printf("  %-40s  %.12s  -> %s\n", syn_doc_str(e, "path", "?"), syn_doc_str(e, "sha256", "?"),
		       syn_doc_str(e, "pack", "(no pack)"));
	if (json_array_size(json_object_get(r, "packs")))
		printf("\npacks:\n");
	json_array_foreach(json_object_get(r, "packs"), i, e)
		printf("  %-32s  %s, %lld file(s)\n", syn_doc_str(e, "name", "?"),
		       json_is_true(json_object_get(e, "created")) ? "created" : "extended", num(e, "files"));
	if (json_array_size(json_object_get(r, "duplicates"))) {
		cli_size(size, sizeof(size), (double)num(r, "wasted_bytes"));
		printf("\nduplicates (%s wasted):\n", size);
	}
	json_array_foreach(json_object_get(r, "duplicates"), i, e) {
		cli_size(size, sizeof(size), (double)num(e, "wasted_bytes"));
		printf("  %.12s  %s wasted\n", syn_doc_str(e, "sha256", "?"), size);
		json_array_foreach(json_object_get(e, "paths"), k, p)
			printf("    %s\n", json_string_value(p));
	}
	if (json_array_size(json_object_get(r, "skipped")))
		printf("\nskipped:\n");
	json_array_foreach(json_object_get(r, "skipped"), i, e)
		printf("  %s: %s\n", syn_doc_str(e, "path", "?"), syn_doc_str(e, "reason", "?"));
	json_array_foreach(json_object_get(r, "warnings"), i, e)
		fprintf(stderr, "warning: %s\n", json_string_value(e));
}
