#!/data/data/com.termux/files/usr/bin/bash
# Install or upgrade edge-agent on Android under Termux, started at boot by Termux:Boot.
#
# Needs the Termux, Termux:API and Termux:Boot apps (F-Droid builds), and Termux:Boot
# opened once so Android lets it run at boot. Run from the repo:
#
#   bash deploy/termux/install.sh [--mqtt HOST[:PORT]]
#
# psutil and pydantic-core come prebuilt from Termux's packages (building them on a phone
# needs a C and a Rust toolchain and takes very long): the virtualenv sees them through
# --system-site-packages, and pip is constrained to the pydantic release that pins exactly
# the pydantic-core Termux installed. Everything lives under $HOME: the virtualenv in
# ~/.edge-agent, the config in ~/.config/edge-agent (written by `edge-agent init` on the
# first install, never overwritten), the store in ~/.local/state/edge-agent.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv="$HOME/.edge-agent"
config="$HOME/.config/edge-agent/edge-agent.toml"
boot="$HOME/.termux/boot/edge-agent"
mqtt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --mqtt) mqtt=${2:?--mqtt needs HOST[:PORT]}; shift ;;
    --mqtt=*) mqtt=${1#--mqtt=} ;;
    *) echo "usage: bash deploy/termux/install.sh [--mqtt HOST[:PORT]]" >&2; exit 2 ;;
  esac
  shift
done
say() { echo "edge-agent installer: $*"; }

pkg install -y python python-psutil python-pydantic-core termux-api

python=$(command -v python3 || command -v python)
# A venv made by an older Python (after a `pkg upgrade`) is made again.
if [ -x "$venv/bin/python" ] && ! grep -q '^include-system-site-packages = true' "$venv/pyvenv.cfg"; then
  rm -rf "$venv"
fi
if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import sys; print(sys.version_info[:2])' 2>/dev/null)" \
  != "$("$python" -c 'import sys; print(sys.version_info[:2])')" ]; then
  rm -rf "$venv"
fi
[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"

# Pin what Termux built: pip may then only pick a pydantic whose pydantic-core pin is this
# exact version, and may never build either package from source.
versions=$("$venv/bin/python" -c '
from importlib.metadata import version
print(version("pydantic-core"), version("psutil"))')
core=${versions% *}
psutil=${versions#* }
constraints="$venv/termux-constraints.txt"
printf 'pydantic-core==%s\npsutil==%s\n' "$core" "$psutil" >"$constraints"
say "pydantic-core $core and psutil $psutil from Termux's packages"
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --prefer-binary \
  --only-binary pydantic-core,psutil --constraint "$constraints" "$repo"; then
  say "no pydantic release on the index pins pydantic-core $core (or another dependency failed):"
  say "run 'pkg upgrade' to get a newer python-pydantic-core, then run this again"
  exit 1
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$repo"
say "$("$venv/bin/edge-agent" --version), pydantic $("$venv/bin/python" -c \
  'from importlib.metadata import version; print(version("pydantic"))') in $venv"

mkdir -p "$(dirname "$config")" "$(dirname "$boot")"
if [ -e "$config" ]; then
  say "keeping your config $config"
else
  if [ -n "$mqtt" ]; then
    "$venv/bin/edge-agent" init -c "$config" --platform termux --mqtt "$mqtt"
  else
    "$venv/bin/edge-agent" init -c "$config" --platform termux
  fi
fi
install -m 0755 "$repo/deploy/termux/boot-edge-agent" "$boot"
agent_pid_file="$HOME/.local/state/edge-agent/agent.pid"
if "$venv/bin/edge-agent" check -c "$config"; then
  if [ -s "$agent_pid_file" ] && kill -0 "$(cat "$agent_pid_file")" 2>/dev/null; then
    # The boot script starts it again, with the new code.
    kill -TERM "$(cat "$agent_pid_file")"
    say "upgraded: the running agent is restarted by $boot"
  else
    say "installed: it starts at the next boot, or now with: $boot &"
  fi
else
  say "fix $config, then start it with: $boot &"
  exit 2
fi
