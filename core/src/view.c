/*
 * Views: per-UI trees of relative symlinks, one per profile, and the
 * `active` link. Trees are staged beside their final name and renamed into
 * place, so there is no instant without a view; `active` is replaced by
 * renaming a temporary link over it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synapse/blob.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/hash.h"
#include "synapse/profile.h"
#include "synapse/fs.h"
#include "synapse/names.h"
#include "synapse/store.h"

#include "blob.h"
#include "chunks.h"
#include "digest.h"
#include "docs.h"
#include "state.h"
#include "store.h"
#include "view.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int syn__view_set_active(struct syn_store *st, const char *ui, const char *profile)
{
	struct syn_buf dir = SYN_BUF_INIT, target = SYN_BUF_INIT, tmp = SYN_BUF_INIT;
	int fd, ufd = -1, rc;

	rc = syn_name_check_ident("UI name", ui);
	if (!rc)
		rc = syn_name_check_profile(profile);
	if (rc)
		return rc;
	fd = syn_store_data_fd(st);
	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&dir, "views/%s", ui);
	if (!rc)
		rc = syn_fs_mkdirs(fd, dir.ptr);
	if (!rc)
		rc = syn_buf_printf(&target, "profiles/%s", profile);
	if (!rc)
		rc = syn_buf_printf(&tmp, SYN_FS_TMP_PREFIX "active.%ld", (long)getpid());
	if (rc)
		goto out;
	ufd = openat(fd, dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", dir.ptr);
		goto out;
	}
	unlinkat(ufd, tmp.ptr, 0);
	if (symlinkat(target.ptr, ufd, tmp.ptr) < 0) {
		rc = errno == EPERM || errno == EOPNOTSUPP
			? syn_error_set(SYN_EUNSUPPORTED, "the filesystem holding '%s/%s' does not support "
					"symbolic links, which Synapse views need", syn_store_data_root(st), dir.ptr)
			: syn_error_set_errno(SYN_EIO, errno, "cannot create a link in '%s'", dir.ptr);
		goto out;
	}
	if (renameat(ufd, tmp.ptr, ufd, "active") < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot replace '%s/active'", dir.ptr);
		unlinkat(ufd, tmp.ptr, 0);
		goto out;
	}
	rc = syn_fs_fsync(ufd, dir.ptr);
out:
	if (ufd >= 0)
		close(ufd);
	syn_buf_dispose(&dir);
	syn_buf_dispose(&target);
	syn_buf_dispose(&tmp);
	return rc;
}

int syn__view_read_active(struct syn_store *st, const char *ui, struct syn_buf *out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	char target[512];
	ssize_t n;
	int fd, rc;

	syn_buf_clear(out);
	fd = syn_store_data_fd(st);
	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&rel, "views/%s/active", ui);
	if (rc)
		return rc;
	n = readlinkat(fd, rel.ptr, target, sizeof(target) - 1);
	if (n < 0) {
		rc = errno == ENOENT ? syn_error_set(SYN_ENOTFOUND, "'%s/%s' is missing", syn_store_data_root(st), rel.ptr)
				     : syn_error_set_errno(SYN_ECORRUPT, errno, "'%s/%s' is not a symbolic link",
							   syn_store_data_root(st), rel.ptr);
		goto out;
	}
	target[n] = '\0';
	if (strncmp(target, "profiles/", 9) || !syn_name_is_pack(target + 9)) {
		rc = syn_error_set(SYN_ECORRUPT, "'%s/%s' points at '%s', not at profiles/<profile>",
				   syn_store_data_root(st), rel.ptr, target);
		goto out;
	}
	rc = syn_buf_puts(out, target + 9);
out:
	syn_buf_dispose(&rel);
	return rc;
}

bool syn__view_exists(struct syn_store *st, const char *ui, const char *profile)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct stat sb;
	int fd = syn_store_data_fd(st);
	bool ok;

	ok = fd >= 0 && !syn_buf_printf(&rel, "views/%s/profiles/%s", ui, profile) &&
	     fstatat(fd, rel.ptr, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
	syn_buf_dispose(&rel);
	syn_error_clear();
	return ok;
}

/* ---- plan ---------------------------------------------------------------- */

/*
 * A plan as the view module works with it: its links in C (the JSON form of
 * syn_view_plan() is made from it only for callers outside), the rest, small
 * as a rule, as JSON. It is folded from its sources (below), which its
 * links point into.
 */
struct ventry {
	const char *dst, *sha256, *pack, *dep_id; /* in the plan's @strings */
};

struct vplan {
	struct ventry *entries;
	size_t n, cap;
	size_t *index; /* open-addressed by destination: 1 + the entry's position; 0 when free */
	size_t icap;
	json_t *folders;
	json_t *lists; /* {"entries": n, "shadowed", "shadowed_blobs", "missing_blobs", "errors", "error_packs"} */
	struct syn_buf sources; /* what each pack gives the view, in the profile's order */
	char *strings;          /* @sources unescaped, in place */
	struct syn_buf parts;   /* the packs' parts of the source key, in the profile's order */
	char key[SYN_SHA256_HEX_LEN + 1]; /* the source key (syn__digest_source_key()) of what was planned */
	char map[SYN_SHA256_HEX_LEN + 1]; /* the digest of the UI's kind map the plan placed files by */
};

/* Free what plan @p owns and zero it (a zeroed plan may be disposed). */
static void vplan_dispose(struct vplan *p)
{
	free(p->entries);
	free(p->index);
	json_decref(p->folders);
	json_decref(p->lists);
	syn_buf_dispose(&p->sources);
	free(p->strings);
	syn_buf_dispose(&p->parts);
	memset(p, 0, sizeof(*p));
}

/* The index slot of destination @dst in @p: the one holding it, or the free one it would take. */
static size_t *index_slot(const struct vplan *p, const char *dst)
{
	size_t i = (size_t)syn_fnv1a(SYN_FNV1A_INIT, dst, strlen(dst)) & (p->icap - 1);

	while (p->index[i] && strcmp(p->entries[p->index[i] - 1].dst, dst))
		i = (i + 1) & (p->icap - 1);
	return &p->index[i];
}

/* Room for one more entry in @p. */
static int vplan_reserve(struct vplan *p)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct ventry *e = realloc(p->entries, cap * sizeof(*e));

		if (!e)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		p->entries = e;
		p->cap = cap;
	}
	if ((p->n + 1) * 2 > p->icap) {
		size_t *old = p->index, oldcap = p->icap, i;

		p->icap = oldcap ? oldcap * 2 : 512;
		p->index = calloc(p->icap, sizeof(*p->index));
		if (!p->index) {
			p->index = old;
			p->icap = oldcap;
			return syn_error_set(SYN_ENOMEM, "out of memory");
		}
		for (i = 0; i < oldcap; i++)
			if (old[i])
				*index_slot(p, p->entries[old[i] - 1].dst) = old[i];
		free(old);
	}
	return 0;
}

/* 0 when @ok, else SYN_ENOMEM set. */
static int oom_unless(bool ok)
{
	return ok ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

/*
 * ---- sources ---------------------------------------------------------------
 *
 * What each pack of a profile gives a UI's view, in the profile's order, as
 * text: a "p <name> <key part>" line (its part of the source key), then a
 * "c <dst> <sha256> <dependency id>" line per file it links, "m
 * <dependency id> <kind> <sha256>" per file whose blob is missing and "e
 * <message>" per problem that leaves something out. Fields are separated by
 * tabs and escaped (syn_buf_put_field()). A pack's lines depend only on its
 * digest, the UI's kind map and which of its blobs are present, so a view
 * keeps them (VIEW_SOURCES) and the next plan reads the documents of only
 * the packs that changed; the plan is folded from the text either way.
 */

/*
 * Append pack @name's lines to @out: @d its digest, NULL when there is none
 * (syn__digest_get() failed: its message is the pack's problem), its files
 * placed by kind map @map.
 */
static int give_pack(struct syn_store *st, const char *name, const struct syn__pack_digest *d, const json_t *map,
		     struct syn_buf *out)
{
	size_t i;
	int rc = syn_buf_puts(out, "p\t");

	if (!rc)
		rc = syn_buf_put_field(out, name);
	if (!rc)
		rc = syn_buf_puts(out, "\t");
	if (!rc)
		rc = syn_buf_put_field(out, d ? d->stamp : "-\n");
	if (!rc)
		rc = syn_buf_puts(out, "\n");
	if (!rc && (!d || d->pack_error || d->lock_error)) {
		rc = syn_buf_puts(out, "e\t");
		if (!rc)
			rc = syn_buf_put_field(out, !d ? syn_error_last() : d->pack_error ? d->pack_error : d->lock_error);
		return rc ? rc : syn_buf_puts(out, "\n");
	}
	for (i = 0; !rc && i < d->nentries; i++) {
		const struct syn__digest_entry *e = &d->entries[i];
		const char *folder = json_string_value(json_object_get(map, e->kind));

		if (!e->has_dep)
			continue;
		if (e->problem) {
			rc = syn_buf_puts(out, "e\t");
			if (!rc)
				rc = syn_buf_put_field(out, e->problem);
		} else if (!syn_blob_exists(st, e->sha256)) {
			rc = syn_buf_puts(out, "m\t");
			if (!rc)
				rc = syn_buf_put_field(out, e->dep_id);
			if (!rc)
				rc = syn_buf_puts(out, "\t");
			if (!rc)
				rc = syn_buf_put_field(out, e->kind);
			if (!rc)
				rc = syn_buf_printf(out, "\t%s", e->sha256);
		} else {
			rc = syn_buf_puts(out, folder ? "c\t" : "c\tmodels/");
			if (!rc)
				rc = syn_buf_put_field(out, folder ? folder : e->kind);
			if (!rc)
				rc = syn_buf_puts(out, "/");
			if (!rc)
				rc = syn_buf_put_field(out, e->fname);
			if (!rc)
				rc = syn_buf_printf(out, "\t%s\t", e->sha256);
			if (!rc)
				rc = syn_buf_put_field(out, e->dep_id);
		}
		if (!rc)
			rc = syn_buf_puts(out, "\n");
	}
	return rc;
}

/* The sources a view recorded, indexed by pack. */
struct old_sources {
	struct syn_buf text;
	struct syn__chunks pieces; /* those @text was read from (chunks.h) */
	struct old_pack {
		const char *name, *part; /* escaped, in @text */
		size_t nlen, plen;
		const char *at; /* the pack's lines: its "p" line and those up to the next one */
		size_t len;
	} *packs;
	size_t n, cap;
	size_t *slots; /* open-addressed by name: 1 + the pack's position; 0 when free */
	size_t scap;
	const char *body; /* the text after the header; NULL when there is none to take */
	char map[SYN_SHA256_HEX_LEN + 1]; /* the kind map's digest (vplan) they were planned with */
	char mark[64];    /* the digest cache's mark (syn__digest_mark()) when they were planned; "" for none */
	char manifest[48]; /* the length and checksum of the manifest written with them */
};

static void old_sources_dispose(struct old_sources *o)
{
	syn_buf_dispose(&o->text);
	syn__chunks_dispose(&o->pieces);
	free(o->packs);
	free(o->slots);
	memset(o, 0, sizeof(*o));
	o->text = (struct syn_buf)SYN_BUF_INIT;
}

/* The slot of pack @name (@len bytes) in @o. */
static size_t *old_slot(const struct old_sources *o, const char *name, size_t len)
{
	size_t i = (size_t)syn_fnv1a(SYN_FNV1A_INIT, name, len) & (o->scap - 1);

	while (o->slots[i] && (o->packs[o->slots[i] - 1].nlen != len || memcmp(o->packs[o->slots[i] - 1].name, name, len)))
		i = (i + 1) & (o->scap - 1);
	return &o->slots[i];
}

static bool inside_view(const char *dst, size_t len);

/* How many tabs the @len bytes at @p hold. */
static size_t tabs_in(const char *p, size_t len)
{
	size_t n = 0;
	const char *t;

	while ((t = memchr(p, '\t', len)) != NULL) {
		n++;
		len -= (size_t)(t + 1 - p);
		p = t + 1;
	}
	return n;
}

/*
 * Index the sources text @p..@end in @o by pack. Each line must be one the
 * text has ("c" lines linking inside the view a blob named by its hash),
 * the first a "p" line: SYN_ECORRUPT (set) otherwise.
 */
static int index_sources(struct old_sources *o, const char *p, const char *end)
{
	struct old_pack *cur = NULL;
	size_t i;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *tab;
		char sha[SYN_SHA256_HEX_LEN + 1];
		size_t tabs;

		if (!nl || nl - p < 2 || p[1] != '\t' || !strchr("pcme", p[0]) || (p[0] != 'p' && !cur))
			return syn_error_set(SYN_ECORRUPT, "bad view sources line");
		tabs = tabs_in(p, (size_t)(nl - p));
		if (tabs != (p[0] == 'e' ? 1u : p[0] == 'p' ? 2u : 3u))
			return syn_error_set(SYN_ECORRUPT, "bad view sources line");
		if (p[0] == 'c') {
			tab = memchr(p + 2, '\t', (size_t)(nl - p - 2));
			if (nl - tab < SYN_SHA256_HEX_LEN + 2 || tab[SYN_SHA256_HEX_LEN + 1] != '\t' ||
			    !inside_view(p + 2, (size_t)(tab - p - 2)))
				return syn_error_set(SYN_ECORRUPT, "bad view sources line");
			memcpy(sha, tab + 1, SYN_SHA256_HEX_LEN);
			sha[SYN_SHA256_HEX_LEN] = '\0';
			if (!syn_name_is_sha256(sha))
				return syn_error_set(SYN_ECORRUPT, "bad view sources line");
		}
		if (p[0] == 'p') {
			if (o->n == o->cap) {
				struct old_pack *grown = realloc(o->packs, (o->cap = o->cap ? o->cap * 2 : 256) * sizeof(*grown));

				if (!grown)
					return syn_error_set(SYN_ENOMEM, "out of memory");
				o->packs = grown;
			}
			cur = &o->packs[o->n++];
			cur->name = p + 2;
			cur->nlen = (size_t)((const char *)memchr(cur->name, '\t', (size_t)(nl - cur->name)) - cur->name);
			cur->part = cur->name + cur->nlen + 1;
			cur->plen = (size_t)(nl - cur->part);
			cur->at = p;
		}
		cur->len = (size_t)(nl + 1 - cur->at);
		p = nl + 1;
	}
	for (o->scap = 64; o->scap < 2 * o->n; o->scap *= 2)
		;
	o->slots = calloc(o->scap, sizeof(*o->slots));
	if (!o->slots)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; i < o->n; i++) {
		size_t *slot = old_slot(o, o->packs[i].name, o->packs[i].nlen);

		if (!*slot) /* a name twice in the profile: its lines are the same each time */
			*slot = i + 1;
	}
	return 0;
}

