/*
 * Talking to Civitai. Every request goes through run(), which applies the
 * token rules, follows redirects over the allowed protocols only, detects
 * stalls, retries what is worth retrying (429, 5xx, transport errors) and
 * turns the rest into messages that name the model or the file.
 *
 * A file the core wants in segments (a sink of version 4) is first asked
 * for from the resume offset on, following the redirect to the CDN: a 206
 * gives its size, a URL that needs no redirect and a server that honours
 * Range, and the core's begin() decides. In order, that first transfer goes
 * on as the download; segmented, it stops and run_segments() fetches the
 * ranges the core hands out over several connections of one curl multi
 * handle, from the CDN URL (asked again through the download URL when the
 * CDN answers 403 or 410: presigned URLs expire). 429s and connections the
 * server closes lower the number of connections.
 *
 * The token goes only to the configured Civitai host and its subdomains
 * (SPEC §1): as "Authorization: Bearer" on API calls and previews, and as a
 * "token" query parameter on downloads, whose 307 to the CDN would lose the
 * header (curl never sends a custom Authorization header to another host;
 * CURLOPT_UNRESTRICTED_AUTH is never set). No message or returned URL ever
 * holds it: URLs are shown through civ_url_redact() and messages pass
 * civ_scrub() on the way out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "civitai.h"

#define MAX_ATTEMPTS 4
#define MAX_DELAY_MS 30000LL
#define ERRBODY_MAX (16u << 10)
#define API_MAX ((size_t)64 << 20)
#define PROGRESS_EVERY_NS 250000000LL
#define USER_AGENT "Synapse/" SYN_VERSION_STRING
#define LOGIN_HINT "set CIVITAI_API_TOKEN to an API key from civitai.com/user/account"

enum req_kind { REQ_API, REQ_DOWNLOAD, REQ_FETCH };

/* Why a transfer was stopped from a callback. */
enum stop {
	STOP_NONE,
	STOP_HTML,    /* a web page where a file was expected */
	STOP_RANGE,   /* a 206 that does not start where we asked */
	STOP_TOO_BIG, /* a fetched body over its limit */
	STOP_FAILED,  /* the sink or the buffer failed: the code is in xfer.rc */
	STOP_SEGMENTS, /* the probe of a segmented download: its headers said all */
	STOP_PIECE,   /* a segment is complete before the end asked for (split by the core) */
};

enum verdict { V_DONE, V_FAIL, V_RETRY, V_RESTART, V_SEGMENTS };

struct call {
	struct civ_source *cs;
	enum req_kind kind;
	const char *url;       /* what is requested: may hold the token, never shown */
	const char *subject;   /* "model 1102", "file '<url>'": token-free */
	bool bearer;           /* send Authorization: Bearer */
	bool token_sent;       /* the token went with the request, one way or the other */
	struct syn_sink *sink; /* REQ_DOWNLOAD */
	struct syn_buf *out;   /* REQ_API, REQ_FETCH */
	const char *post;      /* REQ_API: a JSON body to POST instead of a GET; NULL for a GET */
	size_t out_base;       /* out->len before the call: each attempt starts there */
	size_t max;            /* most body bytes accepted into out */
	struct timespec last_progress;
	bool probe;            /* REQ_DOWNLOAD: let the sink choose segments once the size is known */
	char *resolved;        /* after a probe chose segments: the URL the redirects led to */
	bool segmented;        /* the probe chose segments: run_segments() goes on */
	uint64_t total;        /* after a probe: the file's size */
};

/* One attempt. The response fields describe the latest response only. */
struct xfer {
	struct call *c;
	long status;
	char ctype[128];
	long long clen;         /* Content-Length, -1 unknown */
	long long crange_start; /* Content-Range first byte, -1 none */
	long long crange_total; /* Content-Range complete length, -1 unknown */
	long retry_after;       /* Retry-After seconds, -1 none */
	bool started;           /* the body (or its absence) has been looked at */
	bool error_body;        /* a non-2xx body: kept for its message */
	bool stalled;           /* aborted: nothing arrived for stall_s seconds */
	struct timespec last_data; /* when the last byte (header or body) arrived */
	curl_off_t last_dlnow;
	enum stop stop;
	int rc;
	uint64_t asked;         /* the offset asked for with Range */
	uint64_t asked_end;     /* segments: the end of the range asked for (exclusive), else 0 */
	uint64_t pos;           /* segments: the next byte of the range */
	bool range_done;        /* segments: write_at() said the range is complete (nothing to give back) */
	uint64_t total;         /* whole file size when known, else 0 */
	struct syn_buf err;
};

/* ---- URLs and the token ---------------------------------------------------- */

static bool is_token_param(const char *p, size_t len)
{
	const char *eq = memchr(p, '=', len);
	size_t name = eq ? (size_t)(eq - p) : len;

	return name == 5 && !strncasecmp(p, "token", 5);
}

int civ_url_redact(const char *url, struct syn_buf *out)
{
	const char *q = strchr(url, '?'), *p, *end;
	bool first = true;
	int rc;

	syn_buf_clear(out);
	if (!q)
		return syn_buf_puts(out, url);
	if ((rc = syn_buf_put(out, url, (size_t)(q - url))))
		return rc;
	p = q + 1;
	end = p + strcspn(p, "#");
	while (p <= end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *seg_end = amp ? amp : end;
		size_t n = (size_t)(seg_end - p);

		if (n && !is_token_param(p, n)) {
			if ((rc = syn_buf_puts(out, first ? "?" : "&")) || (rc = syn_buf_put(out, p, n)))
				return rc;
			first = false;
		}
		p = seg_end + 1;
	}
	return syn_buf_puts(out, end);
}

