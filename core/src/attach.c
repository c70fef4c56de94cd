/*
 * Attaching UIs to their views (see synapse/attach.h). How a UI is attached
 * is declared by its layout (synapse/sys/ui.h); nothing here knows a UI.
 *
 * A UI that reads an extra-paths file (a YAML file listing more model folders)
 * gets one section of <root>/<file>, edited as text so that every byte
 * outside the section stays the user's:
 *
 *     # synapse: begin
 *     # synapse: created-file        only when Synapse created the file
 *     # synapse: added-newline       only when Synapse ended the user's last line
 *     <section>:
 *         base_path: <data>/views/<ui>/active
 *         <key>: <folder>            one per kind of the layout's key table
 *         ...
 *     # synapse: end
 *
 * The two flag lines record what detach has to undo. They live inside the
 * section rather than in a state file beside it: they describe that very
 * file, go wherever the file goes, and disappear with the section, so they
 * can never disagree with it. The user's file as it was before the first
 * attach is kept once in <file>.synapse-backup, removed by detach when the
 * file is back to exactly those bytes.
 *
 * Every other UI (a layout declaring links, or declaring nothing) gets a
 * `synapse` symlink in each mapped model folder,
 * pointing at the same folder of data/views/<ui>/active. A link whose
 * target is exactly that path is Synapse's; anything else called `synapse`
 * is the user's and is never touched.
 *
 * A model folder missing from the UI root is made for its link, parents
 * too, and detach takes each such folder away again once it is empty. Which
 * ones Synapse made is known from data/attach/<ui>.json, by UI root, each
 * with the device and inode it got: nothing in the folder itself can say so
 * without being a file the UI sees, and a folder made later in its place
 * by someone else has another inode. The record is in data/ because the
 * roots are this machine's.
 *
 * Paths go through `active`, so `use` and `back` move every attached UI
 * without touching its files again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "synapse/attach.h"
#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/registry.h"
#include "synapse/store.h"

#include "attach.h"

#define BACKUP_SUFFIX ".synapse-backup"
#define YAML_MAX (16u << 20)
#define LINK_NAME "synapse"
#define RECORD_DIR "attach"
#define RECORD_SCHEMA "synapse.attach.v1"

#define MARK_BEGIN "# synapse: begin"
#define MARK_END "# synapse: end"
#define MARK_CREATED "# synapse: created-file"
#define MARK_NEWLINE "# synapse: added-newline"

#define METHOD_YAML "extra_model_paths"
#define METHOD_LINK "symlink"

/*
 * The extra-paths declaration of @layout, or NULL for links: a version-1
 * layout, a layout declaring nothing, and a UI whose plugin is not loaded
 * (known from config.json alone) are all attached with links.
 */
static const struct syn_ui_attach *extra_paths_of(const struct syn_ui_layout *layout)
{
	if (!layout || !SYN_VTABLE_HAS(layout, 2, attach) || layout->attach->method != SYN_UI_ATTACH_EXTRA_PATHS)
		return NULL;
	return layout->attach;
}

const char *syn__attach_method(const struct syn_ui_layout *layout)
{
	return extra_paths_of(layout) ? METHOD_YAML : METHOD_LINK;
}

/* ---- the UI being worked on ---------------------------------------------- */

struct target {
	const char *ui;
	const struct syn_ui_attach *yaml; /* the extra-paths file, or NULL: links */
	struct syn_buf root;   /* the UI root, absolute, as configured */
	struct syn_buf view;   /* <data>/views/<ui>/active */
	struct syn_buf backup; /* <file>.synapse-backup (extra-paths only) */
	json_t *map;           /* kind -> folder */
	int fd;                /* the UI root (a link to it followed once), or -1 */
	struct syn_buf record; /* attach/<ui>.json under data/ (links only) */
	json_t *made;          /* that record, or NULL while not read */
	json_t *folders;       /* in it, the folders made in this root: relpath -> identity (borrowed) */
	bool made_changed;     /* the record needs writing */
};

static void target_init(struct target *t, const char *ui)
{
	static const struct syn_buf empty = SYN_BUF_INIT;

	t->ui = ui;
	t->yaml = NULL;
	t->root = empty;
	t->view = empty;
	t->backup = empty;
	t->map = NULL;
	t->fd = -1;
	t->record = empty;
	t->made = NULL;
	t->folders = NULL;
	t->made_changed = false;
}

static void target_dispose(struct target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	json_decref(t->map);
	t->map = NULL;
	syn_buf_dispose(&t->root);
	syn_buf_dispose(&t->view);
	syn_buf_dispose(&t->backup);
	json_decref(t->made);
	t->made = NULL;
	t->folders = NULL;
	syn_buf_dispose(&t->record);
}

/*
 * Work out where UI @t->ui lives: config.json ui.roots.<ui>, else its
 * layout's default root; how it is attached, its view path and its kind map.
 */
static int target_resolve(struct syn_store *st, const json_t *config, struct target *t)
{
	const json_t *roots = json_object_get(json_object_get(config, "ui"), "roots");
	const char *root = json_string_value(json_object_get(roots, t->ui));
	const struct syn_ui_layout *layout = syn_registry_ui(syn_store_registry(st), t->ui);
	int rc = 0;

	t->yaml = extra_paths_of(layout);
	if (!root || !*root)
		root = layout ? layout->default_root : NULL;
	if (!root || !*root)
		return syn_error_set(SYN_ENOTFOUND, "no folder is known for UI '%s'; set ui.roots.%s in "
				     "'%s/config.json' to its install folder", t->ui, t->ui, syn_store_state_root(st));
	if (t->yaml)
		rc = syn_buf_printf(&t->backup, "%s" BACKUP_SUFFIX, t->yaml->file);
	if (!rc)
		rc = syn_fs_abspath(&t->root, root);
	if (!rc)
		rc = syn_buf_printf(&t->view, "%s/views/%s/active", syn_store_data_root(st), t->ui);
	if (!rc)
		rc = syn_store_kind_map(st, t->ui, &t->map);
	return rc;
}

/* Open the UI root. SYN_ENOTFOUND when it is not there as a directory. */
static int target_open_root(struct syn_store *st, struct target *t)
{
	t->fd = open(t->root.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->fd >= 0)
		return 0;
	if (errno == ENOENT || errno == ENOTDIR)
		return syn_error_set(SYN_ENOTFOUND, "the root of UI '%s', '%s', is missing; install %s there or "
				     "set ui.roots.%s in '%s/config.json' to the folder it is installed in",
				     t->ui, t->root.ptr, t->ui, t->ui, syn_store_state_root(st));
	return syn_error_set_errno(SYN_EIO, errno, "cannot open the root of UI '%s', '%s'", t->ui, t->root.ptr);
}

