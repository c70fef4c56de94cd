/* Tests of JSON documents: canonical form, unknown keys, malformed input. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static char *dump(const json_t *doc)
{
	struct syn_buf b = SYN_BUF_INIT;

	ck_assert_int_eq(syn_doc_dump(&b, doc), 0);
	return syn_buf_detach(&b);
}

START_TEST(dump_is_sorted_indented_with_newline)
{
	json_t *doc = json_pack("{s:i, s:{s:[], s:{}, s:[i,s]}, s:n, s:b}", "zeta", 1, "alpha", "list", "obj",
				"mixed", 1, "x", "null", "bool", 1);
	char *text = dump(doc);

	ck_assert_str_eq(text, "{\n"
			       "  \"alpha\": {\n"
			       "    \"list\": [],\n"
			       "    \"mixed\": [\n"
			       "      1,\n"
			       "      \"x\"\n"
			       "    ],\n"
			       "    \"obj\": {}\n"
			       "  },\n"
			       "  \"bool\": true,\n"
			       "  \"null\": null,\n"
			       "  \"zeta\": 1\n"
			       "}\n");
	free(text);
	json_decref(doc);
}
END_TEST

START_TEST(reals_round_trip_and_read_well)
{
	static const double values[] = { 4.9, 0.1, 100.0, 1e-05, 1e+16, 123456.789, -0.5, 2.2250738585072014e-308,
					 0.0001, 1.5e16, 0.0, 1234567890123456.0, 0.30000000000000004 };
	static const char *const shown[] = { "4.9", "0.1", "100.0", "1e-05", "1e+16", "123456.789", "-0.5",
					     "2.2250738585072014e-308", "0.0001", "1.5e+16", "0.0",
					     "1234567890123456.0", "0.30000000000000004" };
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		json_t *doc = json_pack("{s:f}", "r", values[i]), *back = NULL;
		char *text = dump(doc), want[64];

		snprintf(want, sizeof(want), "{\n  \"r\": %s\n}\n", shown[i]);
		ck_assert_str_eq(text, want);
		ck_assert_int_eq(syn_doc_parse(&back, text, strlen(text), "mem"), 0);
		ck_assert(json_is_real(json_object_get(back, "r")));
		ck_assert(json_real_value(json_object_get(back, "r")) == values[i]);
		json_decref(back);
		json_decref(doc);
		free(text);
	}
}
END_TEST

START_TEST(strings_keep_utf8_and_escape_controls)
{
	json_t *doc = json_pack("{s:s}", "name", "Žluťoučký \"kůň\"\n\t\x01/ 日本");
	char *text = dump(doc);

	ck_assert_str_eq(text, "{\n  \"name\": \"Žluťoučký \\\"kůň\\\"\\n\\t\\u0001/ 日本\"\n}\n");
	free(text);
	json_decref(doc);
}
END_TEST

START_TEST(unknown_keys_survive_a_rewrite)
{
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	char *path = test_path("pack.json"), *text;
	json_t *doc;

	const char *src = "{\"schema\": \"synapse.pack.v2\", \"name\": \"A\", \"x_future\": {\"keep\": [1, 2.5]}}";

	test_write_file(path, src, strlen(src));
	ck_assert_int_eq(syn_doc_read(&doc, dfd, "pack.json", path), 0);
	json_object_set_new(doc, "name", json_string("B"));
	ck_assert_int_eq(syn_doc_write(dfd, "pack.json", doc), 0);
	json_decref(doc);
	text = test_read_file(path, NULL);
	ck_assert_str_eq(text, "{\n  \"name\": \"B\",\n  \"schema\": \"synapse.pack.v2\",\n  \"x_future\": {\n"
			       "    \"keep\": [\n      1,\n      2.5\n    ]\n  }\n}\n");
	free(text);
	free(path);
	close(dfd);
}
END_TEST

START_TEST(malformed_document_names_file_and_position)
{
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	char *path = test_path("lock.json"), *before, *after;
	json_t *doc = (json_t *)1;

	test_write_file(path, "{\n  \"pack\": \"A\",\n  \"resolved\": [1,,]\n}\n", 38);
	before = test_read_file(path, NULL);
	ck_assert_int_eq(syn_doc_read(&doc, dfd, "lock.json", path), SYN_ECORRUPT);
	ck_assert_ptr_null(doc);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), path));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "line 3"));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "column"));
	after = test_read_file(path, NULL);
	ck_assert_str_eq(before, after); /* reading never changes a broken file */
	free(before);
	free(after);
	free(path);
	close(dfd);
}
END_TEST

