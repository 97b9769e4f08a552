"""``report.html``: one self-contained page of a run that a browser opens offline.

It holds the run's facts (command, protocol, policies, datasets, machine), Table 1 and Table 2 with their
notes, every figure found in the run folder (``irbench plot`` / ``irbench profile --run``) embedded as a
PNG data URI, and the images that failed, were skipped or drew a warning. No script, font or style sheet
is fetched from anywhere.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from benchmark.datasets import display_name
from benchmark.record import ImageIssue, RunRecord
from benchmark.render import Table, to_html

FIGURES = (
    ("pd_fa_", "Pd-Fa curves"),
    ("roc_", "Pixel ROC"),
    ("qualitative_", "Qualitative results"),
    ("fig1_", "Detection vs speed vs FLOPs"),
)
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table.paper { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
table.paper caption { font-weight: bold; text-align: left; padding-bottom: 0.4em; }
table.paper th, table.paper td { padding: 0.2em 0.7em; text-align: right; }
table.paper th:first-child, table.paper td:first-child, table.paper td:nth-child(2) { text-align: left; }
table.paper thead tr:last-child th { border-bottom: 1px solid #222; }
table.paper thead tr:first-child th { border-top: 2px solid #222; }
table.paper tbody tr:last-child td { border-bottom: 2px solid #222; }
table.paper tr.rule td { border-top: 1px solid #888; }
ul.notes { font-size: 0.8em; color: #444; }
dl.facts dt { font-weight: bold; float: left; clear: left; width: 9em; }
dl.facts dd { margin-left: 10em; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
table.issues td, table.issues th { padding: 0.1em 0.6em; text-align: left; font-size: 0.85em; }
""".strip()


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(path.name)}</figcaption></figure>"
    )


def _issues(title: str, issues: list[ImageIssue], run: RunRecord) -> str:
    if not issues:
        return ""
    rows = "".join(
        f"<tr><td>{escape(display_name(i.dataset, run.datasets))}</td><td>{escape(i.id)}</td>"
        f"<td>{escape(i.method or '')}</td>"
        f"<td>{escape(i.message)}</td></tr>"
        for i in issues
    )
    return (
        f'<h3>{escape(title)} ({len(issues)})</h3><table class="issues"><tr><th>Dataset</th><th>Image</th>'
        f"<th>Method</th><th>Message</th></tr>{rows}</table>"
    )


def html_report(run_dir: Path, run: RunRecord, tables: list[Table], caption_note: str) -> str:
    """The page of ``run`` (its ``tables`` rendered, ``caption_note``: protocol and policies)."""
    env = run.environment
    datasets = ", ".join(
        f"{display_name(d['name'], run.datasets)} {d['split']} ({d['n_images']} images)" for d in run.datasets
    )
    facts = [
        ("Command", " ".join(run.command) or "(not recorded)"),
        ("Created", run.created),
        ("Status", "complete" if run.complete else "INCOMPLETE: the run was stopped or is still going"),
        ("Evaluation", caption_note.replace("`", "")),
        ("Datasets", datasets),
        ("Machine", f"{env['platform']}, {env['cpu_count']} CPUs, GPU {env['gpu'] or 'none'}"),
        ("Wall time", f"{run.wall_seconds:.0f} s" if run.wall_seconds is not None else "(not finished)"),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>irbench run {escape(run_dir.name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>irbench run {escape(run_dir.name)}</h1>",
        '<dl class="facts">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts) + "</dl>",
    ]
    for table in tables:
        parts += [f"<h2>{escape(table.title or table.caption)}</h2>", to_html(table)]
    figures = [p for prefix, _ in FIGURES for p in sorted(run_dir.glob(f"{prefix}*.png"))]
    parts.append("<h2>Figures</h2>")
    if figures:
        parts += [_figure(p) for p in figures]
    else:
        parts.append(f"<p>No figures in this run folder yet: <code>irbench plot {escape(str(run_dir))}</code>.</p>")
    parts.append("<h2>Images that failed, were skipped or drew a warning</h2>")
    listed = [
        _issues("Detector failures (scored as empty predictions)", run.failures, run),
        _issues("Skipped images (unusable data)", run.skipped, run),
        _issues("Warnings", run.warnings, run),
    ]
    parts.append("".join(listed) or "<p>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