/* The view must be there for anything to point at it. */
static int target_check_view(const struct target *t)
{
	struct stat sb;

	if (stat(t->view.ptr, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	return syn_error_set(SYN_ENOTFOUND, "UI '%s' has no view at '%s' yet; run 'synapse doctor --rebuild-views'",
			     t->ui, t->view.ptr);
}

/* ---- the extra-paths file as text ----------------------------------------- */

/* Index of the '\n' ending the line that starts at @pos, or @len. */
static size_t line_end(const char *s, size_t len, size_t pos)
{
	const char *nl = memchr(s + pos, '\n', len - pos);

	return nl ? (size_t)(nl - s) : len;
}

/* Whether the line [@pos, @eol) is exactly @want (a trailing '\r' allowed). */
static bool line_is(const char *s, size_t pos, size_t eol, const char *want)
{
	size_t n = eol - pos, w = strlen(want);

	if (n > 0 && s[eol - 1] == '\r')
		n--;
	return n == w && !memcmp(s + pos, want, w);
}

/* Whether the line [@pos, @eol) starts the top-level mapping key @key, plain or quoted. */
static bool line_is_key(const char *s, size_t pos, size_t eol, const char *key)
{
	static const char quotes[] = { '\0', '\'', '"' };
	size_t i, p, k = strlen(key);

	for (i = 0; i < sizeof(quotes); i++) {
		size_t q = quotes[i] ? 1 : 0, n = k + 2 * q;

		if (eol - pos < n || memcmp(s + pos + q, key, k) ||
		    (q && (s[pos] != quotes[i] || s[pos + q + k] != quotes[i])))
			continue;
		for (p = pos + n; p < eol && (s[p] == ' ' || s[p] == '\t'); p++)
			;
		if (p < eol && s[p] == ':' &&
		    (p + 1 == eol || s[p + 1] == ' ' || s[p + 1] == '\t' || s[p + 1] == '\r'))
			return true;
	}
	return false;
}

/* The marked section of a file, when there is one. */
struct section {
	bool found;
	bool created;         /* "# synapse: created-file" */
	bool added_nl;        /* "# synapse: added-newline" */
	bool has_base;
	size_t start, end;    /* [start, end): the marker lines and all between */
	struct syn_buf base;  /* its base_path, unquoted */
};

static void section_init(struct section *sec)
{
	static const struct syn_buf empty = SYN_BUF_INIT;

	memset(sec, 0, sizeof(*sec));
	sec->base = empty;
}

/* Read a YAML scalar (plain, 'single' or "double" quoted) from [@p, @e) into @out. */
static int yaml_unquote(struct syn_buf *out, const char *p, const char *e)
{
	int rc = 0;

	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	syn_buf_clear(out);
	if (p < e && *p == '\'') {
		for (p++; !rc && p < e; p++) {
			if (*p == '\'' && p + 1 < e && p[1] == '\'')
				rc = syn_buf_put(out, p++, 1);
			else if (*p == '\'')
				break;
			else
				rc = syn_buf_put(out, p, 1);
		}
		return rc;
	}
	if (p < e && *p == '"') {
		for (p++; !rc && p < e && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < e)
				p++;
			rc = syn_buf_put(out, p, 1);
		}
		return rc;
	}
	{
		const char *c;

		/* a plain scalar ends where a " #" comment starts */
		for (c = p; c < e; c++)
			if (*c == '#' && c > p && (c[-1] == ' ' || c[-1] == '\t'))
				break;
		while (c > p && (c[-1] == ' ' || c[-1] == '\t'))
			c--;
		return syn_buf_put(out, p, (size_t)(c - p));
	}
}

/* Find Synapse's section in @text; an unfinished one is an error naming @display. */
static int section_find(struct section *sec, const struct syn_buf *text, const char *display)
{
	const char *s = text->ptr;
	size_t len = text->len, pos, eol, next;
	bool in = false;
	int rc;

	for (pos = 0; pos < len; pos = next) {
		eol = line_end(s, len, pos);
		next = eol < len ? eol + 1 : len;
		if (!in) {
			if (line_is(s, pos, eol, MARK_BEGIN)) {
				in = true;
				sec->start = pos;
			}
			continue;
		}
		if (line_is(s, pos, eol, MARK_END)) {
			sec->end = next;
			sec->found = true;
			return 0;
		}
		if (line_is(s, pos, eol, MARK_CREATED)) {
			sec->created = true;
		} else if (line_is(s, pos, eol, MARK_NEWLINE)) {
			sec->added_nl = true;
		} else {
			size_t p = pos;

			while (p < eol && (s[p] == ' ' || s[p] == '\t'))
				p++;
			if (p > pos && eol - p > 10 && !memcmp(s + p, "base_path:", 10)) {
				for (p += 10; p < eol && (s[p] == ' ' || s[p] == '\t'); p++)
					;
				rc = yaml_unquote(&sec->base, s + p, s + eol);
				if (rc)
					return rc;
				sec->has_base = true;
			}
		}
	}
	if (!in)
		return 0;
	return syn_error_set(SYN_ECORRUPT, "'%s' has a '" MARK_BEGIN "' line but no '" MARK_END "' line after it; "
			     "remove the unfinished section by hand and try again", display);
}

/* Whether @text has a top-level @key outside Synapse's section. */
static bool has_user_key(const struct syn_buf *text, const struct section *sec, const char *key)
{
	const char *s = text->ptr;
	size_t len = text->len, pos, eol;

	for (pos = 0; pos < len; pos = eol < len ? eol + 1 : len) {
		eol = line_end(s, len, pos);
		if (sec->found && pos >= sec->start && pos < sec->end)
			continue;
		if (line_is_key(s, pos, eol, key))
			return true;
	}
	return false;
}

/*
 * Append @s as a YAML scalar that reads back as the same string: plain
 * when it is unmistakably a path, else single-quoted (a data root with
 * spaces, '#', ': ' ...). Control characters cannot survive the trip.
 */
static int yaml_scalar(struct syn_buf *out, const char *s, const char *file)
{
	bool plain = strchr(s, '/') != NULL && s[0] != '-';
	const char *p;
	int rc = 0;

	for (p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			return syn_error_set(SYN_EINVALID, "'%s' contains a control character, which "
					     "%s cannot hold; use a path without one", s, file);
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '.' || c == '_' || c == '-' || c == '+'))
			plain = false;
	}
	if (plain)
		return syn_buf_puts(out, s);
	rc = syn_buf_puts(out, "'");
	for (p = s; !rc && *p; p++)
		rc = *p == '\'' ? syn_buf_puts(out, "''") : syn_buf_put(out, p, 1);
	if (!rc)
		rc = syn_buf_puts(out, "'");
	return rc;
}

