/*
 * The blob store over the store's chain of backends. Bytes are hashed while
 * they are written to a stage and committed only after verification, so a
 * blob's name is always the hash of its bytes. Lookups ask each backend in
 * order and take "not found" to mean "ask the next one"; writes, removals,
 * listings, manifests and quarantine are the primary's.
 */
#include <dirent.h>
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
#include "synapse/rate.h"

#include "blob.h"
#include "store.h"

#define COPY_CHUNK (1u << 20)

/* Pieces a file is cut into, per connection: enough to keep the hashed prefix close behind the data. */
#define PIECES_PER_CONNECTION 4
#define PIECE_MIN ((uint64_t)256 << 10)
#define PIECE_MAX ((uint64_t)64 << 20)
#define PIECE_ALIGN ((uint64_t)64 << 10)
/* A range in flight is split for an idle connection only when both halves keep this much. */
#define STEAL_MIN ((uint64_t)128 << 10)
#define SIDECAR_MAX ((size_t)4 << 20)

enum piece_state { PIECE_FREE, PIECE_CLAIMED, PIECE_DONE };

/* A piece of a segmented download: [start, pos) is held, [pos, end) is not yet. */
struct piece {
	uint64_t start, pos, end;
	enum piece_state state;
};

/* A byte range [s, e) held from an earlier attempt. */
struct held_range {
	uint64_t s, e;
};

struct syn_blob_writer {
	struct syn_sink sink; /* first: the sink pointer is the writer pointer */
	struct syn_backend *be;
	unsigned int caps;
	/* on the primary when it stages, else an anonymous file handed to put() */
	struct syn_backend_stage stage;
	struct syn_sha256 *hash;
	char expected[SYN_SHA256_HEX_LEN + 1];
	uint64_t written; /* the hashed prefix: every byte before it is held and hashed */
	void (*progress)(uint64_t done, uint64_t total, void *payload);
	void *payload;
	/* segmented downloads (sink version 4) */
	pthread_mutex_t mu;
	int data_fd;          /* the store's data/, for the sidecar; -1 when not resumable */
	char sidecar[96];     /* "tmp/<sha>.ranges": the ranges held, beside the stage */
	bool segmented;       /* begin() chose segments */
	uint64_t total;       /* the file's size, once begin() said it */
	uint64_t held;        /* bytes held in all */
	struct piece *pieces; /* sorted by start, disjoint, covering [0, total) */
	size_t npieces, cap;
	size_t hix;           /* the piece holding `written` */
	struct held_range *resumed; /* held from an earlier attempt, sorted, merged; [0] starts at 0 */
	size_t nresumed;
	uint64_t resumed_total; /* the size the sidecar recorded, 0 when unknown */
	bool ahead;           /* resumed bytes beyond the prefix are in the stage */
	char *rbuf;           /* the hasher's read buffer */
	pthread_t hasher;     /* hashes bytes that arrived ahead of the prefix, once it reaches them */
	bool hasher_on, hash_quit, hash_busy;
	bool sidecar_due;     /* a range completed since the sidecar was last written */
	pthread_cond_t hash_work, hash_idle;
	int hash_rc;          /* the hasher's error, its message in hash_msg */
	char hash_msg[256];
	uint64_t unflushed;   /* bytes written since writeback was last started */
};

static int hash_drain(struct syn_blob_writer *w);

/* Start writeback this often while segments arrive, so that each flush before a sidecar write is short. */
#define WRITEBACK_EVERY ((uint64_t)8 << 20)

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

/* Hash the first @prefix bytes an earlier attempt left in the stage, leaving the fd at their end. */
static int hash_existing(struct syn_blob_writer *w, uint64_t prefix)
{
	uint64_t left = prefix;
	char *chunk;
	int rc = 0;

	/* in-order writing goes on from the end of the prefix, wherever the stage left its offset */
	if (!left)
		return lseek(w->stage.fd, 0, SEEK_SET) < 0
			       ? syn_error_set_errno(SYN_EIO, errno, "cannot rewind a partial blob") : 0;
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
		w->written = prefix;
	return rc;
}

/* ---- the sidecar: which ranges of a segmented stage are held ----------------
 *
 * {"version": 1, "size": <file size>, "dev": .., "ino": .. (of the stage),
 *  "held": [[start, end], ...]}, written atomically and only after the bytes
 * it records are flushed, so after kill -9 at any instant it names only
 * bytes that are in the stage. It is advisory: the digest is checked at
 * commit whatever it says.
 */

static void sidecar_remove(struct syn_blob_writer *w)
{
	if (w->data_fd >= 0)
		unlinkat(w->data_fd, w->sidecar, 0);
}

