/*
 * A fake Civitai for tests (see fake_civitai.h).
 *
 * One libmicrohttpd daemon, a thread per connection so that a stalled
 * transfer never holds up another request. Every piece of shared state
 * (documents, bodies, faults, the request log) sits behind one mutex; file
 * bodies are created once per file id and kept until the fake stops, so a
 * transfer in progress can read them without the lock.
 */
#include "fake_civitai.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#define FAKE_LOG_MAX 4096
#define FAKE_STALL_BYTES 16
#define FAKE_STEP_MS 10
/* a paced response goes out in blocks this large */
#define FAKE_PACED_BLOCK 65536
#define FAKE_BLOCK (32 * 1024)
#define FAKE_CIVITAI "https://civitai.com"

struct fake_body {
	long long file_id;
	unsigned char *data;
	size_t len;
	char sha[65]; /* lowercase hex */
};

struct fake_doc {
	long long id;
	long long model_id; /* versions: the model they came with, -1 when added on their own */
	bool hidden;        /* models: left out of list answers */
	json_t *doc;
};

struct fake_rule {
	char *prefix;
	enum fake_fault fault;
	int status;
	int stall_ms;
	int skip;  /* matching requests let through before the fault applies */
	int times;
};

/* What a request matched among the faults (a copy, taken under the lock). */
struct fake_hit {
	enum fake_fault fault;
	int status;
	int stall_ms;
};

struct fake_civitai {
	struct MHD_Daemon *daemon;
	unsigned int port;
	char url[64];
	char cdn[64];
	size_t file_size;
	atomic_ullong cdn_rate; /* bytes per second per /cdn/ response, 0: as fast as it goes */
	atomic_bool stopping;
	pthread_mutex_t lock;

	struct fake_body **bodies;
	size_t nbodies, cap_bodies;
	struct fake_doc *models;
	size_t nmodels, cap_models;
	struct fake_doc *versions;
	size_t nversions, cap_versions;
	char **images; /* served paths, "/images/<n>-<name>" */
	size_t nimages, cap_images;
	struct fake_rule *rules;
	size_t nrules, cap_rules;

	struct fake_request *log;
	size_t nlog, cap_log; /* entries stored (at most FAKE_LOG_MAX) */
	uint64_t log_base; /* sequence number of log[0] */
	uint64_t next_seq;

	char *token;
	uint64_t sig_counter;
};

/* ---- small helpers --------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;
	char *big;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sb_put(b, small, (size_t)n);
		return;
	}
	big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_put(b, big, (size_t)n);
	free(big);
}

/* The built string (caller frees), or NULL when memory ran out. */
static char *sb_detach(struct sbuf *b)
{
	char *p;

	if (b->oom) {
		free(b->p);
		return NULL;
	}
	if (!b->p)
		return strdup("");
	p = b->p;
	b->p = NULL;
	return p;
}

static int grow(void *ptrp, size_t *cap, size_t need, size_t elem)
{
	void **pp = ptrp;
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*pp, ncap * elem);
	if (!p)
		return -1;
	*pp = p;
	*cap = ncap;
	return 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A whole non-negative decimal number; false on anything else. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool parse_id(const char *s, long long *out)
{
	uint64_t v;

	if (!parse_u64(s, strlen(s), &v) || v > (uint64_t)LLONG_MAX)
		return false;
	*out = (long long)v;
	return true;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Byte i of a stream that depends only on @seed. */
static void fill_bytes(unsigned char *out, size_t len, uint64_t seed)
{
	uint64_t key = splitmix64(seed), w = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			w = splitmix64(key + i / 8);
		out[i] = (unsigned char)(w >> (8 * (i % 8)));
	}
}

static void lock(const struct fake_civitai *f)
{
	/* the fake itself is never const; the header only promises not to change what it serves */
	pthread_mutex_lock((pthread_mutex_t *)&f->lock);
}

