"""What every test folder shares: one fake clock (:mod:`support.clock`), one way to wait
for a condition (:mod:`support.waiting`), one HTTP client factory (:mod:`support.http`) and
the vendor world generated from the registry (:mod:`support.vendor_world`: the e2e, fault
and fuzz tests' simulators and config).

Imported as ``support`` (``[tool.pytest.ini_options] pythonpath = ["tests"]``), like the
per-folder helpers next to each conftest, so ``pytest tests/<folder>`` from the repo root and
the full run see the same module.
"""
