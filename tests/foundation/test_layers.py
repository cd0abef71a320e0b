"""The folders are the architecture (../shared/docs/STYLE.md, "Layout"): every import of every module, read with ast
(imports inside functions and under TYPE_CHECKING included), points the way the layers allow."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "mobile_api", "officer_api", "officer_console", "web", "supervision", "verification", "storage")
ENDPOINTS = ("mobile_api", "officer_api", "officer_console")
FLASK = ("flask", "flask_babel", "flask_jwt_extended", "flask_limiter", "flask_smorest", "flask_swagger_ui",
         "werkzeug")

# (packages a rule is about, what they must not import, why)
RULES: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (tuple(p for p in PACKAGES if p != "server"), ("server",), "nothing imports the composition root"),
    *(((package,), tuple(p for p in ENDPOINTS if p != package), "the API and console packages never import each other")
      for package in ENDPOINTS),
    (("supervision",), ("web", *FLASK, *ENDPOINTS), "the domain knows no HTTP"),
    (("verification", "storage"), ("web", "supervision", *FLASK, *ENDPOINTS),
     "verification and storage are usable without an app"),
]


def module_name(root: Path, path: Path) -> str:
    """The dotted name of a module file under root (a package's __init__.py is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in one file; relative imports resolved against its package."""
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            if node.module is not None:
                yield node.lineno, ".".join([*base, node.module])
            else:  # "from . import x" imports the module x
                for alias in node.names:
                    yield node.lineno, ".".join([*base, alias.name])


def _is_within(name: str, packages: tuple[str, ...]) -> bool:
    return name.split(".")[0] in packages


def violations(root: Path) -> list[str]:
    """Every import under root that breaks a rule, as "path:line imports name (why)"."""
    found: list[str] = []
    for path in sorted(p for package in PACKAGES for p in (root / package).rglob("*.py")):
        importer = module_name(root, path)
        for line, name in imported_names(root, path):
            for subjects, forbidden, why in RULES:
                if _is_within(importer, subjects) and _is_within(name, forbidden):
                    found.append(f"{path.relative_to(root).as_posix()}:{line} imports {name} ({why})")
    return found


def test_every_package_imports_only_what_its_layer_may():
    assert sum(1 for package in PACKAGES for _ in (REPO / package).rglob("*.py")) > 100
    assert violations(REPO) == []


def test_the_console_and_the_officer_api_are_separate_packages():
    console = {name for path in (REPO / "officer_console").rglob("*.py") for _, name in imported_names(REPO, path)}
    api = {name for path in (REPO / "officer_api").rglob("*.py") for _, name in imported_names(REPO, path)}

    assert "officer_console.session" in console and "web.schemas" in api  # the scan sees both packages' imports
    assert [name for name in console if _is_within(name, ("officer_api",))] == []
    assert [name for name in api if _is_within(name, ("officer_console",))] == []


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(("relative", "source", "expected"), [
    ("officer_console/pages.py", "from officer_api.persons import PersonSchema\n",
     "officer_console/pages.py:1 imports officer_api.persons (the API and console packages never import each other)"),
    ("officer_api/persons.py", "import os\n\n\ndef view():\n    import officer_console.forms\n",
     "officer_api/persons.py:5 imports officer_console.forms (the API and console packages never import each other)"),
    ("mobile_api/me.py", "from officer_api import tasks\n",
     "mobile_api/me.py:1 imports officer_api (the API and console packages never import each other)"),
    ("supervision/checkins.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from flask import g\n",
     "supervision/checkins.py:3 imports flask (the domain knows no HTTP)"),
    ("supervision/leave.py", "from web.db import now\n",
     "supervision/leave.py:1 imports web.db (the domain knows no HTTP)"),
    ("storage/blobs.py", "from supervision.errors import AppError\n",
     "storage/blobs.py:1 imports supervision.errors (verification and storage are usable without an app)"),
    ("verification/engine.py", "import flask_babel\n",
     "verification/engine.py:1 imports flask_babel (verification and storage are usable without an app)"),
    ("web/db.py", "from server.config import load\n",
     "web/db.py:1 imports server.config (nothing imports the composition root)"),
    ("officer_console/__init__.py", "from .. import server\n",
     "officer_console/__init__.py:1 imports server (nothing imports the composition root)"),
])
def test_a_forbidden_import_is_reported_with_its_module_and_line(tmp_path, relative, source, expected):
    # The check above must be able to fail: one bad import in a copy of the layout is named, with where it is.
    _write(tmp_path, "web/schemas.py", "from supervision.errors import ValidationFailed\n")  # allowed: web -> domain
    _write(tmp_path, relative, source)

    assert violations(tmp_path) == [expected]
