"""flamegraph.svg (spec cycles 4 and 10: "CPU or span time"): the service's span time by call path; and
cpu-flamegraph.svg: the target's CPU by Python stack, from py-spy's samples.

Each box is a call path (``service: span`` from the root up); its width is the time spent at that path and
below it, summed over the sampled requests' spans; a box's own share is its self time. The file stands
alone: no script, no font or stylesheet from elsewhere; every box has a tooltip (``<title>``) with its self
and total time and their shares, and a box too narrow for its label shows none (the tooltip still does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from sk_loadagent.atomic import write_atomic
from sk_loadagent.models.trace_summary import CallPath, TraceSummary

WIDTH = 1200
ROW = 20
MARGIN = 10
HEADER = 56
CHAR_PX = 7.0  # the width of a character of the 12 px monospace label, to clip labels that do not fit


@dataclass
class _Frame:
    name: str
    self_ms: float = 0.0
    count: int = 0
    children: dict[str, _Frame] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return self.self_ms + sum(c.total_ms for c in self.children.values())

    @property
    def depth(self) -> int:
        return 1 + max((c.depth for c in self.children.values()), default=0)


def _tree(paths: list[CallPath]) -> _Frame:
    root = _Frame("all")
    for call_path in paths:
        frame = root
        for name in call_path.path:
            frame = frame.children.setdefault(name, _Frame(name))
        frame.self_ms += call_path.self_ms
        frame.count += call_path.count
    return root


def _colour(name: str) -> str:
    """A warm colour that stays the same for a name from one run to the next."""
    digest = hashlib.blake2b(name.encode(), digest_size=2).digest()
    return f"rgb(230,{110 + digest[0] % 110},{40 + digest[1] % 50})"


def flamegraph_svg(summary: TraceSummary) -> str:
    """The SVG text for a summary with call paths (span time)."""
    total = sum(p.self_ms for p in summary.call_paths or [])
    return _svg(
        summary.call_paths or [],
        f"Span time by call path: {summary.test_name or summary.trace_id or 'run'}",
        f"{summary.traces_with_spans or 0} sampled requests with spans, {summary.span_count or 0} spans; "
        f"width = span time at a path and below it ({total:,.1f} ms in all); "
        "hover a box for its self and total time",
        "Written by sk-loadagent from the service's OpenTelemetry spans (trace-summary.json).",
        "spans",
    )


def cpu_flamegraph_svg(test_name: str | None, paths: list[CallPath]) -> str:
    """The SVG text for py-spy's CPU samples of the target (call paths of ``function (file:line)``)."""
    samples = sum(p.count for p in paths)
    return _svg(
        paths,
        f"Target CPU by stack (py-spy): {test_name or 'run'}",
        f"{samples:,} samples of the target's Python stacks in the steady phase; width = CPU time in a "
        "function and below it; hover a box for its self and total time",
        "Written by sk-loadagent from py-spy's samples of the target process (perf-metrics.json cpuProfile).",
        "samples",
    )


def _svg(paths: list[CallPath], title: str, subtitle: str, footer: str, unit: str) -> str:
    root = _tree(paths)
    total = root.total_ms or 1.0
    rows = root.depth
    height = HEADER + rows * ROW + MARGIN + 18
    scale = (WIDTH - 2 * MARGIN) / total
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans Mono, monospace" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fdfaf4"/>',
        f'<text x="{MARGIN}" y="22" font-size="16" font-weight="bold" fill="#222">{escape(title)}</text>',
        f'<text x="{MARGIN}" y="42" fill="#444">{escape(subtitle)}</text>',
    ]
    bottom = HEADER + rows * ROW

    def draw(frame: _Frame, x: float, level: int) -> None:
        width = frame.total_ms * scale
        y = bottom - (level + 1) * ROW
        share = frame.total_ms / total
        tip = (
            f"{frame.name}\nself {frame.self_ms:,.1f} ms ({frame.self_ms / total:.1%}), total "
            f"{frame.total_ms:,.1f} ms ({share:.1%})" + (f", {frame.count} spans" if frame.count else "")
        )
        fill = "#c8c8c8" if level == 0 else _colour(frame.name)
        parts.append(
            f'<g><title>{escape(tip)}</title><rect x="{x:.2f}" y="{y}" width="{max(width - 0.5, 0.5):.2f}" '
            f'height="{ROW - 1}" rx="2" fill="{fill}" stroke="#fdfaf4" stroke-width="0.5"/>'
        )
        fits = int((width - 6) / CHAR_PX)
        label = frame.name if level else f"all ({total:,.1f} ms)"
        if fits >= 4:
            text = label if len(label) <= fits else label[: fits - 1] + "…"
            parts.append(f'<text x="{x + 3:.2f}" y="{y + ROW - 6}" fill="#111">{escape(text)}</text>')
        parts.append("</g>")
        child_x = x
        for child in sorted(frame.children.values(), key=lambda c: c.name):
            draw(child, child_x, level + 1)
            child_x += child.total_ms * scale

    draw(root, MARGIN, 0)
    parts.append(f'<text x="{MARGIN}" y="{height - 8}" fill="#666">{escape(footer)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_cpu_flamegraph(path: Path, test_name: str | None, paths: list[CallPath] | None) -> Path | None:
    """cpu-flamegraph.svg from py-spy's samples; None (nothing written) without them."""
    if not paths:
        return None
    return write_atomic(path, cpu_flamegraph_svg(test_name, paths))


def write_flamegraph(path: Path, summary: TraceSummary) -> Path | None:
    """flamegraph.svg for a summary with call paths; None (nothing written) without them."""
    if not summary.call_paths:
        return None
    return write_atomic(path, flamegraph_svg(summary))
