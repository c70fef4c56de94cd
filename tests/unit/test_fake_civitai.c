/*
 * Tests of the fake Civitai that the importer tests stand on: what it serves,
 * how it redirects, and that each fault looks to a real HTTP client (libcurl,
 * held to http:// and to 127.0.0.1) the way the brief promises.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "common.h"
#include "fake_civitai.h"

#define SIZE (256 * 1024)

static struct fake_civitai *fake;

static void fake_setup(void)
{
	tmp_setup();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, SIZE), 0);
}

static void fake_teardown(void)
{
	fake_civitai_stop(fake);
	fake = NULL;
	tmp_teardown();
}

/* ---- a small libcurl client -------------------------------------------------- */

struct resp {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	char ctype[128];
	char location[1024];
	char content_range[128];
	char cache_control[64];
	char disposition[512];
	char accept_ranges[32];
	double secs;
};

struct req {
	bool follow;
	const char *range; /* for CURLOPT_RANGE, e.g. "1000-" */
	const char *auth;  /* an Authorization header value */
	long timeout_ms;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	char *p = realloc(r->body, r->len + size * n + 1);

	if (!p)
		return 0;
	memcpy(p + r->len, data, size * n);
	r->body = p;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), vl;
	const char *v;

	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	v = line + nl + 1;
	vl = len - nl - 1;
	while (vl && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
		vl--;
	if (vl >= cap)
		vl = cap - 1;
	memcpy(out, v, vl);
	out[vl] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = size * n;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (after a redirect): keep only its headers */
		r->ctype[0] = r->location[0] = r->content_range[0] = r->cache_control[0] = '\0';
		r->disposition[0] = r->accept_ranges[0] = '\0';
	}
	header_value(line, len, "Content-Type", r->ctype, sizeof(r->ctype));
	header_value(line, len, "Location", r->location, sizeof(r->location));
	header_value(line, len, "Content-Range", r->content_range, sizeof(r->content_range));
	header_value(line, len, "Cache-Control", r->cache_control, sizeof(r->cache_control));
	header_value(line, len, "Content-Disposition", r->disposition, sizeof(r->disposition));
	header_value(line, len, "Accept-Ranges", r->accept_ranges, sizeof(r->accept_ranges));
	return len;
}

/* Only sockets to 127.0.0.1: the tests never reach anything else. */
static curl_socket_t open_loopback(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&a->addr;

	(void)clientp;
	(void)purpose;
	if (a->family != AF_INET || in->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

static void client_setup(CURL *h, struct resp *r)
{
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V4);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_loopback);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
}

static void get(struct resp *r, const char *url, const struct req *o)
{
	static const struct req plain = { false, NULL, NULL, 0 };
	struct curl_slist *hdrs = NULL;
	char auth[300];
	double t0;
	CURL *h;

	if (!o)
		o = &plain;
	memset(r, 0, sizeof(*r));
	h = curl_easy_init();
	ck_assert_ptr_nonnull(h);
	client_setup(h, r);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms ? o->timeout_ms : 20000L);
	if (o->range)
		curl_easy_setopt(h, CURLOPT_RANGE, o->range);
	if (o->auth) {
		snprintf(auth, sizeof(auth), "Authorization: %s", o->auth);
		hdrs = curl_slist_append(hdrs, auth);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	}
	t0 = now();
	r->rc = curl_easy_perform(h);
	r->secs = now() - t0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
}

