#!/usr/bin/env bash
# Install, upgrade or remove edge-agent as a systemd service on Raspberry Pi OS
# (Bookworm 64/32-bit, Bullseye). Run as root from the repo:
#
#   sudo deploy/install-raspberrypi.sh [--mqtt HOST[:PORT]]   install, or upgrade when installed
#   sudo deploy/install-raspberrypi.sh --allow-reboot         also let the agent reboot the Pi
#   sudo deploy/install-raspberrypi.sh --desktop USER         MESSAGE/START_APP/VIDEO on USER's desktop
#   sudo deploy/install-raspberrypi.sh --uninstall [--purge]  remove it (--purge: config and store too)
#
# Install: apt-get update; the edge-agent system user; a virtualenv in /opt/edge-agent
# (Bookworm's Python is "externally managed", PEP 668) with wheels from PyPI, or Debian's
# python3-psutil where PyPI has no wheel for this board; a starter config from
# `edge-agent init` in /etc/edge-agent/edge-agent.toml on the first install only (an
# existing config is never touched); /etc/edge-agent/environment (mode 0600) for the
# secrets the config names with *_env; the unit, enabled and started.
# Upgrade (run it again): the new code in the same virtualenv, the unit refreshed, the
# service restarted; the config, the environment file and the store are kept.
# Where systemd is not running (a container, a chroot), it says so and installs all but
# the start: run the unit's ExecStart yourself.
set -euo pipefail

PREFIX=/opt/edge-agent
CONF_DIR=/etc/edge-agent
CONFIG=$CONF_DIR/edge-agent.toml
ENV_FILE=$CONF_DIR/environment
STATE_DIR=/var/lib/edge-agent
CACHE_DIR=/var/cache/edge-agent
UNIT=/etc/systemd/system/edge-agent.service
POLKIT_RULE=/etc/polkit-1/rules.d/50-edge-agent-reboot.rules
USER_NAME=edge-agent

mode=install purge=no allow_reboot=no mqtt="" desktop_user=""
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) mode=uninstall ;;
    --purge) purge=yes ;;
    --allow-reboot) allow_reboot=yes ;;
    --mqtt) [ $# -ge 2 ] || usage; mqtt=$2; shift ;;
    --mqtt=*) mqtt=${1#--mqtt=} ;;
    --desktop) [ $# -ge 2 ] || usage; desktop_user=$2; shift ;;
    -h | --help) usage ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/.." && pwd)

say() { echo "edge-agent installer: $*"; }

# systemd runs only where it is PID 1 (sd_booted: /run/systemd/system exists).
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  have_systemd=yes
else
  have_systemd=no
  say "systemd is not running here (a container or a chroot?): the unit is installed but not enabled or started"
fi

uninstall() {
  if [ "$have_systemd" = yes ]; then
    systemctl disable --now edge-agent.service 2>/dev/null || true
  fi
  rm -f "$UNIT" "$POLKIT_RULE" /etc/sudoers.d/edge-agent-desktop
  rm -rf /etc/systemd/system/edge-agent.service.d/desktop.conf
  [ "$have_systemd" = yes ] && systemctl daemon-reload
  rm -rf "$PREFIX"
  if id "$USER_NAME" >/dev/null 2>&1; then
    userdel "$USER_NAME" 2>/dev/null || say "could not remove the user $USER_NAME (still running?)"
  fi
  getent group "$USER_NAME" >/dev/null 2>&1 && { groupdel "$USER_NAME" 2>/dev/null || true; }
  rm -rf "$CACHE_DIR" # the config cache (systemd's CacheDirectory): a copy of the config, secrets too
  if [ "$purge" = yes ]; then
    rm -rf "$CONF_DIR" "$STATE_DIR"
    say "removed, with the config ($CONF_DIR) and the store ($STATE_DIR)"
  else
    say "removed; kept the config ($CONF_DIR) and the store ($STATE_DIR): --purge removes them"
  fi
}

if [ "$mode" = uninstall ]; then
  uninstall
  exit 0
fi

upgrade=no
[ -x "$PREFIX/bin/edge-agent" ] && upgrade=yes

