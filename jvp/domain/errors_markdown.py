"""The code table (jvp/domain/errors.py) as markdown: the whole table, or the rows of some codes, in the
table's order. README's generated error tables are made of it (jvp/api/error_docs.py).

    python -m jvp.domain.errors_markdown --markdown   # the whole table as markdown
"""
from __future__ import annotations

import sys
from typing import Iterable

from jvp.domain.errors import _ENTRIES, ERRORS


# -- markdown ------------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(codes: Iterable[str] | None = None, *, generic_column: bool = True) -> str:
    """The table (or the rows of `codes`) as markdown, in the table's order."""
    wanted = set(ERRORS) if codes is None else set(codes)
    head = ["code", "status", "meaning"] + (["generic"] if generic_column else [])
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in _ENTRIES:
        if e.code not in wanted:
            continue
        cells = [f"`{e.code}`", " / ".join(str(s) for s in e.statuses), _cell(e.meaning)]
        if generic_column:
            cells.append("yes" if e.generic else "")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["--markdown"]:
        print("usage: python -m jvp.domain.errors_markdown --markdown   (README: "
              "python -m jvp.api.error_docs --write-readme)", file=sys.stderr)
        raise SystemExit(2)
    sys.stdout.write(markdown())