/* GET <fake>/<path>. */
static void get_path(struct resp *r, const char *path, const struct req *o)
{
	char url[1024];

	snprintf(url, sizeof(url), "%s%s", fake_civitai_url(fake), path);
	get(r, url, o);
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

static json_t *resp_json(const struct resp *r)
{
	json_error_t err;
	json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, &err);

	ck_assert_msg(j != NULL, "not JSON (%s): %.200s", err.text, r->body ? r->body : "");
	return j;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	ck_assert_int_eq(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

static const char *jstr(const json_t *j, const char *path)
{
	json_t *v = json_object_get(j, path);

	ck_assert_msg(json_is_string(v), "'%s' is not a string", path);
	return json_string_value(v);
}

static void expect_error(const struct resp *r, long status, const char *error)
{
	json_t *j;

	ck_assert_int_eq(r->status, status);
	ck_assert_str_eq(r->ctype, "application/json");
	j = resp_json(r);
	ck_assert_str_eq(jstr(j, "error"), error);
	json_decref(j);
}

/* ---- what it serves ------------------------------------------------------- */

START_TEST(model_json_describes_the_bodies)
{
	const unsigned char *body;
	char sha[65], up[65], got[65], want[1024];
	json_t *j, *v, *file, *img;
	struct resp r, ir;
	size_t len;

	get_path(&r, "/api/v1/models/1102", NULL);
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.ctype, "application/json");
	ck_assert_ptr_null(strstr(r.body, "https://civitai.com"));
	j = resp_json(&r);
	ck_assert_str_eq(jstr(j, "name"), "SynthwavePunk");
	v = json_array_get(json_object_get(j, "modelVersions"), 0);
	file = json_array_get(json_object_get(v, "files"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(file, "id")), 5149);

	ck_assert(fake_civitai_file(fake, 5149, &body, &len, sha));
	ck_assert_uint_eq(len, SIZE);
	sha256_hex(body, len, got);
	ck_assert_str_eq(got, sha);
	memcpy(up, sha, sizeof(up));
	upper(up);
	ck_assert_str_eq(jstr(json_object_get(file, "hashes"), "SHA256"), up);
	up[10] = '\0';
	ck_assert_str_eq(jstr(json_object_get(file, "hashes"), "AutoV2"), up);
	ck_assert_str_eq(jstr(json_object_get(file, "hashes"), "AutoV1"), "9CE5CEA2"); /* others stay */
	ck_assert(json_is_real(json_object_get(file, "sizeKB")));
	ck_assert(json_real_value(json_object_get(file, "sizeKB")) == SIZE / 1024.0);
	snprintf(want, sizeof(want), "%s/api/download/models/1292?type=Model&format=PickleTensor",
		 fake_civitai_url(fake));
	ck_assert_str_eq(jstr(file, "downloadUrl"), want);
	snprintf(want, sizeof(want), "%s/api/download/models/1292", fake_civitai_url(fake));
	ck_assert_str_eq(jstr(v, "downloadUrl"), want);
	ck_assert(!fake_civitai_file(fake, 123456789, &body, &len, sha));

	/* previews move onto the fake and can be fetched */
	img = json_array_get(json_object_get(v, "images"), 0);
	snprintf(want, sizeof(want), "%s/images/", fake_civitai_url(fake));
	ck_assert_ptr_nonnull(strstr(jstr(img, "url"), want));
	ck_assert_ptr_nonnull(strstr(jstr(img, "url"), "-10650.jpeg"));
	get(&ir, jstr(img, "url"), NULL);
	ck_assert_int_eq(ir.status, 200);
	ck_assert_str_eq(ir.ctype, "image/jpeg");
	ck_assert_uint_gt(ir.len, 100);
	ck_assert_int_eq((unsigned char)ir.body[0], 0xff);
	ck_assert_int_eq((unsigned char)ir.body[1], 0xd8);
	resp_free(&ir);
	get_path(&ir, "/images/999-nope.jpeg", NULL);
	ck_assert_int_eq(ir.status, 404);
	resp_free(&ir);
	json_decref(j);
	resp_free(&r);
}
END_TEST

START_TEST(versions_by_id_hash_and_list)
{
	char sha[65], path[256];
	json_t *j, *item;
	struct resp r;
	size_t i;

	get_path(&r, "/api/v1/model-versions/1292", NULL);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "modelId")), 1102);
	ck_assert_str_eq(jstr(json_object_get(j, "model"), "name"), "SynthwavePunk");
	ck_assert_str_eq(jstr(json_object_get(j, "model"), "type"), "Checkpoint");
	ck_assert(json_is_false(json_object_get(json_object_get(j, "model"), "nsfw")));
	ck_assert(json_is_false(json_object_get(json_object_get(j, "model"), "poi")));
	ck_assert(fake_civitai_file(fake, 194, NULL, NULL, sha));
	upper(sha);
	ck_assert_str_eq(jstr(json_object_get(json_array_get(json_object_get(j, "files"), 1), "hashes"), "SHA256"),
			 sha);
	json_decref(j);
	resp_free(&r);

	/* standalone versions */
	get_path(&r, "/api/v1/model-versions/1318", NULL);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "modelId")), 1244);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "files"), 0), "id")),
			 289);
	json_decref(j);
	resp_free(&r);
	get_path(&r, "/api/v1/model-versions/2514310", NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_null(strstr(r.body, "https://civitai.com"));
	resp_free(&r);

	/* by hash: the full SHA256 in any case, or AutoV2 */
	ck_assert(fake_civitai_file(fake, 289, NULL, NULL, sha));
	snprintf(path, sizeof(path), "/api/v1/model-versions/by-hash/%s", sha);
	get_path(&r, path, NULL);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), 1318);
	json_decref(j);
	resp_free(&r);
	ck_assert(fake_civitai_file(fake, 194, NULL, NULL, sha));
	sha[10] = '\0';
	snprintf(path, sizeof(path), "/api/v1/model-versions/by-hash/%s", sha);
	get_path(&r, path, NULL);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), 1292);
	json_decref(j);
	resp_free(&r);
	get_path(&r, "/api/v1/model-versions/by-hash/0000000000", NULL);
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);

	/* the list file's items are models too */
	get_path(&r, "/api/v1/models?limit=3&types=TextualInversion", NULL);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_uint_gt(json_array_size(json_object_get(j, "items")), 0);
	json_array_foreach(json_object_get(j, "items"), i, item)
		ck_assert_str_eq(jstr(item, "type"), "TextualInversion");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "id")),
			 3036);
	json_decref(j);
	resp_free(&r);
	get_path(&r, "/api/v1/models/3036", NULL);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

