/*
 * End-to-end: `synapse serve` as a child process on 127.0.0.1:0, talked to
 * with libcurl, against the fake Civitai; every answer compared with what
 * the CLI's --json prints for the same operation.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../frontends/http/http.h"
#include "common.h"
#include "fake_civitai.h"

extern char **environ;

static struct fake_civitai *fake;
static char env_url[256];
static const char *env[8];
static pid_t server = -1;
static unsigned int port;
static const char *token; /* sent as the bearer token when set */

/* routes.c asks the server whether the page has a file; the tests link the table alone */
bool http_page_has(const char *path)
{
	(void)path;
	return false;
}

static void setup(void)
{
	tmp_setup();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, 128 * 1024), 0);
	snprintf(env_url, sizeof(env_url), "SYNAPSE_CIVITAI_URL=%s", fake_civitai_url(fake));
	env[0] = env_url;
	env[1] = "SYNAPSE_CIVITAI_RETRY_MS=5";
	env[2] = "SYNAPSE_CIVITAI_STALL_TIMEOUT=5";
	env[3] = "CIVITAI_API_TOKEN=";
	env[4] = "SYNAPSE_FSYNC=0";
	env[5] = NULL;
	unsetenv("CIVITAI_API_TOKEN");
	unsetenv("CIVITAI_API_KEY");
	token = NULL;
	server = -1;
}

/* Start `synapse serve --port 0` on <test_dir>/store with @extra (NULL-terminated) added to the environment. */
static void start_server(const char *const *extra)
{
	char *out = test_path("serve.out"), *err = test_path("serve.err"), *root = test_path("store"), *root_env;
	const char *argv[] = { SYN_TEST_BIN, "serve", "--port", "0", NULL };
	posix_spawn_file_actions_t fa;
	const char **envp;
	size_t n = 0, k = 0, i;
	int tries;

	while (environ[n])
		n++;
	envp = calloc(n + 16, sizeof(*envp));
	ck_assert_ptr_nonnull(envp);
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "SYNAPSE_ROOT=", 13) && strncmp(environ[i], "SYNAPSE_API_TOKEN=", 18))
			envp[k++] = environ[i];
	ck_assert_int_ge(asprintf(&root_env, "SYNAPSE_ROOT=%s", root), 0);
	envp[k++] = root_env;
	for (i = 0; env[i]; i++)
		envp[k++] = env[i];
	for (i = 0; extra && extra[i]; i++)
		envp[k++] = extra[i];
	envp[k] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(posix_spawn(&server, SYN_TEST_BIN, &fa, NULL, (char *const *)argv, (char *const *)envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	/* it prints the real port once it listens */
	for (tries = 0; tries < 2000; tries++) {
		char *text = test_read_file(out, NULL), *at = text ? strstr(text, "http://127.0.0.1:") : NULL;

		if (at && strchr(at, '\n')) {
			ck_assert_ptr_nonnull(strstr(text, "Synapse serving "));
			port = (unsigned int)strtoul(at + strlen("http://127.0.0.1:"), NULL, 10);
			free(text);
			break;
		}
		free(text);
		usleep(5000);
	}
	ck_assert_msg(port > 0, "the server never said where it listens");
	free(envp);
	free(root_env);
	free(root);
	free(err);
	free(out);
}

/* SIGTERM the server and return its exit status (128+signal when killed). */
static int stop_server(void)
{
	int status;

	if (server <= 0)
		return -1;
	kill(server, SIGTERM);
	ck_assert_int_eq(waitpid(server, &status, 0), server);
	server = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void teardown(void)
{
	if (server > 0)
		ck_assert_int_eq(stop_server(), 0);
	fake_civitai_stop(fake);
	tmp_teardown();
}

struct answer {
	long status;
	char *body;
	size_t len;
	char allow[128];
	char type[128];
	char csp[256];
};

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
	struct answer *a = p;
	char *grown = realloc(a->body, a->len + size * n + 1);

	ck_assert_ptr_nonnull(grown);
	memcpy(grown + a->len, data, size * n);
	a->body = grown;
	a->len += size * n;
	a->body[a->len] = '\0';
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *p)
{
	struct answer *a = p;
	size_t len = size * n;

	if (len > 7 && !strncasecmp(data, "Allow: ", 7))
		snprintf(a->allow, sizeof(a->allow), "%.*s", (int)(len - 9), data + 7);
	if (len > 14 && !strncasecmp(data, "Content-Type: ", 14))
		snprintf(a->type, sizeof(a->type), "%.*s", (int)(len - 16), data + 14);
	if (len > 25 && !strncasecmp(data, "Content-Security-Policy: ", 25))
		snprintf(a->csp, sizeof(a->csp), "%.*s", (int)(len - 27), data + 25);
	return len;
}

/* Headers every request_raw() also sends while set (NULL-terminated). */
static const char *const *extra_headers;

/* @method @path with @body (NULL: none; @len bytes, or strlen when -1), as @auth when set. */
static struct answer request_raw(const char *method, const char *path, const char *body, long len,
				 const char *auth, bool chunked)
{
	struct answer a = { 0 };
	struct curl_slist *headers = NULL;
	char url[1024], hdr[512];
	CURL *c = curl_easy_init();
	CURLcode rc;

	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	headers = curl_slist_append(headers, "Expect:");
	if (body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		if (chunked) {
			headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, len < 0 ? (long)strlen(body) : len);
		}
	}
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", auth);
		headers = curl_slist_append(headers, hdr);
	}
	for (size_t i = 0; extra_headers && extra_headers[i]; i++)
		headers = curl_slist_append(headers, extra_headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
	else
		a.status = -(long)rc;
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	if (!a.body)
		a.body = strdup("");
	return a;
}

static struct answer request(const char *method, const char *path, const char *body)
{
	return request_raw(method, path, body, -1, token, false);
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *doc = json_loads(text, 0, &err);

	ck_assert_msg(doc, "not one JSON document (%s): %s", err.text, text);
	return doc;
}

/* The JSON answer of @method @path, asserting its status. */
static json_t *call(const char *method, const char *path, const char *body, long status)
{
	struct answer a = request(method, path, body);
	json_t *doc;

	ck_assert_msg(a.status == status, "%s %s: %ld, not %ld: %s", method, path, a.status, status, a.body);
	ck_assert_str_eq(a.type, "application/json");
	doc = parse(a.body);
	free(a.body);
	return doc;
}

/* Drop what changes from one run to the next. */
static void strip_times(json_t *v)
{
	static const char *const keys[] = { "generated_at", "duration_ms", "elapsed_ms", "checked_at", "disk_free",
					    "free_space" };
	const char *key;
	json_t *e;
	size_t i;

	if (json_is_object(v)) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			json_object_del(v, keys[i]);
		json_object_foreach(v, key, e)
			strip_times(e);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			strip_times(e);
	}
}

#define CLI(...) test_cli((const char *const[]){ __VA_ARGS__, NULL }, env)

