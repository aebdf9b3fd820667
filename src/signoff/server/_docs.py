"""``/api/v1/docs``: a plain reference page of the API, built from its OpenAPI document.

Why not Swagger UI: it loads its scripts from a CDN, and this server serves every asset
itself (it often runs where the internet is not reachable, and a review tool should not
pull third-party scripts next to reviewer sessions). Tools that want more read
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["install_docs"]

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{margin:.6rem 0;padding:.5rem .7rem;border:1px solid #e3e6ea;border-radius:6px}
.m{display:inline-block;min-width:3.6rem;font:600 12px monospace;color:#fff;border-radius:3px;
padding:1px 5px;text-align:center}.GET{background:#2f6fb3}.POST{background:#2f8a4b}.PUT{background:#a86d12}
code{font-size:13px}.d{color:#4a5260;margin:.3rem 0 0;white-space:pre-wrap}.p{color:#4a5260;font-size:13px}
"""


def _params(op: dict[str, Any]) -> str:
    names = [f"{escape(p['name'])}{'' if p.get('required') else '?'}" for p in op.get("parameters", ())
             if p.get("in") == "query"]
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = str(body.get("$ref", "")).rsplit("/", 1)[-1] or next(
        (str(s.get("$ref", "")).rsplit("/", 1)[-1] for s in body.get("anyOf", ()) if "$ref" in s), "")
    parts = []
    if names:
        parts.append("query: " + ", ".join(names))
    if ref:
        parts.append("body: " + escape(ref))
    return f'<div class="p">{" · ".join(parts)}</div>' if parts else ""


def render(spec: dict[str, Any]) -> str:
    by_tag: dict[str, list[str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            tag = (op.get("tags") or ["other"])[0]
            desc = op.get("description", "")
            by_tag.setdefault(tag, []).append(
                f'<div class="op"><span class="m {method.upper()}">{method.upper()}</span> '
                f'<code>{escape(path)}</code> — {escape(op.get("summary", ""))}'
                f'{_params(op)}{f"<p class=d>{escape(desc)}</p>" if desc else ""}</div>')
    sections = "".join(f"<h2>{escape(tag)}</h2>{''.join(ops)}" for tag, ops in by_tag.items())
    info = spec.get("info", {})
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>signoff API</title><style>{_CSS}</style>"
            f"<h1>{escape(info.get('title', 'signoff'))} API {escape(str(info.get('version', '')))}</h1>"
            "<p>Send <code>Authorization: Bearer &lt;token&gt;</code> (from <code>signoff token create</code>). "
            "Errors are <code>application/problem+json</code>. The machine-readable document is "
            "<a href=/api/v1/openapi.json>/api/v1/openapi.json</a>.</p>" + sections + "</html>")


def install_docs(app: FastAPI, path: str = "/api/v1/docs") -> None:
    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(render(app.openapi()))

    app.add_route(path, docs, include_in_schema=False)