/* The ids of a list answer's items, "1,2,3". */
static void item_ids(const struct resp *r, char *out, size_t size)
{
	json_t *j = resp_json(r), *item;
	size_t i, len = 0;

	out[0] = '\0';
	json_array_foreach(json_object_get(j, "items"), i, item)
		len += (size_t)snprintf(out + len, size - len, "%s%lld", i ? "," : "",
					(long long)json_integer_value(json_object_get(item, "id")));
	json_decref(j);
}

START_TEST(list_by_ids_hidden_and_removed)
{
	char ids[256];
	struct resp r;

	/* the ones asked for that exist, in the order asked */
	get_path(&r, "/api/v1/models?ids=3036,999999,1102&limit=100", NULL);
	ck_assert_int_eq(r.status, 200);
	item_ids(&r, ids, sizeof(ids));
	ck_assert_str_eq(ids, "3036,1102");
	resp_free(&r);
	get_path(&r, "/api/v1/models?ids=3036,1102&limit=1", NULL);
	item_ids(&r, ids, sizeof(ids));
	ck_assert_str_eq(ids, "3036");
	resp_free(&r);
	get_path(&r, "/api/v1/models?ids=1102,3036&types=TextualInversion", NULL);
	item_ids(&r, ids, sizeof(ids));
	ck_assert_str_eq(ids, "3036");
	resp_free(&r);
	get_path(&r, "/api/v1/models?ids=1102,,x", NULL);
	ck_assert_int_eq(r.status, 400);
	resp_free(&r);

	/* hidden from lists, still served on its own */
	fake_civitai_hide_from_lists(fake, 1102, true);
	get_path(&r, "/api/v1/models?ids=3036,1102", NULL);
	item_ids(&r, ids, sizeof(ids));
	ck_assert_str_eq(ids, "3036");
	resp_free(&r);
	get_path(&r, "/api/v1/models?limit=100", NULL);
	ck_assert_ptr_null(strstr(r.body, "\"id\":1102,"));
	resp_free(&r);
	get_path(&r, "/api/v1/models/1102", NULL);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	fake_civitai_hide_from_lists(fake, 1102, false);
	get_path(&r, "/api/v1/models?ids=1102", NULL);
	item_ids(&r, ids, sizeof(ids));
	ck_assert_str_eq(ids, "1102");
	resp_free(&r);

	/* removed: gone everywhere, versions too */
	ck_assert_int_eq(fake_civitai_remove_model(fake, 1102), 0);
	ck_assert_int_eq(fake_civitai_remove_model(fake, 1102), -1);
	get_path(&r, "/api/v1/models/1102", NULL);
	expect_error(&r, 404, "No model with id 1102");
	resp_free(&r);
	get_path(&r, "/api/v1/model-versions/1292", NULL);
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);
	get_path(&r, "/api/v1/models?ids=1102,3036", NULL);
	item_ids(&r, ids, sizeof(ids));
	ck_assert_str_eq(ids, "3036");
	resp_free(&r);
}
END_TEST

START_TEST(unknown_ids_are_404)
{
	struct resp r;

	get_path(&r, "/api/v1/models/999999", NULL);
	expect_error(&r, 404, "No model with id 999999");
	resp_free(&r);
	get_path(&r, "/api/v1/model-versions/424242", NULL);
	expect_error(&r, 404, "No model with id 424242");
	resp_free(&r);
	get_path(&r, "/api/download/models/424242", NULL);
	expect_error(&r, 404, "File not found");
	resp_free(&r);
	get_path(&r, "/api/download/models/1292?fileId=1", NULL);
	expect_error(&r, 404, "File not found");
	resp_free(&r);
	get_path(&r, "/api/download/models/1292?format=GGUF", NULL);
	expect_error(&r, 404, "File not found");
	resp_free(&r);
	get_path(&r, "/cdn/1/x.bin", NULL);
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);
	get_path(&r, "/nowhere", NULL);
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);
}
END_TEST