START_TEST(non_object_and_duplicate_keys_are_corrupt)
{
	json_t *doc;

	ck_assert_int_eq(syn_doc_parse(&doc, "[1, 2]", 6, "x.json"), SYN_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "expected a JSON object"));
	ck_assert_int_eq(syn_doc_parse(&doc, "{\"a\": 1, \"a\": 2}", 16, "x.json"), SYN_ECORRUPT);
	ck_assert_int_eq(syn_doc_parse(&doc, "", 0, "x.json"), SYN_ECORRUPT);
	ck_assert_int_eq(syn_doc_parse(&doc, "{\"a\": \"\xff\"}", 10, "x.json"), SYN_ECORRUPT);
}
END_TEST

START_TEST(missing_document_is_not_found)
{
	int dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	json_t *doc;

	ck_assert_int_eq(syn_doc_read(&doc, dfd, "absent.json", "/x/absent.json"), SYN_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "/x/absent.json"));
	close(dfd);
}
END_TEST

START_TEST(doc_str_falls_back)
{
	json_t *doc = json_pack("{s:s, s:i}", "a", "x", "b", 1);

	ck_assert_str_eq(syn_doc_str(doc, "a", "d"), "x");
	ck_assert_str_eq(syn_doc_str(doc, "b", "d"), "d");
	ck_assert_str_eq(syn_doc_str(doc, "c", "d"), "d");
	ck_assert_str_eq(syn_doc_str(NULL, "c", "d"), "d");
	json_decref(doc);
}
END_TEST

/* A document larger than the pieces it is written in reaches a file whole, the same text. */
START_TEST(print_writes_the_dump_text_in_pieces)
{
	json_t *doc = json_object(), *items = json_array();
	char *text, *path = test_path("printed.json"), *got;
	size_t i, len;
	FILE *f;

	for (i = 0; i < 5000; i++)
		json_array_append_new(items, json_pack("{s:i, s:s, s:[s, f]}", "n", (int)i, "name", "a \"quoted\" name\n",
						       "tags", "x", 0.1 * (double)i));
	json_object_set_new(doc, "items", items);
	text = dump(doc);
	ck_assert_uint_gt(strlen(text), 256 * 1024);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(syn_doc_print(f, doc), 0);
	fclose(f);
	got = test_read_file(path, &len);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert(memcmp(got, text, len) == 0);
	free(got);

	/* a full device is an error, not a silent cut */
	f = fopen("/dev/full", "w");
	if (f) {
		ck_assert_int_eq(syn_doc_print(f, doc), SYN_ENOSPC);
		fclose(f);
	}
	free(text);
	free(path);
	json_decref(doc);
}
END_TEST

/* One document through emitter @e: nested objects and arrays, empty ones, escapes, a whole value. */
static int emit_sample(struct syn_emit *e, size_t n)
{
	json_t *whole = json_pack("{s:[i, f, n], s:{}}", "b", 1, 2.5, "a");
	size_t i;

	syn_emit_object(e);
	syn_emit_key(e, "empty_list");
	syn_emit_array(e);
	syn_emit_end(e);
	syn_emit_key(e, "empty_obj");
	syn_emit_object(e);
	syn_emit_end(e);
	syn_emit_key(e, "items");
	syn_emit_array(e);
	for (i = 0; i < n; i++) {
		syn_emit_object(e);
		syn_emit_key(e, "flag");
		syn_emit_bool(e, i % 2);
		syn_emit_key(e, "n");
		syn_emit_integer(e, (json_int_t)i - 3);
		syn_emit_key(e, "name");
		syn_emit_string(e, "a \"quoted\"\tname\n\xc3\xa9");
		syn_emit_key(e, "none");
		syn_emit_string(e, NULL);
		syn_emit_key(e, "tags");
		syn_emit_array(e);
		syn_emit_string(e, "x");
		syn_emit_null(e);
		syn_emit_value(e, whole);
		syn_emit_end(e);
		syn_emit_end(e);
	}
	syn_emit_end(e);
	syn_emit_key(e, "whole");
	syn_emit_value(e, whole);
	json_decref(whole); /* a tree keeps its own reference */
	return syn_emit_end(e);
}