/* The answer of @method @path equals `synapse --json <args>` (both with status @status / exit @exit). */
static void same_as_cli(const char *method, const char *path, const char *body, long status, int exit,
			const char *const *args)
{
	const char *argv[16] = { "--json" };
	struct test_run r;
	json_t *http, *cli;
	size_t i;
	char *h, *c;

	for (i = 0; args[i]; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	http = call(method, path, body, status);
	r = test_cli(argv, env);
	ck_assert_msg(r.status == exit, "synapse %s: exit %d: %s", args[0], r.status, r.err);
	cli = parse(r.out);
	strip_times(http);
	strip_times(cli);
	h = json_dumps(http, JSON_SORT_KEYS);
	c = json_dumps(cli, JSON_SORT_KEYS);
	ck_assert_msg(json_equal(http, cli), "%s %s differs from synapse %s --json:\nHTTP %s\nCLI  %s", method, path,
		      args[0], h, c);
	free(h);
	free(c);
	json_decref(http);
	json_decref(cli);
	test_run_free(&r);
}

#define SAME(method, path, body, ...) same_as_cli(method, path, body, 200, 0, (const char *const[]){ __VA_ARGS__, NULL })

static const char *blob_sha(void)
{
	static char hex[65];
	const unsigned char *body;
	size_t len;

	ck_assert(fake_civitai_file(fake, 194, &body, &len, hex));
	return hex;
}

static void import_pack(void)
{
	json_t *doc = call("POST", "/api/packs/import", "{\"url\": \"civitai:1102\"}", 200);

	ck_assert_str_eq(json_string_value(json_object_get(doc, "pack_name")), "SynthwavePunk");
	json_decref(doc);
}

static void backup_dir(void)
{
	char *dir = test_path("backup");

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	free(dir);
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(read_routes_equal_cli)
{
	char path[256];
	json_t *doc;

	start_server(NULL);
	import_pack();
	SAME("GET", "/api/store/status", NULL, "status");
	SAME("GET", "/api/store/status?ui_set=comfyui", NULL, "status", "--ui-set", "comfyui");
	SAME("GET", "/api/profiles/status?ui_set=local", NULL, "status", "--ui-set", "local");
	SAME("GET", "/api/store/config", NULL, "store", "config");
	SAME("GET", "/api/plugins", NULL, "plugins");
	SAME("GET", "/api/ui", NULL, "ui", "list");
	SAME("GET", "/api/history?limit=2", NULL, "history", "--limit", "2");
	SAME("GET", "/api/store/attach-status", NULL, "attach-status");
	SAME("GET", "/api/packs/", NULL, "list");
	SAME("GET", "/api/packs", NULL, "list");
	SAME("GET", "/api/packs/SynthwavePunk", NULL, "show", "SynthwavePunk");
	SAME("GET", "/api/profiles/", NULL, "profiles", "list");
	SAME("GET", "/api/profiles/global", NULL, "profiles", "show", "global");
	SAME("GET", "/api/search?q=punk", NULL, "search", "punk");
	SAME("GET", "/api/store/inventory", NULL, "inventory", "list");
	SAME("GET", "/api/store/inventory?status=missing", NULL, "inventory", "list", "--status", "missing");
	snprintf(path, sizeof(path), "/api/store/inventory/%s/impact", blob_sha());
	SAME("GET", path, NULL, "inventory", "impacts", blob_sha());
	SAME("GET", "/api/store/backup/status", NULL, "backup", "status");
	SAME("GET", "/api/updates/check-all", NULL, "check-updates");
	SAME("GET", "/api/updates/plan?pack=SynthwavePunk", NULL, "check-updates", "SynthwavePunk");
	SAME("GET", "/api/updates/check/SynthwavePunk", NULL, "check-updates", "SynthwavePunk");
	/* failures: the same {"detail"} as the CLI, with the error's status */
	same_as_cli("GET", "/api/packs/Nope", NULL, 404, 1, (const char *const[]){ "show", "Nope", NULL });
	same_as_cli("GET", "/api/profiles/nope", NULL, 404, 1, (const char *const[]){ "profiles", "show", "nope", NULL });
	same_as_cli("GET", "/api/history?limit=x", NULL, 400, 2, (const char *const[]){ "history", "--limit", "x", NULL });
	doc = call("GET", "/api/search", NULL, 400);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(doc, "detail")), "query"));
	json_decref(doc);
}
END_TEST

START_TEST(write_routes)
{
	char path[256], body[512];
	json_t *doc;

	start_server(NULL);
	/* the server initialized the store; init leaves it alone */
	doc = call("POST", "/api/store/init", NULL, 200);
	ck_assert(json_is_true(json_object_get(doc, "already_initialized")));
	json_decref(doc);
	import_pack();
	doc = call("POST", "/api/packs/SynthwavePunk/resolve", "{}", 200);
	json_decref(doc);
	doc = call("POST", "/api/packs/SynthwavePunk/install", NULL, 200);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "hashes"), 0)), blob_sha());
	json_decref(doc);
	doc = call("POST", "/api/profiles/use", "{\"pack\": \"SynthwavePunk\", \"sync\": false}", 200);
	json_decref(doc);
	doc = call("GET", "/api/store/status", NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "active"), "comfyui")),
			 "work__SynthwavePunk");
	json_decref(doc);
	doc = call("POST", "/api/profiles/back", "{}", 200);
	json_decref(doc);
	doc = call("POST", "/api/profiles/reset", "{\"ui_set\": \"local\"}", 200);
	json_decref(doc);
	SAME("POST", "/api/store/doctor", "{}", "doctor");
	/* no UI is installed here: attach fails for each, reporting each (500, "result" beside "detail") */
	same_as_cli("POST", "/api/store/attach", "{}", 500, 1, (const char *const[]){ "attach", NULL });
	doc = call("POST", "/api/store/attach", "{\"ui_set\": \"comfyui\"}", 500);
	ck_assert(json_is_object(json_object_get(doc, "result")));
	json_decref(doc);
	SAME("POST", "/api/store/detach", "{}", "detach");
	/* inventory */
	doc = call("POST", "/api/store/inventory/cleanup-orphans", "{\"dry_run\": true, \"max_items\": 0}", 200);
	json_decref(doc);
	snprintf(body, sizeof(body), "{\"sha256\": [\"%s\"]}", blob_sha());
	doc = call("POST", "/api/store/inventory/verify", body, 200);
	json_decref(doc);
	snprintf(body, sizeof(body), "{\"sha256\": \"%s\"}", blob_sha());
	doc = call("POST", "/api/store/inventory/verify", body, 200);
	json_decref(doc);
	doc = call("POST", "/api/store/inventory/verify", "{\"sha256\": null, \"all\": true}", 200);
	json_decref(doc);
	/* backup: a directory of the test's */
	backup_dir();
	snprintf(body, sizeof(body), "{\"enabled\": true, \"path\": \"%s/backup\"}", test_dir);
	doc = call("PUT", "/api/store/backup/config", body, 200);
	ck_assert(json_is_true(json_object_get(doc, "enabled")));
	json_decref(doc);
	SAME("GET", "/api/store/backup/status", NULL, "backup", "status");
	snprintf(path, sizeof(path), "/api/store/backup/blob/%s", blob_sha());
	doc = call("POST", path, NULL, 200);
	json_decref(doc);
	/* dry runs change nothing: the CLI's answer must be the same */
	SAME("POST", "/api/store/backup/sync", "{\"direction\": \"to_backup\", \"dry_run\": true}", "backup", "sync",
	     "--direction", "to_backup");
	SAME("POST", "/api/store/backup/push-pack/SynthwavePunk", "{\"dry_run\": true}", "backup", "push",
	     "SynthwavePunk");
	SAME("POST", "/api/store/inventory/cleanup-orphans", "{\"dry_run\": true}", "inventory", "cleanup");
	snprintf(body, sizeof(body), "{\"sha256\": [\"%s\"]}", blob_sha());
	SAME("POST", "/api/store/inventory/verify", body, "inventory", "verify", blob_sha());
	{
		char *dir = test_path("adopt"), *file = test_path("adopt/mine.safetensors");

		mkdir(dir, 0755);
		test_write_file(file, "weights", 7);
		snprintf(body, sizeof(body), "{\"folders\": [\"%s\"], \"dry_run\": true}", dir);
		SAME("POST", "/api/store/adopt", body, "adopt", dir, "--dry-run");
		free(dir);
		free(file);
	}
	SAME("POST", "/api/updates/apply", "{\"pack\": \"SynthwavePunk\", \"dry_run\": true}", "update",
	     "SynthwavePunk", "--dry-run");
	SAME("POST", "/api/updates/apply-batch", "{\"dry_run\": true}", "update", "--all", "--dry-run");
	doc = call("POST", "/api/store/backup/pull-pack/SynthwavePunk", "{\"dry_run\": false}", 200);
	json_decref(doc);
	/* the guard rail: the active views link it (409), unless forced */
	snprintf(path, sizeof(path), "/api/store/inventory/%s?target=local", blob_sha());
	doc = call("DELETE", path, NULL, 409);
	json_decref(doc);
	snprintf(path, sizeof(path), "/api/store/inventory/%s?target=local&force=true", blob_sha());
	doc = call("DELETE", path, NULL, 200);
	json_decref(doc);
	snprintf(path, sizeof(path), "/api/store/backup/restore/%s", blob_sha());
	doc = call("POST", path, "{}", 200);
	json_decref(doc);
	snprintf(path, sizeof(path), "/api/store/backup/blob/%s", blob_sha());
	doc = call("DELETE", path, "{\"confirm\": true}", 200);
	json_decref(doc);
	/* updates */
	doc = call("POST", "/api/updates/apply", "{\"pack\": \"SynthwavePunk\", \"dry_run\": true}", 200);
	json_decref(doc);
	doc = call("POST", "/api/updates/apply-batch", "{\"dry_run\": true}", 200);
	json_decref(doc);
	doc = call("POST", "/api/updates/apply", "{\"dry_run\": true}", 400);
	json_decref(doc);
	/* delete, then it is gone */
	doc = call("DELETE", "/api/packs/SynthwavePunk?force=true", NULL, 200);
	json_decref(doc);
	doc = call("GET", "/api/packs/SynthwavePunk", NULL, 404);
	json_decref(doc);
	doc = call("DELETE", "/api/packs/SynthwavePunk", NULL, 404);
	json_decref(doc);
}
END_TEST

