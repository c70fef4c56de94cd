/*
 * chunks: a text kept as content-defined pieces named in an index (see
 * chunks.h), so that a small change to it writes little.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synapse/errors.h"
#include "synapse/fs.h"

#include "chunks.h"

#define CHUNKS_MAGIC "synapse-chunks 1\n"
#define CHUNK_ODDS 512u          /* a line ends a piece once in this many, on average: pieces of ~50 KiB */
#define CHUNK_MAX (512u * 1024u) /* a piece ends at the first line that takes it past this */
#define READ_TRIES 4             /* reads of an index whose pieces a writer replaced meanwhile */

void syn__chunks_dispose(struct syn__chunks *c)
{
	free(c->c);
	memset(c, 0, sizeof(*c));
}

/* Up to 8 bytes of the @n at @p, as a number. */
static uint64_t word(const char *p, size_t n)
{
	uint64_t w = 0;

	memcpy(&w, p, n < sizeof(w) ? n : sizeof(w));
	return w;
}

/* Whether a piece ends after the line of @len bytes at @line (without its newline): a hash of its end and middle. */
static bool ends_piece(const char *line, size_t len)
{
	size_t tail = len < 32 ? len : 32, i;
	const char *t = line + len - tail;
	uint64_t h = word(line + len / 2, len - len / 2);

	for (i = 0; i < tail; i += 8)
		h = (h ^ word(t + i, tail - i)) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 31;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return (h & (CHUNK_ODDS - 1)) == 0;
}

static int add(struct syn__chunks *c, const char *ptr, size_t len)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct syn__chunk *more = realloc(c->c, cap * sizeof(*more));

		if (!more)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		c->c = more;
		c->cap = cap;
	}
	c->c[c->n] = (struct syn__chunk){ .ptr = ptr, .len = len };
	c->n++;
	return 0;
}

/* Name piece @k of @c: an identical piece of @old keeps its name, any other is hashed. */
static int name_piece(struct syn__chunks *c, size_t k, const struct syn__chunks *old)
{
	struct syn__chunk *p = &c->c[k];
	size_t i;

	for (i = 0; old && i < old->n; i++)
		if (old->c[i].len == p->len && old->c[i].ptr && !memcmp(old->c[i].ptr, p->ptr, p->len)) {
			memcpy(p->sha, old->c[i].sha, sizeof(p->sha));
			return 0;
		}
	p->fresh = true;
	return syn_sha256_mem(p->sha, p->ptr, p->len);
}

/*
 * Whether the piece @o of another text is the piece the cut takes at @at
 * of the @len bytes at @text (@at not the start of a first line cut on its
 * own): its bytes are there, and the cut ends after them as it did there.
 * Within them no line ended a piece there, nor does one here; what ended it
 * (its last line's hash or its length) ends it here too, unless the text it
 * was cut from ended there.
 */
static bool same_piece(const struct syn__chunk *o, const char *text, size_t at, size_t len)
{
	const char *last;
	size_t n;

	if (!o->ptr || !o->len || o->len > len - at || memcmp(o->ptr, text + at, o->len))
		return false; /* (an empty piece is no piece: a damaged index may name one) */
	if (at + o->len == len || o->len >= CHUNK_MAX)
		return true;
	if (o->ptr[o->len - 1] != '\n')
		return false; /* its last line goes on here */
	n = o->len - 1;
	last = n ? memrchr(o->ptr, '\n', n) : NULL;
	last = last ? last + 1 : o->ptr;
	return ends_piece(last, (size_t)(o->ptr + n - last));
}

/*
 * Cut the @len bytes at @text into pieces added to @c, the first ending
 * after its first line when @first. Where the text has the bytes of a piece
 * of @old at a cut, that piece is taken whole, named as it was, and the
 * lines in it are not looked at one by one: an edit costs the pieces it
 * touches, not the text.
 */
static int cut(struct syn__chunks *c, const char *text, size_t len, bool first, const struct syn__chunks *old)
{
	size_t at = 0, start = 0, guess = 0;
	int rc = 0;

	while (!rc && at < len) {
		const char *nl;
		size_t end;

		if (at == start && old && !(first && start == 0)) {
			/* the piece after the one taken last, else any of @old that fits */
			if (guess >= old->n || !same_piece(&old->c[guess], text, at, len))
				for (guess = 0; guess < old->n && !same_piece(&old->c[guess], text, at, len); guess++)
					;
			if (guess < old->n) {
				rc = add(c, text + at, old->c[guess].len);
				if (!rc)
					memcpy(c->c[c->n - 1].sha, old->c[guess].sha, sizeof(c->c[c->n - 1].sha));
				at = start = at + old->c[guess].len;
				guess++;
				continue;
			}
		}
		nl = memchr(text + at, '\n', len - at);
		end = nl ? (size_t)(nl - text) + 1 : len;
		if ((first && start == 0) || end == len || end - start >= CHUNK_MAX ||
		    ends_piece(text + at, end - at - (nl ? 1 : 0))) {
			rc = add(c, text + start, end - start);
			start = end;
		}
		at = end;
	}
	return rc;
}

