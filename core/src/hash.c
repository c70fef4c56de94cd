/* Streaming SHA-256 through OpenSSL EVP (uses SHA-NI/AVX2 when present), and the fast hashes of tables and caches. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "synapse/errors.h"
#include "synapse/hash.h"

/* Large reads keep syscall overhead far below hashing cost. */
#define HASH_CHUNK (1u << 20)

struct syn_sha256 {
	EVP_MD_CTX *ctx;
};

int syn_sha256_new(struct syn_sha256 **out)
{
	struct syn_sha256 *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		syn_sha256_free(h);
		return syn_error_set(SYN_ERROR, "cannot initialize SHA-256");
	}
	*out = h;
	return 0;
}

int syn_sha256_update(struct syn_sha256 *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		return syn_error_set(SYN_ERROR, "SHA-256 update failed");
	return 0;
}

int syn_sha256_final(struct syn_sha256 *h, char hex[SYN_SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
		return syn_error_set(SYN_ERROR, "SHA-256 finalization failed");
	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
	return 0;
}

int syn_sha256_reset(struct syn_sha256 *h)
{
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		return syn_error_set(SYN_ERROR, "cannot reset SHA-256");
	return 0;
}

void syn_sha256_free(struct syn_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int syn_sha256_fd(char hex[SYN_SHA256_HEX_LEN + 1], uint64_t *size_out, int fd)
{
	struct syn_sha256 *h = NULL;
	uint64_t total = 0;
	char *chunk;
	int rc;

	chunk = malloc(HASH_CHUNK);
	if (!chunk)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	rc = syn_sha256_new(&h);
	while (!rc) {
		ssize_t n = read(fd, chunk, HASH_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = syn_error_set_errno(SYN_EIO, errno, "read failed while hashing");
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		rc = syn_sha256_update(h, chunk, (size_t)n);
	}
	if (!rc)
		rc = syn_sha256_final(h, hex);
	if (!rc && size_out)
		*size_out = total;
	syn_sha256_free(h);
	free(chunk);
	return rc;
}

int syn_sha256_file(char hex[SYN_SHA256_HEX_LEN + 1], uint64_t *size_out, const char *path)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return syn_error_set(SYN_ENOTFOUND, "'%s' does not exist", path);
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", path);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = syn_sha256_fd(hex, size_out, fd);
	if (rc)
		syn_error_prefix("cannot hash '%s'", path);
	close(fd);
	return rc;
}

int syn_sha256_mem(char hex[SYN_SHA256_HEX_LEN + 1], const void *data, size_t len)
{
	struct syn_sha256 *h;
	int rc = syn_sha256_new(&h);

	if (!rc)
		rc = syn_sha256_update(h, data, len);
	if (!rc)
		rc = syn_sha256_final(h, hex);
	syn_sha256_free(h);
	return rc;
}

uint64_t syn_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *c = data;

	while (len--)
		h = (h ^ *c++) * 1099511628211ULL;
	return h;
}

/* One lane's step: mix in the word @w. */
static uint64_t lane(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

uint64_t syn_hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h[4] = { SYN_FNV1A_INIT, SYN_FNV1A_INIT ^ 1, SYN_FNV1A_INIT ^ 2, SYN_FNV1A_INIT ^ 3 }, w, all;
	size_t i, n = len;

	/* four independent chains: the multiplies of one overlap the others' */
	for (; n >= 32; p += 32, n -= 32)
		for (i = 0; i < 4; i++) {
			memcpy(&w, p + 8 * i, sizeof(w));
			h[i] = lane(h[i], w);
		}
	all = lane(lane(lane(lane(SYN_FNV1A_INIT, h[0]), h[1]), h[2]), h[3]);
	return lane(syn_fnv1a(all, p, n), (uint64_t)len);
}
