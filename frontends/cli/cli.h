/*
 * The `synapse` command-line frontend: shared declarations.
 */
#ifndef SYNAPSE_CLI_H
#define SYNAPSE_CLI_H

#include <jansson.h>
#include <stdio.h>

#include <synapse/synapse.h>

/** Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_MAX_FLAGS 8
#define CLI_MAX_POS 4
#define CLI_MAX_VALUES 32

/** What every command receives. */
struct cli {
	int argc;             /* arguments after the command words */
	char **argv;
	bool json;            /* --json: one JSON document on stdout */
	const char *root;     /* --root, or NULL */
	const struct cli_command *cmd;
	bool flag_set[CLI_MAX_FLAGS];       /* per cmd->flags[i] */
	const char *flag_value[CLI_MAX_FLAGS];
	const char *pos[CLI_MAX_POS];       /* positional arguments */
	int npos;
	const char *values[CLI_MAX_VALUES]; /* every value of the command's repeatable option */
	int nvalues;
	struct syn_registry *reg;
	struct syn_store *store; /* opened for commands that need a store */
};

/** A command of the table. */
struct cli_command {
	const char *name;    /* "store init" */
	const char *usage;   /* "[--force]" */
	const char *summary; /* one line */
	const char *help;    /* the rest of --help */
	int (*run)(struct cli *cli);
	unsigned int needs;  /* CLI_NEEDS_STORE, CLI_OPENS_STORE */
	/*
	 * accepted options; a trailing '=' means it takes a value ("--ui-set="),
	 * "=*" that it may repeat, its values collected in cli->values
	 */
	const char *flags[CLI_MAX_FLAGS];
	int min_pos;         /* positional arguments required */
	int max_pos;         /* positional arguments accepted */
	const char *pos_names; /* for messages: "<pack>" */
};

/** Command flags. */
#define CLI_NEEDS_STORE 1u  /* open the store and require it initialized */
#define CLI_OPENS_STORE 2u  /* open the store, initialized or not */

/** The command table, terminated by a NULL name. */
extern const struct cli_command cli_commands[];

/*
 * Output helpers (output.c). A command either prints its report with
 * cli_report() or fails with cli_fail(): both honour --json.
 */

/** Print @report (stolen) as JSON when --json, else through @render. Returns CLI_OK. */
int cli_report(struct cli *cli, json_t *report, void (*render)(struct cli *cli, const json_t *report));

/** Report the thread's last Synapse error; returns CLI_FAIL. */
int cli_fail(struct cli *cli);

/** Report a usage error about @cli's command; returns CLI_USAGE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) SYN_PRINTF(2, 3);

/** Print the --help text of @cmd. */
void cli_print_help(FILE *out, const struct cli_command *cmd);

/** Parse @cli->argv against the command's flags. CLI_OK or a usage error. */
int cli_parse(struct cli *cli);

/** Whether option @name ("--force") was given. */
bool cli_has(const struct cli *cli, const char *name);

/** The value of option @name ("--ui-set"), or NULL. */
const char *cli_value(const struct cli *cli, const char *name);

/** Command implementations. */
int cmd_store_init(struct cli *cli);
int cmd_store_config(struct cli *cli);
int cmd_status(struct cli *cli);
int cmd_plugins(struct cli *cli);
int cmd_history(struct cli *cli);
int cmd_ui_list(struct cli *cli);
int cmd_import(struct cli *cli);
int cmd_list(struct cli *cli);
int cmd_show(struct cli *cli);
int cmd_resolve(struct cli *cli);
int cmd_install(struct cli *cli);
int cmd_delete(struct cli *cli);
int cmd_search(struct cli *cli);
int cmd_use(struct cli *cli);
int cmd_back(struct cli *cli);
int cmd_reset(struct cli *cli);
int cmd_profiles_list(struct cli *cli);
int cmd_profiles_show(struct cli *cli);
int cmd_doctor(struct cli *cli);

/* cmd_attach.c */
int cmd_attach(struct cli *cli);
int cmd_detach(struct cli *cli);
int cmd_attach_status(struct cli *cli);

#endif
