#!/usr/bin/env bash
# Install edge-agent as a systemd service on Raspberry Pi OS (run as root from the repo).
#
#   sudo deploy/install-raspberrypi.sh            # install or upgrade
#   sudo deploy/install-raspberrypi.sh --allow-reboot   # also let the agent reboot the Pi
#
# It creates the edge-agent user, a virtualenv in /opt/edge-agent, copies the reference
# config to /etc/edge-agent/edge-agent.toml (never over an existing one), validates it,
# and enables the unit. Secrets go in /etc/edge-agent/*-token etc., readable by the group.
set -euo pipefail

allow_reboot=no
[ "${1:-}" = "--allow-reboot" ] && allow_reboot=yes
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/.." && pwd)

apt-get install -y -qq python3-venv python3-pip iw >/dev/null
id edge-agent >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edge-agent --shell /usr/sbin/nologin edge-agent

python3 -m venv /opt/edge-agent
/opt/edge-agent/bin/pip install -q --upgrade "$repo"
cp "$repo/README.md" /opt/edge-agent/README.md

install -d -m 0750 -o root -g edge-agent /etc/edge-agent
if [ ! -e /etc/edge-agent/edge-agent.toml ]; then
  install -m 0640 -o root -g edge-agent "$repo/conf/edge-agent.toml" /etc/edge-agent/edge-agent.toml
  echo "edit /etc/edge-agent/edge-agent.toml, then: systemctl restart edge-agent"
fi

if [ "$allow_reboot" = yes ]; then
  install -d /etc/polkit-1/rules.d
  cat > /etc/polkit-1/rules.d/50-edge-agent-reboot.rules <<'RULES'
// Let edge-agent reboot the device when [actions] allow lists REBOOT.
polkit.addRule(function(action, subject) {
    if (subject.user == "edge-agent" &&
        action.id.indexOf("org.freedesktop.login1.reboot") == 0) {
        return polkit.Result.YES;
    }
});
RULES
fi

install -m 0644 "$repo/deploy/edge-agent.service" /etc/systemd/system/edge-agent.service
systemctl daemon-reload
/opt/edge-agent/bin/edge-agent check -c /etc/edge-agent/edge-agent.toml || {
  echo "fix the config above, then: systemctl enable --now edge-agent" >&2; exit 2; }
systemctl enable --now edge-agent
systemctl --no-pager status edge-agent | head -n 5
