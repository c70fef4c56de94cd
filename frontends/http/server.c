/*
 * `synapse serve`: the libmicrohttpd daemon. A request is matched against
 * the route table (routes.c), turned into the operation's arguments and run
 * on the pool thread's own store handle; the answer is the report the CLI's
 * --json prints, or {"detail": ...} with the error's HTTP status.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <synapse/names.h>

#include "http.h"

static struct {
	struct syn_registry *reg;
	const char *root;
	const char *token;       /* SYNAPSE_API_TOKEN, NULL when none */
	bool loopback;           /* listening on a loopback address only */
	char *openapi;           /* the description's text */
	size_t openapi_len;
	pthread_key_t store_key; /* each pool thread's own store handle */
	pthread_mutex_t mu;
	pthread_cond_t idle;
	size_t inflight;         /* requests begun and not yet completed */
} S = { .mu = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER };

/* One request, from its first call to its completion. */
struct request {
	char *body;
	size_t len;
	bool too_big;
	struct http_match match;
	bool matched;
};

bool http_page_has(const char *path)
{
	return page_asset_find(path) != NULL;
}

/*
 * A pool thread's handle, and the config.json it was opened on: a handle
 * builds its blob chain (the backup named by config.json) once, so when
 * config.json changes (this server's PUT or another process) the thread
 * opens a new handle.
 */
struct thread_store {
	struct syn_store *st;
	struct stat config;
	bool had_config;
};

static void store_release(void *p)
{
	struct thread_store *t = p;

	syn_store_free(t->st);
	free(t);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The calling thread's store handle, opened on first use. NULL with the error set. */
static struct syn_store *thread_store(void)
{
	struct thread_store *t = pthread_getspecific(S.store_key);
	struct stat sb;
	bool has_config;
	int fd;

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || pthread_setspecific(S.store_key, t)) {
			free(t);
			syn_error_set(SYN_ENOMEM, "out of memory");
			return NULL;
		}
	}
	if (t->st) {
		fd = syn_store_state_fd(t->st);
		syn_error_clear();
		has_config = fd >= 0 && fstatat(fd, "config.json", &sb, 0) == 0;
		if (has_config == t->had_config && (!has_config || same_file(&sb, &t->config)))
			return t->st;
		syn_store_free(t->st);
		t->st = NULL;
	}
	if (syn_store_open(&t->st, S.reg, S.root) < 0) {
		t->st = NULL;
		return NULL;
	}
	fd = syn_store_state_fd(t->st);
	syn_error_clear();
	t->had_config = fd >= 0 && fstatat(fd, "config.json", &t->config, 0) == 0;
	return t->st;
}

/* ---- answers ------------------------------------------------------------- */

static enum MHD_Result send_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *resp,
				     const char *type, const char *allow)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* the page loads nothing from anywhere else, and the browser holds it to that */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
				"frame-ancestors 'none'");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* @doc (stolen) as the CLI's --json prints it. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned int status, json_t *doc, const char *allow)
{
	struct syn_buf text = SYN_BUF_INIT;
	size_t len;
	char *data;

	if (!doc || syn_doc_dump(&text, doc)) {
		json_decref(doc);
		syn_buf_dispose(&text);
		return MHD_NO;
	}
	json_decref(doc);
	len = text.len;
	data = syn_buf_detach(&text);
	return send_response(c, status, MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE),
			     "application/json", allow);
}

static void body_release(void *cls)
{
	http_body_unref(cls);
}

/* @body (its reference is the response's from here) as a 200 application/json. */
static enum MHD_Result send_body(struct MHD_Connection *c, struct http_body *body)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer_with_free_callback_cls(body->len, body->data, body_release, body);

	if (!resp)
		http_body_unref(body);
	return send_response(c, MHD_HTTP_OK, resp, "application/json", NULL);
}

/* {"detail": @msg}, with the operation's partial @result (borrowed) when there is one. */
static enum MHD_Result send_detail(struct MHD_Connection *c, unsigned int status, const char *msg,
				   const json_t *result, const char *allow)
{
	json_t *doc = json_pack("{s:s}", "detail", msg && *msg ? msg : "error");

	if (doc && result && json_object_set(doc, "result", (json_t *)result)) {
		json_decref(doc);
		doc = NULL;
	}
	return send_json(c, status, doc, allow);
}