bool civ_url_host(const char *url, char **scheme, char **host)
{
	CURLU *u = curl_url();
	bool ok = false;
	size_t i, n;

	*scheme = *host = NULL;
	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) || curl_url_get(u, CURLUPART_SCHEME, scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, host, 0))
		goto out;
	n = strlen(*host);
	for (i = 0; i < n; i++)
		if ((*host)[i] >= 'A' && (*host)[i] <= 'Z')
			(*host)[i] = (char)((*host)[i] - 'A' + 'a');
	if (n > 1 && (*host)[n - 1] == '.')
		(*host)[n - 1] = '\0';
	ok = n > 0;
out:
	if (!ok) {
		curl_free(*scheme);
		curl_free(*host);
		*scheme = *host = NULL;
	}
	curl_url_cleanup(u);
	return ok;
}

/* An IP literal has no subdomains: "x.127.0.0.1" is just another name. */
static bool is_ip_literal(const char *host)
{
	return host[0] == '[' || strspn(host, "0123456789.") == strlen(host);
}

bool civ_url_trusted(const struct civ_source *cs, const char *url)
{
	char *scheme, *host;
	size_t hl, bl;
	bool ok = false;

	if (!civ_url_host(url, &scheme, &host))
		return false;
	if (strcasecmp(scheme, "https") && !(cs->http_ok && !strcasecmp(scheme, "http")))
		goto out;
	hl = strlen(host);
	bl = strlen(cs->host);
	if (!strcmp(host, cs->host))
		ok = true;
	else if (!is_ip_literal(cs->host) && hl > bl + 1 && host[hl - bl - 1] == '.' && !strcmp(host + hl - bl, cs->host))
		ok = true;
out:
	curl_free(scheme);
	curl_free(host);
	return ok;
}

/* @url with any token parameter replaced by ours (curl_free the result). */
static int url_with_token(const char *url, const char *token, char **out)
{
	CURLU *u = curl_url();
	char *query = NULL;
	struct syn_buf kept = SYN_BUF_INIT, param = SYN_BUF_INIT;
	const char *p;
	int rc = 0;

	*out = NULL;
	if (!u)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0)) {
		rc = syn_error_set(SYN_EINVALID, "cannot parse a download URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	for (p = query; p && *p;) {
		size_t n = strcspn(p, "&");

		if (n && !is_token_param(p, n) &&
		    ((kept.len && (rc = syn_buf_puts(&kept, "&"))) || (rc = syn_buf_put(&kept, p, n))))
			goto out;
		p += n + (p[n] == '&');
	}
	if ((rc = syn_buf_printf(&param, "token=%s", token)))
		goto out;
	if (curl_url_set(u, CURLUPART_QUERY, kept.len ? kept.ptr : NULL, 0) ||
	    curl_url_set(u, CURLUPART_QUERY, param.ptr, CURLU_APPENDQUERY | CURLU_URLENCODE) ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) || curl_url_get(u, CURLUPART_URL, out, 0)) {
		rc = syn_error_set(SYN_ENOMEM, "cannot build a download URL");
		goto out;
	}
out:
	curl_free(query);
	syn_buf_dispose(&kept);
	syn_buf_dispose(&param);
	curl_url_cleanup(u);
	return rc;
}

int civ_scrub(const struct civ_source *cs, int rc)
{
	struct syn_buf b = SYN_BUF_INIT;
	const char *msg = syn_error_last(), *p, *hit;
	int code = syn_error_code();
	size_t tl;

	if (rc >= 0 || !cs->token || !strstr(msg, cs->token))
		return rc;
	tl = strlen(cs->token);
	for (p = msg; (hit = strstr(p, cs->token)); p = hit + tl)
		if (syn_buf_put(&b, p, (size_t)(hit - p)) || syn_buf_puts(&b, "<token>"))
			goto fail;
	if (syn_buf_puts(&b, p))
		goto fail;
	syn_error_set(code, "%s", b.ptr);
	syn_buf_dispose(&b);
	return rc;
fail:
	syn_buf_dispose(&b);
	syn_error_set(code, "a Civitai request failed (its message was withheld: it held the token)");
	return rc;
}

/* ---- callbacks ------------------------------------------------------------- */

/* The value of header @name in @line ("Name: value"), or NULL. */
static const char *header_value(const char *line, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(line, name, n) || line[n] != ':')
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

static void reset_response(struct xfer *x, const char *status_line)
{
	const char *p = status_line + strcspn(status_line, " ");
	long status = 0;
	int i;

	while (*p == ' ')
		p++;
	for (i = 0; i < 3 && p[i] >= '0' && p[i] <= '9'; i++)
		status = status * 10 + (p[i] - '0');
	x->status = i == 3 ? status : 0;
	x->ctype[0] = '\0';
	x->clen = -1;
	x->crange_start = -1;
	x->crange_total = -1;
	x->retry_after = -1;
}

static long long parse_ll(const char *s, const char **end)
{
	char *e;
	long long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoll(s, &e, 10);
	if (errno || v < 0)
		return -1;
	if (end)
		*end = e;
	return v;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nitems, n = len;
	char line[512];
	const char *v;

	clock_gettime(CLOCK_MONOTONIC, &x->last_data);
	/* trailers after the body change nothing */
	if (x->started)
		return len;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, data, n);
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	line[n] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {
		reset_response(x, line);
	} else if ((v = header_value(line, "content-type"))) {
		size_t i;

		/* truncation is fine: only the media type at the front matters */
		snprintf(x->ctype, sizeof(x->ctype), "%.*s", (int)(sizeof(x->ctype) - 1), v);
		for (i = 0; x->ctype[i]; i++)
			if (x->ctype[i] >= 'A' && x->ctype[i] <= 'Z')
				x->ctype[i] = (char)(x->ctype[i] - 'A' + 'a');
	} else if ((v = header_value(line, "content-length"))) {
		x->clen = parse_ll(v, NULL);
	} else if ((v = header_value(line, "content-range"))) {
		const char *e;

		/* "bytes <first>-<last>/<complete length or *>" */
		if (!strncasecmp(v, "bytes ", 6) && (x->crange_start = parse_ll(v + 6, &e)) >= 0) {
			const char *slash = strchr(e, '/');

			x->crange_total = slash ? parse_ll(slash + 1, NULL) : -1;
		}
	} else if ((v = header_value(line, "retry-after"))) {
		long long s = parse_ll(v, NULL);

		x->retry_after = s < 0 ? -1 : s > 3600 ? 3600 : (long)s;
	}
	return len;
}

