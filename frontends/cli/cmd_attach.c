/* `synapse attach`, `detach`, `attach-status`. */
#include <string.h>

#include "cli.h"

/*
 * One line per UI, then what it touched: "+ path" for a link or file attach
 * wrote, "- path" for one detach removed or gave back to the user.
 */
static void render_changes(const json_t *report, const char *done, const char *list_key, char mark)
{
	const char *ui;
	json_t *res, *v;
	size_t i;

	json_object_foreach((json_t *)report, ui, res) {
		bool ok = json_is_true(json_object_get(res, "success"));

		printf("%s -> %s (%s)\n", ui, ok ? done : "failed", syn_doc_str(res, "method", "?"));
		json_array_foreach(json_object_get(res, list_key), i, v)
			printf("  %c %s\n", mark, json_string_value(v));
		json_array_foreach(json_object_get(res, "errors"), i, v)
			printf("  error: %s\n", json_string_value(v));
	}
}

void render_attach(struct cli *cli, const json_t *report)
{
	(void)cli;
	render_changes(report, "attached", "created", '+');
}

void render_detach(struct cli *cli, const json_t *report)
{
	(void)cli;
	render_changes(report, "detached", "removed", '-');
}

void render_attach_status(struct cli *cli, const json_t *report)
{
	const char *ui;
	json_t *res;

	(void)cli;
	printf("%-10s %-9s %-18s %s\n", "UI", "ATTACHED", "METHOD", "ROOT");
	json_object_foreach((json_t *)report, ui, res) {
		const char *root = json_string_value(json_object_get(res, "root"));

		printf("%-10s %-9s %-18s %s\n", ui, json_is_true(json_object_get(res, "attached")) ? "yes" : "no",
		       syn_doc_str(res, "method", "?"), root ? root : "(none)");
	}
	json_object_foreach((json_t *)report, ui, res)
		if (json_string_value(json_object_get(res, "error")))
			printf("warning: %s: %s\n", ui, json_string_value(json_object_get(res, "error")));
}
