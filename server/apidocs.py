"""The API reference at /api/v1/docs: Swagger UI (from the flask-swagger-ui package, served from this server, no
CDN) on the generated OpenAPI document, above a plain list of every operation that needs no JavaScript."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, current_app, render_template_string, send_from_directory
from werkzeug.exceptions import NotFound

bp = Blueprint("apidocs", __name__)

SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).parent / "dist"
# The files the page loads; anything else under the package folder is not served.
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "index.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                              "favicon-32x32.png", "favicon-16x16.png", "docs-init.js"})

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ spec.info.title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{{ static }}/swagger-ui.css">
<link rel="icon" type="image/png" href="{{ static }}/favicon-32x32.png" sizes="32x32">
<style>
body{margin:0;font-family:system-ui,sans-serif;color:#222}
.intro,.index{max-width:1100px;margin:1rem auto;padding:0 1rem}
.index h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:1.5rem}
.op{margin:.4rem 0;padding:.4rem .8rem;border-left:4px solid #888;background:#f7f7f7}
.m{display:inline-block;min-width:4.5rem;font-weight:700}
.GET{border-color:#2a7}.POST{border-color:#27c}.DELETE{border-color:#c33}.PATCH{border-color:#c80}
code{font-size:.95em}small{color:#555}
</style></head><body>
<div class="intro"><p>Machine-readable document: <a href="{{ json_url }}">{{ json_url }}</a>
(OpenAPI {{ spec.openapi }}). Errors are
<code>application/problem+json</code> with a stable <code>code</code>; each operation lists the codes it can answer
with. Mutating phone requests take an <code>Idempotency-Key</code> header.</p></div>
<div id="swagger-ui" data-url="{{ json_url }}"></div>
<details class="index"><summary>Every operation, as a plain list</summary>
{% for tag, ops in groups %}<h2>{{ tag }}</h2>
{% for method, path, op in ops %}<div class="op {{ method }}"><span class="m">{{ method }}</span><code>{{ path }}</code>
<br><small>{{ op.get('summary') or op.get('description') or '' }}</small></div>{% endfor %}{% endfor %}
</details>
<script src="{{ static }}/swagger-ui-bundle.js"></script>
<script src="{{ static }}/swagger-ui-standalone-preset.js"></script>
<script src="{{ static }}/docs-init.js"></script>
</body></html>"""

# Kept in a file of its own (not inline) so the page works under a script-src 'self' policy.
_INIT = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    validatorUrl: null
  });
});
"""

STATIC_PREFIX = "/api/v1/docs/static"


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
    return render_template_string(_PAGE, spec=spec, groups=sorted(groups.items()), json_url="/api/v1/openapi.json",
                                  static=STATIC_PREFIX)


@bp.get(f"{STATIC_PREFIX}/<name>")
def docs_static(name: str) -> Response:
    """Swagger UI's own files, from the installed package."""
    if name not in SWAGGER_UI_FILES:
        raise NotFound()
    if name == "docs-init.js":
        return Response(_INIT, mimetype="text/javascript", headers={"Cache-Control": "public, max-age=3600"})
    return send_from_directory(SWAGGER_UI_DIR, name, max_age=86400)
