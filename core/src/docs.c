/*
 * docs: reading and writing the documents commands work on, each pack's
 * pack.json and lock.json and each profile's profile.json under state/, and
 * runtime.json under data/. The only module that knows where they live.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "synapse/buf.h"
#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/fs.h"
#include "synapse/hash.h"
#include "synapse/names.h"

#include "defaults.h"
#include "docs.h"
#include "store.h"

/* Read state/@rel; messages show the full path. */
static int read_state(struct syn_store *st, const char *rel, json_t **out)
{
	struct syn_buf display = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	*out = NULL;
	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&display, "%s/%s", syn_store_state_root(st), rel);
	if (!rc)
		rc = syn_doc_read(out, fd, rel, display.ptr);
	syn_buf_dispose(&display);
	return rc;
}

static int write_state(struct syn_store *st, const char *rel, const json_t *doc)
{
	int fd = syn_store_state_fd(st);

	return fd < 0 ? fd : syn_doc_write(fd, rel, doc);
}

int syn__docs_pack_read(struct syn_store *st, const char *name, const char *file, json_t **out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	*out = NULL;
	rc = syn_buf_printf(&rel, "packs/%s/%s", name, file);
	if (!rc)
		rc = read_state(st, rel.ptr, out);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_write(struct syn_store *st, const char *name, const char *file, const json_t *doc)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	rc = syn_buf_printf(&rel, "packs/%s/%s", name, file);
	if (!rc)
		rc = write_state(st, rel.ptr, doc);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_write_both(struct syn_store *st, const char *name, const json_t *pack, const json_t *lock)
{
	struct syn_buf rel = SYN_BUF_INIT, tmp = SYN_BUF_INIT, file = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&rel, "packs/%s", name);
	if (!rc && syn_fs_exists(fd, rel.ptr)) {
		/* a pack there already: each document replaced on its own */
		rc = syn__docs_pack_write(st, name, "pack.json", pack);
		if (!rc)
			rc = syn__docs_pack_write(st, name, "lock.json", lock);
		goto out;
	}
	/* a new pack comes whole: both documents in a folder of their own, renamed into place */
	if (!rc)
		rc = syn_fs_mkdirs(fd, "packs");
	if (!rc)
		rc = syn_fs_mkdtemp(fd, rel.ptr, &tmp);
	if (!rc)
		rc = syn_buf_printf(&file, "%s/pack.json", tmp.ptr);
	if (!rc)
		rc = syn_doc_write(fd, file.ptr, pack);
	syn_buf_clear(&file);
	if (!rc)
		rc = syn_buf_printf(&file, "%s/lock.json", tmp.ptr);
	if (!rc)
		rc = syn_doc_write(fd, file.ptr, lock);
	if (!rc)
		rc = syn_fs_rename_noreplace(fd, tmp.ptr, rel.ptr);
	if (rc == SYN_EUNSUPPORTED) {
		/* a filesystem without renameat2(): the name was free a moment ago, under the store lock */
		syn_error_clear();
		rc = renameat(fd, tmp.ptr, fd, rel.ptr) < 0
			? syn_error_set_errno(SYN_EIO, errno, "cannot put pack '%s' in place", name) : 0;
	}
	if (rc == SYN_EEXISTS)
		rc = syn_error_set(SYN_EEXISTS, "pack '%s' appeared while it was written", name);
	if (!rc)
		rc = syn_fs_fsync(fd, "packs");
	if (rc && tmp.len)
		syn_fs_remove_tree(fd, tmp.ptr);
out:
	syn_buf_dispose(&rel);
	syn_buf_dispose(&tmp);
	syn_buf_dispose(&file);
	return rc;
}

int syn__docs_pack_remove(struct syn_store *st, const char *name)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	if (fd < 0)
		return fd;
	rc = syn_buf_printf(&rel, "packs/%s", name);
	/* a pack goes whole: a kill midway leaves no pack folder without its pack.json */
	if (!rc)
		rc = syn_fs_remove_tree_aside(fd, rel.ptr);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_load(struct syn_store *st, const char *name, json_t **out)
{
	int rc = syn_name_check_pack(name);

	*out = NULL;
	if (!rc)
		rc = syn_store_require_init(st);
	if (!rc)
		rc = syn__docs_pack_read(st, name, "pack.json", out);
	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "pack '%s' not found; 'synapse list' shows the packs", name);
	return rc;
}

int syn__docs_lock_load(struct syn_store *st, const char *name, json_t **out)
{
	int rc = syn__docs_pack_read(st, name, "lock.json", out);

	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		return 0;
	}
	return rc;
}

