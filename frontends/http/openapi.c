/* The OpenAPI 3.1 description, generated from the route table so the two cannot drift. */
#include <ctype.h>
#include <string.h>

#include "http.h"

/* "/api/packs/{pack}" as OpenAPI writes it ("{*file}" takes the rest of the path: "{file}"). */
static json_t *path_key(const char *pattern)
{
	struct syn_buf b = SYN_BUF_INIT;
	json_t *s;

	for (; *pattern; pattern++)
		if (!(pattern[0] == '*' && pattern[-1] == '{') && syn_buf_put(&b, pattern, 1)) {
			syn_buf_dispose(&b);
			return NULL;
		}
	s = json_string(b.ptr ? b.ptr : "");
	syn_buf_dispose(&b);
	return s;
}

static json_t *operation_id(const struct http_route *r)
{
	char id[160];
	size_t n = 0;
	const char *p;

	for (p = r->method; *p && n < sizeof(id) - 1; p++)
		id[n++] = (char)tolower((unsigned char)*p);
	for (p = r->pattern; *p && n < sizeof(id) - 1; p++)
		if (isalnum((unsigned char)*p))
			id[n++] = *p;
		else if (n && id[n - 1] != '_')
			id[n++] = '_';
	while (n && id[n - 1] == '_')
		n--;
	id[n] = '\0';
	return json_string(id);
}

static const char *in_name(enum http_in in)
{
	return in == HTTP_IN_PATH ? "path" : "query";
}

static int add_error(json_t *responses, const char *status, const char *what)
{
	return json_object_set_new(responses, status,
				   json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", what, "content", "application/json",
					     "schema", "$ref", "#/components/schemas/Error"));
}

static json_t *describe(const struct http_route *r)
{
	const struct syn_op *op = r->op ? syn_op_find(r->op) : NULL;
	json_t *o = json_object(), *params = json_array(), *props = json_object(), *responses = json_object();
	const struct http_param *p;
	int rc = !o || !params || !props || !responses;
	bool writes = strcmp(r->method, "GET") != 0;

	if (rc)
		goto fail;
	rc |= json_object_set_new(o, "summary", json_string(op ? op->summary : r->summary));
	rc |= json_object_set_new(o, "operationId", operation_id(r));
	rc |= json_object_set_new(o, "tags", json_pack("[s]", r->tag));
	if (op)
		rc |= json_object_set_new(o, "x-synapse-operation", json_string(op->name));
	for (p = r->params; p && p->name; p++) {
		json_t *schema = json_pack("{s:s}", "type", p->type);

		if (p->in == HTTP_IN_BODY) {
			if (schema && p->about)
				rc |= json_object_set_new(schema, "description", json_string(p->about));
			rc |= json_object_set_new(props, p->name, schema);
			continue;
		}
		rc |= json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:s, s:o*}", "name", p->name, "in",
							      in_name(p->in), "required", p->in == HTTP_IN_PATH,
							      "description", p->about ? p->about : "", "schema", schema));
	}
	if (r->job)
		rc |= json_array_append_new(params,
					    json_pack("{s:s, s:s, s:b, s:s, s:{s:s}}", "name", "wait", "in", "query",
						      "required", 0, "description",
						      "false: answer 202 {\"job\": id} at once and run it as a job "
						      "(GET /api/jobs/{id})",
						      "schema", "type", "boolean"));
	if (json_array_size(params))
		rc |= json_object_set(o, "parameters", params);
	if (writes)
		rc |= json_object_set_new(o, "requestBody",
					  json_pack("{s:b, s:{s:{s:{s:s, s:O}}}}", "required", 0, "content",
						    "application/json", "schema", "type", "object", "properties", props));
	if (r->builtin == HTTP_BUILTIN_PAGE || r->builtin == HTTP_BUILTIN_PREVIEW)
		rc |= json_object_set_new(responses, "200", json_pack("{s:s}", "description", "the file"));
	else
		rc |= json_object_set_new(responses, "200",
					  json_pack("{s:s, s:{s:{s:{s:s}}}}", "description",
						    op ? "the operation's report, as `synapse --json` prints it" : "OK",
						    "content", "application/json", "schema", "type", "object"));
	if (r->job)
		rc |= json_object_set_new(responses, "202",
					  json_pack("{s:s, s:{s:{s:{s:s, s:{s:{s:s}}}}}}", "description",
						    "started as a job (wait=false)", "content", "application/json", "schema",
						    "type", "object", "properties", "job", "type", "string"));
	rc |= add_error(responses, "400", "bad input, or the store is not initialized");
	if (r->builtin != HTTP_BUILTIN_PAGE)
		rc |= add_error(responses, "401", "SYNAPSE_API_TOKEN is set and the bearer token is missing or wrong");
	rc |= add_error(responses, "404", "not found");
	rc |= add_error(responses, "405", "the path does not answer this method (see Allow)");
	if (writes) {
		rc |= add_error(responses, "409", "refused by a guard rail, or it exists already");
		rc |= add_error(responses, "413", "the request body is over 1 MiB");
		rc |= add_error(responses, "422", "the request body is not a JSON object");
		rc |= add_error(responses, "507", "no space left");
	}
	if (op) {
		rc |= add_error(responses, "423", "the store lock could not be taken in time");
		rc |= add_error(responses, "500", "an unexpected failure");
		if (op->flags & SYN_OP_NETWORK) {
			rc |= add_error(responses, "502", "a remote peer refused us or sent the wrong bytes");
			rc |= add_error(responses, "503", "a remote source or the backup is unreachable");
		}
	}
	rc |= json_object_set(o, "responses", responses);
	json_decref(params);
	json_decref(props);
	json_decref(responses);
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
fail:
	json_decref(o);
	json_decref(params);
	json_decref(props);
	json_decref(responses);
	return NULL;
}

json_t *http_openapi(void)
{
	json_t *doc = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{}, s:{s:{s:{s:s, s:{s:{s:s}, s:{s:s}}, s:[s]}}}}",
				"openapi", "3.1.0", "info", "title", "Synapse", "version", SYN_VERSION_STRING,
				"description",
				"The operations of the synapse command line over HTTP: every 2xx body is the report "
				"`synapse --json` prints for the same operation and arguments; failures are "
				"{\"detail\": message} (with \"result\" when the operation kept a partial report).",
				"paths", "components", "schemas", "Error", "type", "object", "properties", "detail",
				"type", "string", "result", "type", "object", "required", "detail");
	json_t *paths = json_object_get(doc, "paths");
	const struct http_route *r;
	char method[8];

	for (r = http_routes; doc && r->method; r++) {
		json_t *key = path_key(r->pattern), *item, *op = describe(r);
		size_t i;

		for (i = 0; r->method[i] && i < sizeof(method) - 1; i++)
			method[i] = (char)tolower((unsigned char)r->method[i]);
		method[i] = '\0';
		item = key ? json_object_get(paths, json_string_value(key)) : NULL;
		if (key && !item && !json_object_set_new(paths, json_string_value(key), json_object()))
			item = json_object_get(paths, json_string_value(key));
		if (!key || !item || !op || json_object_set_new(item, method, op)) {
			if (!item || !key)
				json_decref(op);
			json_decref(doc);
			doc = NULL;
		}
		json_decref(key);
	}
	return doc;
}
