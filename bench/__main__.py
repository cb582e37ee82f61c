"""`python -m bench [name ...]`: run every bench/*.py module's main() (or only the named ones), then print
the summary: every line that states a target with its verdict (OK, ABOVE, BELOW...), under its module's name,
and the host's load average before and after (the figures hold for a quiet host only when it was quiet)."""
from __future__ import annotations

import importlib
import io
import os
import pkgutil
import re
import sys
import time
from pathlib import Path

VERDICT = re.compile(r"\b(OK|ABOVE|BELOW|OUTSIDE TARGET)\b|(<=|>=) ?\d")   # a line that states a target
MISSED = re.compile(r"\b(ABOVE|BELOW|OUTSIDE TARGET)\b")


class Tee(io.TextIOBase):
    """What the benchmarks print goes to the terminal as it comes, and is kept for the summary."""
    def __init__(self, out):
        self.out, self.kept = out, io.StringIO()

    def write(self, s: str) -> int:
        self.kept.write(s)
        return self.out.write(s)

    def flush(self) -> None:
        self.out.flush()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    chosen = argv or names
    unknown = set(chosen) - set(names)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; available: {', '.join(names)}")
        return 2
    before, tee = load(), Tee(sys.stdout)
    sys.stdout = tee
    verdicts: list[str] = []
    try:
        for name in chosen:
            print(f"== bench.{name}", flush=True)
            start = time.monotonic()
            mark = tee.kept.tell()
            importlib.import_module(f"bench.{name}").main()
            print(f"   ({time.monotonic() - start:.1f} s)\n", flush=True)
            tee.kept.seek(mark)
            lines = [ln.rstrip() for ln in tee.kept.read().splitlines() if VERDICT.search(ln)]
            verdicts += [f"{name}: {ln.strip()}" for ln in lines]
    finally:
        sys.stdout = tee.out
    print("== summary: every target and its verdict")
    print(f"   before: {before}; after: {load()}")
    for line in verdicts:
        print(f"   {line}")
    missed = [v for v in verdicts if MISSED.search(v)]
    print(f"   {len(verdicts) - len(missed)} of {len(verdicts)} target lines hold; missed:")
    for line in missed:
        print(f"   {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
