/* Tests of use / back / reset, the runtime stacks, doctor, and their behaviour under kill -9 and concurrency. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "packs.h"

/* Every UI of "all": active agrees with its stack top and view; no dangling link. */
static void assert_consistent(void)
{
	json_t *status = NULL, *v;
	const char *ui;

	ck_assert_msg(syn_store_status(test_store, "all", &status) == 0, "%s", syn_error_last());
	json_object_foreach(json_object_get(status, "in_sync"), ui, v)
		ck_assert_msg(json_is_true(v), "%s out of sync: %s", ui,
			      json_dumps(json_object_get(status, "notes"), 0));
	ck_assert_int_eq(count_dangling(), 0);
	json_decref(status);
}

/* "path -> target" for every entry under a UI's active view, sorted. */
static char *tree_listing(const char *ui)
{
	struct syn_buf out = SYN_BUF_INIT;
	char *root, cmdpath[512];
	struct dirent **ents;
	int n, i;

	snprintf(cmdpath, sizeof(cmdpath), "store/data/views/%s/active/models/loras", ui);
	root = test_path(cmdpath);
	n = scandir(root, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		char path[1024], target[1024];
		ssize_t len;

		snprintf(path, sizeof(path), "%s/%s", root, ents[i]->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = '\0';
		syn_buf_printf(&out, "%s -> %s\n", ents[i]->d_name, target);
		free(ents[i]);
	}
	free(ents);
	free(root);
	return syn_buf_detach(&out);
}

static const char *active_of(const char *ui, char *buf, size_t size)
{
	char rel[256], *p;
	ssize_t n;

	snprintf(rel, sizeof(rel), "store/data/views/%s/active", ui);
	p = test_path(rel);
	n = readlink(p, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	free(p);
	return buf;
}

static void two_packs(void)
{
	const char *files[] = { "style.safetensors", "extra.safetensors", NULL };
	const char *other[] = { "style.safetensors", NULL };

	make_pack("A", "lora", files, true);
	make_pack("B", "lora", other, true);
}

START_TEST(use_then_back_restores_exactly)
{
	char *before, *during, *after, *data, *link, buf[256];
	json_t *r;

	two_packs();
	before = tree_listing("comfyui");
	ck_assert_msg(syn_profile_use(test_store, "A", NULL, false, &r) == 0, "%s", syn_error_last());
	ck_assert_str_eq(json_string_value(json_object_get(r, "activated_profile")), "work__A");
	ck_assert_uint_eq(json_array_size(json_object_get(r, "shadowed")), 2); /* A's style over B's, per UI */
	json_decref(r);
	ck_assert_str_eq(active_of("comfyui", buf, sizeof(buf)), "profiles/work__A");
	ck_assert_str_eq(active_of("forge", buf, sizeof(buf)), "profiles/work__A");
	ck_assert_str_eq(active_of("a1111", buf, sizeof(buf)), "profiles/global"); /* not in the "local" set */
	link = test_path("store/data/views/comfyui/active/models/loras/style.safetensors");
	data = test_read_file(link, NULL);
	ck_assert_str_eq(data, "A:style.safetensors");
	free(data);
	during = tree_listing("comfyui");
	ck_assert_str_ne(before, during);
	assert_consistent();

	ck_assert_int_eq(syn_profile_back(test_store, NULL, &r), 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "from_profile")), "work__A");
	ck_assert_str_eq(json_string_value(json_object_get(r, "to_profile")), "global");
	json_decref(r);
	after = tree_listing("comfyui");
	ck_assert_str_eq(before, after);
	data = test_read_file(link, NULL);
	ck_assert_str_eq(data, "B:style.safetensors");
	free(data);
	assert_consistent();
	free(before);
	free(during);
	free(after);
	free(link);
}
END_TEST

START_TEST(stacks_push_once_and_back_stops_at_global)
{
	json_t *r, *stack;

	two_packs();
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_profile_use(test_store, "B", "comfyui", false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_store_status(test_store, "all", &r), 0);
	stack = json_object_get(json_object_get(r, "stacks"), "comfyui");
	ck_assert_uint_eq(json_array_size(stack), 3);
	ck_assert_str_eq(json_string_value(json_array_get(stack, 2)), "work__B");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "stacks"), "forge")), 2);
	json_decref(r);
	assert_consistent();
	ck_assert_int_eq(syn_profile_back(test_store, "all", &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_profile_back(test_store, "all", &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_profile_back(test_store, "all", &r), 0);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "notes"), 0)), "already_at_base");
	json_decref(r);
	assert_consistent();
}
END_TEST

