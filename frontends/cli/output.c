/* Rendering of reports and errors: text for people, one JSON document with --json. */
#include <stdarg.h>
#include <string.h>

#include "cli.h"

int cli_report(struct cli *cli, json_t *report, void (*render)(struct cli *cli, const json_t *report))
{
	if (cli->json) {
		struct syn_buf text = SYN_BUF_INIT;

		if (syn_doc_dump(&text, report) == 0)
			fputs(text.ptr, stdout);
		syn_buf_dispose(&text);
	} else {
		render(cli, report);
	}
	json_decref(report);
	return CLI_OK;
}

static void print_detail(struct cli *cli, const char *msg)
{
	fprintf(stderr, "error: %s\n", msg);
	if (cli->json) {
		json_t *doc = json_pack("{s:s}", "detail", msg);
		struct syn_buf text = SYN_BUF_INIT;

		if (doc && syn_doc_dump(&text, doc) == 0)
			fputs(text.ptr, stdout);
		syn_buf_dispose(&text);
		json_decref(doc);
	}
}

int cli_fail(struct cli *cli)
{
	const char *msg = syn_error_last();

	print_detail(cli, msg[0] ? msg : "unknown error");
	return CLI_FAIL;
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_detail(cli, msg);
	if (cli->cmd)
		fprintf(stderr, "usage: synapse %s %s\n(see 'synapse %s --help')\n", cli->cmd->name, cli->cmd->usage,
			cli->cmd->name);
	return CLI_USAGE;
}

void cli_print_help(FILE *out, const struct cli_command *cmd)
{
	fprintf(out, "usage: synapse [--root DIR] [--json] %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->help && *cmd->help)
		fprintf(out, "\n%s", cmd->help);
	fputs("\nCommon options:\n"
	      "  --root DIR   the store root (default: $SYNAPSE_ROOT, else ~/.synapse/store)\n"
	      "  --json       print one JSON document on stdout ({\"detail\": ...} on failure)\n"
	      "  -h, --help   show this help\n", out);
}

/* The index of @arg's option in the command's table, or -1; *@value gets "=VALUE" text. */
static int find_flag(const struct cli_command *cmd, const char *arg, const char **value, bool *takes)
{
	int i;

	for (i = 0; i < CLI_MAX_FLAGS && cmd->flags[i]; i++) {
		const char *f = cmd->flags[i];
		size_t n = strlen(f);

		if (n > 1 && !strcmp(f + n - 2, "=*"))
			n--;
		*takes = n > 0 && f[n - 1] == '=';
		if (*takes)
			n--;
		if (strncmp(arg, f, n))
			continue;
		if (arg[n] == '\0') {
			*value = NULL;
			return i;
		}
		if (arg[n] == '=' && *takes) {
			*value = arg + n + 1;
			return i;
		}
	}
	return -1;
}

int cli_parse(struct cli *cli)
{
	int i;

	for (i = 0; i < cli->argc; i++) {
		const char *arg = cli->argv[i], *value;
		bool takes;
		int f;

		if (arg[0] != '-' || !strcmp(arg, "-")) {
			if (cli->npos >= cli->cmd->max_pos || cli->npos >= CLI_MAX_POS)
				return cli_usage_error(cli, "unexpected argument '%s'", arg);
			cli->pos[cli->npos++] = arg;
			continue;
		}
		f = find_flag(cli->cmd, arg, &value, &takes);
		if (f < 0)
			return cli_usage_error(cli, "unknown option '%s'", arg);
		if (takes && !value) {
			if (i + 1 >= cli->argc)
				return cli_usage_error(cli, "option '%s' needs a value", arg);
			value = cli->argv[++i];
		}
		cli->flag_set[f] = true;
		cli->flag_value[f] = value;
		if (strstr(cli->cmd->flags[f], "=*")) {
			if (cli->nvalues >= CLI_MAX_VALUES)
				return cli_usage_error(cli, "too many '%s' options", arg);
			cli->values[cli->nvalues++] = value;
		}
	}
	if (cli->npos < cli->cmd->min_pos)
		return cli_usage_error(cli, "missing %s", cli->cmd->pos_names ? cli->cmd->pos_names : "argument");
	return CLI_OK;
}

static int flag_index(const struct cli *cli, const char *name)
{
	size_t n = strlen(name);
	int i;

	for (i = 0; i < CLI_MAX_FLAGS && cli->cmd->flags[i]; i++)
		if (!strncmp(cli->cmd->flags[i], name, n) &&
		    (cli->cmd->flags[i][n] == '\0' || cli->cmd->flags[i][n] == '='))
			return i;
	return -1;
}

bool cli_has(const struct cli *cli, const char *name)
{
	int i = flag_index(cli, name);

	return i >= 0 && cli->flag_set[i];
}

const char *cli_value(const struct cli *cli, const char *name)
{
	int i = flag_index(cli, name);

	return i >= 0 ? cli->flag_value[i] : NULL;
}
