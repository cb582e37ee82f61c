"""Routes that are not actions: health, readiness, the OpenAPI document, metrics and the web UI."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_from_directory

from jvp.api.actions import ActionRegistry, Role
from jvp.api.openapi import build_spec
from jvp.errors import Forbidden, JvpError

log = logging.getLogger(__name__)


def register(app: Flask, registry: ActionRegistry, services: Any) -> None:
    settings = services.settings
    spec_cache: dict[str, Any] = {}

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    def _may_see_details() -> bool:
        """Whether the caller presented a valid token (any role): the node's URI and libvirt's error name
        hosts and users, which an unauthenticated probe (a load balancer) does not need."""
        if not settings.auth:
            return True
        header = request.headers.get("Authorization")
        if not header:
            return False
        try:
            return services.tokens.authenticate(header).role >= Role.VIEWER
        except JvpError:
            return False

    @app.get("/readyz")
    def readyz():
        checks: dict[str, Any] = {"metadata_store": {"ok": services.store.writable()}}
        try:
            local = services.nodes.describe("local")
        except JvpError as exc:  # e.g. its metadata file cannot be read (MetadataCorrupt: see `jvp doctor`)
            checks["local_node"] = {"ok": False, "code": exc.code}
            if _may_see_details():
                checks["local_node"]["error"] = exc.message
        else:
            checks["local_node"] = {"ok": local.reachable}
            if _may_see_details():
                checks["local_node"].update(uri=local.uri, error=local.last_error)
        ready = all(c["ok"] for c in checks.values())
        return jsonify({"ready": ready, "checks": checks}), 200 if ready else 503

    @app.get("/api/openapi.json")
    def openapi():
        if "spec" not in spec_cache:
            spec_cache["spec"] = build_spec(registry)
        return jsonify(spec_cache["spec"])

    @app.get("/metrics")
    def metrics():
        if settings.auth:
            principal = services.tokens.authenticate(request.headers.get("Authorization"))
            if principal.role < Role.VIEWER:
                raise Forbidden("metrics need the viewer role")
        from jvp.api.metrics import render
        return Response(render(services), mimetype="text/plain; version=0.0.4")

    web_root = Path(settings.web_dir)

    @app.get("/")
    @app.get("/<path:path>")
    def web(path: str = ""):
        """The static export of the Next.js UI: /nodes/ -> nodes/index.html; unknown paths -> 404 page."""
        if path.startswith(("api/", "ws/")):
            abort(404)
        if not (web_root / "index.html").exists():
            raise JvpError("JVP's web UI is not built: run `make web` (the API is at /api/)",
                           code="UiNotBuilt", status=503)
        candidates = [path, f"{path}.html", f"{path.rstrip('/')}/index.html"] if path else ["index.html"]
        for cand in candidates:
            full = (web_root / cand).resolve()
            if str(full).startswith(str(web_root.resolve())) and full.is_file():
                resp = send_from_directory(web_root, cand)
                if cand.startswith("_next/static/"):
                    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
                return resp
        if (web_root / "404.html").exists():
            return send_from_directory(web_root, "404.html"), 404
        abort(404)