int syn__blob_drop_stale_sidecars(struct syn_store *st, json_t *removed, json_t *notes)
{
	static const char suffix[] = ".ranges";
	char sha[SYN_SHA256_HEX_LEN + 1];
	DIR *d = syn_fs_opendir(syn_store_data_fd(st), "tmp");
	struct dirent *de;
	int rc = 0;

	if (!d)
		return 0;
	while (!rc && (de = readdir(d))) {
		if (strlen(de->d_name) != SYN_SHA256_HEX_LEN + sizeof(suffix) - 1 ||
		    strcmp(de->d_name + SYN_SHA256_HEX_LEN, suffix))
			continue;
		memcpy(sha, de->d_name, SYN_SHA256_HEX_LEN);
		sha[SYN_SHA256_HEX_LEN] = '\0';
		if (syn_name_check_sha256(sha) || !syn_blob_exists(st, sha)) {
			syn_error_clear();
			continue;
		}
		if (!unlinkat(dirfd(d), de->d_name, 0))
			rc = json_array_append_new(removed, json_sprintf("tmp/%s", de->d_name));
		else
			rc = json_array_append_new(notes, json_sprintf("cannot remove the range record tmp/%s: %s",
								       de->d_name, strerror(errno)));
		if (rc)
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	}
	closedir(d);
	return rc;
}

/* Append [s, e) to @out's held list, merging with the last one. */
static int held_append(json_t *held, uint64_t s, uint64_t e, uint64_t *last_end)
{
	json_t *last = json_array_get(held, json_array_size(held) - 1);

	if (s >= e)
		return 0;
	if (last && *last_end == s) {
		*last_end = e;
		return json_array_set_new(last, 1, json_integer((json_int_t)e));
	}
	*last_end = e;
	return json_array_append_new(held, json_pack("[I, I]", (json_int_t)s, (json_int_t)e));
}

/* What the stage holds now, as a sidecar document (a new reference), or NULL without memory. */
static json_t *sidecar_doc(struct syn_blob_writer *w)
{
	json_t *doc, *held = json_array();
	struct stat sb;
	uint64_t last = 0;
	size_t i;
	int rc = held ? 0 : -1;

	if (!rc && fstat(w->stage.fd, &sb) < 0)
		memset(&sb, 0, sizeof(sb)); /* no file to match: the next attempt will not trust it */
	if (w->segmented) {
		for (i = 0; !rc && i < w->npieces; i++)
			rc = held_append(held, w->pieces[i].start, w->pieces[i].pos, &last);
	} else {
		for (i = 0; !rc && i < w->nresumed; i++)
			rc = held_append(held, w->resumed[i].s, w->resumed[i].e, &last);
	}
	doc = rc ? NULL : json_pack("{s:i, s:I, s:I, s:I, s:O}", "version", 1, "size",
				    (json_int_t)(w->segmented ? w->total : w->resumed_total), "dev", (json_int_t)sb.st_dev,
				    "ino", (json_int_t)sb.st_ino, "held", held);
	json_decref(held);
	return doc;
}

/* Flush the stage (every byte @doc records was written before it was made), then write @doc. */
static int sidecar_store(struct syn_blob_writer *w, const json_t *doc)
{
	struct syn_buf text = SYN_BUF_INIT;
	int rc = syn_fs_fsync(w->stage.fd, "a partial blob");

	if (!rc)
		rc = syn_doc_dump(&text, doc);
	if (!rc)
		rc = syn_fs_write_atomic(w->data_fd, w->sidecar, text.ptr, text.len, 0644);
	syn_buf_dispose(&text);
	return rc;
}

/* Flush the stage, then record what it holds. */
static int sidecar_write(struct syn_blob_writer *w)
{
	json_t *doc;
	int rc;

	if (w->data_fd < 0)
		return 0;
	doc = sidecar_doc(w);
	rc = doc ? sidecar_store(w, doc) : syn_error_set(SYN_ENOMEM, "out of memory");
	json_decref(doc);
	return rc;
}

/*
 * Read the sidecar of a resumed stage of @size bytes into w->resumed.
 * 1 when it names the held ranges; 0 when there is none or it belongs to
 * another file (the stage is then an in-order one: its bytes are a
 * prefix); SYN_ECORRUPT when it cannot be trusted (start over).
 */