/* ---- downloads -------------------------------------------------------------- */

/* The CDN URL that /api/download/models/<path> redirects to (malloc'ed). */
static char *cdn_location(const char *download_path)
{
	char path[512];
	struct resp r;
	char *loc;

	snprintf(path, sizeof(path), "/api/download/models/%s", download_path);
	get_path(&r, path, NULL);
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 307);
	loc = strdup(r.location);
	resp_free(&r);
	return loc;
}

START_TEST(download_redirects_to_another_host)
{
	struct fake_request reqs[8];
	const unsigned char *body;
	char want[512], host[64], sha[65], got[65];
	struct resp r;
	size_t len, n;
	char *loc;

	get_path(&r, "/api/download/models/1292", NULL);
	ck_assert_int_eq(r.status, 307);
	ck_assert_str_eq(r.cache_control, "no-store");
	snprintf(want, sizeof(want), "http://localhost:%u/cdn/194/synthwavepunk_v3Alpha.safetensors?sig=",
		 fake_civitai_port(fake));
	ck_assert_msg(strncmp(r.location, want, strlen(want)) == 0, "Location %s", r.location);
	resp_free(&r);

	fake_civitai_clear_requests(fake);
	get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true });
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert(fake_civitai_file(fake, 194, &body, &len, sha));
	ck_assert_uint_eq(r.len, len);
	ck_assert(memcmp(r.body, body, len) == 0);
	sha256_hex(r.body, r.len, got);
	ck_assert_str_eq(got, sha);
	ck_assert_str_eq(r.ctype, "application/octet-stream");
	ck_assert_str_eq(r.accept_ranges, "bytes");
	ck_assert_str_eq(r.disposition, "attachment; filename=\"synthwavepunk_v3Alpha.safetensors\"");
	resp_free(&r);

	n = fake_civitai_requests(fake, reqs, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(reqs[0].method, "GET");
	ck_assert_str_eq(reqs[0].path, "/api/download/models/1292");
	snprintf(host, sizeof(host), "127.0.0.1:%u", fake_civitai_port(fake));
	ck_assert_str_eq(reqs[0].host, host);
	ck_assert_int_eq(reqs[0].status, 307);
	ck_assert_uint_eq(reqs[0].body_bytes, 0);
	ck_assert_str_eq(reqs[1].path, "/cdn/194/synthwavepunk_v3Alpha.safetensors");
	ck_assert(strncmp(reqs[1].query, "sig=", 4) == 0);
	snprintf(host, sizeof(host), "localhost:%u", fake_civitai_port(fake));
	ck_assert_str_eq(reqs[1].host, host);
	ck_assert_int_eq(reqs[1].status, 200);
	ck_assert_uint_eq(reqs[1].body_bytes, len);

	/* choosing a file: type/format, then fileId */
	fake_civitai_clear_requests(fake);
	loc = cdn_location("1292?type=Model&format=PickleTensor");
	ck_assert_msg(strstr(loc, "/cdn/5149/synthwavepunk_v3Alpha.ckpt?sig=") != NULL, "%s", loc);
	free(loc);
	ck_assert_uint_eq(fake_civitai_requests(fake, reqs, 8), 1);
	ck_assert_str_eq(reqs[0].query, "type=Model&format=PickleTensor");
	loc = cdn_location("1292?type=Model");
	ck_assert_ptr_nonnull(strstr(loc, "/cdn/194/"));
	free(loc);
	loc = cdn_location("1292?fileId=5149");
	ck_assert_ptr_nonnull(strstr(loc, "/cdn/5149/"));
	free(loc);
	loc = cdn_location("1318");
	ck_assert_ptr_nonnull(strstr(loc, "/cdn/289/froggyStyle_toad.ckpt?sig="));
	free(loc);
}
END_TEST