/* Append Synapse's whole section for @t, with its flag lines. */
static int section_build(struct syn_buf *out, const struct target *t, bool created, bool added_nl)
{
	const struct syn_ui_path_key *keys = t->yaml->keys;
	size_t i;
	int rc;

	rc = syn_buf_puts(out, MARK_BEGIN "\n");
	if (!rc && created)
		rc = syn_buf_puts(out, MARK_CREATED "\n");
	if (!rc && added_nl)
		rc = syn_buf_puts(out, MARK_NEWLINE "\n");
	if (!rc)
		rc = syn_buf_printf(out, "%s:\n    base_path: ", t->yaml->section);
	if (!rc)
		rc = yaml_scalar(out, t->view.ptr, t->yaml->file);
	if (!rc)
		rc = syn_buf_puts(out, "\n");
	for (i = 0; !rc && keys[i].kind; i++) {
		const char *folder = json_string_value(json_object_get(t->map, keys[i].kind));

		if (!folder)
			continue;
		rc = syn_buf_printf(out, "    %s: ", keys[i].key);
		if (!rc)
			rc = yaml_scalar(out, folder, t->yaml->file);
		if (!rc)
			rc = syn_buf_puts(out, "\n");
	}
	if (!rc)
		rc = syn_buf_puts(out, MARK_END "\n");
	return rc;
}

/* ---- the extra-paths file as YAML ------------------------------------------ */

/*
 * Editing the file as text keeps the user's bytes, but only parsing it tells
 * whether the section appended at column 0 really is a key of the file's
 * top-level mapping: after a flow mapping, a '...' document end or a second
 * document it is not, and the UI would fail to load the whole file. libyaml
 * is the parser PyYAML (the UIs' YAML reader) is built on.
 */

/* What a YAML stream is made of, as far as adding a top-level key goes. */
struct yaml_shape {
	size_t docs;          /* documents in the stream */
	bool end_marker;      /* the first one ends with an explicit '...' */
	bool flow;            /* the first one's top node is a flow collection */
	yaml_node_type_t top; /* the first one's top node, YAML_NO_NODE when there is none */
};

/*
 * Parse all of @text into @shape. With @first, the first document is kept
 * there and *@have_first set (the caller deletes it). Text that is not YAML
 * is SYN_ECORRUPT with no message set: @why gets libyaml's problem and where.
 */
