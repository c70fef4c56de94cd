/*
 * Civitai references: model page URLs, civitai:<model>[@<version>] and AIR
 * URNs. Something that is not Civitai's is passed on (SYN_EPASSTHROUGH) so
 * the next source can try; something that is Civitai-shaped but broken is
 * refused here, with the forms that work.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "civitai.h"

/* Hosts whose model pages are Civitai's whatever SYNAPSE_CIVITAI_URL says. */
static const char *const known_hosts[] = { "civitai.com", "www.civitai.com", "civitai.red", NULL };

bool civ_parse_id(const char *s, size_t n, long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned int d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned int)(s[i] - '0');
		if (v > ((unsigned long long)INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v == 0)
		return false;
	*out = (long long)v;
	return true;
}

static int invalid(const char *ref)
{
	struct syn_buf shown = SYN_BUF_INIT;
	int rc;

	/* a pasted download URL may hold a token: never echo it */
	if (civ_url_redact(ref, &shown))
		return SYN_ENOMEM;
	rc = syn_error_set(SYN_EINVALID, "invalid Civitai reference '%.300s': %s", shown.ptr, CIV_REF_FORMS);
	syn_buf_dispose(&shown);
	return rc;
}

static int passthrough(void)
{
	return syn_error_set(SYN_EPASSTHROUGH, "not a Civitai reference");
}

static int make_ref(const struct civ_source *cs, long long model, long long version, json_t **out)
{
	struct syn_buf u = SYN_BUF_INIT;
	json_t *o;

	if (syn_buf_printf(&u, "%s/models/%lld", cs->base, model))
		return SYN_ENOMEM;
	o = json_pack("{s:s, s:I, s:o, s:s}", "source", "civitai", "model_id", (json_int_t)model, "version_id",
		      version ? json_integer(version) : json_null(), "url", u.ptr);
	syn_buf_dispose(&u);
	if (!o)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	*out = o;
	return 0;
}

/* "<model>" or "<model>@<version>" from @s; @need_version for AIR. */
static bool parse_pair(const char *s, bool need_version, long long *model, long long *version)
{
	const char *at = strchr(s, '@');

	*version = 0;
	if (!at)
		return !need_version && civ_parse_id(s, strlen(s), model);
	return civ_parse_id(s, (size_t)(at - s), model) && civ_parse_id(at + 1, strlen(at + 1), version);
}

/* urn:air:<ecosystem>:<type>:<source>:<model>@<version> */
static int parse_air(const struct civ_source *cs, const char *ref, json_t **out)
{
	const char *p = ref + strlen("urn:air:"), *fields[3];
	long long model, version;
	int i;

	for (i = 0; i < 3; i++) {
		const char *colon = strchr(p, ':');

		if (!colon)
			return strcasestr(ref, "civitai") ? invalid(ref) : passthrough();
		fields[i] = p;
		p = colon + 1;
	}
	/* fields[2] runs up to the colon before p */
	if ((size_t)(p - 1 - fields[2]) != strlen("civitai") || strncasecmp(fields[2], "civitai", 7))
		return passthrough();
	if (fields[1] - 1 == fields[0] || fields[2] - 1 == fields[1])
		return invalid(ref);
	if (!parse_pair(p, true, &model, &version))
		return invalid(ref);
	return make_ref(cs, model, version, out);
}

static bool host_is_civitai(const struct civ_source *cs, const char *host)
{
	size_t i;

	if (!strcasecmp(host, cs->host))
		return true;
	for (i = 0; known_hosts[i]; i++)
		if (!strcasecmp(host, known_hosts[i]))
			return true;
	return false;
}