static void unlock(const struct fake_civitai *f)
{
	pthread_mutex_unlock((pthread_mutex_t *)&f->lock);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- bodies ---------------------------------------------------------------- */

static struct fake_body *body_find(const struct fake_civitai *f, long long file_id)
{
	size_t i;

	for (i = 0; i < f->nbodies; i++)
		if (f->bodies[i]->file_id == file_id)
			return f->bodies[i];
	return NULL;
}

/* The body of @file_id, made on first use. Lock held. */
static struct fake_body *body_get(struct fake_civitai *f, long long file_id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	struct fake_body *b = body_find(f, file_id);

	if (b)
		return b;
	if (grow(&f->bodies, &f->cap_bodies, f->nbodies + 1, sizeof(*f->bodies)) < 0)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->file_id = file_id;
	b->len = f->file_size ? f->file_size : 64 * 1024 + (size_t)((unsigned long long)file_id % 4096);
	b->data = malloc(b->len ? b->len : 1);
	if (!b->data)
		goto out_free;
	fill_bytes(b->data, b->len, (uint64_t)file_id);
	if (EVP_Digest(b->data, b->len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		goto out_free;
	for (i = 0; i < 32; i++) {
		b->sha[2 * i] = hex[md[i] >> 4];
		b->sha[2 * i + 1] = hex[md[i] & 15];
	}
	b->sha[64] = '\0';
	f->bodies[f->nbodies++] = b;
	return b;

out_free:
	free(b->data);
	free(b);
	return NULL;
}

/* ---- document processing --------------------------------------------------- */

/* @url with its scheme and host replaced by the fake's base URL. */
static char *rebase_url(const struct fake_civitai *f, const char *url)
{
	struct sbuf b = { 0 };
	const char *p = strstr(url, "://");
	const char *rest = url;

	if (p) {
		rest = strchr(p + 3, '/');
		if (!rest)
			rest = "/";
	} else if (url[0] != '/') {
		return strdup(url);
	}
	sb_puts(&b, f->url);
	sb_puts(&b, rest);
	return sb_detach(&b);
}

static int process_files(struct fake_civitai *f, json_t *files)
{
	json_t *file, *hashes, *dl;
	struct fake_body *b;
	char upper[65];
	size_t i, k;
	char *u;

	json_array_foreach(files, i, file) {
		if (!json_is_object(file) || !json_is_integer(json_object_get(file, "id")))
			continue;
		b = body_get(f, json_integer_value(json_object_get(file, "id")));
		if (!b)
			return -1;
		for (k = 0; k < 65; k++)
			upper[k] = (b->sha[k] >= 'a' && b->sha[k] <= 'f') ? (char)(b->sha[k] - 'a' + 'A') : b->sha[k];
		if (json_object_set_new(file, "sizeKB", json_real((double)b->len / 1024.0)) < 0)
			return -1;
		hashes = json_object_get(file, "hashes");
		if (!json_is_object(hashes)) {
			hashes = json_object();
			if (json_object_set_new(file, "hashes", hashes) < 0)
				return -1;
		}
		if (json_object_set_new(hashes, "SHA256", json_string(upper)) < 0 ||
		    json_object_set_new(hashes, "AutoV2", json_stringn(upper, 10)) < 0)
			return -1;
		dl = json_object_get(file, "downloadUrl");
		if (json_is_string(dl)) {
			u = rebase_url(f, json_string_value(dl));
			if (!u || json_object_set_new(file, "downloadUrl", json_string(u)) < 0) {
				free(u);
				return -1;
			}
			free(u);
		}
	}
	return 0;
}

static int process_images(struct fake_civitai *f, json_t *images)
{
	char name[96], *path, *full;
	struct sbuf b;
	json_t *img, *url;
	const char *u, *base;
	size_t i, end, k, n;

	json_array_foreach(images, i, img) {
		url = json_object_get(img, "url");
		if (!json_is_string(url))
			continue;
		u = json_string_value(url);
		end = strcspn(u, "?#");
		base = u;
		for (k = 0; k < end; k++)
			if (u[k] == '/')
				base = u + k + 1;
		n = 0;
		for (; base < u + end && n + 1 < sizeof(name); base++) {
			char c = *base;
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				  c == '.' || c == '-' || c == '_';
			name[n++] = ok ? c : '_';
		}
		name[n] = '\0';
		if (n == 0)
			copy_str(name, sizeof(name), "image.jpeg");
		if (grow(&f->images, &f->cap_images, f->nimages + 1, sizeof(*f->images)) < 0)
			return -1;
		memset(&b, 0, sizeof(b));
		sb_printf(&b, "/images/%zu-%s", f->nimages, name);
		path = sb_detach(&b);
		if (!path)
			return -1;
		f->images[f->nimages++] = path;
		memset(&b, 0, sizeof(b));
		sb_puts(&b, f->url);
		sb_puts(&b, path);
		full = sb_detach(&b);
		if (!full || json_object_set_new(img, "url", json_string(full)) < 0) {
			free(full);
			return -1;
		}
		free(full);
	}
	return 0;
}

/* A new string with every "https://civitai.com" in @s replaced, or NULL when there is none. */
static json_t *replaced(const struct fake_civitai *f, const char *s, size_t n)
{
	static const size_t plen = sizeof(FAKE_CIVITAI) - 1;
	struct sbuf b = { 0 };
	const char *p = s, *hit;
	json_t *out;

	if (!memmem(s, n, FAKE_CIVITAI, plen))
		return NULL;
	while ((hit = memmem(p, n - (size_t)(p - s), FAKE_CIVITAI, plen)) != NULL) {
		sb_put(&b, p, (size_t)(hit - p));
		sb_puts(&b, f->url);
		p = hit + plen;
	}
	sb_put(&b, p, n - (size_t)(p - s));
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	out = json_stringn(b.p ? b.p : "", b.len);
	free(b.p);
	return out;
}

static void rebase_strings(const struct fake_civitai *f, json_t *j)
{
	const char *key;
	json_t *v, *ns;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, key, v) {
			if (json_is_string(v)) {
				ns = replaced(f, json_string_value(v), json_string_length(v));
				if (ns)
					json_object_set_new(j, key, ns);
			} else {
				rebase_strings(f, v);
			}
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			if (json_is_string(v)) {
				ns = replaced(f, json_string_value(v), json_string_length(v));
				if (ns)
					json_array_set_new(j, i, ns);
			} else {
				rebase_strings(f, v);
			}
		}
	}
}

static int process_version(struct fake_civitai *f, json_t *v)
{
	json_t *files = json_object_get(v, "files"), *images = json_object_get(v, "images");

	if (json_is_array(files) && process_files(f, files) < 0)
		return -1;
	if (json_is_array(images) && process_images(f, images) < 0)
		return -1;
	return 0;
}

static struct fake_doc *doc_find(struct fake_doc *docs, size_t n, long long id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (docs[i].id == id)
			return &docs[i];
	return NULL;
}

/* Store @doc (stolen) as version @id, replacing any earlier one. Lock held. */
static int version_put(struct fake_civitai *f, long long id, long long model_id, json_t *doc)
{
	struct fake_doc *d = doc_find(f->versions, f->nversions, id);

	if (!d) {
		if (grow(&f->versions, &f->cap_versions, f->nversions + 1, sizeof(*f->versions)) < 0) {
			json_decref(doc);
			return -1;
		}
		d = &f->versions[f->nversions++];
		d->doc = NULL;
	}
	json_decref(d->doc);
	d->id = id;
	d->model_id = model_id;
	d->doc = doc;
	return 0;
}

static int add_version_locked(struct fake_civitai *f, const json_t *version)
{
	json_t *v;

	if (!json_is_integer(json_object_get(version, "id")))
		return -1;
	v = json_deep_copy(version);
	if (!v)
		return -1;
	if (process_version(f, v) < 0) {
		json_decref(v);
		return -1;
	}
	rebase_strings(f, v);
	return version_put(f, json_integer_value(json_object_get(v, "id")), -1, v);
}

static int add_model_locked(struct fake_civitai *f, const json_t *model)
{
	static const char *const summary_keys[] = { "name", "type", "nsfw", "poi", "mode" };
	json_t *m, *versions, *v, *vc, *summary, *x;
	struct fake_doc *d;
	long long id;
	size_t i, k;

	if (!json_is_integer(json_object_get(model, "id")) || !json_is_array(json_object_get(model, "modelVersions")))
		return -1;
	id = json_integer_value(json_object_get(model, "id"));
	m = json_deep_copy(model);
	if (!m)
		return -1;
	versions = json_object_get(m, "modelVersions");
	json_array_foreach(versions, i, v) {
		if (process_version(f, v) < 0)
			goto out_free;
	}
	rebase_strings(f, m);

	/* versions that came with an earlier copy of this model go with it */
	for (i = 0; i < f->nversions;) {
		if (f->versions[i].model_id == id) {
			json_decref(f->versions[i].doc);
			memmove(&f->versions[i], &f->versions[i + 1], (f->nversions - i - 1) * sizeof(*f->versions));
			f->nversions--;
		} else {
			i++;
		}
	}
	json_array_foreach(versions, i, v) {
		if (!json_is_integer(json_object_get(v, "id")))
			continue;
		vc = json_deep_copy(v);
		summary = json_object();
		if (!vc || !summary) {
			json_decref(vc);
			json_decref(summary);
			goto out_free;
		}
		for (k = 0; k < sizeof(summary_keys) / sizeof(summary_keys[0]); k++) {
			x = json_object_get(m, summary_keys[k]);
			if (x)
				json_object_set(summary, summary_keys[k], x);
		}
		json_object_set_new(vc, "modelId", json_integer(id));
		json_object_set_new(vc, "model", summary);
		if (version_put(f, json_integer_value(json_object_get(vc, "id")), id, vc) < 0)
			goto out_free;
	}

	d = doc_find(f->models, f->nmodels, id);
	if (!d) {
		if (grow(&f->models, &f->cap_models, f->nmodels + 1, sizeof(*f->models)) < 0)
			goto out_free;
		d = &f->models[f->nmodels++];
		d->doc = NULL;
		d->hidden = false;
	}
	json_decref(d->doc);
	d->id = id;
	d->model_id = id;
	d->doc = m;
	return 0;

out_free:
	json_decref(m);
	return -1;
}

static int name_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return e->d_name[0] != '.' && n > 5 && strcmp(e->d_name + n - 5, ".json") == 0;
}

