/*
 * Updates: which follow_latest dependencies have a newer file upstream
 * (check-updates), and moving their locks onto it (update). The sources
 * answer for their own selectors (prefetch(), check() in
 * <synapse/sys/source.h>); the core plans, decides what is safe to take
 * without asking, writes the locks in one commit and refreshes the views.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/state.h"
#include "synapse/sys/source.h"
#include "synapse/update.h"

#include "docs.h"
#include "install.h"
#include "runtime.h"
#include "store.h"

/* ---- matching a file by name ---------------------------------------------- */

/* Whether s[i..n) is a version suffix "[_.- ]?[Vv]<digits>(.<digits>)*"; *start is where it begins. */
static bool version_suffix(const char *s, size_t n, size_t *start)
{
	size_t i = n;

	for (;;) {
		size_t digits_end = i;

		while (i > 0 && isdigit((unsigned char)s[i - 1]))
			i--;
		if (i == digits_end)
			return false;
		if (i > 0 && s[i - 1] == '.' && i > 1 && isdigit((unsigned char)s[i - 2]))
			i--; /* another ".<digits>" group to the left */
		else
			break;
	}
	if (i == 0 || (s[i - 1] != 'v' && s[i - 1] != 'V'))
		return false;
	i--;
	if (i > 0 && strchr("_.- ", s[i - 1]))
		i--;
	*start = i;
	return true;
}

/* The stem of @name (before its last '.') without a version suffix and outer '_', '-', ' ': [*b, *e). */
static void stem_of(const char *name, const char **ext, size_t *b, size_t *e)
{
	const char *dot = strrchr(name, '.');
	size_t n = dot && dot != name ? (size_t)(dot - name) : strlen(name), start;

	*ext = dot && dot != name ? dot : "";
	if (version_suffix(name, n, &start))
		n = start;
	*b = 0;
	while (*b < n && strchr("_- ", name[*b]))
		(*b)++;
	while (n > *b && strchr("_- ", name[n - 1]))
		n--;
	*e = n;
}

static bool same_stem(const char *a, const char *b)
{
	const char *ea, *eb;
	size_t ab, ae, bb, be;

	stem_of(a, &ea, &ab, &ae);
	stem_of(b, &eb, &bb, &be);
	if (*ea && *eb && strcasecmp(ea, eb))
		return false;
	return ae > ab && ae - ab == be - bb && !strncasecmp(a + ab, b + bb, ae - ab);
}

json_t *syn_source_match_file(const json_t *files, const char *name, bool *several)
{
	json_t *f, *found = NULL;
	size_t i, n = 0;

	if (several)
		*several = false;
	if (!name || !*name)
		return NULL;
	json_array_foreach(files, i, f)
		if (!strcasecmp(syn_doc_str(f, "name", ""), name))
			return f;
	json_array_foreach(files, i, f) {
		if (same_stem(syn_doc_str(f, "name", ""), name)) {
			found = f;
			n++;
		}
	}
	if (n > 1) {
		if (several)
			*several = true;
		return NULL;
	}
	return found;
}

/* ---- planning ------------------------------------------------------------- */

/* What one command knows while it plans: the sources and the models they fetched. */
struct upd {
	struct syn_store *st;
	struct syn__sources sources;
	json_t *models;
};

static int oom(void)
{
	return syn_error_set(SYN_ENOMEM, "out of memory");
}

static int upd_init(struct upd *u, struct syn_store *st)
{
	memset(u, 0, sizeof(*u));
	u->st = st;
	u->models = json_array();
	if (!u->models)
		return oom();
	return syn__sources_init(&u->sources, st);
}

static void upd_dispose(struct upd *u)
{
	syn__sources_dispose(&u->sources);
	json_decref(u->models);
}

static bool follows_latest(const json_t *dep)
{
	return !strcmp(syn_doc_str(json_object_get(dep, "update_policy"), "mode", ""), "follow_latest");
}

/* Append the followed dependencies of @pack to @deps. */
static int add_followed(json_t *deps, const json_t *pack)
{
	json_t *dep;
	size_t i;

	json_array_foreach(json_object_get(pack, "dependencies"), i, dep)
		if (follows_latest(dep) && json_array_append(deps, dep))
			return oom();
	return 0;
}

/* Let every source that can fetch ahead the models @deps follow. */
static int prefetch(struct upd *u, const json_t *deps)
{
	size_t i;
	int rc;

	if (!json_array_size(deps))
		return 0;
	for (i = 0; i < u->sources.n; i++) {
		struct syn_source *src = syn__sources_get(&u->sources, i);

		if (!src || !SYN_VTABLE_HAS(src, 3, prefetch))
			continue;
		rc = src->prefetch(src, deps, u->models);
		if (rc == SYN_ENOMEM)
			return rc;
		/* check() fetches on its own what could not be fetched ahead */
		syn_error_clear();
	}
	return 0;
}