START_TEST(range_resumes_with_206)
{
	struct fake_request reqs[4];
	const unsigned char *body;
	char want[128];
	struct resp r;
	size_t len;
	char *loc = cdn_location("1292");

	ck_assert(fake_civitai_file(fake, 194, &body, &len, NULL));
	fake_civitai_clear_requests(fake);
	get(&r, loc, &(struct req){ .range = "1000-" });
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 206);
	ck_assert_uint_eq(r.len, len - 1000);
	ck_assert(memcmp(r.body, body + 1000, len - 1000) == 0);
	snprintf(want, sizeof(want), "bytes 1000-%zu/%zu", len - 1, len);
	ck_assert_str_eq(r.content_range, want);
	resp_free(&r);
	ck_assert_uint_eq(fake_civitai_requests(fake, reqs, 4), 1);
	ck_assert_str_eq(reqs[0].range, "bytes=1000-");
	ck_assert_int_eq(reqs[0].status, 206);
	ck_assert_uint_eq(reqs[0].body_bytes, len - 1000);

	get(&r, loc, &(struct req){ .range = "10-19" });
	ck_assert_int_eq(r.status, 206);
	ck_assert_uint_eq(r.len, 10);
	ck_assert(memcmp(r.body, body + 10, 10) == 0);
	ck_assert_str_eq(r.content_range, "bytes 10-19/262144");
	resp_free(&r);

	snprintf(want, sizeof(want), "%zu-", len);
	get(&r, loc, &(struct req){ .range = want });
	ck_assert_int_eq(r.status, 416);
	ck_assert_str_eq(r.content_range, "bytes */262144");
	resp_free(&r);
	free(loc);
}
END_TEST

/* ---- faults ------------------------------------------------------------------ */

START_TEST(fault_cut_truncates_the_transfer)
{
	struct fake_request reqs[4];
	const unsigned char *body;
	struct resp r;
	size_t len;

	ck_assert(fake_civitai_file(fake, 194, &body, &len, NULL));
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_CUT, 0, 0, 1);
	fake_civitai_clear_requests(fake);
	get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true });
	ck_assert_int_ne(r.rc, CURLE_OK);
	ck_assert_uint_eq(r.len, len / 2);
	ck_assert(memcmp(r.body, body, r.len) == 0);
	resp_free(&r);
	ck_assert_uint_eq(fake_civitai_requests(fake, reqs, 4), 2);
	ck_assert_uint_eq(reqs[1].body_bytes, len / 2);

	/* used up: the next one is whole, and so is a cut resumed */
	get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true });
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_uint_eq(r.len, len);
	resp_free(&r);

	/* a cut range sends half of what was asked for */
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_CUT, 0, 0, 1);
	get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true, .range = "1000-" });
	ck_assert_int_ne(r.rc, CURLE_OK);
	ck_assert_uint_eq(r.len, (len - 1000) / 2);
	ck_assert(memcmp(r.body, body + 1000, r.len) == 0);
	resp_free(&r);
}
END_TEST

START_TEST(fault_wrong_bytes_keeps_the_length)
{
	const unsigned char *body;
	char sha[65], got[65];
	struct resp r;
	size_t len;

	ck_assert(fake_civitai_file(fake, 194, &body, &len, sha));
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_WRONG_BYTES, 0, 0, 1);
	get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true });
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, len);
	sha256_hex(r.body, r.len, got);
	ck_assert_str_ne(got, sha);
	ck_assert_int_eq((unsigned char)r.body[0], body[0] ^ 0x5a);
	resp_free(&r);
}
END_TEST

START_TEST(fault_ignore_range_sends_everything)
{
	const unsigned char *body;
	struct resp r;
	size_t len;
	char *loc = cdn_location("1292");

	ck_assert(fake_civitai_file(fake, 194, &body, &len, NULL));
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_IGNORE_RANGE, 0, 0, -1);
	get(&r, loc, &(struct req){ .range = "1000-" });
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, len);
	ck_assert(memcmp(r.body, body, len) == 0);
	ck_assert_str_eq(r.content_range, "");
	resp_free(&r);
	free(loc);
}
END_TEST

START_TEST(fault_html_answers_a_login_page)
{
	struct resp r;
	json_t *j;

	fake_civitai_fault(fake, "/api/v1/models/1102", FAKE_FAULT_HTML, 0, 0, -1);
	for (int i = 0; i < 2; i++) {
		get_path(&r, "/api/v1/models/1102", NULL);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.ctype, "text/html; charset=utf-8");
		ck_assert_str_eq(r.body, "<!DOCTYPE html><html><body>Please log in</body></html>");
		resp_free(&r);
	}
	get_path(&r, "/api/v1/models/3036", NULL);
	ck_assert_str_eq(r.ctype, "application/json");
	resp_free(&r);
	fake_civitai_clear_faults(fake);
	get_path(&r, "/api/v1/models/1102", NULL);
	ck_assert_str_eq(r.ctype, "application/json");
	j = resp_json(&r);
	json_decref(j);
	resp_free(&r);
}
END_TEST

