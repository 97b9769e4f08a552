"""Rendering a :class:`Table` as Markdown, booktabs LaTeX or HTML."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape


@dataclass
class Table:
    """A paper-style table: grouped column headers, rows, bold marks, group rules and notes.

    ``groups`` spans the value columns after the ``n_lead`` leading columns (e.g. one group per dataset).
    ``rules`` are row indices before which a horizontal rule goes (a new method family). ``title`` (e.g.
    "Table 1") heads the Markdown caption only: LaTeX numbers its floats itself. ``latex_note`` is the short
    text LaTeX adds to the caption (protocol and policy); the full ``notes`` go under the Markdown table and
    into comments after the LaTeX float.
    """

    caption: str
    lead: list[str]
    groups: list[tuple[str, int]]
    columns: list[str]
    rows: list[list[str]]
    bold: list[list[bool]]
    rules: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    title: str = ""
    latex_note: str = ""


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


_MARKDOWN_SPECIALS = set("\\*_[]<>&|~")


def markdown_escape(text: str) -> str:
    """``text`` with Markdown and HTML specials backslash-escaped outside its ```code``` spans (an id, name or
    parameter value then renders as text, never as markup or live HTML)."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans
        parts = [text.replace("`", "\\`")]
    return "`".join(
        p if i % 2 else "".join("\\" + c if c in _MARKDOWN_SPECIALS else c for c in p) for i, p in enumerate(parts)
    )


def to_markdown(table: Table) -> str:
    """GitHub Markdown: group names are prefixed to their columns; bold is ``**x**``; text is escaped
    (:func:`markdown_escape`)."""
    header, index = [markdown_escape(c) for c in table.lead], 0
    for group, span in table.groups:
        header += [markdown_escape(f"{group} {col}".strip()) for col in table.columns[index : index + span]]
        index += span
    lines = [
        f"**{markdown_escape(f'{table.title}. {table.caption}' if table.title else table.caption)}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":---" if i < len(table.lead) else "---:" for i in range(len(header))) + "|",
    ]
    for row, marks in zip(table.rows, table.bold, strict=True):
        cells = [markdown_escape(c) for c in row]
        cells = [f"**{c}**" if b and c not in ("", "-") else c for c, b in zip(cells, marks, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {markdown_escape(note)}" for note in table.notes]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters, set `code` in typewriter and turn the arrows/units used in headers
    into math."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick is text
        parts[-2:] = ["`".join(parts[-2:])]
    return "".join(rf"\texttt{{{_escape(p)}}}" if i % 2 else _escape(p) for i, p in enumerate(parts))


def _escape(text: str) -> str:
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
        ("<", r"\textless{}"),
        (">", r"\textgreater{}"),
        ("|", r"\textbar{}"),
        ("`", r"\textasciigrave{}"),
    ):
        out = out.replace(a, b)
    for a, b in (
        ("↑", r"$\uparrow$"),
        ("↓", r"$\downarrow$"),
        ("∞", r"$\infty$"),
        ("×", r"$\times$"),
        ("≥", r"$\geq$"),
        ("≤", r"$\leq$"),
        ("±", r"$\pm$"),
        ("1e-6", r"$10^{-6}$"),
        ("→", r"$\rightarrow$"),
    ):
        out = out.replace(a, b)
    return out


def to_latex(table: Table) -> str:
    """A booktabs float a paper can ``\\input`` unedited (needs ``\\usepackage{booktabs}``): a full-width
    ``table*`` (a two-column paper's column is too narrow even for one dataset with status cells; in a
    one-column paper it is an ordinary float), one caption (LaTeX numbers it) with the short ``latex_note``,
    and the full notes as ``%`` comments after the float."""
    n_lead = len(table.lead)
    env = "table*"
    spec = "l" * n_lead + "".join("c" * span for _, span in table.groups)
    lines = [rf"\begin{{{env}}}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
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
    caption = " ".join(latex_escape(t) for t in (table.caption, table.latex_note) if t)
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{caption}}}", rf"\end{{{env}}}"]
    lines += [f"% {' '.join(note.split())}" for note in table.notes]
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    """An HTML ``<table>`` (group header row, column header row, bold marks, family rules) with its caption
    and notes; text is escaped."""
    n_lead = len(table.lead)
    title = f"{table.title}. {table.caption}" if table.title else table.caption
    lines = ['<table class="paper">', f"<caption>{escape(title)}</caption>", "<thead>"]
    if any(g for g, _ in table.groups):
        groups = "".join(f'<th colspan="{span}">{escape(group)}</th>' for group, span in table.groups)
        lines.append(f'<tr><th colspan="{n_lead}"></th>{groups}</tr>')
    lines.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.lead + table.columns) + "</tr>")
    lines += ["</thead>", "<tbody>"]
    for i, (row, marks) in enumerate(zip(table.rows, table.bold, strict=True)):
        cells = "".join(
            f"<td><b>{escape(c)}</b></td>" if b and c not in ("", "-") else f"<td>{escape(c)}</td>"
            for c, b in zip(row, marks, strict=True)
        )
        lines.append(f'<tr class="rule">{cells}</tr>' if i in table.rules and i else f"<tr>{cells}</tr>")
    lines += ["</tbody>", "</table>"]
    if table.notes:
        lines.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in table.notes) + "</ul>")
    return "\n".join(lines) + "\n"
