"""The README's walk-through, run as written by scripts/walkthrough.sh against `checkin init-db` + `checkin serve`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from storage.models import Checkin, Person, ReferenceFace

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "walkthrough.sh"
README = REPO / "README.md"


def _block(readme: str) -> str:
    """The fenced block after the walk-through marker: the same rule as the script's awk."""
    match = re.search(r"^<!-- walkthrough[^\n]*\n```[^\n]*\n(.*?)^```", readme, re.S | re.M)
    assert match, "README.md has no walk-through block after a '<!-- walkthrough' line"
    return match.group(1)


def _run(work: Path, faces: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), str(work)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "CHECKIN": str(BIN / "checkin"), "FACES": str(faces), **env})


@pytest.mark.faces
def test_the_readme_walkthrough_ends_with_a_verified_checkin(tmp_path: Path, faces_dir: Path) -> None:
    result = _run(tmp_path, faces_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.rstrip().splitlines()[-1] == "verified"
    # What the block did, read from the instance it ran on.
    assert (tmp_path / "walkthrough.sh").read_text() == _block(README.read_text())
    engine = create_engine(f"sqlite:///{tmp_path / 'repo' / 'instance' / 'checkin.db'}")
    try:
        with Session(engine) as session:
            person = session.scalars(select(Person)).one()
            assert person.code == "P2026001"
            references = session.scalars(select(ReferenceFace).where(ReferenceFace.person_id == person.id)).all()
            assert 3 <= len(references) <= 5
            statuses = {c.status for c in session.scalars(select(Checkin).where(Checkin.person_id == person.id))}
            assert statuses == {"verified", "confirmed_violation"}
    finally:
        engine.dispose()
    assert (tmp_path / "repo" / "selfie.jpg").read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.faces
def test_the_script_fails_when_the_block_does_not_end_verified(tmp_path: Path, faces_dir: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- walkthrough -->\n```sh\ntest -x .venv/bin/checkin\necho rejected\n```\n")
    result = _run(tmp_path / "work", faces_dir, README=str(readme))
    assert result.returncode != 0
    assert "ended with 'rejected', not 'verified'" in result.stderr
    readme.write_text("# no walk-through here\n```sh\necho verified\n```\n")
    result = _run(tmp_path / "other", faces_dir, README=str(readme))
    assert result.returncode != 0 and "no walk-through block" in result.stderr


def test_the_walkthrough_steps_are_the_ones_the_readme_describes() -> None:
    readme = README.read_text()
    block = _block(readme)
    # Ids come from the answers, never assumed.
    assert not re.search(r"/(persons|checkins)/\d", block), "the walk-through assumes an id"
    for step in ("/auth/login", "/officer/persons", "/faces", "/checkins", "/review", "/officer/audit"):
        assert step in block
    loop = re.search(r"for n in ([\d ]+); do", block)
    assert loop and 3 <= len(loop.group(1).split()) <= 5, "three to five reference photos"
    # The port: the block's default is the one `make run` serves on, which is the one the README names.
    makefile = (REPO / "Makefile").read_text()
    port = re.search(r"^PORT \?= (\d+)$", makefile, re.M)
    assert port and f"${{PORT:-{port.group(1)}}}" in block
    assert f"http://127.0.0.1:{port.group(1)}" in readme.split("## Walk-through")[0]


def test_make_run_installs_before_it_serves() -> None:
    # `make run` on a clone without .venv: the dry run of every step (-B) creates the venv, then migrates and serves.
    result = subprocess.run(["make", "-n", "-B", "run"], cwd=REPO, capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    venv = next(i for i, line in enumerate(lines) if "-m venv .venv" in line)
    init = next(i for i, line in enumerate(lines) if line.endswith("checkin init-db"))
    serve = next(i for i, line in enumerate(lines) if "checkin serve --host 127.0.0.1 --port 8000" in line)
    assert venv < init < serve
