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

int cli_parse(struct cli *cli, struct cli_flag *flags, const char **pos, int max_pos, int *npos)
{
	int i;

	*npos = 0;
	for (i = 0; i < cli->argc; i++) {
		const char *arg = cli->argv[i];
		struct cli_flag *f;

		if (arg[0] != '-' || !strcmp(arg, "-")) {
			if (*npos >= max_pos)
				return cli_usage_error(cli, "unexpected argument '%s'", arg);
			pos[(*npos)++] = arg;
			continue;
		}
		for (f = flags; f && f->name; f++) {
			size_t n = strlen(f->name);

			if (strncmp(arg, f->name, n))
				continue;
			if (arg[n] == '\0') {
				if (f->takes_value) {
					if (i + 1 >= cli->argc)
						return cli_usage_error(cli, "option '%s' needs a value", f->name);
					f->value = cli->argv[++i];
				}
				break;
			}
			if (arg[n] == '=' && f->takes_value) {
				f->value = arg + n + 1;
				break;
			}
		}
		if (!f || !f->name)
			return cli_usage_error(cli, "unknown option '%s'", arg);
		f->set = true;
	}
	return CLI_OK;
}
