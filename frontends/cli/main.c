/* synapse: the command-line frontend (git.c-style command table). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const struct cli_command cli_commands[] = {
	{ "store init", "[--force]", "Create the store, or repair its default documents.",
	  "Creates the layout under the store root: state/ (a git repository with\n"
	  "config.json, ui_sets.json and the global profile) and data/ (blobs, views,\n"
	  "runtime.json), and an empty 'global' view with 'active' for every UI.\n"
	  "An initialized store is left as it is.\n\n"
	  "Options:\n"
	  "  --force      repair: move missing or unparseable default documents aside\n"
	  "               (<name>.corrupt-<time>) and rewrite them; recreate missing\n"
	  "               directories, .git and views. Packs, profiles and blobs are\n"
	  "               never touched.\n",
	  cmd_store_init, CLI_OPENS_STORE, { "--force" }, 0, 0, NULL },
	{ "store config", "", "Show the store's configuration (state/config.json).",
	  "Text output summarises the roots, UI set and UIs; --json prints the whole\n"
	  "config.json document.\n",
	  cmd_store_config, CLI_NEEDS_STORE, { NULL }, 0, 0, NULL },
	{ "import", "<ref> [--name N] [--version ID ...] [--no-previews] [--no-add-global]",
	  "Import a model as a pack (metadata and previews; never model files).",
	  "<ref> is a Civitai URL (https://civitai.com/models/<id>[/<slug>][?modelVersionId=<v>]),\n"
	  "civitai:<model>[@<version>], or an AIR (urn:air:<eco>:<type>:civitai:<model>@<version>).\n"
	  "Writes state/packs/<Pack>/pack.json and lock.json, downloads the preview images\n"
	  "into resources/previews/ with their metadata, and adds the pack to the global\n"
	  "profile. Importing the same model again updates its pack. The Civitai token,\n"
	  "if any, comes from CIVITAI_API_TOKEN (or CIVITAI_API_KEY).\n\n"
	  "Options:\n"
	  "  --name N          the pack's name (default: the model's name, sanitized)\n"
	  "  --version ID      import this version; repeat for a multi-version pack\n"
	  "                    (default: the version in the URL, else the newest)\n"
	  "  --no-previews     do not download preview images\n"
	  "  --no-add-global   do not add the pack to the global profile\n",
	  cmd_import, CLI_NEEDS_STORE, { "--name=", "--version=*", "--no-previews", "--no-add-global" }, 1, 1, "<ref>" },
	{ "list", "", "List the packs.",
	  "Each pack with its type, number of dependencies, and whether every required\n"
	  "file is installed.\n",
	  cmd_list, CLI_NEEDS_STORE, { NULL }, 0, 0, NULL },
	{ "show", "<pack>", "Show a pack, its lock and the state of each dependency.",
	  "--json prints {pack, lock, dependencies}; each dependency's status is installed,\n"
	  "missing (resolved, blob absent), unresolved, or unlocked (no lock.json).\n",
	  cmd_show, CLI_NEEDS_STORE, { NULL }, 1, 1, "<pack>" },
	{ "resolve", "<pack>", "Rebuild the pack's lock.json from pack.json through its source.",
	  "Asks the source again which exact file (and SHA-256) each dependency means.\n",
	  cmd_resolve, CLI_NEEDS_STORE, { NULL }, 1, 1, "<pack>" },
	{ "install", "<pack> [--jobs N]", "Download the pack's missing files into the blob store.",
	  "Each file is streamed into data/blobs/sha256/<2>/<sha256>.part while being\n"
	  "hashed, verified against the lock's SHA-256 and renamed into place; a blob that\n"
	  "is already stored is never downloaded again. An interrupted download resumes\n"
	  "where it stopped the next time. Shows a progress bar on a terminal.\n"
	  "Exits 1 naming every file that failed; the others stay installed.\n\n"
	  "Options:\n"
	  "  --jobs N     parallel downloads, 1 to 16 (default 4)\n",
	  cmd_install, CLI_NEEDS_STORE, { "--jobs=" }, 1, 1, "<pack>" },
	{ "delete", "<pack> [--force]", "Delete a pack (its blobs stay, as orphans).",
	  "Removes the pack, its work profile and views, and every runtime-stack entry of\n"
	  "it. Asks no question.\n\n"
	  "Options:\n"
	  "  --force      delete even when the pack's work profile is active in a UI\n"
	  "               (those UIs go back to the previous profile)\n",
	  cmd_delete, CLI_NEEDS_STORE, { "--force" }, 1, 1, "<pack>" },
	{ "search", "<query>", "Search the local packs.",
	  "Case-insensitive match of the query in pack names, tags, trigger words, base\n"
	  "models and dependency ids.\n",
	  cmd_search, CLI_NEEDS_STORE, { NULL }, 1, 1, "<query>" },
	{ "use", "<pack> [--ui-set S] [--sync|--no-sync]", "Switch the UIs to a pack's work profile.",
	  "Regenerates work__<pack> (the global profile with <pack> moved last, so its\n"
	  "files win every name clash), downloads the profile's missing blobs (unless\n"
	  "--no-sync), builds its view for each UI of the set, points each UI's 'active'\n"
	  "link at it and pushes it on the UI's stack. Files hidden by a later pack and\n"
	  "blobs still missing are listed.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to switch (default: config defaults.ui_set)\n"
	  "  --no-sync     do not download missing blobs (they are left out of the view)\n",
	  cmd_use, CLI_NEEDS_STORE, { "--ui-set=", "--sync", "--no-sync" }, 1, 1, "<pack>" },
	{ "back", "[--ui-set S]", "Go back to each UI's previous profile.",
	  "Pops each UI's stack (never below global) and points 'active' back.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to switch (default: config defaults.ui_set)\n",
	  cmd_back, CLI_NEEDS_STORE, { "--ui-set=" }, 0, 0, NULL },
	{ "reset", "[--ui-set S]", "Put every UI of the set back on the global profile.",
	  "Each UI's stack becomes [global] and its 'active' link points at the global view.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to reset (default: config defaults.ui_set)\n",
	  cmd_reset, CLI_NEEDS_STORE, { "--ui-set=" }, 0, 0, NULL },
	{ "profiles list", "", "List the profiles, their type and where they are active.",
	  "Types: base (global), work (work__<pack>, made by 'use'), custom.\n",
	  cmd_profiles_list, CLI_NEEDS_STORE, { NULL }, 0, 0, NULL },
	{ "profiles show", "<profile>", "Show a profile's packs in priority order.",
	  "Later packs win name clashes in the profile's views.\n",
	  cmd_profiles_show, CLI_NEEDS_STORE, { NULL }, 1, 1, "<profile>" },
	{ "doctor", "[--rebuild-views] [--verify-blobs] [--ui-set S]", "Check the store and repair what disagrees.",
	  "Always: removes stale temporary files, unfinished view builds and stale git\n"
	  "locks, then reports what 'status' reports.\n\n"
	  "Options:\n"
	  "  --rebuild-views  bring each UI's stack, 'active' link and view into agreement:\n"
	  "                   stack entries whose profile is gone are dropped, the view of\n"
	  "                   the top is rebuilt, 'active' re-pointed\n"
	  "  --verify-blobs   re-hash every blob; corrupt ones move to data/quarantine/\n"
	  "  --ui-set S       the UIs to repair (default: every known UI)\n",
	  cmd_doctor, CLI_NEEDS_STORE, { "--rebuild-views", "--verify-blobs", "--ui-set=" }, 0, 0, NULL },
	{ "attach", "[--ui-set S]", "Make each UI see its Synapse view (without moving your files).",
	  "ComfyUI: a 'synapse' section in <root>/extra_model_paths.yaml between\n"
	  "'# synapse: begin' and '# synapse: end' lines, its paths going through\n"
	  "data/views/comfyui/active; the rest of the file is kept byte for byte and the\n"
	  "original is backed up once (extra_model_paths.yaml.synapse-backup).\n"
	  "A1111, Forge, SD.Next: a 'synapse' symlink inside each model folder, pointing\n"
	  "at the same folder of the active view. Attachments follow use/back by\n"
	  "themselves. UI roots come from config.json ui.roots.<ui> (default: each UI's\n"
	  "usual install folder). A file or folder of yours is never moved or replaced.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to attach (default: config defaults.ui_set)\n",
	  cmd_attach, CLI_NEEDS_STORE, { "--ui-set=" }, 0, 0, NULL },
	{ "detach", "[--ui-set S]", "Undo attach: remove Synapse's section and links.",
	  "Restores extra_model_paths.yaml byte for byte (or deletes it when Synapse\n"
	  "created it) and removes only the 'synapse' links Synapse made.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to detach (default: config defaults.ui_set)\n",
	  cmd_detach, CLI_NEEDS_STORE, { "--ui-set=" }, 0, 0, NULL },
	{ "attach-status", "[--ui-set S]", "Show whether each UI is attached to its view.",
	  "Options:\n"
	  "  --ui-set S    the UIs to report (default: config defaults.ui_set)\n",
	  cmd_attach_status, CLI_NEEDS_STORE, { "--ui-set=" }, 0, 0, NULL },
	{ "status", "[--ui-set SET]", "Show each UI's active profile and whether its view agrees.",
	  "For every UI of the set: the profile its 'active' link shows, its runtime\n"
	  "stack, and whether the two agree with an existing view (in_sync). Then the\n"
	  "blobs the active profile's packs miss and their unresolved dependencies.\n"
	  "Takes no lock; changes nothing.\n\n"
	  "Options:\n"
	  "  --ui-set SET   the UIs to report (default: config defaults.ui_set)\n",
	  cmd_status, CLI_NEEDS_STORE, { "--ui-set=" }, 0, 0, NULL },
	{ "plugins", "", "List the loaded plugins and those that were skipped.",
	  "Plugins are searched in $SYNAPSE_PLUGIN_PATH (colon-separated), then\n"
	  "../lib/synapse/plugins beside the synapse executable, then the install\n"
	  "directory. Needs no store.\n",
	  cmd_plugins, 0, { NULL }, 0, 0, NULL },
	{ "ui list", "", "List the UI layouts: folders, install root, whether an install is there.",
	  "For each UI layout plugin: its kind -> folder table (with config.json\n"
	  "ui.kind_map overrides when a store is initialized), its install root\n"
	  "(config.json ui.roots, else the usual folder) and whether that root holds an\n"
	  "install of the UI. Needs no store.\n",
	  cmd_ui_list, CLI_OPENS_STORE, { NULL }, 0, 0, NULL },
	{ "history", "[--limit N]", "List the commits of state/, newest first.",
	  "Every command that changes state/ records one commit naming it.\n\n"
	  "Options:\n"
	  "  --limit N    show at most N commits\n",
	  cmd_history, CLI_NEEDS_STORE, { "--limit=" }, 0, 0, NULL },
	{ NULL, NULL, NULL, NULL, NULL, 0, { NULL }, 0, 0, NULL },
};

static void print_overview(FILE *out)
{
	const struct cli_command *c;

	fputs("usage: synapse [--root DIR] [--json] <command> [args]\n\n"
	      "Synapse stores Stable Diffusion models once, by SHA-256, and shows every UI\n"
	      "the files it expects.\n\nCommands:\n", out);
	for (c = cli_commands; c->name; c++)
		fprintf(out, "  %-14s %s\n", c->name, c->summary);
	fputs("\nRun 'synapse <command> --help' for a command's options.\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n", out);
}

/* Find the command named by argv[0] (and argv[1] for two-word commands). */
static const struct cli_command *lookup(int argc, char **argv, int *words, bool *is_group)
{
	const struct cli_command *c;
	size_t n0 = strlen(argv[0]);

	*is_group = false;
	for (c = cli_commands; c->name; c++) {
		if (argc > 1 && !strncmp(c->name, argv[0], n0) && c->name[n0] == ' ' &&
		    !strcmp(c->name + n0 + 1, argv[1])) {
			*words = 2;
			return c;
		}
		if (!strcmp(c->name, argv[0])) {
			*words = 1;
			return c;
		}
		if (!strncmp(c->name, argv[0], n0) && c->name[n0] == ' ')
			*is_group = true;
	}
	return NULL;
}

