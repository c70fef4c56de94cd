/*
 * The blob store over the store's chain of backends. Bytes are hashed while
 * they are written to a stage and committed only after verification, so a
 * blob's name is always the hash of its bytes. Lookups ask each backend in
 * order and take "not found" to mean "ask the next one"; writes, removals,
 * listings, manifests and quarantine are the primary's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/hash.h"
#include "synapse/names.h"

#include "blob.h"
#include "store.h"

#define COPY_CHUNK (1u << 20)

struct syn_blob_writer {
	struct syn_sink sink; /* first: the sink pointer is the writer pointer */
	struct syn_backend *be;
	unsigned int caps;
	/* on the primary when it stages, else an anonymous file handed to put() */
	struct syn_backend_stage stage;
	struct syn_sha256 *hash;
	char expected[SYN_SHA256_HEX_LEN + 1];
	uint64_t written;
	void (*progress)(uint64_t done, uint64_t total, void *payload);
	void *payload;
};

/*
 * Where the bytes go before commit: the primary's own stage when it has
 * one; otherwise an unnamed file in data/tmp/ (a crash leaves nothing
 * behind), whose verified bytes put() copies.
 */
static int stage_open(struct syn_blob_writer *w, struct syn_store *st, const char *sha)
{
	int fd = syn_store_data_fd(st), rc;

	if (w->caps & SYN_BACKEND_CAP_STAGE)
		return w->be->stage_open(w->be, sha, &w->stage);
	if (!(w->caps & SYN_BACKEND_CAP_PUT))
		return syn_error_set(SYN_EUNSUPPORTED, "the primary blob backend can neither stage nor store blobs");
	if (sha && (rc = w->be->exists(w->be, sha)) != 0)
		return rc < 0 ? rc : syn_error_set(SYN_EEXISTS, "blob %s is already stored", sha);
	if (fd < 0)
		return fd;
	rc = syn_fs_mkdirs(fd, "tmp");
	if (rc)
		return rc;
	w->stage.fd = openat(fd, "tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w->stage.fd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot create a temporary file in '%s/tmp'",
					   syn_store_data_root(st));
	w->stage.existing = 0;
	return 0;
}

/* Close the stage; with @keep a resumable one keeps its bytes. */
static void stage_abort(struct syn_blob_writer *w, bool keep)
{
	if (w->caps & SYN_BACKEND_CAP_STAGE) {
		w->be->stage_abort(w->be, &w->stage, keep);
		return;
	}
	close(w->stage.fd);
	w->stage.fd = -1;
}

