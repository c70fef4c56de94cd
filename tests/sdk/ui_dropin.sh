#!/usr/bin/env bash
# A UI layout plugin from a third party (tests/sdk/myui.c), built out of tree
# against `cmake --install` output with pkg-config only, dropped into a
# directory of SYNAPSE_PLUGIN_PATH and put to work by the installed synapse
# on a store made before the plugin existed: listed but not enabled, refused
# as a UI set until `ui enable`, then `use`, `status`, `attach`,
# `attach-status`, `detach` and `ui disable`, for the links method (myui) and
# for an extra-paths file of its own (mypaths).
#   ui_dropin.sh <build dir>
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset SYNAPSE_ROOT SYNAPSE_STATE_ROOT SYNAPSE_DATA_ROOT SYNAPSE_PLUGIN_PATH CIVITAI_API_TOKEN CIVITAI_API_KEY
# default UI roots (~/MyUI, ...) land in the temp dir; nothing may go out to the network
export HOME=$tmp/home SYNAPSE_FSYNC=0 SYNAPSE_CIVITAI_URL=http://127.0.0.1:9
mkdir -p "$HOME"

fail() {
	echo "ui_dropin: $*" >&2
	exit 1
}

# run <exit status> <command>...: the command's stdout in $out, its stderr in $err
run() {
	local want=$1 rc=0
	shift
	"$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
	if grep -qE 'Sanitizer|runtime error:' <<< "$err"; then fail "'$*': $err"; fi
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, not $want
stdout: $out
stderr: $err"
}

# The object of $out's "uis" array whose name is $1 (`ui list --json`).
ui_entry() {
	awk -v n="      \"name\": \"$1\"," '/^    \{/ { c = "" } { c = c $0 "\n" } /^    \}/ { if (index(c, n)) printf "%s", c }' <<< "$out"
}

# The top-level member $1 of the JSON document in $out, one line or a block.
member() {
	awk -v k="  \"$1\": " 'index($0, k) == 1 { print; if ($0 !~ /[[{]$/) exit; p = 1; next } p { print; if ($0 ~ /^  []}]/) exit }' <<< "$out"
}

# has <text> <fixed line>: <text> has the line (leading blanks and a trailing comma ignored)
has() {
	local t
	t=$(sed 's/^ *//; s/,$//' <<< "$1")
	grep -qxF -- "$2" <<< "$t"
}

# The ui.known array of config.json, and whether it has $1.
known() {
	awk '/^    "known": \[/ { p = 1; next } p && /^    \]/ { exit } p { print }' "$root/state/config.json"
}
is_known() {
	local k
	k=$(known)
	has "$k" "\"$1\""
}

# Install, and build the plugin the way its README would tell a third party to.
cmake --install "$build" --prefix "$tmp/usr" --component Unspecified > /dev/null
pcdir=$(dirname "$(find "$tmp/usr" -name synapse.pc | head -n 1)")
export PKG_CONFIG_PATH=$pcdir
pc() { pkg-config --define-variable=prefix="$tmp/usr" "$@" synapse; }
cflags=$(pc --cflags)
libs=$(pc --libs)
mkdir -p "$tmp/plugins"
# shellcheck disable=SC2086
cc -std=c11 -pedantic -Wall -Wextra -Werror -shared -fPIC $cflags -o "$tmp/plugins/myui.so" "$src/myui.c" $libs
synapse=$tmp/usr/bin/synapse
root=$tmp/store
S() { "$synapse" --root "$root" "$@"; }

# A store made before the plugin was there.
run 0 S store init
grep -q myui "$root/state/config.json" && fail "store init without the plugin knows myui"
[ ! -e "$root/data/views/myui" ] || fail "store init without the plugin made a view for myui"

