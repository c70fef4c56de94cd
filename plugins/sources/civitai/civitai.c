/*
 * The `civitai` source: references, model metadata, packs, updates and
 * file downloads from Civitai. Configuration comes from the environment:
 * SYNAPSE_CIVITAI_URL, CIVITAI_API_TOKEN or CIVITAI_API_KEY, and
 * for tests SYNAPSE_CIVITAI_STALL_TIMEOUT and SYNAPSE_CIVITAI_RETRY_MS.
 * Nothing happens at load time: libcurl is initialized by the first create().
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "civitai.h"

#define DEFAULT_BASE "https://civitai.com"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int env_long(const char *name, long def, long min, long max, long *out)
{
	const char *s = getenv(name);
	char *end;
	long v;

	*out = def;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return syn_error_set(SYN_EINVALID, "invalid %s '%.40s': expected a whole number from %ld to %ld", name, s,
				     min, max);
	*out = v;
	return 0;
}

/* CIVITAI_API_TOKEN, else CIVITAI_API_KEY; NULL when neither is set. */
static int read_token(char **out)
{
	static const char *const names[] = { "CIVITAI_API_TOKEN", "CIVITAI_API_KEY" };
	size_t i, j;

	*out = NULL;
	for (i = 0; i < 2; i++) {
		const char *s = getenv(names[i]);
		size_t n;

		if (!s)
			continue;
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		n = strlen(s);
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
			n--;
		if (!n)
			continue;
		/* it goes into a header and a query: refuse what could break out of either */
		for (j = 0; j < n; j++)
			if ((unsigned char)s[j] <= 0x20 || (unsigned char)s[j] >= 0x7f)
				return syn_error_set(SYN_EINVALID, "%s holds spaces or control characters: set it to the "
						     "API key from civitai.com/user/account", names[i]);
		*out = strndup(s, n);
		if (!*out)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		return 0;
	}
	return 0;
}

static int read_base(struct civ_source *cs)
{
	const char *env = getenv("SYNAPSE_CIVITAI_URL");
	char *scheme = NULL, *host = NULL;
	struct syn_buf api = SYN_BUF_INIT;
	size_t n;
	int rc = 0;

	if (!env || !*env)
		env = DEFAULT_BASE;
	n = strlen(env);
	while (n && env[n - 1] == '/')
		n--;
	cs->base = strndup(env, n);
	if (!cs->base)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (strpbrk(cs->base, "?#") || !civ_url_host(cs->base, &scheme, &host) ||
	    (strcasecmp(scheme, "https") && strcasecmp(scheme, "http"))) {
		rc = syn_error_set(SYN_EINVALID, "invalid SYNAPSE_CIVITAI_URL '%.200s': expected a site address such as "
				   DEFAULT_BASE, env);
		goto out;
	}
	cs->http_ok = !strcasecmp(scheme, "http");
	cs->host = strdup(host);
	if (!cs->host || syn_buf_printf(&api, "%s/api/v1", cs->base)) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	cs->api = syn_buf_detach(&api);
	if (!cs->api)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
out:
	curl_free(scheme);
	curl_free(host);
	syn_buf_dispose(&api);
	return rc;
}

static bool has_version(const json_t *model, long long vid)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(model, "versions"), i, v)
		if (json_integer_value(json_object_get(v, "version_id")) == vid)
			return true;
	return false;
}

/* A version the model listing does not show (older, unlisted): ask for it on its own. */
static int add_version(struct civ_source *cs, json_t *model, long long mid, long long vid)
{
	struct syn_buf url = SYN_BUF_INIT, subject = SYN_BUF_INIT;
	json_t *doc = NULL, *nv = NULL;
	const json_t *owner;
	int rc;

	if ((rc = syn_buf_printf(&url, "%s/model-versions/%lld", cs->api, vid)) ||
	    (rc = syn_buf_printf(&subject, "model version %lld", vid)))
		goto out;
	if ((rc = civ_http_get_json(cs, url.ptr, subject.ptr, &doc)))
		goto out;
	if (!json_is_object(doc)) {
		rc = syn_error_set(SYN_ECORRUPT, "unexpected response from Civitai for model version %lld: not a JSON "
				   "object: try again later", vid);
		goto out;
	}
	owner = json_object_get(doc, "modelId");
	if (json_is_integer(owner) && json_integer_value(owner) != mid) {
		rc = syn_error_set(SYN_EINVALID, "model version %lld belongs to model %lld, not to model %lld: check the "
				   "reference", vid, (long long)json_integer_value(owner), mid);
		goto out;
	}
	if ((rc = civ_normalize_version(cs, doc, &nv))) {
		syn_error_prefix("unexpected response from Civitai for model version %lld", vid);
		goto out;
	}
	if (json_array_append_new(json_object_get(model, "versions"), nv))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
out:
	json_decref(doc);
	syn_buf_dispose(&url);
	syn_buf_dispose(&subject);
	return rc;
}