/* The thread's last Synapse error, with its status. */
static enum MHD_Result send_error(struct MHD_Connection *c, int code, const json_t *result)
{
	const char *msg = syn_error_last();

	return send_detail(c, (unsigned int)syn_error_http_status(code < 0 ? code : SYN_ERROR),
			   *msg ? msg : syn_strerror(code), result, NULL);
}

/* ---- built-in routes ----------------------------------------------------- */

static const char *content_type_of(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".png", "image/png" },   { ".jpg", "image/jpeg" },  { ".jpeg", "image/jpeg" }, { ".webp", "image/webp" },
		{ ".gif", "image/gif" },   { ".mp4", "video/mp4" },   { ".webm", "video/webm" },  { ".json", "application/json" },
		{ ".txt", "text/plain" },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* state/packs/<pack>/resources/previews/<file>, never through a symlink. */
static enum MHD_Result serve_preview(struct MHD_Connection *c, const struct http_match *m)
{
	const char *pack = m->values[0], *file = m->values[1];
	const char *dirs[] = { "packs", pack, "resources", "previews" };
	struct syn_store *st = thread_store();
	struct stat sb;
	int fd, next;
	size_t i;

	if (!st)
		return send_error(c, syn_error_code(), NULL);
	if (syn_name_check_pack(pack) || syn_name_check_file(file))
		return send_error(c, syn_error_code(), NULL);
	fd = syn_store_state_fd(st);
	if (fd < 0)
		return send_error(c, fd, NULL);
	fd = dup(fd);
	for (i = 0; fd >= 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		next = openat(fd, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd >= 0) {
		next = openat(fd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		return send_detail(c, MHD_HTTP_NOT_FOUND, "no such preview", NULL, NULL);
	}
	/* the response owns the descriptor from here */
	return send_response(c, MHD_HTTP_OK, MHD_create_response_from_fd((uint64_t)sb.st_size, fd),
			     content_type_of(file), NULL);
}

static enum MHD_Result serve_page(struct MHD_Connection *c, const char *path)
{
	const struct page_asset *a = page_asset_find(path);

	if (a)
		return send_response(c, MHD_HTTP_OK,
				     MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT),
				     a->content_type, NULL);
	return send_detail(c, MHD_HTTP_NOT_FOUND, "no such file", NULL, NULL);
}

static enum MHD_Result serve_builtin(struct MHD_Connection *c, const struct http_match *m, const char *path)
{
	json_t *doc;

	switch (m->route->builtin) {
	case HTTP_BUILTIN_OPENAPI:
		return send_response(c, MHD_HTTP_OK,
				     MHD_create_response_from_buffer(S.openapi_len, S.openapi, MHD_RESPMEM_PERSISTENT),
				     "application/json", NULL);
	case HTTP_BUILTIN_JOB:
		doc = http_job_get(m->values[0]);
		return doc ? send_json(c, MHD_HTTP_OK, doc, NULL) : send_error(c, syn_error_code(), NULL);
	case HTTP_BUILTIN_PREVIEW:
		return serve_preview(c, m);
	case HTTP_BUILTIN_PAGE:
		return serve_page(c, path);
	case HTTP_BUILTIN_NONE:
		break;
	}
	return send_detail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "route serves nothing", NULL, NULL);
}

/* ---- operations ----------------------------------------------------------- */

static const char *query_value(void *payload, const char *name)
{
	return MHD_lookup_connection_value(payload, MHD_GET_ARGUMENT_KIND, name);
}

/*
 * A cached route: the answer kept for the operation and @args (borrowed)
 * while the store has not changed, else the operation's report, kept.
 */
