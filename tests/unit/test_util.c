/* Tests of errors, buffers and name validation. */
#include <errno.h>
#include <string.h>

#include "common.h"

START_TEST(error_set_returns_code_and_keeps_message)
{
	ck_assert_int_eq(syn_error_set(SYN_EINVALID, "bad pack '%s'", "x"), SYN_EINVALID);
	ck_assert_str_eq(syn_error_last(), "bad pack 'x'");
	ck_assert_int_eq(syn_error_code(), SYN_EINVALID);
	ck_assert_int_eq(syn_error_prefix("cannot import"), SYN_EINVALID);
	ck_assert_str_eq(syn_error_last(), "cannot import: bad pack 'x'");
	syn_error_clear();
	ck_assert_str_eq(syn_error_last(), "");
	ck_assert_int_eq(syn_error_code(), SYN_OK);
}
END_TEST

START_TEST(error_errno_maps_disk_full)
{
	ck_assert_int_eq(syn_error_set_errno(SYN_EIO, ENOSPC, "cannot write '%s'", "f"), SYN_ENOSPC);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "cannot write 'f': "));
	ck_assert_str_eq(syn_strerror(SYN_ENOTFOUND), "not found");
}
END_TEST

START_TEST(buf_grows_and_detaches)
{
	struct syn_buf b = SYN_BUF_INIT;
	char *s;
	int i;

	ck_assert_str_eq(b.ptr, "");
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(syn_buf_printf(&b, "%d,", i), 0);
	ck_assert_uint_eq(b.len, strlen(b.ptr));
	ck_assert(strncmp(b.ptr, "0,1,2,", 6) == 0);
	syn_buf_truncate(&b, 4);
	ck_assert_str_eq(b.ptr, "0,1,");
	ck_assert_int_eq(syn_buf_put(&b, "ab\0cd", 5), 0);
	ck_assert_uint_eq(b.len, 9);
	s = syn_buf_detach(&b);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_int_eq(memcmp(s, "0,1,ab\0cd", 10), 0);
	free(s);
	syn_buf_dispose(&b);
	syn_buf_dispose(NULL);
}
END_TEST

START_TEST(pack_names_accept_what_users_write)
{
	static const char *const good[] = { "MyLora", "Pack With Spaces", "TestPack_v1.0", "Žluťoučký kůň",
					    "a", "日本語のモデル", "x-y_z (1)" };
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(syn_name_check_pack(good[i]) == 0, "%s: %s", good[i], syn_error_last());
}
END_TEST

START_TEST(pack_names_refuse_what_escapes_or_hides)
{
	static const char *const bad[] = { "", ".", "..", ".hidden", "a/b", "a\\b", "../etc", "a..b", "tab\there",
					   "new\nline", "del\x7f", "\xff\xfe", "\xc0\xaf", "c1\xc2\x85" };
	char longname[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(syn_name_check_pack(bad[i]) == SYN_EINVALID, "accepted '%s'", bad[i]);
		ck_assert(!syn_name_is_pack(bad[i]));
	}
	ck_assert_int_eq(syn_name_check_pack(NULL), SYN_EINVALID);
	memset(longname, 'a', 256);
	longname[256] = '\0';
	ck_assert_int_eq(syn_name_check_file(longname), SYN_EINVALID);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "255"));
	longname[255] = '\0';
	ck_assert_int_eq(syn_name_check_file(longname), 0);
}
END_TEST

START_TEST(hostile_names_are_shown_escaped)
{
	ck_assert_int_eq(syn_name_check_file("evil\x1b[31m"), SYN_EINVALID);
	ck_assert_ptr_null(strchr(syn_error_last(), '\x1b'));
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "\\x1b"));
}
END_TEST

