/* The store-wide flock (Nix pathlocks.cc, without stale-file games: the file is permanent). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "synapse/errors.h"
#include "synapse/lock.h"

struct syn_lock {
	int fd;
};

long syn_lock_default_timeout_ms(void)
{
	const char *v = getenv("SYNAPSE_LOCK_TIMEOUT");
	char *end;
	double s;

	if (!v || !*v)
		return 30000;
	errno = 0;
	s = strtod(v, &end);
	if (errno || end == v || *end || !(s >= 0 && s <= 86400.0 * 365)) /* also refuses NaN */
		return 30000;
	return (long)(s * 1000.0);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the holder wrote into the lock file: "pid command". */
static void read_holder(int fd, char *out, size_t size)
{
	ssize_t n = pread(fd, out, size - 1, 0);
	size_t i;

	if (n <= 0) {
		snprintf(out, size, "another synapse process");
		return;
	}
	out[n] = '\0';
	for (i = 0; out[i]; i++)
		if (out[i] == '\n' || (unsigned char)out[i] < 0x20)
			out[i] = ' ';
	while (i > 0 && out[i - 1] == ' ')
		out[--i] = '\0';
}

int syn_lock_acquire(struct syn_lock **out, const char *path, long timeout_ms, const char *holder)
{
	struct syn_lock *lock;
	long start = now_ms(), delay = 10;
	char who[160];
	int fd, len;

	*out = NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return syn_error_set_errno(SYN_EIO, errno, "cannot open store lock '%s'", path);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		long waited;

		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			int err = errno;

			close(fd);
			return syn_error_set_errno(SYN_EIO, err, "cannot lock '%s'", path);
		}
		waited = now_ms() - start;
		if (waited >= timeout_ms) {
			read_holder(fd, who, sizeof(who));
			close(fd);
			return syn_error_set(SYN_ELOCKED,
					     "store lock '%s' is held by %s; gave up after waiting %.1f s "
					     "(set SYNAPSE_LOCK_TIMEOUT to wait longer)",
					     path, who, (double)timeout_ms / 1000.0);
		}
		{
			long left = timeout_ms - waited;
			struct timespec ts;
			long d = delay < left ? delay : left;

			ts.tv_sec = d / 1000;
			ts.tv_nsec = (d % 1000) * 1000000;
			nanosleep(&ts, NULL);
			if (delay < 200)
				delay *= 2;
		}
	}
	len = snprintf(who, sizeof(who), "pid %ld (synapse %s)\n", (long)getpid(), holder ? holder : "");
	/* best effort: the note only improves a waiter's message */
	if (ftruncate(fd, 0) == 0 && len > 0 && pwrite(fd, who, (size_t)len, 0) < 0)
		errno = 0;
	lock = malloc(sizeof(*lock));
	if (!lock) {
		close(fd);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	lock->fd = fd;
	*out = lock;
	return 0;
}

void syn_lock_release(struct syn_lock *lock)
{
	if (!lock)
		return;
	/* leave the holder note: truncating would race with the next holder's write */
	close(lock->fd);
	free(lock);
}