START_TEST(bad_requests)
{
	struct answer a;
	char *big;
	json_t *doc;

	start_server(NULL);
	doc = call("GET", "/api/nope", NULL, 404);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(doc, "detail")));
	json_decref(doc);
	doc = call("GET", "/nope.js", NULL, 404);
	json_decref(doc);
	a = request("DELETE", "/api/store/status", NULL);
	ck_assert_int_eq(a.status, 405);
	ck_assert_str_eq(a.allow, "GET");
	free(a.body);
	a = request("GET", "/api/packs/import", NULL); /* GET answers as a pack named "import" */
	ck_assert_int_eq(a.status, 404);
	free(a.body);
	a = request("PUT", "/api/packs/SynthwavePunk", "{}");
	ck_assert_int_eq(a.status, 405);
	ck_assert_str_eq(a.allow, "GET, DELETE");
	free(a.body);
	/* a body that is not a JSON object */
	doc = call("POST", "/api/profiles/use", "{\"pack\": ", 422);
	json_decref(doc);
	doc = call("POST", "/api/profiles/use", "[\"pack\"]", 422);
	json_decref(doc);
	doc = call("POST", "/api/store/doctor", "null", 422);
	json_decref(doc);
	/* usage errors of the operation */
	doc = call("POST", "/api/profiles/use", "{}", 400);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "detail")), "missing argument 'pack'");
	json_decref(doc);
	doc = call("POST", "/api/store/backup/sync", "{\"direction\": \"sideways\"}", 400);
	json_decref(doc);
	doc = call("POST", "/api/store/backup/sync", "{\"direction\": \"to_backup\", \"dry_run\": \"maybe\"}", 400);
	json_decref(doc);
	doc = call("GET", "/api/store/inventory/zz/impact", NULL, 400);
	json_decref(doc);
	doc = call("POST", "/api/store/doctor?wait=false", "{}", 400);
	json_decref(doc);
	doc = call("GET", "/api/jobs/0123456789abcdef", NULL, 404);
	json_decref(doc);
	/* over 1 MiB: refused from its Content-Length, and without one */
	big = malloc(HTTP_BODY_MAX + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', HTTP_BODY_MAX + 1);
	big[0] = '{';
	big[HTTP_BODY_MAX] = '}';
	big[HTTP_BODY_MAX + 1] = '\0';
	a = request_raw("POST", "/api/store/doctor", big, HTTP_BODY_MAX + 1, NULL, false);
	ck_assert_int_eq(a.status, 413);
	free(a.body);
	a = request_raw("POST", "/api/store/doctor", big, -1, NULL, true);
	ck_assert_int_eq(a.status, 413);
	free(a.body);
	/* exactly 1 MiB is fine */
	big[HTTP_BODY_MAX - 1] = '}';
	big[HTTP_BODY_MAX] = '\0';
	a = request_raw("POST", "/api/store/doctor", big, HTTP_BODY_MAX, NULL, false);
	ck_assert_int_eq(a.status, 200);
	free(a.body);
	free(big);
	/* the server still answers */
	doc = call("GET", "/api/store/status", NULL, 200);
	json_decref(doc);
}
END_TEST

/* What another web page could make a browser send: a rebound name, a change from another origin. */
START_TEST(requests_from_pages_elsewhere_are_refused)
{
	char own[96], body[600], *dir = test_path("a-backup");
	struct answer a;
	json_t *doc;

	start_server(NULL);
	extra_headers = (const char *const[]){ "Host: evil.example.com", NULL };
	a = request("GET", "/api/store/status", NULL);
	ck_assert_int_eq(a.status, 403);
	ck_assert_ptr_nonnull(strstr(a.body, "loopback"));
	free(a.body);
	a = request("GET", "/", NULL);
	ck_assert_int_eq(a.status, 403);
	free(a.body);

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(body, sizeof(body), "{\"path\": \"%s\", \"enabled\": true}", dir);
	extra_headers = (const char *const[]){ "Origin: http://evil.example.com", NULL };
	a = request("PUT", "/api/store/backup/config", body);
	ck_assert_int_eq(a.status, 403);
	ck_assert_ptr_nonnull(strstr(a.body, "another origin"));
	free(a.body);
	/* reading is not changing (and a page elsewhere cannot read the answer anyway) */
	doc = call("GET", "/api/store/config", NULL, 200);
	ck_assert(!json_is_true(json_object_get(json_object_get(doc, "backup"), "enabled")));
	json_decref(doc);

	/* the server's own page */
	snprintf(own, sizeof(own), "Origin: http://127.0.0.1:%u", port);
	extra_headers = (const char *const[]){ own, NULL };
	a = request("PUT", "/api/store/backup/config", body);
	ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
	free(a.body);
	extra_headers = NULL;
	free(dir);
}
END_TEST

