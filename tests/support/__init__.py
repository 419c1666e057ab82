"""What every test folder shares: one fake clock (:mod:`support.clock`), one way to wait
for a condition (:mod:`support.waiting`) and one HTTP client factory (:mod:`support.http`).

Imported as ``support`` (``[tool.pytest.ini_options] pythonpath = ["tests"]``), like the
per-folder helpers next to each conftest, so ``pytest tests/<folder>`` from the repo root and
the full run see the same module.
"""
