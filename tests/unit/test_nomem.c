/*
 * Out of memory: every operation, with its n-th JSON allocation failing for
 * n = 1, 2, ..., either succeeds or fails with SYN_ENOMEM and a message,
 * and never crashes. A server must survive a failed allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "packs.h"

static long countdown = -1; /* allocations left before one fails; -1: none fails */
static bool failed_one;

static void *failing_malloc(size_t size)
{
	if (countdown == 0) {
		failed_one = true;
		return NULL;
	}
	if (countdown > 0)
		countdown--;
	return malloc(size);
}

/* Run @name with @args; with the @n-th allocation failing. Returns whether one failed. */
static bool run_failing(const char *name, const char *args_text, long n)
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
		ck_assert_msg(rc == 0 || rc == SYN_ENOMEM || rc == SYN_ENOTFOUND,
			      "%s with allocation %ld failing: code %d, '%s'", name, n, rc, syn_error_last());
	else
		ck_assert_msg(rc == 0, "%s failed with no allocation failing: %s", name, syn_error_last());
	if (rc == SYN_ENOMEM)
		ck_assert_msg(syn_error_last()[0], "%s: SYN_ENOMEM without a message", name);
	json_decref(report);
	json_decref(args);
	return failed_one;
}

/* Fail each allocation of the operation in turn, until it runs through with none failing. */
static void every_allocation(const char *name, const char *args_text)
{
	long n;

	for (n = 0; n < 20000; n++)
		if (!run_failing(name, args_text, n))
			return;
	ck_abort_msg("%s never ran through", name);
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
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nomem");

	TEST(s, read_only_operations, setup, store_teardown);
	TEST(s, operations_that_change_state, setup, store_teardown);
	return test_main(s);
}