/*
 * Whether a blob that the "m" lines of the pack lines @p..@end found
 * missing has arrived (or a line is not one they can have).
 */
static bool missing_arrived(struct syn_store *st, const char *p, const char *end)
{
	const char *nl;

	for (; p < end; p = nl + 1) {
		char sha[SYN_SHA256_HEX_LEN + 1];

		nl = memchr(p, '\n', (size_t)(end - p));
		if (p[0] != 'm')
			continue;
		if (nl - p < SYN_SHA256_HEX_LEN + 2)
			return true;
		memcpy(sha, nl - SYN_SHA256_HEX_LEN, SYN_SHA256_HEX_LEN);
		sha[SYN_SHA256_HEX_LEN] = '\0';
		if (!syn_name_is_sha256(sha) || syn_blob_exists(st, sha))
			return true;
	}
	return false;
}

/*
 * The lines pack @name gave the view @o was recorded for, when they hold
 * for it now: the hold trusts what was recorded of the pack (its stamp in
 * *@stamp), it is the stamp they were given at, and no blob they found
 * missing has arrived. NULL otherwise.
 */
static const struct old_pack *old_lines(struct syn_store *st, const struct old_sources *o, const char *name,
					const char **stamp)
{
	const struct old_pack *op;
	size_t *slot;

	*stamp = o && o->n ? syn__digest_trusted_stamp(st, name) : NULL;
	if (!*stamp)
		return NULL;
	slot = old_slot(o, name, strlen(name));
	op = *slot ? &o->packs[*slot - 1] : NULL;
	if (!op || op->plen != strlen(*stamp) || memcmp(op->part, *stamp, op->plen) ||
	    missing_arrived(st, op->at, op->at + op->len))
		return NULL;
	return op;
}

/* Add pack @pack to the packs @p leaves something out of when its lines added errors after the first @before. */
static int note_error_pack(struct vplan *p, const char *pack, size_t before)
{
	json_t *errors = json_object_get(p->lists, "errors");

	return !pack || json_array_size(errors) == before
		? 0 : oom_unless(!json_array_append_new(json_object_get(p->lists, "error_packs"), json_string(pack)));
}

/* How many fields a line of each type has after its type. */
static const int line_fields[128] = { ['p'] = 2, ['c'] = 3, ['m'] = 3, ['e'] = 1 };

/* Add what an "m" or "e" line (its @type, its fields @f) of pack @pack says to the lists of @p. */
static int fold_problem(struct vplan *p, char type, char *const *f, const char *pack)
{
	if (type == 'e')
		return oom_unless(!json_array_append_new(json_object_get(p->lists, "errors"), json_string(f[0])));
	return oom_unless(!json_array_append_new(json_object_get(p->lists, "missing_blobs"),
		json_pack("{s:s, s:s, s:s, s:s}", "pack", pack, "dependency_id", f[0], "kind", f[1], "sha256", f[2])));
}

/*
 * Fold the sources of @p, a plan of @ui's view, into its links, what they
 * shadow, the blobs missing and the errors, pack by pack in order.
 * SYN_ECORRUPT (set) for a line the sources cannot have.
 */
static int fold(struct vplan *p, const char *ui)
{
	json_t *shadowed = json_object_get(p->lists, "shadowed"), *errors = json_object_get(p->lists, "errors");
	json_t *shadowed_blobs = json_object_get(p->lists, "shadowed_blobs");
	const char *pack = NULL;
	size_t before = 0;
	char *s, *f[3];
	int rc = 0, k;
	bool eol;

	p->strings = malloc(p->sources.len + 1);
	if (!p->strings)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	memcpy(p->strings, p->sources.ptr, p->sources.len + 1);
	for (s = p->strings; !rc && *s;) {
		char type = *s;

		if (!strchr("pcme", type) || s[1] != '\t')
			return syn_error_set(SYN_ECORRUPT, "bad view sources line");
		for (s += 2, k = 0, eol = false; !eol && k < line_fields[(unsigned char)type]; k++)
			s = syn_field_take(s, &f[k], &eol);
		if (!eol || k != line_fields[(unsigned char)type] || (type != 'p' && !pack))
			return syn_error_set(SYN_ECORRUPT, "bad view sources line");
		if (type == 'p') {
			rc = note_error_pack(p, pack, before);
			pack = f[0];
			before = json_array_size(errors);
		} else if (type == 'e' || type == 'm') {
			rc = fold_problem(p, type, f, pack);
		} else if ((rc = vplan_reserve(p)) == 0) {
			size_t *slot = index_slot(p, f[0]);
			struct ventry *e = *slot ? &p->entries[*slot - 1] : &p->entries[p->n];

			/* the same bytes under the same name hide nothing */
			if (*slot && strcmp(e->sha256, f[1]))
				rc = oom_unless(!json_array_append_new(shadowed, json_pack("{s:s, s:s, s:s, s:s}", "ui", ui,
					"dst_relpath", f[0], "winner_pack", pack, "loser_pack", e->pack)) &&
					!json_array_append_new(shadowed_blobs, json_string(e->sha256)));
			/* the winner takes the loser's place, as the original did */
			*e = (struct ventry){ .dst = *slot ? e->dst : f[0], .sha256 = f[1], .pack = pack, .dep_id = f[2] };
			if (!*slot)
				*slot = ++p->n;
		}
	}
	return rc ? rc : note_error_pack(p, pack, before);
}

/* A shadow as sorting sees it: its destination, and its place in the order it happened. */
struct shadow_at {
	const char *dst;
	size_t i;
};

static int shadow_cmp(const void *a, const void *b)
{
	const struct shadow_at *x = a, *y = b;
	int c = strcmp(x->dst, y->dst);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * Order the shadows of @lists ("shadowed", and "shadowed_blobs" beside it)
 * by destination, those of one destination in the order they happened:
 * the order a plan reports them in, however it was made.
 */
static int sort_shadowed(json_t *lists)
{
	json_t *shadowed = json_object_get(lists, "shadowed"), *blobs = json_object_get(lists, "shadowed_blobs");
	json_t *sorted = json_array(), *sorted_blobs = json_array();
	size_t n = json_array_size(shadowed), i;
	struct shadow_at *at = calloc(n + 1, sizeof(*at));
	int rc = oom_unless(at && sorted && sorted_blobs);

	for (i = 0; !rc && i < n; i++)
		at[i] = (struct shadow_at){ syn_doc_str(json_array_get(shadowed, i), "dst_relpath", ""), i };
	if (!rc)
		qsort(at, n, sizeof(*at), shadow_cmp);
	for (i = 0; !rc && i < n; i++)
		rc = oom_unless(!json_array_append(sorted, json_array_get(shadowed, at[i].i)) &&
				!json_array_append(sorted_blobs, json_array_get(blobs, at[i].i)));
	if (!rc)
		rc = oom_unless(!json_object_set(lists, "shadowed", sorted) &&
				!json_object_set(lists, "shadowed_blobs", sorted_blobs));
	json_decref(sorted);
	json_decref(sorted_blobs);
	free(at);
	return rc;
}

/*
 * Begin plan @p of @ui's view (disposed by the caller either way): empty
 * lists, the UI's kind map in *@map (the caller's), its digest and folders.
 */
static int plan_begin(struct syn_store *st, const char *ui, struct vplan *p, json_t **map)
{
	const char *kind;
	char *dump = NULL;
	json_t *v;
	int rc;

	*map = NULL;
	memset(p, 0, sizeof(*p));
	p->sources = (struct syn_buf)SYN_BUF_INIT;
	p->parts = (struct syn_buf)SYN_BUF_INIT;
	p->folders = json_array();
	p->lists = json_pack("{s:[], s:[], s:[], s:[], s:[]}", "shadowed", "shadowed_blobs", "missing_blobs", "errors",
			     "error_packs");
	rc = oom_unless(p->folders && p->lists);
	if (!rc)
		rc = syn_name_check_ident("UI name", ui);
	if (!rc)
		rc = syn_store_kind_map(st, ui, map);
	if (!rc)
		rc = oom_unless((dump = json_dumps(*map, JSON_COMPACT | JSON_SORT_KEYS)) != NULL);
	if (!rc)
		rc = syn_sha256_mem(p->map, dump, strlen(dump));
	json_object_foreach(rc ? NULL : *map, kind, v) {
		bool seen = false;
		json_t *f;
		size_t k;

		json_array_foreach(p->folders, k, f)
			seen = seen || json_equal(f, v);
		if (!rc && !seen)
			rc = oom_unless(!json_array_append(p->folders, v));
	}
	free(dump);
	return rc;
}

/*
 * Plan @ui's view of @profile into @p (disposed by the caller either way);
 * the store must be held. The lines of a pack @old (may be NULL) holds for
 * it now (old_lines()) are taken from there; the other packs' documents are
 * read.
 */
static int plan_make(struct syn_store *st, const char *ui, const char *profile, const struct old_sources *old,
		     struct vplan *p)
{
	const json_t *prof = NULL;
	json_t *map = NULL, *v;
	size_t i;
	int rc = plan_begin(st, ui, p, &map);

	if (!rc)
		rc = syn__docs_profile_peek(st, profile, &prof);
	if (!rc && old && strcmp(old->map, p->map))
		old = NULL; /* the UI's folders changed: every file goes elsewhere */
	if (!rc && (!old || !old->n))
		syn__digest_prefetch(st, json_object_get(prof, "packs"));
	else if (!rc)
		rc = syn_buf_grow(&p->sources, old->text.len); /* about what the packs give again */
	json_array_foreach(rc ? NULL : json_object_get(prof, "packs"), i, v) {
		const char *name = syn_doc_str(v, "name", ""), *stamp;
		const struct old_pack *op = old_lines(st, old, name, &stamp);
		const struct syn__pack_digest *d = NULL;
		int got;

		if (op) {
			rc = syn_buf_put(&p->sources, op->at, op->len);
			if (!rc)
				rc = syn_buf_puts(&p->parts, stamp);
		} else if ((got = syn__digest_get(st, name, &d)) == SYN_ENOMEM) {
			rc = got;
		} else {
			rc = give_pack(st, name, got ? NULL : d, map, &p->sources);
			if (!rc)
				rc = syn__digest_key_part(got ? NULL : d, &p->parts);
			syn_error_clear();
		}
		if (rc)
			break;
	}
	if (!rc)
		rc = fold(p, ui);
	if (!rc)
		rc = sort_shadowed(p->lists);
	if (!rc)
		rc = syn__digest_key_of(st, profile, &p->parts, p->key);
	if (!rc)
		rc = oom_unless(!json_object_set_new(p->lists, "entries", json_integer((json_int_t)p->n)));
	if (!rc)
		syn__digest_flush(st);
	json_decref(map);
	return rc;
}

int syn_view_plan(struct syn_store *st, const char *ui, const char *profile, json_t **plan)
{
	struct vplan p;
	json_t *entries = NULL;
	size_t i;
	int rc;

	*plan = NULL;
	syn__store_hold(st);
	rc = plan_make(st, ui, profile, NULL, &p);
	if (!rc)
		rc = oom_unless((entries = json_array()) != NULL);
	for (i = 0; !rc && i < p.n; i++)
		rc = oom_unless(!json_array_append_new(entries, json_pack("{s:s, s:s, s:s, s:s}", "dst_relpath",
			p.entries[i].dst, "sha256", p.entries[i].sha256, "pack", p.entries[i].pack, "dependency_id",
			p.entries[i].dep_id)));
	if (!rc)
		rc = oom_unless((*plan = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O}", "ui", ui, "profile",
			profile, "folders", p.folders, "entries", entries, "shadowed", json_object_get(p.lists, "shadowed"),
			"missing_blobs", json_object_get(p.lists, "missing_blobs"), "errors",
			json_object_get(p.lists, "errors"), "error_packs", json_object_get(p.lists, "error_packs"))) != NULL);
	syn__store_release(st);
	json_decref(entries);
	vplan_dispose(&p);
	return rc;
}

/* ---- fingerprints ----------------------------------------------------------- */

#define VIEW_META ".synapse-view"

#define VIEW_ENTRIES ".synapse-entries"
#define VIEW_DELTA ".synapse-delta"

/* The sources (above) a view was planned from: a header line, then the text. */
#define VIEW_SOURCES ".synapse-sources"
/*
 * The header: this, then "<key>\t<plan>\t<map>\t<mark>\t<manifest>\t<length>\t<sum>\n":
 * the record's key and plan, the plan's kind map digest, the digest
 * cache's mark ("-" for none) when the plan was made, the length and
 * checksum of the manifest written with the file (a tab between them),
 * and the text's length and checksum. The file is a cache, written
 * without waiting for the disk: one that a crash left short or empty does
 * not match its header.
 */
