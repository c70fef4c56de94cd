/* synapse: the command-line frontend (git.c-style command table). */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const struct cli_command cli_commands[] = {
	{ "store init", "[--force]",
	  "Creates the layout under the store root: state/ (a git repository with\n"
	  "config.json, ui_sets.json and the global profile) and data/ (blobs, views,\n"
	  "runtime.json), and an empty 'global' view with 'active' for every UI.\n"
	  "An initialized store is left as it is.\n\n"
	  "Options:\n"
	  "  --force      repair: move missing or unparseable default documents aside\n"
	  "               (<name>.corrupt-<time>) and rewrite them; recreate missing\n"
	  "               directories, .git and views. Packs, profiles and blobs are\n"
	  "               never touched.\n",
	  render_init, { "--force:force" }, { NULL }, 0, NULL, NULL, false },
	{ "store config", "",
	  "Text output summarises the roots, UI set and UIs; --json prints the whole\n"
	  "config.json document.\n",
	  render_config, { NULL }, { NULL }, 0, NULL, NULL, false },
	{ "import", "<ref> [--name N] [--version ID ...] [--no-previews] [--no-add-global]",
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
	  render_import, { "--name=:pack_name", "--version=*:version_ids", "--no-previews:!download_previews", "--no-add-global:!add_to_global" }, { "url" }, 1, "<ref>", "Importing", false },
	{ "list", "",
	  "Each pack with its type, number of dependencies, and whether every required\n"
	  "file is installed.\n",
	  render_list, { NULL }, { NULL }, 0, NULL, NULL, false },
	{ "show", "<pack>",
	  "--json prints {pack, lock, dependencies}; each dependency's status is installed,\n"
	  "missing (resolved, blob absent), unresolved, or unlocked (no lock.json).\n",
	  render_show, { NULL }, { "pack" }, 1, "<pack>", NULL, false },
	{ "resolve", "<pack>",
	  "Asks the source again which exact file (and SHA-256) each dependency means.\n",
	  render_resolve, { NULL }, { "pack" }, 1, "<pack>", NULL, false },
	{ "install", "<pack> [--jobs N] [--limit-rate RATE]",
	  "Each file is streamed into data/blobs/sha256/<2>/<sha256>.part while being\n"
	  "hashed, verified against the lock's SHA-256 and renamed into place; a blob that\n"
	  "is already stored is never downloaded again. A file of at least\n"
	  "config download.segment_min bytes (64 MiB) comes over download.connections\n"
	  "ranged connections at once (4) when the server allows it. An interrupted\n"
	  "download resumes where it stopped the next time, keeping every range it held.\n"
	  "Shows a progress bar per file and a total on a terminal.\n"
	  "Exits 1 naming every file that failed; the others stay installed.\n\n"
	  "Options:\n"
	  "  --jobs N            parallel downloads, 1 to 16 (default 4)\n"
	  "  --limit-rate RATE   bytes per second for all downloads together, e.g. 10M\n"
	  "                      or 500k (default: config download.max_rate, 0 = none)\n",
	  render_install, { "--jobs=:jobs", "--limit-rate=:limit_rate" }, { "pack" }, 1, "<pack>", NULL, true },
	{ "delete", "<pack> [--force]",
	  "Removes the pack, its work profile and views, and every runtime-stack entry of\n"
	  "it. Asks no question.\n\n"
	  "Options:\n"
	  "  --force      delete even when the pack's work profile is active in a UI\n"
	  "               (those UIs go back to the previous profile)\n",
	  render_delete, { "--force:force" }, { "pack" }, 1, "<pack>", NULL, false },
	{ "check-updates", "[<pack>]",
	  "Asks each followed dependency's source (update_policy follow_latest) whether\n"
	  "a newer version has a file that continues it; every pack when none is named.\n"
	  "Models are fetched in batches (Civitai: 100 per request) and requests that\n"
	  "fail with 429 or 5xx are retried with back-off. Per dependency: an update; a\n"
	  "held update (its base model differs, or it is in early access); ambiguous\n"
	  "(several files could be the new one, listed with id, name, format, precision\n"
	  "and size); or an error. A pack of several versions of one model never sees\n"
	  "another of its versions as an update. Changes nothing.\n",
	  render_check_updates, { NULL }, { "pack" }, 0, "[<pack>]", NULL, false },
	{ "update", "<pack> | --all [--dry-run] [--sync] [--choose DEP=FILE_ID ...] [--jobs N] [--limit-rate RATE]",
	  "Moves each updated dependency's lock entry onto its new file, in one commit;\n"
	  "pack.json stays, so the UIs see the same file names. The views of the UIs\n"
	  "showing the pack follow. The old blobs stay in the store. A held or ambiguous\n"
	  "dependency needs --choose (exit 1 otherwise, listing the files; nothing is\n"
	  "changed). With --all, every pack's plain updates are applied and the others are\n"
	  "reported as skipped (why) or failed.\n\n"
	  "Options:\n"
	  "  --all              every pack\n"
	  "  --dry-run          show what would change, change nothing\n"
	  "  --sync             download the new files first; a pack changes only when\n"
	  "                     all of its new files arrived (interrupted: run again)\n"
	  "  --choose DEP=ID    take file ID of the newest version for dependency DEP;\n"
	  "                     repeat for several; with --all, PACK:DEP=ID\n"
	  "  --jobs N           parallel downloads with --sync, 1 to 16 (default 4)\n"
	  "  --limit-rate RATE  bytes per second for all downloads with --sync, e.g. 10M\n",
	  render_update, { "--all:all", "--dry-run:dry_run", "--sync:sync", "--choose=*:choose", "--jobs=:jobs",
			   "--limit-rate=:limit_rate" },
	  { "pack" }, 0, "<pack>", NULL, true },
	{ "search", "<query>",
	  "Case-insensitive match of the query in pack names, tags, trigger words, base\n"
	  "models and dependency ids.\n",
	  render_search, { NULL }, { "query" }, 1, "<query>", NULL, false },
	{ "use", "<pack> [--ui-set S] [--sync|--no-sync] [--limit-rate RATE]",
	  "Regenerates work__<pack> (the global profile with <pack> moved last, so its\n"
	  "files win every name clash), downloads the profile's missing blobs (unless\n"
	  "--no-sync), builds its view for each UI of the set, points each UI's 'active'\n"
	  "link at it and pushes it on the UI's stack. Files hidden by a later pack and\n"
	  "blobs still missing are listed.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to switch (default: config defaults.ui_set)\n"
	  "  --no-sync     do not download missing blobs (they are left out of the view)\n"
	  "  --limit-rate RATE  bytes per second for all downloads together, e.g. 10M\n",
	  render_use, { "--ui-set=:ui_set", "--sync:sync", "--no-sync:!sync", "--limit-rate=:limit_rate" }, { "pack" }, 1, "<pack>", NULL, true },
	{ "back", "[--ui-set S]",
	  "Pops each UI's stack (never below global) and points 'active' back.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to switch (default: config defaults.ui_set)\n",
	  render_back, { "--ui-set=:ui_set" }, { NULL }, 0, NULL, NULL, false },
	{ "reset", "[--ui-set S]",
	  "Each UI's stack becomes [global] and its 'active' link points at the global view.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to reset (default: config defaults.ui_set)\n",
	  render_reset, { "--ui-set=:ui_set" }, { NULL }, 0, NULL, NULL, false },
	{ "profiles list", "",
	  "Types: base (global), work (work__<pack>, made by 'use'), custom.\n",
	  render_profiles, { NULL }, { NULL }, 0, NULL, NULL, false },
	{ "profiles show", "<profile>",
	  "Later packs win name clashes in the profile's views.\n",
	  render_profile, { NULL }, { "profile" }, 1, "<profile>", NULL, false },
	{ "doctor", "[--rebuild-views] [--verify-blobs] [--ui-set S]",
	  "Always: removes stale temporary files, unfinished view builds and stale git\n"
	  "locks, packs the loose objects of state/.git when there are 256 or more,\n"
	  "then reports what 'status' reports, and every repair it made.\n"
	  "Exits 0 only when the store was healthy; 1 when anything had to be repaired\n"
	  "or is still wrong (the report says what).\n\n"
	  "Options:\n"
	  "  --rebuild-views  bring each UI's stack, 'active' link and view into agreement:\n"
	  "                   stack entries whose profile is gone are dropped, the view of\n"
	  "                   the top is rebuilt, 'active' re-pointed\n"
	  "  --verify-blobs   re-hash every blob; corrupt ones move to data/quarantine/\n"
	  "  --ui-set S       the UIs to repair (default: every known UI)\n",
	  render_doctor, { "--rebuild-views:rebuild_views", "--verify-blobs:verify_blobs", "--ui-set=:ui_set" }, { NULL }, 0, NULL, NULL, false },
	{ "attach", "[--ui-set S]",
	  "Each UI layout declares how. ComfyUI: a 'synapse' section in\n"
	  "<root>/extra_model_paths.yaml between '# synapse: begin' and\n"
	  "'# synapse: end' lines (checked with a YAML parser first), its paths through\n"
	  "data/views/comfyui/active; the rest of the file is kept byte for byte and the\n"
	  "original is backed up once (extra_model_paths.yaml.synapse-backup).\n"
	  "A1111, Forge, SD.Next: a 'synapse' symlink inside each model folder, pointing\n"
	  "at the same folder of the active view. Attachments follow use/back by\n"
	  "themselves. UI roots come from config.json ui.roots.<ui> (default: each UI's\n"
	  "usual install folder). A file or folder of yours is never moved or replaced;\n"
	  "model folders attach had to create are recorded, and detach removes them\n"
	  "again when they are empty.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to attach (default: config defaults.ui_set)\n",
	  render_attach, { "--ui-set=:ui_set" }, { NULL }, 0, NULL, NULL, false },
	{ "detach", "[--ui-set S]",
	  "Restores extra_model_paths.yaml byte for byte (or deletes it when Synapse\n"
	  "created it) and removes only the 'synapse' links Synapse made.\n\n"
	  "Options:\n"
	  "  --ui-set S    the UIs to detach (default: config defaults.ui_set)\n",
	  render_detach, { "--ui-set=:ui_set" }, { NULL }, 0, NULL, NULL, false },
	{ "attach-status", "[--ui-set S]",
	  "Options:\n"
	  "  --ui-set S    the UIs to report (default: config defaults.ui_set)\n",
	  render_attach_status, { "--ui-set=:ui_set" }, { NULL }, 0, NULL, NULL, false },
	{ "status", "[--ui-set SET]",
	  "For every UI of the set: the profile its 'active' link shows, its runtime\n"
	  "stack, and whether the two agree with an existing view (in_sync). Then the\n"
	  "blobs the active profile's packs miss and their unresolved dependencies.\n"
	  "Takes no lock; changes nothing.\n\n"
	  "Options:\n"
	  "  --ui-set SET   the UIs to report (default: config defaults.ui_set)\n",
	  render_status, { "--ui-set=:ui_set" }, { NULL }, 0, NULL, NULL, false },
	{ "plugins", "",
	  "Plugins are searched in $SYNAPSE_PLUGIN_PATH (colon-separated), then\n"
	  "../lib/synapse/plugins beside the synapse executable, then the install\n"
	  "directory. Needs no store.\n",
	  render_plugins, { NULL }, { NULL }, 0, NULL, NULL, false },
	{ "ui list", "",
	  "For each UI layout plugin: its kind -> folder table (with config.json\n"
	  "ui.kind_map overrides when a store is initialized), its install root\n"
	  "(config.json ui.roots, else the usual folder) and whether that root holds an\n"
	  "install of the UI, whether the store has it enabled and how it is attached.\n"
	  "A layout plugin dropped into a plugin directory later is listed as\n"
	  "available until 'synapse ui enable' adds it. Needs no store.\n",
	  render_ui_list, { NULL }, { NULL }, 0, NULL, NULL, false },
	{ "ui enable", "<ui>",
	  "Adds a loaded UI layout to the store: config.json's ui.known, its folder\n"
	  "table (ui.kind_map, keeping your own entries) and install root (ui.roots),\n"
	  "its view of the global profile with 'active', and a runtime stack. From then\n"
	  "on the UI is in the 'all' set and is a UI set of its own (--ui-set <ui>).\n",
	  render_ui_enable, { NULL }, { "ui" }, 1, "<ui>", NULL, false },
	{ "ui disable", "<ui>",
	  "Takes a UI out of the store: its config.json entries, runtime stack and\n"
	  "views go. Refused while the UI is attached: run 'synapse detach --ui-set\n"
	  "<ui>' first. Nothing in the UI's own folders is touched.\n",
	  render_ui_enable, { NULL }, { "ui" }, 1, "<ui>", NULL, false },
	{ "history", "[--limit N]",
	  "Every command that changes state/ records one commit naming it.\n\n"
	  "Options:\n"
	  "  --limit N    show at most N commits\n",
	  render_history, { "--limit=:limit" }, { NULL }, 0, NULL, NULL, false },
	{ "inventory list", "[--kind K] [--status S]",
	  "Every blob the store holds here or on its backup, and every blob a pack's lock\n"
	  "names, largest first: its size, status (referenced, orphan, missing,\n"
	  "backup_only), location (local_only, backup_only, both, nowhere; unknown while\n"
	  "the backup cannot be reached), kind, file name, the packs that use it and the\n"
	  "UIs whose active view links it. Then the totals: bytes per status and kind,\n"
	  "what deduplication saves (one stored copy for every pack using a file), the\n"
	  "free disk space and the backup's state. Manifests (.meta) and unfinished\n"
	  "downloads (.part) are never blobs. Changes nothing.\n\n"
	  "Options:\n"
	  "  --kind K      only blobs of kind K (checkpoint, lora, vae, ...)\n"
	  "  --status S    only blobs of status S\n",
	  render_inventory, { "--kind=:kind", "--status=:status" }, { NULL }, 0, NULL, NULL, false },
	{ "inventory orphans", "[--kind K]",
	  "'inventory list --status orphan': blobs no pack's lock names. Remove them\n"
	  "with 'synapse inventory cleanup'.\n\n"
	  "Options:\n"
	  "  --kind K      only blobs of kind K\n",
	  render_inventory, { "--kind=:kind" }, { NULL }, 0, NULL, NULL, false },
	{ "inventory missing", "[--kind K]",
	  "'inventory list --status missing': blobs a pack needs that neither this\n"
	  "machine nor the backup holds. 'synapse install <pack>' fetches them again.\n\n"
	  "Options:\n"
	  "  --kind K      only blobs of kind K\n",
	  render_inventory, { "--kind=:kind" }, { NULL }, 0, NULL, NULL, false },
	{ "inventory impacts", "<sha256>",
	  "The packs that reference the blob, the UIs whose active view links it, where\n"
	  "its copies are, and whether deleting it is safe (and if not, why).\n",
	  render_inventory_impacts, { NULL }, { "sha256" }, 1, "<sha256>", NULL, false },
	{ "adopt", "[<folder>...] [--ui NAME] [--dry-run] [--copy | --link | --move]",
	  "Takes in the model files (*.safetensors, *.ckpt, *.pt, *.pt2, *.pth, *.bin,\n"
	  "*.gguf, *.sft) under the folders given, or under every enabled UI's model\n"
	  "folders: each is hashed (one thread per core), stored once as a blob - a\n"
	  "reflink clone where the filesystem can share extents, else a copy - and\n"
	  "Civitai is asked which files it knows (by SHA-256, 100 at a time). A file it\n"
	  "knows becomes the pack 'import' makes of its model, already installed, or\n"
	  "extends that model's pack; the others become the local pack\n"
	  "'adopted-<folder>' ('adopted-<ui>' for a UI's folders). The report lists the\n"
	  "duplicates found and the space they waste. Symbolic links are not followed;\n"
	  "a file that changes while it is read is skipped. Digests are cached by\n"
	  "device, inode, size and mtime, so a second run only looks at metadata.\n"
	  "Previews are not downloaded: import the model again for them.\n\n"
	  "Options:\n"
	  "  --ui NAME     kinds from the UI's folder table (and its folders when none\n"
	  "                are given)\n"
	  "  --dry-run     hash and identify only: no blob, no pack (digests are still\n"
	  "                remembered in data/cache)\n"
	  "  --copy        leave the originals as they are (the default)\n"
	  "  --link        the blob is the original itself, by a hard link (no byte\n"
	  "                copied; a copy on another filesystem). Saving over the file\n"
	  "                or editing it in place then changes the blob too ('inventory\n"
	  "                verify' finds it), and the blob keeps the file's mode: for\n"
	  "                folders whose files are only ever replaced by a rename\n"
	  "  --move        once the packs are written, replace each original a pack\n"
	  "                holds by a link to its blob: the file is read again in this\n"
	  "                run, its blob verified, and it must not have changed meanwhile\n",
	  render_adopt, { "--ui=:ui", "--dry-run:dry_run", "--copy:mode=copy", "--link:mode=link", "--move:mode=move" },
	  { "*folders" }, 0,
	  "<folder>...", NULL, false },
	{ "inventory verify", "--all | <sha256>...",
	  "Re-hashes the local copies of the blobs named (or of every blob with --all),\n"
	  "one thread per core. Exits 1 when any is corrupt or absent, naming it;\n"
	  "'synapse doctor --verify-blobs' sets corrupt ones aside.\n\n"
	  "Options:\n"
	  "  --all         every blob stored here\n",
	  render_inventory_verify, { "--all:all" }, { "*shas" }, 0, "<sha256>...", NULL, false },
	{ "inventory cleanup", "[--dry-run | --execute] [--max N]",
	  "Removes the orphans stored here: blobs no pack references and no UI's active\n"
	  "view links, largest first. Without --execute only shows what would go and\n"
	  "how much it frees. Under the store lock, each blob is checked again just\n"
	  "before it goes. Refused while some pack cannot be read (its blobs would look\n"
	  "like orphans): repair or delete that pack first. Blobs only the backup holds\n"
	  "are left alone.\n\n"
	  "Options:\n"
	  "  --dry-run     show what would be removed (the default)\n"
	  "  --execute     remove them\n"
	  "  --max N       at most N blobs (0: all)\n",
	  render_inventory_cleanup, { "--dry-run:dry_run", "--execute:execute", "--max=:max" }, { NULL }, 0, NULL, NULL, false },
	{ "inventory delete", "<sha256> [--target local|backup|both] [--force]",
	  "Deletes copies of one blob, behind guard rails: the local copy of a blob a\n"
	  "UI's active view links stays; the last copy of a blob a pack needs stays; a\n"
	  "copy of a needed blob goes only after the copy that remains was re-hashed\n"
	  "and found good. A refusal names the reason and exits 1.\n\n"
	  "Options:\n"
	  "  --target T    local (default), backup, or both\n"
	  "  --force       delete despite the guard rails (each is reported as a warning)\n",
	  render_inventory_delete, { "--target=:target", "--force:force" }, { "sha256" }, 1, "<sha256>", NULL, false },
	{ "backup status", "",
	  "The backup configured in config.json (backup.enabled, backup.backend, default\n"
	  "backup_path, and backup.path): whether it can be reached, how many blobs and\n"
	  "bytes it holds (real blobs only), the room left when the backend can say, and\n"
	  "how many blobs are local only, backup only, or in both places. Changes nothing.\n"
	  "A backup_path backup keeps blobs at <path>/.synapse/store/data/blobs/sha256/<2>/<sha256>.\n",
	  render_backup_status, { NULL }, { NULL }, 0, NULL, NULL, false },
	{ "backup config", "[--path P] [--enable | --disable] [--backend NAME]",
	  "Rewrites config.json's backup section (other keys kept) under the store lock,\n"
	  "as one commit, then shows the status. Every command reads the backup from there.\n\n"
	  "Options:\n"
	  "  --path P        the backup directory (absolute)\n"
	  "  --enable        use the backup (needs a path)\n"
	  "  --disable       stop using it (nothing on it is touched)\n"
	  "  --backend NAME  the backend plugin (default backup_path)\n",
	  render_backup_status, { "--path=:path", "--enable:enable", "--disable:disable", "--backend=:backend" },
	  { NULL }, 0, NULL, NULL, false },
	{ "backup blob", "<sha256>",
	  "Copies a local blob to the backup: the backend writes a temporary name,\n"
	  "verifies and renames; the copy is then read back and re-hashed. A copy already\n"
	  "there is re-hashed too (a corrupt one is an error).\n",
	  render_backup_blob, { NULL }, { "sha256" }, 1, "<sha256>", NULL, false },
	{ "backup restore", "<sha256>",
	  "Copies a blob from the backup into the local store, verified against its name\n"
	  "while it is written: a corrupt backup copy is an error and nothing is written.\n",
	  render_backup_restore, { NULL }, { "sha256" }, 1, "<sha256>", NULL, false },
	{ "backup delete", "<sha256> --force",
	  "Deletes the backup's copy of a blob. Needs --force to confirm. The local copy, if\n"
	  "any, is re-hashed first; the backup copy of a blob a pack needs is deleted only\n"
	  "when a verified local copy remains (--force does not override that).\n",
	  render_backup_delete, { "--force:force" }, { "sha256" }, 1, "<sha256>", NULL, false },
	{ "backup pull", "<pack> [--execute]",
	  "The pack's locked blobs that are missing locally and on the backup; restored\n"
	  "with --execute (a dry run otherwise). Each blob on its own: a failure is listed\n"
	  "and the others go on; exit 1 when any failed. Running it again finishes the job.\n\n"
	  "Options:\n"
	  "  --execute    copy (default: only show what would be copied)\n",
	  render_backup_sync, { "--execute:execute" }, { "pack" }, 1, "<pack>", NULL, true },
	{ "backup push", "<pack> [--execute] [--cleanup]",
	  "The pack's local blobs the backup lacks; copied and verified with --execute.\n\n"
	  "Options:\n"
	  "  --execute    copy (default: only show what would be copied)\n"
	  "  --cleanup    with --execute: then remove each local copy whose backup copy was\n"
	  "               written and verified now, unless a UI's active view links it\n",
	  render_backup_sync, { "--execute:execute", "--cleanup:cleanup" }, { "pack" }, 1, "<pack>", NULL, true },
	{ "backup sync", "--direction to_backup|from_backup [--execute] [--all]",
	  "Every blob one side has and the other lacks, copied towards the destination\n"
	  "with --execute (a dry run otherwise). Copies are verified; nothing is removed.\n\n"
	  "Options:\n"
	  "  --direction D  to_backup or from_backup\n"
	  "  --execute      copy (default: only show what would be copied)\n"
	  "  --all          ask the destination about every blob one by one instead of\n"
	  "                 listing it (for backends that cannot list)\n",
	  render_backup_sync, { "--direction=:direction", "--execute:execute", "--all:all" }, { NULL }, 0, NULL, NULL,
	  true },
	{ "serve", "[--host H] [--port P]",
	  "Serves the HTTP API (every route is described at /api/openapi.json) and the\n"
	  "page for people at /, on the store, initializing it when needed. Prints\n"
	  "\"Synapse serving <root> at http://<host>:<port>/\" once it listens. With\n"
	  "SYNAPSE_API_TOKEN set, every request but the page's needs\n"
	  "'Authorization: Bearer <token>'. SIGTERM or SIGINT stop it after the requests\n"
	  "and jobs in flight are done.\n\n"
	  "Options:\n"
	  "  --host H     the address to listen on (default 127.0.0.1: this machine only)\n"
	  "  --port P     the port (default 8765; 0: any free port, printed)\n",
	  NULL, { "--host=:host", "--port=:port" }, { NULL }, 0, NULL, NULL, false },
	{ NULL },
};

