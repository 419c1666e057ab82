"""A throw-away copy of one device root (tools/device-roots), and commands run inside it.

Each :class:`DeviceRoot` is an overlay of a cached Debian root built by ``tools/device-roots``:
a fresh image every time, thrown away by :meth:`close`. Commands run in it with ``chroot``
(the root shares this host's network namespace, so 127.0.0.1 is this host's loopback and a
broker the test starts here is reachable from inside). systemd does not run in a chroot:
the installer says so, and the tests start the unit's ``ExecStart`` themselves.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar

from support.waiting import wait_until as support_wait_until

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "device-roots"
CACHE = Path(os.environ.get("EDGE_AGENT_ROOTS_DIR", "/var/cache/edge-agent-roots"))
ALL_ROOTS = (
    "bullseye-amd64",
    "trixie-amd64",
    "bullseye-arm64",
    "bookworm-arm64",
    "bookworm-armhf",
    "trixie-arm64",
)
DEFAULT_ROOTS = ("bullseye-amd64", "trixie-amd64")
# Under qemu a Python start alone takes seconds: every wait is generous, and bounded.
SLOW = 600.0
T = TypeVar("T")
# One test run (this pytest process): its measurements replace the previous run's.
RUN_ID = f"{os.getpid()}-{time.time():.0f}"


def selected_roots() -> list[str]:
    """The roots EDGE_AGENT_DEVICE_ROOTS asks for ("all", "none", or names), as the tool reads it."""
    wanted = os.environ.get("EDGE_AGENT_DEVICE_ROOTS")
    if wanted is None:
        return list(DEFAULT_ROOTS)
    names = wanted.replace(",", " ").split()
    if names == ["all"]:
        return list(ALL_ROOTS)
    if names in ([], ["none"]):
        return []
    return names


def why_not_runnable(name: str) -> Optional[str]:
    """Why the roots cannot be used here, or None when they can."""
    if name not in selected_roots():
        return f"{name} is not in EDGE_AGENT_DEVICE_ROOTS ({' '.join(selected_roots()) or 'none'})"
    if os.geteuid() != 0:
        return "device roots need root (debootstrap, mount, chroot)"
    if shutil.which("debootstrap") is None and not (CACHE / name / "built").exists():
        return "debootstrap is not installed (.ci/run installs it: apt-get install debootstrap)"
    if not name.endswith("-amd64") and shutil.which("qemu-aarch64-static") is None:
        return "qemu-user-static is not installed (apt-get install qemu-user-static binfmt-support)"
    return None


def build(name: str) -> dict[str, str]:
    """Build the root unless cached; its facts (suite, arch, python, debootstrap_seconds...)."""
    result = subprocess.run([str(TOOL), "build", name], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise AssertionError(f"building {name} failed:\n{result.stderr[-3000:]}")
    facts = dict(
        line.split("=", 1) for line in (CACHE / name / "built").read_text().splitlines() if "=" in line
    )
    return facts


def host_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()


def wait_until(what: str, check: Callable[[], T], timeout: float = SLOW, every: float = 0.2) -> T:
    """The suite's one ``wait_until``, with the slower defaults of work under qemu."""
    return support_wait_until(what, check, timeout=timeout, every=every)


