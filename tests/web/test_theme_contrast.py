"""Both colour themes of web/src/app/globals.css meet WCAG AA (4.5:1) for every text token on every
background it is used on. Reads the CSS variables; needs no browser."""
from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

CSS = REPO / "web" / "src" / "app" / "globals.css"
AA = 4.5

# (text token, background tokens it sits on)
PAIRS = [
    ("text", ["bg", "surface", "surface-2", "neutral-soft", "row-hover"]),
    ("text-2", ["bg", "surface", "surface-2", "neutral-soft"]),
    ("text-3", ["bg", "surface", "surface-2", "row-hover"]),
    ("primary", ["bg", "surface", "surface-2", "primary-soft"]),
    ("danger", ["surface", "danger-soft"]),
    ("warning", ["surface", "warning-soft"]),
    ("success", ["surface", "success-soft"]),
    ("danger-text", ["danger-soft"]),
    ("warning-text", ["warning-soft"]),
    ("info-text", ["primary-soft"]),
    ("on-solid", ["primary-solid", "danger-solid"]),
    ("sidebar-text", ["sidebar-bg", "sidebar-hover", "sidebar-active"]),
    ("sidebar-muted", ["sidebar-bg"]),
]


def _block(css: str, selector: str) -> dict[str, str]:
    m = re.search(re.escape(selector) + r"\s*\{(.*?)\n\}", css, re.S)
    assert m, f"{selector} not found in {CSS}"
    return dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})\s*;", m.group(1)))


def _lum(hexcolour: str) -> float:
    def ch(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hexcolour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_lum(a), _lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def themes() -> dict[str, dict[str, str]]:
    css = CSS.read_text()
    light = _block(css, ":root")
    dark = {**light, **_block(css, ':root[data-theme="dark"]')}
    return {"light": light, "dark": dark}


def test_contrast_helper_is_right():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_token_meets_aa(theme):
    tokens = themes()[theme]
    failures = []
    for fg, bgs in PAIRS:
        for bg in bgs:
            ratio = contrast(tokens[fg], tokens[bg])
            if ratio < AA:
                failures.append(f"--{fg} {tokens[fg]} on --{bg} {tokens[bg]}: {ratio:.2f}")
    assert not failures, f"{theme} theme below {AA}:1:\n" + "\n".join(failures)


def test_dark_theme_overrides_every_colour_it_needs():
    t = themes()
    changed = {k for k in t["light"] if t["light"][k] != t["dark"][k]}
    # the page's own surfaces and text change; a dark theme that left them light would pass the pairs above
    assert {"bg", "surface", "surface-2", "text", "text-2", "text-3", "border"} <= changed