static long long elapsed_ns(const struct timespec *since, const struct timespec *now)
{
	return (long long)(now->tv_sec - since->tv_sec) * 1000000000LL + (now->tv_nsec - since->tv_nsec);
}

/*
 * Stall detection. CURLOPT_LOW_SPEED_* averages the speed over a window of
 * several seconds, so a few bytes followed by silence go unnoticed for longer
 * than asked; this counts the time since the last byte instead.
 */
static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = ud;
	struct timespec now;

	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	if (clock_gettime(CLOCK_MONOTONIC, &now))
		return 0;
	if (dlnow != x->last_dlnow) {
		x->last_dlnow = dlnow;
		x->last_data = now;
		return 0;
	}
	if (elapsed_ns(&x->last_data, &now) < (long long)x->c->cs->stall_s * 1000000000LL)
		return 0;
	x->stalled = true;
	return 1;
}

static void report_progress(struct xfer *x, bool force)
{
	struct call *c = x->c;
	struct timespec now;
	long long ns;

	if (!c->sink->progress || clock_gettime(CLOCK_MONOTONIC, &now))
		return;
	ns = elapsed_ns(&c->last_progress, &now);
	if (!force && c->last_progress.tv_sec && ns < PROGRESS_EVERY_NS)
		return;
	c->last_progress = now;
	c->sink->progress(c->sink, c->sink->offset, x->total);
}

/* The final response's headers are in: decide what its body is for. */
static void begin_body(struct xfer *x)
{
	struct call *c = x->c;
	int rc;

	x->started = true;
	if (x->status < 200 || x->status > 299) {
		x->error_body = true;
		return;
	}
	if (c->kind != REQ_API && !strncmp(x->ctype, "text/html", 9)) {
		x->stop = STOP_HTML;
		return;
	}
	if (c->kind != REQ_DOWNLOAD)
		return;
	if (x->asked_end) {
		/* one segment: exactly the range asked for, or nothing */
		if (x->status != 206 || x->crange_start < 0 || (uint64_t)x->crange_start != x->asked)
			x->stop = STOP_RANGE;
		return;
	}
	if (x->status == 206) {
		if (x->crange_start < 0 || (uint64_t)x->crange_start != x->asked) {
			x->stop = STOP_RANGE;
			return;
		}
		x->total = x->crange_total > 0 ? (uint64_t)x->crange_total
			   : x->clen >= 0 ? x->asked + (uint64_t)x->clen : 0;
		if (c->probe && x->crange_total > 0) {
			rc = c->sink->begin(c->sink, x->total, 1);
			if (rc < 0) {
				x->stop = STOP_FAILED;
				x->rc = rc;
				return;
			}
			c->probe = false;
			if (rc == 1) {
				c->total = x->total;
				x->stop = STOP_SEGMENTS;
				return;
			}
			/* in order after all: the offset is what the sink kept */
			if (c->sink->offset != x->asked) {
				x->stop = STOP_RANGE;
				return;
			}
		}
	} else {
		/* the server ignores Range: one stream */
		if (c->probe && (rc = c->sink->begin(c->sink, x->clen >= 0 ? (uint64_t)x->clen : 0, 0)) < 0) {
			x->stop = STOP_FAILED;
			x->rc = rc;
			return;
		}
		c->probe = false;
		/* the whole body: what we held is worth nothing now */
		if (c->sink->offset > 0 && (rc = c->sink->restart(c->sink)) < 0) {
			x->stop = STOP_FAILED;
			x->rc = rc;
			return;
		}
		x->total = x->clen >= 0 ? (uint64_t)x->clen : 0;
	}
	report_progress(x, true);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct call *c = x->c;
	size_t len = size * nmemb;
	int rc;

	if (!x->started)
		begin_body(x);
	if (x->stop)
		return 0;
	if (x->error_body) {
		if (x->err.len < ERRBODY_MAX && syn_buf_put(&x->err, data, len < ERRBODY_MAX ? len : ERRBODY_MAX))
			syn_error_clear(); /* the message is a nicety */
		return len;
	}
	if (c->kind == REQ_DOWNLOAD && x->asked_end) {
		size_t took = 0;

		/* the range is whole: what a server sends past it belongs to no claim of this connection */
		if (x->range_done) {
			x->stop = STOP_RANGE;
			return 0;
		}
		rc = c->sink->write_at(c->sink, x->pos, data, len, &took);
		if (rc < 0) {
			x->stop = STOP_FAILED;
			x->rc = rc;
			return 0;
		}
		x->pos += took;
		x->range_done = rc == 1;
		if (rc == 1 && x->pos < x->asked_end) {
			x->stop = STOP_PIECE; /* the rest went to another connection */
			return 0;
		}
		if (took < len) {
			x->stop = STOP_RANGE; /* more bytes than the range asked for */
			return 0;
		}
		report_progress(x, false);
		return len;
	}
	if (c->kind == REQ_DOWNLOAD) {
		rc = c->sink->write(c->sink, data, len);
		if (rc < 0) {
			x->stop = STOP_FAILED;
			x->rc = rc;
			return 0;
		}
		report_progress(x, false);
		return len;
	}
	if (c->out->len - c->out_base > c->max || len > c->max - (c->out->len - c->out_base)) {
		x->stop = STOP_TOO_BIG;
		return 0;
	}
	if ((rc = syn_buf_put(c->out, data, len))) {
		x->stop = STOP_FAILED;
		x->rc = rc;
		return 0;
	}
	return len;
}

/* ---- one attempt ----------------------------------------------------------- */

