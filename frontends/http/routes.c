/*
 * The route table of the HTTP API and how a request becomes an operation's
 * arguments. The server dispatches by this table only, and the OpenAPI
 * description is generated from it, so the two cannot drift.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define PARAMS(...) ((const struct http_param[]){ __VA_ARGS__, { NULL, 0, NULL, NULL, 0, NULL } })
#define NONE PARAMS({ NULL, 0, NULL, NULL, 0, NULL })
#define PATH(n, about) { n, HTTP_IN_PATH, "string", NULL, HTTP_MAP_SAME, about }
#define QUERY(n, t, about) { n, HTTP_IN_QUERY, t, NULL, HTTP_MAP_SAME, about }
#define QUERY_AS(n, t, arg, about) { n, HTTP_IN_QUERY, t, arg, HTTP_MAP_SAME, about }
#define BODY(n, t, about) { n, HTTP_IN_BODY, t, NULL, HTTP_MAP_SAME, about }
#define BODY_AS(n, t, arg, map, about) { n, HTTP_IN_BODY, t, arg, map, about }

#define UI_SET_Q QUERY("ui_set", "string", "the UIs (default: config defaults.ui_set)")
#define UI_SET_B BODY("ui_set", "string", "the UIs (default: config defaults.ui_set)")
#define SHA_P PATH("sha256", "the blob's SHA-256 (64 hex digits)")
#define PACK_P PATH("pack", "the pack's name")
#define DRY_RUN_EXEC BODY_AS("dry_run", "boolean", "execute", HTTP_MAP_NOT, "only show what would be done (default true)")

/* op routes: method, pattern, operation, parameters, fixed arguments, job, tag */
#define OP(m, pat, op, params, fixed, job, tag) { m, pat, op, HTTP_BUILTIN_NONE, params, fixed, job, NULL, tag, false }
#define BUILTIN(m, pat, b, params, summary, tag) { m, pat, NULL, b, params, NULL, false, summary, tag, false }
/* a GET whose answer depends only on the store's files, kept until they change (cache.c) */
#define CACHED(pat, op, params, tag) { "GET", pat, op, HTTP_BUILTIN_NONE, params, NULL, false, NULL, tag, true }