static int sidecar_read(struct syn_blob_writer *w, uint64_t size)
{
	struct syn_buf text = SYN_BUF_INIT;
	json_t *doc = NULL, *held, *r;
	struct stat sb;
	uint64_t prev = 0;
	size_t i, n;
	int rc;

	rc = syn_fs_read(&text, w->data_fd, w->sidecar, SIDECAR_MAX);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	rc = SYN_ECORRUPT;
	doc = json_loadb(text.ptr, text.len, 0, NULL);
	held = json_object_get(doc, "held");
	if (!doc || !json_is_array(held) || fstat(w->stage.fd, &sb) < 0)
		goto out;
	if (json_integer_value(json_object_get(doc, "dev")) != (json_int_t)sb.st_dev ||
	    json_integer_value(json_object_get(doc, "ino")) != (json_int_t)sb.st_ino) {
		/* a stage made since, in order: its size says what it holds */
		sidecar_remove(w);
		rc = 0;
		goto out;
	}
	n = json_array_size(held);
	w->resumed = calloc(n + 1, sizeof(*w->resumed));
	if (!w->resumed) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	w->nresumed = 0;
	json_array_foreach(held, i, r) {
		json_int_t a = json_integer_value(json_array_get(r, 0)), b = json_integer_value(json_array_get(r, 1));

		if (!json_is_integer(json_array_get(r, 0)) || !json_is_integer(json_array_get(r, 1)) || a < 0 || b <= a ||
		    (uint64_t)a < prev || (i && (uint64_t)a == prev) || (uint64_t)b > size)
			goto out;
		w->resumed[w->nresumed++] = (struct held_range){ (uint64_t)a, (uint64_t)b };
		prev = (uint64_t)b;
	}
	w->resumed_total = (uint64_t)json_integer_value(json_object_get(doc, "size"));
	rc = 1;
out:
	if (rc == SYN_ECORRUPT) {
		free(w->resumed);
		w->resumed = NULL;
		w->nresumed = 0;
	}
	json_decref(doc);
	syn_buf_dispose(&text);
	return rc;
}

/* What an earlier attempt left: its ranges (from the sidecar, else the in-order prefix), the prefix hashed. */
static int resume_stage(struct syn_blob_writer *w)
{
	uint64_t size = w->stage.existing, prefix;
	int found = 0;

	if (w->data_fd >= 0 && (found = sidecar_read(w, size)) < 0)
		return found;
	if (!found) {
		w->resumed = calloc(1, sizeof(*w->resumed));
		if (!w->resumed)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		w->nresumed = 0;
		if (size)
			w->resumed[w->nresumed++] = (struct held_range){ 0, size };
	}
	prefix = w->nresumed && w->resumed[0].s == 0 ? w->resumed[0].e : 0;
	/* whatever the stage holds past the prefix is dropped before bytes are written in order */
	w->ahead = size > prefix;
	for (size_t i = 0; i < w->nresumed; i++)
		w->held += w->resumed[i].e - w->resumed[i].s;
	return hash_existing(w, prefix);
}

/* Keep only the prefix: in-order writing follows (the ranges ahead are dropped). */
static int drop_ahead(struct syn_blob_writer *w)
{
	if (w->ahead && (ftruncate(w->stage.fd, (off_t)w->written) < 0 ||
			 lseek(w->stage.fd, (off_t)w->written, SEEK_SET) < 0))
		return syn_error_set_errno(SYN_EIO, errno, "cannot truncate a partial blob");
	if (w->ahead || w->nresumed)
		sidecar_remove(w);
	w->ahead = false;
	w->nresumed = 0;
	w->held = w->written;
	return 0;
}

static int sink_write(struct syn_sink *sink, const void *data, size_t len)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;

	if (w->segmented)
		return syn_error_set(SYN_EINVALID, "a segmented download wrote in order: use write_at()");
	syn_rate_pass(len);
	return syn_blob_writer_write(w, data, len);
}

static int sink_restart(struct syn_sink *sink)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;
	int rc;

	/* the hasher must not be reading what is dropped */
	pthread_mutex_lock(&w->mu);
	rc = hash_drain(w);
	if (!rc)
		rc = syn_blob_writer_restart(w);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void sink_progress(struct syn_sink *sink, uint64_t done, uint64_t total)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;

	if (w->progress)
		w->progress(done, total, w->payload);
}

/* ---- segmented downloads (sink version 4) --------------------------------- */