/* The same calls make a tree, and on a file exactly the text syn_doc_print() writes of that tree. */
START_TEST(emit_to_file_writes_the_text_of_the_tree)
{
	char *path = test_path("emitted.json"), *got, *want;
	struct syn_emit *e = NULL;
	json_t *tree = NULL;
	size_t len;
	FILE *f;

	ck_assert_int_eq(syn_emit_to_json(&e), 0);
	ck_assert_int_eq(emit_sample(e, 3000), 0);
	ck_assert_int_eq(syn_emit_finish(e, &tree), 0);
	syn_emit_free(e);
	ck_assert_uint_eq(json_array_size(json_object_get(tree, "items")), 3000);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(tree, "items"), 0), "n")),
			 -3);
	want = dump(tree);
	ck_assert_uint_gt(strlen(want), 256 * 1024); /* more than one piece */

	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(syn_emit_to_file(&e, f), 0);
	ck_assert_int_eq(emit_sample(e, 3000), 0);
	ck_assert_int_eq(syn_emit_finish(e, NULL), 0);
	syn_emit_free(e);
	fclose(f);
	got = test_read_file(path, &len);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert(memcmp(got, want, len) == 0);

	/* a full device is an error, not a silent cut */
	f = fopen("/dev/full", "w");
	if (f) {
		ck_assert_int_eq(syn_emit_to_file(&e, f), 0);
		emit_sample(e, 3000);
		ck_assert_int_eq(syn_emit_finish(e, NULL), SYN_ENOSPC);
		syn_emit_free(e);
		fclose(f);
	}
	free(got);
	free(want);
	free(path);
	json_decref(tree);
}
END_TEST

/* Misuse is refused, and the first failure sticks through every later call. */
START_TEST(emit_refuses_misuse_and_keeps_the_first_failure)
{
	struct syn_emit *e;
	json_t *tree;
	int file, i;

	for (file = 0; file < 2; file++) {
		FILE *f = file ? fopen("/dev/null", "w") : NULL;
#define NEW() ck_assert_int_eq(file ? syn_emit_to_file(&e, f) : syn_emit_to_json(&e), 0)
		/* a member without its key */
		NEW();
		syn_emit_object(e);
		ck_assert_int_eq(syn_emit_integer(e, 1), SYN_EINVALID);
		ck_assert_int_eq(syn_emit_key(e, "k"), SYN_EINVALID); /* stuck */
		ck_assert_int_eq(syn_emit_finish(e, &tree), SYN_EINVALID);
		syn_emit_free(e);
		/* a key in an array, an end with nothing open, a second root */
		NEW();
		syn_emit_array(e);
		ck_assert_int_eq(syn_emit_key(e, "k"), SYN_EINVALID);
		syn_emit_free(e);
		NEW();
		ck_assert_int_eq(syn_emit_end(e), SYN_EINVALID);
		syn_emit_free(e);
		NEW();
		ck_assert_int_eq(syn_emit_integer(e, 1), 0);
		ck_assert_int_eq(syn_emit_integer(e, 2), SYN_EINVALID);
		syn_emit_free(e);
		/* an unfinished document, an empty one */
		NEW();
		syn_emit_object(e);
		syn_emit_key(e, "k");
		ck_assert_int_eq(syn_emit_finish(e, &tree), SYN_EINVALID);
		syn_emit_free(e);
		NEW();
		ck_assert_int_eq(syn_emit_finish(e, &tree), SYN_EINVALID);
		syn_emit_free(e);
		/* too deep */
		NEW();
		for (i = 0; i < 32; i++)
			ck_assert_int_eq(syn_emit_array(e), 0);
		ck_assert_int_eq(syn_emit_array(e), SYN_EINVALID);
		syn_emit_free(e);
#undef NEW
		if (f)
			fclose(f);
	}
	syn_emit_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("doc");

	TEST(s, dump_is_sorted_indented_with_newline, tmp_setup, tmp_teardown);
	TEST(s, reals_round_trip_and_read_well, tmp_setup, tmp_teardown);
	TEST(s, strings_keep_utf8_and_escape_controls, tmp_setup, tmp_teardown);
	TEST(s, unknown_keys_survive_a_rewrite, tmp_setup, tmp_teardown);
	TEST(s, malformed_document_names_file_and_position, tmp_setup, tmp_teardown);
	TEST(s, non_object_and_duplicate_keys_are_corrupt, tmp_setup, tmp_teardown);
	TEST(s, missing_document_is_not_found, tmp_setup, tmp_teardown);
	TEST(s, doc_str_falls_back, tmp_setup, tmp_teardown);
	TEST(s, print_writes_the_dump_text_in_pieces, tmp_setup, tmp_teardown);
	TEST(s, emit_to_file_writes_the_text_of_the_tree, tmp_setup, tmp_teardown);
	TEST(s, emit_refuses_misuse_and_keeps_the_first_failure, tmp_setup, tmp_teardown);
	return test_main(s);
}
