/*
 * The operations table: every command's arguments, defaults and range checks,
 * in one place for the CLI and the HTTP server.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synapse/adopt.h"
#include "synapse/attach.h"
#include "synapse/backup.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/inventory.h"
#include "synapse/ops.h"
#include "synapse/pack.h"
#include "synapse/profile.h"
#include "synapse/rate.h"
#include "synapse/state.h"
#include "synapse/ui.h"
#include "synapse/update.h"

/* Parallel downloads of an install: the default, and the most we allow. */
#define INSTALL_JOBS_DEFAULT 4
#define INSTALL_JOBS_MAX 16

/* ---- arguments ----------------------------------------------------------- */

/*
 * Each reader leaves *out at its default when @key is absent or null and
 * fails with SYN_EUSAGE naming the argument when it has the wrong type.
 */

static int arg_str(const json_t *args, const char *key, bool required, const char **out)
{
	const json_t *v = json_object_get(args, key);

	if (!v || json_is_null(v)) {
		if (required)
			return syn_error_set(SYN_EUSAGE, "missing argument '%s'", key);
		return 0;
	}
	if (!json_is_string(v))
		return syn_error_set(SYN_EUSAGE, "argument '%s' must be a string", key);
	if (required && !*json_string_value(v))
		return syn_error_set(SYN_EUSAGE, "argument '%s' must not be empty", key);
	*out = json_string_value(v);
	return 0;
}

static int arg_bool(const json_t *args, const char *key, bool *out)
{
	const json_t *v = json_object_get(args, key);
	const char *s;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	s = json_string_value(v);
	if (s && (!strcmp(s, "true") || !strcmp(s, "1"))) {
		*out = true;
		return 0;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "0"))) {
		*out = false;
		return 0;
	}
	return syn_error_set(SYN_EUSAGE, "argument '%s' must be true or false", key);
}

/* An integer from a JSON integer or a string of digits; *@ok false when it is neither. */
static long long int_of(const json_t *v, bool *ok)
{
	const char *s = json_string_value(v);
	char *end;
	long long n;

	*ok = true;
	if (json_is_integer(v))
		return json_integer_value(v);
	*ok = false;
	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return 0;
	errno = 0;
	n = strtoll(s, &end, 10);
	*ok = !errno && !*end;
	return n;
}

static int arg_range(const json_t *args, const char *key, long long min, long long max, long long *out)
{
	const json_t *v = json_object_get(args, key);
	long long n;
	bool ok;

	if (!v || json_is_null(v))
		return 0;
	n = int_of(v, &ok);
	if (!ok || n < min || n > max) {
		struct syn_buf shown = SYN_BUF_INIT;
		int rc = json_is_string(v) ? syn_buf_printf(&shown, "'%s'", json_string_value(v))
					   : syn_doc_dump(&shown, v);

		if (!rc && shown.len && shown.ptr[shown.len - 1] == '\n')
			syn_buf_truncate(&shown, shown.len - 1);
		if (max == INT64_MAX && min == 0)
			rc = syn_error_set(SYN_EUSAGE, "%s must be a non-negative number, not %s", key,
					   rc ? "that" : shown.ptr);
		else if (max == INT64_MAX)
			rc = syn_error_set(SYN_EUSAGE, "%s must be a whole number of at least %lld, not %s", key, min,
					   rc ? "that" : shown.ptr);
		else
			rc = syn_error_set(SYN_EUSAGE, "%s must be a whole number from %lld to %lld, not %s", key, min,
					   max, rc ? "that" : shown.ptr);
		syn_buf_dispose(&shown);
		return rc;
	}
	*out = n;
	return 0;
}

/* ---- operations ---------------------------------------------------------- */

