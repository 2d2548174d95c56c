"""tools/trim_specs.py on the vendored descriptions: a trimmed file trims to itself.

The full vendor descriptions live outside the repository (`../shared/specs`), so these
tests check what can be checked from a fresh clone: trimming is idempotent on each
vendored file, byte for byte through the script's own command line, and still so when
unserved paths, unused components, prose and vendor extensions are added back.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from openapi_core import OpenAPI

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "trim_specs.py"
SPECS = ROOT / "okrsync_sandbox" / "specs"
VENDORS = ("jira", "github", "asana")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trim_specs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture(scope="module")
def trim_specs() -> ModuleType:
    return load_script()


def vendored(vendor: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPECS / f"{vendor}.json").read_text(encoding="utf-8"))
    return loaded


def test_the_script_writes_where_the_sandbox_reads(trim_specs: ModuleType) -> None:
    assert trim_specs.HERE == SPECS
    assert {v.output_name for v in trim_specs.VENDORS.values()} == {
        f"{vendor}.json" for vendor in VENDORS
    }


@pytest.mark.parametrize("vendor", VENDORS)
def test_trimming_a_vendored_file_reproduces_it(
    trim_specs: ModuleType, vendor: str, tmp_path: Path
) -> None:
    source = SPECS / f"{vendor}.json"
    output = tmp_path / f"{vendor}.json"
    assert trim_specs.main([str(source), "--vendor", vendor, "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")


@pytest.mark.parametrize("vendor", VENDORS)
def test_trimming_drops_what_the_sandbox_does_not_serve(
    trim_specs: ModuleType, vendor: str
) -> None:
    original = vendored(vendor)
    noisy = copy.deepcopy(original)
    served_path, item = next(iter(noisy["paths"].items()))
    noisy["paths"]["/not/served/by/the/sandbox"] = copy.deepcopy(item)
    for operation in (v for k, v in item.items() if k != "parameters"):
        operation["description"] = "Prose the sandbox has no use for."
        operation["summary"] = "Prose"
        operation["x-vendor-extension"] = {"anything": True}
    noisy["components"].setdefault("schemas", {})["NobodyRefersToThis"] = {"type": "object"}
    noisy["info"]["description"] = "A long introduction."

    trimmed = trim_specs.trim(noisy, trim_specs.VENDORS[vendor].operations)

    assert served_path in trimmed["paths"]
    assert trimmed == original


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_served_operation_is_in_the_vendored_file_and_it_validates(
    trim_specs: ModuleType, vendor: str
) -> None:
    described = vendored(vendor)
    for path, methods in trim_specs.VENDORS[vendor].operations.items():
        assert set(methods) <= set(described["paths"][path]), path
    OpenAPI.from_dict(described)  # runs openapi-spec-validator
