/*
 * The thread contract: one registry shared by every thread, one store handle
 * per thread on the same root, operations running at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "packs.h"

#define THREADS 4
#define ROUNDS 15

struct worker {
	int n;
	char failure[512];
};

static const char *const packs[] = { "A", "B", "C" };

/* Run @name with @args (a JSON text, may be NULL) on @st; a failure is kept in @w. */
static void run(struct worker *w, struct syn_store *st, const char *name, const char *args_text)
{
	json_t *args = args_text ? json_loads(args_text, 0, NULL) : NULL, *report = NULL;

	if (syn_op_run(syn_op_find(name), st, args, NULL, &report) < 0 && !w->failure[0])
		snprintf(w->failure, sizeof(w->failure), "thread %d: %s: %s", w->n, name, syn_error_last());
	json_decref(report);
	json_decref(args);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct syn_store *st = NULL;
	char *root = test_path("store");
	char args[128];
	int i;

	if (syn_store_open(&st, test_reg, root) < 0) {
		snprintf(w->failure, sizeof(w->failure), "thread %d: open: %s", w->n, syn_error_last());
		goto out;
	}
	for (i = 0; i < ROUNDS && !w->failure[0]; i++) {
		snprintf(args, sizeof(args), "{\"pack\": \"%s\", \"sync\": false, \"ui_set\": \"%s\"}",
			 packs[(i + w->n) % 3], w->n % 2 ? "all" : "local");
		run(w, st, "use", args);
		run(w, st, "status", "{\"ui_set\": \"all\"}");
		run(w, st, "list", NULL);
		if (i % 3 == 2)
			run(w, st, "back", w->n % 2 ? "{\"ui_set\": \"all\"}" : NULL);
	}
out:
	syn_store_free(st);
	free(root);
	return NULL;
}

START_TEST(threads_with_their_own_stores_keep_the_invariants)
{
	const char *files[] = { "style.safetensors", "shared.safetensors", NULL };
	struct worker w[THREADS] = { { 0 } };
	pthread_t t[THREADS];
	json_t *status = NULL, *v;
	const char *ui;
	int i;

	make_pack("A", "lora", files, true);
	make_pack("B", "lora", files, true);
	make_pack("C", "checkpoint", files, true);
	setenv("SYNAPSE_LOCK_TIMEOUT", "60", 1);
	for (i = 0; i < THREADS; i++) {
		w[i].n = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (i = 0; i < THREADS; i++)
		ck_assert_msg(!w[i].failure[0], "%s", w[i].failure);
	/* every UI's active link agrees with its stack and view, and nothing dangles */
	ck_assert_msg(syn_store_status(test_store, "all", &status) == 0, "%s", syn_error_last());
	json_object_foreach(json_object_get(status, "in_sync"), ui, v)
		ck_assert_msg(json_is_true(v), "%s out of sync", ui);
	ck_assert_int_eq(count_dangling(), 0);
	json_decref(status);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("threads");

	TEST(s, threads_with_their_own_stores_keep_the_invariants, store_setup, store_teardown);
	return test_main(s);
}
