/*
 * The Civitai source plugin: what its files share.
 *
 * ref.c parses user references, normalize.c turns Civitai's JSON into the
 * normalized model of <synapse/sys/source.h>, pack.c writes and resolves
 * the dependencies of Civitai packs, update.c fetches their models in
 * batches and finds newer files for them, http.c talks to Civitai (token rules,
 * redirects, retries, resume) and civitai.c ties them into the source
 * vtable. An instance holds its configuration and one libcurl share
 * (connections, DNS, TLS sessions, locked per kind of data), so one
 * instance may serve several threads at once: every request has its own
 * curl handle, and every handle reuses the instance's open connections.
 */
#ifndef SYN_PLUGIN_CIVITAI_H
#define SYN_PLUGIN_CIVITAI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include <jansson.h>

#include <synapse/buf.h>
#include <synapse/errors.h>
#include <synapse/sys/source.h>

/** The accepted reference forms, for error messages and the class's `refs`. */
#define CIV_REFS                                                                         \
	"https://civitai.com/models/<id>[/<slug>][?modelVersionId=<version>], "         \
	"civitai:<id>[@<version>] or urn:air:<ecosystem>:<type>:civitai:<id>@<version>"
#define CIV_REF_FORMS "use " CIV_REFS

struct civ_source {
	struct syn_source parent; /* first: the vtable pointer is the instance pointer */
	char *base;               /* "https://civitai.com", no trailing slash */
	char *api;                /* "<base>/api/v1" */
	char *host;               /* lowercase host of base: where the token may go */
	bool http_ok;             /* the base itself is plain http (tests, mirrors) */
	char *token;              /* CIVITAI_API_TOKEN or CIVITAI_API_KEY; NULL when none */
	long stall_s;             /* abort a transfer that sends nothing for this long */
	long retry_ms;            /* first retry delay, doubled each time */
	CURLSH *share;            /* connections reused by every request of the instance */
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	bool share_mu_ready;
};

#define CIV(src) ((struct civ_source *)(src))

/* ref.c */

/** parse_ref(): see <synapse/sys/source.h>. */
int civ_parse_ref(struct syn_source *src, const char *ref, json_t **out);

/** Parse a positive decimal id that fits int64 from @s[0..@n). */
bool civ_parse_id(const char *s, size_t n, long long *out);

/* normalize.c */

/** Normalize a /models/<id> document; @model_id is used when it has no id. */
int civ_normalize_model(const struct civ_source *cs, const json_t *model, long long model_id, json_t **out);

/** Normalize one version (a modelVersions[] entry or a /model-versions/<id> document). */
int civ_normalize_version(const struct civ_source *cs, const json_t *version, json_t **out);

/** The asset kind of a Civitai model type ("LORA" -> "lora"); "unknown" when none fits. */
const char *civ_kind_of(const char *type);

/* pack.c */

/** String member @key of @obj, or @def when it is absent or not a string. */
const char *civ_str(const json_t *obj, const char *key, const char *def);

/** A copy of member @key of @obj, or null when it is absent. */
json_t *civ_member(const json_t *obj, const char *key);

/** Set and return SYN_ENOMEM, "out of memory". */
int civ_oom(void);

/** pack(): see <synapse/sys/source.h>. */
int civ_pack(struct syn_source *src, const json_t *in, json_t **out);

/** resolve(): see <synapse/sys/source.h>. */
int civ_resolve(struct syn_source *src, const json_t *in, json_t *models, json_t **out);

/** Whether @m, an entry of a models array (see resolve()), is Civitai's model @model_id. */
bool civ_is_model(const json_t *m, json_int_t model_id);

/**
 * The normalized model @model_id in *@out, borrowed from @models: the entry
 * there when fetched already, else fetched and appended. An entry recording
 * a failed fetch (prefetch()) fails again with its code and message.
 */
int civ_model_of(struct syn_source *src, json_int_t model_id, json_t *models, const json_t **out);

/**
 * The lock.json artifact of @file of @version of @model for a dependency of
 * @kind (see resolve()); a new reference, NULL when memory ran out.
 */
json_t *civ_file_artifact(const json_t *model, const json_t *version, const json_t *file, const char *kind);

/* update.c */

/** prefetch(): see <synapse/sys/source.h>. */
int civ_prefetch(struct syn_source *src, const json_t *deps, json_t *models);

/** check(): see <synapse/sys/source.h>. */
int civ_check(struct syn_source *src, const json_t *in, json_t *models, json_t **out);

/** metadata(): see <synapse/sys/source.h>. */
int civ_metadata(struct syn_source *src, const json_t *ref, json_t **out);

/* identify.c */

/** identify(): see <synapse/sys/source.h>. */
int civ_identify(struct syn_source *src, const json_t *hashes, json_t *models, json_t **out);

/* http.c */

/** Make @cs's curl share (connection cache, DNS, TLS sessions). SYN_ENOMEM. */
int civ_http_init(struct civ_source *cs);

/** Free what civ_http_init() made (NULL-safe members). */
void civ_http_cleanup(struct civ_source *cs);

/** GET @url (an API URL) as JSON; @subject names it in messages ("model 1102"). */
int civ_http_get_json(struct civ_source *cs, const char *url, const char *subject, json_t **out);

/** POST @body (JSON) to @url (an API URL) and parse the JSON answer; as civ_http_get_json(). */
int civ_http_post_json(struct civ_source *cs, const char *url, const json_t *body, const char *subject, json_t **out);

/** download(): see <synapse/sys/source.h>. */
int civ_http_download(struct civ_source *cs, const char *url, struct syn_sink *sink);

/** fetch(): see <synapse/sys/source.h>. */
int civ_http_fetch(struct civ_source *cs, const char *url, size_t max, struct syn_buf *out);

/** The scheme and lowercase host (no trailing dot) of @url, curl_free()d by the caller; false when unparseable. */
bool civ_url_host(const char *url, char **scheme, char **host);

/** Whether @url may carry the token: https (or http when the base is), on the configured host or below. */
bool civ_url_trusted(const struct civ_source *cs, const char *url);

/** @url without any `token` query parameter, for messages and stored URLs (works on any string). */
int civ_url_redact(const char *url, struct syn_buf *out);

/** If the thread's error message contains the token, replace it; returns @rc. */
int civ_scrub(const struct civ_source *cs, int rc);

#endif
