"""Who may import whom: each foreign library has one home, and the layers point one way.

The design keeps one module per I/O library so that its errors are translated in one
place, and keeps simulators independent of the agent so that an adapter's bug is not
copied into its test partner. These tests read the imports of every module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "edge_agent"

# library -> the only modules (relative to edge_agent/) allowed to import it
ONE_HOME = {
    "paho": {"mqtt_bridge.py"},
    "httpx": {"heartbeat/transport.py"},
    "sqlite3": {"store.py"},
    "amqtt": {"broker.py"},
    "subprocess": {"actions/process.py", "collectors/commands.py"},
}


def imports_of(path: Path) -> set[str]:
    """Every module name ``path`` imports, at any depth (imports inside functions count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("library", sorted(ONE_HOME))
def test_each_library_is_imported_in_one_place(library: str) -> None:
    importers = {
        str(path.relative_to(PACKAGE))
        for path in modules()
        if any(name == library or name.startswith(library + ".") for name in imports_of(path))
    }
    assert importers <= ONE_HOME[library], f"{library} imported by {sorted(importers - ONE_HOME[library])}"


def simulator_modules() -> list[Path]:
    """The shared simulator package and each vendor folder's ``simulator*.py``."""
    return sorted([*(PACKAGE / "simulators").glob("*.py"), *(PACKAGE / "vendors").glob("*/simulator*.py")])


def test_a_vendors_simulator_imports_nothing_from_the_agent() -> None:
    """Only the shared simulator base and the same vendor's own ``simulator*`` modules."""
    assert len(simulator_modules()) > 5
    for path in simulator_modules():
        own = f"edge_agent.vendors.{path.parent.name}.simulator"
        agent_imports = {
            name
            for name in imports_of(path)
            if name.startswith("edge_agent")
            and not name.startswith(("edge_agent.simulators", own))
            and not (path.name == "__init__.py" and name == "edge_agent.vendors.registry")
        }
        assert not agent_imports, f"{path.relative_to(PACKAGE)} imports {sorted(agent_imports)}"


@pytest.mark.parametrize("layer", ["collectors", "vendors"])
def test_pure_layers_import_only_the_shared_types(layer: str) -> None:
    allowed = (
        "edge_agent.model",
        "edge_agent.errors",
        "edge_agent.config",
        "edge_agent.jsonsafe",
        f"edge_agent.{layer}",
    )
    for path in (PACKAGE / layer).rglob("*.py"):
        if path.name.startswith("simulator"):
            continue  # a vendor's simulator: stricter, see above
        for name in imports_of(path):
            if name.startswith("edge_agent"):
                assert name.startswith(allowed), f"{path.relative_to(PACKAGE)} imports {name}"


def test_nothing_starts_a_shell() -> None:
    for path in modules():
        text = path.read_text()
        for forbidden in ("shell=True", "os.system(", "os.popen(", "create_subprocess_shell"):
            assert forbidden not in text, f"{path.relative_to(PACKAGE)} uses {forbidden}"


@pytest.mark.parametrize("place", ["assembly.py", "topics.py", "collectors", "actions"])
def test_the_core_names_no_vendor(place: str) -> None:
    """A vendor's side service is its registry hook: the core never tests for a vendor by name."""
    from edge_agent.vendors.registry import VENDORS

    paths = [PACKAGE / place] if place.endswith(".py") else sorted((PACKAGE / place).rglob("*.py"))
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        named = {
            node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in VENDORS
        }
        imported = {
            name
            for name in imports_of(path)
            if name.startswith("edge_agent.vendors.") and name.split(".")[2] in VENDORS
        }
        identifiers = {
            node.id if isinstance(node, ast.Name) else node.attr
            for node in ast.walk(tree)
            if isinstance(node, (ast.Name, ast.Attribute))
        }
        by_identifier = {name for name in VENDORS for ident in identifiers if name in ident.lower()}
        assert not (named | imported | by_identifier), (
            f"{path.relative_to(PACKAGE)} names {named | imported | by_identifier}"
        )
