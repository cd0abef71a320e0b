"""Human-readable API reference at /api/v1/docs, rendered from the generated OpenAPI document (no CDN assets)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template_string

bp = Blueprint("apidocs", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ spec.info.title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2rem}
.op{margin:.6rem 0;padding:.5rem .8rem;border-left:4px solid #888;background:#f7f7f7}
.m{display:inline-block;min-width:4.5rem;font-weight:700}
.GET{border-color:#2a7}.POST{border-color:#27c}.DELETE{border-color:#c33}.PATCH{border-color:#c80}
code{font-size:.95em}small{color:#555}
</style></head><body>
<h1>{{ spec.info.title }} <small>{{ spec.info.version }}</small></h1>
<p>Machine-readable document: <a href="{{ json_url }}">{{ json_url }}</a>. Errors are
<code>application/problem+json</code> with a stable <code>code</code>.</p>
{% for tag, ops in groups %}<h2>{{ tag }}</h2>
{% for method, path, op in ops %}<div class="op {{ method }}"><span class="m">{{ method }}</span><code>{{ path }}</code>
<br><small>{{ op.get('summary') or op.get('description') or '' }}</small></div>{% endfor %}{% endfor %}
</body></html>"""


@bp.get("/api/v1/docs")
def docs():  # type: ignore[no-untyped-def]
    """The API reference page."""
    spec = current_app.extensions["checkin.api"].spec.to_dict()
    groups: dict[str, list[tuple[str, str, dict]]] = {}
    for path, item in sorted(spec.get("paths", {}).items()):
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                tag = (op.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append((method.upper(), path, op))
    return render_template_string(_PAGE, spec=spec, groups=sorted(groups.items()), json_url="/api/v1/openapi.json")
