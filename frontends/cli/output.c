/* Rendering of reports and errors: text for people, one JSON document with --json. */
#include <stdarg.h>
#include <string.h>

#include "cli.h"

/*
 * The report printed last. The process ends right after printing it, and
 * freeing a large report (an inventory of 10,000 blobs is some 400,000
 * allocations) costs about as much as building it: it is left to the exit,
 * as git's UNLEAK does, and kept reachable here so that leak checkers see
 * it is not lost.
 */
static json_t *printed;

int cli_report(struct cli *cli, json_t *report, void (*render)(struct cli *cli, const json_t *report))
{
	if (cli->json) {
		if (syn_doc_print(stdout, report))
			fprintf(stderr, "error: %s\n", syn_error_last());
	} else {
		render(cli, report);
	}
	json_decref(printed);
	printed = report;
	return CLI_OK;
}

int cli_emit(struct cli *cli, const struct syn_op *op)
{
	struct syn_emit *e = NULL;
	int rc = syn_emit_to_file(&e, stdout), status = CLI_OK;

	if (!rc)
		rc = syn_op_emit(op, cli->store, cli->args, e);
	if (!rc)
		rc = syn_emit_finish(e, NULL);
	if (rc < 0)
		status = cli_fail(cli, NULL);
	syn_emit_free(e);
	return status;
}

void cli_print_shadowed(const json_t *shadowed)
{
	json_t *e;
	size_t i;

	if (!json_array_size(shadowed))
		return;
	printf("%zu shadowed file(s) (the later pack wins):\n", json_array_size(shadowed));
	json_array_foreach(shadowed, i, e)
		printf("  %s: %s hides %s's %s\n", syn_doc_str(e, "ui", "?"), syn_doc_str(e, "winner_pack", "?"),
		       syn_doc_str(e, "loser_pack", "?"), syn_doc_str(e, "dst_relpath", "?"));
}

void cli_print_missing(const json_t *missing)
{
	json_t *e, *u;
	size_t i, k;

	if (!json_array_size(missing))
		return;
	printf("%zu missing blob(s), not linked (run 'synapse install <pack>'):\n", json_array_size(missing));
	json_array_foreach(missing, i, e) {
		printf("  %s/%s (%s) %s", syn_doc_str(e, "pack", "?"), syn_doc_str(e, "dependency_id", "?"),
		       syn_doc_str(e, "kind", "?"), syn_doc_str(e, "sha256", "?"));
		json_array_foreach(json_object_get(e, "uis"), k, u)
			printf("%s%s", k ? ", " : " in ", json_string_value(u));
		printf("\n");
	}
}

/* The failure document of --json: {"detail": msg}, with the partial @result when there is one. */
static void print_detail(struct cli *cli, const char *msg, const json_t *result)
{
	fprintf(stderr, "error: %s\n", msg);
	if (cli->json) {
		json_t *doc = json_pack("{s:s}", "detail", msg);

		if (doc && result && json_object_set(doc, "result", (json_t *)result))
			json_object_clear(doc);
		if (doc)
			syn_doc_print(stdout, doc);
		json_decref(doc);
	}
}

int cli_fail(struct cli *cli, const json_t *report)
{
	const char *msg = syn_error_last();
	int code = syn_error_code();

	print_detail(cli, msg[0] ? msg : syn_strerror(code), report);
	if (code == SYN_EUSAGE && cli->cmd)
		fprintf(stderr, "usage: synapse %s %s\n(see 'synapse %s --help')\n", cli->cmd->name, cli->cmd->usage,
			cli->cmd->name);
	return code == SYN_EUSAGE ? CLI_USAGE : CLI_FAIL;
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_detail(cli, msg, NULL);
	if (cli->cmd)
		fprintf(stderr, "usage: synapse %s %s\n(see 'synapse %s --help')\n", cli->cmd->name, cli->cmd->usage,
			cli->cmd->name);
	return CLI_USAGE;
}

/*
 * The option of the command's table that @arg names, or NULL; *@value gets
 * the text after '=', *@key the argument key, *@takes whether it takes a value.
 */
