"""What `pip install okrsync` brings, and what only `pip install 'okrsync[demo]'` does.

The sandbox (okrsync_sandbox) ships in the wheel, but it needs openapi-core, which only
the `demo` extra installs; okrsync/ imports it only inside `okrsync demo` and `okrsync
sandbox`, which say how to install it when it is missing. No network is needed here.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PRODUCT = ROOT / "okrsync"
SANDBOX = "okrsync_sandbox"


def names(requirements: list[str]) -> set[str]:
    """Distribution names, normalised, of PEP 508 requirements."""
    found = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
        assert match, requirement
        found.add(re.sub(r"[-_.]+", "-", match.group()).lower())
    return found


def test_openapi_core_is_only_in_the_demo_extra() -> None:
    project = PYPROJECT["project"]
    assert "openapi-core" not in names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert "openapi-core" in names(extras["demo"])
    holders = {extra for extra, required in extras.items() if "openapi-core" in names(required)}
    assert holders == {"demo"}
    # The tests need the sandbox: `dev` pulls the extra in, and `make install` names both.
    assert "okrsync[demo]" in extras["dev"]
    assert ".[dev,demo]" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_the_installed_metadata_says_the_same() -> None:
    """The metadata setuptools built from pyproject.toml (this checkout's install)."""
    requires = importlib.metadata.requires("okrsync") or []
    openapi = [r for r in requires if names([r]) == {"openapi-core"}]
    assert openapi and all(re.search(r"""extra\s*==\s*["']demo["']""", r) for r in openapi)


def test_the_sandbox_ships_its_descriptions_and_the_demo_config() -> None:
    data = PYPROJECT["tool"]["setuptools"]["package-data"][SANDBOX]
    assert set(data) == {"specs/*.json", "demo.yaml"}
    assert (ROOT / SANDBOX / "demo.yaml").is_file()
    assert sorted(p.name for p in (ROOT / SANDBOX / "specs").glob("*.json")) == [
        "adf.v1.json",  # Atlassian's ADF JSON schema: v3 comment bodies (specs/README.md)
        "asana.json",
        "github.json",
        "jira.json",
    ]
    assert not (ROOT / "config" / "demo.yaml").exists()


def module_level_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: everything outside function bodies
    (class bodies, `if`, `try` and `with` blocks at module level included)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module or ""] if node.level == 0 else []


def test_the_product_never_imports_the_sandbox_at_module_level() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted(PRODUCT.rglob("*.py"))
        for node in module_level_imports(ast.parse(path.read_text(encoding="utf-8")))
        for module in imported_modules(node)
        if module == SANDBOX or module.startswith(f"{SANDBOX}.")
    ]
    assert offenders == []


def test_the_check_sees_imports_in_module_level_blocks_but_not_in_functions() -> None:
    tree = ast.parse(
        "import okrsync_sandbox\n"
        "try:\n    from okrsync_sandbox.world import World\nexcept ImportError:\n    pass\n"
        "def f():\n    from okrsync_sandbox.demo import run_demo\n"
    )
    modules = [m for node in module_level_imports(tree) for m in imported_modules(node)]
    assert sorted(modules) == ["okrsync_sandbox", "okrsync_sandbox.world"]


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_without_the_extra_the_commands_say_how_to_install_it(command: str) -> None:
    """openapi-core made unimportable, as after a plain `pip install okrsync`."""
    code = (
        "import sys; sys.modules['openapi_core'] = None\n"
        "from okrsync.cli import main\n"
        f"sys.exit(main([{command!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"okrsync {command} needs the sandbox: pip install 'okrsync[demo]'")


def test_the_cli_imports_without_the_sandbox() -> None:
    code = (
        "import sys; sys.modules['openapi_core'] = None; sys.modules['okrsync_sandbox'] = None\n"
        "import okrsync.cli, okrsync.service, okrsync.sources, okrsync.config\n"
        "from okrsync.cli import main\n"
        "sys.exit(main(['--help']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "demo" in done.stdout
