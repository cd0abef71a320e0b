"""Every public module-level class and function in storage/ says in a docstring what it is (STYLE.md rule 10).

Alembic revision scripts are left out: their upgrade() and downgrade() are the framework's entry points, and the
revision's module docstring says what it changes.
"""

from __future__ import annotations

import ast
from pathlib import Path

STORAGE = Path(__file__).resolve().parents[2] / "storage"
REVISIONS = STORAGE / "migrations" / "versions"


def undocumented(root: Path, *, skip: tuple[Path, ...] = ()) -> list[str]:
    """`path:line name` of each public module-level class or function below root that has no docstring."""
    missing = []
    for path in sorted(root.rglob("*.py")):
        if any(path.is_relative_to(folder) for folder in skip):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
            if (isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                    and not node.name.startswith("_") and ast.get_docstring(node) is None):
                missing.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}")
    return missing


def test_storage_public_names_have_docstrings() -> None:
    missing = undocumented(STORAGE, skip=(REVISIONS,))
    assert not missing, "public names in storage/ without a docstring:\n" + "\n".join(missing)


def test_the_check_names_what_lacks_a_docstring(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(
        '"""A module."""\n\n\nclass Told:\n    """Says what it is."""\n\n\nclass Silent:\n    pass\n\n\n'
        "def quiet() -> None:\n    pass\n\n\ndef _private() -> None:\n    pass\n",
        encoding="utf-8",
    )
    (package / "skipped").mkdir()
    (package / "skipped" / "gen.py").write_text("def upgrade() -> None:\n    pass\n", encoding="utf-8")

    assert undocumented(package, skip=(package / "skipped",)) == ["pkg/mod.py:8 Silent", "pkg/mod.py:12 quiet"]
