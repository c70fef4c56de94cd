/*
 * The response cache of the read routes whose answer depends only on the
 * store's files (routes.c marks them `cached`). An answer is served again
 * only while nothing under state/ and data/ has changed since it was
 * computed: one inotify instance watches every directory of both trees
 * (but state/.git, which no cached route reads, and data/tmp, where
 * downloads stage), a generation counts the events it reported, and every
 * lookup first reads all the events queued. The kernel queues an event
 * before the system call that made the change returns, so a change that was
 * complete before a request began is always seen by it, whoever made it
 * (this server, a `synapse` command, an editor). An answer is stored with
 * the generation read before computing it, so one computed while the store
 * changed is never served. When the directories cannot all be watched,
 * nothing is cached and the server says so once on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <synapse/buf.h>

#include "http.h"

/* How many answers are kept, and their total size at most. */
#define CACHE_ENTRIES 32
#define CACHE_BYTES_MAX ((size_t)8 << 20)
/* How deep below state/ or data/ directories are watched; deeper ones turn caching off. */
#define WATCH_DEPTH_MAX 32
#define WATCH_MASK (IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MODIFY | \
		    IN_MOVE_SELF | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR | IN_EXCL_UNLINK)

enum { TREE_STATE, TREE_DATA, TREES };

/* One watched directory. */
struct watch {
	int wd;
	unsigned tree;
	char *rel;  /* below its tree's root; "" for the root */
	bool seen;  /* met by the scan under way */
};

/* One cached answer, or one being computed. */
struct entry {
	char *key;                /* NULL: a free slot */
	struct http_body *body;   /* NULL: none */
	uint64_t gen;             /* the generation @body was computed in */
	bool in_flight;           /* a request is computing it for generation @flight_gen */
	uint64_t flight_gen;
	uint64_t used;            /* when last served, for eviction */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t landed;    /* an answer in flight was stored or given up */
	int fd;                   /* the inotify instance; -1 when caching is off */
	bool complete;            /* every directory is watched */
	bool rescan;              /* directories moved or events were lost: scan both trees again */
	char *roots[TREES];
	uint64_t gen, tick;
	struct watch *watches;    /* sorted by wd */
	size_t nwatches, capwatches;
	size_t max_watches;       /* SYNAPSE_HTTP_MAX_WATCHES; 0: as many as the kernel allows */
	struct entry entries[CACHE_ENTRIES];
	size_t bytes;
} C = { .mu = PTHREAD_MUTEX_INITIALIZER, .landed = PTHREAD_COND_INITIALIZER, .fd = -1 };

/* ---- bodies ---------------------------------------------------------------- */

struct http_body *http_body_new(char *data, size_t len)
{
	struct http_body *b = malloc(sizeof(*b));

	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->data = data;
	b->len = len;
	return b;
}

