"""Charts as inline SVG strings: bars, grouped bars, histograms, horizontal bars and a
scatter plot. No plotting library and nothing fetched: the page stays self-contained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2f6db5", "#e07b39", "#3a9d5d", "#c23b4e", "#7d5ba6", "#8c6d31", "#1b9aaa")
FONT = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif"


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2g}" if value != int(value) else f"{value:.0f}"
    return f"{value:.2g}"


def _nice_step(value: float, parts: int = 4) -> float:
    """A round tick step so that about ``parts`` steps reach ``value``."""
    if value <= 0:
        return 0.25
    raw = value / parts
    exp = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= raw:
            return step * exp
    return 10 * exp


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (a whole number of tick steps)."""
    step = _nice_step(value)
    return step * max(1, math.ceil(value / step - 1e-9)) if value > 0 else 1.0


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{label}" style="{FONT}">'
        f"<title>{label}</title>"
        f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-size="13" '
        f'font-weight="600">{label}</text>' + "".join(body) + "</svg>"
    )


def _y_axis(x0: float, y0: float, h: float, top: float, w: float, as_pct: bool) -> list[str]:
    parts = []
    step = 0.25 if as_pct and top == 1.0 else _nice_step(top)
    ticks = max(1, round(top / step))
    for i in range(ticks + 1):
        v = step * i
        y = y0 - h * v / top
        text = f"{v * 100:.0f}%" if as_pct else _fmt(v)
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
                     f'fill="#555">{text}</text>')  # fmt: skip
    return parts


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    *,
    as_pct: bool = False,
    width: int = 560,
    height: int = 260,
    y_label: str = "",
) -> str:
    """Bars per category, one colour per series (a legend when more than one)."""
    left, right, top_pad, bottom = 52, 12, 30, 46 if len(series) > 1 else 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    y0 = top_pad + plot_h
    values = [v for vals in series.values() for v in vals if v is not None]
    top = 1.0 if as_pct and values and max(values) <= 1 else _nice_max(max(values or [0]))
    body = _y_axis(left, y0, plot_h, top, plot_w, as_pct)
    n_cat, n_ser = max(1, len(categories)), max(1, len(series))
    slot = plot_w / n_cat
    bar_w = min(40.0, slot * 0.8 / n_ser)
    for ci, cat in enumerate(categories):
        start = left + ci * slot + (slot - bar_w * n_ser) / 2
        for si, (name, vals) in enumerate(series.items()):
            v = vals[ci] if ci < len(vals) else None
            if v is None:
                continue
            bh = plot_h * (v / top if top else 0)
            x = start + si * bar_w
            shown = f"{v * 100:.1f}%" if as_pct else _fmt(v)
            body.append(
                f'<rect x="{x:.1f}" y="{y0 - bh:.1f}" width="{bar_w - 1:.1f}" height="{bh:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(str(name))} / '
                f"{escape(str(cat))}: {shown}</title></rect>"
            )
            if n_ser * n_cat <= 24:
                body.append(f'<text x="{x + bar_w / 2:.1f}" y="{y0 - bh - 3:.1f}" font-size="9" '
                            f'text-anchor="middle" fill="#333">{shown}</text>')  # fmt: skip
        body.append(f'<text x="{left + ci * slot + slot / 2:.1f}" y="{y0 + 14}" font-size="10" '
                    f'text-anchor="middle">{escape(str(cat))[:18]}</text>')  # fmt: skip
    body.append(f'<line x1="{left}" y1="{y0}" x2="{left + plot_w}" y2="{y0}" stroke="#888"/>')
    if y_label:
        body.append(f'<text x="12" y="{top_pad + plot_h / 2:.0f}" font-size="10" '
                    f'transform="rotate(-90 12 {top_pad + plot_h / 2:.0f})" '
                    f'text-anchor="middle">{escape(y_label)}</text>')  # fmt: skip
    if len(series) > 1:
        x = left
        for si, name in enumerate(series):
            body.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" '
                        f'fill="{PALETTE[si % len(PALETTE)]}"/>')  # fmt: skip
            body.append(f'<text x="{x + 14}" y="{height - 5}" font-size="10">'
                        f"{escape(str(name))}</text>")  # fmt: skip
            x += 20 + 7 * len(str(name))
    return _svg(width, height, title, body)