START_TEST(fault_status_answers_like_civitai)
{
	static const struct {
		int status;
		const char *error;
	} cases[] = {
		{ 401, "Unauthorized" },
		{ 403, "Early Access" },
		{ 404, "File not found" },
		{ 410, "Model archived, not available for download" },
		{ 429, "Too many requests" },
		{ 500, "Internal server error" },
		{ 503, "status 503" },
	};
	struct fake_request reqs[4];
	struct resp r;
	json_t *j;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, cases[i].status, 0, 1);
		get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true });
		expect_error(&r, cases[i].status, cases[i].error);
		if (cases[i].status == 401 || cases[i].status == 403) {
			j = resp_json(&r);
			ck_assert_ptr_nonnull(json_object_get(j, "message"));
			json_decref(j);
		}
		resp_free(&r);
	}
	get_path(&r, "/api/download/models/1292", NULL);
	ck_assert_int_eq(r.status, 307);
	resp_free(&r);

	/* the first matching fault applies; each counts down on its own */
	fake_civitai_fault(fake, "/api/", FAKE_FAULT_STATUS, 500, 0, 1);
	fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, 429, 0, 2);
	fake_civitai_clear_requests(fake);
	get_path(&r, "/api/download/models/1292", NULL);
	ck_assert_int_eq(r.status, 500);
	resp_free(&r);
	get_path(&r, "/api/download/models/1292", NULL);
	ck_assert_int_eq(r.status, 429);
	resp_free(&r);
	get_path(&r, "/api/v1/models/1102", NULL);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	get_path(&r, "/api/download/models/1292", NULL);
	ck_assert_int_eq(r.status, 429);
	resp_free(&r);
	ck_assert_uint_eq(fake_civitai_requests(fake, reqs, 4), 4);
	ck_assert_int_eq(reqs[0].status, 500);
	ck_assert_int_eq(reqs[1].status, 429);
	ck_assert_int_eq(reqs[2].status, 200);
	ck_assert_int_eq(reqs[3].status, 429);
	get_path(&r, "/api/download/models/1292", NULL);
	ck_assert_int_eq(r.status, 307);
	resp_free(&r);
}
END_TEST

START_TEST(fault_stall_makes_clients_time_out)
{
	struct resp r;

	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_STALL, 0, 300, -1);
	get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true, .timeout_ms = 100 });
	ck_assert_int_eq(r.rc, CURLE_OPERATION_TIMEDOUT);
	ck_assert_uint_le(r.len, 16);
	resp_free(&r);

	/* a patient client sees the transfer end early once the stall is over */
	get_path(&r, "/api/download/models/1292", &(struct req){ .follow = true, .timeout_ms = 10000 });
	ck_assert_int_ne(r.rc, CURLE_OK);
	ck_assert_int_ne(r.rc, CURLE_OPERATION_TIMEDOUT);
	ck_assert_uint_le(r.len, 16);
	resp_free(&r);
}
END_TEST

static void *stalled_download(void *arg)
{
	struct resp *r = arg;

	get_path(r, "/api/download/models/1292", &(struct req){ .follow = true, .timeout_ms = 600000 });
	return NULL;
}

START_TEST(stop_during_a_stall_is_prompt)
{
	struct fake_request reqs[8];
	struct resp bg, r;
	pthread_t t;
	double t0;
	size_t n, i;
	bool stalled = false;

	/* a stall far longer than the test's timeout: stop must not wait for it */
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_STALL, 0, 600000, -1);
	ck_assert_int_eq(pthread_create(&t, NULL, stalled_download, &bg), 0);
	for (t0 = now(); !stalled && now() - t0 < 10;) {
		n = fake_civitai_requests(fake, reqs, 8);
		for (i = 0; i < n && i < 8; i++)
			if (strncmp(reqs[i].path, "/cdn/", 5) == 0 && reqs[i].body_bytes > 0)
				stalled = true;
		if (!stalled)
			nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
	}
	ck_assert(stalled);

	/* a stalled connection holds up no other */
	get_path(&r, "/api/v1/models/1102", &(struct req){ .timeout_ms = 20000 });
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	fake_civitai_stop(fake);
	fake = NULL;
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_ne(bg.rc, CURLE_OK);
	ck_assert_uint_le(bg.len, 16);
	resp_free(&bg);
}
END_TEST

/* ---- tokens, added models, determinism, the log -------------------------------- */

