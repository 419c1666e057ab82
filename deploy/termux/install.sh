#!/data/data/com.termux/files/usr/bin/bash
# Install edge-agent on Android under Termux, started at boot by Termux:Boot.
#
# Needs the Termux, Termux:API and Termux:Boot apps (F-Droid builds), and Termux:Boot
# opened once so Android lets it run at boot. Run from the repo: bash deploy/termux/install.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

pkg install -y python termux-api
python -m venv "$HOME/.edge-agent"
"$HOME/.edge-agent/bin/pip" install -q --upgrade "$repo"

mkdir -p "$HOME/.config/edge-agent" "$HOME/.termux/boot"
[ -e "$HOME/.config/edge-agent/edge-agent.toml" ] || cp "$repo/conf/edge-agent.toml" "$HOME/.config/edge-agent/edge-agent.toml"
install -m 0755 "$repo/deploy/termux/boot-edge-agent" "$HOME/.termux/boot/edge-agent"
"$HOME/.edge-agent/bin/edge-agent" check -c "$HOME/.config/edge-agent/edge-agent.toml" \
  && echo "installed: it starts at the next boot, or now with: ~/.termux/boot/edge-agent"