say "apt-get update"
# A mirror in the middle of a sync fails one index now and then: try again, then go on with
# the lists apt has (the install below fails clearly if they lack what it needs).
apt-get update -qq || apt-get update -qq \
  || say "warning: apt-get update reported errors (above); going on with the package lists apt has"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv ca-certificates iw >/dev/null

if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
# DUMP reads the journal: members of systemd-journal may.
getent group systemd-journal >/dev/null 2>&1 && usermod -a -G systemd-journal "$USER_NAME"

# --- the virtualenv ------------------------------------------------------------------------
# Wheels first (psutil and pydantic-core are the compiled dependencies: never build them
# when a wheel or a Debian package will do). Where PyPI has no psutil wheel for the board
# (32-bit Pi OS), Debian's python3-psutil through --system-site-packages. Build tools only
# when neither works.
pip_quiet=(-q --disable-pip-version-check)
make_venv() {
  # $1: "system" for --system-site-packages
  rm -rf "$PREFIX"
  if [ "$1" = system ]; then python3 -m venv --system-site-packages "$PREFIX"; else python3 -m venv "$PREFIX"; fi
  "$PREFIX/bin/python" -m pip install "${pip_quiet[@]}" --prefer-binary --upgrade pip
}
venv_python_matches() {
  [ -x "$PREFIX/bin/python" ] || return 1
  [ "$("$PREFIX/bin/python" -c 'import sys; print(sys.version_info[:2])' 2>/dev/null)" = \
    "$(python3 -c 'import sys; print(sys.version_info[:2])')" ]
}
install_package() {
  # The project from the repo, always reinstalled (an upgrade from a checkout keeps its version).
  "$PREFIX/bin/python" -m pip install "${pip_quiet[@]}" --prefer-binary "$@" "$repo" \
    && "$PREFIX/bin/python" -m pip install "${pip_quiet[@]}" --no-deps --force-reinstall "$repo"
}

method=""
previous=$(cat "$PREFIX/.install-method" 2>/dev/null || true)
if [ "$previous" != debian-psutil ] && [ "$previous" != built ]; then
  venv_python_matches || make_venv plain
  if install_package --only-binary psutil,pydantic-core; then
    method=wheels
  else
    say "no wheel on PyPI for psutil or pydantic-core on $(uname -m): trying Debian's python3-psutil"
  fi
fi
if [ -z "$method" ] && [ "$previous" != built ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-psutil >/dev/null
  grep -q '^include-system-site-packages = true' "$PREFIX/pyvenv.cfg" 2>/dev/null && venv_python_matches \
    || make_venv system
  if install_package --only-binary pydantic-core; then
    method=debian-psutil
  else
    say "still no wheel: installing build tools (build-essential, python3-dev) to build from source"
  fi
fi
if [ -z "$method" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential python3-dev python3-psutil >/dev/null
  grep -q '^include-system-site-packages = true' "$PREFIX/pyvenv.cfg" 2>/dev/null && venv_python_matches \
    || make_venv system
  install_package || {
    say "the install failed. pydantic-core needs a Rust toolchain to build: on Raspberry Pi OS,"
    say "pip's piwheels index (/etc/pip.conf) has builds for older boards."
    exit 1
  }
  method=built
fi
echo "$method" >"$PREFIX/.install-method"
case "$method" in
  wheels) say "dependencies: wheels from the package index" ;;
  debian-psutil) say "dependencies: psutil from Debian (python3-psutil, --system-site-packages), the rest wheels" ;;
  built) say "dependencies: built from source (build-essential, python3-dev), psutil from Debian" ;;
esac
cp "$repo/README.md" "$PREFIX/README.md"
say "$("$PREFIX/bin/edge-agent" --version) in $PREFIX"

# --- config, secrets, store -----------------------------------------------------------------
install -d -m 0750 -o root -g "$USER_NAME" "$CONF_DIR"
if [ -e "$CONFIG" ]; then
  say "keeping your config $CONFIG"