# A pack with one LoRA, written as an import would (no network): its
# documents, an entry in the global profile and its blob, read-only.
printf 'the weights of my adapter\n' > "$tmp/adapter.bin"
sha=$(sha256sum "$tmp/adapter.bin" | cut -d ' ' -f 1)
size=$(stat -c %s "$tmp/adapter.bin")
mkdir -p "$root/state/packs/P" "$root/data/blobs/sha256/${sha:0:2}"
cat > "$root/state/packs/P/pack.json" << EOF
{
  "dependencies": [
    {
      "expose": {
        "filename": "my_adapter.safetensors",
        "trigger_words": []
      },
      "id": "file_0",
      "kind": "lora",
      "required": true,
      "selector": {
        "strategy": "url_download"
      },
      "update_policy": {
        "mode": "pinned"
      }
    }
  ],
  "name": "P",
  "pack_type": "lora",
  "schema": "synapse.pack.v2",
  "source": {
    "provider": "local"
  }
}
EOF
cat > "$root/state/packs/P/lock.json" << EOF
{
  "pack": "P",
  "resolved": [
    {
      "artifact": {
        "download": {
          "urls": []
        },
        "integrity": {
          "sha256_verified": true
        },
        "kind": "lora",
        "provider": {
          "name": "url"
        },
        "sha256": "$sha",
        "size_bytes": $size
      },
      "dependency_id": "file_0"
    }
  ],
  "schema": "synapse.lock.v2",
  "unresolved": []
}
EOF
grep -q '"packs": \[\]' "$root/state/profiles/global/profile.json" || fail "a new store's global profile is not empty"
sed -i 's/"packs": \[\]/"packs": [{"name": "P"}]/' "$root/state/profiles/global/profile.json"
blob=$root/data/blobs/sha256/${sha:0:2}/$sha
install -m 0444 "$tmp/adapter.bin" "$blob"
run 0 S --json list
grep -q '"name": "P"' <<< "$out" || fail "list does not show the hand-made pack: $out"
grep -q '"installed": true' <<< "$out" || fail "the hand-made pack is not installed: $out"

# Now the plugin is there.
export SYNAPSE_PLUGIN_PATH=$tmp/plugins
run 0 "$synapse" plugins --json
grep -q "\"file\": \"$tmp/plugins/myui.so\"" <<< "$out" || fail "myui.so not loaded: $out"
! grep -q '"reason"' <<< "$out" || fail "a plugin was skipped: $out"

# 1. listed, with its own folders and attach method, and not enabled
run 0 S ui list --json
e=$(ui_entry myui)
[ -n "$e" ] || fail "ui list does not list myui: $out"
for l in '"enabled": false' '"plugin": "myui"' '"attach": "symlink"' "\"root\": \"$HOME/MyUI\"" \
	'"checkpoint": "Library/Base Models"' '"lora": "Library/Adapters"'; do
	has "$e" "$l" || fail "ui list: myui lacks $l: $e"
done
e=$(ui_entry mypaths)
for l in '"enabled": false' '"plugin": "myui"' '"attach": "extra_model_paths"' '"lora": "weights/lora"'; do
	has "$e" "$l" || fail "ui list: mypaths lacks $l: $e"
done
has "$(ui_entry comfyui)" '"enabled": true' || fail "ui list: comfyui is not enabled: $out"

# 2. not a UI set before it is enabled; the message says what to run
run 1 S use P --ui-set myui
grep -qF "synapse ui enable myui" <<< "$err" || fail "use --ui-set myui does not say to enable it: $err"
run 1 S --json use P --ui-set myui
grep -q '^  "detail": ".*synapse ui enable myui' <<< "$out" || fail "use --json: no detail naming ui enable: $out"
[ ! -e "$root/data/views/myui" ] || fail "a refused use made a view for myui"

# 3. enable: in ui.known, with a view whose active link leads somewhere
run 0 S ui enable myui
is_known myui || fail "ui enable: myui not in ui.known: $(known)"
is_known mypaths && fail "ui enable myui also enabled mypaths"
[ -L "$root/data/views/myui/active" ] || fail "ui enable: no link data/views/myui/active"
[ -d "$root/data/views/myui/active" ] || fail "ui enable: data/views/myui/active leads nowhere"
grep -q "\"myui\": \"~/MyUI\"" "$root/state/config.json" || fail "ui enable: ui.roots.myui is not the plugin's default"
run 0 S ui list --json
has "$(ui_entry myui)" '"enabled": true' || fail "ui list: myui not enabled after ui enable: $(ui_entry myui)"
run 0 S ui enable myui # once more: nothing to do

