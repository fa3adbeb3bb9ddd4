"""Print the fault matrix results (rows x vendors) as a Markdown table.

Reads ``test-output/reliability/<vendor>.json``, which ``tests/reliability/test_fault_matrix.py``
writes (``{"row": "pass" | "pass (note)" | "skip: reason" | "FAIL", ...}``). Notes and skip
reasons become numbered notes under the table.

    python scripts/reliability_table.py                  # print the table
    python scripts/reliability_table.py --update docs/reliability.md

``--update`` replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->``
in that file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-output" / "reliability"
#: Column order; vendors found but not listed here come after, alphabetically.
VENDORS = ("oracle_commerce", "informatica_iics", "personium", "huawei_dataarts", "huawei_workspace")
START, END = "<!-- results:start -->", "<!-- results:end -->"
_NOTE = re.compile(r"^(?P<outcome>pass|skip|FAIL)(?: \((?P<paren>.*)\)|: (?P<colon>.*))?$", re.S)


def load(results: Path) -> dict[str, dict[str, str]]:
    """Vendor -> {row: outcome}, in column order."""
    found = {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}
    order = [v for v in VENDORS if v in found] + sorted(set(found) - set(VENDORS))
    return {vendor: found[vendor] for vendor in order}


def markdown(tables: dict[str, dict[str, str]]) -> str:
    """The table, then its numbered notes."""
    rows: list[str] = []
    for table in tables.values():
        rows += [row for row in table if row not in rows]
    notes: list[str] = []

    def cell(value: str | None) -> str:
        if value is None:
            return "-"
        match = _NOTE.match(value)
        if match is None:
            return value
        note = match["paren"] or match["colon"]
        if not note:
            return match["outcome"]
        if note not in notes:
            notes.append(note)
        return f"{match['outcome']} ({notes.index(note) + 1})"

    lines = [
        "| row | " + " | ".join(f"`{v}`" for v in tables) + " |",
        "|---|" + "---|" * len(tables),
    ]
    for row in rows:
        lines.append(f"| `{row}` | " + " | ".join(cell(t.get(row)) for t in tables.values()) + " |")
    if notes:
        lines += ["", *[f"{n}. {text}" for n, text in enumerate(notes, 1)]]
    return "\n".join(lines) + "\n"


def update(document: Path, text: str) -> None:
    """Put ``text`` between the result markers of ``document``."""
    content = document.read_text()
    if START not in content or END not in content:
        raise SystemExit(f"{document} has no {START} ... {END} markers")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    document.write_text(f"{head}{START}\n\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of <vendor>.json files")
    parser.add_argument("--update", type=Path, help="write the table into this Markdown file")
    args = parser.parse_args(argv)
    tables = load(args.results)
    if not tables:
        print(f"no results in {args.results}: run pytest tests/reliability first", file=sys.stderr)
        return 1
    text = markdown(tables)
    if args.update:
        update(args.update, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