int syn__docs_profile_read(struct syn_store *st, const char *name, json_t **out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	*out = NULL;
	rc = syn_name_check_profile(name);
	if (rc)
		return rc;
	rc = syn_buf_printf(&rel, "profiles/%s/profile.json", name);
	if (!rc)
		rc = read_state(st, rel.ptr, out);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_profile_load(struct syn_store *st, const char *name, json_t **out)
{
	int rc = syn__docs_profile_read(st, name, out);

	if (rc == SYN_ENOTFOUND)
		rc = syn_error_set(SYN_ENOTFOUND, "profile '%s' not found", name);
	return rc;
}

/* A profile's pack names as syn__docs_profile_packs() gives them, and when they hold. */
struct profile_names {
	struct profile_names *next;
	char *profile;
	unsigned held;        /* the hold they were read in, 0 for none */
	unsigned lock;        /* syn__store_lock_number() when this handle wrote them, 0 for none */
	json_t *id;           /* the file's identity (file_id()) after that write */
	struct syn__names list;
	struct syn_buf arena; /* the names, each with its NUL */
};

/*
 * The profiles read while the store is held: {name: document}, for the
 * hold it was made in; and those this handle wrote while it holds the store
 * lock, which a read under the same lock takes instead of parsing the file
 * again while the file is still the one written.
 */
struct held_profiles {
	unsigned held;
	json_t *docs;
	unsigned lock;   /* syn__store_lock_number() of the writes */
	json_t *written; /* {name: [document, the file's identity (file_id())]} */
	struct profile_names *names; /* what syn__docs_profile_packs() gave */
};

static void profile_names_free(struct profile_names *pn);
static void names_drop(struct held_profiles *h, const char *name);

/* Free the held profiles: the store slot's release. */
static void held_profiles_free(void *p)
{
	struct held_profiles *h = p;

	if (h) {
		json_decref(h->docs);
		json_decref(h->written);
		profile_names_free(h->names);
	}
	free(h);
}

/* The held profiles of @st, made when there are none; NULL without memory. */
static struct held_profiles *held_profiles(struct syn_store *st)
{
	struct held_profiles *h = syn__store_cache(st, SYN__CACHE_PROFILES);

	if (!h && (h = calloc(1, sizeof(*h))) != NULL)
		syn__store_set_cache(st, SYN__CACHE_PROFILES, h, held_profiles_free);
	return h;
}

/*
 * The identity of profile @name's file now (device, inode, size,
 * modification time), as a new string; NULL when it cannot be read.
 */
static json_t *file_id(struct syn_store *st, const char *name)
{
	struct syn_buf rel = SYN_BUF_INIT;
	struct stat sb;
	json_t *id = NULL;

	if (!syn_buf_printf(&rel, "profiles/%s/profile.json", name) &&
	    fstatat(syn_store_state_fd(st), rel.ptr, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		id = json_sprintf("%llu %llu %lld %lld.%09ld", (unsigned long long)sb.st_dev,
				  (unsigned long long)sb.st_ino, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
				  sb.st_mtim.tv_nsec);
	syn_buf_dispose(&rel);
	syn_error_clear();
	return id;
}

/*
 * What this handle wrote as profile @name under the lock it holds, when the
 * file is still what it wrote (a new reference); NULL otherwise.
 */
static json_t *written_doc(struct syn_store *st, struct held_profiles *h, const char *name)
{
	json_t *w = h->written ? json_object_get(h->written, name) : NULL, *now;
	bool same;

	if (!w || !h->lock || h->lock != syn__store_lock_number(st))
		return NULL;
	now = file_id(st, name);
	same = now && json_equal(now, json_array_get(w, 1));
	json_decref(now);
	return same ? json_incref(json_array_get(w, 0)) : NULL;
}

/* Remember that this handle wrote @doc as profile @name (under the lock it holds; nothing is kept without). */
static void remember_written(struct syn_store *st, const char *name, const json_t *doc)
{
	unsigned lock = syn__store_lock_number(st);
	struct held_profiles *h = lock ? held_profiles(st) : NULL;
	json_t *id = h ? file_id(st, name) : NULL;

	if (h && h->lock != lock) {
		json_decref(h->written);
		h->written = NULL;
		h->lock = lock;
	}
	if (h && !h->written)
		h->written = json_object();
	/* the document stays as it was written: its writers let it go once written */
	if (!id || !h->written || json_object_set_new(h->written, name, json_pack("[O, o]", (json_t *)doc, id)))
		json_object_del(h && h->written ? h->written : NULL, name);
}

int syn__docs_profile_peek(struct syn_store *st, const char *name, const json_t **out)
{
	unsigned held = syn__store_held(st);
	struct held_profiles *h = held ? held_profiles(st) : NULL;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if (held && !h)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	if (h && h->held != held) {
		json_decref(h->docs);
		h->docs = NULL;
		h->held = held;
	}
	if (h && h->docs && (*out = json_object_get(h->docs, name)))
		return 0;
	if (!h)
		return syn_error_set(SYN_EINVALID, "profiles are only peeked at while the store is held");
	doc = written_doc(st, h, name);
	rc = doc ? 0 : syn__docs_profile_load(st, name, &doc);
	if (!rc && !h->docs && !(h->docs = json_object()))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc && json_object_set_new(h->docs, name, doc))
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	else if (!rc)
		*out = doc;
	else
		json_decref(doc);
	return rc;
}

int syn__docs_profile_write(struct syn_store *st, const char *name, const json_t *doc)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc;

	names_drop(syn__store_cache(st, SYN__CACHE_PROFILES), name);
	rc = syn_buf_printf(&rel, "profiles/%s/profile.json", name);
	if (!rc)
		rc = write_state(st, rel.ptr, doc);
	if (!rc)
		remember_written(st, name, doc);
	syn_buf_dispose(&rel);
	return rc;
}

/* ---- profile text -----------------------------------------------------------
 *
 * A profile's pack list is read, and the global profile edited, without
 * building its JSON when the text is plain enough to be sure of: no \u
 * escape, no key with an escape or met twice in its object, no number but
 * a small integer, no nesting deeper than PLAIN_DEPTH nor an object of
 * more than PLAIN_KEYS keys. The global profile of 10,000 packs is half a
 * megabyte of JSON, and a command that changes one pack needs only its
 * names. What is not plain is left to jansson, which says what is wrong.
 */
#define PLAIN_DEPTH 16
#define PLAIN_KEYS 32

struct plain {
	const char *p, *end;
};

static void plain_ws(struct plain *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r'))
		s->p++;
}

/* The length of the UTF-8 sequence at @p (before @end), or 0 when it is not a valid one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
	if (!n || (size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* no overlong form, no surrogate, nothing past U+10FFFF */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return n;
}

