"""Server-side SVG charts for the staff console: small, dependency-free
functions that return inline SVG (no script, nothing loaded from elsewhere).

Every piece of text goes through `esc` (XML escaping, and characters XML
cannot hold are dropped), so labels from the database cannot break out of
the markup; each bar or point carries its value as a <title> tooltip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from markupsafe import Markup

PALETTE = (
    "#1769aa",
    "#d9822b",
    "#2f9e44",
    "#b42318",
    "#7048e8",
    "#0c8599",
    "#e8590c",
    "#5c7cfa",
    "#868e96",
    "#c2255c",
)
FONT = 12
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ENTITIES = {'"': "&quot;", "'": "&#39;"}


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str | None = None


def esc(text: object) -> str:
    """XML-escape text for element content and attribute values."""
    return escape(_INVALID_XML.sub("", str(text)), _ENTITIES)


def text_width(text: str, size: int = FONT) -> float:
    """Rough rendered width: CJK characters are square, the rest about half."""
    return sum(size if ord(c) > 0x2E7F else size * 0.6 for c in text)


def shorten(text: str, max_width: float, size: int = FONT) -> str:
    if text_width(text, size) <= max_width:
        return text
    out = ""
    for c in text:
        if text_width(out + c + "…", size) > max_width:
            break
        out += c
    return out + "…"


def fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 5 × 10^n) up to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if step < 1:
        step = 1.0 if top >= 1 else step
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _value_axis(parts: list[str], ticks: list[float], left: float, right: float, bottom_y: float, scale: float) -> None:
    """Open the axis group: a grid line and a label per tick, and the base
    line (vertical value axis of the bar and line charts; the caller adds
    its category labels and closes the group)."""
    parts.append('<g class="axis">')
    for t in ticks:
        y = bottom_y - t * scale
        parts.append(f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d9e2ec"/>')
        parts.append(f'<text x="{left - 5:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#616e7c">{esc(fmt(t))}</text>')
    parts.append(f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{bottom_y}" y2="{bottom_y}" stroke="#616e7c"/>')


def _color(series: Series, i: int) -> str:
    return series.color or PALETTE[i % len(PALETTE)]


def _open(chart_id: str, title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{esc(chart_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{esc(title)}" '
        f'font-size="{FONT}" preserveAspectRatio="xMinYMin meet">',
        f"<title>{esc(title)}</title>",
        f'<text class="chart-title" x="0" y="16" font-size="14" font-weight="600" fill="#1f2933">{esc(title)}</text>',
    ]


def _legend(
    series: Sequence[Series], x0: float, y: float, width: float, min_series: int = 2
) -> tuple[list[str], float]:
    """Swatches and names, wrapped to `width`; returns the markup and the height used."""
    if len(series) < min_series:
        return [], 0.0
    parts = ['<g class="legend">']
    x, row = x0, 0
    for i, s in enumerate(series):
        w = 16 + text_width(s.name) + 14
        if x + w > x0 + width and x > x0:
            x, row = x0, row + 1
        yy = y + row * 18
        parts.append(f'<rect x="{x:.1f}" y="{yy - 10:.1f}" width="10" height="10" fill="{_color(s, i)}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{yy:.1f}" fill="#1f2933">{esc(s.name)}</text>')
        x += w
    parts.append("</g>")
    return parts, (row + 1) * 18.0


def _empty(parts: list[str], width: int, height: int) -> Markup:
    parts.append(
        f'<text class="chart-empty" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
        f'fill="#616e7c">暂无数据</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _totals(categories: Sequence[str], series: Sequence[Series], stacked: bool) -> list[float]:
    if stacked:
        return [sum(float(s.values[j]) for s in series) for j in range(len(categories))]
    return [max((float(s.values[j]) for s in series), default=0.0) for j in range(len(categories))]


def _tip(category: str, series: Series, value: float, single: bool) -> str:
    label = category if single else f"{category} · {series.name}"
    return f"<title>{esc(label)}：{esc(fmt(value))}</title>"


def column_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = True,
    width: int = 760,
    height: int = 300,
) -> Markup:
    """Vertical bars, one group per category (e.g. per day); several
    series are stacked (or side by side with stacked=False)."""
    parts = _open(chart_id, title, width, height)
    legend, legend_h = _legend(series, 0, 38, width)
    parts += legend
    top_y = 30 + legend_h + 12
    if not categories or not series or not any(_totals(categories, series, True)):
        return _empty(parts, width, height)
    ticks = nice_ticks(max(_totals(categories, series, stacked)))
    left = max(text_width(fmt(t)) for t in ticks) + 10
    bottom_y, right = height - 26, width - 8
    plot_w, plot_h = right - left, bottom_y - top_y
    scale = plot_h / ticks[-1]
    _value_axis(parts, ticks, left, right, bottom_y, scale)
    parts.append("</g>")
    slot = plot_w / len(categories)
    bar_w = max(1.0, slot * 0.7)
    label_every = max(1, math.ceil((max(text_width(c) for c in categories) + 8) / slot))
    single = len(series) == 1
    parts.append('<g class="bars">')
    for j, category in enumerate(categories):
        x = left + j * slot + (slot - bar_w) / 2
        base: float = bottom_y
        for i, s in enumerate(series):
            value = float(s.values[j])
            if stacked:
                h = value * scale
                parts.append(
                    f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'fill="{_color(s, i)}">{_tip(category, s, value, single)}</rect>'
                )
                base -= h
            else:
                w = bar_w / len(series)
                h = value * scale
                parts.append(
                    f'<rect x="{x + i * w:.1f}" y="{bottom_y - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                    f'fill="{_color(s, i)}">{_tip(category, s, value, single)}</rect>'
                )
        if j % label_every == 0:
            parts.append(
                f'<text x="{left + (j + 0.5) * slot:.1f}" y="{bottom_y + 16}" text-anchor="middle" '
                f'fill="#616e7c">{esc(category)}</text>'
            )
    parts.append("</g></svg>")
    return Markup("".join(parts))


def bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = True,
    width: int = 760,
    label_width: int = 200,
) -> Markup:
    """Horizontal bars, one row per category (long names such as schools
    or districts fit on the left); several series are stacked."""
    row_h = 22
    legend, legend_h = _legend(series, 0, 38, width)
    top_y = 30 + legend_h + 8
    height = int(top_y + max(1, len(categories)) * row_h + 28)
    parts = _open(chart_id, title, width, height) + legend
    if not categories or not series or not any(_totals(categories, series, True)):
        return _empty(parts, width, height)
    totals = _totals(categories, series, stacked)
    ticks = nice_ticks(max(totals))
    left = min(label_width, max(text_width(c) for c in categories) + 10)
    right = width - 10 - text_width(fmt(max(totals))) - 6
    bottom_y = top_y + len(categories) * row_h
    scale = (right - left) / ticks[-1]
    parts.append('<g class="axis">')
    for t in ticks:
        x = left + t * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_y}" y2="{bottom_y}" stroke="#d9e2ec"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom_y + 16}" text-anchor="middle" fill="#616e7c">{esc(fmt(t))}</text>')
    parts.append(f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top_y}" y2="{bottom_y}" stroke="#616e7c"/>')
    parts.append("</g>")
    single = len(series) == 1
    parts.append('<g class="bars">')
    for j, category in enumerate(categories):
        y = top_y + j * row_h + 4
        bar_h = row_h - 8
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y + bar_h - 3:.1f}" text-anchor="end" fill="#1f2933">'
            f"<title>{esc(category)}</title>{esc(shorten(category, left - 10))}</text>"
        )
        x = left
        for i, s in enumerate(series):
            value = float(s.values[j])
            w = value * scale
            if stacked:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" '
                    f'fill="{_color(s, i)}">{_tip(category, s, value, single)}</rect>'
                )
                x += w
            else:
                h = bar_h / len(series)
                parts.append(
                    f'<rect x="{left:.1f}" y="{y + i * h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                    f'fill="{_color(s, i)}">{_tip(category, s, value, single)}</rect>'
                )
                x = max(x, left + w)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 3:.1f}" fill="#616e7c">{esc(fmt(totals[j]))}</text>')
    parts.append("</g></svg>")
    return Markup("".join(parts))


def line_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 760,
    height: int = 300,
) -> Markup:
    """One line per series over the categories (e.g. days), with a point
    (and its tooltip) per value."""
    parts = _open(chart_id, title, width, height)
    legend, legend_h = _legend(series, 0, 38, width, min_series=1)
    parts += legend
    top_y = 30 + legend_h + 12
    if not categories or not series or not any(v for s in series for v in s.values):
        return _empty(parts, width, height)
    ticks = nice_ticks(max(float(v) for s in series for v in s.values))
    left = max(text_width(fmt(t)) for t in ticks) + 10
    bottom_y, right = height - 26, width - 12
    plot_w, plot_h = right - left, bottom_y - top_y
    scale = plot_h / ticks[-1]
    step = plot_w / max(1, len(categories) - 1) if len(categories) > 1 else 0.0

    def px(j: int) -> float:
        return left + (j * step if len(categories) > 1 else plot_w / 2)

    _value_axis(parts, ticks, left, right, bottom_y, scale)
    label_every = max(1, math.ceil((max(text_width(c) for c in categories) + 8) / max(step, 1.0)))
    for j, category in enumerate(categories):
        if j % label_every == 0:
            parts.append(
                f'<text x="{px(j):.1f}" y="{bottom_y + 16}" text-anchor="middle" fill="#616e7c">{esc(category)}</text>'
            )
    parts.append("</g>")
    radius = 3 if len(categories) <= 60 else 1.5
    for i, s in enumerate(series):
        color = _color(s, i)
        points = " ".join(f"{px(j):.1f},{bottom_y - float(v) * scale:.1f}" for j, v in enumerate(s.values))
        parts.append(f'<g class="series"><polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        for j, v in enumerate(s.values):
            parts.append(
                f'<circle cx="{px(j):.1f}" cy="{bottom_y - float(v) * scale:.1f}" r="{radius}" '
                f'fill="{color}">{_tip(categories[j], s, float(v), False)}</circle>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