static int pieces_reserve(struct syn_blob_writer *w, size_t n)
{
	struct piece *p;
	size_t cap = w->cap ? w->cap : 16;

	if (n <= w->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	p = realloc(w->pieces, cap * sizeof(*p));
	if (!p)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	w->pieces = p;
	w->cap = cap;
	return 0;
}

static int piece_add(struct syn_blob_writer *w, uint64_t s, uint64_t pos, uint64_t e, enum piece_state state)
{
	int rc = pieces_reserve(w, w->npieces + 1);

	if (!rc)
		w->pieces[w->npieces++] = (struct piece){ s, pos, e, state };
	return rc;
}

/*
 * Bytes that arrive ahead of the hashed prefix are hashed by a thread of
 * the writer's own once the prefix reaches them, read back from the stage
 * (the page cache), so the connections never wait for SHA-256. Whoever
 * hashes holds hash_busy: the hasher thread, or write_at() for bytes that
 * extend the prefix themselves (hashed from memory, the common case).
 */

/* Whether bytes are held right after the hashed prefix (moving hix on). Under w->mu. */
static bool hash_pending(struct syn_blob_writer *w)
{
	while (w->hix < w->npieces && w->written >= w->pieces[w->hix].end)
		w->hix++;
	return w->hix < w->npieces && w->pieces[w->hix].pos > w->written;
}

static void *seg_hasher(void *arg)
{
	struct syn_blob_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		uint64_t at, want;
		ssize_t n;
		int rc = 0;

		while (!w->hash_quit && (w->hash_rc || (!hash_pending(w) && !w->sidecar_due))) {
			w->hash_busy = false;
			pthread_cond_broadcast(&w->hash_idle);
			pthread_cond_wait(&w->hash_work, &w->mu);
		}
		if (w->hash_quit)
			break;
		w->hash_busy = true;
		if (w->sidecar_due && !hash_pending(w)) {
			/* a range completed: record it, off the connections' thread (the flush can take a while) */
			json_t *doc = sidecar_doc(w);

			w->sidecar_due = false;
			pthread_mutex_unlock(&w->mu);
			rc = doc ? sidecar_store(w, doc) : syn_error_set(SYN_ENOMEM, "out of memory");
			json_decref(doc);
			pthread_mutex_lock(&w->mu);
			if (rc) {
				w->hash_rc = rc;
				snprintf(w->hash_msg, sizeof(w->hash_msg), "%s", syn_error_last());
			}
			continue;
		}
		at = w->written;
		want = w->pieces[w->hix].pos - at;
		pthread_mutex_unlock(&w->mu);
		n = pread(w->stage.fd, w->rbuf, want < COPY_CHUNK ? (size_t)want : COPY_CHUNK, (off_t)at);
		if (n < 0 && errno != EINTR)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot read back a partial blob");
		else if (n == 0)
			rc = syn_error_set(SYN_EIO, "a partial blob shrank while being hashed");
		else if (n > 0)
			rc = syn_sha256_update(w->hash, w->rbuf, (size_t)n);
		pthread_mutex_lock(&w->mu);
		if (rc) {
			w->hash_rc = rc;
			snprintf(w->hash_msg, sizeof(w->hash_msg), "%s", syn_error_last());
		} else if (n > 0) {
			w->written += (uint64_t)n;
		}
	}
	w->hash_busy = false;
	pthread_cond_broadcast(&w->hash_idle);
	pthread_mutex_unlock(&w->mu);
	syn_error_clear();
	return NULL;
}

/* Start the hasher thread. Under w->mu. */
static int hasher_start(struct syn_blob_writer *w)
{
	if (w->hasher_on)
		return 0;
	if (!w->rbuf && !(w->rbuf = malloc(COPY_CHUNK)))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	w->hash_quit = false;
	if (pthread_create(&w->hasher, NULL, seg_hasher, w))
		return syn_error_set(SYN_ENOMEM, "cannot start a hashing thread");
	w->hasher_on = true;
	return 0;
}

/* Wait until everything held after the prefix is hashed; the hasher's error. Under w->mu. */
static int hash_drain(struct syn_blob_writer *w)
{
	if (!w->hasher_on)
		return 0;
	pthread_cond_broadcast(&w->hash_work);
	while (w->hash_busy || (!w->hash_rc && (hash_pending(w) || w->sidecar_due)))
		pthread_cond_wait(&w->hash_idle, &w->mu);
	return w->hash_rc ? syn_error_set(w->hash_rc, "%s", w->hash_msg) : 0;
}

/* Stop the hasher thread (not under w->mu). */
static void hasher_stop(struct syn_blob_writer *w)
{
	if (!w->hasher_on)
		return;
	pthread_mutex_lock(&w->mu);
	w->hash_quit = true;
	pthread_cond_broadcast(&w->hash_work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->hasher, NULL);
	w->hasher_on = false;
}

/* Cut [from, to) into free pieces of about @size bytes. */
static int plan_gap(struct syn_blob_writer *w, uint64_t from, uint64_t to, uint64_t size)
{
	int rc = 0;

	while (!rc && from < to) {
		uint64_t e = to - from > size + size / 2 ? from + size : to;

		rc = piece_add(w, from, from, e, PIECE_FREE);
		from = e;
	}
	return rc;
}