def bars(
    labels: Sequence[str], values: Sequence[float | None], title: str, **kwargs: object
) -> str:
    """One series of vertical bars."""
    return grouped_bars(labels, {title: list(values)}, title, **kwargs)  # type: ignore[arg-type]


def histogram(
    values: Sequence[float],
    title: str,
    *,
    bins: int = 12,
    lo: float | None = None,
    hi: float | None = None,
    width: int = 560,
    height: int = 240,
) -> str:
    """Counts of ``values`` in equal-width bins between ``lo`` and ``hi``."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return _svg(width, 60, title, ['<text x="10" y="44" font-size="12">no values</text>'])
    lo = min(vals) if lo is None else lo
    hi = max(vals) if hi is None else hi
    if hi <= lo:
        hi = lo + 1.0
    step = (hi - lo) / bins
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, max(0, int((v - lo) / step)))] += 1
    labels = [_fmt(lo + i * step) for i in range(bins)]
    return grouped_bars(labels, {"count": counts}, title, width=width, height=height,
                        y_label="documents")  # fmt: skip


def hbars(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    *,
    width: int = 560,
    unit: str = "",
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars, one row per label (funnels, cost per stage)."""
    row, left, top_pad = 22, 170, 28
    height = top_pad + row * max(1, len(labels)) + 10
    top = _nice_max(max([v for v in values if v is not None] or [0]))
    plot_w = width - left - 80
    body = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = top_pad + i * row
        bw = plot_w * ((v or 0) / top)
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="11">'
                    f"{escape(str(label))[:26]}</text>")  # fmt: skip
        body.append(f'<rect x="{left}" y="{y + 3}" width="{bw:.1f}" height="{row - 7}" '
                    f'fill="{color}"><title>{escape(str(label))}: {_fmt(v or 0)}{unit}</title>'
                    "</rect>")  # fmt: skip
        body.append(f'<text x="{left + bw + 4:.1f}" y="{y + 14}" font-size="10">'
                    f"{_fmt(v or 0)}{escape(unit)}</text>")  # fmt: skip
    return _svg(width, height, title, body)


def scatter(
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    *,
    width: int = 560,
    height: int = 420,
) -> str:
    """Points per series in one frame (e.g. source vs synthetic embeddings)."""
    pts = [p for s in series.values() for p in s]
    if not pts:
        return _svg(width, 60, title, ['<text x="10" y="44" font-size="12">no points</text>'])
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x_lo, x_hi, y_lo, y_hi = min(xs), max(xs), min(ys), max(ys)
    x_span, y_span = (x_hi - x_lo) or 1.0, (y_hi - y_lo) or 1.0
    pad, top_pad, bottom = 16, 28, 30
    plot_w, plot_h = width - 2 * pad, height - top_pad - bottom
    body = [f'<rect x="{pad}" y="{top_pad}" width="{plot_w}" height="{plot_h}" fill="none" '
            'stroke="#ddd"/>']  # fmt: skip
    shapes = ("circle", "square")
    for si, points in enumerate(series.values()):
        color = PALETTE[si % len(PALETTE)]
        for x, y in points:
            cx = pad + 6 + (x - x_lo) / x_span * (plot_w - 12)
            cy = top_pad + 6 + (1 - (y - y_lo) / y_span) * (plot_h - 12)
            if shapes[si % 2] == "circle":
                body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.2" fill="{color}" '
                            'fill-opacity="0.7"/>')  # fmt: skip
            else:
                body.append(f'<rect x="{cx - 3:.1f}" y="{cy - 3:.1f}" width="6" height="6" '
                            f'fill="{color}" fill-opacity="0.7"/>')  # fmt: skip
    x = pad
    for si, (name, points) in enumerate(series.items()):
        body.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" '
                    f'fill="{PALETTE[si % len(PALETTE)]}"/>')  # fmt: skip
        label = f"{name} ({len(points)})"
        body.append(f'<text x="{x + 14}" y="{height - 7}" font-size="11">{escape(label)}</text>')
        x += 24 + 7 * len(label)
    return _svg(width, height, title, body)