const struct http_route http_routes[] = {
	/* store */
	OP("POST", "/api/store/init", "store init", PARAMS(BODY("force", "boolean", "repair the default documents")),
	   NULL, false, "store"),
	CACHED("/api/store/status", "status", PARAMS(UI_SET_Q), "store"),
	OP("POST", "/api/store/doctor", "doctor",
	   PARAMS(BODY("rebuild_views", "boolean", "bring stacks, active links and views into agreement"),
		  BODY("verify_blobs", "boolean", "re-hash every blob, quarantine corrupt ones"), UI_SET_B),
	   NULL, false, "store"),
	CACHED("/api/store/config", "store config", NONE, "store"),
	OP("POST", "/api/store/attach", "attach", PARAMS(UI_SET_B), NULL, false, "store"),
	OP("POST", "/api/store/detach", "detach", PARAMS(UI_SET_B), NULL, false, "store"),
	OP("GET", "/api/store/attach-status", "attach-status", PARAMS(UI_SET_Q), NULL, false, "store"),
	OP("GET", "/api/history", "history", PARAMS(QUERY("limit", "integer", "at most this many commits")), NULL, false,
	   "store"),
	OP("GET", "/api/plugins", "plugins", NONE, NULL, false, "store"),
	OP("GET", "/api/ui", "ui list", NONE, NULL, false, "store"),

	/* inventory */
	OP("GET", "/api/store/inventory", "inventory list",
	   PARAMS(QUERY("kind", "string", "only blobs of this kind"), QUERY("status", "string", "only blobs of this status")),
	   NULL, false, "inventory"),
	OP("GET", "/api/store/inventory/{sha256}/impact", "inventory impacts", PARAMS(SHA_P), NULL, false, "inventory"),
	OP("POST", "/api/store/inventory/cleanup-orphans", "inventory cleanup",
	   PARAMS(BODY("dry_run", "boolean", "only show what would be removed (default true)"),
		  BODY_AS("max_items", "integer", "max", HTTP_MAP_SAME, "at most this many blobs (0: all)")),
	   NULL, false, "inventory"),
	OP("POST", "/api/store/adopt", "adopt",
	   PARAMS(BODY_AS("folders", "array", "folders", HTTP_MAP_LIST, "the folders to adopt (null: the UIs' model folders)"),
		  BODY("ui", "string", "kinds from this UI's folders (and its folders when none are given)"),
		  BODY("dry_run", "boolean", "hash and identify only: store nothing, write no pack"),
		  BODY("mode", "string", "copy (the default: a reflink clone or a copy), link (a hard link to the original) "
		       "or move (originals replaced by links to their verified blobs)")),
	   NULL, true, "inventory"),
	OP("POST", "/api/store/inventory/verify", "inventory verify",
	   PARAMS(BODY_AS("sha256", "array", "shas", HTTP_MAP_LIST, "the digests to re-hash, or null with all"),
		  BODY("all", "boolean", "every blob stored here")),
	   NULL, true, "inventory"),
	OP("DELETE", "/api/store/inventory/{sha256}", "inventory delete",
	   PARAMS(SHA_P, QUERY("force", "boolean", "delete despite the guard rails"),
		  QUERY("target", "string", "local (default), backup or both")),
	   NULL, false, "inventory"),

	/* backup */
	OP("GET", "/api/store/backup/status", "backup status", NONE, NULL, false, "backup"),
	OP("PUT", "/api/store/backup/config", "backup config",
	   PARAMS(BODY_AS("enabled", "boolean", "enable", HTTP_MAP_ENABLE, "use the backup or stop using it"),
		  BODY("path", "string", "the backup directory (absolute)"),
		  BODY("backend", "string", "the backend plugin (default backup_path)")),
	   NULL, false, "backup"),
	OP("POST", "/api/store/backup/blob/{sha256}", "backup blob", PARAMS(SHA_P), NULL, true, "backup"),
	OP("POST", "/api/store/backup/restore/{sha256}", "backup restore", PARAMS(SHA_P), NULL, true, "backup"),
	OP("DELETE", "/api/store/backup/blob/{sha256}", "backup delete",
	   PARAMS(SHA_P, BODY_AS("confirm", "boolean", "force", HTTP_MAP_SAME, "must be true: confirms the deletion")),
	   NULL, false, "backup"),
	OP("POST", "/api/store/backup/sync", "backup sync",
	   PARAMS(BODY("direction", "string", "to_backup or from_backup"), DRY_RUN_EXEC), NULL, true, "backup"),
	OP("POST", "/api/store/backup/pull-pack/{pack}", "backup pull", PARAMS(PACK_P, DRY_RUN_EXEC), NULL, true,
	   "backup"),
	OP("POST", "/api/store/backup/push-pack/{pack}", "backup push",
	   PARAMS(PACK_P, DRY_RUN_EXEC,
		  BODY("cleanup", "boolean", "then remove each local copy whose backup copy was verified now")),
	   NULL, true, "backup"),

	/* packs */
	CACHED("/api/packs/", "list", NONE, "packs"),
	OP("POST", "/api/packs/import", "import",
	   PARAMS(BODY("url", "string", "a Civitai URL, civitai:<model>[@<version>] or an AIR"),
		  BODY("version_ids", "array", "the versions to import (default: the URL's, else the newest)"),
		  BODY("pack_name", "string", "the pack's name (default: the model's)"),
		  BODY("download_previews", "boolean", "download the preview images (default true)"),
		  BODY("add_to_global", "boolean", "add the pack to the global profile (default true)"),
		  BODY("max_previews", "integer", "at most this many previews (0: none)")),
	   NULL, false, "packs"),
	CACHED("/api/packs/{pack}", "show", PARAMS(PACK_P), "packs"),
	OP("POST", "/api/packs/{pack}/resolve", "resolve", PARAMS(PACK_P), NULL, false, "packs"),
	OP("POST", "/api/packs/{pack}/install", "install",
	   PARAMS(PACK_P, BODY("jobs", "integer", "parallel downloads, 1 to 16 (default 4)")), NULL, true, "packs"),
	OP("DELETE", "/api/packs/{pack}", "delete",
	   PARAMS(PACK_P, QUERY("force", "boolean", "delete even when its work profile is active")), NULL, false, "packs"),

	/* profiles */
	CACHED("/api/profiles/", "profiles list", NONE, "profiles"),
	CACHED("/api/profiles/status", "status", PARAMS(UI_SET_Q), "profiles"),
	OP("POST", "/api/profiles/use", "use",
	   PARAMS(BODY("pack", "string", "the pack whose work profile to use"), UI_SET_B,
		  BODY("sync", "boolean", "download the profile's missing blobs first (default true)")),
	   NULL, true, "profiles"),
	OP("POST", "/api/profiles/back", "back", PARAMS(UI_SET_B), NULL, false, "profiles"),
	OP("POST", "/api/profiles/reset", "reset", PARAMS(UI_SET_B), NULL, false, "profiles"),
	CACHED("/api/profiles/{profile}", "profiles show", PARAMS(PATH("profile", "the profile's name")), "profiles"),

	/* updates */
	OP("GET", "/api/updates/plan", "check-updates", PARAMS(QUERY("pack", "string", "one pack (default: every pack)")),
	   NULL, false, "updates"),
	OP("GET", "/api/updates/check/{pack}", "check-updates", PARAMS(PACK_P), NULL, false, "updates"),
	OP("GET", "/api/updates/check-all", "check-updates", NONE, NULL, false, "updates"),
	OP("POST", "/api/updates/apply", "update",
	   PARAMS(BODY("pack", "string", "the pack to update"), BODY("dry_run", "boolean", "change nothing"),
		  BODY("sync", "boolean", "download the new files first"),
		  BODY("choose", "object", "{dependency: file id} for held or ambiguous dependencies"),
		  BODY("jobs", "integer", "parallel downloads, 1 to 16 (default 4)")),
	   NULL, true, "updates"),
	OP("POST", "/api/updates/apply-batch", "update",
	   PARAMS(BODY("dry_run", "boolean", "change nothing"), BODY("sync", "boolean", "download the new files first"),
		  BODY("choose", "object", "{pack: {dependency: file id}}"),
		  BODY("jobs", "integer", "parallel downloads, 1 to 16 (default 4)")),
	   "{\"all\": true}", true, "updates"),

	/* search */
	OP("GET", "/api/search", "search", PARAMS(QUERY_AS("q", "string", "query", "the text to look for")), NULL, false,
	   "search"),

	/* served by the server itself */
	BUILTIN("GET", "/api/openapi.json", HTTP_BUILTIN_OPENAPI, NONE, "This description of the API.", "server"),
	BUILTIN("GET", "/api/jobs/{id}", HTTP_BUILTIN_JOB, PARAMS(PATH("id", "the job's id")),
		"A job's state, progress and, once finished, its result or failure.", "server"),
	BUILTIN("GET", "/previews/{pack}/resources/previews/{file}", HTTP_BUILTIN_PREVIEW,
		PARAMS(PACK_P, PATH("file", "the preview's file name")), "A pack's preview image or video.", "packs"),
	BUILTIN("GET", "/", HTTP_BUILTIN_PAGE, NONE, "The page for people.", "server"),
	BUILTIN("GET", "/{*file}", HTTP_BUILTIN_PAGE, PARAMS(PATH("file", "a file of the page")),
		"The page's files.", "server"),
	{ NULL, NULL, NULL, HTTP_BUILTIN_NONE, NULL, NULL, false, NULL, NULL, false },
};