static int yaml_parse(const struct syn_buf *text, struct yaml_shape *shape, yaml_document_t *first, bool *have_first,
		      struct syn_buf *why)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = 0;

	memset(shape, 0, sizeof(*shape));
	shape->top = YAML_NO_NODE;
	*have_first = false;
	if (!yaml_parser_initialize(&parser))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text->ptr, text->len);
	for (;;) {
		yaml_node_t *top;

		/* a failed load has already freed @doc */
		if (!yaml_parser_load(&parser, &doc)) {
			const char *problem = parser.problem ? parser.problem : "unreadable";

			if (parser.error == YAML_MEMORY_ERROR)
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
			else if (parser.error == YAML_READER_ERROR)
				rc = syn_buf_printf(why, "%s at byte %zu", problem, parser.problem_offset);
			else
				rc = syn_buf_printf(why, "%s at line %zu, column %zu", problem,
						    parser.problem_mark.line + 1, parser.problem_mark.column + 1);
			if (!rc)
				rc = SYN_ECORRUPT;
			break;
		}
		top = yaml_document_get_root_node(&doc);
		if (!top) { /* the end of the stream */
			yaml_document_delete(&doc);
			break;
		}
		if (shape->docs++ == 0) {
			shape->end_marker = !doc.end_implicit;
			shape->top = top->type;
			shape->flow = (top->type == YAML_MAPPING_NODE &&
				       top->data.mapping.style == YAML_FLOW_MAPPING_STYLE) ||
				      (top->type == YAML_SEQUENCE_NODE &&
				       top->data.sequence.style == YAML_FLOW_SEQUENCE_STYLE);
			if (first) {
				*first = doc;
				*have_first = true;
				continue;
			}
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* The user's file must be YAML to begin with: Synapse does not add to a file the UI cannot read. */
static int yaml_check_original(const struct target *t, const struct syn_buf *text, const char *display,
			       struct yaml_shape *shape)
{
	struct syn_buf why = SYN_BUF_INIT;
	bool unused = false;
	int rc = yaml_parse(text, shape, NULL, &unused, &why);

	if (rc == SYN_ECORRUPT)
		rc = syn_error_set(SYN_EINVALID, "'%s' is not valid YAML (%s), so UI '%s' cannot read it either; "
				   "fix it and try again", display, why.ptr, t->ui);
	syn_buf_dispose(&why);
	return rc;
}

static bool scalar_is(const yaml_node_t *node, const char *s)
{
	size_t len = strlen(s);

	return node && node->type == YAML_SCALAR_NODE && node->data.scalar.length == len &&
	       !memcmp(node->data.scalar.value, s, len);
}

/* Whether @map reads back as exactly what section_build() wrote for @t, in its order. */
static bool section_reads_back(yaml_document_t *doc, const yaml_node_t *map, const struct target *t)
{
	const struct syn_ui_path_key *keys = t->yaml->keys;
	const yaml_node_pair_t *pair, *top;
	size_t i;

	if (!map || map->type != YAML_MAPPING_NODE || map->data.mapping.style != YAML_BLOCK_MAPPING_STYLE)
		return false;
	pair = map->data.mapping.pairs.start;
	top = map->data.mapping.pairs.top;
	if (pair == top || !scalar_is(yaml_document_get_node(doc, pair->key), "base_path") ||
	    !scalar_is(yaml_document_get_node(doc, pair->value), t->view.ptr))
		return false;
	for (pair++, i = 0; keys[i].kind; i++) {
		const char *folder = json_string_value(json_object_get(t->map, keys[i].kind));

		if (!folder)
			continue;
		if (pair == top || !scalar_is(yaml_document_get_node(doc, pair->key), keys[i].key) ||
		    !scalar_is(yaml_document_get_node(doc, pair->value), folder))
			return false;
		pair++;
	}
	return pair == top;
}

/*
 * Check that @out, the whole new file, is one YAML document whose top node
 * is a block mapping with Synapse's section as one of its keys, holding what
 * Synapse wrote. @orig is the shape of the user's file, to say why not.
 */
static int yaml_check_result(const struct target *t, const struct syn_buf *out, const struct yaml_shape *orig,
			     const char *display)
{
	struct syn_buf why = SYN_BUF_INIT;
	struct yaml_shape shape;
	yaml_document_t doc;
	const char *reason = NULL;
	bool have_doc = false, ours = false;
	size_t found = 0;
	int rc;

	rc = yaml_parse(out, &shape, &doc, &have_doc, &why);
	if (rc && rc != SYN_ECORRUPT)
		goto out;
	if (!rc && shape.docs == 1) {
		const yaml_node_t *top = yaml_document_get_root_node(&doc);

		if (top->type == YAML_MAPPING_NODE && top->data.mapping.style == YAML_BLOCK_MAPPING_STYLE) {
			const yaml_node_pair_t *pair;

			for (pair = top->data.mapping.pairs.start; pair < top->data.mapping.pairs.top; pair++) {
				if (!scalar_is(yaml_document_get_node(&doc, pair->key), t->yaml->section))
					continue;
				found++;
				ours = section_reads_back(&doc, yaml_document_get_node(&doc, pair->value), t);
			}
		}
	}
	if (found > 1) {
		rc = syn_error_set(SYN_EEXISTS, "'%s' already has a '%s' key of its own; rename it to let Synapse "
				   "add its own section", display, t->yaml->section);
		goto out;
	}
	if (found == 1 && ours) {
		rc = 0;
		goto out;
	}
	if (orig->docs > 1)
		reason = "more than one document";
	else if (orig->docs == 1 && orig->top != YAML_MAPPING_NODE)
		reason = "its top level is not a mapping";
	else if (orig->flow)
		reason = "flow style";
	else if (orig->end_marker)
		reason = "a '...' document end marker";
	else if (rc == SYN_ECORRUPT)
		reason = why.ptr;
	else
		reason = found ? "the section would not read back as written" :
				 "the section would not be a top-level key";
	rc = syn_error_set(SYN_EINVALID, "'%s' is written in a form Synapse cannot add a section to safely (%s); "
			   "add the '%s:' section by hand or convert the file to block style",
			   display, reason, t->yaml->section);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	syn_buf_dispose(&why);
	return rc;
}

/*
 * Read <root>/@name into @text. *@exists false when absent. Only a regular
 * file is edited: a link would make Synapse write outside the UI root.
 */
static int read_regular(const struct target *t, const char *name, struct syn_buf *text, bool *exists, mode_t *mode)
{
	struct stat sb;
	int rc;

	*exists = false;
	syn_buf_clear(text);
	if (fstatat(t->fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return syn_error_set_errno(SYN_EIO, errno, "cannot look at '%s/%s'", t->root.ptr, name);
	}
	if (S_ISLNK(sb.st_mode))
		return syn_error_set(SYN_EUNSUPPORTED, "'%s/%s' is a symbolic link; Synapse only edits a regular file "
				     "there: replace the link with a copy of the file it points to", t->root.ptr, name);
	if (!S_ISREG(sb.st_mode))
		return syn_error_set(SYN_EINVALID, "'%s/%s' is not a regular file; move it out of the way and try again",
				     t->root.ptr, name);
	rc = syn_fs_read(text, t->fd, name, YAML_MAX);
	if (rc)
		return syn_error_prefix("cannot read '%s/%s'", t->root.ptr, name);
	*exists = true;
	if (mode)
		*mode = sb.st_mode & 07777;
	return 0;
}

static bool same_bytes(const struct syn_buf *a, const struct syn_buf *b)
{
	return a->len == b->len && !memcmp(a->ptr, b->ptr, a->len);
}

static int append_str(json_t *list, json_t *s)
{
	if (!s || json_array_append_new(list, s))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	return 0;
}

/* Append "<root>/<name>" to @list. */
static int append_path(json_t *list, const struct target *t, const char *name)
{
	return append_str(list, json_sprintf("%s/%s", t->root.ptr, name));
}

static int yaml_attach(struct target *t, json_t *created)
{
	struct syn_buf text = SYN_BUF_INIT, out = SYN_BUF_INIT, display = SYN_BUF_INIT;
	struct yaml_shape shape;
	struct section sec;
	mode_t mode = 0644;
	bool exists = false, is_new, added_nl;
	size_t start, end;
	int rc;

	section_init(&sec);
	rc = target_check_view(t);
	if (!rc)
		rc = syn_buf_printf(&display, "%s/%s", t->root.ptr, t->yaml->file);
	if (!rc)
		rc = read_regular(t, t->yaml->file, &text, &exists, &mode);
	if (!rc)
		rc = section_find(&sec, &text, display.ptr);
	if (!rc)
		rc = yaml_check_original(t, &text, display.ptr, &shape);
	if (rc)
		goto out;
	if (has_user_key(&text, &sec, t->yaml->section)) {
		rc = syn_error_set(SYN_EEXISTS, "'%s' already has a '%s:' section of its own; rename that "
				   "section to let Synapse add its own", display.ptr, t->yaml->section);
		goto out;
	}
	/* a section already there keeps what it recorded about the file */
	is_new = sec.found ? sec.created : !exists;
	added_nl = sec.found ? sec.added_nl : text.len > 0 && text.ptr[text.len - 1] != '\n';
	start = sec.found ? sec.start : text.len;
	end = sec.found ? sec.end : text.len;
	rc = syn_buf_put(&out, text.ptr, start);
	if (!rc && !sec.found && added_nl)
		rc = syn_buf_puts(&out, "\n");
	if (!rc)
		rc = section_build(&out, t, is_new, added_nl);
	if (!rc)
		rc = syn_buf_put(&out, text.ptr + end, text.len - end);
	if (!rc)
		rc = yaml_check_result(t, &out, &shape, display.ptr);
	if (rc)
		goto out;
	/* the user's file before Synapse first touched it, kept once */
	if (exists && !sec.found && !syn_fs_exists(t->fd, t->backup.ptr)) {
		rc = syn_fs_write_atomic(t->fd, t->backup.ptr, text.ptr, text.len, mode);
		if (!rc)
			rc = append_path(created, t, t->backup.ptr);
		if (rc)
			goto out;
	}
	if (exists && same_bytes(&out, &text))
		goto out;
	rc = syn_fs_write_atomic(t->fd, t->yaml->file, out.ptr, out.len, mode);
	if (!rc)
		rc = append_path(created, t, t->yaml->file);
out:
	if (rc)
		syn_error_prefix("cannot attach UI '%s'", t->ui);
	syn_buf_dispose(&text);
	syn_buf_dispose(&out);
	syn_buf_dispose(&display);
	syn_buf_dispose(&sec.base);
	return rc;
}

/* Remove the backup when @content is exactly what it holds. */
static int drop_backup_if_same(struct target *t, const struct syn_buf *content, json_t *removed)
{
	struct syn_buf backup = SYN_BUF_INIT;
	bool exists = false;
	int rc;

	rc = read_regular(t, t->backup.ptr, &backup, &exists, NULL);
	if (rc == SYN_EUNSUPPORTED || rc == SYN_EINVALID) {
		/* not something Synapse wrote: leave it */
		syn_error_clear();
		rc = 0;
	}
	if (!rc && exists && same_bytes(&backup, content)) {
		if (unlinkat(t->fd, t->backup.ptr, 0) < 0 && errno != ENOENT)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove '%s/%s'", t->root.ptr, t->backup.ptr);
		else
			rc = append_path(removed, t, t->backup.ptr);
	}
	syn_buf_dispose(&backup);
	return rc;
}

static int yaml_detach(struct target *t, json_t *removed)
{
	struct syn_buf text = SYN_BUF_INIT, out = SYN_BUF_INIT, display = SYN_BUF_INIT;
	struct section sec;
	mode_t mode = 0644;
	bool exists = false;
	int rc;

	section_init(&sec);
	rc = syn_buf_printf(&display, "%s/%s", t->root.ptr, t->yaml->file);
	if (!rc)
		rc = read_regular(t, t->yaml->file, &text, &exists, &mode);
	if (rc || !exists)
		goto out;
	rc = section_find(&sec, &text, display.ptr);
	if (rc)
		goto out;
	if (!sec.found) {
		rc = drop_backup_if_same(t, &text, removed);
		goto out;
	}
	rc = syn_buf_put(&out, text.ptr, sec.start);
	if (!rc)
		rc = syn_buf_put(&out, text.ptr + sec.end, text.len - sec.end);
	if (rc)
		goto out;
	/* the newline Synapse added goes too, unless the user wrote after the section since */
	if (sec.added_nl && sec.end == text.len && sec.start > 0 && text.ptr[sec.start - 1] == '\n')
		syn_buf_truncate(&out, sec.start - 1);
	if (sec.created && out.len == 0) {
		if (unlinkat(t->fd, t->yaml->file, 0) < 0 && errno != ENOENT)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove '%s'", display.ptr);
		else
			rc = append_path(removed, t, t->yaml->file);
		goto out;
	}
	rc = syn_fs_write_atomic(t->fd, t->yaml->file, out.ptr, out.len, mode);
	if (!rc)
		rc = append_path(removed, t, t->yaml->file);
	if (!rc)
		rc = drop_backup_if_same(t, &out, removed);
out:
	if (rc)
		syn_error_prefix("cannot detach UI '%s'", t->ui);
	syn_buf_dispose(&text);
	syn_buf_dispose(&out);
	syn_buf_dispose(&display);
	syn_buf_dispose(&sec.base);
	return rc;
}

/*
 * attach-status details of an extra-paths UI; *@attached when our section
 * points at our view, *@present when there is a section of ours at all. A
 * file that cannot be read or parsed sets *@error (the thread's message,
 * valid until the next error).
 */
static json_t *yaml_status(struct target *t, bool *attached, bool *present, const char **error)
{
	struct syn_buf text = SYN_BUF_INIT, display = SYN_BUF_INIT;
	struct section sec;
	json_t *details = NULL;
	int rc;

	section_init(&sec);
	*attached = false;
	*present = false;
	rc = syn_buf_printf(&display, "%s/%s", t->root.ptr, t->yaml->file);
	if (!rc) {
		rc = syn_fs_read(&text, t->fd, t->yaml->file, YAML_MAX);
		if (!rc)
			rc = section_find(&sec, &text, display.ptr);
		if (rc && rc != SYN_ENOTFOUND)
			*error = syn_error_last();
		*attached = sec.found && sec.has_base && !strcmp(sec.base.ptr, t->view.ptr);
		*present = sec.found;
		details = json_pack("{s:s, s:b}", "file", display.ptr, "backup_exists",
				    syn_fs_exists(t->fd, t->backup.ptr));
	}
	syn_buf_dispose(&text);
	syn_buf_dispose(&display);
	syn_buf_dispose(&sec.base);
	return details;
}

/* ---- symlinks in model folders ------------------------------------------- */

/* The distinct folders of @map in map order (a layout may map two kinds to one folder). */
static json_t *distinct_folders(const json_t *map)
{
	json_t *out = json_array(), *v, *seen;
	const char *kind;
	size_t i;

	json_object_foreach((json_t *)map, kind, v) {
		bool dup = false;

		if (!json_is_string(v))
			continue;
		json_array_foreach(out, i, seen)
			if (json_equal(seen, v))
				dup = true;
		if (!dup)
			json_array_append(out, v);
	}
	return out;
}

enum link_state { LINK_NONE, LINK_OURS, LINK_FOREIGN };

/* What `synapse` in the folder open at @dfd (shown as @display) is, compared with @target. */
static int link_state(int dfd, const char *display, const char *target, enum link_state *state)
{
	size_t tlen = strlen(target);
	char *buf = malloc(tlen + 2);
	ssize_t n;
	int rc = 0;

	if (!buf)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	n = readlinkat(dfd, LINK_NAME, buf, tlen + 1);
	if (n < 0 && errno == ENOENT)
		*state = LINK_NONE;
	else if (n < 0 && errno == EINVAL) /* there, and not a link */
		*state = LINK_FOREIGN;
	else if (n < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot read the link '%s'", display);
	else
		*state = (size_t)n == tlen && !memcmp(buf, target, tlen) ? LINK_OURS : LINK_FOREIGN;
	free(buf);
	return rc;
}

/* ---- the model folders Synapse made ----------------------------------------- */

/* The member @key of @obj as an object, made empty when absent or of another type (borrowed). */
static json_t *object_member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_object(v))
		return v;
	v = json_object();
	if (!v || json_object_set_new(obj, key, v))
		return NULL;
	return v;
}

/* "<device>:<inode>" of @sb, telling the folder Synapse made from one made later in its place. */
static int folder_identity(struct syn_buf *out, const struct stat *sb)
{
	syn_buf_clear(out);
	return syn_buf_printf(out, "%ju:%ju", (uintmax_t)sb->st_dev, (uintmax_t)sb->st_ino);
}

/* Read the record of the folders Synapse made for @t->ui (none yet when it is missing). */
static int made_load(struct syn_store *st, struct target *t)
{
	struct syn_buf display = SYN_BUF_INIT;
	json_t *root_key = NULL;
	int dfd = syn_store_data_fd(st), rc;

	if (dfd < 0)
		return dfd;
	rc = syn_name_check_ident("UI", t->ui);
	if (!rc)
		rc = syn_buf_printf(&t->record, RECORD_DIR "/%s.json", t->ui);
	if (!rc)
		rc = syn_buf_printf(&display, "%s/%s", syn_store_data_root(st), t->record.ptr);
	if (!rc)
		rc = syn_doc_read(&t->made, dfd, t->record.ptr, display.ptr);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		t->made = json_pack("{s:s, s:s}", "schema", RECORD_SCHEMA, "ui", t->ui);
		rc = t->made ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	} else if (rc == SYN_ECORRUPT) {
		syn_error_prefix("Synapse cannot tell which model folders it made for UI '%s' (move '%s' aside "
				 "to attach again; the folders it lists then stay)", t->ui, display.ptr);
	}
	if (rc)
		goto out;
	/* a root is a key of the record: JSON holds only UTF-8 */
	root_key = json_string(t->root.ptr);
	if (!root_key) {
		rc = syn_error_set(SYN_EINVALID, "the root of UI '%s', '%s', is not valid UTF-8, so Synapse cannot "
				   "record the folders it makes there; set ui.roots.%s in '%s/config.json' to a "
				   "UTF-8 path", t->ui, t->root.ptr, t->ui, syn_store_state_root(st));
		goto out;
	}
	t->folders = object_member(object_member(object_member(t->made, "roots"), t->root.ptr), "folders");
	if (!t->folders)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
out:
	json_decref(root_key);
	syn_buf_dispose(&display);
	return rc;
}

/* Write the record back when it changed; a record of nothing is removed. */
static int made_save(struct syn_store *st, struct target *t)
{
	json_t *roots = json_object_get(t->made, "roots");
	int dfd, rc = 0;

	if (!t->made || !t->made_changed)
		return 0;
	dfd = syn_store_data_fd(st);
	if (dfd < 0)
		return dfd;
	if (json_object_size(t->folders) == 0) {
		t->folders = NULL;
		json_object_del(roots, t->root.ptr);
	}
	if (json_object_size(roots) > 0)
		rc = syn_doc_write(dfd, t->record.ptr, t->made);
	else if (unlinkat(dfd, t->record.ptr, 0) == 0)
		rc = syn_fs_fsync_dir(dfd, RECORD_DIR);
	else if (errno != ENOENT)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove '%s/%s'", syn_store_data_root(st),
					 t->record.ptr);
	if (!rc)
		t->made_changed = false;
	return rc;
}

