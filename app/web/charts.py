"""Server-side SVG charts (readable without JavaScript): a labelled bar chart, values printed beside bars.

Pure: data in, markup out (every label escaped). Presentation attributes only (no ``style``), so the
pages keep a strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 170
BAR_WIDTH = 320
VALUE_WIDTH = 90


def bar_chart(title: str, bars: Sequence[tuple[str, float | None]], *, unit: str = "", percent: bool = False) -> Markup:
    """Horizontal bars; ``None`` values are drawn as "n/a" without a bar."""
    known = [v for _, v in bars if v is not None]
    top = max([*known, 1.0 if percent else 0.0]) or 1.0
    height = max(len(bars), 1) * (BAR_HEIGHT + GAP) + GAP
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="t-{_id(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" class="chart">',
        f'<title id="t-{_id(title)}">{escape(title)}</title>',
    ]
    if not bars:
        parts.append(f'<text x="0" y="{BAR_HEIGHT}" fill="#1f2937">no data yet</text>')
    for i, (label, value) in enumerate(bars):
        y = GAP + i * (BAR_HEIGHT + GAP)
        text_y = y + BAR_HEIGHT * 0.7
        parts.append(f'<text x="0" y="{text_y:.1f}" fill="#1f2937" font-size="13">{escape(label[:26])}</text>')
        if value is None:
            shown = "n/a"
        else:
            length = max(BAR_WIDTH * value / top, 1.0)
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="#1d4ed8"/>')
            shown = f"{value * 100:.1f}%" if percent else f"{value:,.1f}{unit}".replace(".0" + unit, unit)
        parts.append(
            f'<text x="{LABEL_WIDTH + BAR_WIDTH + 6}" y="{text_y:.1f}" fill="#1f2937" font-size="13">'
            f"{escape(shown)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every piece above is escaped or numeric)


def _id(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower())[:40]
