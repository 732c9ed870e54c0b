#!/usr/bin/env bash
# Puts ConvScope in the user's application menu (freedesktop.org menus: GNOME, KDE,
# Xfce, …), with its icon, for this user only; no root needed.
#
# Usage: packaging/linux/install.sh [--exec PATH]   install (or update) the menu entry
#        packaging/linux/install.sh --uninstall      remove what it installed
#
#   --exec PATH  the convscope to start (a bundle's or a venv's binary, e.g.
#                .venv/bin/convscope); default: `convscope` found on PATH
#
# Files, under ${XDG_DATA_HOME:-~/.local/share}:
#   applications/io.github.convscope.ConvScope.desktop
#   icons/hicolor/<N>x<N>/apps/io.github.convscope.ConvScope.png  (N = 16 … 512)
#   icons/hicolor/scalable/apps/io.github.convscope.ConvScope.svg
#   metainfo/io.github.convscope.ConvScope.metainfo.xml
# then update-desktop-database and gtk-update-icon-cache, where installed.
# Exit status: 0 done, 1 convscope not found (nothing installed), 2 bad arguments.
set -euo pipefail

APP_ID=io.github.convscope.ConvScope
ICON_SIZES=(16 22 24 32 48 64 128 256 512)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ICONS="$HERE/../../assets/icons"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"

say() { printf 'install.sh: %s\n' "$*"; }
usage_error() { printf 'install.sh: %s (see --help)\n' "$*" >&2; exit 2; }

exec_path=""
uninstall=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --exec) [[ $# -ge 2 ]] || usage_error "--exec needs the path of a convscope binary"
            exec_path="$2"; shift 2 ;;
    --exec=*) exec_path="${1#--exec=}"; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done
[[ "$DATA" = /* ]] || usage_error "XDG_DATA_HOME must be an absolute path, got '$DATA'"

installed_files() {
  printf '%s\n' "$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml" \
    "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
  for size in "${ICON_SIZES[@]}"; do
    printf '%s\n' "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
  done
}

refresh_caches() {
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$DATA/applications" || say "update-desktop-database failed (the menu still finds the entry)"
  fi
  # -t: a user's hicolor folder has no index.theme of its own.
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [[ -d "$DATA/icons/hicolor" ]]; then
    gtk-update-icon-cache -q -t -f "$DATA/icons/hicolor" || say "gtk-update-icon-cache failed (icons are still found, more slowly)"
  fi
}

if [[ "$uninstall" -eq 1 ]]; then
  [[ -z "$exec_path" ]] || usage_error "--uninstall takes no --exec"
  removed=0
  while IFS= read -r file; do
    if [[ -e "$file" ]]; then rm -f -- "$file"; removed=$((removed + 1)); fi
  done < <(installed_files)
  refresh_caches
  say "removed $removed file(s) of $APP_ID from $DATA"
  exit 0
fi

# The command the menu entry runs: --exec, else convscope on PATH.
if [[ -n "$exec_path" ]]; then
  if [[ ! -f "$exec_path" || ! -x "$exec_path" ]]; then
    usage_error "--exec $exec_path: not an executable file"
  fi
  exec_path="$(cd "$(dirname "$exec_path")" && pwd)/$(basename "$exec_path")"
  # Characters the Exec key would need escaped for: refuse rather than mangle.
  case "$exec_path" in
    *[\"\`\$\\%]*|*$'\n'*) usage_error "--exec: the path may not hold \" \` \$ \\ % or a newline: $exec_path" ;;
  esac
  exec_cmd="\"$exec_path\""
  try_exec="$exec_path"
else
  if ! found="$(command -v convscope)"; then
    printf '%s\n' "install.sh: convscope is not on PATH, so a menu entry could not start it; nothing installed." \
      "  Install ConvScope first (pipx install convscope, or pip install into a venv), or" \
      "  point the entry at a binary:  $0 --exec /path/to/convscope" >&2
    if [[ -x "$HERE/../../.venv/bin/convscope" ]]; then
      printf '  This checkout has one:        %s --exec %s\n' "$0" "$(cd "$HERE/../.." && pwd)/.venv/bin/convscope" >&2
    fi
    exit 1
  fi
  say "the menu entry runs convscope from PATH ($found)"
  exec_cmd="convscope"
  try_exec="convscope"
fi

for file in "$HERE/$APP_ID.desktop" "$HERE/$APP_ID.metainfo.xml" "$ICONS/convscope.svg"; do
  [[ -f "$file" ]] || { printf 'install.sh: missing %s (run it from a ConvScope checkout)\n' "$file" >&2; exit 2; }
done

mkdir -p "$DATA/applications"
desktop_tmp="$(mktemp "$DATA/applications/.$APP_ID.XXXXXX")"
trap 'rm -f -- "$desktop_tmp"' EXIT
while IFS= read -r line || [[ -n "$line" ]]; do
  case "$line" in
    "Exec=convscope"*) printf 'Exec=%s%s\n' "$exec_cmd" "${line#Exec=convscope}" ;;
    "TryExec=convscope") printf 'TryExec=%s\n' "$try_exec" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$HERE/$APP_ID.desktop" > "$desktop_tmp"
chmod 644 "$desktop_tmp"
mv -f -- "$desktop_tmp" "$DATA/applications/$APP_ID.desktop"

install -D -m 644 "$HERE/$APP_ID.metainfo.xml" "$DATA/metainfo/$APP_ID.metainfo.xml"
install -D -m 644 "$ICONS/convscope.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in "${ICON_SIZES[@]}"; do
  install -D -m 644 "$ICONS/convscope-$size.png" "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
refresh_caches
say "installed $APP_ID into $DATA (menu entry, icons, metainfo); it may take a log-out for some menus to show it"