/* Ask the source of @dep's selector whether it has a newer file: its answer in *@out. */
static int check_dependency(struct upd *u, const json_t *dep, const json_t *artifact, const json_t *pack,
			    const json_t *lock, json_t **out)
{
	const char *start_error;
	json_t *in;
	size_t i;
	int rc = SYN_EPASSTHROUGH;

	*out = NULL;
	in = json_pack("{s:O, s:O, s:O, s:O}", "dependency", dep, "artifact", artifact, "pack_dependencies",
		       json_object_get(pack, "dependencies"), "pack_resolved", json_object_get(lock, "resolved"));
	if (!in)
		return oom();
	for (i = 0; i < u->sources.n; i++) {
		struct syn_source *src = syn__sources_get(&u->sources, i);

		if (!src || !SYN_VTABLE_HAS(src, 3, check))
			continue;
		rc = src->check(src, in, u->models, out);
		if (rc != SYN_EPASSTHROUGH)
			break;
		syn_error_clear();
	}
	json_decref(in);
	if (rc == SYN_EPASSTHROUGH) {
		start_error = syn__sources_start_error(&u->sources);
		rc = syn_error_set(SYN_EUNSUPPORTED, "no loaded source can check selector strategy '%s'%s%s%s",
				   syn_doc_str(json_object_get(dep, "selector"), "strategy", "?"),
				   start_error ? " (a source could not start: " : "", start_error ? start_error : "",
				   start_error ? ")" : "");
	}
	if (!rc && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = syn_error_set(SYN_ECORRUPT, "a source answered an update check with something that is not an "
				   "object");
	}
	return rc;
}

/* The identity of a lock artifact's file, with what is known of its version. */
static json_t *file_view(const json_t *artifact, const json_t *version)
{
	const json_t *prov = json_object_get(artifact, "provider");

	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}",
		"provider", json_object_get(prov, "name"), "provider_model_id", json_object_get(prov, "model_id"),
		"provider_version_id", json_object_get(prov, "version_id"),
		"provider_file_id", json_object_get(prov, "file_id"), "sha256", json_object_get(artifact, "sha256"),
		"filename", json_object_get(prov, "filename"), "version_name", json_object_get(version, "name"),
		"base_model", json_object_get(version, "base_model"));
}