# 4. use links the pack's file into the plugin's folder for its kind
run 0 S use P --ui-set myui --no-sync
view=$root/data/views/myui/active
link=$view/Library/Adapters/my_adapter.safetensors
[ -L "$link" ] || fail "use: no link $link: $(find "$root/data/views/myui")"
case $(readlink "$link") in /*) fail "use: $link is not a relative link: $(readlink "$link")" ;; esac
[ "$(readlink -f "$link")" = "$(readlink -f "$blob")" ] || fail "use: $link leads to $(readlink -f "$link"), not the blob"
cmp -s "$link" "$tmp/adapter.bin" || fail "use: $link does not read as the pack's file"
[ "$(readlink "$view")" = profiles/work__P ] || fail "use: myui's active is $(readlink "$view")"
[ "$(readlink "$root/data/views/comfyui/active")" = profiles/global ] || fail "use --ui-set myui switched comfyui"
run 0 S status --ui-set all --json
has "$(member ui_targets)" '"myui"' || fail "status --ui-set all: myui not a target: $out"
has "$(member active)" '"myui": "work__P"' || fail "status: myui is not on work__P: $out"
has "$(member in_sync)" '"myui": true' || fail "status: myui not in sync: $out"
[ "$(member stacks | awk '/^    "myui": \[/ { p = 1; next } p && /^    \]/ { exit } p' | tr -d ' \n')" = '"global","work__P"' ] ||
	fail "status: myui's stack is not [global, work__P]: $out"
has "$(member missing_blobs)" '"missing_blobs": []' || fail "status: missing blobs: $out"

# 5. attach: first without an install (the message names ui.roots.myui), then at a configured root
run 1 S attach --ui-set myui
grep -qF "ui.roots.myui" <<< "$err" || fail "attach without an install does not name ui.roots.myui: $err"
uiroot="$tmp/apps/My UI"
mkdir -p "$uiroot/Library/Adapters"
echo mine > "$uiroot/Library/Adapters/mine.safetensors"
sed -i "s|\"myui\": \"~/MyUI\"|\"myui\": \"$uiroot\"|" "$root/state/config.json"
run 0 S --json store config
grep -qF "\"myui\": \"$uiroot\"" <<< "$out" || fail "store config does not show ui.roots.myui: $out"
run 0 S attach-status --ui-set myui --json
has "$out" '"attached": false' || fail "attach-status before attach: $out"
run 0 S attach --ui-set myui
for f in "Library/Base Models" "Library/Adapters"; do
	[ -L "$uiroot/$f/synapse" ] || fail "attach: no link $uiroot/$f/synapse"
	[ "$(readlink "$uiroot/$f/synapse")" = "$view/$f" ] ||
		fail "attach: $uiroot/$f/synapse -> $(readlink "$uiroot/$f/synapse"), not $view/$f"
done
cmp -s "$uiroot/Library/Adapters/synapse/my_adapter.safetensors" "$tmp/adapter.bin" ||
	fail "attach: the UI does not see the pack's file through its folder"
[ "$(cat "$uiroot/Library/Adapters/mine.safetensors")" = mine ] || fail "attach touched the user's file"
run 0 S attach-status --ui-set myui --json
has "$(member myui)" '"attached": true' || fail "attach-status after attach: $out"
has "$(member myui)" '"method": "symlink"' || fail "attach-status: method: $out"
run 0 S attach-status --ui-set myui
grep -q '^myui  *yes ' <<< "$out" || fail "attach-status text: $out"
run 0 S attach --ui-set myui # once more: nothing to do
run 0 S --json attach --ui-set myui
has "$(member myui)" '"created": []' || fail "a second attach created something: $out"

# 6. disable is refused while attached, then detach and disable
run 1 S ui disable myui
grep -qF "synapse detach --ui-set myui" <<< "$err" || fail "ui disable while attached does not say to detach: $err"
is_known myui || fail "a refused ui disable took myui out of ui.known"
[ -L "$uiroot/Library/Adapters/synapse" ] || fail "a refused ui disable removed the attachment"
run 0 S detach --ui-set myui
for f in "Library/Base Models" "Library/Adapters"; do
	if [ -e "$uiroot/$f/synapse" ] || [ -L "$uiroot/$f/synapse" ]; then fail "detach left $uiroot/$f/synapse"; fi
done
[ "$(cat "$uiroot/Library/Adapters/mine.safetensors")" = mine ] || fail "detach touched the user's file"
run 0 S attach-status --ui-set myui --json
has "$(member myui)" '"attached": false' || fail "attach-status after detach: $out"
run 0 S ui disable myui
is_known myui && fail "ui disable left myui in ui.known: $(known)"
[ ! -e "$root/data/views/myui" ] || fail "ui disable left data/views/myui"
[ "$(cat "$uiroot/Library/Adapters/mine.safetensors")" = mine ] || fail "ui disable touched the user's file"
run 0 S ui list --json
has "$(ui_entry myui)" '"enabled": false' || fail "ui list: myui still enabled: $(ui_entry myui)"
run 1 S use P --ui-set myui
grep -qF "synapse ui enable myui" <<< "$err" || fail "use after ui disable: $err"

# The same with the extra-paths method: a section in the UI's own file, the rest of it kept.
run 0 S ui enable mypaths
pathsroot=$tmp/apps/mypaths
mkdir -p "$pathsroot"
printf '# my own folders\nshared:\n    base_path: /srv/models\n    loras: lora\n' > "$pathsroot/mypaths.yaml"
cp "$pathsroot/mypaths.yaml" "$tmp/mypaths.orig"
sed -i "s|\"mypaths\": \"~/MyPaths\"|\"mypaths\": \"$pathsroot\"|" "$root/state/config.json"
run 0 S use P --ui-set mypaths --no-sync
pview=$root/data/views/mypaths/active
cmp -s "$pview/weights/lora/my_adapter.safetensors" "$tmp/adapter.bin" || fail "use: mypaths' view lacks the pack's file"
run 0 S attach --ui-set mypaths
yaml=$pathsroot/mypaths.yaml
head -c "$(stat -c %s "$tmp/mypaths.orig")" "$yaml" | cmp -s - "$tmp/mypaths.orig" || fail "attach changed the user's part of $yaml: $(cat "$yaml")"
section=$(sed -n '/^# synapse: begin$/,/^# synapse: end$/p' "$yaml")
[ "$(sed -n 2p <<< "$section")" = "synapse_store:" ] || fail "attach: no synapse_store section in $yaml: $(cat "$yaml")"
for l in "base_path: $pview" "base_models: weights/base" "adapters: weights/lora"; do
	has "$section" "$l" || fail "attach: the section lacks '$l': $(cat "$yaml")"
done
[ "$(sed -n 's/^    base_path: //p' <<< "$section")/$(sed -n 's/^    adapters: //p' <<< "$section")" = "$pview/weights/lora" ] ||
	fail "attach: the section's adapters folder is not the view's"
[ -e "$yaml.synapse-backup" ] || fail "attach: no backup of $yaml"
run 0 S attach-status --ui-set mypaths --json
has "$(member mypaths)" '"attached": true' || fail "attach-status mypaths after attach: $out"
has "$(member mypaths)" '"method": "extra_model_paths"' || fail "attach-status mypaths: method: $out"
run 1 S ui disable mypaths
grep -qF "synapse detach --ui-set mypaths" <<< "$err" || fail "ui disable mypaths while attached: $err"
run 0 S detach --ui-set mypaths
cmp -s "$yaml" "$tmp/mypaths.orig" || fail "detach did not give back the user's $yaml: $(cat "$yaml")"
[ ! -e "$yaml.synapse-backup" ] || fail "detach left the backup of $yaml"
run 0 S attach-status --ui-set mypaths --json
has "$(member mypaths)" '"attached": false' || fail "attach-status mypaths after detach: $out"
run 0 S ui disable mypaths
is_known mypaths && fail "ui disable left mypaths in ui.known"
[ ! -e "$root/data/views/mypaths" ] || fail "ui disable left data/views/mypaths"
cmp -s "$yaml" "$tmp/mypaths.orig" || fail "ui disable touched $yaml"

# The stock UIs were never touched.
for u in a1111 comfyui forge sdnext; do
	is_known "$u" || fail "$u left ui.known"
	[ "$(readlink "$root/data/views/$u/active")" = profiles/global ] || fail "$u's active moved"
done
echo "ui_dropin: a UI layout plugin built with pkg-config was listed, enabled, used, attached, detached and disabled by the installed synapse"