/* The one-line summary of @cmd: its operation's. */
static const char *summary_of(const struct cli_command *cmd)
{
	const struct syn_op *op = syn_op_find(cmd->name);

	/* serve is the one command that is no operation */
	if (!strcmp(cmd->name, "serve"))
		return "Serve the HTTP API and the page.";
	return op ? op->summary : "";
}

static void print_overview(FILE *out)
{
	const struct cli_command *c;

	fputs("usage: synapse [--root DIR] [--json] <command> [args]\n\n"
	      "Synapse stores Stable Diffusion models once, by SHA-256, and shows every UI\n"
	      "the files it expects.\n\nCommands:\n", out);
	for (c = cli_commands; c->name; c++)
		fprintf(out, "  %-14s %s\n", c->name, summary_of(c));
	fputs("\nRun 'synapse <command> --help' (or 'synapse help <command>') for a command's options.\n"
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
			fprintf(out, "  %-14s %s\n", c->name, summary_of(c));
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

void cli_print_help(FILE *out, const struct cli_command *cmd)
{
	fprintf(out, "usage: synapse [--root DIR] [--json] %s %s\n\n%s\n", cmd->name, cmd->usage, summary_of(cmd));
	if (cmd->help && *cmd->help)
		fprintf(out, "\n%s", cmd->help);
	fputs("\nCommon options:\n"
	      "  --root DIR   the store root (default: $SYNAPSE_ROOT, else ~/.synapse/store)\n"
	      "  --json       print one JSON document on stdout ({\"detail\": ...} on failure)\n"
	      "  -h, --help   show this help\n", out);
}

/* Run the command's operation on the parsed arguments and show what it reports. */
static int run(struct cli *cli)
{
	const struct cli_command *cmd = cli->cmd;
	const struct syn_op *op = syn_op_find(cmd->name);
	struct syn_progress progress = { 0 };
	struct cli_bar *bar = NULL;
	json_t *report = NULL;
	int rc, status;

	if (!strcmp(cmd->name, "serve"))
		return cli_serve(cli);
	if (!op)
		return cli_usage_error(cli, "command '%s' has no operation", cmd->name);
	/*
	 * One operation, then the process ends: the megabytes a large store's
	 * records take to read and write are reused once freed, not handed back
	 * and faulted in again page by page.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	if (cli->json && op->emit)
		return cli_emit(cli, op);
	if (cmd->progress && !cli->json && isatty(STDERR_FILENO))
		bar = cli_bar_start(&progress);
	if (cmd->start && !cli->json)
		fprintf(stderr, "%s %s...\n", cmd->start, json_string_value(json_object_get(cli->args, cmd->pos_keys[0])));
	rc = syn_op_run(op, cli->store, cli->args, bar ? &progress : NULL, &report);
	cli_bar_end(bar);
	if (rc < 0) {
		/* what a partly failed operation did is shown before why it failed */
		if (report && !cli->json)
			cmd->render(cli, report);
		status = cli_fail(cli, report);
		json_decref(report);
		return status;
	}
	return cli_report(cli, report, cmd->render);
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
			/* kept: the command's own options end there too */
			rest[nrest++] = argv[i];
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
				status = cli_usage_error(&cli, "option '--root' needs a directory");
				free(rest);
				return status;
			}
		} else {
			rest[nrest++] = argv[i];
		}
	}
	/* "synapse help <command>" is "synapse <command> --help" */
	if (nrest > 0 && !strcmp(rest[0], "help")) {
		memmove(rest, rest + 1, (size_t)nrest * sizeof(*rest));
		nrest--;
		help = true;
	}
	if (nrest == 0) {
		print_overview(help ? stdout : stderr);
		free(rest);
		if (help)
			return CLI_OK;
		return cli.json ? cli_usage_error(&cli, "no command given") : CLI_USAGE;
	}
	cmd = lookup(nrest, rest, &words, &is_group);
	if (!cmd) {
		if (is_group && (help || nrest == 1)) {
			print_group(help ? stdout : stderr, rest[0]);
			status = help ? CLI_OK : cli.json ? cli_usage_error(&cli, "'%s' needs a subcommand", rest[0]) : CLI_USAGE;
		} else if (is_group) {
			print_group(stderr, rest[0]);
			status = cli_usage_error(&cli, "unknown subcommand '%s %s'", rest[0], rest[1]);
		} else {
			print_overview(stderr);
			status = cli_usage_error(&cli, "unknown command '%s'", rest[0]);
		}
		free(rest);
		return status;
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
	if (status)
		goto out;

	status = CLI_FAIL;
	if (syn_global_init() < 0 || syn_registry_new(&cli.reg) < 0 || syn_registry_load_default(cli.reg) < 0 ||
	    syn_store_open(&cli.store, cli.reg, cli.root) < 0) {
		status = cli_fail(&cli, NULL);
		goto out;
	}
	if (strcmp(cmd->name, "plugins"))
		warn_skipped(cli.reg);
	status = run(&cli);
out:
	json_decref(cli.args);
	syn_store_free(cli.store);
	syn_registry_free(cli.reg);
	syn_global_shutdown();
	free(rest);
	return status;
}