/* The string at s->p, moved past: its bytes between the quotes in *@at and *@len, whether it has escapes in *@esc. */
static bool plain_string(struct plain *s, const char **at, size_t *len, bool *esc)
{
	const char *q;

	if (s->p >= s->end || *s->p != '"')
		return false;
	*esc = false;
	for (q = s->p + 1; q < s->end && *q != '"';) {
		size_t n;

		if ((unsigned char)*q < 0x20)
			return false;
		if (*q == '\\') {
			if (q + 1 >= s->end || !memchr("\"\\/bfnrt", q[1], 8))
				return false;
			*esc = true;
			q += 2;
			continue;
		}
		if (!(n = utf8_len((const unsigned char *)q, (const unsigned char *)s->end)))
			return false;
		q += n;
	}
	if (q >= s->end)
		return false;
	*at = s->p + 1;
	*len = (size_t)(q - *at);
	s->p = q + 1;
	return true;
}

static bool plain_value(struct plain *s, int depth);

/* An object's members ("{" at s->p): @member (NULL: any value) takes each value, after its key. */
static bool plain_members(struct plain *s, int depth,
			  bool (*member)(void *arg, struct plain *s, const char *key, size_t klen, int depth), void *arg)
{
	const char *keys[PLAIN_KEYS];
	size_t klens[PLAIN_KEYS], nk = 0, i;

	if (depth > PLAIN_DEPTH || s->p >= s->end || *s->p != '{')
		return false;
	s->p++;
	plain_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		const char *k;
		size_t kl;
		bool esc;

		if (nk == PLAIN_KEYS || !plain_string(s, &k, &kl, &esc) || esc)
			return false;
		for (i = 0; i < nk; i++)
			if (klens[i] == kl && !memcmp(keys[i], k, kl))
				return false;
		keys[nk] = k;
		klens[nk++] = kl;
		plain_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return false;
		s->p++;
		plain_ws(s);
		if (!(member ? member(arg, s, k, kl, depth + 1) : plain_value(s, depth + 1)))
			return false;
		plain_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			plain_ws(s);
		} else if (s->p < s->end && *s->p == '}') {
			s->p++;
			return true;
		} else {
			return false;
		}
	}
}

/* An array's elements ("[" at s->p): @element (NULL: any value) takes each. */
static bool plain_elements(struct plain *s, int depth, bool (*element)(void *arg, struct plain *s, int depth),
			   void *arg)
{
	if (depth > PLAIN_DEPTH || s->p >= s->end || *s->p != '[')
		return false;
	s->p++;
	plain_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return true;
	}
	for (;;) {
		if (!(element ? element(arg, s, depth + 1) : plain_value(s, depth + 1)))
			return false;
		plain_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			plain_ws(s);
		} else if (s->p < s->end && *s->p == ']') {
			s->p++;
			return true;
		} else {
			return false;
		}
	}
}