/* The plan of a file of w->total bytes, around the ranges held from an earlier attempt. */
static int plan_make(struct syn_blob_writer *w)
{
	unsigned int conns = w->sink.connections ? w->sink.connections : 1;
	uint64_t size = w->total / ((uint64_t)conns * PIECES_PER_CONNECTION), at = 0;
	size_t i;
	int rc = 0;

	size = size < PIECE_MIN ? PIECE_MIN : size > PIECE_MAX ? PIECE_MAX : size;
	size = (size + PIECE_ALIGN - 1) / PIECE_ALIGN * PIECE_ALIGN;
	w->npieces = 0;
	w->held = 0;
	for (i = 0; !rc && i < w->nresumed; i++) {
		uint64_t s = w->resumed[i].s, e = w->resumed[i].e > w->total ? w->total : w->resumed[i].e;

		if (s >= e)
			continue;
		rc = plan_gap(w, at, s, size);
		if (!rc)
			rc = piece_add(w, s, e, e, PIECE_DONE);
		w->held += e - s;
		at = e;
	}
	if (!rc)
		rc = plan_gap(w, at, w->total, size);
	w->hix = 0;
	return rc;
}

static int seg_begin(struct syn_sink *sink, uint64_t total, int ranged_ok)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;
	int rc = 0;

	pthread_mutex_lock(&w->mu);
	if ((rc = hash_drain(w)))
		goto out;
	if (w->segmented && total == w->total && ranged_ok) {
		rc = 1; /* asked again after the URL expired: carry on */
		goto out;
	}
	if (w->segmented && total == w->total) {
		/* the server stopped honouring Range: in order from the hashed prefix */
		w->segmented = false;
		w->ahead = true;
		free(w->pieces);
		w->pieces = NULL;
		w->npieces = w->cap = 0;
		rc = drop_ahead(w);
		w->sink.offset = w->written;
		goto out;
	}
	if (w->segmented || (w->resumed_total && total != w->resumed_total) || total < w->held) {
		/* another file under the same name: nothing held is worth keeping */
		w->segmented = false;
		free(w->pieces);
		w->pieces = NULL;
		w->npieces = w->cap = 0;
		rc = syn_blob_writer_restart(w);
		if (rc)
			goto out;
	}
	if (!ranged_ok || !sink->segment_min || total < sink->segment_min || sink->connections < 2) {
		rc = drop_ahead(w);
		w->sink.offset = w->written;
		goto out;
	}
	w->total = total;
	rc = plan_make(w);
	if (!rc)
		rc = hasher_start(w);
	if (!rc) {
		w->segmented = true;
		w->nresumed = 0;
		w->ahead = false;
		w->sink.offset = w->held;
		/* recorded before any byte lands beyond the prefix: a stage with holes always has its sidecar */
		rc = sidecar_write(w);
		/* ranges held from an earlier attempt right after the prefix */
		pthread_cond_broadcast(&w->hash_work);
	}
	if (!rc)
		rc = 1;
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static int seg_next(struct syn_sink *sink, uint64_t *start, uint64_t *end)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;
	struct piece *best = NULL;
	size_t i, at = 0;
	uint64_t mid;
	int rc = 0;

	pthread_mutex_lock(&w->mu);
	if (!w->segmented) {
		rc = syn_error_set(SYN_EINVALID, "a range was claimed before begin() chose segments");
		goto out;
	}
	/* a stage that can no longer be hashed or recorded takes no more bytes */
	if (w->hash_rc) {
		rc = syn_error_set(w->hash_rc, "%s", w->hash_msg);
		goto out;
	}
	for (i = 0; i < w->npieces; i++) {
		struct piece *p = &w->pieces[i];

		if (p->state == PIECE_FREE) {
			p->state = PIECE_CLAIMED;
			*start = p->pos;
			*end = p->end;
			rc = 1;
			goto out;
		}
		if (p->state == PIECE_CLAIMED && (!best || p->end - p->pos > best->end - best->pos)) {
			best = p;
			at = i;
		}
	}
	/* nothing left to claim: the idle connection takes the tail of the largest range in flight */
	if (!best || best->end - best->pos < 2 * STEAL_MIN)
		goto out;
	mid = best->pos + (best->end - best->pos) / 2;
	mid -= mid % PIECE_ALIGN;
	if (mid - best->pos < STEAL_MIN)
		mid = best->pos + STEAL_MIN;
	if ((rc = pieces_reserve(w, w->npieces + 1)))
		goto out;
	best = &w->pieces[at];
	memmove(&w->pieces[at + 2], &w->pieces[at + 1], (w->npieces - at - 1) * sizeof(*w->pieces));
	w->pieces[at + 1] = (struct piece){ mid, mid, best->end, PIECE_CLAIMED };
	w->npieces++;
	best->end = mid;
	if (w->hix > at)
		w->hix++;
	*start = mid;
	*end = w->pieces[at + 1].end;
	rc = 1;
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* The claimed piece whose next byte is @offset, or NULL. */
static struct piece *piece_at(struct syn_blob_writer *w, uint64_t offset)
{
	size_t lo = 0, hi = w->npieces;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->pieces[mid].start <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	return w->pieces[lo - 1].state == PIECE_CLAIMED && w->pieces[lo - 1].pos == offset ? &w->pieces[lo - 1]
											    : NULL;
}

