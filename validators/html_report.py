"""The self-contained HTML validation report: the checks table plus figures.

Figures are made by the modality's plotting module (`validators.table_plots`,
`validators.image_plots`) as PNG bytes; this module only lays them out. The HTML embeds every
figure as a data URI, so the one file can be attached to a Prefect artifact, mailed or opened
from object storage; the PNGs are also written beside it (`plots/<name>.png`) for reuse, and each
figure links to its file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from validators.report import ValidationReport, _fmt, _verdict

REPORT_HTML = "report.html"
PLOTS_DIR = "plots"


@dataclass(frozen=True)
class Figure:
    """One plot of the report. `name` is its file stem (unique in a report, `[a-z0-9_-]`)."""

    name: str
    section: str
    title: str
    png: bytes
    caption: str = ""


def render_html(report: ValidationReport, figures: Sequence[Figure], title: str) -> str:
    """The report as one HTML page: verdict, every check, then the figures by section."""
    verdict = "PASSED" if report.passed else "FAILED: " + ", ".join(report.failed_checks)
    rows = "\n".join(
        f"<tr class='{'ok' if c.passed else ('bad' if c.gate else 'warn')}'>"
        f"<td><code>{html.escape(c.name)}</code></td><td>{c.category}</td>"
        f"<td>{_fmt(c.value)}</td>"
        f"<td>{'' if c.threshold is None else f'{c.comparison} {_fmt(c.threshold)}'}</td>"
        f"<td>{_verdict(c).strip('*')}</td><td>{html.escape(c.detail)}</td></tr>"
        for c in report.checks
    )
    sections: dict[str, list[Figure]] = {}
    for figure in figures:
        sections.setdefault(figure.section, []).append(figure)
    body = "\n".join(
        f"<h2>{html.escape(section)}</h2>\n" + "\n".join(_figure_html(f) for f in items)
        for section, items in sections.items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }}
tr.bad {{ background: #fdd; }} tr.warn {{ background: #ffe9c4; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
figure img {{ max-width: 560px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p><strong>{html.escape(verdict)}</strong>. {html.escape(report.sizes())}
Created {report.created_at.isoformat()}.</p>
<table><tr><th>check</th><th>category</th><th>value</th><th>threshold</th><th>verdict</th>
<th>detail</th></tr>
{rows}
</table>
{body}
</body></html>
"""


def _figure_html(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = html.escape(figure.title) + (
        f"<br><small>{html.escape(figure.caption)}</small>" if figure.caption else ""
    )
    return (
        f"<figure id='{figure.name}'><a href='{PLOTS_DIR}/{figure.name}.png'>"
        f"<img alt='{html.escape(figure.title)}' src='data:image/png;base64,{data}'></a>"
        f"<figcaption>{caption}</figcaption></figure>"
    )


def write_report(
    directory: Path, report: ValidationReport, figures: Sequence[Figure], title: str
) -> Path:
    """Write `report.html` and `plots/<name>.png` under `directory`; returns the HTML's path."""
    names = [f.name for f in figures]
    if len(set(names)) != len(names):
        raise ValueError(f"Figure names must be unique in a report, got {names}.")
    plots = directory / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    for figure in figures:
        (plots / f"{figure.name}.png").write_bytes(figure.png)
    path = directory / REPORT_HTML
    path.write_text(render_html(report, figures, title), encoding="utf-8")
    return path