#define SOURCES_MAGIC "synapse-view-sources 3\t"

/*
 * The fingerprint of manifest @text in @hex: the digest of its pieces,
 * cut into @pieces (syn__chunks_cut(), those of @old, a manifest read,
 * named again without hashing; NULL for none).
 */
static int manifest_digest(const struct syn_buf *text, struct syn__chunks *pieces, const struct syn__chunks *old,
			   char hex[SYN_SHA256_HEX_LEN + 1])
{
	int rc = syn__chunks_cut(pieces, NULL, 0, text->ptr, text->len, old);

	return rc ? rc : syn__chunks_digest(pieces, hex);
}

/*
 * What the tree of @p contains, in @text (VIEW_ENTRIES: a "d <folder>"
 * line per folder, then an "l <dst> <sha256>" line per link), cut into
 * @pieces, and its fingerprint in @hex (manifest_digest(), against @old).
 */
static int plan_manifest(const struct vplan *p, struct syn_buf *text, struct syn__chunks *pieces,
			 const struct syn__chunks *old, char hex[SYN_SHA256_HEX_LEN + 1])
{
	json_t *f;
	size_t i;
	int rc = 0;

	syn_buf_clear(text);
	json_array_foreach(p->folders, i, f)
		rc = rc ? rc : syn_buf_printf(text, "d %s\n", json_string_value(f));
	for (i = 0; !rc && i < p->n; i++) {
		rc = syn_buf_puts(text, "l ");
		if (!rc)
			rc = syn_buf_puts(text, p->entries[i].dst);
		if (!rc)
			rc = syn_buf_puts(text, " ");
		if (!rc)
			rc = syn_buf_put(text, p->entries[i].sha256, SYN_SHA256_HEX_LEN);
		if (!rc)
			rc = syn_buf_puts(text, "\n");
	}
	return rc ? rc : manifest_digest(text, pieces, old, hex);
}

/* Document @name of views/<ui>/profiles/<profile>, or NULL when it is missing or unreadable. */
static json_t *read_view_doc(struct syn_store *st, const char *ui, const char *profile, const char *name)
{
	struct syn_buf rel = SYN_BUF_INIT;
	json_t *doc = NULL;

	if (!syn_buf_printf(&rel, "views/%s/profiles/%s/%s", ui, profile, name))
		syn_doc_read(&doc, syn_store_data_fd(st), rel.ptr, rel.ptr);
	syn_error_clear();
	syn_buf_dispose(&rel);
	return doc;
}

/*
 * The view's recorded metadata, or NULL: also when a change of its links
 * was interrupted (VIEW_DELTA is there), since its record no longer says
 * what the tree holds.
 */
static json_t *read_meta(struct syn_store *st, const char *ui, const char *profile)
{
	struct syn_buf rel = SYN_BUF_INIT;
	bool interrupted = syn_buf_printf(&rel, "views/%s/profiles/%s/" VIEW_DELTA, ui, profile) ||
			   syn_fs_exists(syn_store_data_fd(st), rel.ptr);

	syn_buf_dispose(&rel);
	syn_error_clear();
	return interrupted ? NULL : read_view_doc(st, ui, profile, VIEW_META);
}

/* What views before manifests listed of the blobs they link, by folder: {folder: [sha256, ...]}; still read. */
#define VIEW_LINKED ".synapse-linked"

/* One "l <dst> <sha256>" line of a manifest. */
struct link_line {
	const char *dst; /* in the manifest's text, @len bytes */
	size_t len;
	char sha[SYN_SHA256_HEX_LEN + 1];
};

/*
 * Whether @len bytes at @dst name a file inside a view: a folder and a
 * name, no empty, "." or ".." part, no NUL. A manifest that says otherwise
 * was damaged, and nothing it names is touched.
 */
static bool inside_view(const char *dst, size_t len)
{
	const char *p = dst, *end = dst + len, *part;

	if (!len || !memchr(dst, '/', len) || memchr(dst, '\0', len))
		return false;
	while (p <= end) {
		part = p;
		while (p < end && *p != '/')
			p++;
		if (p == part || (p - part == 1 && part[0] == '.') || (p - part == 2 && part[0] == '.' && part[1] == '.'))
			return false;
		p++;
	}
	return true;
}

/*
 * Read the manifest line at *@p (before @end) and move past it: 1 for a
 * link, in *@l; 2 for a folder line; 0 at the end; SYN_ECORRUPT (set) for a
 * line no manifest has.
 */
static int next_line(const char **p, const char *end, struct link_line *l)
{
	const char *at = *p, *nl;

	if (at >= end)
		return 0;
	nl = memchr(at, '\n', (size_t)(end - at));
	if (!nl)
		return syn_error_set(SYN_ECORRUPT, "view manifest line without an end");
	*p = nl + 1;
	if (nl - at >= 2 && at[0] == 'd' && at[1] == ' ')
		return 2;
	if (nl - at < 2 + 2 + SYN_SHA256_HEX_LEN || at[0] != 'l' || at[1] != ' ' || nl[-SYN_SHA256_HEX_LEN - 1] != ' ')
		return syn_error_set(SYN_ECORRUPT, "bad view manifest line");
	l->dst = at + 2;
	l->len = (size_t)(nl - SYN_SHA256_HEX_LEN - 1 - l->dst);
	memcpy(l->sha, nl - SYN_SHA256_HEX_LEN, SYN_SHA256_HEX_LEN);
	l->sha[SYN_SHA256_HEX_LEN] = '\0';
	if (!inside_view(l->dst, l->len) || !syn_name_is_sha256(l->sha))
		return syn_error_set(SYN_ECORRUPT, "bad view manifest line");
	return 1;
}

/*
 * A signature of folder @dir (inode and modification time): removing a
 * blob from it changes it. "" when it cannot vouch for anything: missing,
 * or changed so recently that a removal within the same clock tick would
 * not show.
 */
static json_t *dir_sig(const char *dir)
{
	struct stat sb;

	if (stat(dir, &sb) || !syn_fs_settled(&sb))
		return json_string("");
	return json_sprintf("%llu %lld.%09ld", (unsigned long long)sb.st_ino, (long long)sb.st_mtim.tv_sec,
			    sb.st_mtim.tv_nsec);
}

/*
 * {folder: signature} of every folder (key) of @dirs. Held trusting, a
 * folder @old already signs keeps that signature: what it vouches for was
 * not looked at, so it must stay for the next check that does look.
 */
static json_t *sign_dirs(struct syn_store *st, const json_t *dirs, const json_t *old)
{
	bool keep = syn__store_trusts(st, "");
	json_t *sigs = json_object(), *v, *was;
	const char *dir;

	json_object_foreach((json_t *)dirs, dir, v)
		if (!sigs || json_object_set_new(sigs, dir, keep && (was = json_object_get(old, dir)) ? json_incref(was)
											     : dir_sig(dir))) {
			json_decref(sigs);
			return NULL;
		}
	return sigs;
}

/* The VIEW_LINKED document of views/<ui>/profiles/<profile>, or an empty object. */
static json_t *read_linked(struct syn_store *st, const char *ui, const char *profile)
{
	json_t *linked = read_view_doc(st, ui, profile, VIEW_LINKED);

	return linked ? linked : json_object();
}

/*
 * How many blobs the view records it links are gone from the store. One
 * stat per blob folder while its signature in @meta holds; a folder that
 * changed since has each of its blobs looked for, and sets *@stale (the
 * signatures are worth taking again).
 */
static size_t links_gone(struct syn_store *st, const char *ui, const char *profile, const json_t *meta, bool *stale)
{
	json_t *changed = json_object(), *gone = json_object(), *linked = NULL, *sig, *v;
	struct syn_buf manifest = SYN_BUF_INIT, rel = SYN_BUF_INIT, path = SYN_BUF_INIT;
	const char *dir, *p, *end;
	struct link_line l;
	size_t i, n = 0;
	int kind;

	json_object_foreach(json_object_get(meta, "blob_dirs"), dir, sig) {
		json_t *now = dir_sig(dir);
		bool same = json_string_value(sig) && json_string_value(sig)[0] && json_equal(now, sig);

		json_decref(now);
		if (!same)
			json_object_set_new(changed, dir, json_true());
	}
	if (!json_object_size(changed))
		goto out;
	*stale = true;
	if (syn_buf_printf(&rel, "views/%s/profiles/%s/" VIEW_ENTRIES, ui, profile) ||
	    syn__chunks_read(syn_store_data_fd(st), rel.ptr, &manifest, NULL)) {
		/* a view from before manifests: its list of linked blobs by folder */
		syn_error_clear();
		linked = read_linked(st, ui, profile);
		json_object_foreach(changed, dir, sig)
			json_array_foreach(json_object_get(linked, dir), i, v)
				if (!syn_blob_exists(st, json_string_value(v)))
					n++;
		goto out;
	}
	/* each blob the view links in a changed folder is looked for, once */
	for (p = manifest.ptr, end = p + manifest.len; (kind = next_line(&p, end, &l)) > 0;) {
		const char *slash;

		if (kind != 1 || json_object_get(gone, l.sha) || syn_blob_path(st, l.sha, &path))
			continue;
		slash = strrchr(path.ptr, '/');
		path.ptr[slash ? (size_t)(slash - path.ptr) : 0] = '\0';
		if (json_object_get(changed, path.ptr) && !syn_blob_exists(st, l.sha)) {
			json_object_set_new(gone, l.sha, json_true());
			n++;
		}
	}
out:
	syn_error_clear();
	json_decref(changed);
	json_decref(gone);
	json_decref(linked);
	syn_buf_dispose(&manifest);
	syn_buf_dispose(&rel);
	syn_buf_dispose(&path);
	return n;
}

/* links_gone() of one view, found once however often a function asks. */
struct gone_memo {
	bool done;
	bool stale; /* as links_gone() sets it */
	size_t n;
};

/* How many blobs the view links are gone (links_gone()), through @g. */
static size_t gone_of(struct syn_store *st, const char *ui, const char *profile, const json_t *meta,
		      struct gone_memo *g)
{
	if (!g->done) {
		g->n = links_gone(st, ui, profile, meta, &g->stale);
		g->done = true;
	}
	return g->n;
}

/*
 * Whether @meta says the view is current: the same @key in @field ("key"
 * or "gen"), every blob it lacked still absent, and every blob it links
 * still there (a link to a removed blob dangles), asked through @g (gone_of()).
 */
static bool meta_current(struct syn_store *st, const char *ui, const char *profile, const json_t *meta,
			 const char *field, const char *key, struct gone_memo *g)
{
	json_t *m;
	size_t i;

	if (!meta || !key[0] || strcmp(syn_doc_str(meta, field, ""), key))
		return false;
	json_array_foreach(json_object_get(meta, "missing_blobs"), i, m)
		if (syn_blob_exists(st, syn_doc_str(m, "sha256", "")))
			return false;
	/* a shadowed file's blob is linked nowhere, but its going changes what is shadowed */
	json_array_foreach(json_object_get(meta, "shadowed_blobs"), i, m)
		if (!syn_blob_exists(st, json_string_value(m)))
			return false;
	/* after a command that removed no blob, the blobs a view links are all still there */
	return syn__store_trusts(st, "") || gone_of(st, ui, profile, meta, g) == 0;
}

/* Add the folder the primary backend keeps blob @sha in to @dirs (a set: {folder: true}). */
static int add_blob_dir(struct syn_store *st, json_t *dirs, const char *sha, struct syn_buf *path)
{
	const char *slash;
	int rc = syn_blob_path(st, sha, path);

	if (rc)
		return rc;
	slash = strrchr(path->ptr, '/');
	path->ptr[slash ? (size_t)(slash - path->ptr) : 0] = '\0';
	return json_object_get(dirs, path->ptr) || !json_object_set_new(dirs, path->ptr, json_true())
		? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

/* The folders of the blobs @p links, as a set, in *@out; the errors of syn_blob_path(). */
static int plan_blob_dirs(struct syn_store *st, const struct vplan *p, json_t **out)
{
	struct syn_buf path = SYN_BUF_INIT;
	size_t i;
	int rc;

	*out = json_object();
	rc = *out ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; !rc && i < p->n; i++)
		rc = add_blob_dir(st, *out, p->entries[i].sha256, &path);
	syn_buf_dispose(&path);
	return rc;
}

/* The stamp (syn__docs_pack_stamp()) of pack @name's documents now, as a new string; NULL on error. */
static json_t *pack_sig(struct syn_store *st, const char *name)
{
	return json_sprintf("%016llx", (unsigned long long)syn__docs_pack_stamp(st, name, NULL));
}

/*
 * The stamp pack @name's digest was taken for in this hold, as a new
 * string (a trusted digest's may be older than its documents): what a
 * report naming the pack was made from. pack_sig() for a name that is no
 * pack's. NULL on error.
 */
static json_t *plan_sig(struct syn_store *st, const char *name)
{
	const struct syn__pack_digest *d;

	if (!syn__digest_get(st, name, &d) && d->stamp[0])
		return json_string(d->stamp);
	syn_error_clear();
	return pack_sig(st, name);
}

/*
 * {pack: signature of its documents} of every pack @plan's report names
 * (shadowing, missing blobs, errors): a hand edit of one of them makes the
 * report stale even when no commit changed the generation. NULL on error.
 */