static enum MHD_Result run_cached(struct MHD_Connection *c, const struct syn_op *op, const json_t *args)
{
	struct http_cache_ticket ticket;
	struct syn_buf key = SYN_BUF_INIT, text = SYN_BUF_INIT;
	struct http_body *body;
	json_t *report = NULL;
	struct syn_store *st;
	enum MHD_Result ret;
	char *dump = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS), *data;
	size_t len;
	int rc;

	if (!dump || syn_buf_printf(&key, "%s\n%s", op->name, dump)) {
		free(dump);
		syn_buf_dispose(&key);
		return send_error(c, syn_error_set(SYN_ENOMEM, "out of memory"), NULL);
	}
	free(dump);
	body = http_cache_get(key.ptr, &ticket);
	if (body) {
		syn_buf_dispose(&key);
		return send_body(c, body);
	}
	st = thread_store();
	rc = st ? syn_op_run(op, st, args, NULL, &report) : syn_error_code();
	if (rc < 0) {
		http_cache_put(&ticket, NULL);
		ret = send_error(c, rc, report);
		goto out;
	}
	if (syn_doc_dump(&text, report)) {
		http_cache_put(&ticket, NULL);
		ret = MHD_NO;
		goto out;
	}
	len = text.len;
	data = syn_buf_detach(&text);
	body = http_body_new(data, len);
	if (!body)
		free(data);
	http_cache_put(&ticket, body);
	ret = body ? send_body(c, body) : MHD_NO;
out:
	json_decref(report);
	syn_buf_dispose(&text);
	syn_buf_dispose(&key);
	return ret;
}

static enum MHD_Result run_operation(struct MHD_Connection *c, struct request *rq)
{
	const struct http_route *r = rq->match.route;
	const struct syn_op *op = syn_op_find(r->op);
	const char *wait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");
	json_t *body = NULL, *args = NULL, *report = NULL;
	struct syn_store *st;
	enum MHD_Result ret;
	bool as_job = false;
	int rc;

	if (wait && (!strcmp(wait, "false") || !strcmp(wait, "0")))
		as_job = true;
	else if (wait && strcmp(wait, "true") && strcmp(wait, "1"))
		return send_detail(c, MHD_HTTP_BAD_REQUEST, "wait must be true or false", NULL, NULL);
	if (as_job && !r->job)
		return send_detail(c, MHD_HTTP_BAD_REQUEST, "only long operations run as jobs (wait=false)", NULL, NULL);
	if (strcmp(r->method, "GET") && rq->len) {
		json_error_t err;

		body = json_loadb(rq->body, rq->len, 0, &err);
		if (!json_is_object(body)) {
			char msg[256];

			if (body)
				snprintf(msg, sizeof(msg), "the request body must be a JSON object");
			else
				snprintf(msg, sizeof(msg), "the request body is not JSON: %s (line %d, column %d)", err.text,
					 err.line, err.column);
			json_decref(body);
			return send_detail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, msg, NULL, NULL);
		}
	}
	rc = http_route_args(&rq->match, query_value, c, body, &args);
	json_decref(body);
	if (rc)
		return send_error(c, rc, NULL);
	if (r->cached) {
		ret = run_cached(c, op, args);
		json_decref(args);
		return ret;
	}
	/* what the change leaves is seen through the watches too; this also covers a store not watched */
	if (op->flags & SYN_OP_CHANGES_STATE)
		http_cache_invalidate();
	if (as_job) {
		char id[17];

		rc = http_job_start(op, args, id);
		json_decref(args);
		if (rc)
			return send_error(c, rc, NULL);
		return send_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:s}", "job", id), NULL);
	}
	st = thread_store();
	if (!st) {
		json_decref(args);
		return send_error(c, syn_error_code(), NULL);
	}
	rc = syn_op_run(op, st, args, NULL, &report);
	json_decref(args);
	if (op->flags & SYN_OP_CHANGES_STATE)
		http_cache_invalidate();
	if (rc < 0)
		ret = send_error(c, rc, report);
	else
		ret = send_json(c, MHD_HTTP_OK, json_incref(report), NULL);
	json_decref(report);
	return ret;
}

/* ---- the request handler ------------------------------------------------- */