int syn__chunks_cut(struct syn__chunks *out, const char *head, size_t head_len, const char *text, size_t len,
		    const struct syn__chunks *old)
{
	size_t k;
	int rc;

	out->n = 0;
	rc = cut(out, head, head_len, true, old);
	if (!rc)
		rc = cut(out, text, len, head_len == 0, old);
	for (k = 0; !rc && k < out->n; k++)
		if (!out->c[k].sha[0])
			rc = name_piece(out, k, old);
	return rc;
}

/* The index of @c in @out. */
static int index_text(const struct syn__chunks *c, struct syn_buf *out)
{
	size_t i;
	int rc;

	syn_buf_clear(out);
	rc = syn_buf_grow(out, sizeof(CHUNKS_MAGIC) + c->n * (SYN_SHA256_HEX_LEN + 22));
	if (!rc)
		rc = syn_buf_puts(out, CHUNKS_MAGIC);
	for (i = 0; !rc && i < c->n; i++)
		rc = syn_buf_printf(out, "%s %zu\n", c->c[i].sha, c->c[i].len);
	return rc;
}

int syn__chunks_digest(const struct syn__chunks *c, char hex[SYN_SHA256_HEX_LEN + 1])
{
	struct syn_buf index = SYN_BUF_INIT;
	int rc = index_text(c, &index);

	if (!rc)
		rc = syn_sha256_mem(hex, index.ptr, index.len);
	syn_buf_dispose(&index);
	return rc;
}

/* Whether @c names piece @name. */
static bool names(const struct syn__chunks *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->c[i].sha, name))
			return true;
	return false;
}

/* Remove every file of the pieces folder open at @pfd that @c does not name (a stray one too). */
static void prune(int pfd, const struct syn__chunks *c)
{
	int fd = dup(pfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !names(c, e->d_name))
			unlinkat(pfd, e->d_name, 0);
	closedir(d);
}

/* Whether piece @k is in the folder open at @pfd, whole (as far as its length tells). */
static bool have_piece(int pfd, const struct syn__chunk *k)
{
	struct stat sb;

	return fstatat(pfd, k->sha, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
	       (uint64_t)sb.st_size == k->len;
}

/* Make the pieces of @c marked in @wrote (in the folder @dir, open at @pfd) durable, and the folder. */
static int sync_pieces(int pfd, const struct syn__chunks *c, const bool *wrote, const char *dir)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < c->n; i++) {
		int fd;

		if (!wrote[i])
			continue;
		fd = openat(pfd, c->c[i].sha, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s/%s'", dir, c->c[i].sha);
		rc = syn_fs_fsync(fd, c->c[i].sha);
		close(fd);
	}
	return rc ? rc : syn_fs_fsync(pfd, dir);
}