START_TEST(require_token_guards_downloads)
{
	struct fake_request reqs[8];
	struct resp r;
	json_t *j;
	size_t n;

	fake_civitai_require_token(fake, "secret");
	get_path(&r, "/api/download/models/1292", NULL);
	expect_error(&r, 401, "Unauthorized");
	j = resp_json(&r);
	ck_assert_str_eq(jstr(j, "message"), "The creator of this asset requires you to be logged in to download it");
	json_decref(j);
	resp_free(&r);
	get_path(&r, "/api/download/models/1292?token=wrong", NULL);
	ck_assert_int_eq(r.status, 401);
	resp_free(&r);
	get_path(&r, "/api/download/models/1292", &(struct req){ .auth = "Bearer wrong" });
	ck_assert_int_eq(r.status, 401);
	resp_free(&r);

	/* metadata stays public */
	get_path(&r, "/api/v1/models/1102", NULL);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	fake_civitai_clear_requests(fake);
	get_path(&r, "/api/download/models/1292?token=secret", NULL);
	ck_assert_int_eq(r.status, 307);
	resp_free(&r);
	get_path(&r, "/api/download/models/1292", &(struct req){ .auth = "Bearer secret", .follow = true });
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, SIZE);
	resp_free(&r);
	n = fake_civitai_requests(fake, reqs, 8);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(reqs[0].query, "token=secret");
	ck_assert_str_eq(reqs[1].authorization, "Bearer secret");
	ck_assert_int_eq(reqs[1].status, 307);
	/* curl does not carry the token to the other host, and the CDN needs none */
	ck_assert_str_eq(reqs[2].authorization, "");
	ck_assert_int_eq(reqs[2].status, 200);

	fake_civitai_require_token(fake, NULL);
	get_path(&r, "/api/download/models/1292", NULL);
	ck_assert_int_eq(r.status, 307);
	resp_free(&r);
}
END_TEST

static json_t *evil_model(long long vid)
{
	json_t *m = json_pack("{s:I,s:s,s:s,s:b,s:b,s:[{s:I,s:s,s:[{s:I,s:s,s:b,s:f,s:{},s:s}],s:s}]}", "id",
			      (json_int_t)900001, "name", "Evil", "type", "LORA", "nsfw", 0, "poi", 0,
			      "modelVersions", "id", (json_int_t)vid, "name", "v1", "files", "id",
			      (json_int_t)900003, "name", "../../evil.safetensors", "primary", 1, "sizeKB", 1.0,
			      "hashes", "downloadUrl", "https://civitai.com/api/download/models/900002",
			      "downloadUrl", "https://civitai.com/api/download/models/900002");

	ck_assert_ptr_nonnull(m);
	return m;
}

START_TEST(added_models_keep_hostile_names)
{
	const unsigned char *body;
	char want[256];
	json_t *m, *j, *file;
	struct resp r;
	size_t len;
	char *loc;

	m = evil_model(900002);
	ck_assert_int_eq(fake_civitai_add_model(fake, m), 0);
	json_decref(m);
	get_path(&r, "/api/v1/models/900001", NULL);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	file = json_array_get(json_object_get(json_array_get(json_object_get(j, "modelVersions"), 0), "files"), 0);
	ck_assert_str_eq(jstr(file, "name"), "../../evil.safetensors");
	snprintf(want, sizeof(want), "%s/api/download/models/900002", fake_civitai_url(fake));
	ck_assert_str_eq(jstr(file, "downloadUrl"), want);
	json_decref(j);
	resp_free(&r);

	get_path(&r, "/api/v1/model-versions/900002", NULL);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "modelId")), 900001);
	ck_assert_str_eq(jstr(json_object_get(j, "model"), "type"), "LORA");
	ck_assert_str_eq(jstr(json_array_get(json_object_get(j, "files"), 0), "name"), "../../evil.safetensors");
	json_decref(j);
	resp_free(&r);

	loc = cdn_location("900002");
	ck_assert_msg(strstr(loc, "/cdn/900003/..%2F..%2Fevil.safetensors?sig=") != NULL, "%s", loc);
	free(loc);
	get_path(&r, "/api/download/models/900002", &(struct req){ .follow = true });
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.disposition, "attachment; filename=\"../../evil.safetensors\"");
	ck_assert(fake_civitai_file(fake, 900003, &body, &len, NULL));
	ck_assert_uint_eq(r.len, len);
	ck_assert(memcmp(r.body, body, len) == 0);
	resp_free(&r);

	/* replacing the model replaces its versions */
	m = evil_model(900004);
	ck_assert_int_eq(fake_civitai_add_model(fake, m), 0);
	json_decref(m);
	get_path(&r, "/api/v1/model-versions/900002", NULL);
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);
	get_path(&r, "/api/v1/model-versions/900004", NULL);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	m = json_pack("{s:s}", "name", "no id");
	ck_assert_int_eq(fake_civitai_add_model(fake, m), -1);
	json_decref(m);
}
END_TEST