START_TEST(reset_returns_every_ui_to_global)
{
	json_t *r;
	char buf[256];

	two_packs();
	ck_assert_int_eq(syn_profile_use(test_store, "A", "all", false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_profile_reset(test_store, "all", &r), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "from_profiles"), "sdnext")), "work__A");
	json_decref(r);
	ck_assert_str_eq(active_of("sdnext", buf, sizeof(buf)), "profiles/global");
	assert_consistent();
}
END_TEST

START_TEST(bad_use_arguments)
{
	json_t *r = NULL;

	ck_assert_int_eq(syn_profile_use(test_store, "Nope", NULL, false, &r), SYN_ENOTFOUND);
	ck_assert_int_eq(syn_profile_use(test_store, "../x", NULL, false, &r), SYN_EINVALID);
	ck_assert_int_eq(syn_profile_back(test_store, "no-such-set", &r), SYN_ENOTFOUND);
	ck_assert_ptr_null(r);
	assert_consistent();
}
END_TEST

START_TEST(a_refused_use_writes_no_profile)
{
	char *work = test_path("store/state/profiles/work__A/profile.json");
	struct test_run run;
	json_t *r = NULL;

	two_packs();
	ck_assert_int_eq(syn_profile_use(test_store, "A", "nosuch", false, &r), SYN_ENOTFOUND);
	ck_assert_ptr_null(r);
	ck_assert(!test_exists(work));
	/* nothing left for the next command to commit under its own name */
	run = test_cli((const char *const[]){ "use", "B", "--ui-set", "nosuch", "--no-sync", NULL }, NULL);
	ck_assert_int_eq(run.status, 1);
	test_run_free(&run);
	free(work);
	work = test_path("store/state/profiles/work__B");
	ck_assert(!test_exists(work));
	free(work);
	/* a pack whose own document does not parse is refused too, naming the file and the position */
	work = test_path("store/state/packs/A/pack.json");
	test_write_file(work, "{ \"name\": ", 10);
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), SYN_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "packs/A/pack.json' at line 1"));
	free(work);
	work = test_path("store/state/profiles/work__A");
	ck_assert(!test_exists(work));
	free(work);
}
END_TEST

/* Whether some string of @arr contains @needle. */
static bool any_has(const json_t *arr, const char *needle)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (json_string_value(v) && strstr(json_string_value(v), needle))
			return true;
	return false;
}

START_TEST(a_file_left_out_for_its_name_is_reported)
{
	const char *files[] = { "../../../../escape.safetensors", "fine.safetensors", NULL };
	struct test_run run;
	json_t *r = NULL;

	make_pack("H", "lora", files, true);
	ck_assert_int_eq(syn_profile_use(test_store, "H", NULL, false, &r), 0);
	ck_assert_msg(any_has(json_object_get(r, "notes"), "escape.safetensors"), "%s",
		      json_dumps(json_object_get(r, "notes"), 0));
	ck_assert_uint_eq(json_array_size(json_object_get(r, "notes")), 1); /* once, not once per UI */
	json_decref(r);
	/* the cached view says it again */
	run = test_cli((const char *const[]){ "use", "H", "--no-sync", NULL }, NULL);
	ck_assert_int_eq(run.status, 0);
	ck_assert_ptr_nonnull(strstr(run.out, "escape.safetensors"));
	test_run_free(&run);
	ck_assert_int_eq(syn_store_status(test_store, NULL, &r), 0);
	ck_assert(any_has(json_object_get(r, "notes"), "escape.safetensors"));
	json_decref(r);
	run = test_cli((const char *const[]){ "status", NULL }, NULL);
	ck_assert_ptr_nonnull(strstr(run.out, "escape.safetensors"));
	test_run_free(&run);
	/* a file name that cannot be linked is a problem doctor reports: the store is not healthy */
	ck_assert_int_eq(syn_doctor(test_store, NULL, false, false, &r), SYN_ECORRUPT);
	ck_assert(any_has(json_object_get(r, "notes"), "escape.safetensors"));
	json_decref(r);
	run = test_cli((const char *const[]){ "doctor", NULL }, NULL);
	ck_assert_ptr_nonnull(strstr(run.out, "escape.safetensors"));
	test_run_free(&run);
	assert_consistent();
}
END_TEST