static void print_group(FILE *out, const char *group)
{
	const struct cli_command *c;
	size_t n = strlen(group);

	fprintf(out, "usage: synapse %s <subcommand> [args]\n\nSubcommands:\n", group);
	for (c = cli_commands; c->name; c++)
		if (!strncmp(c->name, group, n) && c->name[n] == ' ')
			fprintf(out, "  %-14s %s\n", c->name, c->summary);
}

static void warn_skipped(const struct syn_registry *reg)
{
	size_t i;

	for (i = 0; i < syn_registry_skipped_count(reg); i++) {
		const char *file, *reason;

		syn_registry_skipped_at(reg, i, &file, &reason);
		fprintf(stderr, "warning: skipped plugin '%s': %s\n", file, reason);
	}
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	char **rest;
	int nrest = 0, i, words = 0, status;
	bool help = false, is_group;
	const struct cli_command *cmd;

	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return CLI_FAIL;
	/* global options may appear anywhere before "--" */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (++i < argc)
				rest[nrest++] = argv[i];
			break;
		}
		if (!strcmp(argv[i], "--json")) {
			cli.json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			help = true;
		} else if (!strcmp(argv[i], "--version") && nrest == 0) {
			printf("synapse %s (plugin ABI %d.%d)\n", SYN_VERSION_STRING, SYN_PLUGIN_ABI_MAJOR,
			       SYN_PLUGIN_ABI_MINOR);
			free(rest);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--root") || !strncmp(argv[i], "--root=", 7)) {
			if (argv[i][6] == '=') {
				cli.root = argv[i] + 7;
			} else if (i + 1 < argc) {
				cli.root = argv[++i];
			} else {
				fputs("error: option '--root' needs a directory\n", stderr);
				free(rest);
				return CLI_USAGE;
			}
		} else {
			rest[nrest++] = argv[i];
		}
	}
	if (nrest == 0) {
		print_overview(help ? stdout : stderr);
		free(rest);
		return help ? CLI_OK : CLI_USAGE;
	}
	cmd = lookup(nrest, rest, &words, &is_group);
	if (!cmd) {
		if (is_group) {
			print_group(help ? stdout : stderr, rest[0]);
			if (!help && nrest > 1)
				fprintf(stderr, "\nerror: unknown subcommand '%s %s'\n", rest[0], rest[1]);
		} else {
			fprintf(stderr, "error: unknown command '%s'\n\n", rest[0]);
			print_overview(stderr);
		}
		free(rest);
		return help && is_group ? CLI_OK : CLI_USAGE;
	}
	if (help) {
		cli_print_help(stdout, cmd);
		free(rest);
		return CLI_OK;
	}
	cli.cmd = cmd;
	cli.argc = nrest - words;
	cli.argv = rest + words;
	status = cli_parse(&cli);
	if (status) {
		free(rest);
		return status;
	}

	status = CLI_FAIL;
	if (syn_global_init() < 0 || syn_registry_new(&cli.reg) < 0 || syn_registry_load_default(cli.reg) < 0) {
		cli_fail(&cli);
		goto out;
	}
	if (cmd->run != cmd_plugins)
		warn_skipped(cli.reg);
	if (cmd->needs & (CLI_NEEDS_STORE | CLI_OPENS_STORE)) {
		if (syn_store_open(&cli.store, cli.reg, cli.root) < 0 ||
		    ((cmd->needs & CLI_NEEDS_STORE) && syn_store_require_init(cli.store) < 0)) {
			cli_fail(&cli);
			goto out;
		}
	}
	status = cmd->run(&cli);
out:
	syn_store_free(cli.store);
	syn_registry_free(cli.reg);
	syn_global_shutdown();
	free(rest);
	return status;
}