static int load_dir(struct fake_civitai *f, const char *dir)
{
	struct dirent **names = NULL;
	char path[PATH_MAX];
	json_error_t err;
	json_t *doc, *items, *item;
	int n, i, ret = 0, w;
	size_t k;

	n = scandir(dir, &names, name_filter, alphasort);
	if (n < 0) {
		fprintf(stderr, "fake_civitai: cannot read '%s'\n", dir);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ret < 0)
			continue;
		w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (w < 0 || (size_t)w >= sizeof(path)) {
			ret = -1;
			continue;
		}
		doc = json_load_file(path, 0, &err);
		if (!doc) {
			fprintf(stderr, "fake_civitai: %s:%d: %s\n", path, err.line, err.text);
			ret = -1;
			continue;
		}
		items = json_object_get(doc, "items");
		if (json_is_array(json_object_get(doc, "modelVersions"))) {
			ret = add_model_locked(f, doc);
		} else if (json_object_get(doc, "modelId") && json_is_array(json_object_get(doc, "files"))) {
			ret = add_version_locked(f, doc);
		} else if (json_is_array(items)) {
			json_array_foreach(items, k, item) {
				if (ret == 0 && json_is_array(json_object_get(item, "modelVersions")))
					ret = add_model_locked(f, item);
			}
		}
		if (ret < 0)
			fprintf(stderr, "fake_civitai: cannot load '%s'\n", path);
		json_decref(doc);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

/* ---- the request log and faults ------------------------------------------- */

static struct fake_request *log_entry(struct fake_civitai *f, uint64_t seq)
{
	if (seq < f->log_base || seq - f->log_base >= f->nlog)
		return NULL;
	return &f->log[seq - f->log_base];
}

static void log_status(struct fake_civitai *f, uint64_t seq, int status)
{
	struct fake_request *r;

	lock(f);
	r = log_entry(f, seq);
	if (r)
		r->status = status;
	unlock(f);
}

static void log_bytes(struct fake_civitai *f, uint64_t seq, uint64_t n)
{
	struct fake_request *r;

	lock(f);
	r = log_entry(f, seq);
	if (r)
		r->body_bytes += n;
	unlock(f);
}

struct query_ctx {
	char *buf;
	size_t cap, len;
};

static void query_put(struct query_ctx *q, const char *s)
{
	size_t n = strlen(s);

	if (q->len + 1 >= q->cap)
		return;
	if (n > q->cap - q->len - 1)
		n = q->cap - q->len - 1;
	memcpy(q->buf + q->len, s, n);
	q->len += n;
	q->buf[q->len] = '\0';
}

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_ctx *q = cls;

	(void)kind;
	if (q->len)
		query_put(q, "&");
	query_put(q, key);
	if (value) {
		query_put(q, "=");
		query_put(q, value);
	}
	return MHD_YES;
}

/* ---- responses ------------------------------------------------------------- */

struct reader {
	struct fake_civitai *f;
	uint64_t seq;
	const unsigned char *data;
	unsigned char *owned;
	uint64_t len;
	struct fake_hit hit;
	uint64_t rate;          /* bytes per second for this response, 0: unpaced */
	struct timespec start;  /* when its first byte went */
};

