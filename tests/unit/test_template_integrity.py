"""What makes the start-up validation call a template image changed (integrity.problem): its file size or
its mtime differ from what was recorded; what was not recorded (or libvirt does not report) is not judged."""
from __future__ import annotations

from jvp.domain.volume import VolumeView
from jvp.service.template.integrity import problem


def doc(size=1000, mtime="1700000000.5"):
    return {"storage": {"size": size, "mtime": mtime}}


def vol(physical=1000, mtime="1700000000.5"):
    return VolumeView(name="t-v1.qcow2", pool="default_templates_", path="/p/t-v1.qcow2", physical_bytes=physical,
                      mtime=mtime)


def test_the_same_size_and_mtime_is_no_problem():
    assert problem(doc(), vol()) is None


def test_another_size_is_a_problem_first():
    assert problem(doc(), vol(physical=999, mtime="1")) == "the image file is 999 bytes, 1000 were recorded"


def test_another_mtime_is_a_problem():
    assert "modified" in problem(doc(), vol(mtime="1700000001.0"))


def test_what_is_unknown_on_either_side_is_not_judged():
    assert problem(doc(size=None, mtime=None), vol(physical=5, mtime="2")) is None
    assert problem(doc(), vol(physical=None, mtime=None)) is None