START_TEST(a_corrupt_pack_document_is_reported_not_its_old_contents)
{
	char *path = test_path("store/state/packs/B/pack.json");
	json_t *r = NULL;

	two_packs();
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "shadowed")), 2);
	json_decref(r);
	/* again, with no commit in between: the view now records the generation it is current at */
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), 0);
	json_decref(r);
	test_write_file(path, "{\n  \"name\": \"B\",\n  oops\n}\n", 27);
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), 0);
	ck_assert_msg(any_has(json_object_get(r, "notes"), "packs/B/pack.json' at line 3"), "%s",
		      json_dumps(json_object_get(r, "notes"), 0));
	ck_assert_uint_eq(json_array_size(json_object_get(r, "shadowed")), 0);
	json_decref(r);
	ck_assert_int_eq(syn_store_status(test_store, NULL, &r), 0);
	ck_assert(any_has(json_object_get(r, "notes"), "packs/B/pack.json' at line 3"));
	ck_assert_uint_eq(json_array_size(json_object_get(r, "shadowed")), 0);
	json_decref(r);
	free(path);
}
END_TEST

START_TEST(deleting_an_active_pack_needs_force_and_falls_back)
{
	json_t *r = NULL;
	char buf[256];

	two_packs();
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_pack_delete(test_store, "A", false, &r), SYN_EGUARD);
	/* the refusal says why and what to do */
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "'work__A' is the active profile of"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "--force"));
	ck_assert_int_eq(syn_pack_delete(test_store, "A", true, &r), 0);
	json_decref(r);
	ck_assert_str_eq(active_of("comfyui", buf, sizeof(buf)), "profiles/global");
	assert_consistent();
}
END_TEST

START_TEST(use_names_each_missing_blob_once_with_its_uis)
{
	const char *files[] = { "absent.safetensors", NULL };
	json_t *r = NULL, *m;

	make_pack("Gone", "lora", files, false);
	ck_assert_int_eq(syn_profile_use(test_store, "Gone", "all", false, &r), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "missing_blobs")), 1);
	m = json_array_get(json_object_get(r, "missing_blobs"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "pack")), "Gone");
	ck_assert_uint_eq(json_array_size(json_object_get(m, "uis")), 4);
	json_decref(r);
}
END_TEST

START_TEST(status_text_lists_the_shadowed_files)
{
	struct test_run run;
	json_t *r = NULL;

	two_packs();
	ck_assert_int_eq(syn_profile_use(test_store, "A", NULL, false, &r), 0);
	json_decref(r);
	run = test_cli((const char *const[]){ "status", NULL }, NULL);
	ck_assert_int_eq(run.status, 0);
	ck_assert_ptr_nonnull(strstr(run.out, "shadowed file(s)"));
	ck_assert_ptr_nonnull(strstr(run.out, "comfyui: A hides B's models/loras/style.safetensors"));
	test_run_free(&run);
}
END_TEST

/* Whether an entry of @r's "repaired" list contains @text. */
static bool repaired_mentions(const json_t *r, const char *text)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(r, "repaired"), i, v)
		if (strstr(json_string_value(v), text))
			return true;
	return false;
}

START_TEST(doctor_on_a_healthy_store_succeeds)
{
	json_t *r;

	two_packs();
	ck_assert_msg(syn_doctor(test_store, NULL, true, true, &r) == 0, "%s", syn_error_last());
	ck_assert(json_is_true(json_object_get(r, "healthy")));
	ck_assert_uint_eq(json_array_size(json_object_get(r, "repaired")), 0);
	json_decref(r);
}
END_TEST

START_TEST(doctor_without_repairs_still_fails_on_a_broken_store)
{
	char *view = test_path("store/data/views/comfyui/profiles/global");
	json_t *r;

	two_packs();
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, view), 0);
	/* without --rebuild-views nothing is repaired, and the missing view is still wrong */
	ck_assert_int_eq(syn_doctor(test_store, NULL, false, false, &r), SYN_ECORRUPT);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_is_false(json_object_get(r, "healthy")));
	ck_assert(json_is_false(json_object_get(json_object_get(r, "in_sync"), "comfyui")));
	json_decref(r);
	free(view);
}
END_TEST