else
  init_args=(init -c "$CONFIG")
  [ -n "$mqtt" ] && init_args+=(--mqtt "$mqtt")
  "$PREFIX/bin/edge-agent" "${init_args[@]}"
  say "wrote a starter config $CONFIG (every option: $repo/conf/edge-agent.toml)"
fi
chgrp "$USER_NAME" "$CONFIG"
chmod g+r,o-rwx "$CONFIG"
if [ ! -e "$ENV_FILE" ]; then
  (
    umask 077
    cat >"$ENV_FILE" <<'ENV'
# Secrets for edge-agent, one NAME=value per line, for the config's *_env keys
# (e.g. token_env = "TELECOMX_TOKEN" reads TELECOMX_TOKEN=... below). Read by systemd
# as root (mode 0600): the agent gets the values, nobody else can read them.
# TELECOMX_TOKEN=
ENV
  )
fi
chown root:root "$ENV_FILE"
chmod 0600 "$ENV_FILE"
install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$STATE_DIR"
chown -R "$USER_NAME:$USER_NAME" "$STATE_DIR"

if [ "$allow_reboot" = yes ]; then
  install -d /etc/polkit-1/rules.d
  cat >"$POLKIT_RULE" <<'RULES'
// Let edge-agent reboot the device when [actions] allow lists REBOOT.
polkit.addRule(function(action, subject) {
    if (subject.user == "edge-agent" &&
        action.id.indexOf("org.freedesktop.login1.reboot") == 0) {
        return polkit.Result.YES;
    }
});
RULES
fi

# --desktop USER: the display actions in USER's session (docs/actions.md "Desktop actions"):
# the unit's drop-in that lets it switch user, and a sudoers rule for that one user only.
DESKTOP_DROPIN=/etc/systemd/system/edge-agent.service.d/desktop.conf
SUDOERS_RULE=/etc/sudoers.d/edge-agent-desktop
if [ -n "$desktop_user" ]; then
  [[ "$desktop_user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && id "$desktop_user" >/dev/null 2>&1 \
    || { echo "no such user: $desktop_user" >&2; exit 2; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo libnotify-bin >/dev/null
  sed "s/DESKTOP_USER/$desktop_user/g" "$repo/deploy/sudoers-edge-agent-desktop" >"$SUDOERS_RULE.new"
  chmod 0440 "$SUDOERS_RULE.new" # sudo ignores a name with a dot until it is renamed
  visudo -cf "$SUDOERS_RULE.new" >/dev/null && mv "$SUDOERS_RULE.new" "$SUDOERS_RULE"
  install -D -m 0644 "$repo/deploy/edge-agent-desktop.conf" "$DESKTOP_DROPIN"
  say "display actions go to $desktop_user's desktop (set [actions] desktop_user = \"$desktop_user\" to pin it)"
fi

install -m 0644 "$repo/deploy/edge-agent.service" "$UNIT"

# --- check as the service will run: its user, its environment file ------------------------
check_env=(STATE_DIRECTORY="$STATE_DIR" HOME="$STATE_DIR")
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'* | ';'*) continue ;; esac
  value=${line#*=}
  value=${value#\"}
  value=${value%\"}
  check_env+=("${line%%=*}=$value")
done <"$ENV_FILE"
if ! env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${check_env[@]}" runuser -u "$USER_NAME" -- \
  "$PREFIX/bin/edge-agent" check -c "$CONFIG"; then
  [ "$have_systemd" = yes ] && { systemctl daemon-reload; systemctl enable edge-agent.service; }
  echo "fix $CONFIG (secrets: $ENV_FILE), then: systemctl restart edge-agent" >&2
  exit 2
fi

if [ "$have_systemd" = no ]; then
  say "installed; not started (no systemd). Start it by hand as $USER_NAME with the unit's ExecStart:"
  say "  $(sed -n 's/^ExecStart=//p' "$UNIT")"
  exit 0
fi
systemctl daemon-reload
systemctl enable edge-agent.service
if [ "$upgrade" = yes ]; then
  systemctl restart edge-agent.service
  say "upgraded and restarted"
else
  systemctl start edge-agent.service
  say "installed and started"
fi
systemctl --no-pager status edge-agent.service | head -n 5 || true