START_TEST(token_required)
{
	const char *extra[] = { "SYNAPSE_API_TOKEN=s3cret-token", NULL };
	struct answer a;
	json_t *doc;

	start_server(extra);
	a = request_raw("GET", "/api/store/status", NULL, -1, NULL, false);
	ck_assert_int_eq(a.status, 401);
	doc = parse(a.body);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(doc, "detail")));
	json_decref(doc);
	free(a.body);
	a = request_raw("GET", "/api/store/status", NULL, -1, "s3cret-tokem", false);
	ck_assert_int_eq(a.status, 401);
	free(a.body);
	a = request_raw("GET", "/api/store/status", NULL, -1, "s3cret-token-", false);
	ck_assert_int_eq(a.status, 401);
	free(a.body);
	a = request_raw("POST", "/api/store/doctor", "{}", -1, "", false);
	ck_assert_int_eq(a.status, 401);
	free(a.body);
	/* unknown routes and the jobs too: nothing is told without the token */
	a = request_raw("GET", "/api/nope", NULL, -1, NULL, false);
	ck_assert_int_eq(a.status, 401);
	free(a.body);
	a = request_raw("GET", "/api/openapi.json", NULL, -1, NULL, false);
	ck_assert_int_eq(a.status, 401);
	free(a.body);
	/* the page is for anyone */
	a = request_raw("GET", "/", NULL, -1, NULL, false);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.type, "text/html"));
	free(a.body);
	token = "s3cret-token";
	doc = call("GET", "/api/store/status", NULL, 200);
	json_decref(doc);
	doc = call("POST", "/api/store/doctor", "{}", 200);
	json_decref(doc);
}
END_TEST

START_TEST(job_of_a_segmented_install_reports_its_bytes)
{
	char path[128], state[16] = "", *config_path = test_path("store/state/config.json");
	struct fake_request log[256];
	json_t *doc, *job, *config;
	size_t n, i;
	int ranged = 0, k;

	start_server(NULL);
	/* segments from 64 KiB on: the 128 KiB file comes over ranged requests */
	config = json_load_file(config_path, 0, NULL);
	ck_assert_ptr_nonnull(config);
	ck_assert_int_eq(json_object_set_new(json_object_get(config, "download"), "segment_min", json_integer(65536)), 0);
	ck_assert_int_eq(json_dump_file(config, config_path, JSON_INDENT(2)), 0);
	json_decref(config);
	free(config_path);
	import_pack();
	fake_civitai_clear_requests(fake);
	job = call("POST", "/api/packs/SynthwavePunk/install?wait=false", NULL, 202);
	snprintf(path, sizeof(path), "/api/jobs/%s", json_string_value(json_object_get(job, "job")));
	for (k = 0; k < 1000 && strcmp(state, "done"); k++) {
		doc = call("GET", path, NULL, 200);
		snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(doc, "state")));
		if (!strcmp(state, "done")) {
			ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "progress"), "bytes_done")),
					 128 * 1024);
			ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "progress"), "bytes_total")),
					 128 * 1024);
		}
		json_decref(doc);
		if (strcmp(state, "done"))
			usleep(10000);
	}
	ck_assert_str_eq(state, "done");
	n = fake_civitai_requests(fake, log, 256);
	for (i = 0; i < n && i < 256; i++)
		ranged += !strncmp(log[i].path, "/cdn/", 5) && strchr(log[i].range, '-') &&
			  strchr(log[i].range, '-')[1] != '\0';
	ck_assert_int_ge(ranged, 1);
	json_decref(job);
}
END_TEST

START_TEST(job_polled_to_done)
{
	json_t *doc, *job;
	char path[128], state[16] = "";
	int i;

	start_server(NULL);
	import_pack();
	job = call("POST", "/api/packs/SynthwavePunk/install?wait=false", NULL, 202);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(job, "job"))), 16);
	snprintf(path, sizeof(path), "/api/jobs/%s", json_string_value(json_object_get(job, "job")));
	for (i = 0; i < 1000; i++) {
		doc = call("GET", path, NULL, 200);
		snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(doc, "state")));
		ck_assert(!strcmp(state, "queued") || !strcmp(state, "running") || !strcmp(state, "done"));
		ck_assert_str_eq(json_string_value(json_object_get(doc, "operation")), "install");
		ck_assert(json_is_integer(json_object_get(json_object_get(doc, "progress"), "bytes_done")));
		if (!strcmp(state, "done")) {
			ck_assert_str_eq(json_string_value(json_array_get(
						 json_object_get(json_object_get(doc, "result"), "hashes"), 0)),
					 blob_sha());
			ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "progress"), "bytes_total")),
					 128 * 1024);
			json_decref(doc);
			break;
		}
		json_decref(doc);
		usleep(10000);
	}
	ck_assert_str_eq(state, "done");
	/* read once, it stays a while */
	doc = call("GET", path, NULL, 200);
	json_decref(doc);
	json_decref(job);
	/* a failing job says why */
	job = call("POST", "/api/store/backup/sync?wait=false", "{\"direction\": \"to_backup\", \"dry_run\": false}", 202);
	snprintf(path, sizeof(path), "/api/jobs/%s", json_string_value(json_object_get(job, "job")));
	for (i = 0; i < 1000; i++) {
		doc = call("GET", path, NULL, 200);
		snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(doc, "state")));
		if (!strcmp(state, "failed")) {
			ck_assert_ptr_nonnull(json_string_value(json_object_get(doc, "detail")));
			json_decref(doc);
			break;
		}
		ck_assert_msg(strcmp(state, "done"), "a sync without a backup succeeded");
		json_decref(doc);
		usleep(10000);
	}
	ck_assert_str_eq(state, "failed");
	json_decref(job);
}
END_TEST

