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

#include "synapse/doc.h"
#include "synapse/errors.h"
#include "synapse/sys/source.h"

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