/* Any plain value at s->p, moved past. */
static bool plain_value(struct plain *s, int depth)
{
	static const char *const words[] = { "true", "false", "null" };
	const char *at;
	size_t len, i, digits;
	bool esc;

	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{':
		return plain_members(s, depth, NULL, NULL);
	case '[':
		return plain_elements(s, depth, NULL, NULL);
	case '"':
		return plain_string(s, &at, &len, &esc);
	case 't':
	case 'f':
	case 'n':
		for (i = 0; i < 3; i++)
			if ((size_t)(s->end - s->p) >= strlen(words[i]) && !memcmp(s->p, words[i], strlen(words[i]))) {
				s->p += strlen(words[i]);
				return true;
			}
		return false;
	default:
		/* a small integer: -?(0|[1-9][0-9]*), at most 15 digits */
		if (*s->p == '-')
			s->p++;
		for (digits = 0; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++)
			digits++;
		return digits && digits <= 15 && !(digits > 1 && s->p[-(ptrdiff_t)digits] == '0') &&
		       !(s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'));
	}
}

/* An element of a profile's "packs": where it is, and its "name" when that is a string (NULL otherwise). */
struct plain_pack {
	const char *at, *end;
	const char *name;
	size_t nlen;
	bool esc;
};

/* A plain profile's "packs" array, when it has one: its elements, and where its brackets are. */
struct plain_profile {
	struct plain_pack *packs;
	size_t n, cap;
	bool found;
	const char *open, *close;
	bool nomem;
};

static bool pack_member(void *arg, struct plain *s, const char *key, size_t klen, int depth)
{
	struct plain_pack *e = arg;

	if (klen == 4 && !memcmp(key, "name", 4) && s->p < s->end && *s->p == '"')
		return plain_string(s, &e->name, &e->nlen, &e->esc);
	return plain_value(s, depth);
}

static bool pack_element(void *arg, struct plain *s, int depth)
{
	struct plain_profile *pp = arg;
	struct plain_pack *e;
	bool ok;

	if (pp->n == pp->cap) {
		struct plain_pack *grown = realloc(pp->packs, (pp->cap ? pp->cap * 2 : 256) * sizeof(*grown));

		if (!grown) {
			pp->nomem = true;
			return false;
		}
		pp->packs = grown;
		pp->cap = pp->cap ? pp->cap * 2 : 256;
	}
	e = &pp->packs[pp->n];
	*e = (struct plain_pack){ .at = s->p };
	ok = s->p < s->end && *s->p == '{' ? plain_members(s, depth, pack_member, e) : plain_value(s, depth);
	e->end = s->p;
	pp->n++;
	return ok;
}

static bool profile_member(void *arg, struct plain *s, const char *key, size_t klen, int depth)
{
	struct plain_profile *pp = arg;
	bool ok;

	if (klen != 5 || memcmp(key, "packs", 5) || s->p >= s->end || *s->p != '[')
		return plain_value(s, depth);
	pp->found = true;
	pp->open = s->p;
	ok = plain_elements(s, depth, pack_element, pp);
	pp->close = s->p - 1;
	return ok;
}

/*
 * The "packs" of profile text @text (@len bytes) in @pp (zeroed first;
 * free pp->packs): 1 when the text is a plain object, 0 when jansson has to
 * say (pp->packs freed), SYN_ENOMEM.
 */
static int plain_profile_scan(const char *text, size_t len, struct plain_profile *pp)
{
	struct plain s = { text, text + len };
	bool ok;

	memset(pp, 0, sizeof(*pp));
	plain_ws(&s);
	ok = plain_members(&s, 0, profile_member, pp);
	plain_ws(&s);
	if (ok && s.p == s.end)
		return 1;
	free(pp->packs);
	pp->packs = NULL;
	return pp->nomem ? syn_error_set(SYN_ENOMEM, "out of memory") : 0;
}

/* Append to @out the escaped string @p (@len bytes, no \u escape) as it reads. */
static int plain_unescape(struct syn_buf *out, const char *p, size_t len)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *end = p + len, *bs;
	int rc = 0;

	while (!rc && p < end) {
		bs = memchr(p, '\\', (size_t)(end - p));
		rc = syn_buf_put(out, p, (size_t)((bs ? bs : end) - p));
		if (!rc && bs)
			rc = syn_buf_put(out, &to[(const char *)memchr(from, bs[1], 8) - from], 1);
		p = bs ? bs + 2 : end;
	}
	return rc;
}

static void profile_names_free(struct profile_names *pn)
{
	while (pn) {
		struct profile_names *next = pn->next;

		free(pn->profile);
		json_decref(pn->id);
		free((void *)pn->list.v);
		syn_buf_dispose(&pn->arena);
		free(pn);
		pn = next;
	}
}

/* Point @pn's list at the @n names in its arena. SYN_ENOMEM. */
static int names_index(struct profile_names *pn, size_t n)
{
	const char **v = calloc(n + 1, sizeof(*v));
	const char *p = pn->arena.ptr;
	size_t i;

	if (!v)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++, p += strlen(p) + 1)
		v[i] = p;
	pn->list.v = v;
	pn->list.n = n;
	return 0;
}

