/*
 * syn-bench: drives single core operations for bench/run.sh, so their wall
 * time can be compared with a reference tool on the same file in the same run.
 *
 *   syn-bench insert <store-root> <file>   insert a file as a blob (fsync'ed)
 *   syn-bench verify <store-root> <sha256> re-hash a stored blob
 *   syn-bench remove <store-root> <sha256> remove a blob (between runs)
 */
#include <stdio.h>
#include <string.h>

#include <synapse/synapse.h>

static int open_store(struct syn_registry **reg, struct syn_store **st, const char *root)
{
	json_t *report = NULL;

	if (syn_global_init() || syn_registry_new(reg) || syn_registry_load_default(*reg) ||
	    syn_store_open(st, *reg, root))
		return -1;
	if (!syn_store_is_initialized(*st) && syn_store_init(*st, false, &report))
		return -1;
	json_decref(report);
	return 0;
}

int main(int argc, char **argv)
{
	struct syn_registry *reg = NULL;
	struct syn_store *st = NULL;
	char sha[SYN_SHA256_HEX_LEN + 1];
	int rc = -1;

	if (argc != 4) {
		fprintf(stderr, "usage: syn-bench insert|verify|remove <store-root> <file|sha256>\n");
		return 2;
	}
	if (open_store(&reg, &st, argv[2]))
		goto out;
	if (!strcmp(argv[1], "insert")) {
		rc = syn_blob_insert_file(st, argv[3], NULL, sha);
		if (!rc)
			printf("%s\n", sha);
	} else if (!strcmp(argv[1], "verify")) {
		rc = syn_blob_verify(st, argv[3]);
	} else if (!strcmp(argv[1], "remove")) {
		rc = syn_blob_remove(st, argv[3]);
		if (rc == SYN_ENOTFOUND)
			rc = 0;
	} else {
		fprintf(stderr, "syn-bench: unknown operation '%s'\n", argv[1]);
		rc = 2;
	}
out:
	if (rc)
		fprintf(stderr, "syn-bench: %s\n", syn_error_last());
	syn_store_free(st);
	syn_registry_free(reg);
	return rc ? 1 : 0;
}