START_TEST(openapi_has_every_route)
{
	const struct http_route *r;
	json_t *doc, *paths;

	start_server(NULL);
	doc = call("GET", "/api/openapi.json", NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	paths = json_object_get(doc, "paths");
	ck_assert_int_eq(http_routes_check(), 0);
	for (r = http_routes; r->method; r++) {
		char key[256], method[8];
		const char *p;
		size_t n = 0, i;
		json_t *op;

		for (p = r->pattern; *p; p++)
			if (*p != '*')
				key[n++] = *p;
		key[n] = '\0';
		for (i = 0; r->method[i]; i++)
			method[i] = (char)(r->method[i] | 0x20);
		method[i] = '\0';
		op = json_object_get(json_object_get(paths, key), method);
		ck_assert_msg(op, "%s %s is not in the description", r->method, r->pattern);
		ck_assert_ptr_nonnull(json_string_value(json_object_get(op, "summary")));
		ck_assert_ptr_nonnull(json_object_get(json_object_get(op, "responses"), "200"));
		if (r->op) {
			ck_assert_str_eq(json_string_value(json_object_get(op, "summary")), syn_op_find(r->op)->summary);
			/* GET never changes the store */
			if (!strcmp(r->method, "GET"))
				ck_assert(!(syn_op_find(r->op)->flags & SYN_OP_CHANGES_STATE));
		}
		if (r->job)
			ck_assert_ptr_nonnull(json_object_get(json_object_get(op, "responses"), "202"));
	}
	json_decref(doc);
}
END_TEST

START_TEST(previews_served)
{
	char *dir, *file, *link;
	struct answer a;
	json_t *doc;

	start_server(NULL);
	import_pack();
	dir = test_path("store/state/packs/SynthwavePunk/resources/previews");
	file = test_path("store/state/packs/SynthwavePunk/resources/previews/test.png");
	link = test_path("store/state/packs/SynthwavePunk/resources/previews/escape.png");
	test_write_file(file, "\x89PNG....", 8);
	ck_assert_int_eq(symlink("/etc/passwd", link), 0);
	a = request("GET", "/previews/SynthwavePunk/resources/previews/test.png", NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.type, "image/png");
	ck_assert_uint_eq(a.len, 8);
	/* nothing the server sends may pull in another origin */
	ck_assert_ptr_nonnull(strstr(a.csp, "default-src 'self'"));
	free(a.body);
	a = request("GET", "/previews/SynthwavePunk/resources/previews/escape.png", NULL);
	ck_assert_int_eq(a.status, 404);
	free(a.body);
	a = request("GET", "/previews/SynthwavePunk/resources/previews/..%2F..%2Fpack.json", NULL);
	ck_assert(a.status == 400 || a.status == 404);
	free(a.body);
	a = request("GET", "/previews/..%2F..%2F..%2Fdata/resources/previews/x.png", NULL);
	ck_assert(a.status == 400 || a.status == 404);
	free(a.body);
	a = request("GET", "/previews/SynthwavePunk/resources/previews/missing.png", NULL);
	ck_assert_int_eq(a.status, 404);
	free(a.body);
	doc = call("POST", "/previews/SynthwavePunk/resources/previews/test.png", "{}", 405);
	json_decref(doc);
	free(dir);
	free(file);
	free(link);
}
END_TEST

struct worker {
	int id;
	int bad;
	char what[256];
};

static void *concurrent_client(void *p)
{
	struct worker *w = p;
	static const struct {
		const char *method, *path, *body;
	} steps[] = {
		{ "POST", "/api/profiles/use", "{\"pack\": \"SynthwavePunk\", \"sync\": false}" },
		{ "GET", "/api/store/status", NULL },
		{ "POST", "/api/packs/import", "{\"url\": \"civitai:1102\", \"download_previews\": false}" },
		{ "POST", "/api/profiles/back", "{}" },
		{ "GET", "/api/packs/", NULL },
		{ "POST", "/api/store/backup/sync", "{\"direction\": \"to_backup\", \"dry_run\": false}" },
		{ "GET", "/api/store/inventory", NULL },
		{ "POST", "/api/store/doctor", "{}" },
	};
	size_t i, k;

	for (k = 0; k < 3; k++)
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			size_t s = (i + (size_t)w->id) % (sizeof(steps) / sizeof(steps[0]));
			struct answer a = request_raw(steps[s].method, steps[s].path, steps[s].body, -1, NULL, false);
			json_t *doc = json_loads(a.body, 0, NULL);

			/* each answer is whole: a report, or the store lock's 423 */
			if (!json_is_object(doc) || (a.status != 200 && a.status != 423) ||
			    (a.status != 200 && !json_string_value(json_object_get(doc, "detail")))) {
				w->bad++;
				snprintf(w->what, sizeof(w->what), "%s %s: %ld %.150s", steps[s].method, steps[s].path,
					 a.status, a.body);
			}
			json_decref(doc);
			free(a.body);
		}
	return NULL;
}

START_TEST(concurrent_writers)
{
	struct worker w[8];
	pthread_t t[8];
	struct test_run r;
	char body[512];
	json_t *doc;
	int i;

	start_server(NULL);
	import_pack();
	doc = call("POST", "/api/packs/SynthwavePunk/install", NULL, 200);
	json_decref(doc);
	backup_dir();
	snprintf(body, sizeof(body), "{\"enabled\": true, \"path\": \"%s/backup\"}", test_dir);
	doc = call("PUT", "/api/store/backup/config", body, 200);
	json_decref(doc);
	for (i = 0; i < 8; i++) {
		w[i].id = i;
		w[i].bad = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, concurrent_client, &w[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(!w[i].bad, "client %d: %d bad answer(s), e.g. %s", i, w[i].bad, w[i].what);
	}
	/* afterwards the store is healthy and every document reads */
	r = CLI("doctor", "--json");
	ck_assert_msg(r.status == 0, "doctor: %s %s", r.out, r.err);
	doc = parse(r.out);
	ck_assert(json_is_true(json_object_get(doc, "healthy")));
	json_decref(doc);
	test_run_free(&r);
	SAME("GET", "/api/store/status", NULL, "status");
	SAME("GET", "/api/packs/SynthwavePunk", NULL, "show", "SynthwavePunk");
}
END_TEST

struct slow {
	struct answer a;
};

static void *slow_install(void *p)
{
	struct slow *s = p;

	s->a = request_raw("POST", "/api/packs/SynthwavePunk/install", NULL, -1, NULL, false);
	return NULL;
}

START_TEST(sigterm_finishes_requests)
{
	struct slow s;
	pthread_t t;
	json_t *doc;
	int i;

	start_server(NULL);
	import_pack();
	/* the download stalls a while: the request is in flight when SIGTERM comes */
	fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STALL, 0, 1500, 1);
	ck_assert_int_eq(pthread_create(&t, NULL, slow_install, &s), 0);
	for (i = 0; i < 200; i++) {
		struct fake_request req[8];
		size_t n = fake_civitai_requests(fake, req, 8), k;
		bool downloading = false;

		for (k = 0; k < n && k < 8; k++)
			downloading = downloading || !strncmp(req[k].path, "/api/download/", 14);
		if (downloading)
			break;
		usleep(10000);
	}
	usleep(100000);
	ck_assert_int_eq(stop_server(), 0);
	pthread_join(t, NULL);
	ck_assert_msg(s.a.status == 200, "the request in flight got %ld: %s", s.a.status, s.a.body);
	doc = parse(s.a.body);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "hashes"), 0)), blob_sha());
	json_decref(doc);
	free(s.a.body);
}
END_TEST

/* ---- the response cache ---------------------------------------------------- */

/* The body of a 200 answer to GET @path (malloc'ed). */
static char *body_of(const char *path)
{
	struct answer a = request("GET", path, NULL);

	ck_assert_msg(a.status == 200, "GET %s: %ld: %s", path, a.status, a.body);
	return a.body;
}

/* "<test_dir>/store/<rel>" (malloc'ed). */
static char *store_path(const char *rel)
{
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/store/%s", test_dir, rel), 0);
	return path;
}

/*
 * Replace the first @from in the store's file @rel by @to, of the same
 * length, as an editor writing in place does: the same inode and size, and
 * the modification time kept to the second.
 */
