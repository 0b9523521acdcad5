"""RESULTS.md: machine description, every target with its verdict, then each section's tables."""

from __future__ import annotations

import datetime

from .common import Section, Target


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def targets_table(targets: list[Target]) -> list[str]:
    rows = [[t.name, t.measured, t.reference, "-" if t.ratio is None else f"{t.ratio:.2f}", t.goal,
             f"**{t.verdict}**"] for t in targets]
    return markdown_table(["target", "measured", "reference", "ratio", "goal", "verdict"], rows)


def render(sections: list[Section], machine: dict[str, str], command: str, elapsed_s: float, quick: bool,
           warning: str | None = None) -> str:
    targets = [t for s in sections for t in s.targets]
    met = sum(1 for t in targets if t.passed)
    missed = [t.name for t in targets if t.passed is False]
    unmeasured = [t.name for t in targets if t.passed is None]
    lines = [
        "# archc benchmark results",
        "",
        f"Written by `{command}` on {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} "
        f"in {elapsed_s / 60:.1f} min{' (--quick: fewer repeats and specs)' if quick else ''}.",
        "Warm-up calls are excluded, times are medians of repeats, compared models share weights and "
        "threads and are timed alternately in one process. Ratios are stated so that > 1 favours archc "
        "unless a goal says otherwise.",
        *(["", f"**Warning: {warning}**"] if warning else []),
        "",
        "## Machine",
        "",
        *markdown_table(["", ""], [[k, v] for k, v in machine.items()]),
        "",
        "## Targets",
        "",
        f"{met} of {len(targets)} targets met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
        + (f"; not measured: {', '.join(unmeasured)}" if unmeasured else "") + ".",
        "",
        *targets_table(targets),
    ]
    for section in sections:
        lines += ["", f"## {section.title}"]
        for table in section.tables:
            lines += ["", f"### {table.title}", "", *markdown_table(table.columns, table.rows)]
        if section.notes:
            lines += [""] + [f"- {note}" for note in section.notes]
    return "\n".join(lines) + "\n"