/* Hold a paced response back until @pos bytes are within its rate. */
static void reader_pace(struct reader *r, uint64_t pos)
{
	struct timespec now;
	double due, spent;

	if (!r->rate)
		return;
	if (!pos)
		clock_gettime(CLOCK_MONOTONIC, &r->start);
	due = (double)pos / (double)r->rate;
	for (;;) {
		struct timespec ts;
		double wait;

		clock_gettime(CLOCK_MONOTONIC, &now);
		spent = (double)(now.tv_sec - r->start.tv_sec) + (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
		if (spent >= due || atomic_load(&r->f->stopping))
			return;
		/* at most a step at a time, so that stopping is noticed */
		wait = due - spent < FAKE_STEP_MS / 1000.0 ? due - spent : FAKE_STEP_MS / 1000.0;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(wait * 1e9);
		nanosleep(&ts, NULL);
	}
}

static ssize_t reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct reader *r = cls;
	uint64_t limit = r->len, n;
	long waited;
	size_t i;

	if (r->hit.fault == FAKE_FAULT_CUT)
		limit = r->len / 2;
	else if (r->hit.fault == FAKE_FAULT_STALL)
		limit = r->len / 2 < FAKE_STALL_BYTES ? r->len / 2 : FAKE_STALL_BYTES;
	if (pos >= limit) {
		if (r->hit.fault == FAKE_FAULT_STALL) {
			for (waited = 0; waited < r->hit.stall_ms && !atomic_load(&r->f->stopping);
			     waited += FAKE_STEP_MS)
				sleep_ms(FAKE_STEP_MS);
		}
		if (r->hit.fault == FAKE_FAULT_CUT || r->hit.fault == FAKE_FAULT_STALL)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = limit - pos;
	if (n > max)
		n = max;
	if (r->rate && n > FAKE_PACED_BLOCK)
		n = FAKE_PACED_BLOCK;
	reader_pace(r, pos);
	memcpy(buf, r->data + pos, (size_t)n);
	if (r->hit.fault == FAKE_FAULT_WRONG_BYTES)
		for (i = 0; i < n; i++)
			buf[i] = (char)(buf[i] ^ 0x5a);
	log_bytes(r->f, r->seq, n);
	return (ssize_t)n;
}

static void reader_free(void *cls)
{
	struct reader *r = cls;

	free(r->owned);
	free(r);
}

/*
 * A response whose body is @len bytes at @data (borrowed) or @owned (taken),
 * sent through the content reader so that faults can cut, spoil or stall it.
 */
static struct MHD_Response *body_response_paced(struct fake_civitai *f, uint64_t seq, const unsigned char *data,
						unsigned char *owned, uint64_t len, const struct fake_hit *hit,
						uint64_t rate)
{
	struct MHD_Response *resp;
	struct reader *r;

	r = calloc(1, sizeof(*r));
	if (!r) {
		free(owned);
		return NULL;
	}
	r->f = f;
	r->seq = seq;
	r->owned = owned;
	r->data = owned ? owned : data;
	r->len = len;
	r->rate = rate;
	if (hit)
		r->hit = *hit;
	resp = MHD_create_response_from_callback(len, FAKE_BLOCK, reader_cb, r, reader_free);
	if (!resp)
		reader_free(r);
	return resp;
}

static struct MHD_Response *body_response(struct fake_civitai *f, uint64_t seq, const unsigned char *data,
					  unsigned char *owned, uint64_t len, const struct fake_hit *hit)
{
	return body_response_paced(f, seq, data, owned, len, hit, 0);
}

static enum MHD_Result queue(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq, int status,
			     struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	log_status(f, seq, status);
	ret = MHD_queue_response(c, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Answer @status with @text (taken), of type @ctype. */
static enum MHD_Result reply_text(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				  const struct fake_hit *hit, int status, const char *ctype, char *text, size_t len)
{
	struct MHD_Response *resp;

	if (!text)
		return MHD_NO;
	resp = body_response(f, seq, NULL, (unsigned char *)text, len, hit);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	return queue(f, c, seq, status, resp);
}

/* Answer @status with @j (stolen) as JSON. */
static enum MHD_Result reply_json(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				  const struct fake_hit *hit, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return reply_text(f, c, seq, hit, status, "application/json", text, text ? strlen(text) : 0);
}

static enum MHD_Result reply_error(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				   const struct fake_hit *hit, int status, const char *msg)
{
	return reply_json(f, c, seq, hit, status, json_pack("{s:s}", "error", msg));
}

/* Answer with @d's document, or 404 naming @what and @id. Called with the lock held; releases it. */
static enum MHD_Result reply_doc(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				 const struct fake_hit *hit, const struct fake_doc *d, const char *what,
				 const char *id)
{
	char msg[128], *text;

	if (!d) {
		unlock(f);
		snprintf(msg, sizeof(msg), "No %s with id %s", what, id);
		return reply_error(f, c, seq, hit, 404, msg);
	}
	text = json_dumps(d->doc, JSON_COMPACT);
	unlock(f);
	return reply_text(f, c, seq, hit, 200, "application/json", text, text ? strlen(text) : 0);
}

static json_t *status_body(int status)
{
	char msg[32];

	switch (status) {
	case 401:
		return json_pack("{s:s,s:s}", "error", "Unauthorized", "message",
				 "The creator of this asset requires you to be logged in to download it");
	case 403:
		return json_pack("{s:s,s:s}", "error", "Early Access", "message",
				 "This asset is in Early Access. You can use Buzz access this asset early.");
	case 404:
		return json_pack("{s:s}", "error", "File not found");
	case 410:
		return json_pack("{s:s}", "error", "Model archived, not available for download");
	case 429:
		return json_pack("{s:s}", "error", "Too many requests");
	case 500:
		return json_pack("{s:s}", "error", "Internal server error");
	default:
		snprintf(msg, sizeof(msg), "status %d", status);
		return json_pack("{s:s}", "error", msg);
	}
}

/* ---- routes ---------------------------------------------------------------- */

static bool type_listed(const char *types, const char *type)
{
	size_t n = strlen(type);
	const char *p = types;

	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == n && strncasecmp(p, type, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Whether @m passes the list filters (types, query); hidden models never do. */
static bool listed(const struct fake_doc *m, const char *types, const char *query)
{
	const char *s;

	if (m->hidden)
		return false;
	s = json_string_value(json_object_get(m->doc, "type"));
	if (types && (!s || !type_listed(types, s)))
		return false;
	s = json_string_value(json_object_get(m->doc, "name"));
	return !query || (s && strcasestr(s, query));
}

/*
 * Parse "ids=1,2,3" into a new array (caller frees) of *@n ids; NULL with
 * *@n 0 when @s is malformed or memory ran out.
 */
static long long *parse_ids(const char *s, size_t *n)
{
	long long *ids = NULL, id;
	size_t cap = 0;
	char one[32];

	*n = 0;
	while (*s) {
		size_t len = strcspn(s, ",");

		if (!len || len >= sizeof(one))
			goto fail;
		memcpy(one, s, len);
		one[len] = '\0';
		if (!parse_id(one, &id) || grow(&ids, &cap, *n + 1, sizeof(*ids)) < 0)
			goto fail;
		ids[(*n)++] = id;
		s += len;
		if (*s == ',' && !*++s)
			goto fail;
	}
	if (*n)
		return ids;
fail:
	free(ids);
	*n = 0;
	return NULL;
}

static enum MHD_Result route_list(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				  const struct fake_hit *hit)
{
	const char *types = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "types");
	const char *query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "query");
	const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	const char *ids_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ids");
	const struct fake_doc *d;
	json_t *items = json_array(), *out;
	long long *ids = NULL;
	uint64_t limit = 100;
	size_t i, nids = 0;
	char *text;

	if (limit_s && (!parse_u64(limit_s, strlen(limit_s), &limit) || limit > 100))
		limit = 100;
	if (ids_s && !(ids = parse_ids(ids_s, &nids))) {
		json_decref(items);
		return reply_error(f, c, seq, hit, 400, "ids: expected positive whole numbers separated by commas");
	}
	lock(f);
	if (ids) {
		/* the models asked for that exist, in the order asked */
		for (i = 0; items && i < nids && json_array_size(items) < limit; i++) {
			d = doc_find(f->models, f->nmodels, ids[i]);
			if (d && listed(d, types, query))
				json_array_append(items, d->doc);
		}
	} else {
		for (i = 0; items && i < f->nmodels && json_array_size(items) < limit; i++)
			if (listed(&f->models[i], types, query))
				json_array_append(items, f->models[i].doc);
	}
	free(ids);
	out = json_pack("{s:o,s:{s:I,s:I,s:I,s:I}}", "items", items, "metadata", "totalItems",
			(json_int_t)json_array_size(items), "currentPage", (json_int_t)1, "pageSize",
			(json_int_t)limit, "totalPages", (json_int_t)1);
	text = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	unlock(f);
	return reply_text(f, c, seq, hit, 200, "application/json", text, text ? strlen(text) : 0);
}

static const struct fake_doc *version_by_hash(const struct fake_civitai *f, const char *hash)
{
	json_t *file, *v;
	const char *key;
	size_t i, k;

	for (i = 0; i < f->nversions; i++) {
		json_array_foreach(json_object_get(f->versions[i].doc, "files"), k, file) {
			json_object_foreach(json_object_get(file, "hashes"), key, v) {
				if (json_is_string(v) && strcasecmp(json_string_value(v), hash) == 0)
					return &f->versions[i];
			}
		}
	}
	return NULL;
}

static bool str_is(json_t *j, const char *want)
{
	return json_is_string(j) && strcasecmp(json_string_value(j), want) == 0;
}

static json_t *pick_file(json_t *files, struct MHD_Connection *c)
{
	const char *fid = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fileId");
	const char *type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	const char *format = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
	const char *size = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "size");
	const char *fp = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fp");
	json_t *file, *meta, *best = NULL;
	long long want = -1;
	size_t i;

	if (fid && !parse_id(fid, &want))
		return NULL;
	json_array_foreach(files, i, file) {
		meta = json_object_get(file, "metadata");
		if (fid && json_integer_value(json_object_get(file, "id")) != want)
			continue;
		if ((type && !str_is(json_object_get(file, "type"), type)) ||
		    (format && !str_is(json_object_get(meta, "format"), format)) ||
		    (size && !str_is(json_object_get(meta, "size"), size)) ||
		    (fp && !str_is(json_object_get(meta, "fp"), fp)))
			continue;
		if (json_is_true(json_object_get(file, "primary")))
			return file;
		if (!best)
			best = file;
	}
	return best;
}

static bool token_ok(const struct fake_civitai *f, struct MHD_Connection *c)
{
	const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!f->token)
		return true;
	if (q && strcmp(q, f->token) == 0)
		return true;
	return a && strncmp(a, "Bearer ", 7) == 0 && strcmp(a + 7, f->token) == 0;
}

static void url_escape(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3];

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			sb_put(b, s, 1);
		} else {
			esc[0] = '%';
			esc[1] = hex[ch >> 4];
			esc[2] = hex[ch & 15];
			sb_put(b, esc, 3);
		}
	}
}