/* Whether @given is the token, in time that does not depend on where they differ. */
static bool token_matches(const char *given)
{
	size_t n = strlen(S.token), g = strlen(given), i;
	unsigned char diff = n != g;

	for (i = 0; i < n; i++)
		diff |= (unsigned char)S.token[i] ^ (unsigned char)(i < g ? given[i] : 0);
	return !diff;
}

static bool authorized(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!S.token)
		return true;
	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	return token_matches(h + 7);
}

/* first_call() of a request known to come from here. */
static enum MHD_Result checked_call(struct MHD_Connection *c, struct request *rq, const char *url, const char *method)
{
	const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char allow[64];
	int rc = http_route_match(method, url, &rq->match, allow, sizeof(allow));
	bool open = !rc && rq->match.route->builtin == HTTP_BUILTIN_PAGE;

	rq->matched = !rc;
	/* the page and its files are for anyone; everything else needs the token */
	if (!open && !authorized(c))
		return send_detail(c, MHD_HTTP_UNAUTHORIZED, "missing or wrong API token (Authorization: Bearer <token>)",
				   NULL, NULL);
	if (rc == SYN_EUSAGE)
		return send_detail(c, MHD_HTTP_METHOD_NOT_ALLOWED, syn_error_last(), NULL, allow);
	if (rc)
		return send_detail(c, rc == SYN_ENOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR,
				   syn_error_last(), NULL, NULL);
	if (length) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(length, &end, 10);
		if (errno || *end || n > HTTP_BODY_MAX)
			return send_detail(c, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is over 1 MiB", NULL, NULL);
	}
	return MHD_YES;
}

/* Whether @a is in 127.0.0.0/8. */
static bool loopback4(const struct in_addr *a)
{
	return (ntohl(a->s_addr) >> 24) == 127;
}

/* Whether @host (a Host header: name or address, maybe a port) names this machine's loopback. */
static bool loopback_host(const char *host)
{
	char name[256];
	const char *end;
	struct in_addr a4;
	size_t n;

	if (host[0] == '[')
		return !strncmp(host, "[::1]", 5) && (!host[5] || host[5] == ':');
	end = strchr(host, ':');
	n = end ? (size_t)(end - host) : strlen(host);
	if (!n || n >= sizeof(name))
		return false;
	memcpy(name, host, n);
	name[n] = '\0';
	return !strcasecmp(name, "localhost") || (inet_pton(AF_INET, name, &a4) == 1 && loopback4(&a4));
}

/*
 * Refuse what a web page elsewhere could make a browser send: on a
 * loopback server, a request addressed to another name (a DNS rebinding
 * points one at 127.0.0.1), and anywhere a change (any method but GET and
 * HEAD) asked for by a page of another origin, which a browser sends
 * without asking first when it looks like a form. NULL when the request
 * may go on, else why not.
 */
static const char *foreign(struct MHD_Connection *c, const char *method)
{
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");

	if (S.loopback && host && !loopback_host(host))
		return "this server answers requests addressed to a loopback name (localhost, 127.0.0.1, [::1]) only";
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD") || !origin)
		return NULL;
	/* the page itself, reached directly or through a proxy that keeps the Host (plain or TLS) */
	if (!strncmp(origin, "http://", 7))
		origin += 7;
	else if (!strncmp(origin, "https://", 8))
		origin += 8;
	else
		origin = NULL;
	if (!host || !origin || strcasecmp(origin, host))
		return "a change asked for by a page of another origin is refused";
	return NULL;
}

/* The first call for a request: whether it may go on, and with what. */
static enum MHD_Result first_call(struct MHD_Connection *c, struct request *rq, const char *url, const char *method)
{
	const char *why = foreign(c, method);

	return why ? send_detail(c, MHD_HTTP_FORBIDDEN, why, NULL, NULL) : checked_call(c, rq, url, method);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		pthread_mutex_lock(&S.mu);
		S.inflight++;
		pthread_mutex_unlock(&S.mu);
		return first_call(c, rq, url, method);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (rq->too_big || rq->len + n > HTTP_BODY_MAX) {
			/* a body without a length: read past and refuse at its end */
			rq->too_big = true;
			free(rq->body);
			rq->body = NULL;
			rq->len = 0;
			return MHD_YES;
		}
		char *grown = realloc(rq->body, rq->len + n + 1);