START_TEST(bodies_depend_on_the_file_id_only)
{
	struct fake_civitai *a, *b;
	const unsigned char *ba, *bb, *big;
	size_t la, lb, lbig;
	json_t *m = evil_model(900002);

	ck_assert_int_eq(fake_civitai_start(&a, NULL, 0), 0);
	ck_assert_int_eq(fake_civitai_start(&b, NULL, 0), 0);
	ck_assert_uint_ne(fake_civitai_port(a), fake_civitai_port(b));
	ck_assert(!fake_civitai_file(a, 900003, &ba, &la, NULL));
	ck_assert_int_eq(fake_civitai_add_model(a, m), 0);
	ck_assert_int_eq(fake_civitai_add_model(b, m), 0);
	ck_assert_int_eq(fake_civitai_add_model(fake, m), 0);
	ck_assert(fake_civitai_file(a, 900003, &ba, &la, NULL));
	ck_assert(fake_civitai_file(b, 900003, &bb, &lb, NULL));
	ck_assert(fake_civitai_file(fake, 900003, &big, &lbig, NULL));
	ck_assert_uint_eq(la, 64 * 1024 + 900003 % 4096);
	ck_assert_uint_eq(lb, la);
	ck_assert(memcmp(ba, bb, la) == 0);
	ck_assert_uint_eq(lbig, SIZE);
	ck_assert(memcmp(ba, big, la) == 0);
	json_decref(m);
	fake_civitai_stop(a);
	fake_civitai_stop(b);
	fake_civitai_stop(NULL);
}
END_TEST

START_TEST(the_log_is_capped)
{
	static struct fake_request reqs[5000];
	struct resp r;
	char url[256];
	CURL *h;
	int i;

	fake_civitai_clear_requests(fake);
	memset(&r, 0, sizeof(r));
	h = curl_easy_init();
	ck_assert_ptr_nonnull(h);
	client_setup(h, &r);
	for (i = 0; i < 4100; i++) {
		snprintf(url, sizeof(url), "%s/nowhere/%d?i=%d", fake_civitai_url(fake), i, i);
		curl_easy_setopt(h, CURLOPT_URL, url);
		ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	}
	curl_easy_cleanup(h);
	resp_free(&r);
	ck_assert_uint_eq(fake_civitai_requests(fake, reqs, 5000), 4100);
	ck_assert_str_eq(reqs[0].path, "/nowhere/0");
	ck_assert_str_eq(reqs[0].query, "i=0");
	ck_assert_int_eq(reqs[0].status, 404);
	ck_assert_str_eq(reqs[4095].path, "/nowhere/4095");
	ck_assert_str_eq(reqs[4096].path, ""); /* never written */
	fake_civitai_clear_requests(fake);
	ck_assert_uint_eq(fake_civitai_requests(fake, reqs, 5000), 0);
}
END_TEST

static Suite *fake_civitai_suite(void)
{
	Suite *s = suite_create("fake_civitai");

	TEST(s, model_json_describes_the_bodies, fake_setup, fake_teardown);
	TEST(s, versions_by_id_hash_and_list, fake_setup, fake_teardown);
	TEST(s, list_by_ids_hidden_and_removed, fake_setup, fake_teardown);
	TEST(s, unknown_ids_are_404, fake_setup, fake_teardown);
	TEST(s, download_redirects_to_another_host, fake_setup, fake_teardown);
	TEST(s, range_resumes_with_206, fake_setup, fake_teardown);
	TEST(s, fault_cut_truncates_the_transfer, fake_setup, fake_teardown);
	TEST(s, fault_wrong_bytes_keeps_the_length, fake_setup, fake_teardown);
	TEST(s, fault_ignore_range_sends_everything, fake_setup, fake_teardown);
	TEST(s, fault_html_answers_a_login_page, fake_setup, fake_teardown);
	TEST(s, fault_status_answers_like_civitai, fake_setup, fake_teardown);
	TEST(s, fault_stall_makes_clients_time_out, fake_setup, fake_teardown);
	TEST(s, stop_during_a_stall_is_prompt, fake_setup, fake_teardown);
	TEST(s, require_token_guards_downloads, fake_setup, fake_teardown);
	TEST(s, added_models_keep_hostile_names, fake_setup, fake_teardown);
	TEST(s, bodies_depend_on_the_file_id_only, fake_setup, fake_teardown);
	TEST(s, the_log_is_capped, fake_setup, fake_teardown);
	return s;
}

int main(void)
{
	int ret;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_FAILURE;
	ret = test_main(fake_civitai_suite());
	curl_global_cleanup();
	return ret;
}
