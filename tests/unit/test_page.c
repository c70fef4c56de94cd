/* Tests of the embedded page: what page_asset_find() serves, and that the page
 * names no other host and builds no markup from strings. */
#include <string.h>

#include "common.h"
#include "page_assets.h"

/* Whether @needle occurs in the asset's bytes. */
static bool asset_has(const struct page_asset *a, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= a->len; i++)
		if (!memcmp(a->data + i, needle, n))
			return true;
	return false;
}

START_TEST(paths_and_types)
{
	const struct page_asset *a;

	a = page_asset_find("/");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->content_type, "text/html; charset=utf-8");
	ck_assert_uint_gt(a->len, 15);
	ck_assert_int_eq(memcmp(a->data, "<!doctype html>", 15), 0);
	ck_assert_ptr_eq(page_asset_find("/index.html"), a);
	ck_assert_ptr_eq(page_asset_find("/?token=x"), a);

	a = page_asset_find("/assets/app.js");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->content_type, "text/javascript; charset=utf-8");
	ck_assert_ptr_eq(page_asset_find("/assets/app.js?v=2"), a);
	a = page_asset_find("/assets/style.css");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->content_type, "text/css; charset=utf-8");

	ck_assert_ptr_null(page_asset_find(NULL));
	ck_assert_ptr_null(page_asset_find(""));
	ck_assert_ptr_null(page_asset_find("/assets/"));
	ck_assert_ptr_null(page_asset_find("/assets/app.jsx"));
	ck_assert_ptr_null(page_asset_find("/assets/app"));
	ck_assert_ptr_null(page_asset_find("/assets/../index.html"));
	ck_assert_ptr_null(page_asset_find("/api/store/status"));
	ck_assert_ptr_null(page_asset_find("index.html"));
}
END_TEST

START_TEST(no_other_host_no_markup_from_strings)
{
	static const char *const paths[] = { "/index.html", "/assets/app.js", "/assets/style.css" };
	/* ways a page loads from elsewhere: absolute or protocol-relative links, CSS imports */
	static const char *const remote[] = {
		"src=\"http", "src=\"//", "href=\"http", "href=\"//", "url(http", "url(\"http", "url('http",
		"url(//", "@import", "fetch('http", "fetch(\"http", "XMLHttpRequest", "WebSocket",
	};
	/* ways to turn network strings into markup */
	static const char *const markup[] = {
		"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
	};
	size_t i, j;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct page_asset *a = page_asset_find(paths[i]);

		ck_assert_ptr_nonnull(a);
		for (j = 0; j < sizeof(remote) / sizeof(remote[0]); j++)
			ck_assert_msg(!asset_has(a, remote[j]), "%s has '%s'", paths[i], remote[j]);
		for (j = 0; j < sizeof(markup) / sizeof(markup[0]); j++)
			ck_assert_msg(!asset_has(a, markup[j]), "%s has '%s'", paths[i], markup[j]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("page");

	TEST(s, paths_and_types, tmp_setup, tmp_teardown);
	TEST(s, no_other_host_no_markup_from_strings, tmp_setup, tmp_teardown);
	return test_main(s);
}
