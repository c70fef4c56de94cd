/*
 * install: the download engine. Worker threads, each with its own source
 * instance, stream a pack's files into blob writers that hash while writing;
 * a verified blob is committed under the store lock and given its manifest,
 * and the lock learns the digests it lacked. Also the steps the pack
 * operations share with it: starting a source, the time documents record,
 * committing the state.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "synapse/blob.h"
#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/names.h"
#include "synapse/profile.h"
#include "synapse/rate.h"
#include "synapse/registry.h"
#include "synapse/state.h"
#include "synapse/store.h"

#include "blob.h"
#include "docs.h"
#include "install.h"
#include "runtime.h"
#include "state.h"
#include "store.h"

/* ---- shared steps ---------------------------------------------------------- */

void syn__install_local_now(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%06d", base, (int)(ts.tv_nsec / 1000) % 1000000);
}

/* syn__install_commit(), on a thread of its own when @start. */
static int commit_changed(struct syn_store *st, const char *verb, const char *name, unsigned int changed, bool start)
{
	struct syn_buf msg = SYN_BUF_INIT, pack = SYN_BUF_INIT, lock = SYN_BUF_INIT, work = SYN_BUF_INIT;
	const char *paths[5];
	size_t n = 0;
	int rc = syn_buf_printf(&msg, "%s %s", verb, name);

	if (!rc)
		rc = syn_buf_printf(&pack, "packs/%s", name);
	if (!rc)
		rc = syn_buf_printf(&lock, "packs/%s/lock.json", name);
	if (!rc)
		rc = syn_buf_printf(&work, "profiles/" SYN_WORK_PREFIX "%s", name);
	if (changed & SYN__CHANGED_PACK)
		paths[n++] = pack.ptr;
	else if (changed & SYN__CHANGED_LOCK)
		paths[n++] = lock.ptr;
	if (changed & SYN__CHANGED_GLOBAL)
		paths[n++] = "profiles/" SYN_PROFILE_GLOBAL;
	/* a pack name near the length limit has no work profile: its name would be too long */
	if ((changed & SYN__CHANGED_WORK) && !rc && !syn_name_check_profile(work.ptr + strlen("profiles/")))
		paths[n++] = work.ptr;
	paths[n] = NULL;
	if (!rc)
		rc = start ? syn__state_commit_start(st, msg.ptr, paths) : syn_state_commit_paths(st, msg.ptr, paths, NULL);
	syn_buf_dispose(&msg);
	syn_buf_dispose(&pack);
	syn_buf_dispose(&lock);
	syn_buf_dispose(&work);
	return rc;
}

int syn__install_commit(struct syn_store *st, const char *verb, const char *name, unsigned int changed)
{
	return commit_changed(st, verb, name, changed, false);
}

int syn__install_commit_start(struct syn_store *st, const char *verb, const char *name, unsigned int changed)
{
	return commit_changed(st, verb, name, changed, true);
}

int syn__install_source_start(struct syn_store *st, const struct syn_source_class *cls, struct syn_source **out)
{
	struct syn_source_params params = { SYN_SOURCE_VERSION, syn_store_data_root(st), NULL };
	json_t *config = NULL;
	int rc;

	*out = NULL;
	if (syn_store_config(st, &config) == 0)
		params.config = json_object_get(json_object_get(config, "providers"), cls->name);
	syn_error_clear();
	rc = cls->create(out, &params);
	json_decref(config);
	if (!rc && (!*out || (*out)->version < 1 || (*out)->version > SYN_SOURCE_VERSION)) {
		if (*out && (*out)->free)
			(*out)->free(*out);
		*out = NULL;
		rc = syn_error_set(SYN_EUNSUPPORTED, "source '%s' has an unsupported version", cls->name);
	}
	return rc ? syn_error_prefix("cannot start source '%s'", cls->name) : 0;
}

void syn__install_source_free(struct syn_source *src)
{
	if (src && src->free)
		src->free(src);
}

/* ---- the sources of one command ------------------------------------------- */