static enum MHD_Result route_download(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				      const struct fake_hit *hit, const char *vid_s)
{
	struct MHD_Response *resp;
	struct fake_doc *v;
	struct sbuf b = { 0 };
	json_t *file;
	long long vid, fid;
	char *loc;

	lock(f);
	v = parse_id(vid_s, &vid) ? doc_find(f->versions, f->nversions, vid) : NULL;
	if (v && !token_ok(f, c)) {
		unlock(f);
		return reply_json(f, c, seq, hit, 401, status_body(401));
	}
	file = v ? pick_file(json_object_get(v->doc, "files"), c) : NULL;
	if (!file || !json_is_integer(json_object_get(file, "id"))) {
		unlock(f);
		return reply_error(f, c, seq, hit, 404, "File not found");
	}
	fid = json_integer_value(json_object_get(file, "id"));
	sb_printf(&b, "%s/cdn/%lld/", f->cdn, fid);
	url_escape(&b, json_string_value(json_object_get(file, "name")) ? json_string_value(json_object_get(file, "name"))
									 : "file");
	sb_printf(&b, "?sig=%016llx", (unsigned long long)splitmix64(++f->sig_counter ^ (uint64_t)fid));
	unlock(f);
	loc = sb_detach(&b);
	if (!loc)
		return MHD_NO;
	resp = body_response(f, seq, NULL, NULL, 0, hit);
	if (resp) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	free(loc);
	return queue(f, c, seq, 307, resp);
}

