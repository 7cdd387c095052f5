"""Drawing the report's charts as inline SVG (no script, no library): line charts over time or over runs,
a log-scale latency distribution, and the baseline comparison's intervals.

Colours come from CSS classes named after each element's ``role`` (``l-p95``, ``r-limit-p95``…), so the
page's light and dark themes and its print style colour every chart the same way. Exact figures are in
``<title>`` tooltips and in the tables beside the charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from sk_loadagent.publish.report import views as v

WIDTH, HEIGHT = 640, 230
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 30
LABEL_GAP = 12  # px between two stacked labels
UNLABELLED = {"current"}  # the run being reported: its axis label says so, the line only points at it
FAR = 3.0  # a limit more than 3× beyond the data is named at the edge rather than stretching the axis


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(1, target)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _ticks(low: float, high: float, target: int = 5) -> list[float]:
    step = _nice_step(high - low, target)
    first = math.ceil(low / step) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(max(0, count))]


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


class _Frame:
    """Maps data to pixels inside the plot area."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, *, log_x: bool = False) -> None:
        self.log_x = log_x
        self.x0, self.x1 = (math.log10(x0), math.log10(x1)) if log_x else (x0, x1)
        self.y0, self.y1 = y0, y1
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM

    def x(self, value: float) -> float:
        data = math.log10(max(value, 1e-12)) if self.log_x else value
        span = (self.x1 - self.x0) or 1.0
        return LEFT + (data - self.x0) / span * self.width

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return TOP + self.height - (value - self.y0) / span * self.height


def _text(css: str, x: float, y: float, content: str, anchor: str = "middle") -> str:
    """A text element; ``content`` is escaped here."""
    return (
        f'<text class="{escape(css)}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(content)}</text>'
    )


def _line_with_title(css: str, ends: tuple[float, float, float, float], title: str) -> str:
    x1, y1, x2, y2 = ends
    return (
        f'<line class="{escape(css)}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}">'
        f"<title>{escape(title)}</title></line>"
    )


def _open(chart_id: str, title: str) -> str:
    return (
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">'
    )


def _y_axis(frame: _Frame, unit: str) -> list[str]:
    parts = []
    for tick in _ticks(frame.y0, frame.y1):
        y = frame.y(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(tick)}</text>'
        )
    parts.append(
        f'<text class="unit" x="12" y="{TOP + frame.height / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + frame.height / 2:.0f})">{escape(unit)}</text>'
    )
    return parts


def _x_axis(frame: _Frame, chart: v.Chart) -> list[str]:
    base = TOP + frame.height
    parts = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>']
    if chart.x_kind == "runs":
        labels = chart.x_labels
        for index, label in labels.items():
            x = frame.x(index)
            anchor = "start" if index == min(labels) else "end" if index == max(labels) else "middle"
            parts.append(_text("tick", x, base + 16, label, anchor))
        return parts
    for tick in _ticks(frame.x0, frame.x1, 6):
        x = frame.x(tick)
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}"/>')
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{base + 16}" text-anchor="middle">{_duration(tick)}</text>'
        )
    return parts


def _path(frame: _Frame, points: Sequence[tuple[float, float | None]]) -> str:
    """An SVG path through the points, broken where y is None."""
    commands: list[str] = []
    pen_up = True
    for x, y in points:
        if y is None:
            pen_up = True
            continue
        commands.append(f"{'M' if pen_up else 'L'}{frame.x(x):.1f} {frame.y(y):.1f}")
        pen_up = False
    return "".join(commands)