START_TEST(doctor_reports_the_stale_git_locks_it_removes)
{
	char *lock = test_path("store/state/.git/index.lock");
	json_t *r;

	test_write_file(lock, "", 0);
	ck_assert_int_eq(syn_doctor(test_store, NULL, false, false, &r), SYN_ECORRUPT);
	ck_assert_msg(repaired_mentions(r, "removed stale git lock state/.git/index.lock"),
		      "the git lock is not reported");
	json_decref(r);
	ck_assert(!test_exists(lock));
	free(lock);
}
END_TEST

START_TEST(a_pack_with_a_name_too_long_for_a_work_profile_deletes_and_commits)
{
	const char *files[] = { "x.safetensors", NULL };
	char name[256];
	json_t *r = NULL;

	memset(name, 'L', 252);
	name[252] = '\0';
	make_pack(name, "lora", files, true);
	ck_assert_int_eq(syn_store_lock(test_store, "test"), 0);
	ck_assert_int_eq(syn_state_commit(test_store, "import it", NULL), 0);
	syn_store_unlock(test_store);
	ck_assert_msg(syn_pack_delete(test_store, name, false, &r) == 0, "%s", syn_error_last());
	json_decref(r);
	ck_assert_int_eq(syn_state_history(test_store, 1, &r), 0);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(json_object_get(r, "commits"), 0),
									"message")), "delete LLL"));
	json_decref(r);
}
END_TEST

START_TEST(doctor_repairs_every_disagreement)
{
	char *active = test_path("store/data/views/forge/active"), *view = test_path("store/data/views/comfyui/profiles/global");
	char *runtime = test_path("store/data/runtime.json");
	json_t *r, *status;
	const char *rt = "{\"schema\": \"synapse.runtime.v1\", \"ui\": {\"comfyui\": {\"stack\": [\"global\"]}, "
			 "\"forge\": {\"stack\": [\"global\", \"work__Gone\"]}, "
			 "\"sdnext\": {\"stack\": [\"global\", \"work__A\"]}}}";

	two_packs();
	ck_assert_int_eq(unlink(active), 0);
	ck_assert_int_eq(symlink("profiles/nowhere", active), 0);
	ck_assert_int_eq(syn_fs_remove_tree(AT_FDCWD, view), 0);
	test_write_file(runtime, rt, strlen(rt));
	ck_assert_int_eq(syn_store_status(test_store, "all", &status), 0);
	ck_assert(json_is_false(json_object_get(json_object_get(status, "in_sync"), "comfyui")));
	ck_assert(json_is_false(json_object_get(json_object_get(status, "in_sync"), "forge")));
	json_decref(status);
	ck_assert_int_eq(syn_doctor(test_store, NULL, true, false, &r), SYN_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "the store was not healthy"));
	ck_assert_ptr_nonnull(r);
	ck_assert(json_is_false(json_object_get(r, "healthy")));
	/* the work profile of a pack that is there is made again; one whose pack is gone leaves the stack */
	ck_assert_msg(repaired_mentions(r, "sdnext: regenerated missing profile work__A"),
		      "the regenerated profile is not reported");
	ck_assert_msg(repaired_mentions(r, "sdnext: active now points at work__A"),
		      "the re-pointed active is not reported");
	ck_assert_msg(repaired_mentions(r, "forge: dropped 'work__Gone' from the stack"),
		      "the dropped stack entry is not reported");
	ck_assert_msg(repaired_mentions(r, "forge: active now points at global"),
		      "the re-pointed active is not reported");
	ck_assert_msg(repaired_mentions(r, "comfyui: rebuilt the view of profile 'global' (it was missing)"),
		      "the rebuilt view is not reported");
	json_decref(r);
	assert_consistent();
	/* what it repaired in state/ is in the history */
	ck_assert_int_eq(syn_state_history(test_store, 1, &r), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r, "commits"), 0), "message")),
			 "doctor");
	json_decref(r);
	/* all repaired: the next run finds a healthy store */
	ck_assert_msg(syn_doctor(test_store, NULL, true, false, &r) == 0, "%s", syn_error_last());
	ck_assert(json_is_true(json_object_get(r, "healthy")));
	ck_assert_uint_eq(json_array_size(json_object_get(r, "repaired")), 0);
	json_decref(r);
	free(active);
	free(view);
	free(runtime);
}
END_TEST