/* The candidates of a check without their artifacts: what a person chooses from. */
static json_t *candidates_view(const json_t *candidates)
{
	json_t *out = json_array(), *c, *v;
	size_t i;

	json_array_foreach(candidates, i, c) {
		v = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "file_id", json_object_get(c, "file_id"),
			      "name", json_object_get(c, "name"), "size_bytes", json_object_get(c, "size_bytes"),
			      "format", json_object_get(c, "format"), "precision", json_object_get(c, "precision"),
			      "primary", json_object_get(c, "primary"), "sha256", json_object_get(c, "sha256"));
		if (!out || !v || json_array_append_new(out, v)) {
			json_decref(v);
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static bool differs(const char *a, const char *b)
{
	return a && b && *a && *b && strcasecmp(a, b);
}

/* The change moving @dep_id from @old (a lock artifact) to @new, as a plan shows it. */
static json_t *change_view(const char *dep_id, const json_t *old, const json_t *new, const json_t *check,
			   const char *base_now)
{
	const json_t *current = json_object_get(check, "current"), *latest = json_object_get(check, "latest");
	const char *base_new = syn_doc_str(latest, "base_model", NULL);
	json_t *o = file_view(old, current), *n = file_view(new, latest), *cands, *out = NULL;

	cands = candidates_view(json_object_get(check, "candidates"));
	if (o && base_now && !json_string_value(json_object_get(o, "base_model")))
		json_object_set_new(o, "base_model", json_string(base_now));
	if (o && n && cands &&
	    !json_object_set(n, "size_bytes", json_object_get(new, "size_bytes") ?: json_null()) &&
	    !json_object_set(n, "download_url", json_array_get(json_object_get(json_object_get(new, "download"),
										 "urls"), 0) ?: json_null()))
		out = json_pack("{s:s, s:O, s:O, s:b, s:b, s:O}", "dependency_id", dep_id, "old", o, "new", n,
				"base_model_changed", differs(base_now, base_new),
				"early_access", json_is_true(json_object_get(latest, "early_access")),
				"candidates", cands);
	json_decref(o);
	json_decref(n);
	json_decref(cands);
	return out;
}

static int append(json_t *list, json_t *v)
{
	return v && !json_array_append_new(list, v) ? 0 : oom();
}

/*
 * Two dependencies of one pack must not end on one file: when their
 * changes would, both become ambiguous and need a choice each.
 */
static int no_collapse(json_t *plan)
{
	json_t *changes = json_object_get(plan, "changes"), *a, *b;
	size_t i, j, n = json_array_size(changes);
	bool *clash = n ? calloc(n, sizeof(*clash)) : NULL;
	int rc = 0;

	if (n && !clash)
		return oom();
	for (i = 0; i < n; i++) {
		const char *sha = syn_doc_str(json_object_get(json_array_get(changes, i), "new"), "sha256", NULL);

		for (j = i + 1; sha && j < n; j++) {
			b = json_array_get(changes, j);
			if (!strcmp(sha, syn_doc_str(json_object_get(b, "new"), "sha256", "")))
				clash[i] = clash[j] = true;
		}
	}
	for (i = n; !rc && i-- > 0;) {
		if (!clash[i])
			continue;
		a = json_array_get(changes, i);
		rc = append(json_object_get(plan, "ambiguous"),
			    json_pack("{s:O, s:s, s:n, s:O, s:O}", "dependency_id", json_object_get(a, "dependency_id"),
				      "reason", "another dependency of the pack would move to the same file: choose a file "
				      "for each", "current", "latest", json_object_get(a, "new"), "candidates",
				      json_object_get(a, "candidates")));
		if (!rc && json_array_remove(changes, i))
			rc = oom();
	}
	free(clash);
	return rc;
}

static const char *plan_status(const json_t *plan, bool followed)
{
	if (json_array_size(json_object_get(plan, "ambiguous")) || json_array_size(json_object_get(plan, "held")))
		return "needs_choice";
	if (json_array_size(json_object_get(plan, "changes")))
		return "updates";
	if (json_array_size(json_object_get(plan, "errors")))
		return "error";
	return followed ? "up_to_date" : "not_followed";
}

/*
 * Plan pack @name (@pack, @lock: its documents; @lock may be NULL) into
 * *@plan; *@checks (may be NULL) gets {dependency_id: the source's answer},
 * whose artifacts an apply takes.
 */
static int plan_pack(struct upd *u, const char *name, const json_t *pack, const json_t *lock, json_t **plan,
		     json_t **checks)
{
	const char *base_pack = syn_doc_str(pack, "base_model", NULL);
	json_t *p, *answers = json_object(), *dep;
	bool followed = false;
	size_t i;
	int rc = 0;

	*plan = p = json_pack("{s:s, s:[], s:[], s:[], s:[], s:[]}", "pack", name, "changes", "held", "ambiguous",
			      "errors", "notes");
	if (checks)
		*checks = NULL;
	if (!p || !answers) {
		json_decref(answers);
		return oom();
	}
	json_array_foreach(json_object_get(pack, "dependencies"), i, dep) {
		const char *id = syn_doc_str(dep, "id", "?"), *status, *message;
		const json_t *entry, *art;
		json_t *answer = NULL, *view;

		if (!follows_latest(dep))
			continue;
		followed = true;
		entry = syn__docs_lock_entry(lock, id);
		art = json_object_get(entry, "artifact");
		if (!art) {
			rc = append(json_object_get(p, "errors"), json_pack("{s:s, s:s++}", "dependency_id", id, "error",
				    "not resolved: run 'synapse resolve ", name, "'"));
			if (rc)
				break;
			continue;
		}
		rc = check_dependency(u, dep, art, pack, lock, &answer);
		if (rc == SYN_ENOMEM)
			break;
		if (rc) {
			rc = append(json_object_get(p, "errors"), json_pack("{s:s, s:s}", "dependency_id", id, "error",
				    syn_error_last()));
			syn_error_clear();
			if (rc)
				break;
			continue;
		}
		status = syn_doc_str(answer, "status", "");
		message = syn_doc_str(answer, "message", NULL);
		if (!strcmp(status, "update")) {
			const char *base_now = syn_doc_str(json_object_get(answer, "current"), "base_model", base_pack);

			view = change_view(id, art, json_object_get(answer, "artifact"), answer, base_now);
			if (view && json_is_true(json_object_get(view, "base_model_changed")))
				json_object_set_new(view, "reason", json_string("base_model_changed"));
			else if (view && json_is_true(json_object_get(view, "early_access")))
				json_object_set_new(view, "reason", json_string("early_access"));
			rc = append(json_object_get(p, json_object_get(view, "reason") ? "held" : "changes"), view);
		} else if (!strcmp(status, "ambiguous")) {
			view = candidates_view(json_object_get(answer, "candidates"));
			rc = append(json_object_get(p, "ambiguous"),
				    view ? json_pack("{s:s, s:s, s:O?, s:O?, s:o}", "dependency_id", id, "reason",
						     message ? message : "several files could be the new one",
						     "current", json_object_get(answer, "current"), "latest",
						     json_object_get(answer, "latest"), "candidates", view) : NULL);
		} else if (!strcmp(status, "current")) {
			rc = message ? append(json_object_get(p, "notes"), json_pack("{s:s, s:s}", "dependency_id", id,
					      "note", message)) : 0;
		} else {
			rc = append(json_object_get(p, "errors"), json_pack("{s:s, s:s}", "dependency_id", id, "error",
				    message ? message : "the source could not check it"));
		}
		if (!rc && json_object_set_new(answers, id, answer))
			rc = oom();
		answer = NULL;
		if (rc)
			break;
	}
	if (!rc)
		rc = no_collapse(p);
	/* held updates say what they would change, so that the choice is an informed one */
	json_array_foreach(json_object_get(p, "held"), i, dep) {
		const json_t *old = json_object_get(dep, "old"), *new = json_object_get(dep, "new");
		bool base = !strcmp(syn_doc_str(dep, "reason", ""), "base_model_changed");

		if (!rc && !json_object_get(dep, "message"))
			rc = json_object_set_new(dep, "message", base
				? json_sprintf("the newest version, %s, is for %s; the file held now is for %s",
					       syn_doc_str(new, "version_name", "?"), syn_doc_str(new, "base_model", "?"),
					       syn_doc_str(old, "base_model", "?"))
				: json_sprintf("the newest version, %s, is in early access: its source may "
					       "refuse to download it until early access ends",
					       syn_doc_str(new, "version_name", "?"))) ? oom() : 0;
	}
	if (!rc && (json_object_set_new(p, "status", json_string(plan_status(p, followed))) ||
		    json_object_set_new(p, "already_up_to_date",
					json_boolean(!strcmp(plan_status(p, followed), "up_to_date") ||
						     !strcmp(plan_status(p, followed), "not_followed")))))
		rc = oom();
	if (!rc && checks) {
		*checks = answers;
		answers = NULL;
	}
	json_decref(answers);
	return rc;
}

/* ---- the documents of the packs checked ------------------------------------ */

/* Pack @name's documents as [pack.json, lock.json or null], appended to @docs under its name. */
static int load_pack(struct syn_store *st, const char *name, json_t *docs)
{
	json_t *pack = NULL, *lock = NULL;
	int rc = syn__docs_pack_load(st, name, &pack);

	if (!rc)
		rc = syn__docs_lock_load(st, name, &lock);
	if (!rc && json_object_set_new(docs, name, json_pack("[o, o]", pack, lock ? lock : json_null())))
		rc = oom();
	else if (rc)
		json_decref(pack);
	return rc;
}

#define PACK_OF(d) json_array_get((d), 0)
#define LOCK_OF(d) (json_is_null(json_array_get((d), 1)) ? NULL : json_array_get((d), 1))

static bool has_updates(const json_t *plan)
{
	return json_array_size(json_object_get(plan, "changes")) || json_array_size(json_object_get(plan, "held")) ||
	       json_array_size(json_object_get(plan, "ambiguous"));
}

static json_t *error_plan(const char *name, const char *message)
{
	return json_pack("{s:s, s:s, s:b, s:[], s:[], s:[], s:[{s:n, s:s}], s:[]}", "pack", name, "status", "error",
			 "already_up_to_date", 0, "changes", "held", "ambiguous", "errors", "dependency_id", "error",
			 message, "notes");
}

/*
 * Load pack @name (NULL: every pack) into @docs and plan each into @plans,
 * keeping the sources' answers in @checks. With every pack, those that
 * follow nothing are left out and one that cannot be read gets an error
 * plan; one named pack that cannot be read is an error.
 */
static int plan_packs(struct upd *u, const char *name, json_t *docs, json_t *plans, json_t *checks)
{
	json_t *names = NULL, *deps = json_array(), *d, *plan, *answers;
	const char *n;
	size_t i;
	int rc = deps ? 0 : oom();

	if (!rc && name)
		rc = load_pack(u->st, name, docs);
	else if (!rc)
		rc = syn__docs_pack_names(u->st, &names);
	json_array_foreach(names, i, d) {
		if (rc)
			break;
		n = json_string_value(d);
		rc = load_pack(u->st, n, docs);
		if (rc && rc != SYN_ENOMEM) {
			plan = error_plan(n, syn_error_last());
			rc = plan && !json_object_set_new(plans, n, plan) ? 0 : oom();
			syn_error_clear();
		}
	}
	json_object_foreach(docs, n, d)
		if (!rc)
			rc = add_followed(deps, PACK_OF(d));
	/* one batch of requests for the models of every pack */
	if (!rc)
		rc = prefetch(u, deps);
	json_object_foreach(docs, n, d) {
		if (rc)
			break;
		rc = plan_pack(u, n, PACK_OF(d), LOCK_OF(d), &plan, &answers);
		if (!rc && !name && !strcmp(syn_doc_str(plan, "status", ""), "not_followed")) {
			json_decref(plan);
			json_decref(answers);
			continue;
		}
		if (rc) {
			json_decref(plan);
			break;
		}
		if (json_object_set_new(plans, n, plan) | json_object_set_new(checks, n, answers))
			rc = oom();
	}
	json_decref(names);
	json_decref(deps);
	return rc;
}

int syn_update_check(struct syn_store *st, const char *pack, json_t **report)
{
	json_t *docs = json_object(), *plans = json_object(), *checks = json_object(), *plan;
	size_t with = 0, total = 0;
	const char *n;
	struct upd u = { 0 };
	int rc;

	*report = NULL;
	rc = docs && plans && checks ? upd_init(&u, st) : oom();
	if (!rc)
		rc = plan_packs(&u, pack, docs, plans, checks);
	json_object_foreach(plans, n, plan) {
		if (!has_updates(plan))
			continue;
		with++;
		total += json_array_size(json_object_get(plan, "changes")) + json_array_size(json_object_get(plan, "held")) +
			 json_array_size(json_object_get(plan, "ambiguous"));
	}
	if (!rc && !(*report = json_pack("{s:I, s:I, s:I, s:O}", "packs_checked", (json_int_t)json_object_size(plans),
					 "packs_with_updates", (json_int_t)with, "total_changes", (json_int_t)total,
					 "plans", plans)))
		rc = oom();
	upd_dispose(&u);
	json_decref(docs);
	json_decref(plans);
	json_decref(checks);
	return rc;
}

/* ---- choosing what to take ------------------------------------------------- */

static const json_t *candidate_of(const json_t *answer, json_int_t file_id)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(answer, "candidates"), i, c)
		if (json_integer_value(json_object_get(c, "file_id")) == file_id)
			return c;
	return NULL;
}