class DeviceRoot:
    """A fresh copy of the root ``name`` at ``<session>/root``, with the repo at /src/edge-agent."""

    def __init__(self, name: str, session: Path) -> None:
        self.name = name
        self.session = session
        session.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(TOOL), "mount", name, str(session)], capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            self.close()
            raise AssertionError(f"cannot mount {name}:\n{result.stderr}")
        self.path = Path(result.stdout.strip().splitlines()[-1])
        self.env = dict(
            line.split("=", 1)
            for line in subprocess.run(
                [str(TOOL), "env", str(session)], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            if "=" in line
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        # How long to wait for the agent: a native root answers in seconds, qemu in minutes.
        self.slow = 180.0 if name.endswith("-" + host_arch()) else SLOW
        self.copy_repo()

    # -- files ------------------------------------------------------------------------------

    def copy_repo(self) -> None:
        """The project as a user has it: its tracked files, at /src/edge-agent."""
        target = self.file("/src/edge-agent")
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
        )
        if listed.returncode == 0:
            names = [raw.decode() for raw in listed.stdout.split(b"\0") if raw]
        else:  # not a git checkout (an unpacked release): the parts the installers and tests use
            parts = ("edge_agent", "conf", "deploy", "tests", "tools")
            names = [str(p.relative_to(REPO)) for part in parts for p in (REPO / part).rglob("*")]
            names += ["pyproject.toml", "README.md"]
            names = [n for n in names if "__pycache__" not in n]
        for name in names:
            source = REPO / name
            if not source.is_file():
                continue
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)

    def file(self, inside: str) -> Path:
        """The host path of ``inside`` (an absolute path in the root)."""
        return self.path / inside.lstrip("/")

    # -- commands ---------------------------------------------------------------------------

    def argv(
        self, command: list[str], *, user: Optional[str] = None, env: Optional[dict[str, str]] = None
    ) -> list[str]:
        userspec = [f"--userspec={user}:{user}"] if user else []
        merged = {**self.env, **(env or {})}
        return [
            "chroot",
            *userspec,
            str(self.path),
            "/usr/bin/env",
            "-i",
            *(f"{key}={value}" for key, value in merged.items()),
            *command,
        ]

    def run(
        self,
        command: list[str],
        *,
        user: Optional[str] = None,
        env: Optional[dict[str, str]] = None,
        timeout: float = SLOW,
        check: bool = True,
        cwd: str = "/",
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the root and return what it did; fail the test on a non-zero exit."""
        if cwd != "/":
            command = ["sh", "-c", f'cd {shlex.quote(cwd)} && exec "$@"', "sh", *command]
        result = subprocess.run(
            self.argv(command, user=user, env=env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode} in {self.name}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def start(
        self,
        command: list[str],
        log: Path,
        *,
        user: Optional[str] = None,
        env: Optional[dict[str, str]] = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` in the root in the background, its output in ``log`` (on the host)."""
        with open(log, "ab") as out:
            process = subprocess.Popen(
                self.argv(command, user=user, env=env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.processes.append(process)
        return process

    # -- the installed unit -----------------------------------------------------------------

    def unit(self) -> dict[str, str]:
        """The installed unit's [Service] settings (the last of a repeated key wins)."""
        settings: dict[str, str] = {}
        for line in self.file("/etc/systemd/system/edge-agent.service").read_text().splitlines():
            if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
                key, value = line.split("=", 1)
                settings[key.strip()] = value.strip()
        return settings

    def service_env(self) -> dict[str, str]:
        """The environment systemd gives the unit: its EnvironmentFile, State- and CacheDirectory."""
        unit = self.unit()
        env: dict[str, str] = {}
        if "StateDirectory" in unit:
            env["STATE_DIRECTORY"] = f"/var/lib/{unit['StateDirectory']}"
            env["HOME"] = env["STATE_DIRECTORY"]
        if "CacheDirectory" in unit:
            env["CACHE_DIRECTORY"] = f"/var/cache/{unit['CacheDirectory']}"
        env_file = unit.get("EnvironmentFile", "")
        optional = env_file.startswith("-")
        env_path = self.file(env_file.lstrip("-")) if env_file else None
        if env_path is not None and env_path.exists():
            for line in env_path.read_text().splitlines():
                if "=" in line and not line.startswith(("#", ";")):
                    key, value = line.split("=", 1)
                    env[key.strip()] = value.strip().strip('"')
        elif env_path is not None and not optional:
            raise AssertionError(f"the unit's EnvironmentFile {env_file} is missing")
        return env

    def start_unit(self, log: Path) -> subprocess.Popen[bytes]:
        """What systemd would run: the unit's ExecStart, as its User, with its environment.

        Like systemd, it first makes the unit's CacheDirectory, owned by the User, in its mode.
        """
        unit = self.unit()
        if "CacheDirectory" in unit:
            mode = unit.get("CacheDirectoryMode", "0755")
            user = unit["User"]
            folder = f"/var/cache/{unit['CacheDirectory']}"
            self.run(["install", "-d", "-m", mode, "-o", user, "-g", user, folder])
        return self.start(shlex.split(unit["ExecStart"]), log, user=unit["User"], env=self.service_env())

    # -- records ----------------------------------------------------------------------------

    def record(self, key: str, value: object) -> None:
        """Keep a measurement for docs/device-roots.md in <cache>/<name>/last-run.json."""
        path = CACHE / self.name / "last-run.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        if data.get("run_id") != RUN_ID:  # a new test run starts a new record
            data = {"run_id": RUN_ID}
        data[key] = value
        path.write_text(json.dumps(data, indent=2, sort_keys=True))

    # -- the end ----------------------------------------------------------------------------

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 120.0) -> Optional[int]:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
                return None
        return process.returncode

    def close(self) -> None:
        for process in getattr(self, "processes", []):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        # Whatever a test left running inside (a boot loop's agent) holds the mounts busy.
        root = getattr(self, "path", None)
        if root is not None:
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    if os.readlink(proc / "root") == str(root):
                        os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    continue
        subprocess.run([str(TOOL), "umount", str(self.session)], capture_output=True, timeout=120)
        shutil.rmtree(self.session, ignore_errors=True)