def _spread(wanted: list[float], gap: float, low: float, high: float) -> list[float]:
    """Label positions at least ``gap`` apart, as close to ``wanted`` as that allows, inside [low, high]."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed = [0.0] * len(wanted)
    last = -math.inf
    for i in order:
        placed[i] = max(wanted[i], last + gap)
        last = placed[i]
    overflow = max(0.0, last - high)
    return [min(max(p - overflow, low), high) for p in placed]


def _rules(frame: _Frame, rules: Sequence[v.Rule]) -> list[str]:
    """Each rule as a dashed line with its label at the right end; a rule above the chart is only named,
    at the top. Labels are spread so that none covers another."""
    above = [r for r in rules if r.value > frame.y1 and r.role != "band"]
    shown = [r for r in rules if frame.y0 <= r.value <= frame.y1]
    ys = [frame.y(r.value) for r in shown]
    wanted = [float(TOP + 9)] * len(above) + [y - 3 for y in ys]
    label_ys = _spread(wanted, LABEL_GAP, TOP + 9, TOP + frame.height - 3)
    parts = []
    for rule, label_y in zip(above, label_ys, strict=False):
        label = f"↑ {rule.label} (above the chart)"
        parts.append(_text(f"rule-label t-{rule.role}", WIDTH - RIGHT - 4, label_y, label, "end"))
    for rule, y, label_y in zip(shown, ys, label_ys[len(above) :], strict=True):
        parts.append(_line_with_title(f"rule r-{rule.role}", (LEFT, y, WIDTH - RIGHT, y), rule.label))
        parts.append(_text(f"rule-label t-{rule.role}", WIDTH - RIGHT - 4, label_y, rule.label, "end"))
    return parts


def _marks(frame: _Frame, marks: Sequence[v.Mark]) -> list[str]:
    parts = []
    base = TOP + frame.height
    for i, mark in enumerate(marks):
        x = frame.x(mark.x)
        if not LEFT - 1 <= x <= WIDTH - RIGHT + 1:
            continue
        anchor = "end" if x > LEFT + frame.width * 0.7 else "start"
        dx = -4 if anchor == "end" else 4
        parts.append(_line_with_title(f"mark m-{mark.role}", (x, TOP, x, base), mark.label))
        if mark.role not in UNLABELLED:
            parts.append(
                _text(f"mark-label t-{mark.role}", x + dx, TOP + 10 + 12 * (i % 3), mark.label, anchor)
            )
    return parts


def _spans(frame: _Frame, spans: Sequence[v.Span]) -> list[str]:
    parts = []
    for span in spans:
        x0, x1 = frame.x(span.start), frame.x(span.end)
        kind = "span" if span.measured else "span unmeasured"
        parts.append(
            f'<rect class="{kind}" x="{x0:.1f}" y="{TOP}" width="{max(0.0, x1 - x0):.1f}" '
            f'height="{frame.height}"><title>{escape(span.label)}'
            f"{'' if span.measured else ' (not measured)'}: "
            f"{_duration(span.start)}–{_duration(span.end)}</title></rect>"
        )
        if x1 - x0 > 40:
            parts.append(_text("span-label", (x0 + x1) / 2, TOP + frame.height - 4, span.label))
    return parts


def _extent(chart: v.Chart) -> tuple[float, float, float, float]:
    xs = [x for line in chart.lines for x, _ in line.points] + [d.x for d in chart.dots]
    xs += [s.start for s in chart.spans] + [s.end for s in chart.spans]
    ys = [y for line in chart.lines for _, y in line.points if y is not None] + [d.y for d in chart.dots]
    # A limit far above the data would flatten it: such a rule is named at the top edge instead.
    reach = FAR * max(ys, default=0.0)
    ys += [
        r.value
        for r in chart.rules
        if r.role.startswith(("limit", "baseline")) and (not reach or r.value <= reach)
    ]
    if chart.x_kind == "runs":
        x0, x1 = -0.5, max(xs, default=0.0) + 0.5
    else:
        x0, x1 = min(xs, default=0.0), max(xs, default=1.0)
    y0 = chart.y_min if chart.y_min is not None else min(ys, default=0.0)
    y1 = chart.y_max if chart.y_max is not None else max(ys, default=1.0) * 1.08
    if y1 <= y0:
        y1 = y0 + 1.0
    return x0, max(x1, x0 + 1e-9), y0, _ticks(y0, y1)[-1] if _ticks(y0, y1)[-1] >= y1 else y1


def line_chart(chart: v.Chart) -> str:
    x0, x1, y0, y1 = _extent(chart)
    frame = _Frame(x0, x1, y0, y1)
    parts = [_open(chart.id, chart.title)]
    parts += _spans(frame, chart.spans)
    parts += _y_axis(frame, chart.unit)
    parts += _x_axis(frame, chart)
    for line in chart.lines:
        path = _path(frame, line.points)
        if path:
            parts.append(
                f'<path class="line l-{escape(line.role)}" d="{path}">'
                f"<title>{escape(line.name)}</title></path>"
            )
    for dot in chart.dots:
        parts.append(
            f'<circle class="dot d-{dot.color}" cx="{frame.x(dot.x):.1f}" cy="{frame.y(dot.y):.1f}" r="3.5">'
            f"<title>{escape(dot.label)}</title></circle>"
        )
    parts += _rules(frame, chart.rules)
    parts += _marks(frame, chart.marks)
    parts.append("</svg>")
    return "".join(parts)


def _log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks per decade; linear nice ticks when the axis spans too little for three of them."""
    ticks = []
    decade = 10 ** math.floor(math.log10(low))
    while decade <= high:
        ticks += [decade * f for f in (1, 2, 5) if low <= decade * f <= high]
        decade *= 10
    if len(ticks) >= 3:
        return ticks
    return [t for t in _ticks(low, high, 5) if t > 0]


