/*
 * The HTTP frontend (`synapse serve`): private declarations shared by
 * server.c (the libmicrohttpd daemon), routes.c (the one route table and
 * how a request becomes an operation's arguments), jobs.c (long operations
 * on threads of their own), cache.c (the answers of the read routes, kept
 * while the store does not change) and openapi.c (the description
 * generated from the route table).
 */
#ifndef SYNAPSE_HTTP_H
#define SYNAPSE_HTTP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <synapse/ops.h>
#include <synapse/synapse.h>

#include "page/page_assets.h"

/** The largest request body accepted (413 beyond). */
#define HTTP_BODY_MAX (1024u * 1024u)
/** How many {param}s a path pattern may have. */
#define HTTP_MAX_PATH_PARAMS 4

/** Where a parameter comes from. */
enum http_in { HTTP_IN_PATH, HTTP_IN_QUERY, HTTP_IN_BODY };

/** How a parameter's value becomes the operation's argument. */
enum http_map {
	HTTP_MAP_SAME,   /* the value as it is, under the argument's name */
	HTTP_MAP_NOT,    /* a boolean, negated: {"dry_run": false} -> {"execute": true} */
	HTTP_MAP_ENABLE, /* a boolean: true -> {"enable": true}, false -> {"disable": true} */
	HTTP_MAP_LIST,   /* a list under the argument's name, one string under the parameter's own */
};

/** A parameter of a route. */
struct http_param {
	const char *name;     /* as the request names it; NULL ends a list */
	enum http_in in;
	const char *type;     /* its JSON Schema type: string, boolean, integer, array, object */
	const char *arg;      /* the operation's argument; NULL: the same name */
	enum http_map map;
	const char *about;    /* one line for the API description */
};

/** What a route without an operation serves. */
enum http_builtin {
	HTTP_BUILTIN_NONE,
	HTTP_BUILTIN_OPENAPI, /* the API description */
	HTTP_BUILTIN_JOB,     /* a job's state */
	HTTP_BUILTIN_PREVIEW, /* a pack's preview file */
	HTTP_BUILTIN_PAGE,    /* the page for people and its files */
};

/** One route of the table. */
struct http_route {
	const char *method;   /* GET, POST, PUT or DELETE */
	const char *pattern;  /* "/api/packs/{pack}"; a trailing "{*file}" takes the rest of the path */
	const char *op;       /* the operation's name (syn_op_find), or NULL for a built-in */
	enum http_builtin builtin;
	const struct http_param *params;
	const char *fixed;    /* arguments the route always passes (JSON object text), or NULL */
	bool job;             /* may run as a job (?wait=false) */
	const char *summary;  /* for built-ins; an operation's comes from the op table */
	const char *tag;      /* the API description's group */
	bool cached;          /* the answer depends only on files under state/ and data/: kept (cache.c) */
};

/** The table, ending with a NULL method. */
extern const struct http_route http_routes[];

/** The values of a matched path's {params}, in pattern order. */
struct http_match {
	const struct http_route *route;
	size_t nparams;
	char *names[HTTP_MAX_PATH_PARAMS];  /* borrowed from the pattern, not NUL-terminated: see lens */
	size_t name_lens[HTTP_MAX_PATH_PARAMS];
	char *values[HTTP_MAX_PATH_PARAMS]; /* decoded, malloc'ed */
};

/**
 * Find the route for @method and @path. 0 and *@m filled (free with
 * http_match_dispose()); SYN_ENOTFOUND when no route has that path;
 * SYN_EUSAGE when some have it but not with @method: @allow then holds
 * their methods ("GET, POST").
 */
int http_route_match(const char *method, const char *path, struct http_match *m, char *allow, size_t allow_size);
void http_match_dispose(struct http_match *m);

/** Look up query parameter @name of the request (NULL when absent). */
typedef const char *(*http_query_fn)(void *payload, const char *name);

