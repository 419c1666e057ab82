"""The slow marks of tests/conftest.py keep naming real tests: a renamed or moved module
would otherwise drop silently into the fast inner loop, or out of the list unnoticed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

# loaded by path: every test folder has a module called ``conftest``
_spec = importlib.util.spec_from_file_location("tests_root_conftest", Path(__file__).with_name("conftest.py"))
assert _spec is not None and _spec.loader is not None
marks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(marks)
SLOW_FOLDERS, SLOW_TESTS, TESTS_ROOT = marks.SLOW_FOLDERS, marks.SLOW_TESTS, marks.TESTS_ROOT


def test_every_slow_folder_exists() -> None:
    assert all((TESTS_ROOT / folder).is_dir() for folder in SLOW_FOLDERS)


def test_every_named_slow_module_and_test_exists_and_says_why() -> None:
    for name, reason in SLOW_TESTS.items():
        module, _, test = name.partition("::")
        path = TESTS_ROOT / module
        assert path.is_file(), f"{module} is named slow but does not exist"
        if test:
            assert re.search(rf"^(async )?def {test}\(", path.read_text(), re.MULTILINE), name
        assert reason.strip(), f"{name} is named slow without a reason"