static int op_store_init(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	bool force = false;
	int rc;

	(void)p;
	if ((rc = arg_bool(args, "force", &force)))
		return rc;
	/* an initialized store is left as it is unless a repair is asked for */
	if (syn_store_is_initialized(st) && !force) {
		*report = json_pack("{s:b, s:s, s:b, s:b, s:[]}", "initialized", 1, "root", syn_store_root(st),
				    "created", 0, "already_initialized", 1, "repaired");
		return *report ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	return syn_store_init(st, force, report);
}

static int op_store_config(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	(void)args;
	(void)p;
	return syn_store_config(st, report);
}

static int op_status(struct syn_store *st, const json_t *args, struct syn_emit *out)
{
	const char *ui_set = NULL;
	int rc;

	if ((rc = arg_str(args, "ui_set", false, &ui_set)))
		return rc;
	return syn_store_status_emit(st, ui_set, out);
}

static int op_plugins(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	(void)args;
	(void)p;
	*report = syn_registry_report(syn_store_registry(st));
	return *report ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

static int op_history(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	long long limit = 0;
	int rc;

	(void)p;
	if ((rc = arg_range(args, "limit", 0, INT64_MAX, &limit)))
		return rc;
	return syn_state_history(st, (size_t)limit, report);
}

static int op_ui_list(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	(void)args;
	(void)p;
	return syn_ui_list(st, report);
}

static int op_ui_enable(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *ui = NULL;
	int rc;

	(void)p;
	return (rc = arg_str(args, "ui", true, &ui)) ? rc : syn_ui_enable(st, ui, report);
}

static int op_ui_disable(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *ui = NULL;
	int rc;

	(void)p;
	return (rc = arg_str(args, "ui", true, &ui)) ? rc : syn_ui_disable(st, ui, report);
}

static int op_import(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	struct syn_import_options o = { 0 };
	const json_t *ids = json_object_get(args, "version_ids");
	int64_t *versions = NULL;
	bool previews = true, add_global = true;
	const char *url = NULL;
	long long max_previews = 0;
	int rc;
	size_t i;

	(void)p;
	if ((rc = arg_str(args, "url", true, &url)) || (rc = arg_str(args, "pack_name", false, &o.name)) ||
	    (rc = arg_bool(args, "download_previews", &previews)) || (rc = arg_bool(args, "add_to_global", &add_global)) ||
	    (rc = arg_range(args, "max_previews", 0, 10000, &max_previews)))
		return rc;
	if (ids && !json_is_null(ids) && !json_is_array(ids))
		return syn_error_set(SYN_EUSAGE, "argument 'version_ids' must be a list of version ids");
	if (json_array_size(ids)) {
		versions = calloc(json_array_size(ids), sizeof(*versions));
		if (!versions)
			return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	for (i = 0; i < json_array_size(ids); i++) {
		bool ok;
		long long v = int_of(json_array_get(ids, i), &ok);

		if (!ok || v <= 0) {
			const char *s = json_string_value(json_array_get(ids, i));

			rc = syn_error_set(SYN_EUSAGE, "a version id is a positive number, not '%s'", s ? s : "that");
			goto out;
		}
		versions[i] = v;
	}
	o.version_ids = versions;
	o.nversions = json_array_size(ids);
	o.no_previews = !previews;
	o.no_add_global = !add_global;
	/* absent: the module's default; 0: none at all */
	if (json_object_get(args, "max_previews") && !json_is_null(json_object_get(args, "max_previews")) &&
	    !max_previews)
		o.no_previews = true;
	o.max_previews = (size_t)max_previews;
	rc = syn_pack_import(st, url, &o, report);
out:
	free(versions);
	return rc;
}

static int op_list(struct syn_store *st, const json_t *args, struct syn_emit *out)
{
	(void)args;
	return syn_pack_list_emit(st, out);
}

/* The operations that take nothing but a pack name. */
static int pack_arg(const json_t *args, const char **pack)
{
	return arg_str(args, "pack", true, pack);
}

static int op_show(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *pack = NULL;
	int rc;

	(void)p;
	return (rc = pack_arg(args, &pack)) ? rc : syn_pack_show(st, pack, report);
}

static int op_resolve(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *pack = NULL;
	int rc;

	(void)p;
	return (rc = pack_arg(args, &pack)) ? rc : syn_pack_resolve(st, pack, report);
}

/*
 * The command's "limit_rate" (bytes per second, or a string such as "10M"),
 * over config.json's download.max_rate until rate_end(); *@set says whether
 * one was given.
 */
static int rate_begin(struct syn_store *st, const json_t *args, bool *set)
{
	const json_t *v = json_object_get(args, "limit_rate");
	uint64_t rate = 0;
	int rc;

	*set = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		rate = (uint64_t)json_integer_value(v);
	else if (!json_is_string(v))
		return syn_error_set(SYN_EUSAGE, "limit_rate must be bytes per second or a rate such as 10M");
	else if (syn_rate_parse(json_string_value(v), &rate)) {
		char msg[256];

		/* the message is the parser's, the code says the arguments were wrong */
		snprintf(msg, sizeof(msg), "%s", syn_error_last());
		return syn_error_set(SYN_EUSAGE, "%s", msg);
	}
	rc = syn_pack_rate_limit(st, (int64_t)rate);
	*set = !rc;
	return rc;
}

static void rate_end(struct syn_store *st, bool set)
{
	if (set)
		syn_pack_rate_limit(st, -1);
}

static int op_install(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	long long jobs = INSTALL_JOBS_DEFAULT;
	const char *pack = NULL;
	bool rate = false;
	int rc;

	if ((rc = pack_arg(args, &pack)) || (rc = arg_range(args, "jobs", 1, INSTALL_JOBS_MAX, &jobs)) ||
	    (rc = rate_begin(st, args, &rate)))
		return rc;
	rc = syn_pack_install(st, pack, (unsigned int)jobs, p ? p->fn : NULL, p ? p->payload : NULL, report);
	rate_end(st, rate);
	return rc;
}

static int op_delete(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *pack = NULL;
	bool force = false;
	int rc;

	(void)p;
	if ((rc = pack_arg(args, &pack)) || (rc = arg_bool(args, "force", &force)))
		return rc;
	return syn_pack_delete(st, pack, force, report);
}

static int op_search(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *query = NULL;
	int rc;

	(void)p;
	return (rc = arg_str(args, "query", true, &query)) ? rc : syn_pack_search(st, query, report);
}

static int op_use(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *pack = NULL, *ui_set = NULL;
	bool sync = true; /* a profile is only useful with its files: fetch what is missing */
	int rc;

	bool rate = false;

	if ((rc = pack_arg(args, &pack)) || (rc = arg_str(args, "ui_set", false, &ui_set)) ||
	    (rc = arg_bool(args, "sync", &sync)) || (rc = rate_begin(st, args, &rate)))
		return rc;
	rc = syn_profile_use_progress(st, pack, ui_set, sync, p ? p->fn : NULL, p ? p->payload : NULL, report);
	rate_end(st, rate);
	return rc;
}

static int ui_set_arg(const json_t *args, const char **ui_set)
{
	return arg_str(args, "ui_set", false, ui_set);
}

static int op_back(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *ui_set = NULL;
	int rc;

	(void)p;
	return (rc = ui_set_arg(args, &ui_set)) ? rc : syn_profile_back(st, ui_set, report);
}

static int op_reset(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *ui_set = NULL;
	int rc;

	(void)p;
	return (rc = ui_set_arg(args, &ui_set)) ? rc : syn_profile_reset(st, ui_set, report);
}

static int op_profiles_list(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	(void)args;
	(void)p;
	return syn_profile_list(st, report);
}

static int op_profiles_show(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *profile = NULL;
	int rc;

	(void)p;
	return (rc = arg_str(args, "profile", true, &profile)) ? rc : syn_profile_show(st, profile, report);
}

static int op_doctor(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	bool rebuild = false, verify = false;
	const char *ui_set = NULL;
	int rc;

	(void)p;
	if ((rc = ui_set_arg(args, &ui_set)) || (rc = arg_bool(args, "rebuild_views", &rebuild)) ||
	    (rc = arg_bool(args, "verify_blobs", &verify)))
		return rc;
	return syn_doctor(st, ui_set, rebuild, verify, report);
}

static int op_check_updates(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *pack = NULL;
	int rc;

	(void)p;
	return (rc = arg_str(args, "pack", false, &pack)) ? rc : syn_update_check(st, pack, report);
}

/*
 * Choices as the HTTP API gives them, {"<dependency>": <file id>} (or, for
 * every pack, {"<pack>": {...}}), or as the command line does, a list of
 * "DEP=FILE_ID" (for every pack "PACK:DEP=FILE_ID"), into *@out (a new
 * object, NULL when there are none).
 */
static int arg_choose(const json_t *args, bool all, json_t **out)
{
	const json_t *v = json_object_get(args, "choose"), *c;
	size_t i;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_object(v)) {
		*out = json_incref((json_t *)v);
		return 0;
	}
	if (!json_is_array(v))
		return syn_error_set(SYN_EUSAGE, "argument 'choose' must be an object or a list of DEP=FILE_ID");
	*out = json_object();
	if (!*out)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	json_array_foreach(v, i, c) {
		const char *s = json_string_value(c), *eq = s ? strrchr(s, '=') : NULL, *colon;
		json_t *into = *out;
		char *dep;

		if (!eq || eq == s || !eq[1]) {
			json_decref(*out);
			*out = NULL;
			return syn_error_set(SYN_EUSAGE, "--choose takes %s, not '%s'", all ? "PACK:DEP=FILE_ID" : "DEP=FILE_ID",
					     s ? s : "that");
		}
		colon = all ? memchr(s, ':', (size_t)(eq - s)) : NULL;
		if (all && (!colon || colon == s)) {
			json_decref(*out);
			*out = NULL;
			return syn_error_set(SYN_EUSAGE, "with --all, --choose takes PACK:DEP=FILE_ID, not '%s'", s);
		}
		if (colon) {
			char *pack = strndup(s, (size_t)(colon - s));

			into = pack ? json_object_get(*out, pack) : NULL;
			if (pack && !into && !json_object_set_new(*out, pack, json_object()))
				into = json_object_get(*out, pack);
			free(pack);
			s = colon + 1;
		}
		dep = strndup(s, (size_t)(eq - s));
		if (!into || !dep || json_object_set_new(into, dep, json_string(eq + 1))) {
			free(dep);
			json_decref(*out);
			*out = NULL;
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
		free(dep);
	}
	return 0;
}

static int op_update(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	struct syn_update_options o = { 0 };
	long long jobs = INSTALL_JOBS_DEFAULT;
	const char *pack = NULL;
	json_t *choose = NULL;
	bool all = false, rate = false;
	int rc;

	if ((rc = arg_str(args, "pack", false, &pack)) || (rc = arg_bool(args, "all", &all)) ||
	    (rc = arg_bool(args, "dry_run", &o.dry_run)) || (rc = arg_bool(args, "sync", &o.sync)) ||
	    (rc = arg_range(args, "jobs", 1, INSTALL_JOBS_MAX, &jobs)))
		return rc;
	if (!pack == !all)
		return syn_error_set(SYN_EUSAGE, pack ? "name a pack or give --all, not both"
						      : "name the pack to update, or give --all for every pack");
	if ((rc = arg_choose(args, all, &choose)) || (rc = rate_begin(st, args, &rate))) {
		json_decref(choose);
		return rc;
	}
	o.choose = choose;
	o.jobs = (unsigned int)jobs;
	o.progress = p ? p->fn : NULL;
	o.payload = p ? p->payload : NULL;
	rc = all ? syn_update_apply_all(st, &o, report) : syn_update_apply(st, pack, &o, report);
	rate_end(st, rate);
	json_decref(choose);
	return rc;
}

/*
 * attach and detach report every UI of the set; when some failed the
 * operation fails too, naming them, and keeps the report for the details.
 */
static int attach_like(struct syn_store *st, const json_t *args, const char *verb,
		       int (*fn)(struct syn_store *, const char *, json_t **), json_t **report)
{
	struct syn_buf failed = SYN_BUF_INIT;
	const char *ui_set = NULL, *ui;
	size_t nfailed = 0;
	json_t *res;
	int rc;

	if ((rc = ui_set_arg(args, &ui_set)) || (rc = fn(st, ui_set, report)))
		return rc;
	json_object_foreach(*report, ui, res) {
		json_t *errors = json_object_get(res, "errors");

		if (json_is_true(json_object_get(res, "success")))
			continue;
		if (syn_buf_printf(&failed, "%s%s: %s", nfailed ? "; " : "", ui,
				   json_array_size(errors) ? json_string_value(json_array_get(errors, 0)) : "failed")) {
			rc = SYN_ENOMEM;
			break;
		}
		nfailed++;
	}
	if (rc == SYN_ENOMEM)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	else if (nfailed)
		rc = syn_error_set(SYN_ERROR, "%s failed for %zu of %zu UI(s): %s", verb, nfailed,
				   json_object_size(*report), failed.ptr);
	syn_buf_dispose(&failed);
	return rc;
}

static int op_attach(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	(void)p;
	return attach_like(st, args, "attach", syn_attach, report);
}

static int op_detach(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	(void)p;
	return attach_like(st, args, "detach", syn_detach, report);
}

static int op_attach_status(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *ui_set = NULL;
	int rc;

	(void)p;
	return (rc = ui_set_arg(args, &ui_set)) ? rc : syn_attach_status(st, ui_set, report);
}

/* ---- inventory ---------------------------------------------------------- */

static int inventory_list_as(struct syn_store *st, const json_t *args, const char *status, struct syn_emit *out)
{
	const char *kind = NULL;
	int rc;

	if ((rc = arg_str(args, "kind", false, &kind)) || (!status && (rc = arg_str(args, "status", false, &status))))
		return rc;
	return syn_inventory_list_emit(st, kind, status, out);
}

static int op_inventory_list(struct syn_store *st, const json_t *args, struct syn_emit *out)
{
	return inventory_list_as(st, args, NULL, out);
}

static int op_inventory_orphans(struct syn_store *st, const json_t *args, struct syn_emit *out)
{
	return inventory_list_as(st, args, "orphan", out);
}

static int op_inventory_missing(struct syn_store *st, const json_t *args, struct syn_emit *out)
{
	return inventory_list_as(st, args, "missing", out);
}

static int op_inventory_impacts(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *sha = NULL;
	int rc;

	(void)p;
	return (rc = arg_str(args, "sha256", true, &sha)) ? rc : syn_inventory_impacts(st, sha, report);
}

static int op_inventory_verify(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const json_t *shas = json_object_get(args, "shas");
	const char *one = NULL;
	json_t *list = NULL;
	bool all = false;
	int rc;

	(void)p;
	if ((rc = arg_bool(args, "all", &all)) || (rc = arg_str(args, "sha256", false, &one)))
		return rc;
	if (json_is_null(shas))
		shas = NULL;
	if (shas && !json_is_array(shas))
		return syn_error_set(SYN_EUSAGE, "argument 'shas' must be a list of digests");
	if (all == (shas || one))
		return syn_error_set(SYN_EUSAGE, all ? "give --all or digests, not both"
						     : "name the blobs to verify, or give --all for every blob");
	if (one && !(shas = list = json_pack("[s]", one)))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	rc = syn_inventory_verify(st, all ? NULL : shas, report);
	json_decref(list);
	return rc;
}

static int op_inventory_cleanup(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	bool dry_run = true, execute = false;
	long long max = 0;
	int rc;

	(void)p;
	if ((rc = arg_bool(args, "dry_run", &dry_run)) || (rc = arg_bool(args, "execute", &execute)) ||
	    (rc = arg_range(args, "max", 0, INT64_MAX, &max)))
		return rc;
	if (execute && json_is_true(json_object_get(args, "dry_run")))
		return syn_error_set(SYN_EUSAGE, "give --dry-run or --execute, not both");
	/* a dry run unless execution is asked for, in either word */
	execute = execute || (json_object_get(args, "dry_run") && !dry_run);
	return syn_inventory_cleanup(st, execute, (size_t)max, report);
}

static int op_inventory_delete(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *sha = NULL, *target = "local";
	unsigned int bits;
	bool force = false;
	int rc;

	(void)p;
	if ((rc = arg_str(args, "sha256", true, &sha)) || (rc = arg_str(args, "target", false, &target)) ||
	    (rc = arg_bool(args, "force", &force)))
		return rc;
	if (!strcmp(target, "local"))
		bits = SYN_INVENTORY_LOCAL;
	else if (!strcmp(target, "backup"))
		bits = SYN_INVENTORY_BACKUP;
	else if (!strcmp(target, "both"))
		bits = SYN_INVENTORY_BOTH;
	else
		return syn_error_set(SYN_EUSAGE, "target must be local, backup or both, not '%s'", target);
	return syn_inventory_delete(st, sha, bits, force, report);
}

/* ---- backup -------------------------------------------------------------- */

static int op_backup_status(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	(void)args;
	(void)p;
	return syn_backup_status(st, report);
}

static int op_backup_config(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	struct syn_backup_config c = { NULL, -1, NULL };
	bool enable = false, disable = false;
	int rc;

	(void)p;
	if ((rc = arg_str(args, "path", false, &c.path)) || (rc = arg_str(args, "backend", false, &c.backend)) ||
	    (rc = arg_bool(args, "enable", &enable)) || (rc = arg_bool(args, "disable", &disable)))
		return rc;
	if (enable && disable)
		return syn_error_set(SYN_EUSAGE, "give --enable or --disable, not both");
	if (enable || disable)
		c.enabled = enable;
	return syn_backup_configure(st, &c, report);
}

static int sha_arg(const json_t *args, const char **sha)
{
	return arg_str(args, "sha256", true, sha);
}

static int op_backup_blob(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *sha = NULL;
	int rc;

	(void)p;
	return (rc = sha_arg(args, &sha)) ? rc : syn_backup_blob(st, sha, report);
}

static int op_backup_restore(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *sha = NULL;
	int rc;

	(void)p;
	return (rc = sha_arg(args, &sha)) ? rc : syn_backup_restore(st, sha, report);
}

static int op_backup_delete(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	const char *sha = NULL;
	bool force = false;
	int rc;

	(void)p;
	if ((rc = sha_arg(args, &sha)) || (rc = arg_bool(args, "force", &force)))
		return rc;
	return syn_backup_delete(st, sha, force, report);
}

/* The options of pull, push and sync: a dry run unless "execute". */
static int backup_options(const json_t *args, const struct syn_progress *p, struct syn_backup_options *o)
{
	int rc;

	memset(o, 0, sizeof(*o));
	if ((rc = arg_bool(args, "execute", &o->execute)) || (rc = arg_bool(args, "cleanup", &o->cleanup)) ||
	    (rc = arg_bool(args, "all", &o->all)))
		return rc;
	if (o->cleanup && !o->execute)
		return syn_error_set(SYN_EUSAGE, "--cleanup removes local copies, so it needs --execute");
	o->progress = p ? p->fn : NULL;
	o->payload = p ? p->payload : NULL;
	return 0;
}

static int op_backup_pull(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	struct syn_backup_options o;
	const char *pack = NULL;
	int rc;

	if ((rc = pack_arg(args, &pack)) || (rc = backup_options(args, p, &o)))
		return rc;
	if (o.cleanup)
		return syn_error_set(SYN_EUSAGE, "--cleanup is for push: pull never removes a copy");
	return syn_backup_pull(st, pack, &o, report);
}

static int op_backup_push(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	struct syn_backup_options o;
	const char *pack = NULL;
	int rc;

	if ((rc = pack_arg(args, &pack)) || (rc = backup_options(args, p, &o)))
		return rc;
	return syn_backup_push(st, pack, &o, report);
}

static int op_backup_sync(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	struct syn_backup_options o;
	const char *direction = NULL;
	enum syn_backup_direction dir;
	int rc;

	if ((rc = arg_str(args, "direction", true, &direction)) || (rc = backup_options(args, p, &o)))
		return rc;
	if (!strcmp(direction, "to_backup"))
		dir = SYN_BACKUP_TO_BACKUP;
	else if (!strcmp(direction, "from_backup"))
		dir = SYN_BACKUP_FROM_BACKUP;
	else
		return syn_error_set(SYN_EUSAGE, "--direction is to_backup or from_backup, not '%s'", direction);
	if (o.cleanup)
		return syn_error_set(SYN_EUSAGE, "--cleanup is for push: sync never removes a copy");
	return syn_backup_sync(st, dir, &o, report);
}

static int op_adopt(struct syn_store *st, const json_t *args, const struct syn_progress *p, json_t **report)
{
	struct syn_adopt_options o = { 0 };
	const json_t *list = json_object_get(args, "folders"), *v;
	const char **folders = NULL, *mode = "copy";
	size_t i;
	int rc;

	(void)p;
	if ((rc = arg_str(args, "ui", false, &o.ui)) || (rc = arg_bool(args, "dry_run", &o.dry_run)) ||
	    (rc = arg_str(args, "mode", false, &mode)))
		return rc;
	if ((rc = syn_adopt_mode_parse(mode, &o.mode)))
		return rc;
	if (list && !json_is_null(list) && !json_is_array(list))
		return syn_error_set(SYN_EUSAGE, "argument 'folders' must be a list of folders");
	if (json_array_size(list) && !(folders = calloc(json_array_size(list), sizeof(*folders))))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	json_array_foreach(list, i, v) {
		if (!json_is_string(v)) {
			free(folders);
			return syn_error_set(SYN_EUSAGE, "argument 'folders' must be a list of folders");
		}
		folders[i] = json_string_value(v);
	}
	o.folders = folders;
	o.nfolders = json_array_size(list);
	rc = syn_adopt(st, &o, report);
	free(folders);
	return rc;
}

#define W SYN_OP_CHANGES_STATE
#define N SYN_OP_NETWORK
#define I SYN_OP_NEEDS_INIT
#define L SYN_OP_LONG

static const struct syn_op ops[] = {
	{ "store init", W, "Create the store, or repair its default documents.", op_store_init, NULL },
	{ "store config", I, "Show the store's configuration.", op_store_config, NULL },
	{ "status", I, "Each UI's active profile and whether its view agrees.", NULL, op_status },
	{ "plugins", 0, "The loaded plugins and those that were skipped.", op_plugins, NULL },
	{ "ui list", 0, "The UI layouts: folders, install root, whether an install is there.", op_ui_list, NULL },
	{ "ui enable", W | I, "Give a loaded UI layout a view and make it part of the store.", op_ui_enable, NULL },
	{ "ui disable", W | I, "Take a UI out of the store (its view goes; nothing of the UI's).",
	  op_ui_disable, NULL },
	{ "history", I, "The commits of state/, newest first.", op_history, NULL },
	{ "import", W | N | I, "Import a model as a pack (metadata and previews).", op_import, NULL },
	{ "list", I, "The packs.", NULL, op_list },
	{ "show", I, "A pack, its lock and the state of each dependency.", op_show, NULL },
	{ "resolve", W | N | I, "Rebuild a pack's lock from its pack.json through its source.", op_resolve, NULL },
	{ "install", W | N | I | L, "Download a pack's missing files into the blob store.", op_install, NULL },
	{ "delete", W | I, "Delete a pack (its blobs stay, as orphans).", op_delete, NULL },
	{ "adopt", W | N | I | L, "Take in the model files already in folders: hash, store once, make packs.",
	  op_adopt, NULL },
	{ "check-updates", N | I, "Which followed dependencies have a newer file upstream.", op_check_updates, NULL },
	{ "update", W | N | I | L, "Move a pack's lock (or every pack's) onto the newer files.", op_update, NULL },
	{ "search", I, "Search the local packs.", op_search, NULL },
	{ "use", W | N | I | L, "Switch the UIs to a pack's work profile.", op_use, NULL },
	{ "back", W | I, "Go back to each UI's previous profile.", op_back, NULL },
	{ "reset", W | I, "Put every UI of the set back on the global profile.", op_reset, NULL },
	{ "profiles list", I, "The profiles, their type and where they are active.", op_profiles_list, NULL },
	{ "profiles show", I, "A profile's packs in priority order.", op_profiles_show, NULL },
	{ "doctor", W | I, "Check the store and repair what disagrees.", op_doctor, NULL },
	{ "attach", W | I, "Make each UI see its Synapse view.", op_attach, NULL },
	{ "detach", W | I, "Undo attach.", op_detach, NULL },
	{ "attach-status", I, "Whether each UI is attached to its view.", op_attach_status, NULL },
	{ "inventory list", I, "Every blob: size, status, location, the packs and UIs that use it.",
	  NULL, op_inventory_list },
	{ "inventory orphans", I, "The blobs no pack references.", NULL, op_inventory_orphans },
	{ "inventory missing", I, "The blobs packs need that are stored nowhere.", NULL, op_inventory_missing },
	{ "inventory impacts", I, "What deleting a blob would affect.", op_inventory_impacts, NULL },
	{ "inventory verify", I | L, "Re-hash blobs on every core; exit 1 when any is corrupt.",
	  op_inventory_verify, NULL },
	{ "inventory cleanup", W | I, "Remove the orphan blobs (a dry run unless --execute).",
	  op_inventory_cleanup, NULL },
	{ "inventory delete", W | I, "Delete a copy of a blob, behind the guard rails.", op_inventory_delete, NULL },
	{ "backup status", N | I, "Where the backup is, whether it is reachable, what it holds.",
	  op_backup_status, NULL },
	{ "backup config", W | I, "Set the backup's path and backend, enable or disable it.", op_backup_config, NULL },
	{ "backup blob", W | N | I | L, "Copy a local blob to the backup and verify the copy.", op_backup_blob, NULL },
	{ "backup restore", W | N | I | L, "Copy a blob from the backup into the local store, verified.",
	  op_backup_restore, NULL },
	{ "backup delete", W | N | I, "Delete the backup's copy of a blob (guard rails apply).",
	  op_backup_delete, NULL },
	{ "backup pull", W | N | I | L, "Restore a pack's missing blobs from the backup.", op_backup_pull, NULL },
	{ "backup push", W | N | I | L, "Copy a pack's blobs to the backup.", op_backup_push, NULL },
	{ "backup sync", W | N | I | L, "Copy every blob one side lacks, towards the backup or from it.",
	  op_backup_sync, NULL },
};

#undef W
#undef N
#undef I
#undef L

const struct syn_op *syn_op_at(size_t i)
{
	return i < sizeof(ops) / sizeof(ops[0]) ? &ops[i] : NULL;
}

const struct syn_op *syn_op_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].name, name))
			return &ops[i];
	return NULL;
}