/* Whether @path matches @pattern; the {param} values go to @m (when not NULL). */
static bool match_one(const char *pattern, const char *path, struct http_match *m)
{
	const char *p = pattern, *s = path;
	size_t n = 0;

	while (*p) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			bool rest = p[1] == '*';
			size_t len;

			if (!close)
				return false;
			len = rest ? strlen(s) : strcspn(s, "/");
			if (!len || n >= HTTP_MAX_PATH_PARAMS)
				return false;
			if (m) {
				m->names[n] = (char *)p + 1 + rest;
				m->name_lens[n] = (size_t)(close - p - 1 - rest);
				m->values[n] = strndup(s, len);
			}
			n++;
			s += len;
			p = close + 1;
			continue;
		}
		if (*p != *s) {
			/* "/api/packs/" also answers as "/api/packs" */
			if (*p == '/' && !p[1] && !*s && p != pattern)
				break;
			return false;
		}
		p++;
		s++;
	}
	if (*s)
		return false;
	if (m)
		m->nparams = n;
	return true;
}

void http_match_dispose(struct http_match *m)
{
	size_t i;

	for (i = 0; i < m->nparams; i++)
		free(m->values[i]);
	memset(m, 0, sizeof(*m));
}

/* A catch-all page route answers only for files the page has. */
static bool route_applies(const struct http_route *r, const char *path)
{
	if (r->builtin == HTTP_BUILTIN_PAGE && strchr(r->pattern, '*'))
		return strncmp(path, "/api/", 5) && http_page_has(path);
	return true;
}

