"""The composition root: builds the Flask app from configuration, extensions and blueprints."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from server.composition import build_services
from server.config import check_service_config, load_config, log_format
from server.logs import configure_logging


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then CHECKIN_* environment, then config_overrides."""
    config = load_config(config_overrides)
    check_service_config(config)
    configure_logging(log_format(config), config["LOG_LEVEL"])
    app = Flask(__name__, instance_path=config["INSTANCE_PATH"], instance_relative_config=False)
    app.config["CHECKIN"] = config
    app.config["MAX_CONTENT_LENGTH"] = config["MAX_CONTENT_LENGTH"]
    # Cookie signing gets its own key, derived so that it never equals the token-signing key.
    app.config["SECRET_KEY"] = hmac.new(config["JWT_SECRET_KEY"].encode(), b"flask-session", hashlib.sha256).hexdigest()
    app.json.sort_keys = False  # type: ignore[attr-defined]
    _init_request_log(app)
    _init_hostile_input(app)
    if config["TRUST_PROXY_HOPS"]:
        hops = config["TRUST_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    _init_extensions(app, config)
    _register_blueprints(app)
    return app


def _init_request_log(app: Flask) -> None:
    from web import request_id

    request_id.init_app(app)
    log = logging.getLogger("checkin.request")

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        # The access log, from the app so that it carries the request id in both formats.
        started = g.get("request_started")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
        log.info("%s %s %s %s ms", request.method, request.path, response.status_code, elapsed_ms,
                 extra={"method": request.method, "path": request.path, "status": response.status_code,
                        "duration_ms": elapsed_ms, "remote_addr": request.remote_addr})
        return response


def _init_hostile_input(app: Flask) -> None:
    from web import jsonsafe
    from web.api import IdConverter

    # Before any blueprint: rules bind their converter when they are added.
    app.url_map.converters["int"] = IdConverter
    jsonsafe.init_app(app)


def _init_extensions(app: Flask, config: dict[str, Any]) -> None:
    from server.jobs import ENTRY_POINT
    from web import auth, db, idempotency, messaging
    from web.api import ProblemApi
    from web.jobs import jobs
    from web.limiter import limiter
    from web.problems import register_problem_handlers

    services = build_services(config, echo_sql=config["DB_ECHO"])
    db.init_app(app, services)
    idempotency.init_app(app)
    jobs.init_app(app, rq_entry=ENTRY_POINT)
    messaging.init_app(app, services.database)

    auth.init_app(app)

    app.config["RATELIMIT_STORAGE_URI"] = config["RATELIMIT_STORAGE_URL"]
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    limiter.init_app(app)

    app.config.update(
        API_TITLE="Community corrections check-in API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH=None,
        OPENAPI_REDOC_PATH=None,
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                              "bearerFormat": "JWT"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    # One Api (and OpenAPI document) per app, so several apps in one process (tests) don't share state.
    app.extensions["checkin.api"] = ProblemApi(app)
    register_problem_handlers(app)


def _register_blueprints(app: Flask) -> None:
    from mobile_api import blueprints as mobile_blueprints
    from officer_api import blueprints as officer_blueprints
    from officer_console.blueprint import console_bp
    from server.apidocs import bp as apidocs_bp
    from server.health import bp as health_bp

    api = app.extensions["checkin.api"]
    app.register_blueprint(health_bp)
    app.register_blueprint(apidocs_bp)
    app.register_blueprint(console_bp)
    for blueprint in (*mobile_blueprints(), *officer_blueprints()):
        api.register_blueprint(blueprint)