		if (!grown)
			return MHD_NO;
		memcpy(grown + rq->len, upload_data, n);
		rq->body = grown;
		rq->len += n;
		return MHD_YES;
	}
	if (rq->too_big)
		return send_detail(c, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is over 1 MiB", NULL, NULL);
	if (!rq->match.route->op)
		return serve_builtin(c, &rq->match, url);
	return run_operation(c, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!rq)
		return;
	*con_cls = NULL;
	http_match_dispose(&rq->match);
	free(rq->body);
	free(rq);
	pthread_mutex_lock(&S.mu);
	if (!--S.inflight)
		pthread_cond_broadcast(&S.idle);
	pthread_mutex_unlock(&S.mu);
}

/* ---- the daemon ------------------------------------------------------------ */

static int make_openapi(void)
{
	struct syn_buf text = SYN_BUF_INIT;
	json_t *doc = http_openapi();

	if (!doc || syn_doc_dump(&text, doc)) {
		json_decref(doc);
		syn_buf_dispose(&text);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	json_decref(doc);
	S.openapi_len = text.len;
	S.openapi = syn_buf_detach(&text);
	return 0;
}

int http_serve(const struct http_options *o)
{
	const char *host = o->host && *o->host ? o->host : "127.0.0.1";
	struct sockaddr_storage addr = { 0 };
	struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
	/*
	 * poll(), not epoll: quiescing a pool of epoll workers races with the
	 * workers' own bookkeeping of the listening socket in 0.9.7x.
	 */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	sigset_t sigs, old;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct syn_store *st;
	MHD_socket listen_fd;
	int rc, sig;

	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)o->port);
		S.loopback = loopback4(&a4->sin_addr);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)o->port);
		S.loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
		flags |= MHD_USE_IPv6;
	} else {
		return syn_error_set(SYN_EUSAGE, "--host takes an IP address (127.0.0.1, ::1, 0.0.0.0), not '%s'", host);
	}
	if ((rc = http_routes_check()))
		return rc;
	S.reg = o->reg;
	S.root = o->root;
	S.token = getenv("SYNAPSE_API_TOKEN");
	if (S.token && !*S.token)
		S.token = NULL;
	if ((rc = make_openapi()))
		return rc;
	if ((rc = http_jobs_init(o->reg, o->root)))
		goto out_openapi;
	if (pthread_key_create(&S.store_key, store_release)) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out_jobs;
	}
	/* where state/ and data/ are, as every request's handle finds them */
	if ((rc = syn_store_open(&st, o->reg, o->root)))
		goto out_key;
	http_cache_start(syn_store_state_root(st), syn_store_data_root(st));
	syn_store_free(st);
	/* every thread started from here on leaves the stop signals to sigwait() below */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cores > 0 ? cores : 1),
			     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
			     MHD_OPTION_END);
	if (!d) {
		rc = syn_error_set_errno(SYN_ERROR, errno, "cannot listen on %s port %u", host, o->port);
		goto out_mask;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("Synapse serving %s at http://%s%s%s:%u/\n", o->root, strchr(host, ':') ? "[" : "", host,
	       strchr(host, ':') ? "]" : "", info ? info->port : o->port);
	fflush(stdout);

	do
		rc = sigwait(&sigs, &sig);
	while (rc == EINTR);
	/* stop accepting, let what is in flight finish, then stop */
	listen_fd = MHD_quiesce_daemon(d);
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	pthread_mutex_lock(&S.mu);
	while (S.inflight)
		pthread_cond_wait(&S.idle, &S.mu);
	pthread_mutex_unlock(&S.mu);
	MHD_stop_daemon(d);
	rc = 0;
out_mask:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	http_cache_stop();
out_key:
	pthread_key_delete(S.store_key);
out_jobs:
	http_jobs_shutdown();
out_openapi:
	free(S.openapi);
	S.openapi = NULL;
	return rc;
}
