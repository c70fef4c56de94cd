/*
 * backup: status, configuration and copies between the local store and
 * the backup (backend 1 of the chain). Copies to the backup go through
 * put() and are read back and re-hashed before they count; copies from it
 * go through syn_blob_insert_fd() with the expected digest. Deletes ask the
 * guard rails first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synapse/backup.h"
#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/names.h"
#include "synapse/state.h"
#include "synapse/sys/backend.h"

#include "docs.h"
#include "guard.h"

/* What the guard rails' refusal ends with; backup delete's --force only confirms, so it is cut. */
#define GUARD_FORCE_HINT " (or give --force)"

/* Copies a bulk run makes at once, at most. */
#define COPY_WORKERS_MAX 4

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

/* ---- the backup backend ------------------------------------------------------ */

/* Backend 1 of the chain, or why there is none. */
static int backup_backend(struct syn_store *st, struct syn_backend **be, unsigned int *caps)
{
	size_t n = 0;
	int rc = syn_store_backend_count(st, &n);

	*be = NULL;
	if (rc)
		return rc;
	if (n < 2)
		return syn_error_set(SYN_EINVALID, "the backup is not enabled; set it up with 'synapse backup config "
				     "--path DIR --enable'");
	return syn_store_backend_at(st, 1, be, caps);
}

/* 1 when the backup has blob @sha, 0 when not, else the backend's error. */
static int backup_has(struct syn_backend *be, const char *sha)
{
	int rc = be->exists(be, sha);

	if (rc < 0 && !*syn_error_last())
		syn_error_set(rc, "the backup cannot say whether it has blob %s", sha);
	return rc;
}

/* Re-read the backup's copy of @sha and hash it: a copy counts only once it has been verified. */
static int verify_backup_copy(struct syn_backend *be, const char *sha)
{
	char actual[SYN_SHA256_HEX_LEN + 1];
	int fd = -1, rc = be->open(be, sha, &fd);

	if (rc)
		return rc;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = syn_sha256_fd(actual, NULL, fd);
	close(fd);
	if (!rc && strcmp(actual, sha))
		rc = syn_error_set(SYN_EMISMATCH, "the backup copy of blob %s is corrupt (its content hashes to %s): "
				   "delete it with 'synapse backup delete %s --force' and back the blob up again",
				   sha, actual, sha);
	return rc;
}

/* Best effort: the manifest travels with the blob, and a blob without one is still a blob. */
static void copy_meta_to_backup(struct syn_store *st, struct syn_backend *be, unsigned int caps, const char *sha)
{
	struct syn_buf text = SYN_BUF_INIT;
	json_t *meta = NULL;

	if ((caps & SYN_BACKEND_CAP_META) && !syn_blob_meta_read(st, sha, &meta) && !syn_doc_dump(&text, meta))
		be->meta_write(be, sha, text.ptr, text.len);
	json_decref(meta);
	syn_buf_dispose(&text);
	syn_error_clear();
}

static void copy_meta_from_backup(struct syn_store *st, struct syn_backend *be, unsigned int caps, const char *sha)
{
	struct syn_buf text = SYN_BUF_INIT;
	json_t *meta = NULL;

	if ((caps & SYN_BACKEND_CAP_META) && !be->meta_read(be, sha, &text) &&
	    !syn_doc_parse(&meta, text.ptr, text.len, "the backup's manifest") && json_is_object(meta))
		syn_blob_meta_write(st, sha, meta);
	json_decref(meta);
	syn_buf_dispose(&text);
	syn_error_clear();
}

/* Copy local blob @sha to the backup and verify the copy; its size in *@bytes. */
static int copy_to_backup(struct syn_store *st, struct syn_backend *be, unsigned int caps, const char *sha,
			  uint64_t *bytes)
{
	struct syn_backend *local;
	uint64_t total, free_bytes;
	struct stat sb;
	int fd = -1, rc;

	*bytes = 0;
	if (!(caps & SYN_BACKEND_CAP_PUT))
		return syn_error_set(SYN_EUNSUPPORTED, "the backup backend cannot store blobs (it has no put())");
	rc = syn_store_backend_at(st, 0, &local, NULL);
	if (!rc)
		rc = local->open(local, sha, &fd);
	if (rc == SYN_ENOTFOUND)
		return syn_error_set(SYN_ENOTFOUND, "blob %s is not in the local store", sha);
	if (rc)
		return rc;
	if (fstat(fd, &sb) < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot read blob %s", sha);
		goto out_close;
	}
	*bytes = (uint64_t)sb.st_size;
	if ((caps & SYN_BACKEND_CAP_SPACE) && !be->space(be, &total, &free_bytes) && free_bytes < *bytes) {
		rc = syn_error_set(SYN_ENOSPC, "not enough room on the backup for blob %s: it needs %llu bytes, "
				   "%llu are free", sha, (unsigned long long)*bytes, (unsigned long long)free_bytes);
		goto out_close;
	}
	syn_error_clear();
	/*
	 * put() verifies the copy it writes (re-hashing it before it takes the
	 * blob's name); a copy that was there already is verified here.
	 */
	rc = backup_has(be, sha);
	if (rc > 0)
		rc = verify_backup_copy(be, sha);
	else if (!rc)
		rc = be->put(be, sha, fd);
	if (rc && !*syn_error_last())
		syn_error_set(rc, "%s", syn_strerror(rc));
	if (!rc)
		copy_meta_to_backup(st, be, caps, sha);
out_close:
	close(fd);
	return rc;
}