static int seg_write_at(struct syn_sink *sink, uint64_t offset, const void *data, size_t len, size_t *accepted)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;
	struct piece *p;
	size_t n, done = 0;
	int rc = 0;

	*accepted = 0;
	syn_rate_pass(len);
	pthread_mutex_lock(&w->mu);
	if (w->hash_rc) {
		rc = syn_error_set(w->hash_rc, "%s", w->hash_msg);
		goto out;
	}
	p = w->segmented ? piece_at(w, offset) : NULL;
	if (!p) {
		rc = syn_error_set(SYN_EINVALID, "bytes at offset %llu are outside every claimed range",
				   (unsigned long long)offset);
		goto out;
	}
	n = p->end - p->pos < len ? (size_t)(p->end - p->pos) : len;
	while (done < n) {
		ssize_t k = pwrite(w->stage.fd, (const char *)data + done, n - done, (off_t)(offset + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = syn_error_set_errno(SYN_EIO, k < 0 ? errno : ENOSPC, "cannot write a blob being downloaded");
			goto out;
		}
		done += (size_t)k;
	}
	p->pos += n;
	w->held += n;
	w->sink.offset = w->held;
	w->unflushed += n;
	if (w->unflushed >= WRITEBACK_EVERY && syn_fs_fsync_enabled()) {
		sync_file_range(w->stage.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		w->unflushed = 0;
	}
	if (offset == w->written && !w->hash_busy) {
		/* the common case: the prefix grows, hashed from memory */
		rc = syn_sha256_update(w->hash, data, n);
		if (rc)
			goto out;
		w->written += n;
	}
	if (hash_pending(w))
		pthread_cond_broadcast(&w->hash_work);
	if (!rc && p->pos == p->end) {
		p->state = PIECE_DONE;
		if (w->data_fd >= 0) {
			w->sidecar_due = true;
			pthread_cond_broadcast(&w->hash_work);
		}
		rc = 1;
	}
	*accepted = n;
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static int seg_release(struct syn_sink *sink, uint64_t offset)
{
	struct syn_blob_writer *w = (struct syn_blob_writer *)sink;
	struct piece *p;

	pthread_mutex_lock(&w->mu);
	p = w->segmented ? piece_at(w, offset) : NULL;
	if (p)
		p->state = p->pos == p->end ? PIECE_DONE : PIECE_FREE;
	pthread_mutex_unlock(&w->mu);
	return 0;
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
	w->data_fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->hash_work, NULL);
	pthread_cond_init(&w->hash_idle, NULL);
	w->sink.version = SYN_SOURCE_VERSION;
	w->sink.write = sink_write;
	w->sink.restart = sink_restart;
	w->sink.progress = sink_progress;
	w->sink.segment_min = SYN__SEGMENT_MIN_DEFAULT;
	w->sink.connections = SYN__CONNECTIONS_DEFAULT;
	w->sink.begin = seg_begin;
	w->sink.next = seg_next;
	w->sink.write_at = seg_write_at;
	w->sink.release = seg_release;
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
	/* only a known-digest stage survives the attempt, so only it keeps a record of its ranges */
	if (expected_sha && (w->caps & SYN_BACKEND_CAP_STAGE) && syn_store_data_fd(st) >= 0) {
		w->data_fd = syn_store_data_fd(st);
		snprintf(w->sidecar, sizeof(w->sidecar), "tmp/%s.ranges", expected_sha);
	}
	rc = resume_stage(w);
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
	free(w->resumed);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->hash_work);
	pthread_cond_destroy(&w->hash_idle);
	free(w);
	return rc;
}

uint64_t syn_blob_writer_offset(const struct syn_blob_writer *w)
{
	return w->written;
}