/* The checks every operation passes first; *@empty is the arguments object made for NULL @args. */
static int op_begin(const struct syn_op *op, struct syn_store *st, const json_t **args, json_t **empty)
{
	int rc;

	*empty = NULL;
	syn_error_clear();
	if (!op || !st)
		return syn_error_set(SYN_EINVALID, "no operation or no store");
	if (*args && !json_is_object(*args))
		return syn_error_set(SYN_EUSAGE, "the arguments of '%s' must be a JSON object", op->name);
	if ((op->flags & SYN_OP_NEEDS_INIT) && (rc = syn_store_require_init(st)))
		return rc;
	if (!*args && !(*args = *empty = json_object()))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	return 0;
}

/* What an operation answered, @rc, as the caller sees it: never a failure without words. */
static int op_end(const struct syn_op *op, int rc, json_t *empty)
{
	json_decref(empty);
	if (rc < 0 && !*syn_error_last())
		/* a failure without words would reach the user as "unknown error" */
		syn_error_set(rc, "%s failed: %s", op->name, syn_strerror(rc));
	return rc < 0 ? rc : 0;
}

/* An operation that emits, with its store and arguments: what emit_tree() hands syn_emit_tree(). */
struct emitting {
	const struct syn_op *op;
	struct syn_store *st;
	const json_t *args;
};

