"""hypervisor/support.py is the one table of driver features and fallbacks (issue 12)."""
from __future__ import annotations

import re
from pathlib import Path

import libvirt
import pytest

from jvp.hypervisor import support

HV = Path(__file__).resolve().parents[2] / "jvp" / "hypervisor"


def lv_error(code: int) -> libvirt.libvirtError:
    exc = libvirt.libvirtError("test")
    exc.err = (code, 0, "test", 0, "", None, None, 0, 0)
    return exc


def test_every_feature_says_what_it_needs_and_what_jvp_does_without_it():
    for name, feature in support.FEATURES.items():
        assert feature.api and feature.fallback, name
        assert support.NOT_SUPPORTED <= feature.codes, name  # "no support" always means the fallback


@pytest.mark.parametrize("name", sorted(support.FEATURES))
def test_lacks_answers_from_the_table(name):
    assert support.lacks(name, lv_error(libvirt.VIR_ERR_NO_SUPPORT))
    assert not support.lacks(name, lv_error(libvirt.VIR_ERR_NO_DOMAIN))  # a real failure is not a fallback
    assert not support.lacks(name, lv_error(libvirt.VIR_ERR_INTERNAL_ERROR))


def test_no_module_keeps_its_own_list_of_unsupported_codes():
    """Feature checks name a feature of the table instead of listing libvirt's 'unsupported' codes."""
    pattern = re.compile(r"VIR_ERR_(NO_SUPPORT|OPERATION_UNSUPPORTED|ARGUMENT_UNSUPPORTED)")
    offenders = [str(p.relative_to(HV)) for p in HV.rglob("*.py")
                 if p.name not in ("support.py", "errors.py") and pattern.search(p.read_text())]
    assert offenders == []


def test_every_feature_is_used_somewhere():
    sources = "\n".join(p.read_text() for p in HV.rglob("*.py") if p.name != "support.py")
    unused = [n for n in support.FEATURES if f'"{n}"' not in sources]
    assert unused == []
