"""Render the report page from its context with the Jinja2 template in ``templates/``.

Autoescaping is on: model text and file names are escaped; only the SVG charts, which
``charts`` builds with escaped labels, are inserted as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"


def pct(value: Any, digits: int = 1) -> str:
    """0.1234 -> '12.3%'; None -> 'n/a'."""
    if value is None:
        return "n/a"
    return f"{float(value) * 100:.{digits}f}%"


def num(value: Any, digits: int = 3) -> str:
    """A short number: thousands separators for integers, ``digits`` significant places."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"
    return str(value)


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    env.filters["num"] = num
    return env


def render_report(ctx: dict[str, Any]) -> str:
    """The whole page as one HTML string (styles inline, no external resources)."""
    return _env().get_template("report.html.j2").render(**ctx)