static void edit_in_place(const char *rel, const char *from, const char *to)
{
	char *path = store_path(rel), *text;
	struct timespec ts[2];
	struct stat sb;
	size_t len, n = strlen(to);
	const char *at;
	int fd;

	ck_assert_uint_eq(strlen(from), n);
	ck_assert_int_eq(stat(path, &sb), 0);
	text = test_read_file(path, &len);
	ck_assert_ptr_nonnull(text);
	at = strstr(text, from);
	ck_assert_msg(at, "no '%s' in %s", from, rel);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, to, n, at - text), (ssize_t)n);
	ck_assert_int_eq(close(fd), 0);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	ts[1].tv_nsec = (sb.st_mtim.tv_nsec + 1) % 1000000000;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(text);
	free(path);
}

/* Write @doc (stolen) to the store's file @rel as an editor saving through a new file does. */
static void write_doc(const char *rel, json_t *doc)
{
	char *path = store_path(rel), *tmp, *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);

	ck_assert_ptr_nonnull(text);
	ck_assert_int_ge(asprintf(&tmp, "%s.edit", path), 0);
	test_write_file(tmp, text, strlen(text));
	ck_assert_int_eq(rename(tmp, path), 0);
	json_decref(doc);
	free(text);
	free(tmp);
	free(path);
}

static json_t *read_doc(const char *rel)
{
	char *path = store_path(rel), *text = test_read_file(path, NULL);
	json_t *doc;

	ck_assert_msg(text, "no %s", rel);
	doc = parse(text);
	free(text);
	free(path);
	return doc;
}

/* The number of blobs GET /api/store/status says are missing. */
static size_t missing_blobs(void)
{
	json_t *doc = call("GET", "/api/store/status", NULL, 200);
	size_t n = json_array_size(json_object_get(doc, "missing_blobs"));

	json_decref(doc);
	return n;
}

/* Every cached route, asked twice (the second answer is the kept one), equals the CLI. */
static void cached_routes_equal_cli(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		SAME("GET", "/api/store/status", NULL, "status");
		SAME("GET", "/api/profiles/status?ui_set=comfy_only", NULL, "status", "--ui-set", "comfy_only");
		SAME("GET", "/api/packs/", NULL, "list");
		SAME("GET", "/api/packs/SynthwavePunk", NULL, "show", "SynthwavePunk");
		SAME("GET", "/api/profiles/", NULL, "profiles", "list");
		SAME("GET", "/api/profiles/global", NULL, "profiles", "show", "global");
		SAME("GET", "/api/store/config", NULL, "store", "config");
	}
}

START_TEST(cache_follows_every_change)
{
	char *before, *after, *blob, sha[65], rel[128];
	struct test_run r;
	json_t *doc;

	start_server(NULL);
	import_pack();
	doc = call("POST", "/api/packs/SynthwavePunk/install", NULL, 200);
	json_decref(doc);
	cached_routes_equal_cli();
	/* the answers are the same bytes whether computed or kept, with the same headers */
	{
		struct answer a = request("GET", "/api/packs/", NULL), b = request("GET", "/api/packs/", NULL);

		ck_assert_str_eq(a.body, b.body);
		ck_assert_str_eq(a.type, b.type);
		ck_assert_str_eq(a.csp, b.csp);
		free(a.body);
		free(b.body);
	}

	/* pack.json edited by hand in place: same size, same second */
	before = body_of("/api/packs/");
	edit_in_place("state/packs/SynthwavePunk/pack.json", "\"pack_type\": \"checkpoint\"",
		      "\"pack_type\": \"CHECKPOINT\"");
	after = body_of("/api/packs/");
	ck_assert_msg(strcmp(before, after), "GET /api/packs/ still answers what pack.json said before");
	ck_assert_ptr_nonnull(strstr(after, "CHECKPOINT"));
	free(before);
	free(after);
	SAME("GET", "/api/packs/", NULL, "list");
	SAME("GET", "/api/packs/SynthwavePunk", NULL, "show", "SynthwavePunk");

	/* lock.json edited by hand: it names a blob the store does not have */
	snprintf(sha, sizeof(sha), "%s", blob_sha());
	ck_assert_uint_eq(missing_blobs(), 0);
	sha[0] = sha[0] == '0' ? '1' : '0';
	edit_in_place("state/packs/SynthwavePunk/lock.json", blob_sha(), sha);
	ck_assert_uint_eq(missing_blobs(), 1);
	SAME("GET", "/api/store/status", NULL, "status");
	edit_in_place("state/packs/SynthwavePunk/lock.json", sha, blob_sha());
	ck_assert_uint_eq(missing_blobs(), 0);
	SAME("GET", "/api/store/status", NULL, "status");

	/* a blob removed by hand */
	snprintf(rel, sizeof(rel), "data/blobs/sha256/%.2s/%s", blob_sha(), blob_sha());
	blob = store_path(rel);
	ck_assert_int_eq(unlink(blob), 0);
	free(blob);
	ck_assert_uint_eq(missing_blobs(), 1);
	SAME("GET", "/api/store/status", NULL, "status");
	SAME("GET", "/api/packs/", NULL, "list");
	SAME("GET", "/api/packs/SynthwavePunk", NULL, "show", "SynthwavePunk");

	/* a request through this server */
	doc = call("POST", "/api/packs/SynthwavePunk/install", NULL, 200);
	json_decref(doc);
	ck_assert_uint_eq(missing_blobs(), 0);
	cached_routes_equal_cli();

	/* other processes: synapse use, synapse import */
	r = CLI("use", "SynthwavePunk", "--no-sync");
	ck_assert_msg(r.status == 0, "use: %s", r.err);
	test_run_free(&r);
	doc = call("GET", "/api/store/status", NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "profile")), "work__SynthwavePunk");
	json_decref(doc);
	cached_routes_equal_cli();
	/* the view it built and swapped in, its metadata removed by hand */
	blob = store_path("data/views/comfyui/profiles/work__SynthwavePunk/.synapse-view");
	ck_assert_int_eq(unlink(blob), 0);
	free(blob);
	doc = call("GET", "/api/store/status", NULL, 200);
	ck_assert(json_is_false(json_object_get(json_object_get(doc, "in_sync"), "comfyui")));
	json_decref(doc);
	SAME("GET", "/api/store/status", NULL, "status");
	r = CLI("doctor", "--rebuild-views");
	test_run_free(&r);
	doc = call("GET", "/api/store/status", NULL, 200);
	ck_assert(json_is_true(json_object_get(json_object_get(doc, "in_sync"), "comfyui")));
	json_decref(doc);
	cached_routes_equal_cli();
	r = CLI("import", "civitai:1102", "--name", "Second", "--no-previews");
	ck_assert_msg(r.status == 0, "import: %s", r.err);
	test_run_free(&r);
	after = body_of("/api/packs/");
	ck_assert_ptr_nonnull(strstr(after, "\"Second\""));
	free(after);
	cached_routes_equal_cli();

	/* config.json edited by hand: another default UI set */
	doc = read_doc("state/config.json");
	ck_assert_int_eq(json_object_set_new(json_object_get(doc, "defaults"), "ui_set", json_string("comfy_only")), 0);
	write_doc("state/config.json", doc);
	doc = call("GET", "/api/store/status", NULL, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "ui_targets")), 1);
	json_decref(doc);
	cached_routes_equal_cli();

	/* a pack folder made by hand, then edited: its new folder is watched too */
	before = store_path("state/packs/ByHand");
	ck_assert_int_eq(mkdir(before, 0755), 0);
	free(before);
	doc = read_doc("state/packs/SynthwavePunk/pack.json");
	ck_assert_int_eq(json_object_set_new(doc, "name", json_string("ByHand")), 0);
	write_doc("state/packs/ByHand/pack.json", doc);
	before = body_of("/api/packs/");
	ck_assert_ptr_nonnull(strstr(before, "\"ByHand\""));
	SAME("GET", "/api/packs/", NULL, "list");
	edit_in_place("state/packs/ByHand/pack.json", "\"pack_type\": \"CHECKPOINT\"", "\"pack_type\": \"Checkpoint\"");
	after = body_of("/api/packs/");
	ck_assert_msg(strcmp(before, after), "an edit in a pack folder made by hand went unseen");
	free(before);
	free(after);
	SAME("GET", "/api/packs/", NULL, "list");
	SAME("GET", "/api/packs/ByHand", NULL, "show", "ByHand");

	/* ... renamed by hand, then edited: the watches follow the folder */
	before = store_path("state/packs/ByHand");
	after = store_path("state/packs/Moved");
	ck_assert_int_eq(rename(before, after), 0);
	free(before);
	free(after);
	doc = read_doc("state/packs/Moved/pack.json");
	ck_assert_int_eq(json_object_set_new(doc, "name", json_string("Moved")), 0);
	write_doc("state/packs/Moved/pack.json", doc);
	SAME("GET", "/api/packs/", NULL, "list");
	before = body_of("/api/packs/Moved");
	edit_in_place("state/packs/Moved/pack.json", "\"pack_type\": \"Checkpoint\"", "\"pack_type\": \"CHECKPOINT\"");
	after = body_of("/api/packs/Moved");
	ck_assert_msg(strcmp(before, after), "an edit in a pack folder renamed by hand went unseen");
	free(before);
	free(after);
	SAME("GET", "/api/packs/Moved", NULL, "show", "Moved");
	SAME("GET", "/api/packs/", NULL, "list");
}
END_TEST