START_TEST(doctor_quarantines_corrupt_blobs)
{
	const char *files[] = { "c.safetensors", NULL };
	char sha[65], rel[256], *path, *q;
	json_t *r;

	make_pack("C", "lora", files, true);
	blob_of(sha, "C", "c.safetensors");
	snprintf(rel, sizeof(rel), "store/data/blobs/sha256/%c%c/%s", sha[0], sha[1], sha);
	path = test_path(rel);
	ck_assert_int_eq(chmod(path, 0644), 0);
	test_write_file(path, "rotten bytes", 12);
	ck_assert_int_eq(syn_doctor(test_store, NULL, false, true, &r), SYN_ECORRUPT);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "invalid_blobs"), 0)), sha);
	ck_assert_msg(repaired_mentions(r, sha), "the quarantined blob is not reported");
	ck_assert(json_is_false(json_object_get(r, "healthy")));
	json_decref(r);
	ck_assert(!test_exists(path));
	snprintf(rel, sizeof(rel), "store/data/quarantine/%s", sha);
	q = test_path(rel);
	ck_assert(test_exists(q));
	/* the view lost its link with the blob: nothing dangles */
	ck_assert_int_eq(count_dangling(), 0);
	free(path);
	free(q);
}
END_TEST

START_TEST(profiles_list_and_show)
{
	json_t *r, *p;
	size_t i;
	bool work = false;

	two_packs();
	ck_assert_int_eq(syn_profile_use(test_store, "B", NULL, false, &r), 0);
	json_decref(r);
	ck_assert_int_eq(syn_profile_list(test_store, &r), 0);
	json_array_foreach(json_object_get(r, "profiles"), i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "name")), "work__B")) {
			work = true;
			ck_assert_str_eq(json_string_value(json_object_get(p, "type")), "work");
			ck_assert_uint_eq(json_array_size(json_object_get(p, "active_in")), 2);
		}
	}
	ck_assert(work);
	json_decref(r);
	ck_assert_int_eq(syn_profile_show(test_store, "work__B", &r), 0);
	p = json_object_get(r, "packs");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "name")), "A");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 1), "name")), "B"); /* last wins */
	json_decref(r);
	ck_assert_int_eq(syn_profile_show(test_store, "nope", &r), SYN_ENOTFOUND);
}
END_TEST

/* A child that switches profiles forever, in its own store handle. */
static void switch_forever(const char *pack)
{
	struct syn_registry *reg = test_registry();
	struct syn_store *st;
	char *root = test_path("store");
	json_t *r;

	if (syn_store_open(&st, reg, root))
		_exit(3);
	for (;;) {
		if (syn_profile_use(st, pack, "all", false, &r) == 0)
			json_decref(r);
		if (syn_profile_back(st, "all", &r) == 0)
			json_decref(r);
	}
}

START_TEST(kill_9_at_any_moment_is_reported_then_repaired)
{
	unsigned int seed = (unsigned int)getpid();
	int round, rc;

	two_packs();
	for (round = 0; round < 25; round++) {
		struct timespec ts = { 0, (long)(rand_r(&seed) % 40) * 1000000L + (long)(rand_r(&seed) % 1000) * 1000L };
		json_t *status = NULL, *r = NULL, *v;
		int wstatus;
		const char *ui;
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			switch_forever(round % 2 ? "A" : "B");
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
		/* status tells the truth: in sync, or a note per disagreeing UI */
		ck_assert_msg(syn_store_status(test_store, "all", &status) == 0, "%s", syn_error_last());
		json_object_foreach(json_object_get(status, "in_sync"), ui, v) {
			char *notes;

			if (json_is_true(v))
				continue;
			notes = json_dumps(json_object_get(status, "notes"), 0);
			ck_assert_msg(strstr(notes, ui), "%s out of sync without a note", ui);
			free(notes);
		}
		json_decref(status);
		ck_assert_int_eq(count_dangling(), 0);
		/* and doctor puts everything right; the dead holder's lock is gone */
		setenv("SYNAPSE_LOCK_TIMEOUT", "5", 1);
		rc = syn_doctor(test_store, "all", true, false, &r);
		ck_assert_msg(rc == 0 || rc == SYN_ECORRUPT, "%s", syn_error_last());
		ck_assert_ptr_nonnull(r);
		ck_assert(json_is_true(json_object_get(r, "healthy")) == (rc == 0));
		json_decref(r);
		assert_consistent();
	}
}
END_TEST