int syn_blob_writer_write(struct syn_blob_writer *w, const void *data, size_t len)
{
	int rc = w->ahead || w->nresumed ? drop_ahead(w) : 0;

	if (!rc)
		rc = syn_sha256_update(w->hash, data, len);

	if (!rc)
		rc = syn_fs_write_all(w->stage.fd, data, len, "a blob being written");
	if (!rc) {
		w->written += len;
		w->held = w->written;
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
		sidecar_remove(w);
		w->written = 0;
		w->held = 0;
		w->nresumed = 0;
		w->ahead = false;
		w->sink.offset = 0;
		/* a plan made for the dropped bytes starts over with nothing held: every piece is to fetch again */
		for (size_t i = 0; i < w->npieces; i++) {
			w->pieces[i].pos = w->pieces[i].start;
			if (w->pieces[i].state == PIECE_DONE)
				w->pieces[i].state = PIECE_FREE;
		}
		w->hix = 0;
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
	hasher_stop(w);
	syn_sha256_free(w->hash);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->hash_work);
	pthread_cond_destroy(&w->hash_idle);
	free(w->pieces);
	free(w->resumed);
	free(w->rbuf);
	free(w);
}

/* Keep a stage for the next attempt, its sidecar saying what it holds. */
static void stage_keep(struct syn_blob_writer *w)
{
	if ((w->segmented || w->ahead) && sidecar_write(w))
		syn_error_clear(); /* without it the next attempt keeps what it can prove */
	stage_abort(w, true);
}