/* The names of @pp's packs (of @text) into @pn. SYN_ENOMEM. */
static int names_of_plain(struct profile_names *pn, const struct plain_profile *pp)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < pp->n; i++) {
		const struct plain_pack *e = &pp->packs[i];

		rc = !e->name ? 0 : e->esc ? plain_unescape(&pn->arena, e->name, e->nlen) : syn_buf_put(&pn->arena, e->name, e->nlen);
		if (!rc)
			rc = syn_buf_put(&pn->arena, "", 1);
	}
	return rc ? rc : names_index(pn, pp->n);
}

/* The names of the "packs" of profile document @doc into @pn. SYN_ENOMEM. */
static int names_of_doc(struct profile_names *pn, const json_t *doc)
{
	json_t *packs = json_object_get(doc, "packs"), *v;
	size_t i;
	int rc = 0;

	json_array_foreach(packs, i, v) {
		const char *name = syn_doc_str(v, "name", "");

		if (!rc)
			rc = syn_buf_put(&pn->arena, name, strlen(name) + 1);
	}
	return rc ? rc : names_index(pn, json_array_size(packs));
}

/* Forget the names of profile @name in @h (may be NULL). */
static void names_drop(struct held_profiles *h, const char *name)
{
	struct profile_names **at;

	for (at = h ? &h->names : NULL; at && *at; at = &(*at)->next)
		if (!strcmp((*at)->profile, name)) {
			struct profile_names *old = *at;

			*at = old->next;
			old->next = NULL;
			profile_names_free(old);
			return;
		}
}

/* A new entry for profile @name's names, first in @h's list; NULL without memory. */
static struct profile_names *names_entry(struct held_profiles *h, const char *name)
{
	struct profile_names *pn = calloc(1, sizeof(*pn));

	if (!pn || !(pn->profile = strdup(name))) {
		free(pn);
		return NULL;
	}
	pn->arena = (struct syn_buf)SYN_BUF_INIT;
	names_drop(h, name); /* an older entry of the same profile goes */
	pn->next = h->names;
	h->names = pn;
	return pn;
}

int syn__docs_profile_packs(struct syn_store *st, const char *name, const struct syn__names **out)
{
	unsigned held = syn__store_held(st), lock = syn__store_lock_number(st);
	struct held_profiles *h = held ? held_profiles(st) : NULL;
	struct syn_buf text = SYN_BUF_INIT, rel = SYN_BUF_INIT;
	struct plain_profile pp = { 0 };
	struct profile_names *pn;
	const json_t *doc;
	int rc, plain = 0;

	*out = NULL;
	if (!held)
		return syn_error_set(SYN_EINVALID, "profiles are only peeked at while the store is held");
	if (!h)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (pn = h->names; pn; pn = pn->next)
		if (!strcmp(pn->profile, name)) {
			json_t *now = pn->lock && pn->lock == lock ? file_id(st, name) : NULL;
			bool same = (pn->held && pn->held == held) || (now && json_equal(now, pn->id));

			json_decref(now);
			if (same) {
				*out = &pn->list;
				return 0;
			}
			break;
		}
	rc = syn_name_check_profile(name);
	if (!rc)
		rc = syn_buf_printf(&rel, "profiles/%s/profile.json", name);
	if (!rc && syn_fs_read(&text, syn_store_state_fd(st), rel.ptr, SIZE_MAX) == 0)
		plain = plain_profile_scan(text.ptr, text.len, &pp);
	syn_error_clear();
	if (plain < 0)
		rc = plain;
	pn = rc ? NULL : names_entry(h, name);
	if (!rc && !pn)
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc && plain == 1)
		rc = names_of_plain(pn, &pp);
	else if (!rc && !(rc = syn__docs_profile_peek(st, name, &doc)))
		rc = names_of_doc(pn, doc);
	if (!rc) {
		pn->held = held;
		*out = &pn->list;
	} else if (pn) {
		h->names = pn->next;
		pn->next = NULL;
		profile_names_free(pn);
	}
	free(pp.packs);
	syn_buf_dispose(&text);
	syn_buf_dispose(&rel);
	return rc;
}

/* The JSON string of @s, as a document writes it, appended to @out. SYN_ENOMEM. */
static int put_json_string(struct syn_buf *out, const char *s)
{
	json_t *j = json_string(s);
	char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	int rc = d ? syn_buf_puts(out, d) : syn_error_set(SYN_ENOMEM, "out of memory");

	free(d);
	json_decref(j);
	return rc;
}

/*
 * The global profile's @text edited as syn__docs_global_edit() says, in
 * @out: the packs named @name dropped from its plain "packs" (@pp), @name
 * appended when @add, each other byte kept; an element added or moved is
 * written as the document writer writes it. The names that are left (and
 * the one added) into @pn. *@found: whether @name was there.
 */