#define SETOPT(h, opt, val)                                           \
	do {                                                          \
		if (res == CURLE_OK)                                  \
			res = curl_easy_setopt((h), (opt), (val));    \
	} while (0)

/* A request's headers, owned until the transfer ends. */
struct req_headers {
	struct curl_slist *list;
	struct syn_buf auth;
	char range[48];
};

static void req_headers_dispose(struct req_headers *rh)
{
	curl_slist_free_all(rh->list);
	rh->list = NULL;
	syn_buf_dispose(&rh->auth);
}

/* Set @h up for one attempt of @x to @url. */
static CURLcode setup(CURL *h, struct xfer *x, const char *url, char *errbuf, struct req_headers *rh)
{
	struct call *c = x->c;
	struct civ_source *cs = c->cs;
	const char *protocols = cs->http_ok ? "http,https" : "https";
	struct curl_slist *more;
	CURLcode res = CURLE_OK;

	curl_easy_reset(h);
	SETOPT(h, CURLOPT_SHARE, cs->share);
	errbuf[0] = '\0';
	if (clock_gettime(CLOCK_MONOTONIC, &x->last_data))
		return CURLE_FAILED_INIT;
	if (c->kind == REQ_API) {
		more = curl_slist_append(rh->list, "Accept: application/json");
		res = more ? res : CURLE_OUT_OF_MEMORY;
		rh->list = more ? more : rh->list;
	}
	if (c->post && res == CURLE_OK) {
		more = curl_slist_append(rh->list, "Content-Type: application/json");
		res = more ? res : CURLE_OUT_OF_MEMORY;
		rh->list = more ? more : rh->list;
	}
	if (c->bearer && res == CURLE_OK) {
		more = syn_buf_printf(&rh->auth, "Authorization: Bearer %s", cs->token) ? NULL
			: curl_slist_append(rh->list, rh->auth.ptr);
		res = more ? res : CURLE_OUT_OF_MEMORY;
		rh->list = more ? more : rh->list;
	}
	SETOPT(h, CURLOPT_URL, url);
	SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_USERAGENT, USER_AGENT);
	SETOPT(h, CURLOPT_HTTPHEADER, rh->list);
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 1L);
	SETOPT(h, CURLOPT_MAXREDIRS, 5L);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, protocols);
	SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT, 30L);
	SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	SETOPT(h, CURLOPT_LOW_SPEED_TIME, cs->stall_s);
	SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	SETOPT(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
	SETOPT(h, CURLOPT_XFERINFODATA, x);
	SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(h, CURLOPT_HEADERDATA, x);
	SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(h, CURLOPT_WRITEDATA, x);
	if (c->kind == REQ_API)
		SETOPT(h, CURLOPT_ACCEPT_ENCODING, "");
	if (c->post) {
		SETOPT(h, CURLOPT_POSTFIELDS, c->post);
		SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->post));
	}
	if (c->kind == REQ_DOWNLOAD && x->asked_end) {
		snprintf(rh->range, sizeof(rh->range), "%llu-%llu", (unsigned long long)x->asked,
			 (unsigned long long)(x->asked_end - 1));
		SETOPT(h, CURLOPT_RANGE, rh->range);
	} else if (c->kind == REQ_DOWNLOAD && (x->asked > 0 || c->probe)) {
		/* a probe asks for a range even from zero: a 206 says the server honours them */
		snprintf(rh->range, sizeof(rh->range), "%llu-", (unsigned long long)x->asked);
		SETOPT(h, CURLOPT_RANGE, rh->range);
	}
	return res;
}

static CURLcode perform(CURL *h, struct xfer *x, char *errbuf)
{
	struct req_headers rh = { .auth = SYN_BUF_INIT };
	CURLcode res = setup(h, x, x->c->url, errbuf, &rh);

	if (res == CURLE_OK)
		res = curl_easy_perform(h);
	/* an empty body never reaches on_body */
	if (res == CURLE_OK && !x->started)
		begin_body(x);
	if (x->stop == STOP_SEGMENTS && !x->c->resolved) {
		char *eff = NULL;

		if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff &&
		    !(x->c->resolved = strdup(eff))) {
			x->stop = STOP_FAILED;
			x->rc = syn_error_set(SYN_ENOMEM, "out of memory");
		}
	}
	req_headers_dispose(&rh);
	return res;
}

/* Civitai's own explanation from an error body ("message", else "error"), cleaned for a message. */
static void civitai_says(const struct syn_buf *body, char *out, size_t size)
{
	json_t *j = body->len ? json_loadb(body->ptr, body->len, 0, NULL) : NULL;
	const char *m = NULL;
	size_t i = 0, o = 0;

	out[0] = '\0';
	if (json_is_object(j)) {
		m = json_string_value(json_object_get(j, "message"));
		if (!m || !*m)
			m = json_string_value(json_object_get(j, "error"));
	}
	for (; m && m[i] && o + 1 < size; i++)
		out[o++] = (unsigned char)m[i] < 0x20 || m[i] == 0x7f ? ' ' : m[i];
	out[o] = '\0';
	json_decref(j);
}

static const char *attempts_word(int n)
{
	return n == 1 ? "attempt" : "attempts";
}

