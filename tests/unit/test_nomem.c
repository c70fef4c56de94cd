/*
 * Out of memory: every operation, with its n-th JSON allocation failing,
 * either ends as it does with no allocation failing or fails with SYN_ENOMEM
 * and a message, and never crashes. A server must survive a failed
 * allocation. The first allocations are failed one by one, later ones at a
 * stride, so that an operation of thousands of allocations stays quick.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "packs.h"

#define EVERY_ONE 300   /* the first allocations, each failed in turn */
#define AT_MOST 600     /* runs per operation beyond those */

static long countdown = -1; /* allocations left before one fails; -1: none fails */
static long counted;        /* allocations made */
static bool failed_one;

static void *failing_malloc(size_t size)
{
	counted++;
	if (countdown == 0) {
		failed_one = true;
		return NULL;
	}
	if (countdown > 0)
		countdown--;
	return malloc(size);
}

/*
 * Run @name with @args, with the @n-th allocation failing (-1: none); the
 * outcome must be @expected (the code of a run with none failing), or
 * SYN_ENOMEM with a message. Returns the code.
 */
static int run_failing(const char *name, const char *args_text, long n, int expected)
{
	const struct syn_op *op = syn_op_find(name);
	json_t *args = args_text ? json_loads(args_text, 0, NULL) : NULL, *report = NULL;
	int rc;

	ck_assert_ptr_nonnull(op);
	failed_one = false;
	countdown = n;
	rc = syn_op_run(op, test_store, args, NULL, &report);
	countdown = -1;
	if (failed_one)
		ck_assert_msg(rc == expected || rc == SYN_ENOMEM || rc == SYN_ENOTFOUND,
			      "%s with allocation %ld failing: code %d, '%s'", name, n, rc, syn_error_last());
	if (rc == SYN_ENOMEM)
		ck_assert_msg(syn_error_last()[0], "%s: SYN_ENOMEM without a message", name);
	if (rc == 0 || (rc < 0 && report))
		ck_assert_msg(report, "%s succeeded without a report", name);
	json_decref(report);
	json_decref(args);
	return rc;
}

/* Run the operation once as it is, then with each of its allocations (or a sample of them) failing. */
static void every_allocation(const char *name, const char *args_text)
{
	long n, total, stride;
	int expected;

	counted = 0;
	expected = run_failing(name, args_text, -1, 0);
	ck_assert_msg(expected == 0 || expected == SYN_ECORRUPT, "%s failed with no allocation failing: %s", name,
		      syn_error_last());
	total = counted;
	stride = total > EVERY_ONE + AT_MOST ? (total - EVERY_ONE) / AT_MOST : 1;
	for (n = 0; n < total; n += n < EVERY_ONE ? 1 : stride)
		run_failing(name, args_text, n, expected);
}

static void setup(void)
{
	const char *files[] = { "style.safetensors", "extra.safetensors", NULL };
	const char *other[] = { "style.safetensors", NULL };

	json_set_alloc_funcs(failing_malloc, free);
	store_setup();
	make_pack("A", "lora", files, true);
	make_pack("B", "checkpoint", other, false);
}

START_TEST(read_only_operations)
{
	every_allocation("status", "{\"ui_set\": \"all\"}");
	every_allocation("list", NULL);
	every_allocation("show", "{\"pack\": \"A\"}");
	every_allocation("search", "{\"query\": \"a\"}");
	every_allocation("profiles list", NULL);
	every_allocation("profiles show", "{\"profile\": \"global\"}");
	every_allocation("store config", NULL);
	every_allocation("ui list", NULL);
	every_allocation("plugins", NULL);
	every_allocation("attach-status", "{\"ui_set\": \"all\"}");
	every_allocation("backup status", NULL);
	every_allocation("check-updates", NULL);
	every_allocation("check-updates", "{\"pack\": \"A\"}");
}
END_TEST

START_TEST(inventory_operations)
{
	char sha[65], args[128];

	blob_of(sha, "A", "style.safetensors");
	snprintf(args, sizeof(args), "{\"sha256\": \"%s\"}", sha);
	every_allocation("inventory list", NULL);
	every_allocation("inventory orphans", "{\"kind\": \"lora\"}");
	every_allocation("inventory missing", NULL);
	every_allocation("inventory impacts", args);
	every_allocation("inventory verify", "{\"all\": true}");
	every_allocation("inventory cleanup", "{\"dry_run\": true}");
}
END_TEST

START_TEST(operations_that_change_state)
{
	every_allocation("use", "{\"pack\": \"A\", \"sync\": false, \"ui_set\": \"all\"}");
	every_allocation("back", "{\"ui_set\": \"all\"}");
	every_allocation("use", "{\"pack\": \"B\", \"sync\": false}");
	every_allocation("reset", "{\"ui_set\": \"all\"}");
	every_allocation("doctor", "{\"rebuild_views\": true}");
	every_allocation("store init", "{\"force\": true}");
	every_allocation("update", "{\"all\": true, \"sync\": true}");
	every_allocation("update", "{\"pack\": \"A\"}");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nomem");

	TEST(s, read_only_operations, setup, store_teardown);
	TEST(s, operations_that_change_state, setup, store_teardown);
	TEST(s, inventory_operations, setup, store_teardown);
	return test_main(s);
}
