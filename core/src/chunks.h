/*
 * chunks: a large text that changes a little at a time (a view's record),
 * kept as a short index naming content-defined pieces of it, so that
 * writing it again after a small change writes only the pieces that
 * changed, and its digest is taken over those alone.
 *
 * The text is cut after its first line (a header, which changes most) and
 * after each line whose last bytes hash to a boundary (about one line in
 * CHUNK_ODDS), each piece holding at most CHUNK_MAX bytes: an edit changes
 * the piece it falls in, and the cuts elsewhere stay where they were. The
 * index, file @rel under a folder, reads "synapse-chunks 1\n" and then one
 * "<sha256> <length>\n" line per piece, in order; piece <sha256> is the
 * file @rel.d/<sha256>, written before an index names it and removed once
 * the index in place no longer does. A file @rel that does not begin as an
 * index is read whole, as the text itself (a record written before chunks).
 */
#ifndef SYNAPSE_SRC_CHUNKS_H
#define SYNAPSE_SRC_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>

#include "synapse/buf.h"
#include "synapse/hash.h"

/* A text cut into pieces: each one's bytes (in the text it was cut from or read into), length and name. */
struct syn__chunks {
	struct syn__chunk {
		const char *ptr;
		size_t len;
		char sha[SYN_SHA256_HEX_LEN + 1];
		bool fresh; /* not one of the pieces of the text it was cut against: to be written */
	} *c;
	size_t n, cap;
};

/*
 * Cut the text made of the @head_len bytes at @head (whole lines; 0 for
 * none) and then the @len bytes at @text into pieces in @out (emptied
 * first), naming each by its SHA-256: @head is cut apart from @text, so a
 * caller with a header need not copy the two together. A piece whose bytes
 * are those of a piece of @old (as syn__chunks_read() or this function gave
 * them, their bytes still there; NULL for none) takes its name without
 * hashing it again. The pieces point into @head and @text.
 */
int syn__chunks_cut(struct syn__chunks *out, const char *head, size_t head_len, const char *text, size_t len,
		    const struct syn__chunks *old);

/* The digest of the text @c was cut from, in @hex: the SHA-256 of its index. */
int syn__chunks_digest(const struct syn__chunks *c, char hex[SYN_SHA256_HEX_LEN + 1]);

/*
 * Write the text cut into @c by syn__chunks_cut() as the index @rel under
 * the folder open at @dfd: its fresh pieces and those not there yet, then
 * the index, put in place by a rename; then every file of @rel.d the index
 * does not name goes.
 * @durable: each piece, the index and their folders are on disk before
 * the function returns; otherwise the index is written as a cache (a crash
 * may leave it, or a piece, short, which syn__chunks_read() reports).
 */
int syn__chunks_write(int dfd, const char *rel, const struct syn__chunks *c, bool durable);

/*
 * Read the text indexed by @rel under the folder open at @dfd into @text,
 * its pieces (pointing into @text) into @c when it is not NULL (empty for
 * a file that is the text itself). SYN_ENOTFOUND when @rel is absent;
 * SYN_ECORRUPT when the index is damaged or a piece is missing or of
 * another length than the index says (a write in the meantime is waited
 * out: the index is read again a few times first).
 */
int syn__chunks_read(int dfd, const char *rel, struct syn_buf *text, struct syn__chunks *c);

/* Release what @c holds and empty it. */
void syn__chunks_dispose(struct syn__chunks *c);

#endif