/* The first modelVersionId in a raw query; 0 when absent, -1 when malformed. */
static long long query_version(const char *query)
{
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&'), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		long long v;

		eq = memchr(p, '=', len);
		if (eq && (size_t)(eq - p) == strlen("modelVersionId") && !strncasecmp(p, "modelVersionId", 14))
			return civ_parse_id(eq + 1, len - (size_t)(eq + 1 - p), &v) ? v : -1;
		if (!eq && len == strlen("modelVersionId") && !strncasecmp(p, "modelVersionId", 14))
			return -1;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/* /models/<digits>[/<slug>][/] */
static bool parse_path(const char *path, long long *model)
{
	const char *p, *digits_end, *slash;

	if (strncmp(path, "/models/", 8))
		return false;
	p = path + 8;
	digits_end = p;
	while (*digits_end >= '0' && *digits_end <= '9')
		digits_end++;
	if (!civ_parse_id(p, (size_t)(digits_end - p), model))
		return false;
	if (!*digits_end || !strcmp(digits_end, "/"))
		return true;
	if (*digits_end != '/')
		return false;
	/* one slug segment, maybe with a trailing slash */
	p = digits_end + 1;
	slash = strchr(p, '/');
	return !slash || (slash > p && slash[1] == '\0');
}

static int parse_url(const struct civ_source *cs, const char *ref, const char *scheme_end, json_t **out)
{
	size_t slen = (size_t)(scheme_end - ref);
	CURLU *u;
	char *host = NULL, *path = NULL, *query = NULL;
	long long model, version;
	size_t hl;
	int rc;

	if (!((slen == 5 && !strncasecmp(ref, "https", 5)) || (slen == 4 && !strncasecmp(ref, "http", 4))))
		return passthrough();
	u = curl_url();
	if (!u)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, ref, 0) || curl_url_get(u, CURLUPART_HOST, &host, 0)) {
		/* unparseable: only ours to complain about when it names Civitai */
		rc = strcasestr(ref, "civitai") ? invalid(ref) : passthrough();
		goto out;
	}
	hl = strlen(host);
	if (hl > 1 && host[hl - 1] == '.')
		host[hl - 1] = '\0';
	if (!host_is_civitai(cs, host)) {
		rc = passthrough();
		goto out;
	}
	if (slen == 4 && !cs->http_ok) {
		struct syn_buf shown = SYN_BUF_INIT;

		rc = civ_url_redact(ref, &shown) ? SYN_ENOMEM
			: syn_error_set(SYN_EINVALID, "refusing the plain-http Civitai URL '%.300s': use https://", shown.ptr);
		syn_buf_dispose(&shown);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) || !parse_path(path, &model)) {
		rc = invalid(ref);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	version = query ? query_version(query) : 0;
	if (version < 0) {
		rc = invalid(ref);
		goto out;
	}
	rc = make_ref(cs, model, version, out);
out:
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

int civ_parse_ref(struct syn_source *src, const char *ref, json_t **out)
{
	const struct civ_source *cs = CIV(src);
	const char *sep;
	long long model, version;
	size_t i;

	*out = NULL;
	if (!ref || !*ref)
		return passthrough();
	if (!strncasecmp(ref, "civitai:", 8)) {
		if (!parse_pair(ref + 8, false, &model, &version))
			return invalid(ref);
		return make_ref(cs, model, version, out);
	}
	if (!strncasecmp(ref, "urn:air:", 8))
		return parse_air(cs, ref, out);
	sep = strstr(ref, "://");
	if (sep) {
		for (i = 0; ref + i < sep; i++)
			if (!((ref[i] >= 'a' && ref[i] <= 'z') || (ref[i] >= 'A' && ref[i] <= 'Z') ||
			      (i && ((ref[i] >= '0' && ref[i] <= '9') || ref[i] == '+' || ref[i] == '-' || ref[i] == '.'))))
				return passthrough();
		if (sep == ref)
			return passthrough();
		return parse_url(cs, ref, sep, out);
	}
	/* a page address pasted without its scheme */
	for (i = 0; known_hosts[i]; i++) {
		size_t n = strlen(known_hosts[i]);

		if (!strncasecmp(ref, known_hosts[i], n) && ref[n] == '/') {
			struct syn_buf full = SYN_BUF_INIT;
			int rc;

			if (syn_buf_printf(&full, "https://%s", ref))
				return SYN_ENOMEM;
			rc = parse_url(cs, full.ptr, full.ptr + 5, out);
			syn_buf_dispose(&full);
			return rc;
		}
	}
	return passthrough();
}