START_TEST(rate_bucket_holds_the_rate)
{
	struct syn_rate_bucket b = { 0 };
	uint64_t now = 1000, passed = 0, wait, i;

	/* unlimited: never a wait */
	ck_assert_uint_eq(syn_rate_bucket_take(&b, 1u << 30, now), 0);
	syn_rate_bucket_set(&b, 1000000, now);
	/* a quarter of a second's burst passes at once, then every byte waits its turn */
	ck_assert_uint_eq(syn_rate_bucket_take(&b, 250000, now), 0);
	wait = syn_rate_bucket_take(&b, 100000, now);
	ck_assert_uint_ge(wait, 99000000);
	ck_assert_uint_le(wait, 101000000);
	/* a sender that waits as told moves 1 MB/s over ten simulated seconds */
	now += wait;
	for (i = 0; i < 1000; i++) {
		wait = syn_rate_bucket_take(&b, 10000, now);
		now += wait;
		passed += 10000;
	}
	ck_assert_uint_ge(now - 1000, 9900000000ull);
	ck_assert_uint_le(now - 1000, 10200000000ull);
	ck_assert_uint_eq(passed, 10000000);
	/* an idle bucket refills only up to its burst */
	now += 60ull * 1000000000;
	ck_assert_uint_eq(syn_rate_bucket_take(&b, 250000, now), 0);
	ck_assert_uint_gt(syn_rate_bucket_take(&b, 1000, now), 0);
}
END_TEST

START_TEST(rate_parse_forms)
{
	uint64_t r;

	ck_assert_int_eq(syn_rate_parse("10M", &r), 0);
	ck_assert_uint_eq(r, 10u << 20);
	ck_assert_int_eq(syn_rate_parse("500k", &r), 0);
	ck_assert_uint_eq(r, 500u << 10);
	ck_assert_int_eq(syn_rate_parse("2.5MiB/s", &r), 0);
	ck_assert_uint_eq(r, 5u << 19);
	ck_assert_int_eq(syn_rate_parse("12345", &r), 0);
	ck_assert_uint_eq(r, 12345);
	ck_assert_int_eq(syn_rate_parse("0", &r), 0);
	ck_assert_uint_eq(r, 0);
	ck_assert_int_eq(syn_rate_parse("fast", &r), SYN_EINVALID);
	ck_assert_int_eq(syn_rate_parse("-1M", &r), SYN_EINVALID);
	ck_assert_int_eq(syn_rate_parse("10X", &r), SYN_EINVALID);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), "'10X'"));
}
END_TEST

START_TEST(sha256_names)
{
	const char *good = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	ck_assert_int_eq(syn_name_check_sha256(good), 0);
	ck_assert_int_eq(syn_name_check_sha256("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
			 SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_sha256("abc"), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_sha256("../../../../etc/passwd"), SYN_EINVALID);
	ck_assert(!syn_name_is_sha256(NULL));
}
END_TEST

START_TEST(idents_and_relpaths)
{
	ck_assert_int_eq(syn_name_check_ident("UI name", "comfyui"), 0);
	ck_assert_int_eq(syn_name_check_ident("asset kind", "text_encoder"), 0);
	ck_assert_int_eq(syn_name_check_ident("UI name", "ComfyUI"), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_ident("UI name", "_x"), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_ident("UI name", ""), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_relpath("folder", "models/Stable-diffusion"), 0);
	ck_assert_int_eq(syn_name_check_relpath("folder", "embeddings"), 0);
	ck_assert_int_eq(syn_name_check_relpath("folder", "/etc"), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_relpath("folder", "models/../../x"), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_relpath("folder", "models//x"), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_relpath("folder", "models/"), SYN_EINVALID);
	ck_assert_int_eq(syn_name_check_relpath("folder", "./models"), SYN_EINVALID);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");

	TEST(s, error_set_returns_code_and_keeps_message, tmp_setup, tmp_teardown);
	TEST(s, rate_bucket_holds_the_rate, tmp_setup, tmp_teardown);
	TEST(s, rate_parse_forms, tmp_setup, tmp_teardown);
	TEST(s, error_errno_maps_disk_full, tmp_setup, tmp_teardown);
	TEST(s, buf_grows_and_detaches, tmp_setup, tmp_teardown);
	TEST(s, pack_names_accept_what_users_write, tmp_setup, tmp_teardown);
	TEST(s, pack_names_refuse_what_escapes_or_hides, tmp_setup, tmp_teardown);
	TEST(s, hostile_names_are_shown_escaped, tmp_setup, tmp_teardown);
	TEST(s, sha256_names, tmp_setup, tmp_teardown);
	TEST(s, idents_and_relpaths, tmp_setup, tmp_teardown);
	return test_main(s);
}