static json_t *sign_named_packs(struct syn_store *st, const json_t *plan)
{
	static const char *const fields[] = { "winner_pack", "loser_pack", "pack" };
	json_t *named = json_object(), *e;
	size_t i, f;
	int rc = named ? 0 : -1;

	json_array_foreach(json_object_get(plan, "error_packs"), i, e)
		if (!rc && json_string_value(e) && !json_object_get(named, json_string_value(e)))
			rc = json_object_set_new(named, json_string_value(e), plan_sig(st, json_string_value(e)));
	json_array_foreach(json_object_get(plan, "shadowed"), i, e)
		for (f = 0; !rc && f < 2; f++)
			if (!json_object_get(named, syn_doc_str(e, fields[f], "")))
				rc = json_object_set_new(named, syn_doc_str(e, fields[f], ""),
							 plan_sig(st, syn_doc_str(e, fields[f], "")));
	json_array_foreach(json_object_get(plan, "missing_blobs"), i, e)
		if (!rc && !json_object_get(named, syn_doc_str(e, fields[2], "")))
			rc = json_object_set_new(named, syn_doc_str(e, fields[2], ""),
						 plan_sig(st, syn_doc_str(e, fields[2], "")));
	if (rc) {
		json_decref(named);
		syn_error_set(SYN_ENOMEM, "out of memory");
		return NULL;
	}
	return named;
}

/* Whether every pack @meta's report names still has the documents it was built from. */
static bool named_packs_unchanged(struct syn_store *st, const json_t *meta)
{
	const char *name;
	json_t *sig;

	json_object_foreach(json_object_get(meta, "named_packs"), name, sig) {
		json_t *now = pack_sig(st, name);
		bool same = now && json_equal(now, sig);

		json_decref(now);
		if (!same)
			return false;
	}
	return true;
}

/* "<length>\t<checksum>" of the @len bytes at @p, as the sources header writes them, in @out. */
static int length_and_sum(struct syn_buf *out, const char *p, size_t len)
{
	syn_buf_clear(out);
	return syn_buf_printf(out, "%zu\t%016llx", len, (unsigned long long)syn_hash64(p, len));
}

/* Copy the @len bytes at @p into @out (@size bytes) as a string: false when they do not fit. */
static bool copy_field(char *out, size_t size, const char *p, size_t len)
{
	if (len >= size)
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

/*
 * The sources views/<ui>/profiles/@profile (its parent open at @pfd) was
 * planned from, in @o, when they are those its record @meta was made with
 * (the same key and plan) and whole; @o is left empty otherwise. Leaves no
 * error set. Their lines are indexed by old_sources_index().
 */
static void old_sources_load(int pfd, const char *profile, const json_t *meta, struct old_sources *o)
{
	struct syn_buf want = SYN_BUF_INIT, rel = SYN_BUF_INIT;
	const char *nl = NULL, *f[6], *q;
	size_t flen[6], k, len;

	memset(o, 0, sizeof(*o));
	o->text = (struct syn_buf)SYN_BUF_INIT;
	if (syn_buf_printf(&rel, "%s/" VIEW_SOURCES, profile) || syn__chunks_read(pfd, rel.ptr, &o->text, &o->pieces) ||
	    syn_buf_printf(&want, SOURCES_MAGIC "%s\t%s\t", syn_doc_str(meta, "key", ""), syn_doc_str(meta, "plan", "")) ||
	    o->text.len < want.len || memcmp(o->text.ptr, want.ptr, want.len) ||
	    !(nl = memchr(o->text.ptr, '\n', o->text.len)))
		goto bad;
	/* map, mark, manifest length and sum, text length and sum */
	for (q = o->text.ptr + want.len, k = 0; k < 6; k++) {
		const char *sep = memchr(q, k < 5 ? '\t' : '\n', (size_t)(nl + 1 - q));

		if (!sep)
			goto bad;
		f[k] = q;
		flen[k] = (size_t)(sep - q);
		q = sep + 1;
	}
	if (q != nl + 1 || flen[0] != SYN_SHA256_HEX_LEN || !copy_field(o->map, sizeof(o->map), f[0], flen[0]) ||
	    !copy_field(o->mark, sizeof(o->mark), f[1], flen[1]) ||
	    !copy_field(o->manifest, sizeof(o->manifest), f[2], (size_t)(f[3] + flen[3] - f[2])))
		goto bad;
	if (!strcmp(o->mark, "-"))
		o->mark[0] = '\0';
	len = (size_t)(o->text.ptr + o->text.len - (nl + 1));
	if (length_and_sum(&want, nl + 1, len) || (size_t)(f[5] + flen[5] - f[4]) != want.len ||
	    memcmp(f[4], want.ptr, want.len) || memchr(nl + 1, '\0', len)) /* no line has a NUL; a plan's text ends at it */
		goto bad;
	o->body = nl + 1;
	goto out;
bad:
	old_sources_dispose(o);
out:
	syn_error_clear();
	syn_buf_dispose(&want);
	syn_buf_dispose(&rel);
}

/* Index the lines of the sources @o holds by pack (old_lines()); they are dropped when one is not theirs. */
static void old_sources_index(struct old_sources *o)
{
	if (o->body && index_sources(o, o->body, o->text.ptr + o->text.len))
		old_sources_dispose(o);
	syn_error_clear();
}

/*
 * Write the sources of plan @p, for the record @meta and the manifest
 * @manifest written with them, as record @rel of the folder open at @fd,
 * cut against the sources @old read from there (NULL for none).
 */
static int write_sources(struct syn_store *st, int fd, const char *rel, const struct vplan *p,
			 const struct old_sources *old, const json_t *meta, const struct syn_buf *manifest)
{
	struct syn_buf head = SYN_BUF_INIT, mark = SYN_BUF_INIT, msum = SYN_BUF_INIT;
	struct syn__chunks pieces = { 0 };
	int rc = syn__digest_mark(st, &mark);

	if (!rc)
		rc = length_and_sum(&msum, manifest->ptr, manifest->len);
	if (!rc)
		rc = syn_buf_printf(&head, SOURCES_MAGIC "%s\t%s\t%s\t%s\t%s\t%zu\t%016llx\n", syn_doc_str(meta, "key", ""),
				    syn_doc_str(meta, "plan", ""), p->map, mark.len ? mark.ptr : "-", msum.ptr,
				    p->sources.len, (unsigned long long)syn_hash64(p->sources.ptr, p->sources.len));
	if (!rc)
		rc = syn__chunks_cut(&pieces, head.ptr, head.len, p->sources.ptr, p->sources.len, old ? &old->pieces : NULL);
	if (!rc)
		rc = syn__chunks_write(fd, rel, &pieces, false);
	syn__chunks_dispose(&pieces);
	syn_buf_dispose(&head);
	syn_buf_dispose(&mark);
	syn_buf_dispose(&msum);
	return rc;
}

/* Write @meta as views/<ui>/profiles/@profile's metadata, its folder open at @pfd. */
static int write_meta(int pfd, const char *profile, const json_t *meta)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc = syn_buf_printf(&rel, "%s/" VIEW_META, profile);

	if (!rc)
		rc = syn_doc_write(pfd, rel.ptr, meta);
	syn_buf_dispose(&rel);
	return rc;
}

/* Take the blob folder signatures of a current view again, so the next check is one stat per folder. */
static int resign(struct syn_store *st, int pfd, const char *profile, json_t *meta)
{
	json_t *sigs = sign_dirs(st, json_object_get(meta, "blob_dirs"), json_object_get(meta, "blob_dirs"));

	if (!sigs || json_object_set_new(meta, "blob_dirs", sigs))
		return syn_error_set(SYN_ENOMEM, "out of memory");
	return write_meta(pfd, profile, meta);
}

int syn__view_check(struct syn_store *st, const char *ui, const char *profile, const char *key, bool *current,
		     size_t *gone, json_t **notes)
{
	char own[SYN_SHA256_HEX_LEN + 1], fp[SYN_SHA256_HEX_LEN + 1];
	json_t *meta = read_meta(st, ui, profile);
	struct syn_buf text = SYN_BUF_INIT;
	struct syn__chunks pieces = { 0 };
	struct gone_memo g = { 0 };
	struct vplan plan = { 0 };
	const json_t *src = NULL;
	int rc = 0;

	*current = false;
	*notes = NULL;
	syn__store_hold(st);
	if (gone)
		*gone = meta ? gone_of(st, ui, profile, meta, &g) : 0;
	if (meta && !key && !syn__digest_source_key(st, profile, own))
		key = own;
	if (meta && key && meta_current(st, ui, profile, meta, "key", key, &g)) {
		*current = true;
		src = meta;
	} else if (!(rc = plan_make(st, ui, profile, NULL, &plan)) &&
		   !(rc = plan_manifest(&plan, &text, &pieces, NULL, fp))) {
		*current = meta && !strcmp(fp, syn_doc_str(meta, "plan", ""));
		src = plan.lists;
	}
	if (rc != SYN_ENOMEM)
		rc = 0;
	if (!rc && src && !(*notes = json_pack("{s:O, s:O}", "shadowed", json_object_get(src, "shadowed"), "errors",
					       json_object_get(src, "errors"))))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	syn__store_release(st);
	if (rc != SYN_ENOMEM)
		syn_error_clear();
	json_decref(meta);
	vplan_dispose(&plan);
	syn_buf_dispose(&text);
	syn__chunks_dispose(&pieces);
	return rc;
}

/* Add @ui to the array @into holds under @sha, once. */
static int add_user(json_t *into, const char *sha, const char *ui)
{
	json_t *uis = json_object_get(into, sha), *u;
	size_t i;

	if (!uis) {
		if (json_object_set_new(into, sha, json_array()))
			return syn_error_set(SYN_ENOMEM, "out of memory");
		uis = json_object_get(into, sha);
	}
	json_array_foreach(uis, i, u)
		if (!strcmp(json_string_value(u), ui))
			return 0;
	return oom_unless(!json_array_append_new(uis, json_string(ui)));
}

int syn__view_active_blobs(struct syn_store *st, const char *ui, json_t *into)
{
	struct syn_buf profile = SYN_BUF_INIT, rel = SYN_BUF_INIT, m = SYN_BUF_INIT;
	json_t *plan = NULL, *e;
	struct link_line l;
	const char *p, *end;
	size_t i;
	int rc, kind = 0;

	rc = syn__view_read_active(st, ui, &profile);
	if (rc == SYN_ENOTFOUND) { /* a UI with no active view links nothing */
		syn_error_clear();
		rc = 0;
		goto out;
	}
	if (!rc)
		rc = syn_buf_printf(&rel, "views/%s/profiles/%s/" VIEW_ENTRIES, ui, profile.ptr);
	if (!rc)
		rc = syn__chunks_read(syn_store_data_fd(st), rel.ptr, &m, NULL);
	if (rc == SYN_ENOTFOUND) {
		/* a view without its manifest (an older Synapse's) links what its plan says */
		syn_error_clear();
		rc = syn_view_plan(st, ui, profile.ptr, &plan);
		json_array_foreach(json_object_get(plan, "entries"), i, e)
			if (!rc)
				rc = add_user(into, syn_doc_str(e, "sha256", ""), ui);
		goto out;
	}
	p = m.ptr;
	end = m.ptr + m.len;
	while (!rc && (kind = next_line(&p, end, &l)) > 0)
		if (kind == 1)
			rc = add_user(into, l.sha, ui);
	if (!rc && kind < 0)
		rc = kind;
out:
	json_decref(plan);
	syn_buf_dispose(&profile);
	syn_buf_dispose(&rel);
	syn_buf_dispose(&m);
	return rc;
}

/* ---- build --------------------------------------------------------------- */

/*
 * Append @path as seen from directory @base (both absolute and normalized):
 * "../" for each component of @base below what the two share, then the
 * rest of @path.
 */
static int put_relative(struct syn_buf *out, const char *base, const char *path)
{
	size_t common = 0, i;
	const char *p;
	int rc = 0;

	for (i = 0; base[i] && base[i] == path[i]; i++)
		if (base[i] == '/')
			common = i;
	if (!base[i] && path[i] == '/')
		common = i;
	for (p = base + common; !rc && *p; p++)
		if (*p == '/')
			rc = syn_buf_puts(out, "../");
	return rc ? rc : syn_buf_puts(out, path + common + (path[common] == '/'));
}

/*
 * The relative link from view entry @dst to where the primary backend keeps
 * the blob: "../" up to data/ (views/<ui>/profiles/<profile>/, then each
 * folder of @dst), then the blob's path from there.
 */
static int link_target(struct syn_store *st, struct syn_buf *out, const char *dst, const char *sha)
{
	struct syn_buf blob = SYN_BUF_INIT;
	const char *p;
	int depth = 4, rc;

	syn_buf_clear(out);
	for (p = dst; *p; p++)
		if (*p == '/')
			depth++;
	rc = syn_blob_path(st, sha, &blob);
	while (!rc && depth-- > 0)
		rc = syn_buf_puts(out, "../");
	if (!rc)
		rc = put_relative(out, syn_store_data_root(st), blob.ptr);
	syn_buf_dispose(&blob);
	return rc;
}

/* Add folder @dir (@len bytes) to @dirs, a set of NUL-terminated names, unless it is there. */
static int add_dir(struct syn_buf *dirs, const char *dir, size_t len)
{
	const char *p;

	for (p = dirs->ptr; p < dirs->ptr + dirs->len; p += strlen(p) + 1)
		if (strlen(p) == len && !memcmp(p, dir, len))
			return 0;
	if (syn_buf_put(dirs, dir, len))
		return SYN_ENOMEM;
	return syn_buf_put(dirs, "", 1);
}

/*
 * Add folder @dir and every folder above it up to the view's root (".")
 * to @dirs: a link made or removed in @dir is durable once @dir is
 * synced, and a folder made for it once its parent is.
 */
