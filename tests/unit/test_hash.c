/* Tests of streaming SHA-256. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

START_TEST(known_vectors)
{
	char hex[65];

	ck_assert_int_eq(syn_sha256_mem(hex, "", 0), 0);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(syn_sha256_mem(hex, "abc", 3), 0);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(streaming_equals_one_shot)
{
	struct syn_sha256 *h;
	char a[65], b[65];
	const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	size_t i;

	ck_assert_int_eq(syn_sha256_new(&h), 0);
	for (i = 0; i < strlen(msg); i += 7)
		ck_assert_int_eq(syn_sha256_update(h, msg + i, strlen(msg) - i < 7 ? strlen(msg) - i : 7), 0);
	ck_assert_int_eq(syn_sha256_final(h, a), 0);
	ck_assert_str_eq(a, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	ck_assert_int_eq(syn_sha256_reset(h), 0);
	ck_assert_int_eq(syn_sha256_update(h, "abc", 3), 0);
	ck_assert_int_eq(syn_sha256_final(h, b), 0);
	ck_assert_str_eq(b, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	syn_sha256_free(h);
	syn_sha256_free(NULL);
}
END_TEST

START_TEST(file_of_several_chunks)
{
	size_t len = 5u << 20, i;
	char *data = malloc(len), *path = test_path("big.bin"), file_hex[65], mem_hex[65];
	uint64_t size = 0;

	for (i = 0; i < len; i++)
		data[i] = (char)(i * 31 + (i >> 12));
	test_write_file(path, data, len);
	ck_assert_int_eq(syn_sha256_file(file_hex, &size, path), 0);
	ck_assert_uint_eq(size, len);
	ck_assert_int_eq(syn_sha256_mem(mem_hex, data, len), 0);
	ck_assert_str_eq(file_hex, mem_hex);
	free(data);
	free(path);
}
END_TEST

START_TEST(missing_file_is_not_found)
{
	char hex[65];
	char *path = test_path("nope");

	ck_assert_int_eq(syn_sha256_file(hex, NULL, path), SYN_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(syn_error_last(), path));
	free(path);
}
END_TEST

/* The cache checksum sees every flipped bit and every appended zero, whatever the length. */
START_TEST(hash64_sees_any_change)
{
	unsigned char buf[200] = { 0 };
	uint64_t base;
	size_t len, i, bit;

	for (len = 0; len < 140; len += 13) {
		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)(i * 7 + len);
		base = syn_hash64(buf, len);
		ck_assert(syn_hash64(buf, len) == base);
		for (i = 0; i < len; i++)
			for (bit = 0; bit < 8; bit += 3) {
				buf[i] ^= (unsigned char)(1u << bit);
				ck_assert_msg(syn_hash64(buf, len) != base, "length %zu: byte %zu bit %zu unseen", len, i, bit);
				buf[i] ^= (unsigned char)(1u << bit);
			}
		buf[len] = 0;
		ck_assert(syn_hash64(buf, len + 1) != base);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hash");

	TEST(s, known_vectors, tmp_setup, tmp_teardown);
	TEST(s, streaming_equals_one_shot, tmp_setup, tmp_teardown);
	TEST(s, file_of_several_chunks, tmp_setup, tmp_teardown);
	TEST(s, missing_file_is_not_found, tmp_setup, tmp_teardown);
	TEST(s, hash64_sees_any_change, tmp_setup, tmp_teardown);
	return test_main(s);
}
