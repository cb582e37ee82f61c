"""Pool creation on the node: a define that loses a race is a 409, and 'path is not a directory' is told by
libvirt's errno, not by the (localized) message text."""
from __future__ import annotations

import errno
from unittest import mock

import libvirt
import pytest

from jvp.hypervisor import network as net_hv
from jvp.hypervisor import storage_pool as pool_hv
from jvp.errors import JvpError

POOL_XML = "<pool type='dir'><name>p1</name><target><path>/srv/p1</path></target></pool>"


def lv_error(code: int, message: str, int1: int = -1, domain: int = 18) -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, domain, message, 2, "%s", message, None, int1, -1)
    return exc


def enotdir(message: str) -> libvirt.libvirtError:
    return lv_error(libvirt.VIR_ERR_SYSTEM_ERROR, message, int1=errno.ENOTDIR, domain=0)


def test_not_a_directory_is_told_by_errno_in_any_locale():
    assert pool_hv.is_not_a_directory(enotdir("cannot open directory '/srv/p1': Not a directory"))
    assert pool_hv.is_not_a_directory(enotdir("Verzeichnis »/srv/p1« kann nicht geöffnet werden: Ist kein "
                                              "Verzeichnis"))
    # The English words with another errno (or another error code) are not it.
    assert not pool_hv.is_not_a_directory(lv_error(libvirt.VIR_ERR_SYSTEM_ERROR, "Not a directory",
                                                   int1=errno.ENOENT))
    assert not pool_hv.is_not_a_directory(lv_error(libvirt.VIR_ERR_OPERATION_FAILED, "x", int1=errno.ENOTDIR))
    bare = libvirt.libvirtError("no err tuple")
    bare.err = None
    assert not pool_hv.is_not_a_directory(bare)


def test_a_start_failing_with_enotdir_in_german_is_path_not_directory_and_undone():
    conn = mock.MagicMock()
    pool = conn.storagePoolDefineXML.return_value
    pool.create.side_effect = enotdir("Verzeichnis »/srv/p1« kann nicht geöffnet werden: Ist kein Verzeichnis")
    with pytest.raises(pool_hv.PathNotDirectory):
        pool_hv.create(conn, POOL_XML, build=True, ptype="dir", autostart=True, name="p1")
    pool.undefine.assert_called_once()


def test_a_define_that_loses_a_race_is_pool_defined_meanwhile():
    conn = mock.MagicMock()
    conn.storagePoolDefineXML.side_effect = lv_error(libvirt.VIR_ERR_OPERATION_FAILED,
                                                     "operation failed: pool 'p1' already exists with uuid x")
    with pytest.raises(pool_hv.PoolDefinedMeanwhile):
        pool_hv.create(conn, POOL_XML, build=True, ptype="dir", autostart=True, name="p1")
    conn.storagePoolLookupByName.assert_called_once_with("p1")
    # The other party's pool is not touched.
    assert not conn.storagePoolLookupByName.return_value.undefine.called


def test_a_define_failing_for_another_reason_keeps_libvirts_error():
    conn = mock.MagicMock()
    conn.storagePoolDefineXML.side_effect = lv_error(libvirt.VIR_ERR_XML_ERROR, "bad xml")
    conn.storagePoolLookupByName.side_effect = lv_error(libvirt.VIR_ERR_NO_STORAGE_POOL, "no pool")
    with pytest.raises(libvirt.libvirtError) as exc:
        pool_hv.create(conn, POOL_XML, build=True, ptype="dir", autostart=True, name="p1")
    assert exc.value.get_error_code() == libvirt.VIR_ERR_XML_ERROR


def test_a_network_define_that_loses_a_race_is_network_exists():
    conn = mock.MagicMock()
    conn.networkDefineXML.side_effect = lv_error(libvirt.VIR_ERR_OPERATION_FAILED,
                                                 "operation failed: network 'n1' already exists with uuid x", domain=19)
    with pytest.raises(JvpError) as exc:
        net_hv.define_and_start(conn, "<network/>", autostart=True, node="local", name="n1")
    assert (exc.value.status, exc.value.code) == (409, "NetworkExists")
    assert "already exists" in exc.value.details["libvirt_error"]["message"]
    conn.networkDefineXML.side_effect = lv_error(libvirt.VIR_ERR_XML_ERROR, "bad xml", domain=19)
    conn.networkLookupByName.side_effect = lv_error(libvirt.VIR_ERR_NO_NETWORK, "none", domain=19)
    with pytest.raises(libvirt.libvirtError):
        net_hv.define_and_start(conn, "<network/>", autostart=True, node="local", name="n1")