int http_route_match(const char *method, const char *path, struct http_match *m, char *allow, size_t allow_size)
{
	const struct http_route *r;
	size_t used = 0;
	bool found = false;

	memset(m, 0, sizeof(*m));
	if (allow_size)
		allow[0] = '\0';
	for (r = http_routes; r->method; r++) {
		if (!match_one(r->pattern, path, NULL) || !route_applies(r, path))
			continue;
		if (!strcmp(r->method, method)) {
			match_one(r->pattern, path, m);
			m->route = r;
			for (size_t i = 0; i < m->nparams; i++)
				if (!m->values[i]) {
					http_match_dispose(m);
					return syn_error_set(SYN_ENOMEM, "out of memory");
				}
			return 0;
		}
		/* the methods the path answers to, each once */
		if (!strstr(allow, r->method)) {
			int w = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", r->method);

			if (w > 0 && (size_t)w < allow_size - used)
				used += (size_t)w;
		}
		found = true;
	}
	if (found)
		return syn_error_set(SYN_EUSAGE, "method %s is not allowed here (allowed: %s)", method, allow);
	return syn_error_set(SYN_ENOTFOUND, "no route for %s", path);
}

/* A boolean from JSON or text; -1 when it is neither. */
static int bool_of(const json_t *v)
{
	const char *s = json_string_value(v);

	if (json_is_boolean(v))
		return json_is_true(v);
	if (s && (!strcmp(s, "true") || !strcmp(s, "1")))
		return 1;
	if (s && (!strcmp(s, "false") || !strcmp(s, "0")))
		return 0;
	return -1;
}

static int put(json_t *args, const char *key, json_t *v)
{
	if (!v || json_object_set_new(args, key, v))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	return 0;
}

static int map_param(json_t *args, const struct http_param *p, json_t *v)
{
	const char *arg = p->arg ? p->arg : p->name;
	int b;

	if (p->map == HTTP_MAP_LIST)
		return put(args, json_is_string(v) ? p->name : arg, v);
	if (p->map == HTTP_MAP_SAME || json_is_null(v)) {
		/* null is "not given": the operation's default */
		if (json_is_null(v)) {
			json_decref(v);
			return 0;
		}
		return put(args, arg, v);
	}
	b = bool_of(v);
	json_decref(v);
	if (b < 0)
		return syn_error_set(SYN_EUSAGE, "'%s' must be true or false", p->name);
	if (p->map == HTTP_MAP_NOT)
		return put(args, arg, json_boolean(!b));
	/* HTTP_MAP_ENABLE */
	return put(args, b ? "enable" : "disable", json_true());
}