static int plain_edit(const char *text, size_t len, const struct plain_profile *pp, const char *name, bool add,
		      struct syn_buf *out, struct profile_names *pn, bool *found)
{
	struct syn_buf tmp = SYN_BUF_INIT;
	const char *indent = "\n    ", *sep_end;
	size_t i, kept = 0, nlen = strlen(name), indent_len = 5;
	int rc = 0;

	*found = false;
	/* the elements' indent, as the first one has it */
	if (pp->n && (sep_end = pp->packs[0].at) > pp->open + 1 && memchr(pp->open + 1, '\n', (size_t)(sep_end - pp->open - 1))) {
		indent = memrchr(pp->open + 1, '\n', (size_t)(sep_end - pp->open - 1));
		indent_len = (size_t)(sep_end - indent);
	}
	rc = syn_buf_put(out, text, (size_t)(pp->open + 1 - text));
	for (i = 0; !rc && i < pp->n; i++) {
		const struct plain_pack *e = &pp->packs[i];

		syn_buf_clear(&tmp);
		if (e->name && (e->esc ? plain_unescape(&tmp, e->name, e->nlen) : syn_buf_put(&tmp, e->name, e->nlen)))
			rc = SYN_ENOMEM;
		if (!rc && e->name && tmp.len == nlen && !memcmp(tmp.ptr, name, nlen)) {
			*found = true;
			continue;
		}
		if (!rc)
			rc = syn_buf_put(&pn->arena, e->name ? tmp.ptr : "", (e->name ? tmp.len : 0));
		if (!rc)
			rc = syn_buf_put(&pn->arena, "", 1);
		/* what was before the first element before the first kept one; a separator before each other */
		if (!rc)
			rc = kept ? syn_buf_puts(out, ",") : 0;
		if (!rc)
			rc = kept || !pp->n ? syn_buf_put(out, indent, indent_len)
					    : syn_buf_put(out, pp->open + 1, (size_t)(pp->packs[0].at - pp->open - 1));
		if (!rc)
			rc = syn_buf_put(out, e->at, (size_t)(e->end - e->at));
		kept++;
	}
	if (!rc && add) {
		rc = kept ? syn_buf_puts(out, ",") : 0;
		if (!rc)
			rc = syn_buf_put(out, indent, indent_len);
		if (!rc)
			rc = syn_buf_puts(out, "{");
		if (!rc)
			rc = syn_buf_put(out, indent, indent_len);
		if (!rc)
			rc = syn_buf_puts(out, "  \"name\": ");
		if (!rc)
			rc = put_json_string(out, name);
		if (!rc)
			rc = syn_buf_put(out, indent, indent_len);
		if (!rc)
			rc = syn_buf_puts(out, "}");
		if (!rc)
			rc = syn_buf_put(&pn->arena, name, nlen + 1);
		kept++;
	}
	/* what was after the last element, or (none left) "[]" as the writer has it */
	if (!rc && kept)
		rc = pp->n ? syn_buf_put(out, pp->packs[pp->n - 1].end, (size_t)(pp->close - pp->packs[pp->n - 1].end))
			   : syn_buf_put(out, indent, indent_len > 2 ? indent_len - 2 : indent_len);
	if (!rc)
		rc = syn_buf_put(out, pp->close, (size_t)(text + len - pp->close));
	if (!rc)
		rc = names_index(pn, kept);
	syn_buf_dispose(&tmp);
	return rc;
}

/* syn__docs_global_edit() of the document: the way for a profile that is not plain. */
static int edit_global_doc(struct syn_store *st, const char *name, bool add, bool *was_there)
{
	json_t *profile = NULL, *packs;
	bool found = false;
	size_t i;
	int rc;

	rc = syn__docs_profile_load(st, SYN_PROFILE_GLOBAL, &profile);
	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		profile = syn__default_profile(SYN_PROFILE_GLOBAL);
		rc = profile ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (rc)
		goto out;
	packs = json_object_get(profile, "packs");
	if (!json_is_array(packs)) {
		packs = json_array();
		if (json_object_set_new(profile, "packs", packs)) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			goto out;
		}
	}
	for (i = json_array_size(packs); i-- > 0;) {
		if (!strcmp(syn_doc_str(json_array_get(packs, i), "name", ""), name)) {
			json_array_remove(packs, i);
			found = true;
		}
	}
	if (add && json_array_append_new(packs, json_pack("{s:s}", "name", name))) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	if (add || found)
		rc = syn__docs_profile_write(st, SYN_PROFILE_GLOBAL, profile);
	if (was_there)
		*was_there = found;
out:
	json_decref(profile);
	return rc;
}

