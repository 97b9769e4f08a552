"""Rendering a :class:`Table` as Markdown or booktabs LaTeX."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Table:
    """A paper-style table: grouped column headers, rows, bold marks, group rules and notes.

    ``groups`` spans the value columns after the ``n_lead`` leading columns (e.g. one group per dataset).
    ``rules`` are row indices before which a horizontal rule goes (a new method family).
    """

    caption: str
    lead: list[str]
    groups: list[tuple[str, int]]
    columns: list[str]
    rows: list[list[str]]
    bold: list[list[bool]]
    rules: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fmt(value: float | None, digits: int = 4) -> str:
    """Paper style: 4 significant digits, integers from 1000 up (10.06, 6.998, 166.7, 1432); '-' if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0.00"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{min(decimals, 4)}f}"


def to_markdown(table: Table) -> str:
    """GitHub Markdown: group names are prefixed to their columns; bold is ``**x**``."""
    header, index = list(table.lead), 0
    for group, span in table.groups:
        header += [f"{group} {col}".strip() for col in table.columns[index : index + span]]
        index += span
    lines = [
        f"**{table.caption}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":---" if i < len(table.lead) else "---:" for i in range(len(header))) + "|",
    ]
    for row, marks in zip(table.rows, table.bold, strict=True):
        cells = [f"**{c}**" if b and c not in ("", "-") else c for c, b in zip(row, marks, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters and turn the arrows/units used in headers into math."""
    out = text
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("$", r"\$"),
        ("#", r"\#"),
        ("_", r"\_"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("~", r"\textasciitilde{}"),
        ("^", r"\^{}"),
    ):
        out = out.replace(a, b)
    for a, b in (
        ("↑", r"$\uparrow$"),
        ("↓", r"$\downarrow$"),
        ("∞", r"$\infty$"),
        ("×", r"$\times$"),
        ("≥", r"$\geq$"),
        ("±", r"$\pm$"),
        ("1e-6", r"$10^{-6}$"),
        ("→", r"$\rightarrow$"),
    ):
        out = out.replace(a, b)
    return out


def to_latex(table: Table) -> str:
    """A standalone-compilable booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    n_lead = len(table.lead)
    spec = "l" * n_lead + "".join("c" * span for _, span in table.groups)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    if any(g for g, _ in table.groups):
        cells, rules, col = [""] * n_lead, [], n_lead + 1
        for group, span in table.groups:
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(group)}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
            col += span
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    lines.append(" & ".join(latex_escape(h) for h in table.lead + table.columns) + r" \\")
    lines.append(r"\midrule")
    for i, (row, marks) in enumerate(zip(table.rows, table.bold, strict=True)):
        if i in table.rules and i:
            lines.append(r"\midrule")
        cells = [
            rf"\textbf{{{latex_escape(c)}}}" if b and c not in ("", "-") else latex_escape(c)
            for c, b in zip(row, marks, strict=True)
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(table.caption)}}}"]
    if table.notes:
        notes = r" \\ ".join(latex_escape(n) for n in table.notes)
        lines.append(rf"\par\footnotesize {notes}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