/* 1: a single range [*start, *end]; 0: none we honour (send it all); -1: not satisfiable. */
static int parse_range(const char *h, uint64_t total, uint64_t *start, uint64_t *end)
{
	const char *p, *dash;
	uint64_t a, z;

	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	p = h + 6;
	dash = strchr(p, '-');
	if (!dash)
		return 0;
	if (dash == p) {
		if (!parse_u64(dash + 1, strlen(dash + 1), &z))
			return 0;
		if (z == 0 || total == 0)
			return -1;
		*start = z >= total ? 0 : total - z;
		*end = total - 1;
		return 1;
	}
	if (!parse_u64(p, (size_t)(dash - p), &a))
		return 0;
	if (dash[1] == '\0') {
		z = UINT64_MAX;
	} else if (!parse_u64(dash + 1, strlen(dash + 1), &z) || z < a) {
		return 0;
	}
	if (a >= total)
		return -1;
	*start = a;
	*end = z >= total ? total - 1 : z;
	return 1;
}

static char *file_name(const struct fake_civitai *f, long long fid)
{
	json_t *file;
	const char *name;
	size_t i, k;

	for (i = 0; i < f->nversions; i++) {
		json_array_foreach(json_object_get(f->versions[i].doc, "files"), k, file) {
			name = json_string_value(json_object_get(file, "name"));
			if (name && json_integer_value(json_object_get(file, "id")) == fid)
				return strdup(name);
		}
	}
	return NULL;
}

static enum MHD_Result route_cdn(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				 const struct fake_hit *hit, const char *rest)
{
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	struct MHD_Response *resp;
	struct fake_body *body = NULL;
	struct sbuf disp = { 0 };
	char cr[96], *name = NULL, *d;
	const char *p;
	uint64_t start = 0, end = 0, fid_u;
	size_t idlen = strcspn(rest, "/");
	int r, status = 200;

	lock(f);
	if (parse_u64(rest, idlen, &fid_u) && fid_u <= (uint64_t)LLONG_MAX) {
		body = body_find(f, (long long)fid_u);
		name = file_name(f, (long long)fid_u);
	}
	unlock(f);
	if (!body) {
		free(name);
		return reply_error(f, c, seq, hit, 404, "File not found");
	}

	r = hit->fault == FAKE_FAULT_IGNORE_RANGE ? 0 : parse_range(range, body->len, &start, &end);
	if (r < 0) {
		free(name);
		snprintf(cr, sizeof(cr), "bytes */%zu", body->len);
		resp = body_response(f, seq, NULL, NULL, 0, NULL);
		if (resp)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		return queue(f, c, seq, 416, resp);
	}
	if (r == 0) {
		start = 0;
		end = body->len ? body->len - 1 : 0;
	} else {
		status = 206;
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%zu", (unsigned long long)start, (unsigned long long)end,
			 body->len);
	}

	/* the name as given, quoted; only what would break the header is escaped */
	sb_puts(&disp, "attachment; filename=\"");
	for (p = name ? name : "file"; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_put(&disp, "\\", 1);
		sb_put(&disp, (*p == '\r' || *p == '\n') ? "_" : p, 1);
	}
	sb_puts(&disp, "\"");
	free(name);
	d = sb_detach(&disp);
	if (!d)
		return MHD_NO;

	/* paced like a CDN capping each connection */
	resp = body_response_paced(f, seq, body->data + start, NULL, body->len ? end - start + 1 : 0, hit,
				   atomic_load(&f->cdn_rate));
	if (resp) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, d);
		if (status == 206)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	free(d);
	return queue(f, c, seq, status, resp);
}

static enum MHD_Result route_image(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				   const struct fake_hit *hit, const char *path)
{
	unsigned char *img;
	bool known = false;
	size_t i, n = 0, len;

	lock(f);
	for (i = 0; i < f->nimages && !known; i++) {
		if (strcmp(f->images[i], path) == 0) {
			known = true;
			n = i;
		}
	}
	unlock(f);
	if (!known)
		return reply_error(f, c, seq, hit, 404, "Not found");
	len = 1024 + n % 256;
	img = malloc(len);
	if (!img)
		return MHD_NO;
	/* a JPEG's start and end markers around deterministic noise */
	fill_bytes(img, len, 0x696d6167ULL << 20 | n);
	img[0] = 0xff;
	img[1] = 0xd8;
	img[2] = 0xff;
	img[3] = 0xe0;
	img[len - 2] = 0xff;
	img[len - 1] = 0xd9;
	return reply_text(f, c, seq, hit, 200, "image/jpeg", (char *)img, len);
}

/* The body of a POST, gathered while it arrives. */
#define POST_MAX ((size_t)1 << 20)
struct post_body {
	char *data;
	size_t len;
	json_t *doc; /* the body parsed, once complete */
};

static void post_body_free(struct post_body *pb)
{
	if (!pb)
		return;
	json_decref(pb->doc);
	free(pb->data);
	free(pb);
}

/*
 * POST /api/v1/model-versions/by-hash: a JSON array of at most 100 full
 * SHA-256 digests; the answer lists the version of each digest it knows,
 * once per version, and drops the others.
 */
static enum MHD_Result route_by_hash(struct fake_civitai *f, struct MHD_Connection *c, uint64_t seq,
				     struct post_body *pb)
{
	json_t *answer, *h;
	char *text;
	size_t i, k;