int syn_blob_writer_commit(struct syn_blob_writer *w, char sha_out[SYN_SHA256_HEX_LEN + 1])
{
	char actual[SYN_SHA256_HEX_LEN + 1];
	struct stat sb;
	int rc;

	if (w->segmented) {
		pthread_mutex_lock(&w->mu);
		rc = hash_drain(w);
		pthread_mutex_unlock(&w->mu);
		/* nothing reads the stage from here on */
		hasher_stop(w);
		if (rc) {
			stage_keep(w);
			goto out;
		}
	}
	if (w->segmented && w->written != w->total) {
		rc = syn_error_set(SYN_ENETWORK, "the download stopped before its end (%llu of %llu bytes held)",
				   (unsigned long long)w->held, (unsigned long long)w->total);
		stage_keep(w);
		goto out;
	}
	/* the digest covers w->written bytes: a stage holding other bytes as well is never published */
	if (fstat(w->stage.fd, &sb) < 0 || (uint64_t)sb.st_size != w->written) {
		rc = syn_error_set(SYN_EIO, "the partial blob holds other bytes than the %llu written and hashed; "
				   "it is dropped, and the download starts over", (unsigned long long)w->written);
		stage_abort(w, false);
		sidecar_remove(w);
		goto out;
	}
	rc = syn_sha256_final(w->hash, actual);
	if (rc) {
		stage_keep(w);
		goto out;
	}
	sidecar_remove(w);
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
	hasher_stop(w); /* before the stage is closed under it */
	if (keep_partial && w->expected[0]) {
		stage_keep(w);
	} else {
		sidecar_remove(w);
		stage_abort(w, false);
	}
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
 * an open-addressed table of SHA-256s (their 32 bytes), emptied when a new
 * hold starts.
 */
struct presence {
	unsigned held;
	size_t cap, count;
	struct presence_slot {
		unsigned char key[SYN_SHA256_HEX_LEN / 2];
		unsigned char state; /* PRESENCE_FREE, _ABSENT or _PRESENT */
	} *slots;
	size_t asked;  /* lookups the table could not answer in this hold */
	bool complete; /* the primary was listed in this hold: a SHA-256 not in the table is absent */
};

enum { PRESENCE_FREE, PRESENCE_ABSENT, PRESENCE_PRESENT };

/*
 * After this many lookups in one hold, listing the primary's blobs once is
 * cheaper than one stat each for the rest (the local backend lists from a
 * cache, one stat per blob folder; a directory entry read costs a tenth of
 * a path lookup), so a command over the whole store costs its directory
 * reads, not a stat per file.
 */
#define PRESENCE_LIST_AFTER 256

/* Free a presence table: the store slot's release. */
static void presence_free(void *p)
{
	struct presence *m = p;

	if (m)
		free(m->slots);
	free(m);
}

static unsigned hex_value(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

/* The 32 bytes of @sha (64 lowercase hex digits, checked) in @key. */
static void presence_key(const char *sha, unsigned char key[SYN_SHA256_HEX_LEN / 2])
{
	size_t i;

	for (i = 0; i < SYN_SHA256_HEX_LEN / 2; i++)
		key[i] = (unsigned char)(hex_value(sha[2 * i]) << 4 | hex_value(sha[2 * i + 1]));
}

/* The slot of @key in @m: the one holding it or the free one it would take. */
static struct presence_slot *presence_slot(struct presence *m, const unsigned char *key)
{
	size_t i = 0, k;

	/* a SHA-256 is as good a hash of itself as any: its first bytes */
	for (k = 0; k < sizeof(size_t); k++)
		i = (i << 8) | key[k];
	i &= m->cap - 1;
	while (m->slots[i].state != PRESENCE_FREE && memcmp(m->slots[i].key, key, sizeof(m->slots[i].key)))
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

/* Make room in @m for @more SHA-256s (kept at most half full); false without memory. */
static bool presence_room(struct presence *m, size_t more)
{
	struct presence grown = { m->held, m->cap ? m->cap : 1024, m->count, NULL, m->asked, m->complete };
	size_t i;

	if ((m->count + more) * 2 <= m->cap)
		return true;
	while ((m->count + more) * 2 > grown.cap)
		grown.cap *= 2;
	grown.slots = calloc(grown.cap, sizeof(*grown.slots));
	if (!grown.slots)
		return false;
	for (i = 0; i < m->cap; i++)
		if (m->slots[i].state != PRESENCE_FREE)
			*presence_slot(&grown, m->slots[i].key) = m->slots[i];
	free(m->slots);
	*m = grown;
	return true;
}

/* The table for hold @held of @st, emptied when it was another hold's, with room for one more; NULL without memory. */
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
		m->asked = 0;
		m->complete = false;
	}
	return presence_room(m, 1) ? m : NULL;
}

/* Put @key in @m (room made) as @state, unless the table has an answer for it already and @keep. */
static void presence_put(struct presence *m, const unsigned char *key, unsigned char state, bool keep)
{
	struct presence_slot *slot = presence_slot(m, key);

	if (slot->state == PRESENCE_FREE) {
		memcpy(slot->key, key, sizeof(slot->key));
		m->count++;
	} else if (keep) {
		return;
	}
	slot->state = state;
}

void syn__blob_assume_present(struct syn_store *st, const char *sha)
{
	unsigned held = syn__store_held(st);
	unsigned char key[SYN_SHA256_HEX_LEN / 2];
	struct presence *m;

	if (!held || !syn_name_is_sha256(sha) || !(m = presence_of(st, held)))
		return;
	presence_key(sha, key);
	presence_put(m, key, PRESENCE_PRESENT, false);
}

/* What a listing found: the keys of the blobs, to go into the table at once. */
struct listed_keys {
	struct syn_buf keys; /* 32 bytes each */
};

static int presence_listed(const char *sha, void *payload)
{
	struct listed_keys *l = payload;
	unsigned char key[SYN_SHA256_HEX_LEN / 2];

	if (!syn_name_is_sha256(sha))
		return 0;
	presence_key(sha, key);
	return syn_buf_put(&l->keys, key, sizeof(key));
}

/*
 * Mark every blob primary @be lists as present in this hold's table (sized
 * once for them all; an answer the hold already had stays), and the table
 * complete; a listing that fails leaves the table as it was (lookups then
 * go on asking the backend).
 */
static void presence_list(struct syn_store *st, struct syn_backend *be)
{
	struct presence *m = presence_of(st, syn__store_held(st));
	struct listed_keys l = { SYN_BUF_INIT };
	size_t i, n;

	if (m && be->foreach(be, presence_listed, &l) == 0 &&
	    presence_room(m, (n = l.keys.len / (SYN_SHA256_HEX_LEN / 2)) + 1)) {
		for (i = 0; i < n; i++)
			presence_put(m, (const unsigned char *)l.keys.ptr + i * (SYN_SHA256_HEX_LEN / 2), PRESENCE_PRESENT,
				     true);
		m->complete = true;
	}
	syn_buf_dispose(&l.keys);
	syn_error_clear();
}

bool syn_blob_exists(struct syn_store *st, const char *sha)
{
	unsigned held = syn__store_held(st);
	unsigned char key[SYN_SHA256_HEX_LEN / 2];
	struct presence_slot *slot;
	struct presence *m = NULL;
	struct syn_backend *be;
	unsigned int caps;
	bool found;

	if (syn_name_check_sha256(sha) || syn_store_backend_at(st, 0, &be, &caps)) {
		syn_error_clear();
		return false;
	}
	presence_key(sha, key);
	if (held && (m = presence_of(st, held))) {
		slot = presence_slot(m, key);
		if (slot->state != PRESENCE_FREE)
			return slot->state == PRESENCE_PRESENT;
		if (m->complete)
			return false;
		if (++m->asked == PRESENCE_LIST_AFTER && (caps & SYN_BACKEND_CAP_LIST)) {
			presence_list(st, be);
			slot = presence_slot(m, key);
			if (slot->state != PRESENCE_FREE)
				return slot->state == PRESENCE_PRESENT;
			if (m->complete)
				return false;
		}
	}
	found = ask_exists(be, caps, sha, NULL) == 0;
	syn_error_clear();
	if (m && presence_room(m, 1))
		presence_put(m, key, found ? PRESENCE_PRESENT : PRESENCE_ABSENT, false);
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