/**
 * The operation's arguments for a matched route: path params, then the
 * route's query and body parameters (@body: the request's JSON object or
 * NULL), renamed and mapped as the table says, plus the route's fixed
 * arguments. 0 and a new object in *@out, or a negative SYN_E* code.
 */
int http_route_args(const struct http_match *m, http_query_fn query, void *payload, const json_t *body,
		    json_t **out);

/** Check the table against the operations table (methods, flags, names). 0 or SYN_EINVALID with a message. */
int http_routes_check(void);

/** The OpenAPI 3.1 document of the table (a new reference), or NULL when out of memory. */
json_t *http_openapi(void);

/* ---- jobs --------------------------------------------------------------- */

/** Set up the job table: jobs open their own handle on @reg at @root. 0 or SYN_ENOMEM. */
int http_jobs_init(struct syn_registry *reg, const char *root);
/** Wait for every running job, then free them all. */
void http_jobs_shutdown(void);
/** Whether no job is running. */
bool http_jobs_idle(void);
/** Start @op with @args (borrowed) on a thread of its own; its id (17 bytes) in @id. */
int http_job_start(const struct syn_op *op, const json_t *args, char id[17]);
/**
 * The job's document {id, operation, state, progress, result | detail}
 * (a new reference); NULL with SYN_ENOTFOUND when there is no such job.
 * Reading a finished job starts its last ten minutes.
 */
json_t *http_job_get(const char *id);

/* ---- the response cache ------------------------------------------------ */

/** An answer's body, shared by the cache and the responses sending it. */
struct http_body {
	atomic_uint refs;
	size_t len;
	char *data;
};

/** A body of @len bytes at @data (malloc'ed; the body owns it from here), one reference; NULL when out of memory. */
struct http_body *http_body_new(char *data, size_t len);
/** One more reference to @b; returns @b. */
struct http_body *http_body_ref(struct http_body *b);
/** Drop a reference to @b (NULL-safe); the last one frees it. */
void http_body_unref(struct http_body *b);

/**
 * Start keeping answers for the store whose state/ and data/ are
 * @state_root and @data_root: watch every directory of both trees (but
 * state/.git and data/tmp) with one inotify instance. When they cannot be
 * watched (no inotify, too many directories for fs.inotify.max_user_watches,
 * a network file system, SYNAPSE_HTTP_NO_WATCH set; SYNAPSE_HTTP_MAX_WATCHES
 * lowers the limit), nothing is kept, which is said once on stderr.
 */
void http_cache_start(const char *state_root, const char *data_root);
/** Forget every answer and stop watching. */
void http_cache_stop(void);
/** Forget every answer: the store is about to change, or just changed, through this server. */
void http_cache_invalidate(void);

/** What a lookup that found nothing asks of its caller. */
struct http_cache_ticket {
	const char *key;  /* NULL: nothing to store */
	uint64_t gen;     /* the others asking for the key in this generation wait for this answer */
};

/**
 * The answer kept under @key (a new reference), when nothing under the
 * store changed since it was computed. Else NULL, and the caller computes
 * the answer and hands it to http_cache_put() with @t, with NULL when it
 * failed (exactly once: others asking for @key meanwhile wait for it).
 * @key must stay valid until then.
 */
struct http_body *http_cache_get(const char *key, struct http_cache_ticket *t);
/** Keep @body (borrowed; may be NULL) as the answer @t was issued for, unless the store changed meanwhile. */
void http_cache_put(struct http_cache_ticket *t, struct http_body *body);

/** Whether the page has a file at @path (server.c). */
bool http_page_has(const char *path);

/* ---- the server --------------------------------------------------------- */

struct http_options {
	const char *host;   /* address to bind; default 127.0.0.1 */
	unsigned int port;  /* 0: any free port */
	const char *root;   /* the store root */
	struct syn_registry *reg;
};

/**
 * Serve until SIGTERM or SIGINT, then finish the requests and jobs in
 * flight. 0 on a clean stop, else a negative SYN_E* code with a message.
 */
int http_serve(const struct http_options *o);

#endif
