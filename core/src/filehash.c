/*
 * filehash: digests of files outside the store, cached in
 * data/cache/file-hashes by (device, inode, size, mtime in ns), as git's
 * index vouches for a work tree file by its stat data.
 *
 * The file is text: a header line, one line per file
 * "<dev> <ino> <size> <mtime_ns> <sha256>" (decimal numbers), then an
 * "end" line, so a file cut short is noticed; anything unexpected makes the
 * whole cache empty, never a wrong digest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synapse/buf.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"

#include "filehash.h"

#define CACHE_PATH "cache/file-hashes"
#define CACHE_HEADER "synapse-file-hashes 1\n"
#define CACHE_END "end\n"
#define CACHE_MAX ((size_t)1 << 30)

struct entry {
	uint64_t dev, ino, size, mtime_ns;
	char sha[SYN_SHA256_HEX_LEN + 1]; /* "" when the slot is free */
};

struct syn__filehash {
	struct entry *slots;
	size_t cap, count;
	bool dirty;
};

static uint64_t mtime_ns(const struct stat *sb)
{
	return (uint64_t)sb->st_mtim.tv_sec * 1000000000u + (uint64_t)sb->st_mtim.tv_nsec;
}

static size_t slot_index(const struct syn__filehash *c, uint64_t dev, uint64_t ino)
{
	uint64_t k[2] = { dev, ino };

	return (size_t)syn_fnv1a(SYN_FNV1A_INIT, k, sizeof(k)) & (c->cap - 1);
}

/* The slot of (@dev, @ino): the one holding it or the free one it would take. */
static struct entry *slot_of(struct syn__filehash *c, uint64_t dev, uint64_t ino)
{
	size_t i = slot_index(c, dev, ino);

	while (c->slots[i].sha[0] && (c->slots[i].dev != dev || c->slots[i].ino != ino))
		i = (i + 1) & (c->cap - 1);
	return &c->slots[i];
}

static int grow(struct syn__filehash *c)
{
	struct syn__filehash bigger = { NULL, c->cap ? c->cap * 2 : 4096, 0, c->dirty };
	size_t i;

	if ((c->count + 1) * 2 <= c->cap)
		return 0;
	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; i < c->cap; i++)
		if (c->slots[i].sha[0])
			*slot_of(&bigger, c->slots[i].dev, c->slots[i].ino) = c->slots[i];
	bigger.count = c->count;
	free(c->slots);
	*c = bigger;
	return 0;
}

static int add(struct syn__filehash *c, const struct entry *e)
{
	struct entry *slot;
	int rc = grow(c);

	if (rc)
		return rc;
	slot = slot_of(c, e->dev, e->ino);
	if (!slot->sha[0])
		c->count++;
	*slot = *e;
	return 0;
}

/* Parse "<dev> <ino> <size> <mtime_ns> <sha>\n" at *@p (before @end); false when malformed. */
static bool parse_line(const char **p, const char *end, struct entry *e)
{
	uint64_t *nums[4] = { &e->dev, &e->ino, &e->size, &e->mtime_ns };
	const char *s = *p;
	size_t i;

	for (i = 0; i < 4; i++) {
		uint64_t v = 0;
		const char *start = s;

		while (s < end && *s >= '0' && *s <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return false;
			v = v * 10 + (uint64_t)(*s++ - '0');
		}
		if (s == start || s >= end || *s++ != ' ')
			return false;
		*nums[i] = v;
	}
	if (end - s < SYN_SHA256_HEX_LEN + 1 || s[SYN_SHA256_HEX_LEN] != '\n')
		return false;
	memcpy(e->sha, s, SYN_SHA256_HEX_LEN);
	e->sha[SYN_SHA256_HEX_LEN] = '\0';
	if (!syn_name_is_sha256(e->sha))
		return false;
	*p = s + SYN_SHA256_HEX_LEN + 1;
	return true;
}