def distribution_chart(chart: v.BarChart) -> str:
    """Bars over a log latency axis; each bar's tooltip gives its range and count."""
    edges = [float(b.label) for b in chart.bars]
    if not edges:
        return ""
    ratio = edges[1] / edges[0] if len(edges) > 1 else 1.1
    low, high = edges[0] / math.sqrt(ratio), edges[-1] * math.sqrt(ratio)
    # Marks far outside the data (a limit of 2 s over 20 ms latencies) are named, not drawn.
    near = [m for m in chart.rules if low / FAR <= m.x <= high * FAR]
    far = [m for m in chart.rules if m not in near]
    frame = _Frame(
        min([low, *(m.x for m in near)]) * 0.9, max([high, *(m.x for m in near)]) * 1.1, 0, 1, log_x=True
    )
    top = max(b.value for b in chart.bars) or 1.0
    frame.y1 = _ticks(0, top * 1.1)[-1] if _ticks(0, top * 1.1)[-1] >= top else top * 1.1
    parts = [_open(chart.id, chart.title)]
    parts += _y_axis(frame, chart.unit if chart.unit != "ms" else "requests")
    base = TOP + frame.height
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>')
    for tick in _log_ticks(10**frame.x0, 10**frame.x1):
        x = frame.x(tick)
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}"/>')
        parts.append(_text("tick", x, base + 16, f"{_number(tick)} ms"))
    for bar, center in zip(chart.bars, edges, strict=True):
        x0, x1 = frame.x(center / math.sqrt(ratio)), frame.x(center * math.sqrt(ratio))
        y = frame.y(bar.value)
        parts.append(
            f'<rect class="bar b-{escape(bar.role)}" x="{x0:.1f}" y="{y:.1f}" '
            f'width="{max(0.5, x1 - x0 - 1):.1f}" '
            f'height="{base - y:.1f}"><title>{escape(bar.detail or bar.label)}</title></rect>'
        )
    parts += _marks(frame, near)
    for n, mark in enumerate(far):
        side = "→" if mark.x > high else "←"
        x, anchor = (WIDTH - RIGHT - 4, "end") if mark.x > high else (LEFT + 4, "start")
        label = f"{side} {mark.label} (off the axis)"
        parts.append(_text(f"mark-label t-{mark.role}", x, TOP + 10 + LABEL_GAP * n, label, anchor))
    parts.append("</svg>")
    return "".join(parts)


ROW = 34


def interval_chart(chart_id: str, intervals: Sequence[v.Interval]) -> str:
    """One row per metric: the change against the baseline (dot) and its 95 % interval (bar), 0 marked."""
    rows = [i for i in intervals if i.delta is not None]
    if not rows:
        return ""
    height = TOP + ROW * len(rows) + 8
    left, right = 150, WIDTH - 24
    parts = [
        f'<svg class="chart intervals" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="changes against the baseline with 95 % intervals">'
    ]
    for n, row in enumerate(rows):
        values = [x for x in (row.delta, row.low, row.high, 0.0) if x is not None]
        low, high = min(values), max(values)
        pad = max(0.05, (high - low) * 0.08)
        low, high = low - pad, high + pad

        def at(value: float, low: float = low, high: float = high) -> float:
            return left + (value - low) / (high - low) * (right - left)

        y = TOP + n * ROW + ROW / 2
        state = "regressed" if row.regressed else "ok"
        parts.append(_text("iv-name", 8, y + 4, f"{row.metric} {row.spelled or ''}", "start"))
        parts.append(f'<line class="axis" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        zero = at(0.0)
        parts.append(
            f'<line class="zero" x1="{zero:.1f}" x2="{zero:.1f}" y1="{y - 11:.1f}" y2="{y + 11:.1f}"/>'
        )
        if row.low is not None and row.high is not None:
            parts.append(
                f'<line class="iv iv-{state}" x1="{at(row.low):.1f}" x2="{at(row.high):.1f}" '
                f'y1="{y:.1f}" y2="{y:.1f}">'
                f"<title>95 % interval {row.low:+.0%} to {row.high:+.0%}</title></line>"
            )
        assert row.delta is not None
        confidence = f", confidence {row.confidence:.2f}" if row.confidence is not None else ""
        parts.append(
            f'<circle class="iv-dot iv-{state}" cx="{at(row.delta):.1f}" cy="{y:.1f}" r="5">'
            f"<title>{escape(row.metric)} {escape(row.spelled or '')}{confidence}</title></circle>"
        )
        for edge in (low + pad, high - pad):
            parts.append(_text("tick", at(edge), y + 16, f"{edge:+.0%}"))
    parts.append("</svg>")
    return "".join(parts)