struct http_body *http_body_ref(struct http_body *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

void http_body_unref(struct http_body *b)
{
	if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(b->data);
	free(b);
}

/* ---- answers ----------------------------------------------------------------- */

static struct entry *entry_find(const char *key)
{
	size_t i;

	for (i = 0; i < CACHE_ENTRIES; i++)
		if (C.entries[i].key && !strcmp(C.entries[i].key, key))
			return &C.entries[i];
	return NULL;
}

static void entry_drop_body(struct entry *e)
{
	if (!e->body)
		return;
	C.bytes -= e->body->len;
	http_body_unref(e->body);
	e->body = NULL;
}

/* A slot for @key: a free one, else the least recently served one not in flight. NULL when none. */
static struct entry *entry_take(const char *key)
{
	struct entry *e = NULL;
	size_t i;

	for (i = 0; i < CACHE_ENTRIES; i++) {
		struct entry *x = &C.entries[i];

		if (!x->key) {
			e = x;
			break;
		}
		if (!x->in_flight && (!e || x->used < e->used))
			e = x;
	}
	if (!e)
		return NULL;
	entry_drop_body(e);
	free(e->key);
	memset(e, 0, sizeof(*e));
	e->key = strdup(key);
	return e->key ? e : NULL;
}

/* The store changed: no answer computed before holds (C.mu held). */
static void invalidate_locked(void)
{
	size_t i;

	C.gen++;
	for (i = 0; i < CACHE_ENTRIES; i++)
		entry_drop_body(&C.entries[i]);
}

/* ---- watches ------------------------------------------------------------------ */

/* The index of @wd in C.watches, or where it would go (*@found false). */
static size_t watch_index(int wd, bool *found)
{
	size_t lo = 0, hi = C.nwatches;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (C.watches[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < C.nwatches && C.watches[lo].wd == wd;
	return lo;
}

static void watch_remove(size_t i)
{
	free(C.watches[i].rel);
	memmove(&C.watches[i], &C.watches[i + 1], (C.nwatches - i - 1) * sizeof(*C.watches));
	C.nwatches--;
}

/* Record that @wd watches @rel of @tree. -1 when out of memory. */
static int watch_record(int wd, unsigned tree, const char *rel)
{
	bool found;
	size_t i = watch_index(wd, &found);
	char *copy = strdup(rel);

	if (!copy)
		return -1;
	if (found) {
		free(C.watches[i].rel);
	} else {
		if (C.nwatches == C.capwatches) {
			size_t cap = C.capwatches ? C.capwatches * 2 : 256;
			struct watch *grown = realloc(C.watches, cap * sizeof(*grown));

			if (!grown) {
				free(copy);
				return -1;
			}
			C.watches = grown;
			C.capwatches = cap;
		}
		memmove(&C.watches[i + 1], &C.watches[i], (C.nwatches - i) * sizeof(*C.watches));
		C.nwatches++;
	}
	C.watches[i] = (struct watch){ .wd = wd, .tree = tree, .rel = copy, .seen = true };
	return 0;
}

/* Say on stderr that nothing is kept, and why. */
static void say_off(const char *fmt, va_list ap)
{
	fputs("synapse serve: answering every request from the store (no response cache): ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* say_off() with the reason's arguments. */
static void say_off_f(const char *fmt, ...) SYN_PRINTF(1, 2);
static void say_off_f(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_off(fmt, ap);
	va_end(ap);
}

/* Stop watching: the inotify instance and every watch (C.mu held). */
static void watches_free(void)
{
	size_t i;

	if (C.fd >= 0)
		close(C.fd);
	C.fd = -1;
	for (i = 0; i < C.nwatches; i++)
		free(C.watches[i].rel);
	free(C.watches);
	C.watches = NULL;
	C.nwatches = C.capwatches = 0;
}

/* Turn caching off for good and say why, once (C.mu held). */
static void give_up(const char *fmt, ...) SYN_PRINTF(1, 2);
static void give_up(const char *fmt, ...)
{
	va_list ap;

	if (C.fd < 0)
		return;
	va_start(ap, fmt);
	say_off(fmt, ap);
	va_end(ap);
	watches_free();
	C.complete = false;
	invalidate_locked();
}

/* Directories no cached route reads, whose churn would only empty the cache. */
static bool pruned(unsigned tree, const char *rel)
{
	/* data/cache only holds what commands re-check against the documents (and writes it as they answer) */
	return (tree == TREE_STATE && !strcmp(rel, ".git")) ||
	       (tree == TREE_DATA && (!strcmp(rel, "tmp") || !strcmp(rel, "cache")));
}

/*
 * Whether @path is a symbolic link to a directory outside both trees: the
 * store reads through it, but no watch sees what changes there.
 */
static bool link_escapes(const char *path)
{
	struct stat sb;
	char *real;
	bool out = true;
	size_t t;

	if (lstat(path, &sb) || !S_ISLNK(sb.st_mode) || stat(path, &sb) || !S_ISDIR(sb.st_mode))
		return false;
	real = realpath(path, NULL);
	for (t = 0; real && out && t < TREES; t++) {
		char *root = realpath(C.roots[t], NULL);
		size_t len = root ? strlen(root) : 0;

		out = !(root && !strncmp(real, root, len) && (real[len] == '/' || !real[len]));
		free(root);
	}
	free(real);
	return out;
}

/*
 * Watch directory @rel of @tree, then every directory below it. The watch
 * comes before the listing, so a directory made after the listing is
 * reported. 0; 1 when a tree's root is missing; -1 when caching is given up.
 */
static int watch_tree(unsigned tree, const char *rel, unsigned depth)
{
	struct syn_buf path = SYN_BUF_INIT, child = SYN_BUF_INIT;
	const struct dirent *de;
	bool root = !*rel;
	DIR *dir = NULL;
	int wd, fd, rc = 0;

	if (syn_buf_printf(&path, "%s%s%s", C.roots[tree], root ? "" : "/", rel)) {
		give_up("out of memory");
		rc = -1;
		goto out;
	}
	if (C.max_watches && C.nwatches >= C.max_watches) {
		wd = -1;
		errno = ENOSPC;
	} else {
		/* the roots may be reached through a symbolic link, as the store opens them; nothing below */
		wd = inotify_add_watch(C.fd, path.ptr, WATCH_MASK | (root ? 0 : IN_DONT_FOLLOW));
	}
	if (wd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			/* gone already: its parent's watch reported it */
			rc = root;
		} else if (C.max_watches && C.nwatches >= C.max_watches) {
			give_up("more than SYNAPSE_HTTP_MAX_WATCHES=%zu directories to watch", C.max_watches);
			rc = -1;
		} else {
			give_up("cannot watch '%s': %s%s", path.ptr, strerror(errno),
				errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
			rc = -1;
		}
		goto out;
	}
	if (watch_record(wd, tree, rel)) {
		give_up("out of memory");
		rc = -1;
		goto out;
	}
	fd = open(path.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (root ? 0 : O_NOFOLLOW));
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		if (err == ENOENT || err == ENOTDIR || err == ELOOP) {
			/* replaced since: its parent's watch reported it */
			rc = root;
		} else {
			/* what is below it would go unwatched */
			give_up("cannot list '%s': %s", path.ptr, strerror(err));
			rc = -1;
		}
		goto out;
	}
	while (rc == 0 && (de = readdir(dir))) {
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_LNK || de->d_type == DT_UNKNOWN) {
			syn_buf_clear(&child);
			if (syn_buf_printf(&child, "%s/%s", path.ptr, de->d_name) || link_escapes(child.ptr)) {
				give_up("'%s' is a symbolic link to a folder outside the store, whose changes cannot be "
					"watched", child.ptr);
				rc = -1;
				break;
			}
		}
		if (de->d_type != DT_DIR &&
		    (de->d_type != DT_UNKNOWN || fstatat(dirfd(dir), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
		     !S_ISDIR(sb.st_mode)))
			continue;
		syn_buf_clear(&child);
		if (syn_buf_printf(&child, "%s%s%s", rel, root ? "" : "/", de->d_name)) {
			give_up("out of memory");
			rc = -1;
			break;
		}
		if (pruned(tree, child.ptr))
			continue;
		if (depth >= WATCH_DEPTH_MAX) {
			give_up("'%s/%s' is more than %d directories deep", C.roots[tree], child.ptr, WATCH_DEPTH_MAX);
			rc = -1;
			break;
		}
		rc = watch_tree(tree, child.ptr, depth + 1) < 0 ? -1 : 0;
	}
out:
	if (dir)
		closedir(dir);
	syn_buf_dispose(&path);
	syn_buf_dispose(&child);
	return rc;
}

/* Watch both trees from scratch: what is met is watched, the watches of what is gone are removed (C.mu held). */
static void rescan(void)
{
	bool missing = false;
	unsigned tree;
	size_t i;
	int rc;

	for (i = 0; i < C.nwatches; i++)
		C.watches[i].seen = false;
	for (tree = 0; tree < TREES; tree++) {
		rc = watch_tree(tree, "", 0);
		if (rc < 0)
			return;
		missing |= rc > 0;
	}
	for (i = C.nwatches; i-- > 0;)
		if (!C.watches[i].seen) {
			inotify_rm_watch(C.fd, C.watches[i].wd);
			watch_remove(i);
		}
	/* a store not made yet: nothing is cached until it is (and the next request looks again) */
	C.complete = !missing;
	C.rescan = missing;
}

/* What event @ev means for the watches (C.mu held). */
static void on_event(const struct inotify_event *ev)
{
	struct syn_buf rel = SYN_BUF_INIT;
	bool found;
	size_t i;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* events were lost, directories made among them too */
		C.rescan = true;
		return;
	}
	i = watch_index(ev->wd, &found);
	if (ev->mask & IN_IGNORED) {
		if (found) {
			C.rescan |= !*C.watches[i].rel;
			watch_remove(i);
		}
		return;
	}
	/* a directory moved: the paths recorded below it are wrong now */
	if ((ev->mask & IN_MOVE_SELF) || ((ev->mask & IN_ISDIR) && (ev->mask & (IN_MOVED_FROM | IN_MOVED_TO)))) {
		C.rescan = true;
		return;
	}
	if (found && !C.rescan && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && !(ev->mask & IN_ISDIR) && ev->len) {
		/* a new link to a folder elsewhere would be read through and never watched */
		if (syn_buf_printf(&rel, "%s%s%s/%s", C.roots[C.watches[i].tree], *C.watches[i].rel ? "/" : "",
				   C.watches[i].rel, ev->name) || link_escapes(rel.ptr))
			give_up("'%s' is a symbolic link to a folder outside the store, whose changes cannot be watched",
				rel.ptr ? rel.ptr : ev->name);
		syn_buf_dispose(&rel);
		return;
	}
	if (!(ev->mask & IN_CREATE) || !(ev->mask & IN_ISDIR) || !found || C.rescan)
		return;
	if (syn_buf_printf(&rel, "%s%s%s", C.watches[i].rel, *C.watches[i].rel ? "/" : "", ev->name)) {
		syn_buf_dispose(&rel);
		give_up("out of memory");
		return;
	}
	if (!pruned(C.watches[i].tree, rel.ptr)) {
		unsigned depth = 1;
		const char *p;

		for (p = rel.ptr; *p; p++)
			depth += *p == '/';
		if (depth > WATCH_DEPTH_MAX)
			give_up("'%s/%s' is more than %d directories deep", C.roots[C.watches[i].tree], rel.ptr,
				WATCH_DEPTH_MAX);
		else
			watch_tree(C.watches[i].tree, rel.ptr, depth);
	}
	syn_buf_dispose(&rel);
}

/* Read every event queued; any of them means the store changed (C.mu held). */
static void drain(void)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;

	while (C.fd >= 0) {
		ssize_t n = read(C.fd, buf, sizeof(buf));
		const char *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			give_up("cannot read the store's changes: %s", n < 0 ? strerror(errno) : "end of file");
			return;
		}
		changed = true;
		for (p = buf; C.fd >= 0 && p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			on_event(ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (changed)
		invalidate_locked();
	if (C.fd >= 0 && C.rescan) {
		invalidate_locked();
		rescan();
	}
}

/* ---- the interface ---------------------------------------------------------------- */

/* Whether @fs is a file system whose changes made elsewhere inotify does not see. */
static bool remote_fs(long type)
{
	static const long types[] = {
		0x6969,                  /* NFS */
		0xFF534D42, 0xFE534D42,  /* CIFS, SMB2 */
		0x517B,                  /* SMB */
		0x65735546,              /* FUSE */
		0x01021997,              /* 9P */
		0x00C36400,              /* Ceph */
		0x6B414653,              /* AFS */
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (type == types[i])
			return true;
	return false;
}

void http_cache_start(const char *state_root, const char *data_root)
{
	const char *no_watch = getenv("SYNAPSE_HTTP_NO_WATCH");
	const char *max = getenv("SYNAPSE_HTTP_MAX_WATCHES");
	struct statfs sf;
	unsigned tree;

	pthread_mutex_lock(&C.mu);
	if (no_watch && *no_watch && strcmp(no_watch, "0")) {
		say_off_f("SYNAPSE_HTTP_NO_WATCH is set");
		goto out;
	}
	if (max && *max) {
		char *end;

		errno = 0;
		C.max_watches = strtoul(max, &end, 10);
		if (errno || *end || *max == '-' || !C.max_watches) {
			say_off_f("SYNAPSE_HTTP_MAX_WATCHES=%s is not a number of directories above 0", max);
			goto out;
		}
	}
	C.roots[TREE_STATE] = strdup(state_root);
	C.roots[TREE_DATA] = strdup(data_root);
	if (!C.roots[TREE_STATE] || !C.roots[TREE_DATA]) {
		say_off_f("out of memory");
		goto out;
	}
	for (tree = 0; tree < TREES; tree++)
		if (!statfs(C.roots[tree], &sf) && remote_fs((long)sf.f_type)) {
			say_off_f("'%s' is on a network file system, whose changes made elsewhere go unseen",
				  C.roots[tree]);
			goto out;
		}
	C.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (C.fd < 0) {
		say_off_f("cannot watch the store: %s", strerror(errno));
		goto out;
	}
	rescan();
out:
	pthread_mutex_unlock(&C.mu);
}

void http_cache_stop(void)
{
	size_t i;

	pthread_mutex_lock(&C.mu);
	watches_free();
	for (i = 0; i < CACHE_ENTRIES; i++) {
		entry_drop_body(&C.entries[i]);
		free(C.entries[i].key);
		C.entries[i].key = NULL;
	}
	for (i = 0; i < TREES; i++) {
		free(C.roots[i]);
		C.roots[i] = NULL;
	}
	pthread_mutex_unlock(&C.mu);
}

void http_cache_invalidate(void)
{
	pthread_mutex_lock(&C.mu);
	invalidate_locked();
	pthread_mutex_unlock(&C.mu);
}

struct http_body *http_cache_get(const char *key, struct http_cache_ticket *t)
{
	struct http_body *body = NULL;
	struct entry *e;

	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&C.mu);
	while (C.fd >= 0) {
		drain();
		if (C.fd < 0 || !C.complete)
			break;
		e = entry_find(key);
		if (e && e->body && e->gen == C.gen) {
			e->used = ++C.tick;
			body = http_body_ref(e->body);
			break;
		}
		/* another request computes it now: wait for its answer rather than computing it again */
		if (e && e->in_flight && e->flight_gen == C.gen) {
			pthread_cond_wait(&C.landed, &C.mu);
			continue;
		}
		if (!e)
			e = entry_take(key);
		if (!e)
			break;
		/* the first to ask in this generation computes it (taking over from one computing an older one) */
		e->in_flight = true;
		e->flight_gen = C.gen;
		t->key = key;
		t->gen = C.gen;
		break;
	}
	pthread_mutex_unlock(&C.mu);
	return body;
}

void http_cache_put(struct http_cache_ticket *t, struct http_body *body)
{
	struct entry *e;
	size_t i;

	if (!t->key)
		return;
	pthread_mutex_lock(&C.mu);
	e = entry_find(t->key);
	if (e && e->in_flight && e->flight_gen == t->gen)
		e->in_flight = false;
	pthread_cond_broadcast(&C.landed);
	/* computed while nothing changed, as far as the events read say: a later lookup reads the rest */
	if (e && body && C.fd >= 0 && C.complete && t->gen == C.gen && body->len <= CACHE_BYTES_MAX &&
	    !(e->body && e->gen == C.gen)) {
		entry_drop_body(e);
		while (C.bytes + body->len > CACHE_BYTES_MAX) {
			struct entry *old = NULL;

			for (i = 0; i < CACHE_ENTRIES; i++)
				if (C.entries[i].body && (!old || C.entries[i].used < old->used))
					old = &C.entries[i];
			if (!old)
				break;
			entry_drop_body(old);
		}
		e->body = http_body_ref(body);
		e->gen = t->gen;
		e->used = ++C.tick;
		C.bytes += body->len;
	}
	pthread_mutex_unlock(&C.mu);
	t->key = NULL;
}