int civ_metadata(struct syn_source *src, const json_t *ref, json_t **out)
{
	struct civ_source *cs = CIV(src);
	const json_t *mid_j = json_object_get(ref, "model_id"), *vid_j = json_object_get(ref, "version_id");
	struct syn_buf url = SYN_BUF_INIT, subject = SYN_BUF_INIT;
	json_t *doc = NULL, *model = NULL;
	long long mid, vid = 0;
	int rc;

	*out = NULL;
	if (!json_is_integer(mid_j) || json_integer_value(mid_j) <= 0 ||
	    (vid_j && !json_is_null(vid_j) && (!json_is_integer(vid_j) || json_integer_value(vid_j) <= 0)))
		return syn_error_set(SYN_EINVALID, "invalid Civitai reference: model_id and version_id must be positive "
				     "integers");
	mid = (long long)json_integer_value(mid_j);
	if (json_is_integer(vid_j))
		vid = (long long)json_integer_value(vid_j);
	if ((rc = syn_buf_printf(&url, "%s/models/%lld", cs->api, mid)) ||
	    (rc = syn_buf_printf(&subject, "model %lld", mid)))
		goto out;
	if ((rc = civ_http_get_json(cs, url.ptr, subject.ptr, &doc)))
		goto out;
	if ((rc = civ_normalize_model(cs, doc, mid, &model)))
		goto out;
	if (vid && !has_version(model, vid) && (rc = add_version(cs, model, mid, vid)))
		goto out;
	*out = model;
	model = NULL;
out:
	json_decref(doc);
	json_decref(model);
	syn_buf_dispose(&url);
	syn_buf_dispose(&subject);
	return civ_scrub(cs, rc);
}

static int civ_download(struct syn_source *src, const char *url, struct syn_sink *sink)
{
	return civ_http_download(CIV(src), url, sink);
}

static int civ_fetch(struct syn_source *src, const char *url, size_t max, struct syn_buf *out)
{
	return civ_http_fetch(CIV(src), url, max, out);
}

static void civ_free(struct syn_source *src)
{
	struct civ_source *cs = CIV(src);

	if (!cs)
		return;
	if (cs->token) {
		explicit_bzero(cs->token, strlen(cs->token));
		free(cs->token);
	}
	civ_http_cleanup(cs);
	free(cs->base);
	free(cs->api);
	free(cs->host);
	free(cs);
}

static int civ_create(struct syn_source **out, const struct syn_source_params *params)
{
	struct civ_source *cs;
	const curl_version_info_data *ver;
	int rc;

	(void)params;
	*out = NULL;
	if (pthread_once(&curl_once, curl_init))
		return syn_error_set(SYN_ERROR, "cannot initialize libcurl");
	if (curl_init_rc != CURLE_OK)
		return syn_error_set(SYN_ENETWORK, "cannot initialize libcurl: %s", curl_easy_strerror(curl_init_rc));
	ver = curl_version_info(CURLVERSION_NOW);
	if (!ver || ver->version_num < 0x075500)
		return syn_error_set(SYN_EUNSUPPORTED, "libcurl %s is too old for the Civitai source: install 7.85 or "
				     "newer", ver ? ver->version : "?");
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	cs->parent.version = SYN_SOURCE_VERSION;
	cs->parent.parse_ref = civ_parse_ref;
	cs->parent.metadata = civ_metadata;
	cs->parent.download = civ_download;
	cs->parent.fetch = civ_fetch;
	cs->parent.free = civ_free;
	cs->parent.pack = civ_pack;
	cs->parent.resolve = civ_resolve;
	cs->parent.prefetch = civ_prefetch;
	cs->parent.check = civ_check;
	cs->parent.identify = civ_identify;
	if ((rc = read_base(cs)) || (rc = read_token(&cs->token)) ||
	    (rc = env_long("SYNAPSE_CIVITAI_STALL_TIMEOUT", 60, 1, 86400, &cs->stall_s)) ||
	    (rc = env_long("SYNAPSE_CIVITAI_RETRY_MS", 1000, 0, 600000, &cs->retry_ms)) || (rc = civ_http_init(cs))) {
		civ_free(&cs->parent);
		return rc;
	}
	*out = &cs->parent;
	return 0;
}

/*
 * The entry point of civitai-net.so, called by the small civitai.so plugin
 * the first time a Civitai source is needed (see plugin.c).
 */
SYN_EXTERN int civitai_net_create(struct syn_source **out, const struct syn_source_params *params);
int civitai_net_create(struct syn_source **out, const struct syn_source_params *params)
{
	return civ_create(out, params);
}