/*
 * Create <root>/@folder and each missing parent (following the user's links
 * to a folder, as the UI does), noting every folder made in @t->folders and
 * in @created. An existing non-folder is SYN_EEXISTS.
 */
static int folder_make(struct target *t, const char *folder, json_t *created)
{
	struct syn_buf path = SYN_BUF_INIT, id = SYN_BUF_INIT;
	struct stat sb;
	size_t i;
	int rc;

	rc = syn_buf_puts(&path, folder);
	for (i = 1; !rc && i <= path.len; i++) {
		if (path.ptr[i] != '/' && path.ptr[i] != '\0')
			continue;
		path.ptr[i] = '\0';
		if (mkdirat(t->fd, path.ptr, 0755) == 0) {
			if (fstatat(t->fd, path.ptr, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				rc = syn_error_set_errno(SYN_EIO, errno, "cannot look at '%s/%s'", t->root.ptr, path.ptr);
			if (!rc)
				rc = folder_identity(&id, &sb);
			if (!rc && json_object_set_new(t->folders, path.ptr, json_string(id.ptr)))
				rc = syn_error_set(SYN_ENOMEM, "out of memory");
			if (!rc) {
				t->made_changed = true;
				rc = append_path(created, t, path.ptr);
			}
		} else if (errno != EEXIST) {
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot create the folder '%s/%s'", t->root.ptr, path.ptr);
		} else if (fstatat(t->fd, path.ptr, &sb, 0) < 0 || !S_ISDIR(sb.st_mode)) {
			rc = syn_error_set(SYN_EEXISTS, "'%s/%s' exists and is not a folder", t->root.ptr, path.ptr);
		}
		if (i < path.len)
			path.ptr[i] = '/';
	}
	syn_buf_dispose(&path);
	syn_buf_dispose(&id);
	return rc;
}

/* Longest first: a folder always comes before its parents. */
static int longer_first(const void *a, const void *b)
{
	size_t la = strlen(*(const char *const *)a), lb = strlen(*(const char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Remove the noted folder @rel of the root when it is still the one Synapse
 * made and empty. *@forget when it is no longer to be noted: removed, gone,
 * or replaced by someone else's. A folder holding anything stays noted, so
 * that a later detach removes it once the user has emptied it.
 */
static int folder_remove_if_empty(struct target *t, const char *rel, json_t *removed, bool *forget)
{
	struct syn_buf parent = SYN_BUF_INIT, id = SYN_BUF_INIT;
	const char *slash = strrchr(rel, '/'), *base = slash ? slash + 1 : rel;
	const char *noted = json_string_value(json_object_get(t->folders, rel));
	struct stat sb;
	int pfd = -1, rc;

	*forget = true;
	if (!noted || syn_name_check_relpath("model folder", rel)) {
		/* not something Synapse wrote: touch nothing */
		syn_error_clear();
		return 0;
	}
	rc = slash ? syn_buf_put(&parent, rel, (size_t)(slash - rel)) : syn_buf_puts(&parent, ".");
	if (rc)
		goto out;
	pfd = openat(t->fd, parent.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot open the folder '%s/%s'", t->root.ptr, parent.ptr);
		goto out;
	}
	if (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot look at '%s/%s'", t->root.ptr, rel);
		goto out;
	}
	rc = folder_identity(&id, &sb);
	if (rc || !S_ISDIR(sb.st_mode) || strcmp(id.ptr, noted))
		goto out;
	/* rmdir removes only an empty folder, so nothing put there meanwhile can be lost */
	if (unlinkat(pfd, base, AT_REMOVEDIR) < 0) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			*forget = false;
		else if (errno != ENOENT)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove the folder '%s/%s'", t->root.ptr, rel);
		goto out;
	}
	rc = syn_fs_fsync(pfd, parent.ptr);
	if (!rc)
		rc = append_path(removed, t, rel);
out:
	if (rc)
		*forget = false;
	if (pfd >= 0)
		close(pfd);
	syn_buf_dispose(&parent);
	syn_buf_dispose(&id);
	return rc;
}

/* After the links are gone: remove the folders Synapse made that are empty now, deepest first. */
static int folders_prune(struct target *t, json_t *removed)
{
	const char **rels = NULL, *rel;
	size_t i, n = 0, count = json_object_size(t->folders);
	json_t *v;
	int rc = 0;

	if (!count)
		return 0;
	rels = calloc(count, sizeof(*rels));
	if (!rels)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	json_object_foreach(t->folders, rel, v)
		rels[n++] = rel;
	qsort(rels, n, sizeof(*rels), longer_first);
	for (i = 0; i < n; i++) {
		bool forget = false;

		/* after a failure the rest stay noted, untouched */
		if (!rc)
			rc = folder_remove_if_empty(t, rels[i], removed, &forget);
		if (forget)
			t->made_changed = true;
		else
			rels[i] = NULL;
	}
	/* the keys are the object's own: drop them only once they are no longer read */
	for (i = 0; i < n; i++) {
		char *key;

		if (!rels[i])
			continue;
		key = strdup(rels[i]);
		if (!key) {
			rc = rc ? rc : syn_error_set(SYN_ENOMEM, "out of memory");
			break;
		}
		json_object_del(t->folders, key);
		free(key);
	}
	free(rels);
	return rc;
}

/* Open <root>/@folder (following the user's own links to a folder), or -1 with errno. */
static int open_folder(const struct target *t, const char *folder)
{
	return openat(t->fd, folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* The link's target (the folder in the view) and its own path, for messages. */
static int link_paths(const struct target *t, const char *folder, struct syn_buf *target, struct syn_buf *display)
{
	int rc = syn_name_check_relpath("model folder", folder);

	if (!rc)
		rc = syn_buf_printf(target, "%s/%s", t->view.ptr, folder);
	if (!rc)
		rc = syn_buf_printf(display, "%s/%s/" LINK_NAME, t->root.ptr, folder);
	return rc;
}

static int link_attach(struct target *t, const char *folder, json_t *created)
{
	struct syn_buf target = SYN_BUF_INIT, display = SYN_BUF_INIT;
	enum link_state state = LINK_NONE;
	int dfd = -1, rc;

	rc = link_paths(t, folder, &target, &display);
	if (rc)
		goto out;
	/* the UI reads its folder anyway; a link of the user's to a folder is followed, never replaced */
	rc = folder_make(t, folder, created);
	if (rc) {
		syn_error_prefix("cannot use the model folder '%s/%s'", t->root.ptr, folder);
		goto out;
	}
	dfd = open_folder(t, folder);
	if (dfd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open the model folder '%s/%s'", t->root.ptr, folder);
		goto out;
	}
	rc = link_state(dfd, display.ptr, target.ptr, &state);
	if (!rc && state == LINK_NONE) {
		if (symlinkat(target.ptr, dfd, LINK_NAME) == 0) {
			rc = syn_fs_fsync(dfd, display.ptr);
			if (!rc)
				rc = append_str(created, json_string(display.ptr));
			goto out;
		}
		if (errno == EPERM || errno == EOPNOTSUPP)
			rc = syn_error_set(SYN_EUNSUPPORTED, "the filesystem holding '%s/%s' does not support symbolic "
					   "links, which Synapse needs to attach UI '%s'", t->root.ptr, folder, t->ui);
		else if (errno == EEXIST) /* made meanwhile: look again */
			rc = link_state(dfd, display.ptr, target.ptr, &state);
		else
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot create '%s'", display.ptr);
	}
	if (!rc && state == LINK_FOREIGN)
		rc = syn_error_set(SYN_EEXISTS, "'%s' exists and is not Synapse's: rename it to let Synapse attach",
				   display.ptr);
out:
	if (dfd >= 0)
		close(dfd);
	syn_buf_dispose(&target);
	syn_buf_dispose(&display);
	return rc;
}

static int link_detach(struct target *t, const char *folder, json_t *removed)
{
	struct syn_buf target = SYN_BUF_INIT, display = SYN_BUF_INIT;
	enum link_state state = LINK_NONE;
	int dfd = -1, rc;

	rc = link_paths(t, folder, &target, &display);
	if (rc)
		goto out;
	dfd = open_folder(t, folder);
	if (dfd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot open the model folder '%s/%s'",
						 t->root.ptr, folder);
		goto out;
	}
	rc = link_state(dfd, display.ptr, target.ptr, &state);
	if (rc || state != LINK_OURS)
		goto out;
	if (unlinkat(dfd, LINK_NAME, 0) < 0 && errno != ENOENT) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove '%s'", display.ptr);
		goto out;
	}
	rc = syn_fs_fsync(dfd, display.ptr);
	if (!rc)
		rc = append_str(removed, json_string(display.ptr));
out:
	if (dfd >= 0)
		close(dfd);
	syn_buf_dispose(&target);
	syn_buf_dispose(&display);
	return rc;
}

/* Whether <root>/@folder/synapse is our link. */
static bool link_present(const struct target *t, const char *folder)
{
	struct syn_buf target = SYN_BUF_INIT;
	enum link_state state = LINK_NONE;
	int dfd = open_folder(t, folder);
	bool ours;

	ours = dfd >= 0 && !syn_buf_printf(&target, "%s/%s", t->view.ptr, folder) &&
	       !link_state(dfd, folder, target.ptr, &state) && state == LINK_OURS;
	if (dfd >= 0)
		close(dfd);
	syn_error_clear();
	syn_buf_dispose(&target);
	return ours;
}

/* ---- per UI ---------------------------------------------------------------- */

enum op { OP_ATTACH, OP_DETACH };

/* Nonzero when out of memory: the failure could not be recorded. */
static int add_error(json_t *errors)
{
	const char *msg = syn_error_last();
	int rc = json_array_append_new(errors, json_string(*msg ? msg : "unknown error"));

	syn_error_clear();
	return rc;
}

/*
 * Attach or detach the links of @t, adding what was done to @list and each
 * failure to @errors. Nonzero when a failure could not be recorded.
 */
static int links_apply(struct syn_store *st, struct target *t, enum op op, json_t *list, json_t *errors)
{
	json_t *folders, *f;
	int oom = 0;
	size_t i;

	if (made_load(st, t)) {
		oom |= add_error(errors);
		/* a folder made now could not be recorded, so would never be taken away */
		if (op == OP_ATTACH)
			return oom;
		/* detach still removes the links, and leaves every folder */
	}
	folders = distinct_folders(t->map);
	json_array_foreach(folders, i, f) {
		const char *folder = json_string_value(f);

		if ((op == OP_ATTACH ? link_attach(t, folder, list) : link_detach(t, folder, list)))
			oom |= add_error(errors);
	}
	json_decref(folders);
	if (op == OP_DETACH && t->folders && folders_prune(t, list))
		oom |= add_error(errors);
	/* whatever failed above, the folders made so far are recorded */
	if (made_save(st, t))
		oom |= add_error(errors);
	return oom;
}

/* Attach or detach one UI: its result object, or NULL when out of memory. */
static json_t *ui_apply(struct syn_store *st, const json_t *config, const char *ui, enum op op)
{
	json_t *list = json_array(), *errors = json_array(), *res = NULL;
	struct target t;
	int rc, oom = 0;

	target_init(&t, ui);
	if (!list || !errors)
		goto out;
	rc = target_resolve(st, config, &t);
	if (!rc)
		rc = target_open_root(st, &t);
	if (rc == SYN_ENOTFOUND && op == OP_DETACH && t.root.len) {
		/* no UI there: nothing of Synapse's can be there either */
		syn_error_clear();
	} else if (rc) {
		oom = add_error(errors);
	} else if (t.yaml) {
		if ((op == OP_ATTACH ? yaml_attach(&t, list) : yaml_detach(&t, list)))
			oom = add_error(errors);
	} else if (op == OP_ATTACH && target_check_view(&t)) {
		oom = add_error(errors);
	} else {
		oom = links_apply(st, &t, op, list, errors);
	}
	if (oom)
		goto out;
	res = json_pack("{s:s, s:b, s:s, s:s?, s:s?, s:O, s:O}", "ui", ui, "success", json_array_size(errors) == 0,
			"method", t.yaml ? METHOD_YAML : METHOD_LINK, "root", t.root.len ? t.root.ptr : NULL,
			"path", t.view.len ? t.view.ptr : NULL, op == OP_ATTACH ? "created" : "removed", list,
			"errors", errors);
out:
	target_dispose(&t);
	json_decref(list);
	json_decref(errors);
	return res;
}

static int apply_all(struct syn_store *st, const char *ui_set, enum op op, json_t **report)
{
	json_t *config = NULL, *targets = NULL, *out = NULL, *v;
	bool locked = false;
	size_t i;
	int rc;

	*report = NULL;
	rc = syn_store_ui_targets(st, ui_set, &targets);
	if (!rc)
		rc = syn_store_config(st, &config);
	if (!rc)
		rc = syn_store_lock(st, op == OP_ATTACH ? "attach" : "detach");
	if (rc)
		goto out;
	locked = true;
	out = json_object();
	json_array_foreach(targets, i, v) {
		const char *ui = json_string_value(v);
		json_t *res = out ? ui_apply(st, config, ui, op) : NULL;

		if (!res || json_object_set_new(out, ui, res)) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			goto out;
		}
	}
	*report = out;
	out = NULL;
out:
	if (locked)
		syn_store_unlock(st);
	json_decref(out);
	json_decref(config);
	json_decref(targets);
	return rc;
}

int syn_attach(struct syn_store *st, const char *ui_set, json_t **report)
{
	return apply_all(st, ui_set, OP_ATTACH, report);
}

int syn_detach(struct syn_store *st, const char *ui_set, json_t **report)
{
	return apply_all(st, ui_set, OP_DETACH, report);
}

/* ---- attach-status ---------------------------------------------------------- */

/*
 * The attach-status result of @ui, or NULL when out of memory. *@present
 * tells whether anything of Synapse's is there (the section, or any one
 * link), attached completely or not.
 */
static json_t *ui_status(struct syn_store *st, const json_t *config, const char *ui, bool *present)
{
	json_t *res = NULL, *details = NULL;
	const char *error = NULL;
	bool attached = false;
	struct target t;
	int rc;

	*present = false;
	target_init(&t, ui);
	rc = target_resolve(st, config, &t);
	if (!rc)
		rc = target_open_root(st, &t);
	if (rc) {
		error = syn_error_last();
		details = json_object();
	} else if (t.yaml) {
		details = yaml_status(&t, &attached, present, &error);
	} else {
		json_t *folders = distinct_folders(t.map), *links = json_object(), *f;
		size_t i;

		attached = json_array_size(folders) > 0;
		json_array_foreach(folders, i, f) {
			bool ok = link_present(&t, json_string_value(f));

			json_object_set_new(links, json_string_value(f), json_boolean(ok));
			attached = attached && ok;
			*present = *present || ok;
		}
		json_decref(folders);
		details = json_pack("{s:o}", "links", links);
	}
	if (details)
		res = json_pack("{s:s, s:b, s:s, s:s?, s:s?, s:O}", "ui", ui, "attached", attached,
				"method", t.yaml ? METHOD_YAML : METHOD_LINK, "root", t.root.len ? t.root.ptr : NULL,
				"path", t.view.len ? t.view.ptr : NULL, "details", details);
	if (res && error && json_object_set_new(res, "error", json_string(error))) {
		json_decref(res);
		res = NULL;
	}
	syn_error_clear();
	json_decref(details);
	target_dispose(&t);
	return res;
}

int syn__attach_present(struct syn_store *st, const char *ui, bool *present)
{
	json_t *config = NULL, *res = NULL;
	int rc;

	*present = false;
	rc = syn_store_config(st, &config);
	if (rc)
		return rc;
	res = ui_status(st, config, ui, present);
	if (!res)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	json_decref(res);
	json_decref(config);
	return rc;
}

int syn_attach_status(struct syn_store *st, const char *ui_set, json_t **report)
{
	json_t *config = NULL, *targets = NULL, *out = NULL, *v;
	size_t i;
	int rc;

	*report = NULL;
	rc = syn_store_ui_targets(st, ui_set, &targets);
	if (!rc)
		rc = syn_store_config(st, &config);
	if (rc)
		goto out;
	out = json_object();
	json_array_foreach(targets, i, v) {
		const char *ui = json_string_value(v);
		bool present;
		json_t *res = out ? ui_status(st, config, ui, &present) : NULL;

		if (!res || json_object_set_new(out, ui, res)) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			goto out;
		}
	}
	*report = out;
	out = NULL;
out:
	json_decref(out);
	json_decref(config);
	json_decref(targets);
	return rc;
}