	if (!json_is_array(pb->doc) || json_array_size(pb->doc) > 100) {
		post_body_free(pb);
		return reply_error(f, c, seq, NULL, 400, "Expected an array of at most 100 hashes");
	}
	answer = json_array();
	lock(f);
	json_array_foreach(pb->doc, i, h) {
		const struct fake_doc *d = json_is_string(h) && json_string_length(h) == 64
						   ? version_by_hash(f, json_string_value(h)) : NULL;

		for (k = 0; d && k < json_array_size(answer); k++)
			if (json_equal(json_array_get(answer, k), d->doc))
				break;
		if (d && k == json_array_size(answer))
			json_array_append(answer, d->doc);
	}
	text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
	unlock(f);
	json_decref(answer);
	post_body_free(pb);
	return reply_text(f, c, seq, NULL, 200, "application/json", text, text ? strlen(text) : 0);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	static const char html[] = "<!DOCTYPE html><html><body>Please log in</body></html>";
	static int marker;
	struct fake_civitai *f = cls;
	struct post_body *pb = NULL;
	struct fake_request rec;
	struct fake_hit hit = { FAKE_FAULT_NONE, 0, 0 };
	struct query_ctx q;
	const struct fake_doc *d;
	uint64_t seq;
	size_t i;
	long long id;
	char *text;

	(void)version;
	if (*con_cls == NULL) {
		/* a POST keeps its body (a by-hash request is read); anything else is dropped */
		if (strcmp(method, "POST") == 0 && (pb = calloc(1, sizeof(*pb))))
			*con_cls = pb;
		else
			*con_cls = &marker;
		return MHD_YES;
	}
	if (*con_cls != &marker)
		pb = *con_cls;
	if (*upload_data_size) {
		if (pb && pb->len + *upload_data_size <= POST_MAX) {
			char *grown = realloc(pb->data, pb->len + *upload_data_size + 1);

			if (grown) {
				memcpy(grown + pb->len, upload_data, *upload_data_size);
				pb->len += *upload_data_size;
				grown[pb->len] = '\0';
				pb->data = grown;
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	*con_cls = &marker;

	memset(&rec, 0, sizeof(rec));
	copy_str(rec.method, sizeof(rec.method), method);
	copy_str(rec.host, sizeof(rec.host), MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST));
	copy_str(rec.path, sizeof(rec.path), url);
	q.buf = rec.query;
	q.cap = sizeof(rec.query);
	q.len = 0;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_iter, &q);
	copy_str(rec.authorization, sizeof(rec.authorization),
		 MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
	copy_str(rec.range, sizeof(rec.range), MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE));
	rec.post_items = -1;
	if (pb) {
		json_t *posted = pb->data ? json_loadb(pb->data, pb->len, 0, NULL) : NULL;

		rec.post_items = json_is_array(posted) ? (int)json_array_size(posted) : -1;
		pb->doc = posted;
	}

	lock(f);
	seq = f->next_seq++;
	if (f->nlog < FAKE_LOG_MAX && grow(&f->log, &f->cap_log, f->nlog + 1, sizeof(*f->log)) == 0)
		f->log[f->nlog++] = rec;
	for (i = 0; i < f->nrules; i++) {
		struct fake_rule *r = &f->rules[i];

		if (r->times != 0 && strncmp(url, r->prefix, strlen(r->prefix)) == 0) {
			if (r->skip > 0) {
				r->skip--;
				continue;
			}
			if (r->times > 0)
				r->times--;
			hit.fault = r->fault;
			hit.status = r->status;
			hit.stall_ms = r->stall_ms;
			break;
		}
	}
	unlock(f);

	if (pb && strcmp(url, "/api/v1/model-versions/by-hash") == 0 && hit.fault == FAKE_FAULT_NONE)
		return route_by_hash(f, c, seq, pb);
	post_body_free(pb);
	if (hit.fault == FAKE_FAULT_STATUS)
		return reply_json(f, c, seq, NULL, hit.status, status_body(hit.status));
	if (hit.fault == FAKE_FAULT_HTML)
		return reply_text(f, c, seq, NULL, 200, "text/html; charset=utf-8", strdup(html), sizeof(html) - 1);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_error(f, c, seq, &hit, 405, "Method not allowed");

	if (strcmp(url, "/api/v1/models") == 0 || strcmp(url, "/api/v1/models/") == 0)
		return route_list(f, c, seq, &hit);
	if (strncmp(url, "/api/v1/models/", 15) == 0) {
		lock(f);
		d = parse_id(url + 15, &id) ? doc_find(f->models, f->nmodels, id) : NULL;
		return reply_doc(f, c, seq, &hit, d, "model", url + 15);
	}
	if (strncmp(url, "/api/v1/model-versions/by-hash/", 31) == 0) {
		lock(f);
		d = version_by_hash(f, url + 31);
		text = d ? json_dumps(d->doc, JSON_COMPACT) : NULL;
		unlock(f);
		if (!d)
			return reply_error(f, c, seq, &hit, 404, "Model not found");
		return reply_text(f, c, seq, &hit, 200, "application/json", text, text ? strlen(text) : 0);
	}
	if (strncmp(url, "/api/v1/model-versions/", 23) == 0) {
		lock(f);
		d = parse_id(url + 23, &id) ? doc_find(f->versions, f->nversions, id) : NULL;
		/* Civitai says "model" here too */
		return reply_doc(f, c, seq, &hit, d, "model", url + 23);
	}
	if (strncmp(url, "/api/download/models/", 21) == 0)
		return route_download(f, c, seq, &hit, url + 21);
	if (strncmp(url, "/cdn/", 5) == 0)
		return route_cdn(f, c, seq, &hit, url + 5);
	if (strncmp(url, "/images/", 8) == 0)
		return route_image(f, c, seq, &hit, url);
	return reply_error(f, c, seq, &hit, 404, "Not found");
}

/* ---- the API --------------------------------------------------------------- */

int fake_civitai_start(struct fake_civitai **out, const char *fixtures_dir, size_t file_size)
{
	struct sockaddr_in sin;
	const union MHD_DaemonInfo *info;
	struct fake_civitai *f;
	int ret;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (pthread_mutex_init(&f->lock, NULL) != 0) {
		free(f);
		return -1;
	}
	atomic_init(&f->stopping, false);
	f->file_size = file_size;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC, 0,
				     NULL, NULL, handle, f, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
	if (!f->daemon)
		goto out_stop;
	info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || info->port == 0)
		goto out_stop;
	f->port = info->port;
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", f->port);
	snprintf(f->cdn, sizeof(f->cdn), "http://localhost:%u", f->port);

