"""CLI commands for calibrating and timing the face engine; the logic lives in verification.evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from server.config import ConfigError, log_settings
from server.logs import configure_logging
from server.progress import progress
from verification.engine import FaceEngine
from verification.evaluation import (
    SWEEPS,
    count_images,
    evaluate,
    format_report,
    load_identities,
    sweep_quality,
)
from verification.settings import EngineSettings

# --engine: the deciding template and the detector it runs behind. "dlib" is the previous engine (HOG + ResNet).
ENGINE_PRESETS: dict[str, dict[str, str]] = {
    "sface": {"matcher": "sface", "detector": "yunet"},
    "sface+dlib": {"matcher": "sface+dlib", "detector": "yunet"},
    "dlib": {"matcher": "dlib", "detector": "hog"},
}


def _settings(overrides: tuple[str, ...], preset: str = "sface+dlib") -> EngineSettings:
    values: dict[str, str] = dict(ENGINE_PRESETS[preset])
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        values[key.strip().lower()] = value
    unknown = set(values) - set(EngineSettings.__dataclass_fields__)
    if unknown:
        raise click.BadParameter(f"unknown setting(s): {', '.join(sorted(unknown))}", param_hint="--set")
    return EngineSettings.from_mapping(values)


@click.command("eval-faces")
@click.argument(
    "directories", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--engine", "preset", type=click.Choice(sorted(ENGINE_PRESETS)), default="sface+dlib",
              show_default=True,
              help="sface: YuNet + SFace; dlib: the previous HOG + dlib engine; sface+dlib: dlib vetoes SFace.")
@click.option("--refs", default=5, show_default=True, type=click.IntRange(min=1),
              help="Reference photos enrolled per identity.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--distances", is_flag=True, help="Include every genuine and impostor distance in the JSON.")
@click.option("--limit", type=click.IntRange(min=1), help="Use only the first N identities of each directory.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override an engine setting.")
@click.option(
    "--sweep", type=click.Choice(sorted(SWEEPS)), help="Degrade probes and tabulate matching instead."
)
def eval_faces(
    directories: tuple[Path, ...],
    preset: str,
    refs: int,
    as_json: bool,
    distances: bool,
    limit: int | None,
    overrides: tuple[str, ...],
    sweep: str | None,
) -> None:
    """Measure TAR at fixed FAR, FTE, FTA and time per photo on folders of identity folders."""
    try:
        configure_logging(*log_settings())  # the progress lines reach logs, not only a terminal
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = _settings(overrides, preset)
    for directory in directories:
        if not load_identities(directory, refs):
            raise click.ClickException(f"no identities in {directory}: expected one sub-folder of photos per person "
                                       "(e.g. ../shared/faces/people/Colin_Powell/1.jpg)")
    engine = FaceEngine(settings)
    if sweep:
        total = sum(len(i.probes) for d in directories for i in load_identities(d, refs)[:limit])
        with progress(total, f"sweep {sweep}") as update:
            table = sweep_quality(
                directories, sweep, refs=refs, engine=engine, progress=update, identities_per_set=limit
            )
        click.echo(json.dumps(table, indent=2) if as_json else "\n".join(str(row) for row in table))
        return
    total = sum(count_images(load_identities(d, refs)[:limit]) for d in directories)
    with progress(total, "analysing photos") as update:
        report = evaluate(
            directories, refs=refs, engine=engine, progress=update, identities_per_set=limit
        )
    if as_json:
        click.echo(json.dumps(report.as_dict(include_distances=distances), indent=2))
    else:
        click.echo(format_report(report))


if __name__ == "__main__":
    eval_faces()
