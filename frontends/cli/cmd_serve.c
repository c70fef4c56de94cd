/* `synapse serve`: the HTTP API and the page, on the store the CLI opened. */
#include <errno.h>
#include <stdlib.h>

#include "../http/http.h"
#include "cli.h"

int cli_serve(struct cli *cli)
{
	const char *host = syn_doc_str(cli->args, "host", "127.0.0.1");
	const char *port_text = syn_doc_str(cli->args, "port", "8765");
	const struct syn_op *init = syn_op_find("store init");
	struct http_options o = { 0 };
	json_t *report = NULL;
	unsigned long port;
	char *end;

	errno = 0;
	port = strtoul(port_text, &end, 10);
	if (errno || !*port_text || *end || port > 65535)
		return cli_usage_error(cli, "--port takes a number from 0 to 65535, not '%s'", port_text);
	/* serving starts from an initialized store; one that is already there is left as it is */
	if (!syn_store_is_initialized(cli->store)) {
		if (syn_op_run(init, cli->store, NULL, NULL, &report) < 0) {
			int status = cli_fail(cli, report);

			json_decref(report);
			return status;
		}
		json_decref(report);
	}
	o.host = host;
	o.port = (unsigned int)port;
	o.root = syn_store_root(cli->store);
	o.reg = cli->reg;
	if (http_serve(&o) < 0)
		return cli_fail(cli, NULL);
	return CLI_OK;
}