int syn__chunks_write(int dfd, const char *rel, const struct syn__chunks *c, bool durable)
{
	struct syn_buf dir = SYN_BUF_INIT, index = SYN_BUF_INIT;
	bool *wrote = calloc(c->n + 1, sizeof(*wrote));
	int pfd = -1, rc = wrote ? syn_buf_printf(&dir, "%s.d", rel) : syn_error_set(SYN_ENOMEM, "out of memory");
	size_t i;

	if (!rc)
		rc = syn_fs_mkdirs(dfd, dir.ptr);
	if (!rc && (pfd = openat(dfd, dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", dir.ptr);
	/* a piece of the text before is there already, unless this is a new folder */
	for (i = 0; !rc && i < c->n; i++)
		if ((wrote[i] = c->c[i].fresh || !have_piece(pfd, &c->c[i])))
			rc = syn_fs_write_cache(pfd, c->c[i].sha, c->c[i].ptr, c->c[i].len);
	if (!rc && durable)
		rc = sync_pieces(pfd, c, wrote, dir.ptr);
	if (!rc)
		rc = index_text(c, &index);
	if (!rc)
		rc = durable ? syn_fs_write_atomic(dfd, rel, index.ptr, index.len, 0644)
			     : syn_fs_write_cache(dfd, rel, index.ptr, index.len);
	if (!rc)
		prune(pfd, c);
	if (pfd >= 0)
		close(pfd);
	free(wrote);
	syn_buf_dispose(&dir);
	syn_buf_dispose(&index);
	return rc;
}

/* Parse the index @index (past its magic) into @c, its pieces' bytes not read yet; their total length in *@total. */
static int parse_index(const struct syn_buf *index, const char *rel, struct syn__chunks *c, size_t *total)
{
	const char *p = index->ptr + strlen(CHUNKS_MAGIC), *end = index->ptr + index->len;
	size_t at = 0;
	int rc = 0;

	c->n = 0;
	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = 0, i;
		const char *q;

		if (!nl || nl - p < SYN_SHA256_HEX_LEN + 2 || p[SYN_SHA256_HEX_LEN] != ' ')
			break;
		for (i = 0; i < SYN_SHA256_HEX_LEN && p[i] && strchr("0123456789abcdef", p[i]); i++)
			;
		for (q = p + SYN_SHA256_HEX_LEN + 1; i == SYN_SHA256_HEX_LEN && q < nl && *q >= '0' && *q <= '9'; q++) {
			if (len > (SIZE_MAX - 9) / 10)
				break;
			len = len * 10 + (size_t)(*q - '0');
		}
		if (i != SYN_SHA256_HEX_LEN || q != nl || q == p + SYN_SHA256_HEX_LEN + 1 || len > SIZE_MAX / 2 - at)
			break;
		rc = add(c, NULL, len);
		if (!rc) {
			memcpy(c->c[c->n - 1].sha, p, SYN_SHA256_HEX_LEN);
			c->c[c->n - 1].sha[SYN_SHA256_HEX_LEN] = '\0';
		}
		at += len;
		p = nl + 1;
	}
	if (!rc && p != end)
		rc = syn_error_set(SYN_ECORRUPT, "'%s' is not a whole index of pieces", rel);
	*total = at;
	return rc;
}

/* Read piece @k of @c, file @dir/<its name> under @dfd, onto the end of @text. */
static int read_piece(int dfd, struct syn_buf *dir, size_t dlen, const struct syn__chunk *k, struct syn_buf *text)
{
	struct stat sb;
	size_t got = 0;
	int fd, rc = 0;

	syn_buf_truncate(dir, dlen);
	rc = syn_buf_printf(dir, "/%s", k->sha);
	if (rc)
		return rc;
	fd = openat(dfd, dir->ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? syn_error_set(SYN_ENOTFOUND, "piece '%s' is gone", dir->ptr)
				       : syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", dir->ptr);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != k->len)
		rc = syn_error_set(SYN_ECORRUPT, "piece '%s' is not the %zu bytes its index says", dir->ptr, k->len);
	while (!rc && got < k->len) {
		ssize_t n = read(fd, text->ptr + text->len + got, k->len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = n < 0 ? syn_error_set_errno(SYN_EIO, errno, "cannot read '%s'", dir->ptr)
				   : syn_error_set(SYN_ECORRUPT, "piece '%s' is short", dir->ptr);
		else
			got += (size_t)n;
	}
	close(fd);
	if (!rc) {
		text->len += k->len;
		text->ptr[text->len] = '\0';
	}
	return rc;
}

/* One read of the text indexed by @rel; SYN_ENOTFOUND for a piece gone (a writer replaced it) is 1. */
static int read_once(int dfd, const char *rel, struct syn_buf *text, struct syn__chunks *c)
{
	struct syn_buf index = SYN_BUF_INIT, dir = SYN_BUF_INIT;
	size_t i, total = 0, dlen;
	int rc = syn_fs_read(&index, dfd, rel, SIZE_MAX);

	c->n = 0;
	syn_buf_clear(text);
	if (!rc && (index.len < strlen(CHUNKS_MAGIC) || memcmp(index.ptr, CHUNKS_MAGIC, strlen(CHUNKS_MAGIC)))) {
		/* the text itself */
		struct syn_buf swap = *text;

		*text = index;
		index = swap;
		goto out;
	}
	if (!rc)
		rc = parse_index(&index, rel, c, &total);
	if (!rc)
		rc = syn_buf_grow(text, total + 1);
	if (!rc)
		rc = syn_buf_printf(&dir, "%s.d", rel);
	for (i = 0, dlen = dir.len; !rc && i < c->n; i++)
		rc = read_piece(dfd, &dir, dlen, &c->c[i], text);
	/* the text in place: each piece's bytes */
	for (i = 0, total = 0; !rc && i < c->n; total += c->c[i].len, i++)
		c->c[i].ptr = text->ptr + total;
	if (rc == SYN_ENOTFOUND && !syn_fs_exists(dfd, rel))
		rc = syn_error_set(SYN_ENOTFOUND, "'%s' does not exist", rel);
	else if (rc == SYN_ENOTFOUND)
		rc = 1;
out:
	if (rc)
		c->n = 0;
	syn_buf_dispose(&index);
	syn_buf_dispose(&dir);
	return rc;
}

int syn__chunks_read(int dfd, const char *rel, struct syn_buf *text, struct syn__chunks *c)
{
	struct syn__chunks own = { 0 };
	int tries, rc = 1;

	for (tries = 0; rc == 1 && tries < READ_TRIES; tries++) {
		syn_error_clear();
		rc = read_once(dfd, rel, text, c ? c : &own);
	}
	if (rc == 1)
		rc = syn_error_set(SYN_ECORRUPT, "a piece of '%s' is missing", rel);
	if (rc)
		syn_buf_clear(text);
	syn__chunks_dispose(&own);
	return rc;
}
