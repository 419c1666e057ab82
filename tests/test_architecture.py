"""Who may import whom: each foreign library has one home, and the layers point one way.

The design keeps one module per I/O library so that its errors are translated in one
place, and keeps simulators independent of the agent so that an adapter's bug is not
copied into its test partner. These tests read the imports of every module.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "edge_agent"

# library -> the only modules (relative to edge_agent/) allowed to import it
ONE_HOME = {
    "paho": {"mqtt/bridge.py", "mqtt/paho_client.py"},
    "h11": {"heartbeat/wire.py"},
    "sqlite3": {"store/connection.py", "store/opening.py", "store/schema.py"},
    "amqtt": {"mqtt/broker.py"},
    "subprocess": {"actions/process.py", "collectors/commands.py"},
}


@functools.cache
def syntax_of(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once per run: a dozen tests walk the whole package."""
    return ast.parse(path.read_text(), filename=str(path))


@functools.cache
def imports_of(path: Path) -> frozenset[str]:
    """Every module name ``path`` imports, at any depth (imports inside functions count)."""
    names: set[str] = set()
    for node in ast.walk(syntax_of(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return frozenset(names)


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
            if name == "edge_agent":  # the package root: its docstring and __version__, nothing else
                continue
            if name.startswith("edge_agent"):
                assert name.startswith(allowed), f"{path.relative_to(PACKAGE)} imports {name}"


def test_the_package_root_holds_only_the_version() -> None:
    """Collectors and vendors may read ``edge_agent.__version__``; so the root must stay empty of code."""
    body = ast.parse((PACKAGE / "__init__.py").read_text()).body
    code = [node for node in body if not isinstance(node, ast.Expr)]  # the docstring is an expression
    assert len(code) == 1 and isinstance(code[0], ast.Assign), [ast.unparse(node) for node in code]
    assert [ast.unparse(target) for target in code[0].targets] == ["__version__"]
    assert isinstance(code[0].value, ast.Constant) and isinstance(code[0].value.value, str)


WORLD_ONLY = ("edge_agent.vendors.place", "edge_agent.vendors.rehearsal", "edge_agent.vendors.pick")


def test_the_worlds_vocabulary_stays_out_of_the_running_agent() -> None:
    """Each vendor's ``endpoint.py`` (and what it speaks: place, rehearsal, pick) serves the demo,
    the tests and the bench; only the demo loads them, so the running agent carries none of it."""
    for path in modules():
        relative = path.relative_to(PACKAGE)
        if (
            relative.parts[0] == "demo"
            or path.name == "endpoint.py"
            or relative.as_posix()
            in {
                "vendors/place.py",
                "vendors/rehearsal.py",
                "vendors/pick.py",
            }
        ):
            continue
        for name in imports_of(path):
            assert not name.startswith(WORLD_ONLY), f"{relative} imports {name}"
            assert not name.endswith(".endpoint") or name.startswith("edge_agent.config"), (
                f"{relative} imports {name}"
            )
        if relative.as_posix() != "vendors/registry.py":  # where the registry offers it
            assert "endpoint_module(" not in path.read_text(), f"{relative} loads an endpoint.py"


def test_nothing_starts_a_shell() -> None:
    for path in modules():
        text = path.read_text()
        for forbidden in ("shell=True", "os.system(", "os.popen(", "create_subprocess_shell"):
            assert forbidden not in text, f"{path.relative_to(PACKAGE)} uses {forbidden}"


# -- docs/architecture.md is the house drawn in words: these tests keep it true ----------------

ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
ROW = re.compile(r"^\|\s*(\d+)\.[^|]*\|([^|]*)\|", re.MULTILINE)
HOME_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|([^|]*)\|", re.MULTILINE)


# A few modules inside a package sit in another layer than their package: the list of
# vendors (the config derives its Union from it and each vendor's folder holds its config
# model, so it sits below both: dotted paths only, no imports), and the parts of the MQTT
# package (the topic contract is a foundation, the paho and amqtt doors sit below the
# mirror). The layer table names them with a dot; every other module belongs to its
# top-level module or package.
def sub_parts() -> set[str]:
    """The dotted names of docs/architecture.md's layer table (``vendors.registry``, ``mqtt.bridge``)."""
    return {name for name in documented_layers() if "." in name}


def top_level_parts() -> set[str]:
    """Every top-level module (``agent``, ``__main__``) and package (``actions``) of edge_agent,
    and the documented sub-parts that exist."""
    parts = {path.stem for path in PACKAGE.glob("*.py")}
    parts |= {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    existing = {name for name in sub_parts() if (PACKAGE / (name.replace(".", "/") + ".py")).exists()}
    return parts | existing


def part_of_module(dotted: str) -> str:
    """The part a module (``mqtt.bridge``, ``actions.intake``, ``agent``) belongs to."""
    for name in sorted(sub_parts(), key=len, reverse=True):
        if dotted == name or dotted.startswith(name + "."):
            return name
    return dotted.split(".")[0]


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
    return part_of_module(relative.removesuffix(".__init__"))


def documented_layers() -> dict[str, int]:
    """The layer table of docs/architecture.md: part -> layer number."""
    layers: dict[str, int] = {}
    for number, cell in ROW.findall(ARCHITECTURE.read_text()):
        for name in re.findall(r"`([\w.]+)`", cell):
            assert name not in layers, f"docs/architecture.md names {name} in two layers"
            layers[name] = int(number)
    return layers


@functools.cache
def part_imports(path: Path) -> frozenset[str]:
    """The parts of edge_agent that ``path`` imports (``from edge_agent import x`` too)."""
    parts = top_level_parts()
    found: set[str] = set()
    for node in ast.walk(syntax_of(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "edge_agent" or node.module.startswith("edge_agent."):
                # ``from edge_agent.mqtt import topics`` imports the sub-part mqtt.topics
                names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "edge_agent" or name.startswith("edge_agent."):
                dotted = name.split(".", 1)[1] if "." in name else "__init__"
                found.add(_known_part(dotted, parts))
    return frozenset(found)


def _known_part(dotted: str, parts: set[str]) -> str:
    """The part a dotted name imported from edge_agent falls in; an attribute of a module
    (``edge_agent.model.Snapshot``) falls in that module's part."""
    while dotted:
        part = part_of_module(dotted)
        if part in parts and (part == dotted or "." not in dotted or _is_module(dotted)):
            return part
        dotted = dotted.rpartition(".")[0]
    return "__init__"


def _is_module(dotted: str) -> bool:
    path = PACKAGE / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_every_part_of_the_package_is_named_in_the_architecture_page() -> None:
    layers = documented_layers()
    assert set(layers) == top_level_parts(), (
        f"not in docs/architecture.md: {sorted(top_level_parts() - set(layers))}; "
        f"named there but gone: {sorted(set(layers) - top_level_parts())}"
    )


def test_every_import_points_to_the_same_layer_or_a_lower_one() -> None:
    layers = documented_layers()
    upward = [
        f"{path.relative_to(PACKAGE)} ({part_of(path)}, layer {layers[part_of(path)]}) imports "
        f"{target} (layer {layers[target]})"
        for path in modules()
        for target in part_imports(path)
        if target != part_of(path) and layers[target] > layers[part_of(path)]
    ]
    assert not upward, "imports against docs/architecture.md:\n" + "\n".join(upward)


def test_the_top_level_parts_import_each_other_in_no_cycle() -> None:
    graph: dict[str, set[str]] = {part: set() for part in top_level_parts()}
    for path in modules():
        graph[part_of(path)] |= part_imports(path) - {part_of(path), "__init__"}
    done: set[str] = set()

    def visit(part: str, trail: list[str]) -> None:
        if part in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(part) :], part]))
        if part in done:
            return
        for target in sorted(graph[part]):
            visit(target, [*trail, part])
        done.add(part)

    for part in sorted(graph):
        visit(part, [])


def test_the_documented_homes_of_foreign_libraries_are_the_enforced_ones() -> None:
    text = ARCHITECTURE.read_text()
    section = text[text.index("## One home per foreign library") :]
    section = section[: section.index("\n## ", 1)]
    documented = {
        library: set(re.findall(r"`([\w/.]+\.py)`", homes)) for library, homes in HOME_ROW.findall(section)
    }
    assert documented == ONE_HOME


@pytest.mark.parametrize("place", ["assembly.py", "mqtt/topics.py", "collectors", "actions"])
def test_the_core_names_no_vendor(place: str) -> None:
    """A vendor's side service is its registry hook: the core never tests for a vendor by name."""
    from edge_agent.vendors.registry import VENDORS

    paths = [PACKAGE / place] if place.endswith(".py") else sorted((PACKAGE / place).rglob("*.py"))
    for path in paths:
        tree = syntax_of(path)
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