	if (fixtures_dir) {
		lock(f);
		ret = load_dir(f, fixtures_dir);
		unlock(f);
		if (ret < 0)
			goto out_stop;
	}
	*out = f;
	return 0;

out_stop:
	fake_civitai_stop(f);
	return -1;
}

void fake_civitai_stop(struct fake_civitai *f)
{
	size_t i;

	if (!f)
		return;
	/* a stalled transfer notices this within FAKE_STEP_MS */
	atomic_store(&f->stopping, true);
	if (f->daemon)
		MHD_stop_daemon(f->daemon);
	for (i = 0; i < f->nbodies; i++) {
		free(f->bodies[i]->data);
		free(f->bodies[i]);
	}
	free(f->bodies);
	for (i = 0; i < f->nmodels; i++)
		json_decref(f->models[i].doc);
	free(f->models);
	for (i = 0; i < f->nversions; i++)
		json_decref(f->versions[i].doc);
	free(f->versions);
	for (i = 0; i < f->nimages; i++)
		free(f->images[i]);
	free(f->images);
	for (i = 0; i < f->nrules; i++)
		free(f->rules[i].prefix);
	free(f->rules);
	free(f->log);
	free(f->token);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

const char *fake_civitai_url(const struct fake_civitai *f)
{
	return f->url;
}

unsigned int fake_civitai_port(const struct fake_civitai *f)
{
	return f->port;
}

int fake_civitai_add_model(struct fake_civitai *f, const json_t *model)
{
	int ret;

	lock(f);
	ret = add_model_locked(f, model);
	unlock(f);
	return ret;
}

int fake_civitai_remove_model(struct fake_civitai *f, long long id)
{
	struct fake_doc *d;
	size_t i;

	lock(f);
	d = doc_find(f->models, f->nmodels, id);
	if (!d) {
		unlock(f);
		return -1;
	}
	json_decref(d->doc);
	i = (size_t)(d - f->models);
	memmove(d, d + 1, (f->nmodels - i - 1) * sizeof(*d));
	f->nmodels--;
	for (i = 0; i < f->nversions;) {
		if (f->versions[i].model_id == id) {
			json_decref(f->versions[i].doc);
			memmove(&f->versions[i], &f->versions[i + 1], (f->nversions - i - 1) * sizeof(*f->versions));
			f->nversions--;
		} else {
			i++;
		}
	}
	unlock(f);
	return 0;
}

void fake_civitai_hide_from_lists(struct fake_civitai *f, long long id, bool hidden)
{
	struct fake_doc *d;

	lock(f);
	d = doc_find(f->models, f->nmodels, id);
	if (d)
		d->hidden = hidden;
	unlock(f);
}

bool fake_civitai_file(const struct fake_civitai *f, long long file_id, const unsigned char **body, size_t *len,
		       char sha256_hex[65])
{
	const struct fake_body *b;

	lock(f);
	b = body_find(f, file_id);
	unlock(f);
	if (!b)
		return false;
	/* bodies are immutable and live until the fake stops */
	if (body)
		*body = b->data;
	if (len)
		*len = b->len;
	if (sha256_hex)
		memcpy(sha256_hex, b->sha, 65);
	return true;
}

void fake_civitai_fault(struct fake_civitai *f, const char *path_prefix, enum fake_fault fault, int status,
			int stall_ms, int times)
{
	char *prefix = strdup(path_prefix ? path_prefix : "");

	if (!prefix)
		return;
	lock(f);
	if (grow(&f->rules, &f->cap_rules, f->nrules + 1, sizeof(*f->rules)) < 0) {
		unlock(f);
		free(prefix);
		return;
	}
	f->rules[f->nrules].prefix = prefix;
	f->rules[f->nrules].fault = fault;
	f->rules[f->nrules].status = status;
	f->rules[f->nrules].stall_ms = stall_ms;
	f->rules[f->nrules].times = times;
	f->rules[f->nrules].skip = 0;
	f->nrules++;
	unlock(f);
}

void fake_civitai_fault_after(struct fake_civitai *f, const char *path_prefix, int skip, enum fake_fault fault,
			      int status, int stall_ms, int times)
{
	fake_civitai_fault(f, path_prefix, fault, status, stall_ms, times);
	lock(f);
	if (f->nrules)
		f->rules[f->nrules - 1].skip = skip;
	unlock(f);
}

void fake_civitai_cdn_rate(struct fake_civitai *f, uint64_t bytes_per_s)
{
	atomic_store(&f->cdn_rate, bytes_per_s);
}

void fake_civitai_clear_faults(struct fake_civitai *f)
{
	size_t i;

	lock(f);
	for (i = 0; i < f->nrules; i++)
		free(f->rules[i].prefix);
	f->nrules = 0;
	unlock(f);
}

size_t fake_civitai_requests(struct fake_civitai *f, struct fake_request *out, size_t max)
{
	size_t total, n;

	lock(f);
	n = max < f->nlog ? max : f->nlog;
	if (out && n)
		memcpy(out, f->log, n * sizeof(*out));
	total = (size_t)(f->next_seq - f->log_base);
	unlock(f);
	return total;
}

void fake_civitai_clear_requests(struct fake_civitai *f)
{
	lock(f);
	f->nlog = 0;
	f->log_base = f->next_seq;
	unlock(f);
}

void fake_civitai_require_token(struct fake_civitai *f, const char *token)
{
	char *t = token ? strdup(token) : NULL;

	lock(f);
	free(f->token);
	f->token = t;
	unlock(f);
}

void fake_civitai_wait_idle(struct fake_civitai *f)
{
	const struct timespec nap = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 500; i++) {
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (!info || info->num_connections == 0)
			break;
		nanosleep(&nap, NULL);
	}
	/* the daemon's thread, done closing the last one, back in its poll */
	nanosleep(&nap, NULL);
}