static void clear(struct syn__filehash *c)
{
	if (c->slots)
		memset(c->slots, 0, c->cap * sizeof(*c->slots));
	c->count = 0;
}

int syn__filehash_load(struct syn_store *st, struct syn__filehash **out)
{
	struct syn_buf text = SYN_BUF_INIT;
	struct syn__filehash *c;
	const char *p, *end;
	int fd = syn_store_data_fd(st), rc = 0;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (fd < 0 || syn_fs_read(&text, fd, CACHE_PATH, CACHE_MAX)) {
		/* no cache yet, or one that cannot be read: start empty */
		syn_error_clear();
		goto done;
	}
	p = text.ptr;
	end = text.ptr + text.len;
	if (text.len < strlen(CACHE_HEADER) + strlen(CACHE_END) || memcmp(p, CACHE_HEADER, strlen(CACHE_HEADER)) ||
	    memcmp(end - strlen(CACHE_END), CACHE_END, strlen(CACHE_END)))
		goto damaged;
	p += strlen(CACHE_HEADER);
	end -= strlen(CACHE_END);
	while (p < end) {
		struct entry e;

		if (!parse_line(&p, end, &e))
			goto damaged;
		rc = add(c, &e);
		if (rc)
			goto done;
	}
	goto done;
damaged:
	clear(c);
	c->dirty = true;
done:
	syn_buf_dispose(&text);
	if (rc) {
		syn__filehash_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

bool syn__filehash_get(const struct syn__filehash *c, const struct stat *sb, char sha[SYN_SHA256_HEX_LEN + 1])
{
	const struct entry *e;

	if (!c->count)
		return false;
	e = slot_of((struct syn__filehash *)c, (uint64_t)sb->st_dev, (uint64_t)sb->st_ino);
	if (!e->sha[0] || e->size != (uint64_t)sb->st_size || e->mtime_ns != mtime_ns(sb))
		return false;
	memcpy(sha, e->sha, SYN_SHA256_HEX_LEN + 1);
	return true;
}

int syn__filehash_put(struct syn__filehash *c, const struct stat *sb, const char *sha)
{
	struct entry e = { (uint64_t)sb->st_dev, (uint64_t)sb->st_ino, (uint64_t)sb->st_size, mtime_ns(sb), "" };
	char known[SYN_SHA256_HEX_LEN + 1];
	int rc;

	if (!syn_fs_settled(sb) || !syn_name_is_sha256(sha))
		return 0;
	if (syn__filehash_get(c, sb, known) && !strcmp(known, sha))
		return 0;
	memcpy(e.sha, sha, sizeof(e.sha));
	rc = add(c, &e);
	if (!rc)
		c->dirty = true;
	return rc;
}

int syn__filehash_save(struct syn_store *st, struct syn__filehash *c)
{
	struct syn_buf text = SYN_BUF_INIT;
	int fd = syn_store_data_fd(st), rc;
	size_t i;

	if (!c->dirty)
		return 0;
	if (fd < 0)
		return fd;
	rc = syn_buf_grow(&text, strlen(CACHE_HEADER) + c->count * 140 + strlen(CACHE_END));
	if (!rc)
		rc = syn_buf_puts(&text, CACHE_HEADER);
	for (i = 0; !rc && i < c->cap; i++) {
		const struct entry *e = &c->slots[i];

		if (e->sha[0])
			rc = syn_buf_printf(&text, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", e->dev, e->ino,
					    e->size, e->mtime_ns, e->sha);
	}
	if (!rc)
		rc = syn_buf_puts(&text, CACHE_END);
	if (!rc)
		rc = syn_fs_write_cache(fd, CACHE_PATH, text.ptr, text.len);
	if (!rc)
		c->dirty = false;
	syn_buf_dispose(&text);
	return rc;
}

void syn__filehash_free(struct syn__filehash *c)
{
	if (!c)
		return;
	free(c->slots);
	free(c);
}
