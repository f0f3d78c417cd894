"""A server-rendered SVG trend chart: achieved RTO/RPO of drills against their targets."""

from __future__ import annotations

from django.utils.html import escape

W, H, PAD = 640, 220, 36
COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"]


def trend_svg(results: list[dict]) -> str:
    """``results`` from ``selectors.objective_results``: one line per subject, dashed target lines."""
    measured = [r for r in results if r["achieved_s"] is not None]
    if not measured:
        empty = '<text x="4" y="24">No measured drills yet.</text>'
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="40">{empty}</svg>'
    subjects = sorted({f"{r['objective']}:{r['service'] or r['data_type']}" for r in measured})
    runs = sorted({r["run"] for r in measured})
    top = max(max(r["achieved_s"] for r in measured), max(r["target_s"] for r in measured)) * 1.1
    x = {run: PAD + (W - 2 * PAD) * (i / max(1, len(runs) - 1)) for i, run in enumerate(runs)}

    def y(v: float) -> float:
        return round(H - PAD - (H - 2 * PAD) * (v / top), 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="RTO/RPO trend">',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>',
        f'<text x="2" y="{PAD - 8}" font-size="10">{top:.0f}s</text>',
    ]
    for i, subject in enumerate(subjects):
        color = COLORS[i % len(COLORS)]
        rows = [r for r in measured if f"{r['objective']}:{r['service'] or r['data_type']}" == subject]
        points = " ".join(f"{x[r['run']]:.1f},{y(r['achieved_s'])}" for r in rows)
        target = rows[-1]["target_s"]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        line = f'x1="{PAD}" x2="{W - PAD}" y1="{y(target)}" y2="{y(target)}"'
        parts.append(f'<line {line} stroke="{color}" stroke-dasharray="4 3"/>')
        label = f"{escape(subject)} (target {target}s)"
        parts.append(f'<text x="{PAD + 4}" y="{14 + 12 * i}" font-size="11" fill="{color}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)