static int emit_op(struct syn_emit *e, void *arg)
{
	const struct emitting *w = arg;

	return w->op->emit(w->st, w->args, e);
}

/* The report of an operation that emits, as a tree. */
static int emit_tree(const struct syn_op *op, struct syn_store *st, const json_t *args, json_t **report)
{
	struct emitting w = { op, st, args };

	return syn_emit_tree(report, emit_op, &w);
}

int syn_op_run(const struct syn_op *op, struct syn_store *st, const json_t *args, const struct syn_progress *progress,
	       json_t **report)
{
	json_t *empty;
	int rc;

	*report = NULL;
	if ((rc = op_begin(op, st, &args, &empty)))
		return op_end(op, rc, empty);
	rc = op->run ? op->run(st, args, progress, report) : emit_tree(op, st, args, report);
	if (!rc && !*report)
		/* a success without its report: the report could not be allocated */
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	return op_end(op, rc, empty);
}

int syn_op_emit(const struct syn_op *op, struct syn_store *st, const json_t *args, struct syn_emit *out)
{
	json_t *empty;
	int rc = op_begin(op, st, &args, &empty);

	if (!rc && !op->emit)
		rc = syn_error_set(SYN_EINVALID, "'%s' makes its report whole: use syn_op_run()", op->name);
	if (!rc)
		rc = op->emit(st, args, out);
	return op_end(op, rc, empty);
}

int syn_error_http_status(int code)
{
	switch (code) {
	case SYN_EUSAGE:
	case SYN_EINVALID:
	case SYN_ENOTINIT:
		return 400;
	case SYN_ENOTFOUND:
		return 404;
	case SYN_EEXISTS:
	case SYN_EGUARD:
		return 409;
	case SYN_ELOCKED:
		return 423;
	case SYN_EAUTH:
	case SYN_EMISMATCH:
		return 502;
	case SYN_ENETWORK:
		return 503;
	case SYN_ENOSPC:
		return 507;
	default:
		return code < 0 ? 500 : 200;
	}
}