int http_route_args(const struct http_match *m, http_query_fn query, void *payload, const json_t *body,
		    json_t **out)
{
	const struct http_route *r = m->route;
	const struct http_param *p;
	json_t *args = json_object();
	int rc = 0;

	*out = NULL;
	if (!args)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (p = r->params; p && p->name && !rc; p++) {
		json_t *v = NULL;
		size_t i;

		switch (p->in) {
		case HTTP_IN_PATH:
			for (i = 0; i < m->nparams; i++)
				if (m->name_lens[i] == strlen(p->name) && !strncmp(m->names[i], p->name, m->name_lens[i]))
					v = json_string(m->values[i]);
			if (!v)
				rc = syn_error_set(SYN_EUSAGE, "missing path parameter '%s'", p->name);
			break;
		case HTTP_IN_QUERY: {
			const char *s = query ? query(payload, p->name) : NULL;

			if (s && !(v = json_string(s)))
				rc = syn_error_set(SYN_EUSAGE, "query parameter '%s' is not valid UTF-8", p->name);
			break;
		}
		case HTTP_IN_BODY:
			v = json_incref(json_object_get(body, p->name));
			break;
		}
		if (v && !rc)
			rc = map_param(args, p, v);
		else
			json_decref(v);
	}
	if (!rc && r->fixed) {
		json_t *fixed = json_loads(r->fixed, 0, NULL);

		if (!fixed || json_object_update(args, fixed))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		json_decref(fixed);
	}
	if (rc) {
		json_decref(args);
		return rc;
	}
	*out = args;
	return 0;
}

int http_routes_check(void)
{
	const struct http_route *r;

	for (r = http_routes; r->method; r++) {
		const struct syn_op *op = r->op ? syn_op_find(r->op) : NULL;
		const char *p;

		if (r->op && !op)
			return syn_error_set(SYN_EINVALID, "route %s %s names no operation '%s'", r->method, r->pattern, r->op);
		if (!r->op && r->builtin == HTTP_BUILTIN_NONE)
			return syn_error_set(SYN_EINVALID, "route %s %s serves nothing", r->method, r->pattern);
		/* reading never changes the store */
		if (op && !strcmp(r->method, "GET") && (op->flags & SYN_OP_CHANGES_STATE))
			return syn_error_set(SYN_EINVALID, "GET %s would run '%s', which changes the store", r->pattern, r->op);
		/* a kept answer must not depend on anything but the store's files */
		if (r->cached && (!op || strcmp(r->method, "GET") || (op->flags & (SYN_OP_NETWORK | SYN_OP_LONG))))
			return syn_error_set(SYN_EINVALID, "route %s %s: only a GET of an operation that uses no network is "
					     "kept", r->method, r->pattern);
		if (op && r->job != !!(op->flags & SYN_OP_LONG))
			return syn_error_set(SYN_EINVALID, "route %s %s: a job exactly when '%s' is long", r->method,
					     r->pattern, r->op);
		/* every {param} of the pattern is a path parameter of the route */
		for (p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
			const char *name = p + 1 + (p[1] == '*');
			size_t len = strcspn(name, "}");
			const struct http_param *q;
			bool ok = false;

			for (q = r->params; q && q->name; q++)
				ok = ok || (q->in == HTTP_IN_PATH && strlen(q->name) == len && !strncmp(q->name, name, len));
			if (!ok)
				return syn_error_set(SYN_EINVALID, "route %s %s: '{%.*s}' is not a parameter", r->method,
						     r->pattern, (int)len, name);
		}
	}
	return 0;
}