static int add_dir_and_parents(struct syn_buf *dirs, const char *dir)
{
	const char *slash;
	size_t len = strlen(dir);
	int rc = add_dir(dirs, ".", 1);

	while (!rc && len) {
		rc = add_dir(dirs, dir, len);
		slash = memrchr(dir, '/', len);
		len = slash ? (size_t)(slash - dir) : 0;
	}
	return rc;
}

/*
 * Create every folder and link of @p inside the directory open at @root;
 * the folders links went into, with those above them, are added to @dirs.
 */
static int populate(struct syn_store *st, int root, const struct vplan *p, struct syn_buf *dirs)
{
	struct syn_buf target = SYN_BUF_INIT, dir = SYN_BUF_INIT, lastdir = SYN_BUF_INIT;
	json_t *f;
	size_t i;
	int rc = 0, dfd = -1;

	json_array_foreach(p->folders, i, f)
		rc = rc ? rc : syn_fs_mkdirs(root, json_string_value(f));
	for (i = 0; !rc && i < p->n; i++) {
		const char *dst = p->entries[i].dst, *slash = strrchr(dst, '/');

		syn_buf_clear(&dir);
		rc = syn_buf_put(&dir, dst, (size_t)(slash - dst));
		if (!rc && (dfd < 0 || strcmp(dir.ptr, lastdir.ptr))) {
			if (dfd >= 0)
				close(dfd);
			dfd = -1;
			rc = syn_fs_mkdirs(root, dir.ptr);
			if (!rc && (dfd = openat(root, dir.ptr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
				rc = syn_error_set_errno(SYN_EIO, errno, "cannot open view folder '%s'", dir.ptr);
			if (!rc)
				rc = syn_buf_sets(&lastdir, dir.ptr);
			if (!rc)
				rc = add_dir_and_parents(dirs, dir.ptr);
		}
		if (!rc)
			rc = link_target(st, &target, dst, p->entries[i].sha256);
		if (!rc && symlinkat(target.ptr, dfd, slash + 1) < 0)
			rc = errno == EPERM || errno == EOPNOTSUPP
				? syn_error_set(SYN_EUNSUPPORTED, "the filesystem does not support symbolic links, "
						"which Synapse views need")
				: syn_error_set_errno(SYN_EIO, errno, "cannot create view link '%s'", dst);
	}
	if (dfd >= 0)
		close(dfd);
	syn_buf_dispose(&target);
	syn_buf_dispose(&dir);
	syn_buf_dispose(&lastdir);
	return rc;
}

/*
 * fsync every directory of the staged tree, each once: the plan's @folders
 * (added to @dirs, with the folders above them) and the folders in @dirs,
 * so its links survive a crash once it is swapped in.
 */
static int sync_tree(int root, const json_t *folders, struct syn_buf *dirs)
{
	const char *p;
	json_t *f;
	size_t i;
	int rc = 0;

	if (!syn_fs_fsync_enabled())
		return 0;
	/* each folder once, with those above it */
	json_array_foreach(folders, i, f)
		rc = rc ? rc : add_dir_and_parents(dirs, json_string_value(f));
	for (p = dirs->ptr; !rc && p < dirs->ptr + dirs->len; p += strlen(p) + 1)
		rc = syn_fs_fsync_dir(root, p);
	return rc;
}

/*
 * A build's report: @rebuilt when a new tree was swapped in, @changed how
 * many links were added, replaced or removed in place.
 */
static json_t *build_report(const char *ui, const char *profile, bool rebuilt, size_t changed, const json_t *src)
{
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:O, s:O, s:O}", "ui", ui, "profile", profile, "rebuilt", rebuilt,
		"changed", (json_int_t)changed,
		"entries", json_is_array(json_object_get(src, "entries"))
			? (json_int_t)json_array_size(json_object_get(src, "entries"))
			: json_integer_value(json_object_get(src, "entries")),
		"shadowed", json_object_get(src, "shadowed"), "missing_blobs", json_object_get(src, "missing_blobs"),
		"errors", json_object_get(src, "errors"));
}


/* ---- delta --------------------------------------------------------------- */

/* Read record @name of views/<ui>/profiles/@profile (its parent open at @pfd) into @out, its pieces in @pieces. */
static int read_view_file(int pfd, const char *profile, const char *name, struct syn_buf *out,
			  struct syn__chunks *pieces)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc = syn_buf_printf(&rel, "%s/%s", profile, name);

	if (!rc)
		rc = syn__chunks_read(pfd, rel.ptr, out, pieces);
	syn_buf_dispose(&rel);
	return rc;
}

/* Tell the blob module that every blob manifest @m links is present (syn__blob_assume_present()). */
static void assume_linked_present(struct syn_store *st, const struct syn_buf *m)
{
	const char *p = m->ptr, *end = m->ptr + m->len;
	struct link_line l;
	int kind;

	while ((kind = next_line(&p, end, &l)) > 0)
		if (kind == 1)
			syn__blob_assume_present(st, l.sha);
	syn_error_clear();
}

/* The hash of @l's destination. */
static size_t hash_line(const struct link_line *l)
{
	return (size_t)syn_fnv1a(SYN_FNV1A_INIT, l->dst, l->len);
}

/*
 * An open-addressed index of @n lines by destination: slot values are
 * 1 + the line's position, 0 free. NULL without memory.
 */
static size_t *index_lines(const struct link_line *lines, size_t n, size_t *cap)
{
	size_t *slots, i, k;

	for (*cap = 64; *cap < 2 * n; *cap *= 2)
		;
	slots = calloc(*cap, sizeof(*slots));
	for (i = 0; slots && i < n; i++) {
		for (k = hash_line(&lines[i]) & (*cap - 1); slots[k]; k = (k + 1) & (*cap - 1))
			;
		slots[k] = i + 1;
	}
	return slots;
}

/* The position of the line of @lines (indexed in @slots) whose destination is @l's, or -1. */
static ptrdiff_t find_line(const struct link_line *lines, const size_t *slots, size_t cap, const struct link_line *l)
{
	size_t k;

	for (k = hash_line(l) & (cap - 1); slots[k]; k = (k + 1) & (cap - 1)) {
		const struct link_line *o = &lines[slots[k] - 1];

		if (o->len == l->len && !memcmp(o->dst, l->dst, l->len))
			return (ptrdiff_t)(slots[k] - 1);
	}
	return -1;
}

/*
 * The links of manifest @text in *@out (*@n of them), and the length of its
 * folder lines in *@dlen; SYN_ECORRUPT when a line is not one of a
 * manifest.
 */
static int parse_manifest(const char *text, size_t len, struct link_line **out, size_t *n, size_t *dlen)
{
	const char *p = text, *end = text + len;
	struct link_line l;
	size_t cap = 0;
	int kind;

	*out = NULL;
	*n = 0;
	*dlen = 0;
	while ((kind = next_line(&p, end, &l)) > 0) {
		if (kind == 2) {
			if (*n)
				return syn_error_set(SYN_ECORRUPT, "view manifest folder line after its links");
			*dlen = (size_t)(p - text);
			continue;
		}
		if (*n == cap) {
			struct link_line *grown = realloc(*out, (cap = cap ? cap * 2 : 256) * sizeof(**out));

			if (!grown)
				return syn_error_set(SYN_ENOMEM, "out of memory");
			*out = grown;
		}
		(*out)[(*n)++] = l;
	}
	return kind;
}

/* Whether position @at of @b begins a line. */
static bool line_starts(const struct syn_buf *b, size_t at)
{
	return !at || b->ptr[at - 1] == '\n';
}

/*
 * The length of the whole lines manifests @a and @b begin with alike; in
 * *@suf, that of the whole lines they end with alike, after those.
 */
static size_t common_lines(const struct syn_buf *a, const struct syn_buf *b, size_t *suf)
{
	enum { BLOCK = 4096 };
	size_t n = a->len < b->len ? a->len : b->len, pre = 0, s = 0;

	while (n - pre >= BLOCK && !memcmp(a->ptr + pre, b->ptr + pre, BLOCK))
		pre += BLOCK;
	while (pre < n && a->ptr[pre] == b->ptr[pre])
		pre++;
	while (pre && a->ptr[pre - 1] != '\n')
		pre--;
	while (n - pre - s >= BLOCK && !memcmp(a->ptr + a->len - s - BLOCK, b->ptr + b->len - s - BLOCK, BLOCK))
		s += BLOCK;
	while (s < n - pre && a->ptr[a->len - 1 - s] == b->ptr[b->len - 1 - s])
		s++;
	while (s && !(line_starts(a, a->len - s) && line_starts(b, b->len - s)))
		s--;
	*suf = s;
	return pre;
}

/* The length of the folder lines manifest @m begins with (next_line() says which those are). */
static size_t folder_lines(const struct syn_buf *m)
{
	const char *p = m->ptr, *end = m->ptr + m->len, *after = p;
	struct link_line l;

	while (next_line(&p, end, &l) == 2)
		after = p;
	syn_error_clear();
	return (size_t)(after - m->ptr);
}

/* The folders a delta touched, each once, to be synced. */
struct touched {
	struct syn_buf dirs; /* NUL-separated */
	struct syn_buf cur;  /* the folder @fd is open at */
	int fd;
};