/* Why an attempt failed at the transport level, for a message. */
static void transport_detail(const struct xfer *x, CURLcode res, const char *errbuf, char *out, size_t size)
{
	const struct call *c = x->c;

	if (x->stalled || (res == CURLE_OPERATION_TIMEDOUT && strstr(errbuf, "too slow")))
		snprintf(out, size, "stalled: no data for %ld s", c->cs->stall_s);
	else if (res == CURLE_PARTIAL_FILE)
		snprintf(out, size, "the connection closed before the end of the file (%s)",
			 errbuf[0] ? errbuf : curl_easy_strerror(res));
	else
		snprintf(out, size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
}

static bool transport_retryable(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

/* Restart the sink after the server could not serve our Range. */
static enum verdict restart_sink(struct call *c, int *rc)
{
	*rc = c->sink->restart(c->sink);
	return *rc < 0 ? V_FAIL : V_RESTART;
}

/* What an attempt's outcome means; sets the message of a failure (final or not). */
static enum verdict judge(struct call *c, struct xfer *x, CURLcode res, const char *errbuf, int attempt, int *rc)
{
	char says[256], detail[CURL_ERROR_SIZE + 96], quoted[300] = "";

	*rc = 0;
	switch (x->stop) {
	case STOP_SEGMENTS:
		return V_SEGMENTS;
	case STOP_PIECE:
		return V_DONE;
	case STOP_FAILED:
		*rc = x->rc;
		return V_FAIL;
	case STOP_HTML:
		*rc = syn_error_set(SYN_EAUTH, "Civitai answered with a web page instead of the %s (usually a login page): "
				    LOGIN_HINT, c->subject);
		return V_FAIL;
	case STOP_TOO_BIG:
		*rc = syn_error_set(SYN_EINVALID, "%s is larger than %zu bytes: refusing it", c->subject, c->max);
		return V_FAIL;
	case STOP_RANGE:
		if (x->asked_end) {
			*rc = syn_error_set(SYN_ENETWORK, "the server answered a range of %s with other bytes (HTTP %ld)",
					    c->subject, x->status);
			return V_RETRY;
		}
		if (x->asked > 0)
			return restart_sink(c, rc);
		*rc = syn_error_set(SYN_ENETWORK, "the server sent a part of %s that was not asked for: try again later",
				    c->subject);
		return V_FAIL;
	case STOP_NONE:
		break;
	}
	if (res == CURLE_OUT_OF_MEMORY) {
		*rc = syn_error_set(SYN_ENOMEM, "out of memory");
		return V_FAIL;
	}
	if (res == CURLE_UNSUPPORTED_PROTOCOL || res == CURLE_URL_MALFORMAT) {
		*rc = syn_error_set(SYN_EINVALID, "refusing to fetch %s (%s): only %s URLs are allowed", c->subject,
				    errbuf[0] ? errbuf : curl_easy_strerror(res), c->cs->http_ok ? "http(s)" : "https");
		return V_FAIL;
	}
	if (res != CURLE_OK) {
		transport_detail(x, res, errbuf, detail, sizeof(detail));
		*rc = syn_error_set(SYN_ENETWORK, "cannot get %s: %s (after %d %s): check the network connection and try again",
				    c->subject, detail, attempt, attempts_word(attempt));
		return x->stalled || transport_retryable(res) ? V_RETRY : V_FAIL;
	}
	if (x->status >= 200 && x->status <= 299)
		return V_DONE;
	if (x->status == 416 && c->kind == REQ_DOWNLOAD && x->asked > 0 && !x->asked_end)
		return restart_sink(c, rc);
	civitai_says(&x->err, says, sizeof(says));
	if (says[0])
		snprintf(quoted, sizeof(quoted), "; Civitai says \"%s\"", says);
	switch (x->status) {
	case 401:
		if (c->token_sent)
			*rc = syn_error_set(SYN_EAUTH, "Civitai requires a login for %s and did not accept the token "
					    "that was sent%s: check that CIVITAI_API_TOKEN holds a valid API key from "
					    "civitai.com/user/account", c->subject, quoted);
		else
			*rc = syn_error_set(SYN_EAUTH, "Civitai requires a login for %s%s: " LOGIN_HINT, c->subject,
					    quoted);
		return V_FAIL;
	case 403:
		*rc = syn_error_set(SYN_EAUTH, "Civitai denies access to %s: it is in early access or this account has "
				    "no access to it%s: wait for early access to end, or check the account of "
				    "CIVITAI_API_TOKEN on civitai.com", c->subject, quoted);
		return V_FAIL;
	case 404:
		*rc = syn_error_set(SYN_ENOTFOUND, "%s not found on Civitai (it may have been deleted)%s", c->subject,
				    quoted);
		return V_FAIL;
	case 410:
		*rc = syn_error_set(SYN_ENOTFOUND, "%s archived by its creator: no longer downloadable%s", c->subject,
				    quoted);
		return V_FAIL;
	case 429:
		*rc = syn_error_set(SYN_ENETWORK, "rate limited by Civitai while getting %s (after %d %s)%s: "
				    "wait a few minutes and try again", c->subject, attempt, attempts_word(attempt), quoted);
		return V_RETRY;
	default:
		break;
	}
	if (x->status >= 500) {
		*rc = syn_error_set(SYN_ENETWORK, "Civitai failed with HTTP %ld for %s (after %d %s)%s: try again later",
				    x->status, c->subject, attempt, attempts_word(attempt), quoted);
		return V_RETRY;
	}
	*rc = syn_error_set(x->status == 400 ? SYN_EINVALID : SYN_ENETWORK, "Civitai answered HTTP %ld for %s%s",
			    x->status, c->subject, quoted);
	return V_FAIL;
}

static void sleep_ms(long long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long backoff_ms(const struct civ_source *cs, int attempt, long retry_after)
{
	long long d = cs->retry_ms;
	int i;

	if (retry_after >= 0)
		d = (long long)retry_after * 1000;
	else
		for (i = 1; i < attempt && d < MAX_DELAY_MS; i++)
			d *= 2;
	return d > MAX_DELAY_MS ? MAX_DELAY_MS : d;
}

static int run(struct call *c)
{
	char errbuf[CURL_ERROR_SIZE];
	int attempt = 0, restarts = 0, rc = 0;
	CURL *h = curl_easy_init();

	free(c->resolved);
	c->resolved = NULL;
	c->segmented = false;

	if (!h)
		return syn_error_set(SYN_ENOMEM, "cannot create a curl handle");
	for (;;) {
		struct xfer x = { .c = c, .clen = -1, .crange_start = -1, .crange_total = -1, .retry_after = -1,
				  .err = SYN_BUF_INIT };
		enum verdict v;
		CURLcode res;

		if (c->kind == REQ_DOWNLOAD)
			x.asked = c->sink->offset;
		else
			syn_buf_truncate(c->out, c->out_base);
		attempt++;
		res = perform(h, &x, errbuf);
		v = judge(c, &x, res, errbuf, attempt, &rc);
		syn_buf_dispose(&x.err);
		if (v == V_SEGMENTS) {
			c->segmented = true;
			break;
		}
		if (v == V_DONE) {
			if (c->kind == REQ_DOWNLOAD)
				report_progress(&x, true);
			break;
		}
		if (v == V_FAIL)
			break;
		if (v == V_RESTART) {
			/* the server could not resume: start over at once, once per attempt */
			attempt--;
			if (++restarts > MAX_ATTEMPTS) {
				rc = syn_error_set(SYN_ENETWORK, "cannot resume %s: the server keeps refusing the range; "
						   "try again later", c->subject);
				break;
			}
			continue;
		}
		if (attempt >= MAX_ATTEMPTS)
			break;
		sleep_ms(backoff_ms(c->cs, attempt, x.retry_after));
	}
	curl_easy_cleanup(h);
	return rc;
}

/* ---- segments --------------------------------------------------------------- */

/* One connection of a segmented download. */
struct seg_conn {
	CURL *h;
	struct xfer x;
	struct req_headers rh;
	char errbuf[CURL_ERROR_SIZE];
	bool busy;
};

/*
 * Connections to one host from every segmented download of the process:
 * the core's `connections` caps them per host as well as per file, so
 * parallel downloads from one CDN share that many between them.
 */
#define HOSTS_MAX 32

static pthread_mutex_t hosts_mu = PTHREAD_MUTEX_INITIALIZER;
static struct host_slots {
	char name[256];
	unsigned int used;
} hosts[HOSTS_MAX];

/* Take one of @cap connections to @host; false when all are in use. */
static bool host_take(const char *host, unsigned int cap)
{
	struct host_slots *free_slot = NULL, *h = NULL;
	bool ok = false;
	int i;

	pthread_mutex_lock(&hosts_mu);
	for (i = 0; i < HOSTS_MAX && !h; i++) {
		if (hosts[i].used && !strcmp(hosts[i].name, host))
			h = &hosts[i];
		else if (!hosts[i].used && !free_slot)
			free_slot = &hosts[i];
	}
	if (!h && free_slot) {
		h = free_slot;
		snprintf(h->name, sizeof(h->name), "%s", host);
	}
	/* a table that is full counts nothing: never a reason to stop */
	if (!h || h->used < cap) {
		if (h)
			h->used++;
		ok = true;
	}
	pthread_mutex_unlock(&hosts_mu);
	return ok;
}

static void host_give(const char *host)
{
	int i;

	pthread_mutex_lock(&hosts_mu);
	for (i = 0; i < HOSTS_MAX; i++)
		if (hosts[i].used && !strcmp(hosts[i].name, host)) {
			hosts[i].used--;
			break;
		}
	pthread_mutex_unlock(&hosts_mu);
}

/* What the transfers of a segmented download share. */
struct segs {
	struct call *c;
	char host[256];         /* the CDN's host, for the per-host cap */
	unsigned int conns;     /* connections of the download */
	unsigned int allowed;   /* connections that may run now: lowered on 429 and forced closes */
	int fails;              /* transfers in a row that ended in error without a byte */
	int expiries;           /* 403/410 from the CDN in a row */
	bool reresolve;         /* the CDN URL expired: ask the download URL again */
	struct timespec hold;   /* start nothing new before this */
};

/* Take the host of the URL @c downloads from now as the one its connections count against. */
static void segs_host(struct segs *g, const struct call *c)
{
	char *scheme = NULL, *host = NULL;

	if (civ_url_host(c->resolved ? c->resolved : c->url, &scheme, &host))
		snprintf(g->host, sizeof(g->host), "%s", host);
	curl_free(scheme);
	curl_free(host);
}

static bool is_forced_close(CURLcode res)
{
	return res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR || res == CURLE_PARTIAL_FILE ||
	       res == CURLE_GOT_NOTHING;
}

static void hold_for(struct segs *g, long long ms)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_sec += (time_t)(ms / 1000);
	now.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (now.tv_nsec >= 1000000000L) {
		now.tv_sec++;
		now.tv_nsec -= 1000000000L;
	}
	if (elapsed_ns(&g->hold, &now) > 0)
		g->hold = now;
}

/* A transfer of @k ended with @res: 0 to go on (its rest given back), or the error that ends the download. */
static int segment_done(struct segs *g, struct seg_conn *k, CURLcode res)
{
	struct call *c = g->c;
	struct xfer *x = &k->x;
	bool progressed = x->pos > x->asked;
	enum verdict v;
	int rc = 0;

	/* a range the core called complete was shortened: its rest is another connection's */
	if (!x->range_done && x->pos < x->asked_end && c->sink->release(c->sink, x->pos) < 0)
		rc = syn_error_code();
	if (!rc && x->stop != STOP_FAILED && (x->status == 403 || x->status == 410) && x->asked_end) {
		/* a presigned CDN URL that expired: the download URL gives a fresh one */
		if (++g->expiries > MAX_ATTEMPTS) {
			rc = syn_error_set(SYN_EAUTH, "the CDN keeps refusing %s (HTTP %ld) after asking Civitai for a "
					   "new link %d times: try again later", c->subject, x->status, MAX_ATTEMPTS);
		} else {
			g->reresolve = true;
		}
		goto out;
	}
	if (rc)
		goto out;
	v = judge(c, x, res, k->errbuf, g->fails + 1, &rc);
	if (v == V_DONE && x->pos < x->asked_end && !x->range_done) {
		rc = syn_error_set(SYN_ENETWORK, "cannot get %s: the connection closed before the end of a range "
				   "(after %d %s): check the network connection and try again", c->subject,
				   g->fails + 1, attempts_word(g->fails + 1));
		v = V_RETRY;
	}
	if (v == V_DONE) {
		g->fails = 0;
		g->expiries = 0;
		rc = 0;
		goto out;
	}
	if (v != V_RETRY)
		goto out;
	/* be polite: fewer connections after the server pushed back */
	if ((x->status == 429 || x->status == 503 || is_forced_close(res)) && g->allowed > 1)
		g->allowed--;
	/*
	 * The connections in flight often fail together (one 429, one outage):
	 * each of them is one more try, and the back-off grows per round of them.
	 */
	g->fails = progressed ? 0 : g->fails + 1;
	if (g->fails >= MAX_ATTEMPTS + (int)g->conns - 1)
		goto out;
	if (!progressed || x->status == 429)
		hold_for(g, backoff_ms(c->cs, 1 + g->fails / (int)g->conns, x->retry_after));
	syn_error_clear();
	rc = 0;
out:
	syn_buf_dispose(&x->err);
	req_headers_dispose(&k->rh);
	return rc;
}

/* Start a transfer on idle @k: 1 started, 0 nothing to claim, 2 the host has no connection free, negative an error. */
static int segment_start(struct segs *g, struct seg_conn *k, CURLM *m)
{
	struct call *c = g->c;
	uint64_t s, e;
	CURLcode res;
	int rc;

	if (!host_take(g->host, c->sink->connections))
		return 2;
	rc = c->sink->next(c->sink, &s, &e);
	if (rc <= 0) {
		host_give(g->host);
		return rc;
	}
	k->x = (struct xfer){ .c = c, .clen = -1, .crange_start = -1, .crange_total = -1, .retry_after = -1,
			      .err = SYN_BUF_INIT, .asked = s, .asked_end = e, .pos = s, .total = c->total };
	k->rh = (struct req_headers){ .auth = SYN_BUF_INIT };
	res = setup(k->h, &k->x, c->resolved ? c->resolved : c->url, k->errbuf, &k->rh);
	if (res != CURLE_OK || curl_multi_add_handle(m, k->h) != CURLM_OK) {
		req_headers_dispose(&k->rh);
		c->sink->release(c->sink, s);
		host_give(g->host);
		return syn_error_set(SYN_ENOMEM, "cannot start a transfer of %s", c->subject);
	}
	k->busy = true;
	return 1;
}

/*
 * The segmented download the probe chose: every connection claims ranges
 * of the file from the core until none is left, from the CDN URL the probe
 * was sent to.
 */
static int run_segments(struct call *c)
{
	struct segs g = { .c = c };
	unsigned int n = c->sink->connections, i, active = 0;
	struct seg_conn *conns;
	bool exhausted = false, crowded;
	CURLM *m;
	int rc = 0;

	segs_host(&g, c);
	n = n < 1 ? 1 : n > SYN_SINK_CONNECTIONS_MAX ? SYN_SINK_CONNECTIONS_MAX : n;
	g.allowed = n;
	g.conns = n;
	conns = calloc(n, sizeof(*conns));
	m = curl_multi_init();
	for (i = 0; conns && i < n; i++)
		if (!(conns[i].h = curl_easy_init()))
			break;
	if (!conns || !m || i < n) {
		rc = syn_error_set(SYN_ENOMEM, "cannot create curl handles");
		goto out;
	}
	/* per host: the CDN sees no more connections than the core asked for */
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
	report_progress(&(struct xfer){ .c = c, .total = c->total }, true);
	for (;;) {
		struct timespec now;
		CURLMsg *msg;
		int still, left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		crowded = false;
		for (i = 0; !rc && !g.reresolve && !exhausted && !crowded && active < g.allowed &&
			    elapsed_ns(&g.hold, &now) >= 0 && i < n; i++) {
			int r;

			if (conns[i].busy)
				continue;
			r = segment_start(&g, &conns[i], m);
			if (r < 0)
				rc = r;
			else if (r == 0)
				exhausted = true;
			else if (r == 2)
				crowded = true;
			else
				active++;
		}
		if (!active) {
			if (rc)
				break;
			if (g.reresolve) {
				/* ask the download URL again; a probe that streams in order ends the download */
				g.reresolve = false;
				c->probe = true;
				rc = run(c);
				if (rc || !c->segmented)
					break;
				/* nothing is in flight: the host slots are taken afresh, on the host the new URL names */
				segs_host(&g, c);
				exhausted = false;
				continue;
			}
			if (exhausted)
				break;
			/* everything idle while held back, or other downloads hold every connection to the host */
			if (elapsed_ns(&now, &g.hold) > 0)
				sleep_ms(elapsed_ns(&now, &g.hold) / 1000000LL + 1);
			else if (crowded)
				sleep_ms(20);
			continue;
		}
		if (curl_multi_perform(m, &still) != CURLM_OK) {
			rc = syn_error_set(SYN_ENETWORK, "cannot run the transfers of %s", c->subject);
			break;
		}
		while ((msg = curl_multi_info_read(m, &left))) {
			struct seg_conn *k = NULL;
			int r;

			if (msg->msg != CURLMSG_DONE)
				continue;
			for (i = 0; i < n && !k; i++)
				if (conns[i].busy && conns[i].h == msg->easy_handle)
					k = &conns[i];
			if (!k)
				continue;
			curl_multi_remove_handle(m, k->h);
			host_give(g.host);
			k->busy = false;
			active--;
			r = segment_done(&g, k, msg->data.result);
			if (r && !rc)
				rc = r;
			/* a range given back, or one more connection free to split another's */
			exhausted = false;
		}
		if (rc)
			break;
		if (active && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = syn_error_set(SYN_ENETWORK, "cannot wait for the transfers of %s", c->subject);
			break;
		}
	}
	/* on error: stop what is in flight and give its ranges back (they are kept for the next attempt) */
	for (i = 0; conns && i < n; i++) {
		if (!conns[i].busy)
			continue;
		curl_multi_remove_handle(m, conns[i].h);
		host_give(g.host);
		if (!conns[i].x.range_done && conns[i].x.pos < conns[i].x.asked_end)
			c->sink->release(c->sink, conns[i].x.pos);
		syn_buf_dispose(&conns[i].x.err);
		req_headers_dispose(&conns[i].rh);
	}
	if (!rc)
		report_progress(&(struct xfer){ .c = c, .total = c->total }, true);
out:
	for (i = 0; conns && i < n; i++)
		if (conns[i].h)
			curl_easy_cleanup(conns[i].h);
	free(conns);
	if (m)
		curl_multi_cleanup(m);
	return rc;
}

/* ---- the connection share -------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	struct civ_source *cs = ud;

	(void)h;
	(void)access;
	pthread_mutex_lock(&cs->share_mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct civ_source *cs = ud;

	(void)h;
	pthread_mutex_unlock(&cs->share_mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

int civ_http_init(struct civ_source *cs)
{
	int i;

	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&cs->share_mu[i], NULL);
	cs->share_mu_ready = true;
	cs->share = curl_share_init();
	if (!cs->share || curl_share_setopt(cs->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(cs->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(cs->share, CURLSHOPT_USERDATA, cs) ||
	    curl_share_setopt(cs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) ||
	    curl_share_setopt(cs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(cs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION))
		return syn_error_set(SYN_ENOMEM, "cannot create a curl share");
	return 0;
}

void civ_http_cleanup(struct civ_source *cs)
{
	int i;

	if (cs->share)
		curl_share_cleanup(cs->share);
	cs->share = NULL;
	if (cs->share_mu_ready)
		for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&cs->share_mu[i]);
	cs->share_mu_ready = false;
}

/* ---- the three entry points ------------------------------------------------ */

int civ_http_get_json(struct civ_source *cs, const char *url, const char *subject, json_t **out)
{
	struct syn_buf body = SYN_BUF_INIT;
	struct call c = { .cs = cs, .kind = REQ_API, .url = url, .subject = subject, .out = &body, .max = API_MAX };
	json_error_t jerr;
	int rc;

	*out = NULL;
	c.bearer = cs->token && civ_url_trusted(cs, url);
	c.token_sent = c.bearer;
	rc = run(&c);
	if (!rc) {
		*out = json_loadb(body.ptr, body.len, 0, &jerr);
		if (!*out)
			rc = syn_error_set(SYN_ECORRUPT, "unexpected response from Civitai for %s: %s (line %d): "
					   "try again later", subject, jerr.text, jerr.line);
	}
	syn_buf_dispose(&body);
	return civ_scrub(cs, rc);
}

int civ_http_post_json(struct civ_source *cs, const char *url, const json_t *body, const char *subject, json_t **out)
{
	struct syn_buf answer = SYN_BUF_INIT;
	struct call c = { .cs = cs, .kind = REQ_API, .url = url, .subject = subject, .out = &answer, .max = API_MAX };
	json_error_t jerr;
	char *text;
	int rc;

	*out = NULL;
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return civ_oom();
	c.post = text;
	c.bearer = cs->token && civ_url_trusted(cs, url);
	c.token_sent = c.bearer;
	rc = run(&c);
	if (!rc) {
		*out = json_loadb(answer.ptr, answer.len, 0, &jerr);
		if (!*out)
			rc = syn_error_set(SYN_ECORRUPT, "unexpected response from Civitai for %s: %s (line %d): "
					   "try again later", subject, jerr.text, jerr.line);
	}
	free(text);
	syn_buf_dispose(&answer);
	return civ_scrub(cs, rc);
}

int civ_http_download(struct civ_source *cs, const char *url, struct syn_sink *sink)
{
	struct syn_buf shown = SYN_BUF_INIT, subject = SYN_BUF_INIT;
	struct call c = { .cs = cs, .kind = REQ_DOWNLOAD, .url = url, .sink = sink };
	char *with_token = NULL;
	int rc;

	if (!url || !sink || !sink->write || !sink->restart)
		return syn_error_set(SYN_EINVALID, "download needs a URL and a sink with write and restart");
	if ((rc = civ_url_redact(url, &shown)) || (rc = syn_buf_printf(&subject, "file '%.300s'", shown.ptr)))
		goto out;
	c.subject = subject.ptr;
	if (cs->token && civ_url_trusted(cs, url)) {
		if ((rc = url_with_token(url, cs->token, &with_token)))
			goto out;
		c.url = with_token;
		c.token_sent = true;
	}
	/* a sink of version 4 may take the file in segments: the first response decides */
	c.probe = sink->version >= 4 && sink->begin && sink->next && sink->write_at && sink->release &&
		  sink->connections > 1 && sink->segment_min > 0;
	rc = run(&c);
	if (!rc && c.segmented)
		rc = run_segments(&c);
out:
	free(c.resolved);
	curl_free(with_token);
	syn_buf_dispose(&shown);
	syn_buf_dispose(&subject);
	return civ_scrub(cs, rc);
}

int civ_http_fetch(struct civ_source *cs, const char *url, size_t max, struct syn_buf *out)
{
	struct syn_buf shown = SYN_BUF_INIT, subject = SYN_BUF_INIT;
	struct call c = { .cs = cs, .kind = REQ_FETCH, .url = url, .out = out, .max = max };
	int rc;

	if (!url || !out)
		return syn_error_set(SYN_EINVALID, "fetch needs a URL and a buffer");
	c.out_base = out->len;
	if ((rc = civ_url_redact(url, &shown)) || (rc = syn_buf_printf(&subject, "preview '%.300s'", shown.ptr)))
		goto out;
	c.subject = subject.ptr;
	c.bearer = cs->token && civ_url_trusted(cs, url);
	c.token_sent = c.bearer;
	rc = run(&c);
	if (rc)
		syn_buf_truncate(out, c.out_base);
out:
	syn_buf_dispose(&shown);
	syn_buf_dispose(&subject);
	return civ_scrub(cs, rc);
}