/* A child that switches to @pack and away (back, or reset) 20 times in its own store handle. */
static pid_t switcher(const char *pack, bool reset)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct syn_registry *reg = test_registry();
		struct syn_store *st;
		char *root = test_path("store");
		json_t *r;
		int i;

		if (syn_store_open(&st, reg, root))
			_exit(3);
		for (i = 0; i < 20; i++) {
			if (syn_profile_use(st, pack, "all", false, &r))
				_exit(4);
			json_decref(r);
			if (reset ? syn_profile_reset(st, "all", &r) : syn_profile_back(st, "all", &r))
				_exit(5);
			json_decref(r);
		}
		_exit(0);
	}
	return pid;
}

START_TEST(two_processes_switching_concurrently)
{
	pid_t a, b;
	int sa, sb;

	two_packs();
	setenv("SYNAPSE_LOCK_TIMEOUT", "30", 1);
	a = switcher("A", false);
	b = switcher("B", true);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_eq(waitpid(a, &sa, 0), a);
	ck_assert_int_eq(waitpid(b, &sb, 0), b);
	ck_assert_msg(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, "first switcher failed: %d", sa);
	ck_assert_msg(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, "second switcher failed: %d", sb);
	assert_consistent();
}
END_TEST

START_TEST(a_hand_edited_pack_shows_as_out_of_date)
{
	char *path = test_path("store/state/packs/B/pack.json"), *text, *at, *link;
	json_t *status, *r;
	FILE *f;

	two_packs();
	/* edit in place, as an editor that does not rename would: the view is now stale */
	text = test_read_file(path, NULL);
	at = strstr(text, "style.safetensors");
	ck_assert_ptr_nonnull(at);
	memcpy(at, "STYLE", 5);
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(syn_store_status(test_store, NULL, &status), 0);
	ck_assert(json_is_false(json_object_get(json_object_get(status, "in_sync"), "comfyui")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(json_object_get(status, "notes"), 0)), "out of date"));
	json_decref(status);
	ck_assert_int_eq(syn_doctor(test_store, NULL, true, false, &r), SYN_ECORRUPT);
	ck_assert_msg(repaired_mentions(r, "comfyui: rebuilt the view of profile"),
		      "the stale view is not reported");
	json_decref(r);
	assert_consistent();
	link = test_path("store/data/views/comfyui/active/models/loras/STYLE.safetensors");
	ck_assert(test_exists(link));
	free(link);
	free(text);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("profile");

	TEST(s, use_then_back_restores_exactly, store_setup, store_teardown);
	TEST(s, stacks_push_once_and_back_stops_at_global, store_setup, store_teardown);
	TEST(s, reset_returns_every_ui_to_global, store_setup, store_teardown);
	TEST(s, bad_use_arguments, store_setup, store_teardown);
	TEST(s, a_refused_use_writes_no_profile, store_setup, store_teardown);
	TEST(s, a_file_left_out_for_its_name_is_reported, store_setup, store_teardown);
	TEST(s, a_corrupt_pack_document_is_reported_not_its_old_contents, store_setup, store_teardown);
	TEST(s, deleting_an_active_pack_needs_force_and_falls_back, store_setup, store_teardown);
	TEST(s, use_names_each_missing_blob_once_with_its_uis, store_setup, store_teardown);
	TEST(s, status_text_lists_the_shadowed_files, store_setup, store_teardown);
	TEST(s, doctor_on_a_healthy_store_succeeds, store_setup, store_teardown);
	TEST(s, doctor_without_repairs_still_fails_on_a_broken_store, store_setup, store_teardown);
	TEST(s, doctor_reports_the_stale_git_locks_it_removes, store_setup, store_teardown);
	TEST(s, a_pack_with_a_name_too_long_for_a_work_profile_deletes_and_commits, store_setup, store_teardown);
	TEST(s, doctor_repairs_every_disagreement, store_setup, store_teardown);
	TEST(s, doctor_quarantines_corrupt_blobs, store_setup, store_teardown);
	TEST(s, profiles_list_and_show, store_setup, store_teardown);
	TEST(s, a_hand_edited_pack_shows_as_out_of_date, store_setup, store_teardown);
	TEST(s, kill_9_at_any_moment_is_reported_then_repaired, store_setup, store_teardown);
	TEST(s, two_processes_switching_concurrently, store_setup, store_teardown);
	return test_main(s);
}
