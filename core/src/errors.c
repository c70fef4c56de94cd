/* Thread-local error state (libgit2's git_error_last, git's error()). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "synapse/errors.h"

#define SYN_ERROR_MAX 1024

static _Thread_local char err_msg[SYN_ERROR_MAX];
static _Thread_local int err_code;

static int set_v(int code, const char *fmt, va_list ap)
{
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	err_code = code;
	return code;
}

int syn_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_v(code, fmt, ap);
	va_end(ap);
	return code;
}

int syn_error_set_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (errnum == ENOSPC || errnum == EDQUOT)
		code = SYN_ENOSPC;
	else if (errnum == ENOMEM)
		code = SYN_ENOMEM;
	va_start(ap, fmt);
	set_v(code, fmt, ap);
	va_end(ap);
	len = strlen(err_msg);
	snprintf(err_msg + len, sizeof(err_msg) - len, ": %s", strerror(errnum));
	return code;
}

int syn_error_prefix(const char *fmt, ...)
{
	char old[SYN_ERROR_MAX];
	va_list ap;
	size_t len;

	memcpy(old, err_msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	len = strlen(err_msg);
	if (old[0])
		snprintf(err_msg + len, sizeof(err_msg) - len, ": %s", old);
	return err_code;
}

const char *syn_error_last(void)
{
	return err_msg;
}

int syn_error_code(void)
{
	return err_code;
}

void syn_error_clear(void)
{
	err_msg[0] = '\0';
	err_code = SYN_OK;
}

const char *syn_strerror(int code)
{
	switch (code) {
	case SYN_OK: return "success";
	case SYN_ENOTFOUND: return "not found";
	case SYN_EEXISTS: return "already exists";
	case SYN_EINVALID: return "invalid input";
	case SYN_ECORRUPT: return "corrupt data";
	case SYN_EIO: return "input/output error";
	case SYN_ENOSPC: return "no space left on device";
	case SYN_ENOMEM: return "out of memory";
	case SYN_ENOTINIT: return "store not initialized";
	case SYN_EUNSUPPORTED: return "not supported";
	case SYN_ENETWORK: return "network error";
	case SYN_EAUTH: return "authentication required";
	case SYN_ELOCKED: return "locked";
	case SYN_EGUARD: return "refused by a guard rail";
	case SYN_EPASSTHROUGH: return "not handled";
	case SYN_EMISMATCH: return "content mismatch";
	case SYN_EUSAGE: return "bad arguments";
	default: return "error";
	}
}