/* Open folder @dir (of @dst, @dir_len bytes) of the view open at @vfd in @t, creating it when @create. */
static int touch_dir(struct touched *t, int vfd, const char *dst, size_t dir_len, bool create)
{
	int rc;

	if (t->fd >= 0 && t->cur.len == dir_len && !memcmp(t->cur.ptr, dst, dir_len))
		return 0;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	syn_buf_clear(&t->cur);
	rc = syn_buf_put(&t->cur, dst, dir_len);
	if (rc)
		return rc;
	t->fd = openat(vfd, t->cur.ptr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t->fd >= 0)
		return add_dir(&t->dirs, t->cur.ptr, t->cur.len);
	if (errno != ENOENT || !create)
		return errno == ENOENT ? 0 : syn_error_set_errno(SYN_EIO, errno, "cannot open view folder '%s'", t->cur.ptr);
	/* made now: its entry in the folder above must be synced too */
	rc = syn_fs_mkdirs(vfd, t->cur.ptr);
	if (!rc && (t->fd = openat(vfd, t->cur.ptr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open view folder '%s'", t->cur.ptr);
	return rc ? rc : add_dir_and_parents(&t->dirs, t->cur.ptr);
}

/* Link @l into the view open at @vfd: a temporary link renamed over its name. */
static int put_link(struct syn_store *st, int vfd, struct touched *t, const struct link_line *l, json_t *dirs)
{
	struct syn_buf dst = SYN_BUF_INIT, target = SYN_BUF_INIT, path = SYN_BUF_INIT;
	const char *slash;
	char tmp[64];
	int rc = syn_buf_put(&dst, l->dst, l->len);

	slash = rc ? NULL : strrchr(dst.ptr, '/');
	if (!rc && !slash)
		rc = syn_error_set(SYN_ECORRUPT, "view entry '%s' is not in a folder", dst.ptr);
	if (!rc)
		rc = touch_dir(t, vfd, dst.ptr, (size_t)(slash - dst.ptr), true);
	if (!rc)
		rc = link_target(st, &target, dst.ptr, l->sha);
	if (!rc)
		rc = add_blob_dir(st, dirs, l->sha, &path);
	snprintf(tmp, sizeof(tmp), SYN_FS_TMP_PREFIX "link.%ld", (long)getpid());
	if (!rc) {
		unlinkat(t->fd, tmp, 0);
		if (symlinkat(target.ptr, t->fd, tmp) < 0)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot create view link '%s'", dst.ptr);
		else if (renameat(t->fd, tmp, t->fd, slash + 1) < 0) {
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot put view link '%s' in place", dst.ptr);
			unlinkat(t->fd, tmp, 0);
		}
	}
	syn_buf_dispose(&dst);
	syn_buf_dispose(&target);
	syn_buf_dispose(&path);
	return rc;
}

/* Remove link @l from the view open at @vfd (already gone is fine), and its folder when that empties one the plan does not keep. */
static int drop_link(int vfd, struct touched *t, const struct link_line *l, const char *folders, size_t flen)
{
	struct syn_buf dst = SYN_BUF_INIT, line = SYN_BUF_INIT;
	const char *slash;
	int rc = syn_buf_put(&dst, l->dst, l->len);

	slash = rc ? NULL : strrchr(dst.ptr, '/');
	if (!rc && !slash)
		rc = syn_error_set(SYN_ECORRUPT, "view entry '%s' is not in a folder", dst.ptr);
	if (!rc)
		rc = touch_dir(t, vfd, dst.ptr, (size_t)(slash - dst.ptr), false);
	if (!rc && t->fd >= 0 && unlinkat(t->fd, slash + 1, 0) < 0 && errno != ENOENT)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot remove view link '%s'", dst.ptr);
	if (!rc && t->fd >= 0) {
		/* a folder only some link needed (an unmapped kind's) goes with its last link */
		rc = syn_buf_printf(&line, "d %s\n", t->cur.ptr);
		if (!rc && !memmem(folders, flen, line.ptr, line.len) && unlinkat(vfd, t->cur.ptr, AT_REMOVEDIR) == 0) {
			close(t->fd);
			t->fd = -1;
			syn_buf_clear(&t->cur);
		}
	}
	syn_buf_dispose(&dst);
	syn_buf_dispose(&line);
	return rc;
}

/*
 * Change the tree views/<ui>/profiles/<profile> (open at @vfd), whose
 * manifest is @old, into the one manifest @new describes, link by link;
 * *@changed counts them. 1 when it cannot (no usable manifest, other
 * folders): the caller builds the tree anew. VIEW_DELTA stays in the tree
 * from before the first change until the caller has written the new
 * record, so an interrupted change is never taken for a current view.
 * The folders of the blobs it links anew are added to @dirs.
 */
static int apply_delta(struct syn_store *st, int vfd, const struct syn_buf *old, const struct syn_buf *new,
		       json_t *dirs, size_t *changed)
{
	struct link_line *a = NULL, *b = NULL;
	struct touched t = { SYN_BUF_INIT, SYN_BUF_INIT, -1 };
	size_t na, nb, da, db, pre, suf, flen, cap = 0, i, *slots = NULL;
	unsigned char *kept = NULL;
	const char *p;
	int rc, mfd;

	*changed = 0;
	/*
	 * The lines both manifests begin and end with are the same links (a
	 * destination is in a manifest once): only the lines between are
	 * compared. The folder lines come first; those of a plan with other
	 * folders are left between, and the tree is built anew.
	 */
	pre = common_lines(old, new, &suf);
	rc = parse_manifest(old->ptr + pre, old->len - pre - suf, &a, &na, &da);
	if (!rc)
		rc = parse_manifest(new->ptr + pre, new->len - pre - suf, &b, &nb, &db);
	if (rc == SYN_ECORRUPT || (!rc && (da || db))) {
		syn_error_clear();
		rc = 1;
	}
	if (!rc && (!(slots = index_lines(a, na, &cap)) || !(kept = calloc(na + 1, 1))))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (rc)
		goto out;
	mfd = openat(vfd, VIEW_DELTA, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (mfd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot mark the view as changing");
		goto out;
	}
	close(mfd);
	rc = syn_fs_fsync(vfd, VIEW_DELTA);
	/* a link the new tree has under a name the old one had is kept, or replaced when its bytes differ */
	for (i = 0; !rc && i < nb; i++) {
		ptrdiff_t at = find_line(a, slots, cap, &b[i]);

		if (at >= 0)
			kept[at] = 1;
		if (at < 0 || memcmp(a[at].sha, b[i].sha, SYN_SHA256_HEX_LEN)) {
			rc = put_link(st, vfd, &t, &b[i], dirs);
			++*changed;
		}
	}
	flen = folder_lines(new);
	for (i = 0; !rc && i < na; i++)
		if (!kept[i]) {
			rc = drop_link(vfd, &t, &a[i], new->ptr, flen);
			++*changed;
		}
	for (p = t.dirs.ptr; !rc && syn_fs_fsync_enabled() && p < t.dirs.ptr + t.dirs.len; p += strlen(p) + 1)
		if (syn_fs_exists(vfd, p))
			rc = syn_fs_fsync_dir(vfd, p);
out:
	if (t.fd >= 0)
		close(t.fd);
	syn_buf_dispose(&t.dirs);
	syn_buf_dispose(&t.cur);
	free(slots);
	free(kept);
	free(a);
	free(b);
	return rc;
}

/* The generation a view's record names (syn__docs_generation_key()), as late as the command's commit needs. */
struct gen {
	const char *profile;
	bool late; /* the command's commit was being made as the view began: taken once it is made */
	char hex[SYN_SHA256_HEX_LEN + 1];
};

/* The generation @g in its hex and, when @meta is given, in its "gen": taken now when it was to come late. */
static int settle_gen(struct syn_store *st, struct gen *g, json_t *meta)
{
	int rc = 0;

	if (g->late) {
		syn__state_commit_join(st);
		rc = syn__docs_generation_key(st, g->profile, g->hex);
		g->late = false;
	}
	return rc ? rc : oom_unless(!meta || !json_object_set_new(meta, "gen", json_string(g->hex)));
}

/*
 * Write the record of a view (open at @vfd) whose tree now matches plan
 * @p: its manifest (cut into @pieces) and sources (cut against those of
 * @sources), then its metadata @meta, with "blob_dirs" the signatures of
 * the folders in @dirs (sign_dirs(), @old those of the record before) and
 * "gen" @g, settled last.
 */
static int write_record(struct syn_store *st, int vfd, const struct vplan *p, const struct syn_buf *manifest,
			const struct syn__chunks *pieces, const struct old_sources *sources, const json_t *dirs,
			const json_t *old, struct gen *g, json_t *meta)
{
	json_t *sigs = sign_dirs(st, dirs, old);
	int rc = sigs && !json_object_set_new(meta, "blob_dirs", sigs) ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");

	if (!rc)
		rc = syn__chunks_write(vfd, VIEW_ENTRIES, pieces, true);
	if (!rc)
		rc = write_sources(st, vfd, VIEW_SOURCES, p, sources, meta, manifest);
	if (!rc)
		rc = settle_gen(st, g, meta);
	if (!rc)
		rc = syn_doc_write(vfd, VIEW_META, meta);
	/* what views before manifests listed instead */
	if (!rc)
		unlinkat(vfd, VIEW_LINKED, 0);
	return rc;
}

/* ---- splice ----------------------------------------------------------------
 *
 * A command that changed a few packs (a trusting hold) makes each view it
 * refreshes from what the view recorded. Its sources are those recorded,
 * with the lines of the packs that changed since planned again: those the
 * hold does not trust, those the digest cache recorded anew since the mark
 * the sources were planned at, and those a blob they lacked has arrived
 * for. Its manifest is the one recorded, with only the destinations those
 * packs name or named folded again. The result is what plan_make() and
 * plan_manifest() make of the same packs, byte for byte; where the record
 * cannot say (an order of packs it does not explain, a line it should not
 * have), the view is planned the usual way.
 */

/*
 * A few byte strings (destinations, pack names), copied, indexed by hash,
 * with a sieve that answers most lookups of a string not there (the lines
 * of every other pack) without hashing it.
 */
struct few {
	struct syn_buf bytes; /* each string and a NUL */
	uint64_t sieve;       /* few_bit() of each string */
	struct few_item {
		size_t at, len;
		uint64_t h;
	} *items;
	size_t n, cap;
	size_t *slots; /* 1 + the item's position; 0 when free */
	size_t scap;
};

static void few_dispose(struct few *f)
{
	syn_buf_dispose(&f->bytes);
	free(f->items);
	free(f->slots);
	memset(f, 0, sizeof(*f));
}

/* The bit of the sieve for the @len bytes at @k: a mix of the length and four words spread over them. */
static uint64_t few_bit(const char *k, size_t len)
{
	uint64_t w[4] = { 0 }, m;
	size_t i, step = len > 8 ? (len - 8) / 3 : 0;

	for (i = 0; i < 4; i++)
		if (len >= 8)
			memcpy(&w[i], k + i * step, 8);
		else
			memcpy(&w[i], k, len);
	m = (w[0] ^ (w[1] << 21 | w[1] >> 43) ^ (w[2] << 42 | w[2] >> 22) ^ w[3] ^ len) * 0x9e3779b97f4a7c15ull;
	return (uint64_t)1 << (m >> 58);
}

/* The position in @f of the @len bytes at @k, or -1. */
static ptrdiff_t few_find(const struct few *f, const char *k, size_t len)
{
	uint64_t h;
	size_t i;

	if (!f->n || !(f->sieve & few_bit(k, len)))
		return -1;
	h = syn_hash64(k, len);
	for (i = (size_t)h & (f->scap - 1); f->slots[i]; i = (i + 1) & (f->scap - 1)) {
		const struct few_item *it = &f->items[f->slots[i] - 1];

		if (it->h == h && it->len == len && !memcmp(f->bytes.ptr + it->at, k, len))
			return (ptrdiff_t)(f->slots[i] - 1);
	}
	return -1;
}

/* The string at position @i of @f. */
static const char *few_str(const struct few *f, size_t i)
{
	return f->bytes.ptr + f->items[i].at;
}

/* Add the @len bytes at @k to @f, unless they are there. SYN_ENOMEM. */
static int few_add(struct few *f, const char *k, size_t len)
{
	struct few_item it = { f->bytes.len, len, syn_hash64(k, len) };
	size_t i;

	if (few_find(f, k, len) >= 0)
		return 0;
	if (f->n == f->cap) {
		struct few_item *grown = realloc(f->items, (f->cap ? f->cap * 2 : 16) * sizeof(*grown));

		if (!grown)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		f->items = grown;
		f->cap = f->cap ? f->cap * 2 : 16;
	}
	if ((f->n + 1) * 2 > f->scap) {
		size_t cap = f->scap ? f->scap * 2 : 32, *slots = calloc(cap, sizeof(*slots)), k2;

		if (!slots)
			return syn_error_set(SYN_ENOMEM, "out of memory");
		for (k2 = 0; k2 < f->n; k2++) {
			for (i = (size_t)f->items[k2].h & (cap - 1); slots[i]; i = (i + 1) & (cap - 1))
				;
			slots[i] = k2 + 1;
		}
		free(f->slots);
		f->slots = slots;
		f->scap = cap;
	}
	if (syn_buf_put(&f->bytes, k, len) || syn_buf_put(&f->bytes, "", 1))
		return SYN_ENOMEM;
	for (i = (size_t)it.h & (f->scap - 1); f->slots[i]; i = (i + 1) & (f->scap - 1))
		;
	f->items[f->n] = it;
	f->slots[i] = ++f->n;
	f->sieve |= few_bit(k, len);
	return 0;
}

/* few_add() for syn__digest_changed_since(). */
static int add_changed(void *arg, const char *name, size_t len)
{
	return few_add(arg, name, len);
}

/*
 * The escaped field @f (@len bytes) as it reads, NUL-terminated, in @tmp
 * (*@n its length). NULL without memory.
 */
static const char *unfield(const char *f, size_t len, struct syn_buf *tmp, size_t *n)
{
	char *field;
	bool eol;

	syn_buf_clear(tmp);
	if (syn_buf_put(tmp, f, len))
		return NULL;
	syn_field_take(tmp->ptr, &field, &eol);
	*n = strlen(field);
	return field;
}

/* What a splice works with. */
struct splice {
	struct syn_store *st;
	const char *ui;
	struct vplan *p;
	const json_t *map;
	struct few changed; /* packs the digest cache recorded anew since the mark (as the file escapes them) */
	struct few dsts;    /* destinations the packs planned again name or named */
	struct syn_buf tmp, tmp2;
};

/* The lines of one pack in a sources text: its "p" line's name and part (escaped), and where the next begin. */
struct block {
	const char *at, *next, *name, *part;
	size_t nlen, plen;
	bool missing; /* it has "m" lines */
};

/* The pack whose lines begin at @at of a text ending at @end, in @b: false when no "p" line begins there. */
static bool block_at(const char *at, const char *end, struct block *b)
{
	const char *nl = memchr(at, '\n', (size_t)(end - at)), *tab;

	if (!nl || nl - at < 2 || at[0] != 'p' || at[1] != '\t' || !(tab = memchr(at + 2, '\t', (size_t)(nl - at - 2))))
		return false;
	*b = (struct block){ .at = at, .name = at + 2, .nlen = (size_t)(tab - at - 2), .part = tab + 1,
			     .plen = (size_t)(nl - tab - 1) };
	for (at = nl + 1; at < end && !(at[0] == 'p' && at[1] == '\t'); at = nl + 1) {
		if (!(nl = memchr(at, '\n', (size_t)(end - at))))
			return false;
		b->missing = b->missing || at[0] == 'm';
	}
	b->next = at;
	return true;
}

/* Whether the pack of @b changed since its lines were recorded (above). */
static bool block_changed(struct splice *sp, const struct block *b)
{
	return few_find(&sp->changed, b->name, b->nlen) >= 0 || (b->missing && missing_arrived(sp->st, b->at, b->next));
}

/* Add the destinations the "c" lines in @p..@end link to those folded again. */
static int note_dsts(struct splice *sp, const char *p, const char *end)
{
	const char *nl, *tab, *dst;
	size_t n;
	int rc = 0;

	for (; !rc && p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (p[0] != 'c')
			continue;
		if (!(tab = memchr(p + 2, '\t', (size_t)(nl - p - 2))))
			return 1;
		dst = unfield(p + 2, (size_t)(tab - p - 2), &sp->tmp, &n);
		rc = dst ? few_add(&sp->dsts, dst, n) : SYN_ENOMEM;
	}
	return rc;
}

/* Plan pack @name's lines again, after the sources so far, and note what they link. */
static int replan(struct splice *sp, const char *name)
{
	const struct syn__pack_digest *d = NULL;
	size_t from = sp->p->sources.len;
	int got = syn__digest_get(sp->st, name, &d), rc;

	if (got == SYN_ENOMEM)
		return got;
	rc = give_pack(sp->st, name, got ? NULL : d, sp->map, &sp->p->sources);
	if (!rc)
		rc = syn__digest_key_part(got ? NULL : d, &sp->p->parts);
	syn_error_clear();
	return rc ? rc : note_dsts(sp, sp->p->sources.ptr + from, sp->p->sources.ptr + sp->p->sources.len);
}

/* Add pack @name to those that changed, escaped as the sources write it. */
static int add_changed_name(struct splice *sp, const char *name)
{
	syn_buf_clear(&sp->tmp);
	return syn_buf_put_field(&sp->tmp, name) ? SYN_ENOMEM : few_add(&sp->changed, sp->tmp.ptr, sp->tmp.len);
}

/* Whether pack @name (of the profile) changed, as far as the hold and the digest cache say. */
static bool name_changed(struct splice *sp, const char *name)
{
	return strpbrk(name, "\\\t\n") || few_find(&sp->changed, name, strlen(name)) >= 0;
}

/* Whether escaped field @f (@len bytes) reads @s. */
static bool field_is(struct splice *sp, const char *f, size_t len, const char *s)
{
	size_t n;
	const char *u;

	if (!memchr(f, '\\', len))
		return len == strlen(s) && !memcmp(f, s, len);
	u = unfield(f, len, &sp->tmp2, &n);
	return u && !strcmp(u, s);
}

/*
 * The sources of the plan, in sp->p: the packs of @packs in order, each
 * with its recorded lines (in @o) when it did not change, planned again
 * when it did. 1 when the record does not explain the order of the packs.
 */
static int splice_sources(struct splice *sp, const struct old_sources *o, const struct syn__names *packs)
{
	const char *at = o->body, *end = o->text.ptr + o->text.len, *part, *run = at, *run_end = at;
	struct block b;
	bool have = false;
	size_t i, n;
	int rc = syn_buf_grow(&sp->p->sources, o->text.len);

	for (i = 0; !rc && i < packs->n; i++) {
		const char *name = packs->v[i];

		for (;;) {
			if (!have && at < end && !(have = block_at(at, end, &b)))
				return 1;
			if (have && field_is(sp, b.name, b.nlen, name)) {
				have = false;
				at = b.next;
				if (!block_changed(sp, &b)) {
					/* kept: copied with the blocks kept next to it */
					if (b.at != run_end) {
						rc = syn_buf_put(&sp->p->sources, run, (size_t)(run_end - run));
						run = b.at;
					}
					run_end = b.next;
					part = memchr(b.part, '\\', b.plen) ? unfield(b.part, b.plen, &sp->tmp, &n) : b.part;
					n = part == b.part ? b.plen : n;
					if (!rc)
						rc = part ? syn_buf_put(&sp->p->parts, part, n) : SYN_ENOMEM;
					break;
				}
				rc = syn_buf_put(&sp->p->sources, run, (size_t)(run_end - run));
				run = run_end = b.next;
				if (!rc)
					rc = note_dsts(sp, b.at, b.next);
				if (!rc)
					rc = replan(sp, name);
				break;
			}
			if (have && block_changed(sp, &b)) {
				/* a pack gone from the profile, or moved in it */
				have = false;
				at = b.next;
				if ((rc = note_dsts(sp, b.at, b.next)) != 0)
					return rc;
				continue;
			}
			if (!name_changed(sp, name))
				return 1;
			rc = syn_buf_put(&sp->p->sources, run, (size_t)(run_end - run));
			run = run_end = at;
			if (!rc)
				rc = replan(sp, name);
			break;
		}
		if (rc)
			return rc;
	}
	if (!rc)
		rc = syn_buf_put(&sp->p->sources, run, (size_t)(run_end - run));
	while (!rc && (have || at < end)) {
		if ((!have && !block_at(at, end, &b)) || !block_changed(sp, &b))
			return 1;
		have = false;
		at = b.next;
		rc = note_dsts(sp, b.at, b.next);
	}
	return rc;
}

/* What folding again found of a destination: where its hash goes in the manifest, and its last giver. */
struct dfold {
	bool seen;
	size_t sha_at;
	const char *sha;         /* in the sources */
	const char *pack;        /* escaped, in the sources */
	size_t plen;
};

/* A shadow folding again found, in order. */
struct dshadow {
	size_t dst; /* in sp->dsts */
	const char *winner, *loser, *loser_sha;
	size_t wlen, llen;
};

/* The link line of a manifest at @p (before @end), in @l; its end in *@nl. false when it is none. */
static bool manifest_link(const char *p, const char *end, struct link_line *l, const char **nl)
{
	*nl = memchr(p, '\n', (size_t)(end - p));
	if (!*nl || *nl - p < 2 + 2 + SYN_SHA256_HEX_LEN || p[0] != 'l' || p[1] != ' ')
		return false;
	l->dst = p + 2;
	l->len = (size_t)(*nl - SYN_SHA256_HEX_LEN - 1 - l->dst);
	return true;
}

/* Append a shadow of @sp->dsts' destination @s to @shadowed and @blobs. */
static int put_shadow(struct splice *sp, const struct dshadow *s, json_t *shadowed, json_t *blobs)
{
	size_t n;
	const char *winner = unfield(s->winner, s->wlen, &sp->tmp, &n), *loser = unfield(s->loser, s->llen, &sp->tmp2, &n);

	return oom_unless(winner && loser && !json_array_append_new(shadowed, json_pack("{s:s, s:s, s:s, s:s}", "ui",
		sp->ui, "dst_relpath", few_str(&sp->dsts, s->dst), "winner_pack", winner, "loser_pack", loser)) &&
		!json_array_append_new(blobs, json_stringn(s->loser_sha, SYN_SHA256_HEX_LEN)));
}

/*
 * The shadows of the plan: those @old (a record's lists) reports of the
 * destinations not folded again, and the @n found in @found of those that
 * were, in sort_shadowed()'s order. 1 when @old is not in that order.
 */
static int splice_shadows(struct splice *sp, const json_t *old, const struct dshadow *found, size_t n)
{
	json_t *was = json_object_get(old, "shadowed"), *was_blobs = json_object_get(old, "shadowed_blobs");
	json_t *shadowed = json_array(), *blobs = json_array();
	struct shadow_at *at = calloc(n + 1, sizeof(*at));
	const char *prev = "";
	size_t i, k = 0;
	int rc = oom_unless(shadowed && blobs && at);

	if (!rc && json_array_size(was) != json_array_size(was_blobs))
		rc = 1;
	for (i = 0; !rc && i < n; i++)
		at[i] = (struct shadow_at){ few_str(&sp->dsts, found[i].dst), i };
	if (!rc)
		qsort(at, n, sizeof(*at), shadow_cmp);
	for (i = 0; !rc && i <= json_array_size(was); i++) {
		json_t *s = json_array_get(was, i);
		const char *dst = s ? syn_doc_str(s, "dst_relpath", NULL) : NULL;

		if (s && (!dst || strcmp(prev, dst) > 0)) {
			rc = 1;
			break;
		}
		/* the shadows found of destinations before this one come first */
		while (!rc && k < n && (!dst || strcmp(at[k].dst, dst) < 0))
			rc = put_shadow(sp, &found[at[k++].i], shadowed, blobs);
		if (rc || !s)
			break;
		prev = dst;
		if (few_find(&sp->dsts, dst, strlen(dst)) < 0)
			rc = oom_unless(!json_array_append(shadowed, s) &&
					!json_array_append(blobs, json_array_get(was_blobs, i)));
	}
	if (!rc)
		rc = oom_unless(!json_object_set(sp->p->lists, "shadowed", shadowed) &&
				!json_object_set(sp->p->lists, "shadowed_blobs", blobs));
	json_decref(shadowed);
	json_decref(blobs);
	free(at);
	return rc;
}

/* Note pack @pack (escaped, @len bytes) among those leaving something out when its lines added errors. */
static int splice_error_pack(struct splice *sp, const json_t *errors, const char *pack, size_t len, size_t before)
{
	size_t n;
	const char *name;

	if (!pack || json_array_size(errors) == before)
		return 0;
	name = unfield(pack, len, &sp->tmp, &n);
	return name ? note_error_pack(sp->p, name, before) : SYN_ENOMEM;
}

/*
 * Fold the sources of the plan into its manifest, @man, from the
 * manifest @old recorded with the sources: the destinations in sp->dsts
 * folded again, every other line as it was. Its lists too, with the
 * shadows of the record @meta. 1 when @old does not explain the sources.
 */
static int splice_fold(struct splice *sp, const struct syn_buf *old, const json_t *meta, struct syn_buf *man)
{
	struct vplan *p = sp->p;
	const char *q, *nl, *end = p->sources.ptr + p->sources.len, *pack = NULL;
	const char *mc, *mend = old->ptr + old->len, *run, *checked = NULL, *mnl = NULL;
	struct dfold *ds = calloc(sp->dsts.n + 1, sizeof(*ds));
	struct dshadow *found = NULL;
	size_t nfound = 0, capfound = 0, plen = 0, before = 0, i, n;
	struct link_line ml = { 0 };
	const json_t *errors = json_object_get(p->lists, "errors");
	json_t *f;
	int rc = oom_unless(ds != NULL && !syn_buf_grow(man, old->len)); /* about the record's length */

	/* the folders: the plan's, as the record has them */
	json_array_foreach(rc ? NULL : p->folders, i, f)
		rc = syn_buf_printf(man, "d %s\n", json_string_value(f));
	if (!rc && (folder_lines(old) != man->len || memcmp(old->ptr, man->ptr, man->len)))
		rc = 1;
	run = mc = old->ptr + man->len;
	for (q = p->sources.ptr; !rc && q < end; q = nl + 1) {
		char type = q[0], *fv[3];
		const char *tab, *sha, *dst;
		ptrdiff_t d;
		bool eol;
		int k;

		nl = memchr(q, '\n', (size_t)(end - q));
		if (!nl || nl - q < 2 || q[1] != '\t' || !strchr("pcme", type)) {
			rc = 1;
			break;
		}
		if (type == 'p') {
			rc = splice_error_pack(sp, errors, pack, plen, before);
			pack = q + 2;
			plen = (size_t)((const char *)memchr(pack, '\t', (size_t)(nl - pack)) - pack);
			before = json_array_size(errors);
			continue;
		}
		if (type != 'c') {
			/* a missing blob or a problem, as fold() reads it */
			syn_buf_clear(&sp->tmp2);
			if (syn_buf_put(&sp->tmp2, q + 2, (size_t)(nl + 1 - q - 2))) {
				rc = SYN_ENOMEM;
				break;
			}
			for (dst = sp->tmp2.ptr, k = 0, eol = false; !eol && k < line_fields[(unsigned char)type]; k++)
				dst = syn_field_take((char *)dst, &fv[k], &eol);
			if (!eol || k != line_fields[(unsigned char)type] || !pack || !(dst = unfield(pack, plen, &sp->tmp, &n)))
				rc = !eol || k != line_fields[(unsigned char)type] || !pack ? 1 : SYN_ENOMEM;
			else
				rc = fold_problem(p, type, fv, dst);
			continue;
		}
		tab = memchr(q + 2, '\t', (size_t)(nl - q - 2));
		if (!pack || !tab || nl - tab < SYN_SHA256_HEX_LEN + 2 || tab[SYN_SHA256_HEX_LEN + 1] != '\t') {
			rc = 1;
			break;
		}
		sha = tab + 1;
		n = (size_t)(tab - q - 2);
		dst = memchr(q + 2, '\\', n) ? unfield(q + 2, n, &sp->tmp, &n) : q + 2;
		if (!dst) {
			rc = SYN_ENOMEM;
			break;
		}
		if ((d = few_find(&sp->dsts, dst, n)) >= 0) {
			struct dfold *e = &ds[d];

			if (!e->seen) {
				char hex[SYN_SHA256_HEX_LEN + 1];

				memcpy(hex, sha, SYN_SHA256_HEX_LEN);
				hex[SYN_SHA256_HEX_LEN] = '\0';
				if (!inside_view(dst, n) || !syn_name_is_sha256(hex)) {
					rc = 1;
					break;
				}
				/* a link where it first shows, its hash that of its last giver (below) */
				rc = syn_buf_put(man, run, (size_t)(mc - run));
				if (!rc)
					rc = syn_buf_puts(man, "l ");
				if (!rc)
					rc = syn_buf_put(man, dst, n);
				if (!rc)
					rc = syn_buf_puts(man, " ");
				e->sha_at = man->len;
				if (!rc)
					rc = syn_buf_printf(man, "%s\n", hex);
				run = mc;
				e->seen = true;
				p->n++;
			} else if (memcmp(e->sha, sha, SYN_SHA256_HEX_LEN)) {
				if (nfound == capfound) {
					struct dshadow *grown = realloc(found, (capfound = capfound ? capfound * 2 : 16) *
									      sizeof(*grown));

					if (!grown) {
						rc = syn_error_set(SYN_ENOMEM, "out of memory");
						break;
					}
					found = grown;
				}
				found[nfound++] = (struct dshadow){ (size_t)d, pack, e->pack, e->sha, plen, e->plen };
			}
			e->sha = sha;
			e->pack = pack;
			e->plen = plen;
			continue;
		}
		/* a destination not folded again: its line is the record's, where the record has it */
		while (mc < mend && mc != checked) {
			if (!manifest_link(mc, mend, &ml, &mnl)) {
				rc = 1;
				break;
			}
			if (few_find(&sp->dsts, ml.dst, ml.len) < 0) {
				checked = mc;
				break;
			}
			rc = syn_buf_put(man, run, (size_t)(mc - run));
			run = mc = mnl + 1;
		}
		if (!rc && mc < mend && ml.len == n && !memcmp(ml.dst, dst, n)) {
			mc = mnl + 1;
			p->n++;
		}
	}
	if (!rc)
		rc = splice_error_pack(sp, errors, pack, plen, before);
	/* what the record links after the last line taken is folded again, or the record does not explain it */
	while (!rc && mc < mend) {
		if (!manifest_link(mc, mend, &ml, &mnl) || few_find(&sp->dsts, ml.dst, ml.len) < 0) {
			rc = 1;
			break;
		}
		rc = syn_buf_put(man, run, (size_t)(mc - run));
		run = mc = mnl + 1;
	}
	if (!rc)
		rc = syn_buf_put(man, run, (size_t)(mc - run));
	for (i = 0; !rc && i < sp->dsts.n; i++)
		if (ds[i].seen)
			memcpy(man->ptr + ds[i].sha_at, ds[i].sha, SYN_SHA256_HEX_LEN);
	if (!rc)
		rc = splice_shadows(sp, meta, found, nfound);
	free(found);
	free(ds);
	return rc;
}

/*
 * Plan @ui's view of @profile into @p, and its manifest into @man, by
 * splicing (above) the sources @o and the manifest @old its record @meta
 * was written with: 0, or 1 when the record cannot say (@p and @man are
 * then the caller's to dispose and clear), or an error.
 */
static int plan_splice(struct syn_store *st, const char *ui, const char *profile, const struct old_sources *o,
		       const struct syn_buf *old, const json_t *meta, struct vplan *p, struct syn_buf *man)
{
	struct splice sp = { .st = st, .ui = ui, .p = p, .tmp = SYN_BUF_INIT, .tmp2 = SYN_BUF_INIT };
	struct syn_buf sig = SYN_BUF_INIT;
	const char *const *untrusted;
	size_t nuntrusted = syn__store_untrusted(st, &untrusted), i;
	const struct syn__names *packs = NULL;
	json_t *map = NULL;
	int rc = plan_begin(st, ui, p, &map);

	sp.map = map;
	if (!rc && (!o->mark[0] || strcmp(o->map, p->map)))
		rc = 1; /* no mark to ask the digest cache from, or the UI's folders changed */
	if (!rc && (length_and_sum(&sig, old->ptr, old->len) || strcmp(sig.ptr, o->manifest)))
		rc = 1; /* not the manifest written with the sources */
	if (!rc)
		rc = syn__digest_changed_since(st, o->mark, add_changed, &sp.changed);
	for (i = 0; !rc && i < nuntrusted; i++)
		rc = add_changed_name(&sp, untrusted[i]);
	if (!rc)
		rc = syn__docs_profile_packs(st, profile, &packs);
	if (!rc)
		rc = splice_sources(&sp, o, packs);
	if (!rc)
		rc = splice_fold(&sp, old, meta, man);
	if (!rc)
		rc = syn__digest_key_of(st, profile, &p->parts, p->key);
	if (!rc)
		rc = oom_unless(!json_object_set_new(p->lists, "entries", json_integer((json_int_t)p->n)));
	if (!rc)
		syn__digest_flush(st);
	if (rc == SYN_ECORRUPT) {
		syn_error_clear();
		rc = 1;
	}
	json_decref(map);
	few_dispose(&sp.changed);
	few_dispose(&sp.dsts);
	syn_buf_dispose(&sp.tmp);
	syn_buf_dispose(&sp.tmp2);
	syn_buf_dispose(&sig);
	return rc;
}

int syn_view_build(struct syn_store *st, const char *ui, const char *profile, bool force, json_t **report)
{
	return syn__view_build_cached(st, ui, profile, force, NULL, report);
}

int syn__view_build_cached(struct syn_store *st, const char *ui, const char *profile, bool force,
			   struct syn__view_key_cache *cache, json_t **report)
{
	char key[SYN_SHA256_HEX_LEN + 1], fp[SYN_SHA256_HEX_LEN + 1];
	/* while the command's commit is being made, the generation is taken after the plan: it names that commit */
	struct gen gen = { profile, syn__state_commit_running(st), "" };
	struct syn_buf dir = SYN_BUF_INIT, stage = SYN_BUF_INIT, manifest = SYN_BUF_INIT, old = SYN_BUF_INIT;
	struct syn_buf made = SYN_BUF_INIT;
	json_t *meta = NULL, *newmeta = NULL, *dirs = NULL;
	struct old_sources sources = { 0 };
	struct syn__chunks pieces = { 0 }, old_pieces = { 0 };
	struct vplan plan = { 0 };
	int dfd, pfd = -1, sfd = -1, rc;
	const char *dirname;
	struct gone_memo g = { 0 };
	struct stat sb;
	bool exists, planned = false, spliced = false, have_old = false;
	json_t *v;

	*report = NULL;
	key[0] = '\0';
	syn__store_hold(st);
	rc = syn_name_check_ident("UI name", ui);
	if (!rc)
		rc = syn_name_check_profile(profile);
	if (!rc && !gen.late)
		rc = syn__docs_generation_key(st, profile, gen.hex);
	dfd = syn_store_data_fd(st);
	if (!rc && dfd < 0)
		rc = dfd;
	if (!rc)
		rc = syn_buf_printf(&dir, "views/%s/profiles", ui);
	if (!rc)
		rc = syn_fs_mkdirs(dfd, dir.ptr);
	if (rc)
		goto out;
	pfd = openat(dfd, dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s/%s'", syn_store_data_root(st), dir.ptr);
		goto out;
	}
	exists = fstatat(pfd, profile, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
	meta = exists && !force ? read_meta(st, ui, profile) : NULL;
	if (meta_current(st, ui, profile, meta, "gen", gen.hex, &g) && named_packs_unchanged(st, meta)) {
		rc = g.stale ? resign(st, pfd, profile, meta) : 0;
		if (!rc)
			*report = build_report(ui, profile, false, 0, meta);
		goto out;
	}
	/*
	 * Held trusting, the key comes from the packs' records, not from their
	 * documents' metadata, and what the view recorded each unchanged pack
	 * gives it holds: the plan reads the changed packs alone, and says the key.
	 */
	if (exists && !force && meta && syn__store_trusts(st, "")) {
		old_sources_load(pfd, profile, meta, &sources);
		if (sources.body && !read_view_file(pfd, profile, VIEW_ENTRIES, &old, &old_pieces)) {
			have_old = true;
			rc = plan_splice(st, ui, profile, &sources, &old, meta, &plan, &manifest);
			if (rc && rc != 1)
				goto out;
			spliced = !rc;
			if (rc) {
				vplan_dispose(&plan);
				syn_buf_clear(&manifest);
				old_sources_index(&sources);
			}
		}
		syn_error_clear();
		rc = 0;
		if (!spliced && sources.n)
			rc = plan_make(st, ui, profile, &sources, &plan);
		if (rc)
			goto out;
		planned = spliced || sources.n;
		if (planned)
			memcpy(key, plan.key, sizeof(key));
	}
	if (!planned && cache && cache->key[0] && !strcmp(cache->profile, profile)) {
		memcpy(key, cache->key, sizeof(key));
	} else if (!planned) {
		rc = syn__digest_source_key(st, profile, key);
		if (rc)
			goto out;
	}
	if (cache && !(cache->key[0] && !strcmp(cache->profile, profile))) {
		memcpy(cache->profile, profile, strlen(profile) + 1);
		memcpy(cache->key, key, sizeof(key));
	}
	if (meta_current(st, ui, profile, meta, "key", key, &g)) {
		rc = settle_gen(st, &gen, NULL);
		if (rc)
			goto out;
		/* current, but a commit since changed the generation: remember the new one */
		if (strcmp(syn_doc_str(meta, "gen", ""), gen.hex) || g.stale) {
			rc = json_object_set_new(meta, "gen", json_string(gen.hex)) ? syn_error_set(SYN_ENOMEM, "out of memory")
										: 0;
			if (!rc)
				rc = resign(st, pfd, profile, meta);
		}
		if (!rc)
			*report = build_report(ui, profile, false, 0, meta);
		goto out;
	}
	if (exists && !force && meta && !have_old) {
		if (read_view_file(pfd, profile, VIEW_ENTRIES, &old, &old_pieces)) {
			syn_error_clear();
			syn_buf_clear(&old);
		} else if (!planned && syn__store_trusts(st, "")) {
			/* every blob the view links is still there: the plan need not ask again */
			assume_linked_present(st, &old);
		}
	}
	if (!planned)
		rc = plan_make(st, ui, profile, NULL, &plan);
	if (!rc)
		rc = spliced ? manifest_digest(&manifest, &pieces, &old_pieces, fp)
			     : plan_manifest(&plan, &manifest, &pieces, &old_pieces, fp);
	if (rc)
		goto out;
	newmeta = json_pack("{s:s, s:s, s:s, s:I, s:O, s:O, s:O, s:O, s:o}", "key", key, "gen", gen.hex, "plan", fp,
			    "entries", (json_int_t)plan.n, "shadowed", json_object_get(plan.lists, "shadowed"),
			    "shadowed_blobs", json_object_get(plan.lists, "shadowed_blobs"),
			    "missing_blobs", json_object_get(plan.lists, "missing_blobs"), "errors",
			    json_object_get(plan.lists, "errors"), "named_packs", sign_named_packs(st, plan.lists));
	/* the folders of the blobs linked so far: a delta adds to them, a new tree starts afresh */
	dirs = json_object();
	if (!newmeta || !dirs) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(json_object_get(meta, "blob_dirs"), dirname, v)
		if (!rc && json_object_set_new(dirs, dirname, json_true()))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (rc)
		goto out;
	if (meta && !strcmp(syn_doc_str(meta, "plan", ""), fp)) {
		/* same tree, newer documents: only remember the new key, and what the packs give now */
		json_t *sigs = sign_dirs(st, dirs, json_object_get(meta, "blob_dirs"));
		struct syn_buf rel = SYN_BUF_INIT;

		rc = sigs && !json_object_set_new(newmeta, "blob_dirs", sigs) ? 0
			: syn_error_set(SYN_ENOMEM, "out of memory");
		if (!rc)
			rc = syn_buf_printf(&rel, "%s/" VIEW_SOURCES, profile);
		if (!rc)
			rc = write_sources(st, pfd, rel.ptr, &plan, &sources, newmeta, &manifest);
		syn_buf_dispose(&rel);
		if (!rc)
			rc = settle_gen(st, &gen, newmeta);
		if (!rc)
			rc = write_meta(pfd, profile, newmeta);
		if (!rc)
			*report = build_report(ui, profile, false, 0, plan.lists);
		goto out;
	}
	if (exists && !force && meta) {
		/* the tree is there and its record says what it holds: change only what differs */
		size_t changed = 0;
		int vfd = openat(pfd, profile, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		rc = vfd < 0 ? syn_error_set_errno(SYN_EIO, errno, "cannot open the view of '%s'", profile) : 0;
		if (!rc && !old.len)
			rc = 1; /* no manifest to change it from */
		if (!rc)
			rc = apply_delta(st, vfd, &old, &manifest, dirs, &changed);
		if (!rc)
			rc = write_record(st, vfd, &plan, &manifest, &pieces, &sources, dirs,
					  json_object_get(meta, "blob_dirs"), &gen, newmeta);
		if (!rc && unlinkat(vfd, VIEW_DELTA, 0) < 0)
			rc = syn_error_set_errno(SYN_EIO, errno, "cannot finish the change of the view of '%s'", profile);
		if (vfd >= 0)
			close(vfd);
		if (rc != 1) {
			if (!rc)
				*report = build_report(ui, profile, false, changed, plan.lists);
			goto out;
		}
		rc = 0;
		if (spliced) {
			/* a new tree is made from a plan's links, which a spliced plan does not list */
			vplan_dispose(&plan);
			rc = plan_make(st, ui, profile, NULL, &plan);
			if (!rc)
				rc = plan_manifest(&plan, &manifest, &pieces, &old_pieces, fp);
			if (rc)
				goto out;
		}
	}
	rc = syn_buf_printf(&stage, ".%s.new", profile);
	if (!rc)
		rc = syn_fs_remove_tree(pfd, stage.ptr);
	if (!rc && mkdirat(pfd, stage.ptr, 0755) < 0)
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot create '%s'", stage.ptr);
	if (rc)
		goto out;
	sfd = openat(pfd, stage.ptr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		rc = syn_error_set_errno(SYN_EIO, errno, "cannot open '%s'", stage.ptr);
		goto out;
	}
	json_decref(dirs);
	rc = plan_blob_dirs(st, &plan, &dirs);
	if (!rc)
		rc = populate(st, sfd, &plan, &made);
	if (!rc)
		rc = write_record(st, sfd, &plan, &manifest, &pieces, &sources, dirs, json_object_get(meta, "blob_dirs"),
				  &gen, newmeta);
	if (!rc)
		rc = sync_tree(sfd, plan.folders, &made);
	if (rc) {
		syn_fs_remove_tree(pfd, stage.ptr);
		goto out;
	}
	if (exists) {
		/* swap: at every instant one complete tree has the view's name */
		if (renameat2(pfd, stage.ptr, pfd, profile, RENAME_EXCHANGE) < 0) {
			rc = errno == EINVAL || errno == ENOSYS
				? syn_error_set(SYN_EUNSUPPORTED, "the filesystem holding '%s' does not support "
						"renameat2(RENAME_EXCHANGE), which Synapse needs for atomic views",
						syn_store_data_root(st))
				: syn_error_set_errno(SYN_EIO, errno, "cannot swap in the view of '%s'", profile);
			syn_fs_remove_tree(pfd, stage.ptr);
			goto out;
		}
	} else {
		rc = syn_fs_rename_noreplace(pfd, stage.ptr, profile);
		if (rc)
			goto out;
	}
	rc = syn_fs_fsync(pfd, dir.ptr);
	/* after the exchange the stage name holds the old tree */
	if (!rc && exists)
		rc = syn_fs_remove_tree(pfd, stage.ptr);
	if (!rc)
		*report = build_report(ui, profile, true, plan.n, plan.lists);
out:
	syn__store_release(st);
	if (!rc && !*report)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (sfd >= 0)
		close(sfd);
	if (pfd >= 0)
		close(pfd);
	json_decref(meta);
	vplan_dispose(&plan);
	old_sources_dispose(&sources);
	syn__chunks_dispose(&pieces);
	syn__chunks_dispose(&old_pieces);
	json_decref(newmeta);
	json_decref(dirs);
	syn_buf_dispose(&dir);
	syn_buf_dispose(&stage);
	syn_buf_dispose(&manifest);
	syn_buf_dispose(&old);
	syn_buf_dispose(&made);
	return rc;
}
