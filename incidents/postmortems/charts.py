"""Server-rendered SVG plots: no JavaScript, no CDN; styled by ``static/css/reports.css``.

Each kind of plot is a small class behind ``Chart``; ``render()`` returns safe SVG markup. Colours
come from CSS classes (``s-<key>``), so plots follow the page's light/dark theme and print well.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def nice_ceiling(value: float) -> float:
    """The smallest 1/2/5×10ⁿ at or above ``value`` (an axis maximum people can read)."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * 10**exp >= value:
            return step * 10**exp
    return 10 ** (exp + 1)


def fmt(value: float) -> str:
    if value == int(value) or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def axis_top(value: float, *, integer: bool = False) -> float:
    """An axis maximum whose four grid steps are round numbers (whole numbers for counts)."""
    step = nice_ceiling(value / 4)
    if integer:
        step = max(1.0, math.ceil(step))
    return step * 4


@dataclass
class Series:
    name: str
    key: str  # CSS class suffix: s-<key>
    values: Sequence[float | None]


@dataclass
class Chart(ABC):
    title: str
    empty_text: str = "No data for this period."
    unit: str = ""
    width: int = 720
    height: int = 260
    margin: tuple[int, int, int, int] = (28, 16, 44, 52)  # top, right, bottom, left
    legend: list[tuple[str, str]] = field(default_factory=list)

    kind = "chart"

    @property
    def plot_box(self) -> tuple[int, int, int, int]:
        top, right, bottom, left = self.margin
        return left, top, self.width - left - right, self.height - top - bottom

    @abstractmethod
    def is_empty(self) -> bool: ...

    @abstractmethod
    def body(self) -> list[str]: ...

    def render(self) -> SafeString:
        label = escape(self.title)
        parts = [
            f'<svg class="chart chart-{self.kind}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">',
            f"<title>{label}</title>",
        ]
        if self.is_empty():
            x, y, w, h = self.plot_box
            parts.append(f'<rect class="frame" x="{x}" y="{y}" width="{w}" height="{h}"/>')
            parts.append(
                f'<text class="empty-text" x="{x + w / 2:.1f}" y="{y + h / 2:.1f}" text-anchor="middle">'
                f"{escape(self.empty_text)}</text>"
            )
        else:
            parts += self.body()
            parts += self._legend()
        parts.append("</svg>")
        return mark_safe("".join(parts))

    def _legend(self) -> list[str]:
        out, x = [], self.plot_box[0]
        for name, key in self.legend:
            out.append(f'<rect class="s-{escape(key)}" x="{x}" y="6" width="10" height="10"/>')
            out.append(f'<text class="legend" x="{x + 14}" y="15">{escape(name)}</text>')
            x += 24 + 7 * len(name)
        return out

    def _y_axis(self, top_value: float) -> list[str]:
        x, y, w, h = self.plot_box
        out = [f'<rect class="frame" x="{x}" y="{y}" width="{w}" height="{h}"/>']
        for i in range(5):
            v = top_value * i / 4
            ty = y + h - h * i / 4
            out.append(f'<line class="grid" x1="{x}" x2="{x + w}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
            out.append(f'<text class="tick" x="{x - 6}" y="{ty + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
        if self.unit:
            out.append(
                f'<text class="tick unit" transform="rotate(-90)" x="{-(y + h / 2):.1f}" y="12" '
                f'text-anchor="middle">{escape(self.unit)}</text>'
            )
        return out

    def _x_labels(self, labels: Sequence[str], centers: Sequence[float]) -> list[str]:
        x, y, w, h = self.plot_box
        every = max(1, math.ceil(len(labels) / 12))
        return [
            f'<text class="tick" x="{cx:.1f}" y="{y + h + 16}" text-anchor="middle">{escape(label)}</text>'
            for i, (label, cx) in enumerate(zip(labels, centers, strict=True))
            if i % every == 0
        ]


@dataclass
class StackedBars(Chart):
    """Counts per category (e.g. incidents per week), stacked by series (e.g. severity)."""

    labels: Sequence[str] = ()
    series: Sequence[Series] = ()
    kind = "bars"

    def is_empty(self) -> bool:
        return not any(v for s in self.series for v in s.values if v)

    def body(self) -> list[str]:
        self.legend = [(s.name, s.key) for s in self.series]
        totals = [sum(s.values[i] or 0 for s in self.series) for i in range(len(self.labels))]
        top = axis_top(max(totals), integer=True)
        x, y, w, h = self.plot_box
        slot = w / len(self.labels)
        out = self._y_axis(top)
        for i, label in enumerate(self.labels):
            base = y + h
            for s in self.series:
                v = s.values[i] or 0
                if not v:
                    continue
                bh = h * v / top
                base -= bh
                out.append(
                    f'<rect class="s-{escape(s.key)}" x="{x + i * slot + slot * 0.15:.1f}" y="{base:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{bh:.1f}"><title>{escape(label)}: {fmt(v)} '
                    f"{escape(s.name)}</title></rect>"
                )
        out += self._x_labels(self.labels, [x + (i + 0.5) * slot for i in range(len(self.labels))])
        return out


@dataclass
class Lines(Chart):
    """Values over time (gaps where a value is missing) against horizontal reference lines."""

    labels: Sequence[str] = ()
    series: Sequence[Series] = ()
    references: Sequence[tuple[str, float]] = ()
    kind = "lines"

    def is_empty(self) -> bool:
        return not any(v is not None for s in self.series for v in s.values)

    def body(self) -> list[str]:
        self.legend = [(s.name, s.key) for s in self.series]
        values = [v for s in self.series for v in s.values if v is not None]
        # Show the references near the data, and always the strictest one (the policy to beat).
        refs = [r for _, r in self.references]
        shown = [r for r in refs if r <= 2 * max(values)] + ([min(refs)] if refs else [])
        top = axis_top(max(values + shown))
        x, y, w, h = self.plot_box
        slot = w / len(self.labels)
        out = self._y_axis(top)
        for name, value in self.references:
            if value > top:
                continue
            ry = y + h - h * value / top
            out.append(f'<line class="reference" x1="{x}" x2="{x + w}" y1="{ry:.1f}" y2="{ry:.1f}"/>')
            out.append(f'<text class="reference-label" x="{x + w - 4}" y="{ry - 4:.1f}" text-anchor="end">')
            out.append(f"{escape(name)}</text>")
        for s in self.series:
            key = escape(s.key)
            points = [
                (i, x + (i + 0.5) * slot, y + h - h * v / top, v) for i, v in enumerate(s.values) if v is not None
            ]
            run: list[str] = []
            for n, (i, px, py, _) in enumerate(points):  # a week without a value breaks the line
                if n and points[n - 1][0] != i - 1:
                    out += self._polyline(run, key)
                    run = []
                run.append(f"{px:.1f},{py:.1f}")
            out += self._polyline(run, key)
            for _, px, py, v in points:
                out.append(
                    f'<circle class="s-{key}" cx="{px:.1f}" cy="{py:.1f}" r="3.5">'
                    f"<title>{escape(s.name)}: {fmt(v)} {escape(self.unit)}</title></circle>"
                )
        out += self._x_labels(self.labels, [x + (i + 0.5) * slot for i in range(len(self.labels))])
        return out

    @staticmethod
    def _polyline(run: list[str], key: str) -> list[str]:
        return [f'<polyline class="line s-{key}" points="{" ".join(run)}"/>'] if len(run) > 1 else []


@dataclass
class TargetRow:
    label: str
    value: float | None
    target: float
    maximum: float | None = None

    @property
    def state(self) -> str:
        if self.value is None:
            return "unknown"
        if self.value <= self.target:
            return "met"
        return "late" if self.maximum is not None and self.value <= self.maximum else "missed"


@dataclass
class TargetBars(Chart):
    """One horizontal bar per row (achieved value) with its target and maximum marked."""

    rows: Sequence[TargetRow] = ()
    kind = "targets"

    def __post_init__(self):
        self.height = max(self.height if not self.rows else 0, 48 + 26 * len(self.rows))
        self.margin = (28, 16, 28, 180)

    def is_empty(self) -> bool:
        return not self.rows

    def body(self) -> list[str]:
        self.legend = [("met target", "met"), ("within maximum", "late"), ("missed", "missed"), ("target", "target")]
        limits = [r.value or 0 for r in self.rows] + [r.maximum or r.target for r in self.rows]
        top = axis_top(max(limits) * 1.05)
        x, y, w, h = self.plot_box
        out = [f'<rect class="frame" x="{x}" y="{y}" width="{w}" height="{h}"/>']
        for i in range(5):
            tx = x + w * i / 4
            out.append(f'<line class="grid" x1="{tx:.1f}" x2="{tx:.1f}" y1="{y}" y2="{y + h}"/>')
            out.append(
                f'<text class="tick" x="{tx:.1f}" y="{y + h + 14}" text-anchor="middle">{fmt(top * i / 4)}</text>'
            )
        if self.unit:
            out.append(
                f'<text class="tick unit" x="{x + w}" y="{y + h + 26}" text-anchor="end">{escape(self.unit)}</text>'
            )
        row_h = h / len(self.rows)
        for i, r in enumerate(self.rows):
            ry = y + i * row_h
            out.append(f'<text class="tick" x="{x - 6}" y="{ry + row_h / 2 + 4:.1f}" text-anchor="end">')
            out.append(f"{escape(r.label)}</text>")
            if r.value is not None:
                bw = w * r.value / top
                out.append(
                    f'<rect class="s-{r.state}" x="{x}" y="{ry + row_h * 0.2:.1f}" width="{bw:.1f}" '
                    f'height="{row_h * 0.6:.1f}"><title>{escape(r.label)}: {fmt(r.value)} {escape(self.unit)} '
                    f"(target {fmt(r.target)}, {r.state})</title></rect>"
                )
            for cls, mark in (("target", r.target), ("maximum", r.maximum)):
                if mark is None:
                    continue
                mx = x + w * mark / top
                out.append(
                    f'<line class="{cls}" x1="{mx:.1f}" x2="{mx:.1f}" y1="{ry + 2:.1f}" y2="{ry + row_h - 2:.1f}"/>'
                )
        return out


CHARTS: dict[str, type[Chart]] = {"bars": StackedBars, "lines": Lines, "targets": TargetBars}