START_TEST(cache_survives_lost_events)
{
	char *dir, *path, *before, *after;
	long queue = 16384;
	FILE *proc;
	json_t *doc;
	int fd, notes[2], i;

	start_server(NULL);
	import_pack();
	SAME("GET", "/api/packs/", NULL, "list");
	SAME("GET", "/api/packs/", NULL, "list");
	/* more changes than the kernel queues for the server: it is told some were lost */
	proc = fopen("/proc/sys/fs/inotify/max_queued_events", "re");
	if (proc) {
		ck_assert_int_eq(fscanf(proc, "%ld", &queue), 1);
		fclose(proc);
	}
	ck_assert_msg(queue <= 1 << 20, "fs.inotify.max_queued_events is %ld: too many changes to make here", queue);
	dir = store_path("state/packs/SynthwavePunk");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	notes[0] = openat(fd, "notes-a.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	notes[1] = openat(fd, "notes-b.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(notes[0], 0);
	ck_assert_int_ge(notes[1], 0);
	/* one change each, two files in turn (the kernel folds a change into the same one just before it) */
	for (i = 0; i < queue + 64; i++)
		ck_assert_int_eq(pwrite(notes[i % 2], "x", 1, 0), 1);
	close(notes[0]);
	close(notes[1]);
	close(fd);
	free(dir);
	/* ... and among the lost ones, a pack folder made by hand */
	path = store_path("state/packs/Unseen");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	free(path);
	doc = read_doc("state/packs/SynthwavePunk/pack.json");
	ck_assert_int_eq(json_object_set_new(doc, "name", json_string("Unseen")), 0);
	write_doc("state/packs/Unseen/pack.json", doc);
	before = body_of("/api/packs/");
	ck_assert_ptr_nonnull(strstr(before, "\"Unseen\""));
	SAME("GET", "/api/packs/", NULL, "list");
	/* its folder is watched all the same (what `synapse list` just wrote seen first) */
	free(before);
	free(body_of("/api/packs/"));
	before = body_of("/api/packs/");
	edit_in_place("state/packs/Unseen/pack.json", "\"pack_type\": \"checkpoint\"", "\"pack_type\": \"CHECKPOINT\"");
	after = body_of("/api/packs/");
	ck_assert_msg(strcmp(before, after), "an edit in a folder made while events were lost went unseen");
	free(before);
	free(after);
	SAME("GET", "/api/packs/", NULL, "list");
}
END_TEST

#define CACHE_WRITES 160

static atomic_int writes_done;
static atomic_bool writing;

struct reader {
	int bad;
	char what[256];
};

/* Which write's pack type ("t<9 digits>") SynthwavePunk has in @body (a list): 0 before any, -1 for none. */
static int type_written(const char *body)
{
	json_t *doc = json_loads(body, 0, NULL), *p;
	int n = -1;
	size_t i;

	json_array_foreach(json_object_get(doc, "packs"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")), "SynthwavePunk")) {
			const char *type = json_string_value(json_object_get(p, "pack_type"));

			if (type && type[0] == 't' && strlen(type) == 10)
				n = (int)strtol(type + 1, NULL, 10);
			else if (type && !strcmp(type, "checkpoint"))
				n = 0;
		}
	json_decref(doc);
	return n;
}

static void *cache_reader(void *p)
{
	struct reader *rd = p;

	while (atomic_load(&writing)) {
		/* every write completed before the request began shows in its answer */
		int done = atomic_load(&writes_done), seen;
		struct answer a = request_raw("GET", "/api/packs/", NULL, -1, NULL, false);
		struct answer b = request_raw("GET", "/api/store/status", NULL, -1, NULL, false);
		json_t *status = json_loads(b.body, 0, NULL);

		seen = a.status == 200 ? type_written(a.body) : -1;
		if (seen < done || !json_is_object(status) || b.status != 200) {
			rd->bad++;
			snprintf(rd->what, sizeof(rd->what), "after write %d: %ld %ld, pack type of write %d: %.120s", done,
				 a.status, b.status, seen, a.body);
		}
		json_decref(status);
		free(a.body);
		free(b.body);
	}
	return NULL;
}

START_TEST(cache_readers_during_writes)
{
	struct reader rd[4] = { 0 };
	pthread_t t[4];
	char from[32], to[32], *path;
	json_t *lock;
	int i;

	start_server(NULL);
	import_pack();
	/* packs enough that computing an answer takes a while, read after the one edited: edits land while
	 * an answer that read the pack before is computed */
	lock = read_doc("state/packs/SynthwavePunk/lock.json");
	for (i = 0; i < 300; i++) {
		char rel[128];
		json_t *doc = read_doc("state/packs/SynthwavePunk/pack.json");

		snprintf(rel, sizeof(rel), "state/packs/Zed%03d", i);
		path = store_path(rel);
		ck_assert_int_eq(mkdir(path, 0755), 0);
		free(path);
		snprintf(rel, sizeof(rel), "Zed%03d", i);
		ck_assert_int_eq(json_object_set_new(doc, "name", json_string(rel)), 0);
		snprintf(rel, sizeof(rel), "state/packs/Zed%03d/pack.json", i);
		write_doc(rel, doc);
		snprintf(rel, sizeof(rel), "state/packs/Zed%03d/lock.json", i);
		write_doc(rel, json_incref(lock));
	}
	json_decref(lock);
	atomic_store(&writes_done, 0);
	atomic_store(&writing, true);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, cache_reader, &rd[i]), 0);
	for (i = 1; i <= CACHE_WRITES; i++) {
		struct test_run r;

		/* a hand edit, then a command of another process or a request to this server */
		if (i == 1)
			snprintf(from, sizeof(from), "\"pack_type\": \"checkpoint\"");
		else
			snprintf(from, sizeof(from), "\"pack_type\": \"t%09d\"", i - 1);
		snprintf(to, sizeof(to), "\"pack_type\": \"t%09d\"", i);
		edit_in_place("state/packs/SynthwavePunk/pack.json", from, to);
		atomic_store(&writes_done, i);
		if (i % 40 == 10 || i % 40 == 30) {
			r = i % 40 == 10 ? CLI("use", "SynthwavePunk", "--no-sync") : CLI("back");
			ck_assert_msg(r.status == 0, "%s", r.err);
			test_run_free(&r);
		} else if (i % 40 == 20 || i % 40 == 0) {
			json_decref(call("POST", i % 40 == 20 ? "/api/profiles/back" : "/api/profiles/use",
					 i % 40 == 20 ? "{}" : "{\"pack\": \"SynthwavePunk\", \"sync\": false}", 200));
		} else {
			/* let the readers compute answers: the next edit lands while some are */
			usleep(2000);
		}
	}
	atomic_store(&writing, false);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(!rd[i].bad, "reader %d: %d stale or torn answer(s), e.g. %s", i, rd[i].bad, rd[i].what);
	}
	cached_routes_equal_cli();
}
END_TEST