/* Copy blob @sha from the backup into the local store, verified; its size in *@bytes. */
static int copy_from_backup(struct syn_store *st, struct syn_backend *be, unsigned int caps, const char *sha,
			    uint64_t *bytes)
{
	char got[SYN_SHA256_HEX_LEN + 1];
	struct stat sb;
	int fd = -1, rc;

	*bytes = 0;
	rc = be->open(be, sha, &fd);
	if (rc == SYN_ENOTFOUND)
		return syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup", sha);
	if (rc)
		return rc;
	if (fstat(fd, &sb) == 0)
		*bytes = (uint64_t)sb.st_size;
	rc = syn_blob_insert_fd(st, fd, sha, got);
	close(fd);
	if (rc == SYN_EMISMATCH)
		return syn_error_prefix("the backup copy of blob %s is corrupt, nothing was restored", sha);
	if (!rc)
		copy_meta_from_backup(st, be, caps, sha);
	return rc;
}

/* ---- listings -------------------------------------------------------------- */

static int add_to_set(const char *sha, void *payload)
{
	if (!syn_name_is_sha256(sha))
		return 0; /* manifests and temporary files are no blobs */
	return json_object_set_new(payload, sha, json_true()) ? oom() : 0;
}

/* Every blob the backup lists, as an object whose keys are the digests. */
static int backup_set(struct syn_backend *be, unsigned int caps, json_t **out)
{
	int rc;

	*out = NULL;
	if (!(caps & SYN_BACKEND_CAP_LIST))
		return syn_error_set(SYN_EUNSUPPORTED, "the backup backend cannot list its blobs; use --all");
	*out = json_object();
	if (!*out)
		return oom();
	syn_error_clear();
	rc = be->foreach(be, add_to_set, *out);
	if (rc < 0 && !*syn_error_last())
		syn_error_set(rc, "cannot list the backup's blobs");
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc < 0 ? rc : rc ? syn_error_set(SYN_ERROR, "cannot list the backup's blobs") : 0;
}