int syn__sources_init(struct syn__sources *c, struct syn_store *st)
{
	c->st = st;
	c->n = syn_registry_source_count(syn_store_registry(st));
	c->src = calloc(c->n + 1, sizeof(*c->src));
	c->start_error = calloc(c->n + 1, sizeof(*c->start_error));
	if (!c->src || !c->start_error)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	return 0;
}

void syn__sources_dispose(struct syn__sources *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		syn__install_source_free(c->src ? c->src[i] : NULL);
		free(c->start_error ? c->start_error[i] : NULL);
	}
	free(c->src);
	free(c->start_error);
	memset(c, 0, sizeof(*c));
}

struct syn_source *syn__sources_get(struct syn__sources *c, size_t i)
{
	const struct syn_source_class *cls = syn_registry_source_at(syn_store_registry(c->st), i);

	if (!c->src[i] && !c->start_error[i] && syn__install_source_start(c->st, cls, &c->src[i])) {
		c->start_error[i] = strdup(syn_error_last());
		syn_error_clear();
	}
	return c->src[i];
}

const char *syn__sources_start_error(const struct syn__sources *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->start_error[i])
			return c->start_error[i];
	return NULL;
}

static int source_by_name(struct syn_store *st, const char *name, struct syn_source **out)
{
	const struct syn_source_class *cls = syn_registry_source(syn_store_registry(st), name);

	*out = NULL;
	if (!cls)
		return syn_error_set(SYN_ENOTFOUND, "no source plugin named '%s' is loaded (see 'synapse plugins')", name);
	return syn__install_source_start(st, cls, out);
}

/* ---- the engine ------------------------------------------------------------ */

struct install;

struct job {
	struct install *ins;
	const char *dep_id;
	const char *filename;
	const char *url;
	const char *provider;
	const char *sha;     /* expected, or NULL */
	json_int_t size;     /* expected size in bytes, or 0 when unknown */
	char got[SYN_SHA256_HEX_LEN + 1];
	bool downloaded;
	bool restored;       /* copied from a backup instead */
	int code;            /* why it failed, 0 when it did not */
	char *error;         /* the message, or NULL (also when there was no memory for it) */
};

/* config.json's download section, with what each member means when absent. */

struct install {
	struct syn_store *st;
	struct job *jobs;
	size_t njobs, next;
	uint64_t segment_min;     /* download.segment_min */
	unsigned int connections; /* download.connections */
	pthread_mutex_t mu;  /* guards next, source creation and the store (lock depth, commits) */
	syn_install_progress_cb progress;
	void *payload;
};

static void job_progress(uint64_t done, uint64_t total, void *payload)
{
	struct job *j = payload;

	if (j->ins->progress)
		j->ins->progress(j->dep_id, j->filename, done, total, j->ins->payload);
}

/* Commit @w as the job's blob under the store lock (shared by the workers), or abort it keeping its bytes. */
static int commit_job(struct job *j, struct syn_blob_writer *w)
{
	int rc;

	pthread_mutex_lock(&j->ins->mu);
	rc = syn_store_lock(j->ins->st, "install");
	if (!rc) {
		rc = syn_blob_writer_commit(w, j->got);
		syn_store_unlock(j->ins->st);
	} else {
		syn_blob_writer_abort(w, true);
	}
	pthread_mutex_unlock(&j->ins->mu);
	return rc;
}

/*
 * A blob a backup has is copied from there, verified like a download,
 * before anything is downloaded: SYN_ENOTFOUND when no backup has it (or
 * its digest is not known), else the outcome of the copy. A backup copy
 * whose bytes are wrong is never committed (the digest is checked).
 */
