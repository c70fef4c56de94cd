/*
 * synapse/ops.h - the operations table both frontends dispatch on.
 *
 * Every command of Synapse is one operation: a name, flags, and a run()
 * taking the store, a JSON object of arguments and an optional progress
 * callback, and giving back a JSON report. The CLI maps argv to the
 * arguments object and renders the report (--json prints it as it is); the
 * HTTP server maps method, path, query and body to the same object and sends
 * the same report. Defaults, range checks and every other decision live in
 * the operation, so both frontends give the same answer.
 *
 * Arguments are named as in the HTTP API ("pack", "ui_set", "sync", ...).
 * Numbers and booleans may also be given as strings ("4", "true", "false"),
 * as they arrive from a command line or a query string.
 */
#ifndef SYNAPSE_OPS_H
#define SYNAPSE_OPS_H

#include <jansson.h>

#include "common.h"
#include "doc.h"
#include "store.h"

SYN_BEGIN_DECLS

/** The operation changes state/ or data/ (HTTP: POST, PUT or DELETE only). */
#define SYN_OP_CHANGES_STATE 0x1u
/** The operation may talk to a remote source or backend. */
#define SYN_OP_NETWORK 0x2u
/** The operation needs an initialized store (else SYN_ENOTINIT). */
#define SYN_OP_NEEDS_INIT 0x4u
/** The operation can run long enough to be worth running as a job. */
#define SYN_OP_LONG 0x8u

/**
 * Progress of a long operation: @item names what is being transferred (a
 * dependency id), @file its file name. Called from worker threads, possibly
 * several at once: the callback does its own locking.
 */
struct syn_progress {
	void (*fn)(const char *item, const char *file, uint64_t done, uint64_t total, void *payload);
	void *payload;
};

/** One operation of the table. */
struct syn_op {
	const char *name;    /**< the CLI's words: "store init", "import", "ui enable" */
	unsigned int flags;  /**< SYN_OP_* */
	const char *summary; /**< one line for help texts and the API description */
	/**
	 * Run on @st with @args (a JSON object, never NULL here). On success
	 * 0 and a new report in *@report. On failure a negative SYN_E* code
	 * with the message in the thread's error state; a failure that still
	 * has something to show (attach of several UIs, one failing) also
	 * sets *@report.
	 */
	int (*run)(struct syn_store *st, const json_t *args, const struct syn_progress *progress, json_t **report);
	/**
	 * Or, for a report too large to build whole, NULL run() and this: the
	 * same report written through @out (synapse/doc.h). Everything that can
	 * fail is done before the first byte of the report, so a failure
	 * writes nothing, unless @out itself fails (the output cannot be
	 * written).
	 */
	int (*emit)(struct syn_store *st, const json_t *args, struct syn_emit *out);
};

/** The operation named @name, or NULL. */
SYN_EXTERN const struct syn_op *syn_op_find(const char *name);

/** The @i-th operation of the table, or NULL past its end (for listings). */
SYN_EXTERN const struct syn_op *syn_op_at(size_t i);

/**
 * Run @op: checks that @args (NULL = no arguments) is an object and, for
 * SYN_OP_NEEDS_INIT, that the store is initialized, then calls op->run().
 * Every failure carries a message (never an empty one). *@report as for run():
 * the caller's, possibly set on failure too.
 */
SYN_EXTERN int syn_op_run(const struct syn_op *op, struct syn_store *st, const json_t *args,
			  const struct syn_progress *progress, json_t **report);

/**
 * Run @op, which has emit(), as syn_op_run() does, its report written
 * through @out as it is made (synapse/doc.h; the caller finishes and frees
 * @out). SYN_EINVALID for an operation that has only run().
 */
SYN_EXTERN int syn_op_emit(const struct syn_op *op, struct syn_store *st, const json_t *args, struct syn_emit *out);

/**
 * The HTTP status of error @code, the one mapping every frontend uses:
 * SYN_EUSAGE, SYN_EINVALID, SYN_ENOTINIT 400; SYN_ENOTFOUND 404; SYN_EEXISTS,
 * SYN_EGUARD 409; SYN_ELOCKED 423; SYN_ENETWORK 503 (a remote source or a
 * backup is unreachable); SYN_EAUTH, SYN_EMISMATCH 502 (a remote peer refused
 * us or sent the wrong bytes); SYN_ENOSPC 507; everything else 500.
 */
SYN_EXTERN int syn_error_http_status(int code);

SYN_END_DECLS

#endif