int syn__docs_global_edit(struct syn_store *st, const char *name, bool add, bool *was_there)
{
	static const char rel[] = "profiles/" SYN_PROFILE_GLOBAL "/profile.json";
	struct syn_buf text = SYN_BUF_INIT, out = SYN_BUF_INIT;
	unsigned lock = syn__store_lock_number(st);
	struct held_profiles *h = lock ? held_profiles(st) : NULL;
	struct plain_profile pp = { 0 };
	struct profile_names *pn = NULL;
	int fd = syn_store_state_fd(st), rc, plain = 0;
	bool found = false;

	if (fd < 0)
		return fd;
	/* a plain text with its "packs" is edited in place; anything else as a document */
	if (h && syn_fs_read(&text, fd, rel, SIZE_MAX) == 0)
		plain = plain_profile_scan(text.ptr, text.len, &pp);
	syn_error_clear();
	if (plain == 1 && !pp.found)
		plain = 0;
	if (plain <= 0) {
		free(pp.packs);
		syn_buf_dispose(&text);
		return plain < 0 ? plain : edit_global_doc(st, name, add, was_there);
	}
	rc = (pn = names_entry(h, SYN_PROFILE_GLOBAL)) ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	if (!rc)
		rc = plain_edit(text.ptr, text.len, &pp, name, add, &out, pn, &found);
	if (!rc && (add || found))
		rc = syn_fs_write_atomic(fd, rel, out.ptr, out.len, 0644);
	/* what a later read under this lock takes, while the file is the one written */
	if (!rc && (add || found)) {
		json_object_del(h->written, SYN_PROFILE_GLOBAL);
		json_object_del(h->docs, SYN_PROFILE_GLOBAL);
		pn->lock = lock;
		pn->id = file_id(st, SYN_PROFILE_GLOBAL);
	}
	if (rc || !(add || found) || !pn->id) {
		h->names = pn ? pn->next : h->names;
		if (pn)
			pn->next = NULL;
		profile_names_free(pn);
	}
	if (!rc && was_there)
		*was_there = found;
	free(pp.packs);
	syn_buf_dispose(&text);
	syn_buf_dispose(&out);
	return rc;
}

int syn__docs_pack_exists(struct syn_store *st, const char *name, bool *exists)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int rc = syn_buf_printf(&rel, "packs/%s/pack.json", name);

	*exists = !rc && syn_fs_exists(syn_store_state_fd(st), rel.ptr);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_runtime_read(struct syn_store *st, const json_t *config, json_t **out)
{
	int fd = syn_store_data_fd(st);

	*out = NULL;
	if (fd == SYN_ENOTFOUND) {
		*out = syn__default_runtime(config);
		syn_error_clear();
		return *out ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
	}
	if (fd < 0)
		return fd;
	return syn__store_read_or_default(out, fd, syn_store_data_root(st), "runtime.json",
					  syn__default_runtime(config));
}

int syn__docs_runtime_write(struct syn_store *st, const json_t *runtime)
{
	int fd = syn_store_data_fd(st);

	return fd < 0 ? fd : syn_doc_write(fd, "runtime.json", runtime);
}

/* ---- keys of what a view is built from ----------------------------------- */

static void stat_sig(struct syn_buf *b, int dirfd, const char *rel)
{
	struct stat sb;

	if (fstatat(dirfd, rel, &sb, 0) == 0)
		syn_buf_printf(b, "%s %llu %llu %lld %lld.%09ld\n", rel, (unsigned long long)sb.st_dev,
			       (unsigned long long)sb.st_ino, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
			       sb.st_mtim.tv_nsec);
	else
		syn_buf_printf(b, "%s -\n", rel);
}

int syn__docs_profile_sig(struct syn_store *st, const char *profile, struct syn_buf *out)
{
	struct syn_buf rel = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	if (fd < 0)
		return fd;
	stat_sig(out, fd, "config.json");
	rc = syn_buf_printf(&rel, "profiles/%s/profile.json", profile);
	if (!rc)
		stat_sig(out, fd, rel.ptr);
	syn_buf_dispose(&rel);
	return rc;
}

uint64_t syn__docs_profile_stamp(struct syn_store *st, const char *name)
{
	char rel[SYN_NAME_MAX + 32];
	struct stat sb;
	uint64_t f[4];
	int fd = syn_store_state_fd(st);

	if (fd < 0 || syn_name_check_profile(name)) {
		syn_error_clear();
		return 0;
	}
	snprintf(rel, sizeof(rel), "profiles/%s/profile.json", name);
	if (fstatat(fd, rel, &sb, 0) || !syn_fs_settled(&sb))
		return 0;
	f[0] = (uint64_t)sb.st_dev;
	f[1] = (uint64_t)sb.st_ino;
	f[2] = (uint64_t)sb.st_size;
	f[3] = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
	return syn_fnv1a(SYN_FNV1A_INIT, f, sizeof(f)) | 1;
}