/* "  2001  a.safetensors  SafeTensor fp16  151111 bytes" for each candidate of @list (a plan's view). */
static int list_candidates(struct syn_buf *b, const json_t *list)
{
	json_t *c;
	size_t i;
	int rc = 0;

	json_array_foreach(list, i, c)
		if (!rc)
			rc = syn_buf_printf(b, "\n      %lld  %s  %s %s  %lld bytes%s",
					    (long long)json_integer_value(json_object_get(c, "file_id")),
					    syn_doc_str(c, "name", "?"), syn_doc_str(c, "format", "-"),
					    syn_doc_str(c, "precision", "-"),
					    (long long)json_integer_value(json_object_get(c, "size_bytes")),
					    json_is_true(json_object_get(c, "primary")) ? "  (primary)" : "");
	return rc;
}

/* The file id chosen in @choose for @dep: *@id, false when none is. SYN_EUSAGE for one that is not a number. */
static int chosen(const json_t *choose, const char *dep, json_int_t *id, bool *given)
{
	const json_t *v = json_object_get(choose, dep);
	const char *s = json_string_value(v);
	char *end;

	*given = v != NULL;
	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*id = json_integer_value(v);
		return 0;
	}
	if (s && *s >= '0' && *s <= '9' && (*id = strtoll(s, &end, 10)) > 0 && !*end)
		return 0;
	return syn_error_set(SYN_EUSAGE, "the choice for dependency '%s' must be a file id (a positive number)", dep);
}

