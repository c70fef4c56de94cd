/*
 * Marker-file checks shared by the UI layout plugins (header-only: each
 * plugin stays one self-contained .so).
 */
#ifndef SYNAPSE_UIS_DETECT_H
#define SYNAPSE_UIS_DETECT_H

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

/* Whether @name exists under @dirfd as a regular file (@dir false) or directory (@dir true). */
static inline bool ui_has(int dirfd, const char *name, bool dir)
{
	struct stat sb;

	if (fstatat(dirfd, name, &sb, 0) < 0)
		return false;
	return dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode);
}

#endif