uint64_t syn__docs_pack_stamp(struct syn_store *st, const char *name, bool *settled)
{
	static const char *const files[] = { "/pack.json", "/lock.json" };
	uint64_t h = SYN_FNV1A_INIT;
	int fd = syn_store_state_fd(st);
	char rel[SYN_NAME_MAX + 32];
	size_t n = strlen(name), i;

	if (settled)
		*settled = true;
	if (fd < 0 || !syn_name_is_pack(name)) {
		syn_error_clear();
		return 0;
	}
	memcpy(rel, "packs/", 6);
	memcpy(rel + 6, name, n);
	for (i = 0; i < 2; i++) {
		struct stat sb;
		uint64_t f[5] = { 0 };

		memcpy(rel + 6 + n, files[i], strlen(files[i]) + 1);
		if (fstatat(fd, rel, &sb, 0) == 0) {
			f[0] = (uint64_t)sb.st_dev;
			f[1] = (uint64_t)sb.st_ino;
			f[2] = (uint64_t)sb.st_size;
			f[3] = (uint64_t)sb.st_mtim.tv_sec;
			f[4] = (uint64_t)sb.st_mtim.tv_nsec + 1;
			if (settled && !syn_fs_settled(&sb))
				*settled = false;
		}
		h = syn_fnv1a(h, f, sizeof(f));
	}
	return h;
}

/*
 * Append to @b a signature of the commit state/ is at: the file of the
 * branch HEAD names (rewritten by every commit) and packed-refs. 1 when
 * there is no commit yet.
 */
static int head_sig(struct syn_buf *b, int fd)
{
	struct syn_buf head = SYN_BUF_INIT, ref = SYN_BUF_INIT;
	size_t at = b->len;
	int rc = syn_fs_read(&head, fd, ".git/HEAD", 4096);

	if (rc == SYN_ENOTFOUND) {
		syn_error_clear();
		rc = 1;
	} else if (!rc && !strncmp(head.ptr, "ref: ", 5)) {
		head.ptr[strcspn(head.ptr, "\n")] = '\0';
		rc = syn_buf_printf(&ref, ".git/%s", head.ptr + 5);
		if (!rc && !syn_fs_exists(fd, ref.ptr) && !syn_fs_exists(fd, ".git/packed-refs"))
			rc = 1;
		if (!rc) {
			stat_sig(b, fd, ref.ptr);
			stat_sig(b, fd, ".git/packed-refs");
		}
	} else if (!rc) {
		/* a detached HEAD holds the commit itself */
		rc = syn_buf_put(b, head.ptr, head.len);
	}
	if (rc == 1)
		syn_buf_truncate(b, at);
	syn_buf_dispose(&head);
	syn_buf_dispose(&ref);
	return rc;
}

int syn__docs_generation_key(struct syn_store *st, const char *profile, char hex[SYN_SHA256_HEX_LEN + 1])
{
	struct syn_buf b = SYN_BUF_INIT, rel = SYN_BUF_INIT;
	int fd = syn_store_state_fd(st), rc;

	hex[0] = '\0';
	if (fd < 0)
		return fd;
	rc = head_sig(&b, fd);
	if (rc == 1) {
		/* no history yet: no key */
		rc = 0;
		goto out;
	}
	if (!rc) {
		stat_sig(&b, fd, "config.json");
		rc = syn_buf_printf(&rel, "profiles/%s/profile.json", profile);
	}
	if (!rc)
		stat_sig(&b, fd, rel.ptr);
	if (!rc)
		rc = syn_sha256_mem(hex, b.ptr, b.len);
out:
	syn_buf_dispose(&b);
	syn_buf_dispose(&rel);
	return rc;
}

int syn__docs_pack_names(struct syn_store *st, json_t **out)
{
	struct dirent **ents = NULL;
	struct syn_buf dir = SYN_BUF_INIT;
	int n, i, rc;

	*out = json_array();
	rc = *out ? syn_buf_printf(&dir, "%s/packs", syn_store_state_root(st)) : syn_error_set(SYN_ENOMEM, "out of memory");
	if (rc)
		return rc;
	n = scandir(dir.ptr, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (!rc && syn_name_is_pack(ents[i]->d_name) && json_array_append_new(*out, json_string(ents[i]->d_name)))
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
		free(ents[i]);
	}
	free(ents);
	syn_buf_dispose(&dir);
	return rc;
}

/* The member of array @key of @doc whose @field is @id. */
static const json_t *find_by(const json_t *doc, const char *key, const char *field, const char *id)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(doc, key), i, e)
		if (!strcmp(syn_doc_str(e, field, ""), id))
			return e;
	return NULL;
}

const json_t *syn__docs_dependency(const json_t *pack, const char *id)
{
	return find_by(pack, "dependencies", "id", id);
}

const json_t *syn__docs_lock_entry(const json_t *lock, const char *id)
{
	return find_by(lock, "resolved", "dependency_id", id);
}