/*
 * What to write for pack @name from its @plan and the sources' @answers:
 * {dependency_id: artifact} in *@takes and the changes taken (plan views)
 * in @taken. Every change is taken; a held or ambiguous dependency only
 * with a choice in @choose. What still needs a choice is described in
 * @needs (empty when nothing does). A choice that names no dependency
 * with a newer version, or no file of it, is SYN_EINVALID.
 */
static int take(const char *name, const json_t *d, const json_t *plan, const json_t *answers, const json_t *choose,
		json_t **takes, json_t *taken, struct syn_buf *needs)
{
	static const char *const lists[] = { "changes", "held", "ambiguous" };
	const char *dep;
	json_t *v, *e;
	size_t i, k;
	int rc = 0;

	*takes = json_object();
	if (!*takes)
		return oom();
	json_object_foreach((json_t *)choose, dep, v) {
		const json_t *answer = json_object_get(answers, dep), *c;
		json_int_t id = 0;
		bool given;

		if ((rc = chosen(choose, dep, &id, &given)))
			return rc;
		if (!answer)
			return syn_error_set(SYN_EINVALID, "pack '%s' has no followed dependency '%s' that could be "
					     "checked: see 'synapse check-updates %s'", name, dep, name);
		c = candidate_of(answer, id);
		if (!c) {
			struct syn_buf list = SYN_BUF_INIT;
			json_t *view = candidates_view(json_object_get(answer, "candidates"));

			rc = view ? list_candidates(&list, view) : oom();
			json_decref(view);
			if (!rc)
				rc = syn_error_set(SYN_EINVALID, "dependency '%s' of pack '%s': file %lld is not a file of "
						   "its newest version%s%s", dep, name, (long long)id,
						   list.len ? "; its files:" : " (it has no newer version to choose from)",
						   list.len ? list.ptr : "");
			syn_buf_dispose(&list);
			return rc;
		}
		if (json_object_set(*takes, dep, json_object_get(c, "artifact")))
			return oom();
	}
	for (k = 0; k < 3; k++) {
		json_array_foreach(json_object_get(plan, lists[k]), i, e) {
			const char *id = syn_doc_str(e, "dependency_id", "");
			const json_t *answer = json_object_get(answers, id);

			if (json_object_get(*takes, id) || k == 0) {
				const json_t *art = json_object_get(*takes, id);
				const char *base = syn_doc_str(json_object_get(answer, "current"), "base_model",
							       syn_doc_str(PACK_OF(d), "base_model", NULL));

				if (!art)
					art = json_object_get(answer, "artifact");
				if (json_object_set(*takes, id, (json_t *)art) ||
				    append(taken, change_view(id, json_object_get(syn__docs_lock_entry(LOCK_OF(d), id), "artifact"),
							      art, answer, base)))
					return oom();
				continue;
			}
			rc = syn_buf_printf(needs, "\n  %s: %s", id, syn_doc_str(e, k == 1 ? "message" : "reason", "?"));
			if (!rc)
				rc = list_candidates(needs, json_object_get(e, "candidates"));
			if (!rc)
				rc = syn_buf_printf(needs, "\n    take one with: synapse update %s --choose %s=FILE_ID",
						    name, id);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* @lock with the artifacts of @takes in place of those of their dependencies, resolved now. */
static json_t *updated_lock(const json_t *lock, const json_t *takes, json_t *replaced)
{
	json_t *out = json_deep_copy(lock), *e;
	char now[48];
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(json_object_get(out, "resolved"), i, e) {
		const char *id = syn_doc_str(e, "dependency_id", "");
		const json_t *art = json_object_get(takes, id);
		const char *old = syn_doc_str(json_object_get(e, "artifact"), "sha256", NULL);

		if (!art)
			continue;
		if (old && *old && strcmp(old, syn_doc_str(art, "sha256", "")) &&
		    append(replaced, json_pack("{s:s, s:s}", "dependency_id", id, "sha256", old)))
			goto fail;
		if (json_object_set_new(e, "artifact", json_deep_copy(art)))
			goto fail;
	}
	syn__install_local_now(now, sizeof(now));
	if (!json_object_set_new(out, "resolved_at", json_string(now)))
		return out;
fail:
	json_decref(out);
	return NULL;
}

/* The new files of the changes @taken (plan views) whose blob is not stored. */
static int missing_of(struct syn_store *st, const json_t *taken, json_t *missing)
{
	json_t *c;
	size_t i;

	json_array_foreach(taken, i, c) {
		const char *sha = syn_doc_str(json_object_get(c, "new"), "sha256", NULL);

		if (sha && *sha && !syn_blob_exists(st, sha) && append(missing, json_string(sha)))
			return oom();
	}
	return 0;
}

/* ---- applying ---------------------------------------------------------------- */

/* One pack on its way to a new lock. */
struct pending {
	const char *name;
	const json_t *pack, *lock; /* as planned (borrowed from the docs) */
	json_t *new_lock, *result;  /* result borrowed from the results */
	struct syn__fetch fetch;
	bool fetched;
};

static int set_result(json_t *result, const char *status, const char *key, const char *text)
{
	if (json_object_set_new(result, "status", json_string(status)) ||
	    (key && json_object_set_new(result, key, json_string(text))))
		return oom();
	return 0;
}

/*
 * Decide for pack @name what its update takes (outside the store lock),
 * and with sync download it: *@p is filled when there is a lock to write,
 * else the result says why not.
 */
static int prepare(struct upd *u, const char *name, const json_t *d, const json_t *plan, const json_t *answers,
		   const struct syn_update_options *o, const json_t *choose, json_t *result, struct pending *p)
{
	struct syn_buf needs = SYN_BUF_INIT, msg = SYN_BUF_INIT;
	json_t *takes = NULL, *taken = json_array(), *replaced = json_array(), *missing = json_array(), *e;
	size_t i;
	int rc = taken && replaced && missing ? 0 : oom();

	memset(p, 0, sizeof(*p));
	if (!rc && (json_object_set(result, "changes", taken) || json_object_set(result, "replaced", replaced) ||
		    json_object_set(result, "missing", missing)))
		rc = oom();
	if (!rc)
		rc = take(name, d, plan, answers, choose, &takes, taken, &needs);
	if (rc)
		goto out;
	if (needs.len) {
		rc = syn_buf_printf(&msg, "needs a choice:%s", needs.ptr);
		if (!rc)
			rc = set_result(result, "skipped", "reason", msg.ptr);
		goto out;
	}
	if (!json_object_size(takes)) {
		json_array_foreach(json_object_get(plan, "errors"), i, e) {
			rc = syn_buf_printf(&msg, "%s%s: %s", msg.len ? "; " : "", syn_doc_str(e, "dependency_id", "pack"),
					    syn_doc_str(e, "error", "?"));
			if (rc)
				goto out;
		}
		rc = msg.len ? set_result(result, "failed", "error", msg.ptr) : set_result(result, "up_to_date", NULL, NULL);
		goto out;
	}
	if (!(p->new_lock = updated_lock(LOCK_OF(d), takes, replaced))) {
		rc = oom();
		goto out;
	}
	if (o->dry_run) {
		rc = set_result(result, "would_apply", NULL, NULL);
		goto out;
	}
	p->name = name;
	p->pack = PACK_OF(d);
	p->lock = LOCK_OF(d);
	p->result = result;
	if (o->sync) {
		rc = syn__install_fetch(u->st, name, p->new_lock, o->jobs, o->progress, o->payload, &p->fetch);
		p->fetched = true;
		if (!rc && p->fetch.nfailed) {
			rc = syn_buf_printf(&msg, "%zu file(s) failed: %s; nothing was changed: run 'synapse update %s "
					    "--sync' again, which resumes", p->fetch.nfailed, p->fetch.failed.ptr, name);
			if (!rc)
				rc = set_result(result, "failed", "error", msg.ptr);
			p->name = NULL;
		}
	}
out:
	if (rc || !p->name) {
		if (p->fetched)
			syn__install_fetch_dispose(&p->fetch);
		p->fetched = false;
		json_decref(p->new_lock);
		p->new_lock = NULL;
		p->name = NULL;
	}
	json_decref(takes);
	json_decref(taken);
	json_decref(replaced);
	json_decref(missing);
	syn_buf_dispose(&needs);
	syn_buf_dispose(&msg);
	return rc;
}

/* Under the store lock: write pack @p's new lock unless the pack changed since it was planned. */
static int write_one(struct upd *u, struct pending *p, bool *written)
{
	json_t *now = NULL;
	bool exists = false, learned;
	int rc;

	*written = false;
	rc = syn__docs_pack_exists(u->st, p->name, &exists);
	if (!rc && exists)
		rc = syn__docs_lock_load(u->st, p->name, &now);
	if (rc)
		return rc;
	if (!exists || !now || !json_equal(now, p->lock)) {
		json_decref(now);
		return set_result(p->result, "failed", "error", exists ? "its lock changed while the update was being "
				  "planned: check again" : "it was deleted while the update was being planned");
	}
	json_decref(now);
	rc = p->fetched ? syn__install_learn(u->st, p->pack, p->new_lock, &p->fetch, &learned) : 0;
	if (!rc)
		rc = syn__docs_pack_write(u->st, p->name, "lock.json", p->new_lock);
	if (!rc)
		rc = set_result(p->result, "applied", NULL, NULL);
	*written = !rc;
	return rc;
}

/* "update P" for one pack, "update 3 packs: A, B, C" for several (the first few named). */
static int commit_message(struct syn_buf *msg, const char *const *names, size_t n)
{
	size_t i;
	int rc = n == 1 ? syn_buf_printf(msg, "update %s", names[0]) : syn_buf_printf(msg, "update %zu packs:", n);

	for (i = 0; !rc && n > 1 && i < n && i < 10; i++)
		rc = syn_buf_printf(msg, "%s %s", i ? "," : "", names[i]);
	if (!rc && n > 10)
		rc = syn_buf_puts(msg, ", ...");
	return rc;
}

/* Write the locks of @ps (those with a name) in one commit and refresh the views that show them. */
static int write_all(struct upd *u, struct pending *ps, size_t n, json_t *notes)
{
	const char **names = calloc(n + 1, sizeof(*names));
	char **paths = calloc(n + 1, sizeof(*paths));
	struct syn_buf msg = SYN_BUF_INIT;
	size_t i, nw = 0;
	int rc = names && paths ? 0 : oom(), lrc;

	if (!rc)
		rc = syn_store_lock(u->st, "update");
	lrc = rc;
	for (i = 0; !rc && i < n; i++) {
		struct syn_buf path = SYN_BUF_INIT;
		bool written;

		if (!ps[i].name)
			continue;
		rc = write_one(u, &ps[i], &written);
		if (!rc && written) {
			if (syn_buf_printf(&path, "packs/%s/lock.json", ps[i].name)) {
				rc = oom();
				break;
			}
			names[nw] = ps[i].name;
			paths[nw++] = syn_buf_detach(&path);
		}
	}
	/* what was written is committed, even when a later pack failed */
	if (!lrc && nw) {
		int crc = commit_message(&msg, names, nw);

		if (!crc)
			crc = syn_state_commit_paths(u->st, msg.ptr, (const char *const *)paths, NULL);
		if (!crc)
			crc = syn__views_refresh(u->st, false, names, nw, notes);
		if (!rc)
			rc = crc;
	}
	if (!lrc)
		syn_store_unlock(u->st);
	for (i = 0; paths && i < nw; i++)
		free(paths[i]);
	free(paths);
	free(names);
	syn_buf_dispose(&msg);
	return rc;
}

/*
 * Apply the plans of @plans (pack @only, or all): results per pack in
 * @results, each with its status.
 */
static int apply(struct upd *u, json_t *docs, json_t *plans, json_t *checks, const struct syn_update_options *o,
		 const char *only, json_t *results, json_t *notes)
{
	size_t n = json_object_size(plans), i = 0, k;
	struct pending *ps = calloc(n + 1, sizeof(*ps));
	const char *name;
	json_t *plan;
	int rc = ps ? 0 : oom();

	/* a choice for a pack that is not checked is a mistake, not nothing */
	json_object_foreach((json_t *)(only ? NULL : o->choose), name, plan) {
		if (!rc && !json_object_get(plans, name))
			rc = syn_error_set(SYN_EINVALID, "a choice names pack '%s', which is not among the packs checked "
					   "(no such pack, or none of its dependencies follows the latest version): nothing "
					   "was changed", name);
	}
	json_object_foreach(plans, name, plan) {
		const json_t *choose = only ? o->choose : json_object_get(o->choose, name);
		json_t *result = json_object();

		if (rc)
			break;
		if (!result || json_object_set_new(results, name, result)) {
			rc = oom();
			break;
		}
		if (!json_object_get(docs, name)) { /* a pack that could not be read */
			rc = set_result(result, "failed", "error", syn_doc_str(json_array_get(json_object_get(plan,
					"errors"), 0), "error", "cannot be read"));
			continue;
		}
		rc = prepare(u, name, json_object_get(docs, name), plan, json_object_get(checks, name), o, choose,
			     result, &ps[i]);
		if (ps[i].name)
			i++;
	}
	if (!rc && i)
		rc = write_all(u, ps, i, notes);
	for (k = 0; k < i; k++) {
		json_t *missing = json_object_get(ps[k].result, "missing");

		if (!rc && !strcmp(syn_doc_str(ps[k].result, "status", ""), "applied"))
			rc = missing_of(u->st, json_object_get(ps[k].result, "changes"), missing);
		json_decref(ps[k].new_lock);
		if (ps[k].fetched)
			syn__install_fetch_dispose(&ps[k].fetch);
	}
	free(ps);
	return rc;
}

static const struct syn_update_options no_options;

/* What planning and applying the updates of pack @pack (NULL: every pack) gave. */
struct session {
	struct upd u;
	json_t *docs, *plans, *checks, *results, *notes;
};

static void session_dispose(struct session *s)
{
	upd_dispose(&s->u);
	json_decref(s->docs);
	json_decref(s->plans);
	json_decref(s->checks);
	json_decref(s->results);
	json_decref(s->notes);
}

/* Plan and apply the updates of @pack (NULL: every pack) into @s (zeroed first; dispose of it whatever the result). */
static int session_run(struct session *s, struct syn_store *st, const char *pack, const struct syn_update_options *o)
{
	int rc;

	memset(s, 0, sizeof(*s));
	if (o->choose && !json_is_object(o->choose))
		return syn_error_set(SYN_EUSAGE, pack ? "choices must be an object {\"<dependency>\": <file id>}"
						      : "choices must be an object {\"<pack>\": {\"<dependency>\": <file id>}}");
	s->docs = json_object();
	s->plans = json_object();
	s->checks = json_object();
	s->results = json_object();
	s->notes = json_array();
	rc = s->docs && s->plans && s->checks && s->results && s->notes ? upd_init(&s->u, st) : oom();
	if (!rc)
		rc = plan_packs(&s->u, pack, s->docs, s->plans, s->checks);
	if (!rc)
		rc = apply(&s->u, s->docs, s->plans, s->checks, o, pack, s->results, s->notes);
	return rc;
}

int syn_update_apply(struct syn_store *st, const char *pack, const struct syn_update_options *o, json_t **report)
{
	json_t *plan, *result;
	const char *status;
	struct session s;
	int rc;

	*report = NULL;
	if (!o)
		o = &no_options;
	rc = session_run(&s, st, pack, o);
	plan = json_object_get(s.plans, pack);
	result = json_object_get(s.results, pack);
	status = syn_doc_str(result, "status", "");
	if (rc)
		goto out;
	if (!strcmp(status, "skipped")) {
		rc = syn_error_set(SYN_EGUARD, "pack '%s' %s\nnothing was changed", pack, syn_doc_str(result, "reason", ""));
	} else if (!strcmp(status, "failed")) {
		rc = syn_error_set(SYN_ENETWORK, "cannot update pack '%s': %s", pack, syn_doc_str(result, "error", ""));
	} else {
		bool applied = !strcmp(status, "applied");
		const json_t *missing = json_object_get(result, "missing");
		struct syn_buf next = SYN_BUF_INIT;

		if (applied && json_array_size(missing) && syn_buf_printf(&next, "synapse install %s", pack))
			rc = oom();
		*report = rc ? NULL : json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:O, s:O, s:O, s:O, s:s?, s:O}",
			"pack", pack, "applied", applied, "lock_updated", applied, "synced", applied && o->sync,
			"dry_run", o->dry_run, "already_up_to_date", !strcmp(status, "up_to_date"), "plan", plan,
			"changes", json_object_get(result, "changes"), "replaced", json_object_get(result, "replaced"),
			"missing", missing, "next", next.len ? next.ptr : NULL, "warnings", s.notes);
		syn_buf_dispose(&next);
		if (!rc && !*report)
			rc = oom();
	}
out:
	session_dispose(&s);
	return rc;
}

int syn_update_apply_all(struct syn_store *st, const struct syn_update_options *o, json_t **report)
{
	json_t *result;
	size_t applied = 0, skipped = 0, failed = 0, current = 0;
	struct syn_buf names = SYN_BUF_INIT;
	const char *name;
	struct session s;
	int rc;

	*report = NULL;
	if (!o)
		o = &no_options;
	rc = session_run(&s, st, NULL, o);
	json_object_foreach(s.results, name, result) {
		const char *status = syn_doc_str(result, "status", "");

		if (!strcmp(status, "applied") || !strcmp(status, "would_apply")) {
			applied++;
		} else if (!strcmp(status, "up_to_date")) {
			current++;
		} else if (!strcmp(status, "skipped")) {
			skipped++;
		} else {
			failed++;
			if (!rc && syn_buf_printf(&names, "%s%s: %s", failed > 1 ? "; " : "", name,
						  syn_doc_str(result, "error", "failed")))
				rc = oom();
		}
	}
	if (!rc && !(*report = json_pack("{s:O, s:I, s:I, s:I, s:I, s:b, s:b, s:O}", "results", s.results,
					 "total_applied", (json_int_t)applied, "total_skipped", (json_int_t)skipped,
					 "total_failed", (json_int_t)failed, "total_up_to_date", (json_int_t)current,
					 "dry_run", o->dry_run, "synced", o->sync && !o->dry_run, "warnings", s.notes)))
		rc = oom();
	if (!rc && failed)
		rc = syn_error_set(SYN_ENETWORK, "the update failed for %zu of %zu pack(s): %s", failed,
				   json_object_size(s.results), names.ptr);
	session_dispose(&s);
	syn_buf_dispose(&names);
	return rc;
}
