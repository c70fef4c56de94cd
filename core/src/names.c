/* Validation of names before they touch the filesystem (libgit2 fs_path.c). */
#include <string.h>

#include "synapse/errors.h"
#include "synapse/names.h"

/* Length of the UTF-8 sequence at @s (1-4), or 0 when malformed. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 control characters */
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return n;
}

/* NULL when @name is acceptable, else why not. */
static const char *name_problem(const char *name)
{
	const unsigned char *p;
	size_t len, n;

	if (!name || !*name)
		return "is empty";
	len = strlen(name);
	if (len > SYN_NAME_MAX)
		return "is longer than 255 bytes";
	if (name[0] == '.')
		return "starts with '.'";
	if (strstr(name, ".."))
		return "contains '..'";
	for (p = (const unsigned char *)name; *p; p += n) {
		if (*p == '/' || *p == '\\')
			return "contains a path separator";
		if (*p < 0x20 || *p == 0x7f)
			return "contains a control character";
		n = utf8_len(p);
		if (!n)
			return "is not valid UTF-8";
	}
	return NULL;
}

/* Print at most 80 bytes of a hostile name, with control bytes escaped. */
static void quote_name(char *out, size_t size, const char *name)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; name && *name && o + 5 < size; name++) {
		unsigned char c = (unsigned char)*name;

		if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
		if (o >= 80) {
			out[o++] = '.';
			out[o++] = '.';
			break;
		}
	}
	out[o] = '\0';
}

static int check(const char *what, const char *name)
{
	const char *why = name_problem(name);
	char shown[96];

	if (!why)
		return 0;
	quote_name(shown, sizeof(shown), name);
	return syn_error_set(SYN_EINVALID, "invalid %s '%s': it %s", what, shown, why);
}

int syn_name_check_pack(const char *name)
{
	return check("pack name", name);
}

int syn_name_check_profile(const char *name)
{
	return check("profile name", name);
}

int syn_name_check_file(const char *name)
{
	return check("file name", name);
}

bool syn_name_is_pack(const char *name)
{
	return name_problem(name) == NULL;
}

bool syn_name_is_sha256(const char *sha)
{
	/* lowercase hex digits; every hash a view plans passes here, several times */
	static const unsigned char hex[256] = {
		['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
		['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	};
	const unsigned char *p = (const unsigned char *)sha;
	size_t i;

	if (!sha)
		return false;
	/* stops at the terminator, which is no digit */
	for (i = 0; i < SYN_SHA256_HEX_LEN; i++)
		if (!hex[p[i]])
			return false;
	return p[SYN_SHA256_HEX_LEN] == '\0';
}

int syn_name_check_sha256(const char *sha)
{
	char shown[96];

	if (syn_name_is_sha256(sha))
		return 0;
	quote_name(shown, sizeof(shown), sha ? sha : "");
	return syn_error_set(SYN_EINVALID, "invalid sha256 '%s': expected 64 lowercase hex digits", shown);
}

int syn_name_check_ident(const char *what, const char *id)
{
	char shown[96];
	size_t i;

	for (i = 0; id && id[i]; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      ((c == '_' || c == '-') && i > 0)))
			break;
	}
	if (id && i > 0 && i <= 64 && !id[i])
		return 0;
	quote_name(shown, sizeof(shown), id ? id : "");
	return syn_error_set(SYN_EINVALID, "invalid %s '%s': use lowercase letters, digits, '_' and '-'", what, shown);
}

int syn_name_check_relpath(const char *what, const char *path)
{
	const char *p = path, *seg;
	char shown[96];

	if (!path || !*path || path[0] == '/')
		goto bad;
	while (*p) {
		size_t n;

		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || n > SYN_NAME_MAX || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			goto bad;
		for (; seg < p; seg++)
			if ((unsigned char)*seg < 0x20 || *seg == 0x7f || *seg == '\\')
				goto bad;
		if (*p == '/' && !*++p)
			goto bad;
	}
	return 0;
bad:
	quote_name(shown, sizeof(shown), path ? path : "");
	return syn_error_set(SYN_EINVALID, "invalid %s '%s': expected a relative path without '.' or '..' parts",
			     what, shown);
}