static const char *find_flag(const struct cli_command *cmd, const char *arg, const char **value, bool *takes,
			     bool *repeat, const char **key)
{
	int i;

	for (i = 0; i < CLI_MAX_FLAGS && cmd->flags[i]; i++) {
		const char *f = cmd->flags[i], *colon = strchr(f, ':');
		size_t n = colon ? (size_t)(colon - f) : strlen(f);

		*repeat = n > 2 && !strncmp(f + n - 2, "=*", 2);
		if (*repeat)
			n--;
		*takes = n > 0 && f[n - 1] == '=';
		if (*takes)
			n--;
		*key = colon ? colon + 1 : f + 2;
		if (strncmp(arg, f, n))
			continue;
		if (arg[n] == '\0') {
			*value = NULL;
			return f;
		}
		if (arg[n] == '=' && *takes) {
			*value = arg + n + 1;
			return f;
		}
	}
	return NULL;
}

/* Set @key of the arguments; an option contradicting an earlier one is a usage error. */
static int set_arg(struct cli *cli, const char *arg, const char *key, json_t *v)
{
	const json_t *old = json_object_get(cli->args, key);

	if (!v)
		return cli_usage_error(cli, "out of memory");
	if (old && !json_equal(old, v)) {
		json_decref(v);
		return cli_usage_error(cli, "'%s' contradicts an earlier option", arg);
	}
	if (json_object_set_new(cli->args, key, v))
		return cli_usage_error(cli, "out of memory");
	return CLI_OK;
}

int cli_parse(struct cli *cli)
{
	int i, npos = 0, rc;
	bool only_args = false;

	cli->args = json_object();
	if (!cli->args)
		return cli_usage_error(cli, "out of memory");
	for (i = 0; i < cli->argc; i++) {
		const char *arg = cli->argv[i], *value, *key;
		bool takes, repeat;

		/* after "--" every word is an argument: a folder named "-x" too */
		if (!only_args && !strcmp(arg, "--")) {
			only_args = true;
			continue;
		}
		if (only_args || arg[0] != '-' || !strcmp(arg, "-")) {
			if (npos >= CLI_MAX_POS || !cli->cmd->pos_keys[npos])
				return cli_usage_error(cli, "unexpected argument '%s'", arg);
			if (cli->cmd->pos_keys[npos][0] == '*') {
				const char *lkey = cli->cmd->pos_keys[npos] + 1;
				json_t *list = json_object_get(cli->args, lkey);

				if (!list && json_object_set_new(cli->args, lkey, list = json_array()))
					return cli_usage_error(cli, "out of memory");
				/* a path need not be UTF-8: it is handed on as the bytes it is */
				if (json_array_append_new(list, json_string_nocheck(arg)))
					return cli_usage_error(cli, "out of memory");
				continue;
			}
			if ((rc = set_arg(cli, arg, cli->cmd->pos_keys[npos++], json_string(arg))))
				return rc;
			continue;
		}
		if (!find_flag(cli->cmd, arg, &value, &takes, &repeat, &key))
			return cli_usage_error(cli, "unknown option '%s'", arg);
		if (takes && !value) {
			if (i + 1 >= cli->argc)
				return cli_usage_error(cli, "option '%s' needs a value", arg);
			value = cli->argv[++i];
		}
		if (repeat) {
			json_t *list = json_object_get(cli->args, key);

			if (!list && json_object_set_new(cli->args, key, list = json_array()))
				return cli_usage_error(cli, "out of memory");
			if (json_array_append_new(list, json_string(value)))
				return cli_usage_error(cli, "out of memory");
			continue;
		}
		if (!takes && strchr(key, '=')) {
			/* "--move:mode=move": the option sets its key to a fixed string */
			char k[64];
			const char *eq = strchr(key, '=');

			snprintf(k, sizeof(k), "%.*s", (int)(eq - key), key);
			if ((rc = set_arg(cli, arg, k, json_string(eq + 1))))
				return rc;
			continue;
		}
		rc = takes ? set_arg(cli, arg, key, json_string(value))
			   : key[0] == '!' ? set_arg(cli, arg, key + 1, json_false()) : set_arg(cli, arg, key, json_true());
		if (rc)
			return rc;
	}
	if (npos < cli->cmd->min_pos)
		return cli_usage_error(cli, "missing %s", cli->cmd->pos_names ? cli->cmd->pos_names : "argument");
	return CLI_OK;
}