/* Publish the verified bytes as blob @sha, closing the stage. */
static int stage_commit(struct syn_blob_writer *w, const char *sha)
{
	int rc;

	if (w->caps & SYN_BACKEND_CAP_STAGE)
		return w->be->stage_commit(w->be, &w->stage, sha);
	if (lseek(w->stage.fd, 0, SEEK_SET) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot rewind blob %s", sha);
	else
		rc = w->be->put(w->be, sha, w->stage.fd);
	stage_abort(w, false);
	return rc;
}

/* Hash the @n bytes an earlier attempt left in the stage, leaving the fd at their end. */
static int hash_existing(struct syn_blob_writer *w)
{
	uint64_t left = w->stage.existing;
	char *chunk;
	int rc = 0;

	if (!left)
		return 0;
	chunk = malloc(COPY_CHUNK);
	if (!chunk)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (lseek(w->stage.fd, 0, SEEK_SET) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot rewind a partial blob");
	while (!rc && left) {
		ssize_t n = read(w->stage.fd, chunk, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? syn_error_set_errno(SYN_EIO, errno, "cannot read a partial blob")
				   : syn_error_set(SYN_EIO, "a partial blob shrank while being read");
			break;
		}
		rc = syn_sha256_update(w->hash, chunk, (size_t)n);
		left -= (uint64_t)n;
	}
	free(chunk);
	if (!rc)
		w->written = w->stage.existing;
	return rc;
}

static int sink_write(struct syn_sink *sink, const void *data, size_t len)
{
	return syn_blob_writer_write((struct syn_blob_writer *)sink, data, len);
}

static int sink_restart(struct syn_sink *sink)
{
	return syn_blob_writer_restart((struct syn_blob_writer *)sink);
}

static void sink_progress(struct syn_sink *sink, uint64_t done, uint64_t total)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;

	if (w->progress)
		w->progress(done, total, w->payload);
}

int syn_blob_writer_open(struct syn_blob_writer **out, struct syn_store *st, const char *expected_sha)
{
	struct syn_blob_writer *w;
	int rc;

	*out = NULL;
	if (expected_sha && (rc = syn_name_check_sha256(expected_sha)))
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	w->stage.fd = -1;
	w->sink.version = SYN_SOURCE_VERSION;
	w->sink.write = sink_write;
	w->sink.restart = sink_restart;
	w->sink.progress = sink_progress;
	if (expected_sha)
		memcpy(w->expected, expected_sha, sizeof(w->expected));
	rc = syn_store_backend_at(st, 0, &w->be, &w->caps);
	if (!rc)
		rc = syn_sha256_new(&w->hash);
	if (rc)
		goto fail;
	rc = stage_open(w, st, expected_sha);
	if (rc)
		goto fail;
	rc = hash_existing(w);
	if (rc) {
		/* unreadable leftovers are worth nothing: start over */
		syn_error_clear();
		rc = syn_blob_writer_restart(w);
	}
	if (rc) {
		stage_abort(w, false);
		goto fail;
	}
	w->sink.offset = w->written;
	*out = w;
	return 0;
fail:
	syn_sha256_free(w->hash);
	free(w);
	return rc;
}

uint64_t syn_blob_writer_offset(const struct syn_blob_writer *w)
{
	return w->written;
}

int syn_blob_writer_write(struct syn_blob_writer *w, const void *data, size_t len)
{
	int rc = syn_sha256_update(w->hash, data, len);

	if (!rc)
		rc = syn_fs_write_all(w->stage.fd, data, len, "a blob being written");
	if (!rc) {
		w->written += len;
		w->sink.offset = w->written;
	}
	return rc;
}

int syn_blob_writer_restart(struct syn_blob_writer *w)
{
	int rc;

	if ((w->caps & SYN_BACKEND_CAP_STAGE) && w->be->stage_truncate)
		rc = w->be->stage_truncate(w->be, &w->stage);
	else if (ftruncate(w->stage.fd, 0) < 0 || lseek(w->stage.fd, 0, SEEK_SET) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot truncate a partial blob");
	else
		rc = 0;
	if (!rc)
		rc = syn_sha256_reset(w->hash);
	if (!rc) {
		w->written = 0;
		w->sink.offset = 0;
	}
	return rc;
}

struct syn_sink *syn_blob_writer_sink(struct syn_blob_writer *w,
	void (*progress)(uint64_t done, uint64_t total, void *payload), void *payload)
{
	w->progress = progress;
	w->payload = payload;
	return &w->sink;
}

static void writer_free(struct syn_blob_writer *w)
{
	syn_sha256_free(w->hash);
	free(w);
}

int syn_blob_writer_commit(struct syn_blob_writer *w, char sha_out[SYN_SHA256_HEX_LEN + 1])
{
	char actual[SYN_SHA256_HEX_LEN + 1];
	int rc;

	rc = syn_sha256_final(w->hash, actual);
	if (rc) {
		stage_abort(w, true);
		goto out;
	}
	if (w->expected[0] && strcmp(actual, w->expected)) {
		stage_abort(w, false);
		rc = syn_error_set(SYN_EMISMATCH, "content does not match its expected SHA-256: expected %s, got %s "
				   "(%llu bytes); nothing was stored", w->expected, actual,
				   (unsigned long long)w->written);
		goto out;
	}
	rc = stage_commit(w, actual);
	if (!rc && sha_out)
		memcpy(sha_out, actual, sizeof(actual));
out:
	writer_free(w);
	return rc;
}

void syn_blob_writer_abort(struct syn_blob_writer *w, bool keep_partial)
{
	if (!w)
		return;
	stage_abort(w, keep_partial && w->expected[0]);
	writer_free(w);
}

/*
 * Inserting a local file: the bytes are copied into the stage in large
 * chunks (copy_file_range, so the kernel copies without a trip through user
 * memory; read/write where that is unsupported) and writeback of each chunk
 * starts at once, while a second thread hashes the chunk already staged,
 * reading it back from the stage itself (pread: cheaper than faulting in a
 * mapping page by page). The digest therefore covers exactly
 * the bytes stored, and an insert costs about max(copy + flush, hash)
 * instead of their sum.
 */
#define INSERT_CHUNK (64u << 20)

struct insert_pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t off;
	size_t len;
	bool busy;
	bool quit;
	int fd;
	struct syn_sha256 *hash;
	char *buf; /* the hasher's read buffer */
	int rc;
	char msg[512];
};

/* Hash [off, off+len) of the stage, reading it back from the page cache. */
static int hash_region(struct insert_pipe *p, uint64_t off, size_t len)
{
	while (len > 0) {
		ssize_t n = pread(p->fd, p->buf, len < COPY_CHUNK ? len : COPY_CHUNK, (off_t)off);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? syn_error_set_errno(SYN_EIO, errno, "cannot read back a staged blob")
				     : syn_error_set(SYN_EIO, "a staged blob shrank while being hashed");
		rc = syn_sha256_update(p->hash, p->buf, (size_t)n);
		if (rc)
			return rc;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static void *insert_hasher(void *arg)
{
	struct insert_pipe *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		uint64_t off;
		size_t len;
		int rc;

		while (!p->busy && !p->quit)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->busy)
			break;
		off = p->off;
		len = p->len;
		pthread_mutex_unlock(&p->mu);
		rc = p->rc ? 0 : hash_region(p, off, len);
		pthread_mutex_lock(&p->mu);
		if (rc && !p->rc) {
			p->rc = rc;
			snprintf(p->msg, sizeof(p->msg), "%s", syn_error_last());
		}
		p->busy = false;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Wait until the hasher is idle; its error, if any. */
static int pipe_idle(struct insert_pipe *p)
{
	int rc;

	pthread_mutex_lock(&p->mu);
	while (p->busy)
		pthread_cond_wait(&p->cv, &p->mu);
	rc = p->rc;
	pthread_mutex_unlock(&p->mu);
	return rc ? syn_error_set(rc, "%s", p->msg) : 0;
}

/* Copy up to INSERT_CHUNK bytes from @src to @dst; *@copied gets the count (0 at EOF). */
static int copy_chunk(int src, int dst, bool *kernel_copy, char *buf, size_t *copied)
{
	size_t done = 0;

	while (done < INSERT_CHUNK) {
		ssize_t n;
		int rc;

		if (*kernel_copy) {
			n = copy_file_range(src, NULL, dst, NULL, INSERT_CHUNK - done, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
				      errno == EBADF) && done == 0) {
				*kernel_copy = false; /* a pipe, or a filesystem pair the kernel cannot copy */
				continue;
			}
		} else {
			n = read(src, buf, COPY_CHUNK < INSERT_CHUNK - done ? COPY_CHUNK : INSERT_CHUNK - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0 && (rc = syn_fs_write_all(dst, buf, (size_t)n, "a blob being written")))
				return rc;
		}
		if (n < 0)
			return syn_error_set_errno(SYN_EIO, errno, "cannot copy the file to insert");
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*copied = done;
	return 0;
}

static int insert_pipelined(struct syn_blob_writer *w, int fd)
{
	struct insert_pipe p = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
				 .fd = w->stage.fd, .hash = w->hash };
	bool kernel_copy = true;
	pthread_t thread;
	uint64_t off = 0;
	char *buf;
	int rc = 0;

	buf = malloc(COPY_CHUNK);
	p.buf = malloc(COPY_CHUNK);
	if (!buf || !p.buf) {
		free(buf);
		free(p.buf);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (pthread_create(&thread, NULL, insert_hasher, &p)) {
		free(buf);
		free(p.buf);
		return syn_error_set(SYN_ENOMEM, "cannot start a hashing thread");
	}
	for (;;) {
		size_t n = 0;

		rc = copy_chunk(fd, w->stage.fd, &kernel_copy, buf, &n);
		if (rc || n == 0)
			break;
		if (syn_fs_fsync_enabled()) /* start writeback now, so the final fsync is short */
			sync_file_range(w->stage.fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
		rc = pipe_idle(&p);
		if (rc)
			break;
		pthread_mutex_lock(&p.mu);
		p.off = off;
		p.len = n;
		p.busy = true;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		off += n;
	}
	if (!rc)
		rc = pipe_idle(&p);
	else
		pipe_idle(&p);
	pthread_mutex_lock(&p.mu);
	p.quit = true;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	pthread_join(thread, NULL);
	free(buf);
	free(p.buf);
	if (!rc)
		w->written = off;
	return rc;
}

int syn__blob_writer_fill(struct syn_blob_writer *w, int fd)
{
	int rc = syn_blob_writer_offset(w) ? syn_blob_writer_restart(w) : 0;

	if (rc)
		return rc;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return insert_pipelined(w, fd);
}

int syn_blob_insert_fd(struct syn_store *st, int fd, const char *expected_sha, char sha_out[SYN_SHA256_HEX_LEN + 1])
{
	struct syn_blob_writer *w;
	int rc;

	rc = syn_blob_writer_open(&w, st, expected_sha);
	if (rc == SYN_EEXISTS) {
		syn_error_clear();
		if (sha_out)
			memcpy(sha_out, expected_sha, SYN_SHA256_HEX_LEN + 1);
		return 0;
	}
	if (rc)
		return rc;
	/* leftovers of an interrupted download are not known to match this file */
	if (syn_blob_writer_offset(w) && (rc = syn_blob_writer_restart(w))) {
		syn_blob_writer_abort(w, true);
		return rc;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = insert_pipelined(w, fd);
	if (rc) {
		syn_blob_writer_abort(w, false);
		return rc;
	}
	return syn_blob_writer_commit(w, sha_out);
}

int syn_blob_insert_file(struct syn_store *st, const char *path, const char *expected_sha, char sha_out[SYN_SHA256_HEX_LEN + 1])
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return syn_error_set(SYN_ENOTFOUND, "'%s' does not exist", path);
		return syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", path);
	}
	rc = syn_blob_insert_fd(st, fd, expected_sha, sha_out);
	if (rc)
		syn_error_prefix("cannot insert '%s'", path);
	close(fd);
	return rc;
}

/*
 * Adopting a file: a reflink clone (FICLONE) shares the file's extents with
 * the stage, so the store gets its own copy-on-write snapshot of the bytes
 * without copying them, and the digest is computed by reading the stage
 * back: it describes exactly the bytes stored, whatever the original does
 * afterwards. Where the filesystem cannot clone, the bytes are copied and
 * hashed as syn_blob_insert_fd() does.
 */
static int clone_into_stage(struct syn_blob_writer *w, int fd, bool *cloned)
{
	struct insert_pipe p = { .fd = w->stage.fd, .hash = w->hash };
	struct stat sb;
	int rc;

	*cloned = false;
	if (ioctl(w->stage.fd, FICLONE, fd) < 0)
		return insert_pipelined(w, fd);
	*cloned = true;
	if (fstat(w->stage.fd, &sb) < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot read back a staged blob");
	p.buf = malloc(COPY_CHUNK);
	if (!p.buf)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	posix_fadvise(w->stage.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = hash_region(&p, 0, (size_t)sb.st_size);
	free(p.buf);
	if (!rc)
		w->written = (uint64_t)sb.st_size;
	return rc;
}

int syn_blob_adopt_fd(struct syn_store *st, int fd, const char *expected_sha,
		      int (*check)(const char *sha, void *payload), void *payload, struct syn_blob_adopted *out)
{
	char actual[SYN_SHA256_HEX_LEN + 1];
	struct syn_blob_writer *w;
	int rc, there;

	memset(out, 0, sizeof(*out));
	rc = syn_blob_writer_open(&w, st, expected_sha);
	if (rc == SYN_EEXISTS) {
		syn_error_clear();
		memcpy(out->sha, expected_sha, sizeof(out->sha));
		return check ? check(out->sha, payload) : 0;
	}
	if (rc)
		return rc;
	/* leftovers of an interrupted download are not known to match this file */
	if (syn_blob_writer_offset(w) && (rc = syn_blob_writer_restart(w)))
		goto out_abort;
	if (lseek(fd, 0, SEEK_SET) < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot rewind the file to adopt");
		goto out_abort;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = clone_into_stage(w, fd, &out->cloned);
	if (!rc)
		rc = syn_sha256_final(w->hash, actual);
	if (rc)
		goto out_abort;
	if (expected_sha && strcmp(actual, expected_sha)) {
		rc = syn_error_set(SYN_EMISMATCH, "content does not match its expected SHA-256: expected %s, got %s; "
				   "nothing was stored", expected_sha, actual);
		goto out_abort;
	}
	memcpy(out->sha, actual, sizeof(out->sha));
	out->size = w->written;
	if (check && (rc = check(actual, payload)))
		goto out_abort;
	there = w->be->exists(w->be, actual);
	if (there < 0) {
		rc = there;
		goto out_abort;
	}
	if (there) {
		/* stored already: the copy just made is not needed */
		stage_abort(w, false);
		writer_free(w);
		return 0;
	}
	rc = stage_commit(w, actual);
	writer_free(w);
	out->created = !rc;
	return rc;
out_abort:
	stage_abort(w, false);
	writer_free(w);
	return rc;
}

int syn_blob_link_fd(struct syn_store *st, int fd, const char *sha)
{
	struct syn_backend *be;
	unsigned int caps;
	int rc = syn_name_check_sha256(sha);

	if (!rc)
		rc = syn_store_backend_at(st, 0, &be, &caps);
	if (!rc && !(caps & SYN_BACKEND_CAP_LINK))
		rc = syn_error_set(SYN_EUNSUPPORTED, "the primary blob backend cannot hard-link files");
	return rc ? rc : be->link(be, sha, fd);
}

/*
 * One question to one backend: 0 when it has the answer, SYN_ENOTFOUND when
 * the blob is not there (ask the next one), another error otherwise.
 */
typedef int (*ask_fn)(struct syn_backend *be, unsigned int caps, const char *sha, void *out);

/* Ask each backend of the chain in turn, until one has the blob; its index in *@where (may be NULL). */
static int chain_ask(struct syn_store *st, const char *sha, ask_fn ask, void *out, size_t *where)
{
	size_t i, n = 0;
	int rc = syn_name_check_sha256(sha);

	if (!rc)
		rc = syn_store_backend_count(st, &n);
	for (i = 0; !rc && i < n; i++) {
		struct syn_backend *be;
		unsigned int caps;

		/* a configured backend we now need but cannot use is an error, not a miss */
		rc = syn_store_backend_at(st, i, &be, &caps);
		if (rc)
			break;
		rc = ask(be, caps, sha, out);
		if (!rc && where)
			*where = i;
		if (rc != SYN_ENOTFOUND)
			return rc;
		syn_error_clear();
		rc = 0;
	}
	return rc ? rc : syn_error_set(SYN_ENOTFOUND, "blob %s is not stored", sha);
}

static int ask_exists(struct syn_backend *be, unsigned int caps, const char *sha, void *out)
{
	int rc = be->exists(be, sha);

	(void)caps;
	(void)out;
	return rc == 1 ? 0 : rc == 0 ? SYN_ENOTFOUND : rc;
}

static int ask_size(struct syn_backend *be, unsigned int caps, const char *sha, void *out)
{
	(void)caps;
	return be->size(be, sha, out);
}

static int ask_open(struct syn_backend *be, unsigned int caps, const char *sha, void *out)
{
	(void)caps;
	return be->open(be, sha, out);
}

static int ask_meta(struct syn_backend *be, unsigned int caps, const char *sha, void *out)
{
	return caps & SYN_BACKEND_CAP_META ? be->meta_read(be, sha, out) : SYN_ENOTFOUND;
}

/*
 * What syn_blob_exists() found while the store is held (syn__store_hold()):
 * an open-addressed table of SHA-256s, emptied when a new hold starts.
 */
struct presence {
	unsigned held;
	size_t cap, count;
	struct presence_slot {
		char sha[SYN_SHA256_HEX_LEN + 1]; /* "" when free */
		bool present;
	} *slots;
};

/* Free a presence table: the store slot's release. */
static void presence_free(void *p)
{
	struct presence *m = p;

	if (m)
		free(m->slots);
	free(m);
}

/* The slot of @sha (checked) in @m: the one holding it or the free one it would take. */
static struct presence_slot *presence_slot(struct presence *m, const char *sha)
{
	size_t i = 0, k;

	/* a SHA-256 is as good a hash of itself as any: its first hex digits */
	for (k = 0; k < 2 * sizeof(size_t); k++)
		i = (i << 4) | (size_t)(sha[k] <= '9' ? sha[k] - '0' : sha[k] - 'a' + 10);
	i &= m->cap - 1;

	while (m->slots[i].sha[0] && memcmp(m->slots[i].sha, sha, SYN_SHA256_HEX_LEN))
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

/* The table for hold @held of @st, emptied when it was another hold's; NULL without memory. */
static struct presence *presence_of(struct syn_store *st, unsigned held)
{
	struct presence *m = syn__store_cache(st, SYN__CACHE_BLOBS);

	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			return NULL;
		syn__store_set_cache(st, SYN__CACHE_BLOBS, m, presence_free);
	}
	if (m->held != held) {
		if (m->slots)
			memset(m->slots, 0, m->cap * sizeof(*m->slots));
		m->count = 0;
		m->held = held;
	}
	if ((m->count + 1) * 2 > m->cap) {
		struct presence grown = { held, m->cap ? m->cap * 2 : 1024, 0, NULL };
		size_t i;

		grown.slots = calloc(grown.cap, sizeof(*grown.slots));
		if (!grown.slots)
			return NULL;
		for (i = 0; i < m->cap; i++)
			if (m->slots[i].sha[0])
				*presence_slot(&grown, m->slots[i].sha) = m->slots[i];
		free(m->slots);
		grown.count = m->count;
		*m = grown;
	}
	return m;
}

void syn__blob_assume_present(struct syn_store *st, const char *sha)
{
	unsigned held = syn__store_held(st);
	struct presence_slot *slot;
	struct presence *m;

	if (!held || !(m = presence_of(st, held)))
		return;
	slot = presence_slot(m, sha);
	if (!slot->sha[0]) {
		memcpy(slot->sha, sha, sizeof(slot->sha));
		m->count++;
	}
	slot->present = true;
}

bool syn_blob_exists(struct syn_store *st, const char *sha)
{
	unsigned held = syn__store_held(st);
	struct presence_slot *slot = NULL;
	struct presence *m;
	struct syn_backend *be;
	unsigned int caps;
	bool found;

	if (syn_name_check_sha256(sha) || syn_store_backend_at(st, 0, &be, &caps)) {
		syn_error_clear();
		return false;
	}
	if (held && (m = presence_of(st, held))) {
		slot = presence_slot(m, sha);
		if (slot->sha[0])
			return slot->present;
	}
	found = ask_exists(be, caps, sha, NULL) == 0;
	syn_error_clear();
	if (slot) {
		memcpy(slot->sha, sha, sizeof(slot->sha));
		slot->present = found;
		m->count++;
	}
	return found;
}

int syn_blob_find(struct syn_store *st, const char *sha, size_t *index)
{
	return chain_ask(st, sha, ask_exists, NULL, index);
}

int syn_blob_size(struct syn_store *st, const char *sha, uint64_t *out)
{
	return chain_ask(st, sha, ask_size, out, NULL);
}

int syn_blob_open(struct syn_store *st, const char *sha, int *fd_out)
{
	*fd_out = -1;
	return chain_ask(st, sha, ask_open, fd_out, NULL);
}

/* The primary backend, when it has every capability in @need (@what names them for the error). */
static int primary(struct syn_store *st, const char *sha, unsigned int need, const char *what,
		   struct syn_backend **be)
{
	unsigned int caps;
	int rc = sha ? syn_name_check_sha256(sha) : 0;

	if (!rc)
		rc = syn_store_backend_at(st, 0, be, &caps);
	if (!rc && (caps & need) != need)
		rc = syn_error_set(SYN_EUNSUPPORTED, "the primary blob backend cannot %s", what);
	return rc;
}

int syn_blob_path(struct syn_store *st, const char *sha, struct syn_buf *out)
{
	struct syn_backend *be;
	int rc = primary(st, sha, SYN_BACKEND_CAP_LOCAL_PATH, "give blobs a local path", &be);

	return rc ? rc : be->local_path(be, sha, out);
}

int syn_blob_remove(struct syn_store *st, const char *sha)
{
	struct syn_backend *be;
	int rc = primary(st, sha, SYN_BACKEND_CAP_REMOVE, "remove blobs", &be);

	return rc ? rc : be->remove(be, sha);
}

int syn_blob_quarantine(struct syn_store *st, const char *sha)
{
	struct syn_backend *be;
	int rc = primary(st, sha, SYN_BACKEND_CAP_QUARANTINE, "quarantine blobs", &be);

	return rc ? rc : be->quarantine(be, sha);
}

int syn_blob_meta_write(struct syn_store *st, const char *sha, const json_t *meta)
{
	struct syn_buf text = SYN_BUF_INIT;
	struct syn_backend *be;
	unsigned int caps;
	int rc = syn_name_check_sha256(sha);

	if (!rc)
		rc = syn_store_backend_at(st, 0, &be, &caps);
	/* manifests describe blobs for people; a primary that keeps none loses nothing else */
	if (rc || !(caps & SYN_BACKEND_CAP_META))
		goto out;
	rc = syn_doc_dump(&text, meta);
	if (!rc)
		rc = be->meta_write(be, sha, text.ptr, text.len);
	if (rc == SYN_EEXISTS) {
		syn_error_clear();
		rc = 0;
	}
out:
	syn_buf_dispose(&text);
	return rc;
}

int syn_blob_meta_read(struct syn_store *st, const char *sha, json_t **out)
{
	struct syn_buf text = SYN_BUF_INIT, display = SYN_BUF_INIT;
	int rc;

	*out = NULL;
	rc = chain_ask(st, sha, ask_meta, &text, NULL);
	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "blob %s has no manifest", sha);
	if (!rc)
		rc = syn_buf_printf(&display, "the manifest of blob %s", sha);
	if (!rc)
		rc = syn_doc_parse(out, text.ptr, text.len, display.ptr);
	syn_buf_dispose(&text);
	syn_buf_dispose(&display);
	return rc;
}
static int collect(const char *sha, void *payload)
{
	return json_array_append_new(payload, json_string(sha)) ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

int syn_blob_list(struct syn_store *st, json_t **out)
{
	struct syn_backend *be;
	json_t *list = NULL, *sorted = NULL, **items = NULL;
	size_t i, n;
	int rc;

	*out = NULL;
	rc = primary(st, NULL, SYN_BACKEND_CAP_LIST, "list blobs", &be);
	if (rc)
		return rc;
	list = json_array();
	sorted = json_array();
	rc = list && sorted ? be->foreach(be, collect, list) : syn_error_set(SYN_ENOMEM, "out of memory");
	n = json_array_size(list);
	if (!rc && n && !(items = malloc(n * sizeof(*items))))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (rc)
		goto out;
	for (i = 0; i < n; i++)
		items[i] = json_array_get(list, i);
	if (n)
		qsort(items, n, sizeof(*items), cmp_json_str);
	for (i = 0; !rc && i < n; i++)
		if (json_array_append(sorted, items[i]))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		*out = json_incref(sorted);
out:
	free(items);
	json_decref(list);
	json_decref(sorted);
	return rc;
}

int syn_blob_verify(struct syn_store *st, const char *sha)
{
	char actual[SYN_SHA256_HEX_LEN + 1];
	int fd, rc;

	rc = syn_blob_open(st, sha, &fd);
	if (rc)
		return rc;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = syn_sha256_fd(actual, NULL, fd);
	close(fd);
	if (!rc && strcmp(actual, sha))
		rc = syn_error_set(SYN_EMISMATCH, "blob %s is corrupt: its content hashes to %s", sha, actual);
	return rc;
}

/* ---- verifying many blobs at once ------------------------------------------ */

struct verify_job {
	struct syn_backend *be;
	const char **shas;
	bool *good;
	size_t n;
	atomic_size_t next;
};

/* Whether the primary's copy of @sha hashes to its name. */
static bool verify_one(struct syn_backend *be, const char *sha)
{
	char actual[SYN_SHA256_HEX_LEN + 1];
	int fd, rc;

	if (!sha || !syn_name_is_sha256(sha) || be->open(be, sha, &fd))
		return false;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = syn_sha256_fd(actual, NULL, fd);
	close(fd);
	return !rc && !strcmp(actual, sha);
}

static void *verify_worker(void *arg)
{
	struct verify_job *job = arg;
	size_t i;

	while ((i = atomic_fetch_add(&job->next, 1)) < job->n)
		job->good[i] = verify_one(job->be, job->shas[i]);
	/* a worker's error state dies with it; the caller's is its own */
	syn_error_clear();
	return NULL;
}

int syn__blob_verify_many(struct syn_store *st, const json_t *shas, unsigned int nthreads, json_t **valid,
			  json_t **invalid)
{
	struct verify_job job = { .n = json_array_size(shas) };
	pthread_t *threads = NULL;
	size_t i, started = 0;
	int rc;

	*valid = NULL;
	*invalid = NULL;
	rc = syn_store_backend_at(st, 0, &job.be, NULL);
	if (rc)
		return rc;
	if (!nthreads) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = cores > 0 ? (unsigned int)cores : 1;
	}
	if (nthreads > job.n)
		nthreads = job.n ? (unsigned int)job.n : 1;
	atomic_init(&job.next, 0);
	job.shas = job.n ? calloc(job.n, sizeof(*job.shas)) : NULL;
	job.good = job.n ? calloc(job.n, sizeof(*job.good)) : NULL;
	threads = nthreads > 1 ? calloc(nthreads - 1, sizeof(*threads)) : NULL;
	*valid = json_array();
	*invalid = json_array();
	if (!*valid || !*invalid || (job.n && (!job.shas || !job.good)) || (nthreads > 1 && !threads)) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < job.n; i++)
		job.shas[i] = json_string_value(json_array_get(shas, i));
	/* the calling thread is one of the workers; a thread that cannot start leaves its share to the others */
	for (started = 0; started + 1 < nthreads; started++)
		if (pthread_create(&threads[started], NULL, verify_worker, &job))
			break;
	while ((i = atomic_fetch_add(&job.next, 1)) < job.n)
		job.good[i] = verify_one(job.be, job.shas[i]);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; !rc && i < job.n; i++)
		if (json_array_append_new(job.good[i] ? *valid : *invalid, json_string(job.shas[i] ? job.shas[i] : "")))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
out:
	if (rc) {
		json_decref(*valid);
		json_decref(*invalid);
		*valid = *invalid = NULL;
	}
	free(threads);
	free(job.good);
	free(job.shas);
	return rc;
}