static int restore_job(struct job *j)
{
	struct syn_store *st = j->ins->st;
	struct syn_blob_writer *w = NULL;
	struct syn_backend *be;
	size_t index = 0;
	int rc, fd = -1;

	if (!j->sha)
		return SYN_ENOTFOUND;
	pthread_mutex_lock(&j->ins->mu);
	rc = syn_blob_find(st, j->sha, &index);
	if (!rc && index == 0)
		rc = SYN_ENOTFOUND; /* stored meanwhile: the download path sees it */
	if (!rc)
		rc = syn_store_backend_at(st, index, &be, NULL);
	pthread_mutex_unlock(&j->ins->mu);
	if (!rc)
		rc = be->open(be, j->sha, &fd);
	if (!rc)
		rc = syn_blob_writer_open(&w, st, j->sha);
	if (rc == SYN_EEXISTS) {
		syn_error_clear();
		memcpy(j->got, j->sha, sizeof(j->got));
		rc = 0;
	} else if (!rc) {
		rc = syn__blob_writer_fill(w, fd);
		if (rc)
			syn_blob_writer_abort(w, false);
		else
			rc = commit_job(j, w);
		if (!rc)
			j->restored = true;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static int run_job(struct job *j, struct syn_source *src)
{
	struct syn_blob_writer *w = NULL;
	int rc;

	rc = syn_blob_writer_open(&w, j->ins->st, j->sha);
	if (rc == SYN_EEXISTS) { /* another process (or pack) stored it meanwhile */
		syn_error_clear();
		memcpy(j->got, j->sha, sizeof(j->got));
		return 0;
	}
	if (rc)
		return rc;
	/* an earlier attempt fetched every byte and stopped short of committing: just verify */
	if (j->size > 0 && syn_blob_writer_offset(w) == (uint64_t)j->size) {
		rc = 0;
	} else {
		struct syn_sink *sink = syn_blob_writer_sink(w, job_progress, j);

		sink->segment_min = j->ins->segment_min;
		sink->connections = j->ins->connections;
		rc = src->download ? src->download(src, j->url, sink)
				   : syn_error_set(SYN_EUNSUPPORTED, "the source cannot download files");
	}
	if (rc) {
		syn_blob_writer_abort(w, true); /* keep the bytes: the next install resumes */
		return rc;
	}
	rc = commit_job(j, w);
	if (!rc)
		j->downloaded = true;
	return rc;
}

static void *install_worker(void *arg)
{
	struct install *ins = arg;
	struct syn_source *src = NULL;
	const char *src_name = NULL;

	for (;;) {
		struct job *j;
		int rc = 0;

		pthread_mutex_lock(&ins->mu);
		j = ins->next < ins->njobs ? &ins->jobs[ins->next++] : NULL;
		pthread_mutex_unlock(&ins->mu);
		if (!j)
			break;
		rc = restore_job(j);
		if (!rc)
			continue;
		/* not on a backup, or its copy there is unusable: download it */
		if (rc == SYN_ENOMEM) {
			j->code = rc;
			j->error = strdup(syn_error_last());
			continue;
		}
		if (rc != SYN_ENOTFOUND && !j->url) {
			/* a damaged or unreachable backup copy is not the source's fault */
			j->code = rc == SYN_EMISMATCH ? SYN_ECORRUPT : rc;
			syn_error_prefix("the backup's copy cannot be used and the lock gives no URL to download it "
					 "from");
			j->error = strdup(syn_error_last());
			syn_error_clear();
			continue;
		}
		syn_error_clear();
		rc = 0;
		/* each worker has its own source instance: none is shared across threads */
		if (!j->url) {
			rc = syn_error_set(SYN_ENOTFOUND, "no backup has it and the lock gives no URL to download it "
					   "from: run 'synapse resolve' on the pack");
		} else if (!j->provider) {
			rc = syn_error_set(SYN_EINVALID, "the lock names no source for it (artifact.provider.name): run "
					   "'synapse resolve' on the pack");
		} else if (!src || strcmp(src_name, j->provider)) {
			syn__install_source_free(src);
			src = NULL;
			pthread_mutex_lock(&ins->mu);
			rc = source_by_name(ins->st, j->provider, &src);
			pthread_mutex_unlock(&ins->mu);
			src_name = j->provider;
		}
		if (!rc)
			rc = run_job(j, src);
		if (rc) {
			j->code = rc;
			j->error = strdup(syn_error_last());
			j->got[0] = '\0';
			syn_error_clear();
		}
	}
	syn__install_source_free(src);
	return NULL;
}

int syn__install_manifest(struct syn_store *st, const char *sha, const json_t *dep, const json_t *artifact)
{
	struct syn_buf fname = SYN_BUF_INIT;
	json_t *prov = json_object_get(artifact, "provider"), *doc = NULL;
	const char *expose = json_string_value(json_object_get(json_object_get(dep, "expose"), "filename"));
	char now[48];
	int rc;

	if (expose)
		rc = syn_buf_puts(&fname, expose);
	else if (json_string_value(json_object_get(prov, "filename")))
		rc = syn_buf_puts(&fname, json_string_value(json_object_get(prov, "filename")));
	else
		rc = syn_buf_printf(&fname, "%.12s.bin", sha);
	if (rc)
		goto out;
	syn__install_local_now(now, sizeof(now));
	doc = json_pack("{s:i, s:s, s:s, s:s, s:{s:s, s:O?, s:O?, s:O?, s:O?, s:O?}}", "version", 1, "created_at", now,
		"original_filename", fname.ptr, "kind", syn_doc_str(artifact, "kind", "unknown"),
		"origin", "provider", syn_doc_str(prov, "name", "unknown"), "model_id", json_object_get(prov, "model_id"),
		"version_id", json_object_get(prov, "version_id"), "file_id", json_object_get(prov, "file_id"),
		"filename", json_object_get(prov, "filename"), "repo_id", json_object_get(prov, "repo_id"));
	rc = doc ? syn_blob_meta_write(st, sha, doc) : syn_error_set(SYN_ENOMEM, "out of memory");
out:
	json_decref(doc);
	syn_buf_dispose(&fname);
	return rc;
}

int syn__install_rate_set(struct syn_store *st, uint64_t rate)
{
	uint64_t *keep = malloc(sizeof(*keep));

	if (!keep)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	*keep = rate;
	syn__store_set_cache(st, SYN__CACHE_RATE, keep, free);
	return 0;
}

void syn__install_rate_clear(struct syn_store *st)
{
	syn__store_set_cache(st, SYN__CACHE_RATE, NULL, NULL);
}

/* A non-negative integer member @key of @obj, @def when absent or not one. */
static uint64_t config_u64(const json_t *obj, const char *key, uint64_t def)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : def;
}

/*
 * config.json's download section: how large a file must be for segments,
 * how many connections a file gets, and the process's rate limit (the
 * command's own, when it gave one, wins).
 */
static void download_config(struct install *ins)
{
	const uint64_t *override = syn__store_cache(ins->st, SYN__CACHE_RATE);
	json_t *config = NULL;
	const json_t *dl;
	uint64_t conns;

	if (syn_store_config(ins->st, &config))
		syn_error_clear(); /* the defaults serve */
	dl = json_object_get(config, "download");
	ins->segment_min = config_u64(dl, "segment_min", SYN__SEGMENT_MIN_DEFAULT);
	conns = config_u64(dl, "connections", SYN__CONNECTIONS_DEFAULT);
	ins->connections = conns < 1 ? 1 : conns > SYN_SINK_CONNECTIONS_MAX ? SYN_SINK_CONNECTIONS_MAX : (unsigned)conns;
	syn_rate_limit_set(override ? *override : config_u64(dl, "max_rate", 0));
	json_decref(config);
}

void syn__install_fetch_dispose(struct syn__fetch *f)
{
	json_decref(f->hashes);
	json_decref(f->downloaded);
	json_decref(f->restored);
	json_decref(f->present);
	json_decref(f->learned);
	json_decref(f->failed_deps);
	syn_buf_dispose(&f->failed);
	memset(f, 0, sizeof(*f));
}

/* Record the outcome of every job in @f. */
static int fetch_results(struct install *ins, struct syn__fetch *f)
{
	bool oom = false;
	size_t i;

	for (i = 0; i < ins->njobs; i++) {
		struct job *j = &ins->jobs[i];

		if (j->code) {
			if (syn_buf_printf(&f->failed, "%s%s (%s): %s", f->nfailed ? "; " : "", j->dep_id, j->filename,
					   j->error ? j->error : syn_strerror(j->code)) ||
			    json_array_append_new(f->failed_deps, json_string(j->dep_id)))
				oom = true;
			f->nfailed++;
			f->nmismatched += j->code == SYN_EMISMATCH;
			continue;
		}
		if (json_array_append_new(f->hashes, json_string(j->got)) ||
		    json_array_append_new(j->restored ? f->restored : j->downloaded ? f->downloaded : f->present,
					  json_string(j->got)) ||
		    (!j->sha && json_object_set_new(f->learned, j->dep_id, json_string(j->got))))
			oom = true;
	}
	return oom ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
}

int syn__install_fetch(struct syn_store *st, const char *name, const json_t *lock, unsigned int jobs,
		       syn_install_progress_cb progress, void *payload, struct syn__fetch *f)
{
	struct install ins = { .st = st, .mu = PTHREAD_MUTEX_INITIALIZER, .progress = progress, .payload = payload };
	json_t *entry;
	struct syn_backend *be;
	pthread_t threads[16];
	size_t i, nthreads = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	f->hashes = json_array();
	f->downloaded = json_array();
	f->restored = json_array();
	f->present = json_array();
	f->learned = json_object();
	f->failed_deps = json_array();
	if (!f->hashes || !f->downloaded || !f->restored || !f->present || !f->learned || !f->failed_deps)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	/* created now, before any worker thread may want them */
	rc = syn_store_backend(st, &be);
	if (!rc && syn_store_data_fd(st) < 0)
		rc = syn_error_code();
	if (rc)
		return rc;
	ins.jobs = calloc(json_array_size(json_object_get(lock, "resolved")) + 1, sizeof(*ins.jobs));
	if (!ins.jobs)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	json_array_foreach(json_object_get(lock, "resolved"), i, entry) {
		json_t *art = json_object_get(entry, "artifact");
		const char *sha = json_string_value(json_object_get(art, "sha256"));
		const char *url = json_string_value(json_array_get(json_object_get(json_object_get(art, "download"),
										   "urls"), 0));
		struct job *j = &ins.jobs[ins.njobs];

		if (sha && !*sha)
			sha = NULL;
		if (sha && syn_name_check_sha256(sha)) {
			rc = syn_error_prefix("%s: lock entry '%s'", name, syn_doc_str(entry, "dependency_id", "?"));
			goto out;
		}
		if (sha && syn_blob_exists(st, sha)) {
			if (json_array_append_new(f->present, json_string(sha)) ||
			    json_array_append_new(f->hashes, json_string(sha))) {
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		if (!url && !sha)
			continue;
		j->ins = &ins;
		j->dep_id = syn_doc_str(entry, "dependency_id", "?");
		j->filename = syn_doc_str(json_object_get(art, "provider"), "filename", j->dep_id);
		j->url = url;
		j->provider = syn_doc_str(json_object_get(art, "provider"), "name", NULL);
		j->sha = sha;
		j->size = sha ? json_integer_value(json_object_get(art, "size_bytes")) : 0;
		ins.njobs++;
	}
	if (!jobs)
		jobs = 4;
	download_config(&ins);
	while (nthreads < jobs && nthreads < ins.njobs && nthreads < sizeof(threads) / sizeof(threads[0])) {
		if (pthread_create(&threads[nthreads], NULL, install_worker, &ins))
			break;
		nthreads++;
	}
	if (ins.njobs && !nthreads)
		install_worker(&ins);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	rc = fetch_results(&ins, f);
out:
	for (i = 0; i < ins.njobs; i++)
		free(ins.jobs[i].error);
	free(ins.jobs);
	return rc;
}

int syn__install_learn(struct syn_store *st, const json_t *pack, json_t *lock, const struct syn__fetch *f,
		       bool *changed)
{
	json_t *entry;
	size_t i;
	int rc = 0;

	*changed = false;
	json_array_foreach(json_object_get(lock, "resolved"), i, entry) {
		json_t *art = json_object_get(entry, "artifact");
		const char *dep = syn_doc_str(entry, "dependency_id", "");
		const char *sha = json_string_value(json_object_get(art, "sha256"));
		const char *got = json_string_value(json_object_get(f->learned, dep));

		if ((!sha || !*sha) && got) {
			if (json_object_set_new(art, "sha256", json_string(got)) ||
			    json_object_set_new(art, "integrity", json_pack("{s:b}", "sha256_verified", 1)))
				return syn_error_set(SYN_ENOMEM, "out of memory");
			sha = got;
			*changed = true;
		}
		if (sha && *sha && syn_blob_exists(st, sha) &&
		    (rc = syn__install_manifest(st, sha, syn__docs_dependency(pack, dep), art)))
			return rc;
	}
	return 0;
}

int syn__install_failure(const char *name, const struct syn__fetch *f)
{
	/*
	 * A download that stopped resumes where it stopped; a file whose bytes
	 * differ from the lock's SHA-256 fails the same way every time: the
	 * source now serves another file under that name, or the lock is stale.
	 */
	if (!f->nfailed)
		return 0;
	if (f->nmismatched == f->nfailed)
		return syn_error_set(SYN_EMISMATCH, "%zu file(s) of pack '%s' failed: %s; the source serves different "
				     "bytes than the lock records: run 'synapse resolve %s' to lock the source's current "
				     "file, then 'synapse install %s'", f->nfailed, name, f->failed.ptr, name, name);
	if (f->nmismatched)
		return syn_error_set(SYN_ENETWORK, "%zu file(s) of pack '%s' failed: %s; for a file whose bytes differ "
				     "from the lock, run 'synapse resolve %s' first; then run 'synapse install %s' again, "
				     "which resumes the others", f->nfailed, name, f->failed.ptr, name, name);
	return syn_error_set(SYN_ENETWORK, "%zu file(s) of pack '%s' failed: %s; run 'synapse install %s' again to "
			     "resume", f->nfailed, name, f->failed.ptr, name);
}

/*
 * Under the store lock: the lock as it is now learns the digests the
 * downloads produced, every stored blob of the pack gets its manifest, and
 * the views showing the pack fill their holes.
 */
static int install_finish(struct syn_store *st, const char *name, const json_t *pack, const struct syn__fetch *f)
{
	json_t *lock = NULL;
	bool changed = false;
	int rc;

	rc = syn_store_lock(st, "install");
	if (rc)
		return rc;
	rc = syn__docs_lock_load(st, name, &lock);
	if (!rc)
		rc = syn__install_learn(st, pack, lock, f, &changed);
	if (!rc && changed)
		rc = syn__docs_pack_write(st, name, "lock.json", lock);
	if (!rc)
		rc = syn__install_commit(st, "install", name, SYN__CHANGED_LOCK);
	if (!rc)
		rc = syn__views_refresh(st, false, &name, 1, NULL);
	syn_store_unlock(st);
	json_decref(lock);
	return rc;
}

int syn__install_pack(struct syn_store *st, const char *name, unsigned int jobs, syn_install_progress_cb progress,
		       void *payload, json_t **report)
{
	struct syn__fetch f = { 0 };
	json_t *pack = NULL, *lock = NULL;
	int rc;

	*report = NULL;
	rc = syn__docs_pack_load(st, name, &pack);
	if (!rc)
		rc = syn__docs_lock_load(st, name, &lock);
	if (!rc && !lock)
		rc = syn_error_set(SYN_ENOTFOUND, "pack '%s' has no lock.json; run 'synapse resolve %s'", name, name);
	if (!rc)
		syn_state_prepare(st); /* while the files download */
	if (!rc)
		rc = syn__install_fetch(st, name, lock, jobs, progress, payload, &f);
	/* what succeeded is recorded even when something failed */
	if (!rc)
		rc = install_finish(st, name, pack, &f);
	if (!rc)
		rc = syn__install_failure(name, &f);
	if (!rc)
		*report = json_pack("{s:s, s:i, s:O, s:O, s:O, s:O}", "pack", name, "blobs_installed",
				    (json_int_t)json_array_size(f.hashes), "hashes", f.hashes, "downloaded", f.downloaded,
				    "restored", f.restored, "already_present", f.present);
	if (!rc && !*report)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	syn__install_fetch_dispose(&f);
	json_decref(pack);
	json_decref(lock);
	return rc;
}
