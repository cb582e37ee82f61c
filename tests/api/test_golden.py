"""The recorded answers of tests/api/golden.py are unchanged (issue 12: the rework changes no behaviour)."""
from __future__ import annotations

import json

from tests.api.golden import ANSWERS, run_script


def test_recorded_answers_are_unchanged(api):
    expected = json.loads(ANSWERS.read_text())
    actual = json.loads(json.dumps(run_script(api), sort_keys=True))
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual):
        assert got == want, f"{want['action']} {want['body']} answers differently"