/* Every local blob, as an object whose keys are the digests. */
static int local_set(struct syn_store *st, json_t **out)
{
	json_t *list = NULL, *s;
	size_t i;
	int rc = syn_blob_list(st, &list);

	*out = rc ? NULL : json_object();
	if (!rc && !*out)
		rc = oom();
	json_array_foreach(list, i, s)
		if (!rc && json_object_set_new(*out, json_string_value(s), json_true()))
			rc = oom();
	json_decref(list);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of @set, sorted, as a new array. */
static json_t *sorted_keys(const json_t *set)
{
	size_t n = json_object_size(set), i = 0;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	json_t *out = keys ? json_array() : NULL;
	const char *k;
	json_t *v;

	if (!out) {
		free(keys);
		return NULL;
	}
	json_object_foreach((json_t *)set, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++)
		if (json_array_append_new(out, json_string(keys[i]))) {
			json_decref(out);
			out = NULL;
			break;
		}
	free(keys);
	return out;
}

/* ---- status ---------------------------------------------------------------- */

/* Fill @r's counts from the reachable backup @be. */
static int count_backup(struct syn_store *st, struct syn_backend *be, unsigned int caps, json_t *r)
{
	json_t *remote = NULL, *local = NULL, *v;
	uint64_t bytes = 0, total, free_bytes, size;
	size_t both = 0;
	const char *sha;
	int rc;

	if (caps & SYN_BACKEND_CAP_LIST) {
		rc = backup_set(be, caps, &remote);
	} else {
		/* nothing to list: a question it must answer shows whether it is there */
		rc = backup_has(be, "0000000000000000000000000000000000000000000000000000000000000000");
		rc = rc < 0 ? rc : 0;
	}
	if (rc)
		goto out;
	json_object_foreach(remote, sha, v)
		if (!be->size(be, sha, &size))
			bytes += size;
	syn_error_clear();
	rc = local_set(st, &local);
	if (rc)
		goto out;
	json_object_foreach(remote, sha, v)
		if (json_object_get(local, sha))
			both++;
	if (json_object_set_new(r, "reachable", json_true()) ||
	    json_object_set_new(r, "blobs", json_integer((json_int_t)json_object_size(remote))) ||
	    json_object_set_new(r, "bytes", json_integer((json_int_t)bytes)) ||
	    json_object_set_new(r, "blobs_both", json_integer((json_int_t)both)) ||
	    json_object_set_new(r, "blobs_local_only", json_integer((json_int_t)(json_object_size(local) - both))) ||
	    json_object_set_new(r, "blobs_backup_only", json_integer((json_int_t)(json_object_size(remote) - both))))
		rc = oom();
	if (!rc && (caps & SYN_BACKEND_CAP_SPACE) && !be->space(be, &total, &free_bytes) &&
	    (json_object_set_new(r, "total_space", json_integer((json_int_t)total)) ||
	     json_object_set_new(r, "free_space", json_integer((json_int_t)free_bytes))))
		rc = oom();
	if (!rc)
		syn_error_clear();
out:
	json_decref(remote);
	json_decref(local);
	return rc;
}

int syn_backup_status(struct syn_store *st, json_t **out)
{
	json_t *config = NULL, *backup, *r;
	struct syn_backend *be;
	unsigned int caps = 0;
	const char *why = NULL;
	bool enabled;
	int rc;

	*out = NULL;
	rc = syn_store_config(st, &config);
	if (rc)
		return rc;
	backup = json_object_get(config, "backup");
	enabled = json_is_true(json_object_get(backup, "enabled"));
	r = json_pack("{s:b, s:s, s:O?, s:b, s:n, s:i, s:i, s:n, s:n, s:i, s:i, s:i}", "enabled", enabled, "backend",
		      syn_doc_str(backup, "backend", "backup_path"), "path", json_object_get(backup, "path"),
		      "reachable", 0, "error", "blobs", 0, "bytes", 0, "total_space", "free_space",
		      "blobs_local_only", 0, "blobs_backup_only", 0, "blobs_both", 0);
	if (!r) {
		rc = oom();
		goto out;
	}
	if (!enabled)
		why = "the backup is not enabled";
	else if (!json_string_value(json_object_get(backup, "path")) && !strcmp(syn_doc_str(backup, "backend",
		 "backup_path"), "backup_path"))
		why = "backup.path is not set";
	if (!why) {
		rc = backup_backend(st, &be, &caps);
		if (!rc)
			rc = count_backup(st, be, caps, r);
		if (rc == SYN_ENOMEM)
			goto out;
		if (rc)
			why = syn_error_last();
		rc = 0;
	}
	if (why && json_object_set_new(r, "error", json_string(why)))
		rc = oom();
	syn_error_clear();
out:
	if (rc)
		json_decref(r);
	else
		*out = r;
	json_decref(config);
	return rc;
}

/* ---- config ---------------------------------------------------------------- */

/* The backup section of @config, created when missing (borrowed). */
static json_t *backup_section(json_t *config)
{
	json_t *b = json_object_get(config, "backup");

	if (json_is_object(b))
		return b;
	b = json_object();
	if (!b || json_object_set_new(config, "backup", b))
		return NULL;
	return b;
}

static int check_config(const struct syn_backup_config *cfg)
{
	int rc = 0;

	if (cfg->path && (cfg->path[0] != '/' || strlen(cfg->path) > 4096))
		return syn_error_set(SYN_EINVALID, "the backup path must be an absolute path, not '%s'", cfg->path);
	if (cfg->backend)
		rc = syn_name_check_ident("backup backend", cfg->backend);
	return rc;
}

int syn_backup_configure(struct syn_store *st, const struct syn_backup_config *cfg, json_t **out)
{
	json_t *config = NULL, *before = NULL, *b;
	struct syn_store *fresh = NULL;
	bool written = false;
	int rc;

	*out = NULL;
	rc = check_config(cfg);
	if (!rc)
		rc = syn_store_require_init(st);
	if (!rc)
		rc = syn_store_lock(st, "backup config");
	if (rc)
		return rc;
	rc = syn_store_config(st, &config);
	if (rc)
		goto out_unlock;
	before = json_deep_copy(config);
	b = before ? backup_section(config) : NULL;
	if (!b || (cfg->path && json_object_set_new(b, "path", json_string(cfg->path))) ||
	    (cfg->enabled >= 0 && json_object_set_new(b, "enabled", json_boolean(cfg->enabled))) ||
	    (cfg->backend && json_object_set_new(b, "backend", json_string(cfg->backend)))) {
		rc = oom();
		goto out_unlock;
	}
	if (json_is_true(json_object_get(b, "enabled")) && !json_string_value(json_object_get(b, "path")) &&
	    !strcmp(syn_doc_str(b, "backend", "backup_path"), "backup_path")) {
		rc = syn_error_set(SYN_EINVALID, "the backup needs a directory: give --path DIR (an absolute path)");
		goto out_unlock;
	}
	if (!json_equal(config, before)) {
		rc = syn_doc_write(syn_store_state_fd(st), "config.json", config);
		written = !rc;
		if (!rc)
			rc = syn_state_ensure_repo(st);
		if (!rc)
			rc = syn_state_commit_paths(st, "backup config", (const char *const[]){ "config.json", NULL },
						    NULL);
		if (rc && written) {
			/* keep the first failure's words; put the old document back */
			char msg[1024];

			snprintf(msg, sizeof(msg), "%s", syn_error_last());
			syn_doc_write(syn_store_state_fd(st), "config.json", before);
			rc = syn_error_set(rc, "%s", msg);
		}
	}
out_unlock:
	syn_store_unlock(st);
	json_decref(config);
	json_decref(before);
	if (rc)
		return rc;
	/* a handle builds its chain from config.json once: the new backup is seen by a new one */
	rc = syn_store_open(&fresh, syn_store_registry(st), syn_store_root(st));
	if (!rc)
		rc = syn_backup_status(fresh, out);
	syn_store_free(fresh);
	return rc;
}

/* ---- one blob -------------------------------------------------------------- */

int syn_backup_blob(struct syn_store *st, const char *sha, json_t **out)
{
	struct syn_backend *be;
	unsigned int caps;
	uint64_t bytes = 0;
	bool copied = true;
	int rc;

	*out = NULL;
	rc = syn_name_check_sha256(sha);
	if (!rc)
		rc = backup_backend(st, &be, &caps);
	if (rc)
		return rc;
	if (!syn_blob_exists(st, sha))
		return syn_error_set(SYN_ENOTFOUND, "blob %s is not in the local store", sha);
	rc = backup_has(be, sha);
	if (rc == 1) {
		copied = false;
		rc = be->size(be, sha, &bytes);
		if (!rc)
			rc = verify_backup_copy(be, sha);
	} else if (rc == 0) {
		rc = copy_to_backup(st, be, caps, sha, &bytes);
	}
	if (rc)
		return rc;
	*out = json_pack("{s:s, s:b, s:I, s:b}", "sha256", sha, "copied", copied, "bytes", (json_int_t)bytes,
			 "verified", 1);
	return *out ? 0 : oom();
}

int syn_backup_restore(struct syn_store *st, const char *sha, json_t **out)
{
	struct syn_backend *be;
	unsigned int caps;
	uint64_t bytes = 0;
	bool restored = false;
	int rc;

	*out = NULL;
	rc = syn_name_check_sha256(sha);
	if (!rc)
		rc = backup_backend(st, &be, &caps);
	if (rc)
		return rc;
	if (syn_blob_exists(st, sha)) {
		struct syn_backend *local;

		rc = syn_store_backend_at(st, 0, &local, NULL);
		if (!rc)
			rc = local->size(local, sha, &bytes);
	} else {
		rc = copy_from_backup(st, be, caps, sha, &bytes);
		restored = !rc;
	}
	if (rc)
		return rc;
	*out = json_pack("{s:s, s:b, s:I}", "sha256", sha, "restored", restored, "bytes", (json_int_t)bytes);
	return *out ? 0 : oom();
}

/* The guard's refusal without its hint at --force, which here only confirms. */
static int guard_refusal(void)
{
	char msg[1024];
	size_t n, h = strlen(GUARD_FORCE_HINT);

	snprintf(msg, sizeof(msg), "%s", syn_error_last());
	n = strlen(msg);
	if (n > h && !strcmp(msg + n - h, GUARD_FORCE_HINT))
		msg[n - h] = '\0';
	return syn_error_set(SYN_EGUARD, "%s", msg);
}

int syn_backup_delete(struct syn_store *st, const char *sha, bool confirm, json_t **out)
{
	json_t *refs = NULL, *active = NULL, *warnings = NULL;
	unsigned int caps, held = SYN__COPY_BACKUP, verified = 0;
	struct syn_backend *be;
	bool unreadable = false;
	uint64_t bytes = 0;
	int rc;

	*out = NULL;
	rc = syn_name_check_sha256(sha);
	if (rc)
		return rc;
	if (!confirm)
		return syn_error_set(SYN_EUSAGE, "backup delete removes the backup's copy of blob %s for good: give "
				     "--force to confirm", sha);
	rc = backup_backend(st, &be, &caps);
	if (rc)
		return rc;
	if (!(caps & SYN_BACKEND_CAP_REMOVE))
		return syn_error_set(SYN_EUNSUPPORTED, "the backup backend cannot remove blobs");
	rc = syn_store_lock(st, "backup delete");
	if (rc)
		return rc;
	rc = backup_has(be, sha);
	if (rc == 0)
		rc = syn_error_set(SYN_ENOTFOUND, "blob %s is not on the backup", sha);
	if (rc < 0)
		goto out;
	rc = be->size(be, sha, &bytes);
	warnings = json_array();
	if (!rc && !warnings)
		rc = oom();
	if (rc)
		goto out;
	if (syn_blob_exists(st, sha)) {
		held |= SYN__COPY_LOCAL;
		rc = syn_blob_verify(st, sha);
		if (!rc)
			verified |= SYN__COPY_LOCAL;
		else if (rc == SYN_EMISMATCH)
			rc = json_array_append_new(warnings, json_sprintf("the local copy is corrupt: %s",
									  syn_error_last())) ? oom() : 0;
		if (rc)
			goto out;
	}
	rc = syn__guard_references(st, &refs, warnings, &unreadable);
	if (!rc)
		rc = syn__guard_active(st, &active);
	if (rc)
		goto out;
	if (unreadable && !(verified & SYN__COPY_LOCAL)) {
		rc = syn_error_set(SYN_EGUARD, "refusing to delete: a pack cannot be read, so whether blob %.12s is "
				   "needed is unknown, and no verified local copy would remain: repair the pack or "
				   "restore the blob first", sha);
		goto out;
	}
	rc = syn__guard_delete(st, sha, SYN__COPY_BACKUP, held, verified, refs, active, false, warnings);
	if (rc == SYN_EGUARD)
		rc = guard_refusal();
	if (!rc)
		rc = be->remove(be, sha);
	if (!rc)
		*out = json_pack("{s:s, s:b, s:I, s:b, s:O}", "sha256", sha, "deleted", 1, "bytes_freed",
				 (json_int_t)bytes, "still_on_local", (held & SYN__COPY_LOCAL) != 0, "warnings", warnings);
	if (!rc && !*out)
		rc = oom();
out:
	syn_store_unlock(st);
	json_decref(refs);
	json_decref(active);
	json_decref(warnings);
	return rc;
}

/* ---- bulk copies ----------------------------------------------------------- */

struct run {
	struct syn_store *st;
	struct syn_backend *be;
	unsigned int caps;
	const struct syn_backup_options *o;
	enum syn_backup_direction dir;
	const char *pack;
	json_t *items, *errors, *cleaned, *kept, *done;
	uint64_t bytes_to_sync, bytes_synced, blobs_synced;
	size_t failed;
	bool stop; /* the backup cannot be reached: attempt nothing more */
	int first_rc;
	char first[1024];
};

/* Record the failure @rc (its message is the thread's) about blob @sha (NULL: none in particular). */
static int record(struct run *r, const char *sha, int rc)
{
	json_t *e = sha ? json_sprintf("%s: %s", sha, syn_error_last()) : json_string(syn_error_last());

	if (rc == SYN_ENOMEM || !e || json_array_append_new(r->errors, e))
		return oom();
	if (rc == SYN_ENETWORK)
		r->stop = true;
	if (!r->failed++) {
		r->first_rc = rc;
		snprintf(r->first, sizeof(r->first), "%s%s%s", sha ? sha : "", sha ? ": " : "", syn_error_last());
	}
	syn_error_clear();
	return 0;
}

static int add_item(struct run *r, const char *sha, uint64_t size, const char *dep, const char *display)
{
	json_t *it = json_pack("{s:s, s:I, s:s?, s:s?}", "sha256", sha, "size_bytes", (json_int_t)size,
			       "dependency_id", dep, "display_name", display);

	if (!it || json_array_append_new(r->items, it))
		return oom();
	r->bytes_to_sync += size;
	return 0;
}

static int run_start(struct run *r, struct syn_store *st, const struct syn_backup_options *o,
		     enum syn_backup_direction dir, const char *pack)
{
	memset(r, 0, sizeof(*r));
	r->st = st;
	r->o = o;
	r->dir = dir;
	r->pack = pack;
	r->items = json_array();
	r->errors = json_array();
	r->cleaned = json_array();
	r->kept = json_array();
	r->done = json_array();
	if (!r->items || !r->errors || !r->cleaned || !r->kept || !r->done)
		return oom();
	return backup_backend(st, &r->be, &r->caps);
}

static void run_dispose(struct run *r)
{
	json_decref(r->items);
	json_decref(r->errors);
	json_decref(r->cleaned);
	json_decref(r->kept);
	json_decref(r->done);
}

/* The copies of one run, shared by its worker threads. */
struct copier {
	struct run *r;
	pthread_mutex_t mu; /* guards next, done, rc and everything of r the workers touch */
	size_t next;        /* the next item to copy */
	uint64_t done;      /* bytes of the items finished */
	int rc;             /* a failure that stops everything (out of memory) */
};

/* Copy items until none is left (or the backup cannot be reached); results go into the run. */
static void *copy_worker(void *arg)
{
	struct copier *cp = arg;
	struct run *r = cp->r;

	for (;;) {
		const json_t *it;
		const char *sha;
		uint64_t bytes = 0;
		int rc;

		pthread_mutex_lock(&cp->mu);
		if (cp->rc || r->stop || cp->next >= json_array_size(r->items)) {
			pthread_mutex_unlock(&cp->mu);
			break;
		}
		it = json_array_get(r->items, cp->next++);
		pthread_mutex_unlock(&cp->mu);
		sha = syn_doc_str(it, "sha256", "");
		rc = r->dir == SYN_BACKUP_TO_BACKUP ? copy_to_backup(r->st, r->be, r->caps, sha, &bytes)
						    : copy_from_backup(r->st, r->be, r->caps, sha, &bytes);
		pthread_mutex_lock(&cp->mu);
		if (rc == SYN_ENOMEM) {
			cp->rc = rc;
		} else if (rc) {
			cp->rc = record(r, sha, rc);
		} else {
			r->blobs_synced++;
			r->bytes_synced += bytes;
			if (json_array_append_new(r->done, json_string(sha)))
				cp->rc = oom();
		}
		cp->done += (uint64_t)json_integer_value(json_object_get(it, "size_bytes"));
		if (r->o->progress)
			r->o->progress(sha, syn_doc_str(it, "display_name", NULL), cp->done, r->bytes_to_sync,
				       r->o->payload);
		pthread_mutex_unlock(&cp->mu);
	}
	return NULL;
}

/*
 * Copy every planned item, as many at a time as there are cores (at most
 * four: each copy is bound by hashing, and the disks by their bandwidth);
 * after an unreachable backup the rest is not attempted.
 */
static int run_copy(struct run *r)
{
	struct copier cp = { .r = r, .mu = PTHREAD_MUTEX_INITIALIZER };
	pthread_t threads[COPY_WORKERS_MAX - 1];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = json_array_size(r->items), nthreads, started, i;

	if (!r->o->execute || !n)
		return 0;
	nthreads = cores < 1 ? 1 : cores > COPY_WORKERS_MAX ? COPY_WORKERS_MAX : (size_t)cores;
	if (nthreads > n)
		nthreads = n;
	/* the calling thread is one of the workers; one that cannot start leaves its share to the others */
	for (started = 0; started + 1 < nthreads; started++)
		if (pthread_create(&threads[started], NULL, copy_worker, &cp))
			break;
	copy_worker(&cp);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (cp.rc)
		return cp.rc == SYN_ENOMEM ? syn_error_set(SYN_ENOMEM, "out of memory") : cp.rc;
	if (cp.next < n) {
		syn_error_set(SYN_ENETWORK, "%zu blob(s) were not attempted: the backup cannot be reached; run the "
			      "command again once it is back", n - cp.next);
		return record(r, NULL, SYN_ENETWORK);
	}
	return 0;
}

/*
 * Remove the local copies whose backup copy this command wrote and
 * verified, each only when the guard rails let it go.
 */
static int run_cleanup(struct run *r)
{
	json_t *refs = NULL, *active = NULL, *s;
	size_t i;
	int rc;

	if (!r->o->execute || !r->o->cleanup || !json_array_size(r->done))
		return 0;
	rc = syn_store_lock(r->st, "backup push --cleanup");
	if (rc)
		return record(r, NULL, rc);
	rc = syn__guard_references(r->st, &refs, NULL, NULL);
	if (!rc)
		rc = syn__guard_active(r->st, &active);
	if (rc) {
		rc = record(r, NULL, rc);
		goto out;
	}
	json_array_foreach(r->done, i, s) {
		const char *sha = json_string_value(s);
		json_t *k;

		/* the copy verified before the lock was taken must still be there: another command may delete it */
		rc = backup_has(r->be, sha);
		if (rc == 0)
			rc = syn_error_set(SYN_EGUARD, "the backup copy of blob %.12s went away meanwhile", sha);
		else if (rc == 1)
			rc = syn__guard_delete(r->st, sha, SYN__COPY_LOCAL, SYN__COPY_LOCAL | SYN__COPY_BACKUP,
					       SYN__COPY_BACKUP, refs, active, false, NULL);
		if (rc < 0 && rc != SYN_EGUARD && rc != SYN_ENOMEM) {
			rc = record(r, sha, rc);
		} else if (rc == SYN_EGUARD) {
			guard_refusal(); /* push has no --force to give */
			k = json_pack("{s:s, s:s}", "sha256", sha, "reason", syn_error_last());
			syn_error_clear();
			rc = !k || json_array_append_new(r->kept, k) ? oom() : 0;
		} else if (!rc) {
			rc = syn_blob_remove(r->st, sha);
			if (!rc)
				rc = json_array_append_new(r->cleaned, json_string(sha)) ? oom() : 0;
			else if (rc != SYN_ENOMEM)
				rc = record(r, sha, rc);
		}
		if (rc)
			break;
	}
out:
	syn_store_unlock(r->st);
	json_decref(refs);
	json_decref(active);
	return rc;
}

/* The report, and the run's outcome: the first failure's code when any blob failed. */
static int run_finish(struct run *r, int rc, json_t **out)
{
	if (rc)
		return rc;
	*out = json_pack("{s:s?, s:s, s:b, s:O, s:I, s:I, s:I, s:I, s:O, s:O, s:O}", "pack", r->pack, "direction",
			 r->dir == SYN_BACKUP_TO_BACKUP ? "to_backup" : "from_backup", "dry_run", !r->o->execute,
			 "items", r->items, "blobs_to_sync", (json_int_t)json_array_size(r->items), "bytes_to_sync",
			 (json_int_t)r->bytes_to_sync, "blobs_synced", (json_int_t)r->blobs_synced, "bytes_synced",
			 (json_int_t)r->bytes_synced, "cleaned", r->cleaned, "kept", r->kept, "errors", r->errors);
	if (!*out)
		return oom();
	if (!r->failed)
		return 0;
	if (r->failed == 1)
		return syn_error_set(r->first_rc, "%s", r->first);
	return syn_error_set(r->first_rc, "%zu problems, the first: %s", r->failed, r->first);
}

/*
 * Plan pack @pack: each blob its lock names once, the ones the source side
 * has and the destination lacks. An unreachable backup stops the plan.
 */
static int plan_pack(struct run *r, const char *pack)
{
	json_t *doc = NULL, *lock = NULL, *seen = json_object(), *e;
	struct syn_backend *local;
	size_t i;
	int rc = seen ? 0 : oom();

	if (!rc)
		rc = syn__docs_pack_load(r->st, pack, &doc);
	if (!rc)
		rc = syn__docs_lock_load(r->st, pack, &lock);
	if (!rc)
		rc = syn_store_backend_at(r->st, 0, &local, NULL);
	json_array_foreach(json_object_get(lock, "resolved"), i, e) {
		const json_t *art = json_object_get(e, "artifact");
		const char *sha = syn_doc_str(art, "sha256", ""), *id = syn_doc_str(e, "dependency_id", "");
		const char *display = syn_doc_str(json_object_get(syn__docs_dependency(doc, id), "expose"), "filename", id);
		bool here;
		uint64_t size = 0;
		int has;

		if (rc)
			break;
		if (!syn_name_is_sha256(sha) || json_object_get(seen, sha))
			continue;
		if (json_object_set_new(seen, sha, json_true())) {
			rc = oom();
			break;
		}
		here = syn_blob_exists(r->st, sha);
		if (here == (r->dir == SYN_BACKUP_FROM_BACKUP))
			continue; /* pull: already local; push: nothing local to copy */
		has = backup_has(r->be, sha);
		if (has < 0) {
			rc = record(r, NULL, has);
			break;
		}
		if (r->dir == SYN_BACKUP_TO_BACKUP && has)
			continue;
		if (r->dir == SYN_BACKUP_FROM_BACKUP && !has) {
			syn_error_set(SYN_ENOTFOUND, "blob %.12s (%s) is not on the backup either: 'synapse install %s' "
				      "downloads it", sha, id, pack);
			rc = record(r, sha, SYN_ENOTFOUND);
			continue;
		}
		if (r->dir == SYN_BACKUP_TO_BACKUP ? local->size(local, sha, &size) : r->be->size(r->be, sha, &size))
			size = (uint64_t)json_integer_value(json_object_get(art, "size_bytes"));
		syn_error_clear();
		rc = add_item(r, sha, size, id, display);
	}
	json_decref(doc);
	json_decref(lock);
	json_decref(seen);
	return rc;
}

static int pack_run(struct syn_store *st, const char *pack, const struct syn_backup_options *o,
		    enum syn_backup_direction dir, json_t **out)
{
	struct run r;
	int rc;

	*out = NULL;
	rc = syn_name_check_pack(pack);
	if (!rc)
		rc = run_start(&r, st, o, dir, pack);
	else
		memset(&r, 0, sizeof(r));
	if (!rc)
		rc = plan_pack(&r, pack);
	if (!rc && !r.stop)
		rc = run_copy(&r);
	if (!rc && dir == SYN_BACKUP_TO_BACKUP)
		rc = run_cleanup(&r);
	if (!rc)
		rc = run_finish(&r, rc, out);
	run_dispose(&r);
	return rc;
}

int syn_backup_pull(struct syn_store *st, const char *pack, const struct syn_backup_options *o, json_t **out)
{
	return pack_run(st, pack, o, SYN_BACKUP_FROM_BACKUP, out);
}

int syn_backup_push(struct syn_store *st, const char *pack, const struct syn_backup_options *o, json_t **out)
{
	return pack_run(st, pack, o, SYN_BACKUP_TO_BACKUP, out);
}

/* Plan a sync: every source blob the destination lacks, named after the first pack that uses it. */
static int plan_sync(struct run *r)
{
	json_t *src = NULL, *dst = NULL, *order = NULL, *refs = NULL, *s;
	struct syn_backend *local;
	size_t i;
	int rc;

	rc = syn_store_backend_at(r->st, 0, &local, NULL);
	if (!rc)
		rc = r->dir == SYN_BACKUP_TO_BACKUP ? local_set(r->st, &src) : backup_set(r->be, r->caps, &src);
	if (!rc && !r->o->all)
		rc = r->dir == SYN_BACKUP_TO_BACKUP ? backup_set(r->be, r->caps, &dst) : local_set(r->st, &dst);
	if (!rc)
		rc = syn__guard_references(r->st, &refs, NULL, NULL);
	if (!rc && !(order = sorted_keys(src)))
		rc = oom();
	if (rc && rc != SYN_ENOMEM)
		rc = record(r, NULL, rc);
	json_array_foreach(order, i, s) {
		const char *sha = json_string_value(s);
		const json_t *first = json_array_get(json_object_get(refs, sha), 0);
		uint64_t size = 0;
		int has;

		if (rc)
			break;
		if (dst) {
			has = json_object_get(dst, sha) != NULL;
		} else {
			has = r->dir == SYN_BACKUP_TO_BACKUP ? backup_has(r->be, sha) : syn_blob_exists(r->st, sha);
			if (has < 0) {
				rc = record(r, NULL, has);
				break;
			}
		}
		if (has)
			continue;
		if (r->dir == SYN_BACKUP_TO_BACKUP ? local->size(local, sha, &size) : r->be->size(r->be, sha, &size))
			syn_error_clear();
		rc = add_item(r, sha, size, syn_doc_str(first, "dependency_id", NULL),
			      syn_doc_str(first, "expose_filename", NULL));
	}
	json_decref(src);
	json_decref(dst);
	json_decref(order);
	json_decref(refs);
	return rc;
}

int syn_backup_sync(struct syn_store *st, enum syn_backup_direction dir, const struct syn_backup_options *o,
		    json_t **out)
{
	struct syn_backup_options copy = *o;
	struct run r;
	int rc;

	*out = NULL;
	copy.cleanup = false; /* sync never removes a copy */
	rc = run_start(&r, st, &copy, dir, NULL);
	if (!rc)
		rc = plan_sync(&r);
	if (!rc && !r.stop)
		rc = run_copy(&r);
	if (!rc)
		rc = run_finish(&r, rc, out);
	run_dispose(&r);
	return rc;
}