/* Whether the server said on stderr that it keeps no answers, with @why. */
static bool said_no_cache(const char *why)
{
	char *path = test_path("serve.err"), *err = test_read_file(path, NULL);
	bool said = err && strstr(err, "no response cache") && strstr(err, why);

	free(err);
	free(path);
	return said;
}

/* With nothing watched, every answer is computed: still right after a hand edit and a removed blob. */
static void answers_without_cache(const char *why)
{
	char *blob, rel[128];
	json_t *doc;

	import_pack();
	doc = call("POST", "/api/packs/SynthwavePunk/install", NULL, 200);
	json_decref(doc);
	cached_routes_equal_cli();
	edit_in_place("state/packs/SynthwavePunk/pack.json", "\"pack_type\": \"checkpoint\"",
		      "\"pack_type\": \"CHECKPOINT\"");
	SAME("GET", "/api/packs/", NULL, "list");
	snprintf(rel, sizeof(rel), "data/blobs/sha256/%.2s/%s", blob_sha(), blob_sha());
	blob = store_path(rel);
	ck_assert_int_eq(unlink(blob), 0);
	free(blob);
	ck_assert_uint_eq(missing_blobs(), 1);
	cached_routes_equal_cli();
	ck_assert_msg(said_no_cache(why), "the server did not say it keeps no answers (%s)", why);
}

START_TEST(cache_off_when_not_watching)
{
	start_server((const char *const[]){ "SYNAPSE_HTTP_NO_WATCH=1", NULL });
	answers_without_cache("SYNAPSE_HTTP_NO_WATCH");
}
END_TEST

START_TEST(cache_off_past_the_watch_limit)
{
	start_server((const char *const[]){ "SYNAPSE_HTTP_MAX_WATCHES=3", NULL });
	answers_without_cache("SYNAPSE_HTTP_MAX_WATCHES=3");
}
END_TEST

/* Blobs kept on another drive through a link: nothing there could be watched, so nothing is kept. */
START_TEST(cache_off_with_a_folder_linked_from_elsewhere)
{
	char *blobs = store_path("data/blobs/sha256"), *elsewhere = test_path("other-drive");
	struct test_run r = CLI("store", "init");

	ck_assert_msg(r.status == 0, "init: %s", r.err);
	test_run_free(&r);
	ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
	if (rmdir(blobs) != 0)
		ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(symlink(elsewhere, blobs), 0);
	start_server((const char *const[]){ NULL });
	answers_without_cache("symbolic link to a folder outside the store");
	free(blobs);
	free(elsewhere);
}
END_TEST

static int watched_dirs;

static int count_watched(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	const char *name = path + ftw->base;

	(void)sb;
	if (flag != FTW_D)
		return FTW_CONTINUE;
	/* what the server leaves unwatched */
	if (ftw->level == 2 && ((!strcmp(name, ".git") && strstr(path, "/state/.git")) ||
				(!strcmp(name, "tmp") && strstr(path, "/data/tmp")) ||
				(!strcmp(name, "cache") && strstr(path, "/data/cache"))))
		return FTW_SKIP_SUBTREE;
	if (ftw->level >= 1)
		watched_dirs++;
	return FTW_CONTINUE;
}

START_TEST(cache_off_when_the_limit_is_reached_later)
{
	char *root = test_path("store"), limit[64];
	struct test_run r = CLI("store", "init");
	int i;

	ck_assert_msg(r.status == 0, "init: %s", r.err);
	test_run_free(&r);
	r = CLI("status");
	test_run_free(&r);
	/* room for state/ and data/ as they are now, and not one directory more */
	watched_dirs = 0;
	ck_assert_int_eq(nftw(root, count_watched, 32, FTW_PHYS | FTW_ACTIONRETVAL), 0);
	free(root);
	snprintf(limit, sizeof(limit), "SYNAPSE_HTTP_MAX_WATCHES=%d", watched_dirs);
	start_server((const char *const[]){ limit, NULL });
	for (i = 0; i < 2; i++) {
		SAME("GET", "/api/store/status", NULL, "status");
		SAME("GET", "/api/packs/", NULL, "list");
	}
	ck_assert_msg(!said_no_cache(""), "the server keeps no answers from the start");
	/* the pack's folder is one more than the limit: from then on every answer is computed */
	answers_without_cache(limit);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	TEST(s, read_routes_equal_cli, setup, teardown);
	TEST(s, requests_from_pages_elsewhere_are_refused, setup, teardown);
	TEST(s, write_routes, setup, teardown);
	TEST(s, bad_requests, setup, teardown);
	TEST(s, token_required, setup, teardown);
	TEST(s, job_polled_to_done, setup, teardown);
	TEST(s, job_of_a_segmented_install_reports_its_bytes, setup, teardown);
	TEST(s, openapi_has_every_route, setup, teardown);
	TEST(s, previews_served, setup, teardown);
	TEST(s, concurrent_writers, setup, teardown);
	TEST(s, sigterm_finishes_requests, setup, teardown);
	TEST(s, cache_follows_every_change, setup, teardown);
	TEST(s, cache_readers_during_writes, setup, teardown);
	TEST(s, cache_off_when_not_watching, setup, teardown);
	TEST(s, cache_off_past_the_watch_limit, setup, teardown);
	TEST(s, cache_off_with_a_folder_linked_from_elsewhere, setup, teardown);
	TEST(s, cache_off_when_the_limit_is_reached_later, setup, teardown);
	TEST(s, cache_survives_lost_events, setup, teardown);
	rc = test_main(s);
	curl_global_cleanup();
	return rc;
}
