/*
 * The `synapse` command-line frontend: shared declarations.
 *
 * A command is a thin adaptor over one operation of synapse/ops.h: the table
 * in main.c says how argv maps to the operation's arguments object, and a
 * render function turns the operation's report into text (--json prints the
 * report itself).
 */
#ifndef SYNAPSE_CLI_H
#define SYNAPSE_CLI_H

#include <jansson.h>
#include <stdio.h>

#include <synapse/ops.h>
#include <synapse/synapse.h>

/** Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_MAX_FLAGS 8
#define CLI_MAX_POS 4

/** What a command's render function receives. */
struct cli {
	int argc;             /* arguments after the command words */
	char **argv;
	bool json;            /* --json: one JSON document on stdout */
	const char *root;     /* --root, or NULL */
	const struct cli_command *cmd;
	json_t *args;         /* the operation's arguments, built from argv */
	struct syn_registry *reg;
	struct syn_store *store;
};

/** A command of the table. */
struct cli_command {
	const char *name;    /* the operation's name, and the command's words: "store init" */
	const char *usage;   /* "[--force]" */
	const char *help;    /* the rest of --help */
	void (*render)(struct cli *cli, const json_t *report);
	/*
	 * Options, each "--flag:key": "--force:force" sets key to true,
	 * "--no-sync:!sync" to false, "--jobs=:jobs" to the option's value,
	 * "--version=*:version_ids" appends each value to a list,
	 * "--move:mode=move" sets key mode to the string "move".
	 */
	const char *flags[CLI_MAX_FLAGS];
	/* the argument key of each positional; "*key": it and all after it append to a list */
	const char *pos_keys[CLI_MAX_POS];
	int min_pos;         /* positional arguments required */
	const char *pos_names; /* for messages: "<pack>" */
	const char *start;   /* "Importing": "Importing <first positional>..." on stderr before it runs */
	bool progress;       /* draws a progress bar on a terminal */
};

/** The command table, terminated by a NULL name. */
extern const struct cli_command cli_commands[];

/*
 * Output helpers (output.c). A command either prints its report with
 * cli_report() or fails with cli_fail(): both honour --json. An operation
 * with emit() runs under --json through cli_emit(), which writes its
 * report as it is made.
 */

/** Print @report (stolen) as JSON when --json, else through @render. Returns CLI_OK. */
int cli_report(struct cli *cli, json_t *report, void (*render)(struct cli *cli, const json_t *report));

/**
 * Run @op, which has emit(), on @cli's arguments and write its report on
 * stdout as JSON as it is made, or fail with cli_fail(). Returns CLI_OK,
 * CLI_FAIL or CLI_USAGE.
 */
int cli_emit(struct cli *cli, const struct syn_op *op);

/**
 * Report the thread's last Synapse error, with the operation's partial
 * @report (borrowed, may be NULL) as "result" under --json. Returns
 * CLI_USAGE for SYN_EUSAGE, else CLI_FAIL.
 */
int cli_fail(struct cli *cli, const json_t *report);

/** Report a usage error about @cli's command (NULL before one is known); returns CLI_USAGE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) SYN_PRINTF(2, 3);

/** List the files a later pack hides, one line each (nothing when there are none). */
void cli_print_shadowed(const json_t *shadowed);

/** List the blobs a view lacks, with the UIs whose views lack them. */
void cli_print_missing(const json_t *missing);

/** @bytes as a person reads it ("1.5 GiB", "512 B") into @out (@size bytes; 32 hold it). */
void cli_size(char *out, size_t size, double bytes);

/** Print the --help text of @cmd. */
void cli_print_help(FILE *out, const struct cli_command *cmd);

/** Parse @cli->argv against the command's table entry into @cli->args. CLI_OK or a usage error. */
int cli_parse(struct cli *cli);

/** The progress bar of progress.c: fills @progress to draw on stderr. NULL when out of memory. */
struct cli_bar *cli_bar_start(struct syn_progress *progress);
/** End the bar's line and free it. NULL-safe. */
void cli_bar_end(struct cli_bar *bar);

/** `synapse serve` (cmd_serve.c): the HTTP API until SIGTERM or SIGINT. */
int cli_serve(struct cli *cli);

/* Render functions, one per command. */
void render_init(struct cli *cli, const json_t *r);
void render_config(struct cli *cli, const json_t *r);
void render_status(struct cli *cli, const json_t *r);
void render_plugins(struct cli *cli, const json_t *r);
void render_history(struct cli *cli, const json_t *r);
void render_ui_list(struct cli *cli, const json_t *r);
void render_ui_enable(struct cli *cli, const json_t *r);
void render_import(struct cli *cli, const json_t *r);
void render_adopt(struct cli *cli, const json_t *r);
void render_list(struct cli *cli, const json_t *r);
void render_show(struct cli *cli, const json_t *r);
void render_resolve(struct cli *cli, const json_t *r);
void render_install(struct cli *cli, const json_t *r);
void render_delete(struct cli *cli, const json_t *r);
void render_search(struct cli *cli, const json_t *r);
void render_check_updates(struct cli *cli, const json_t *r);
void render_update(struct cli *cli, const json_t *r);
void render_use(struct cli *cli, const json_t *r);
void render_back(struct cli *cli, const json_t *r);
void render_reset(struct cli *cli, const json_t *r);
void render_profiles(struct cli *cli, const json_t *r);
void render_profile(struct cli *cli, const json_t *r);
void render_doctor(struct cli *cli, const json_t *r);
void render_attach(struct cli *cli, const json_t *r);
void render_detach(struct cli *cli, const json_t *r);
void render_attach_status(struct cli *cli, const json_t *r);
/* inventory list, orphans and missing share one */
void render_inventory(struct cli *cli, const json_t *r);
void render_inventory_impacts(struct cli *cli, const json_t *r);
void render_inventory_verify(struct cli *cli, const json_t *r);
void render_inventory_cleanup(struct cli *cli, const json_t *r);
void render_inventory_delete(struct cli *cli, const json_t *r);
/* backup (cmd_backup.c) */
void render_backup_status(struct cli *cli, const json_t *r);
void render_backup_blob(struct cli *cli, const json_t *r);
void render_backup_restore(struct cli *cli, const json_t *r);
void render_backup_delete(struct cli *cli, const json_t *r);
void render_backup_sync(struct cli *cli, const json_t *r);

#endif
