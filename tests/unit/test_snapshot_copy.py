"""The pieces behind clone-from-snapshot and export: the clone's cloud-init seed, reading a disk at an
internal snapshot with qemu-img on controller files, and the disk-only capture of a running VM through
QEMU's monitor (with libvirt mocked)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import libvirt
import pytest
import yaml

from jvp.cloudinit import iso as ci_iso
from jvp.cloudinit import reseed
from jvp.cloudinit import seed as ci_seed
from jvp.errors import JvpError
from jvp.hypervisor import snapshot_live
from jvp.hypervisor import snapshot_xml as sx
from jvp.hypervisor.xml import parse
from jvp.images import snapshot_image
from jvp.service.snapshot.service import default_name

OLD, NEW = "52:54:00:aa:00:01", "52:54:00:bb:00:01"


# -- the clone's seed -------------------------------------------------------------------------------------
def source_files(static: bool = False) -> dict[str, bytes]:
    nic = ci_seed.Nic(mac=OLD, ipv4="198.18.5.20/24", gateway="198.18.5.1") if static else ci_seed.Nic(mac=OLD)
    return {"meta-data": ci_seed.meta_data("i-old", "web").encode(),
            "user-data": ci_seed.user_data(hostname="web", users=[{"name": "alice", "sudo": True}],
                                           keypair_keys=[]).encode(),
            "network-config": ci_seed.network_config([nic]).encode()}


def test_seed_iso_round_trip():
    files = source_files()
    assert reseed.read_seed(ci_iso.build_iso(files)) == files


def test_clone_seed_has_a_new_identity_and_the_new_macs():
    out, notes = reseed.clone_seed(source_files(), instance_id="i-new", hostname="web2", macs={OLD: NEW})
    meta = yaml.safe_load(out["meta-data"])
    assert meta == {"instance-id": "i-new", "local-hostname": "web2"}
    net = yaml.safe_load(out["network-config"])
    assert net["ethernets"]["eth0"]["match"] == {"macaddress": NEW} and net["ethernets"]["eth0"]["dhcp4"] is True
    user = yaml.safe_load(out["user-data"])
    assert out["user-data"].startswith(b"#cloud-config\n")
    assert (user["hostname"], user["fqdn"]) == ("web2", "web2") and user["users"][1]["name"] == "alice"
    assert notes == ["user-data names the host: set to the clone's name"]


def test_a_static_address_is_not_copied_to_the_clone():
    out, notes = reseed.clone_seed(source_files(static=True), instance_id="i", hostname="c", macs={OLD: NEW})
    eth = yaml.safe_load(out["network-config"])["ethernets"]["eth0"]
    assert eth["dhcp4"] is True and "addresses" not in eth and "routes" not in eth
    assert any("198.18.5.20/24" in n and "DHCP" in n for n in notes)


def test_user_data_that_is_not_cloud_config_passes_unchanged():
    script = b"#!/bin/sh\necho hello # web\n"
    out, notes = reseed.clone_seed({"user-data": script}, instance_id="i", hostname="c", macs={})
    assert out["user-data"] == script and notes == []
    commented = b"#cloud-config\n# no host name here\nruncmd: [[true]]\n"
    assert reseed.clone_seed({"user-data": commented}, instance_id="i", hostname="c", macs={})[0][
        "user-data"] == commented


def test_default_snapshot_name():
    import datetime as dt
    assert default_name(dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)) == "snap-20260304-050607"


# -- a disk at a snapshot, on the controller ---------------------------------------------------------------
needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None or shutil.which("qemu-io") is None,
                                    reason="qemu-img/qemu-io not installed")


def qemu_io(image: Path, *commands: str) -> str:
    args = ["qemu-io", "-f", "qcow2"]
    for c in commands:
        args += ["-c", c]
    return subprocess.run([*args, str(image)], capture_output=True, text=True, check=True).stdout


@needs_qemu_img
def test_convert_at_snapshot_reads_the_snapshot_through_a_relinked_chain(tmp_path):
    node = tmp_path / "node"
    node.mkdir()
    base, top = node / "base.qcow2", node / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "8M"], check=True)
    qemu_io(base, "write -P 0x11 0 1M")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(top)], check=True)
    qemu_io(top, "write -P 0x22 1M 1M")
    subprocess.run(["qemu-img", "snapshot", "-c", "s1", str(top)], check=True)
    qemu_io(top, "write -P 0x33 1M 1M", "write -P 0x44 0 64k")
    # "downloaded" copies: the top still names the node's path until it is relinked
    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(base, local / "0-base")
    shutil.copy(top, local / "1-top")
    snapshot_image.point_at(local / "1-top", local / "0-base", "qcow2")
    shutil.rmtree(node)  # the node's files are not reachable from the controller
    seen: list[float] = []
    out = tmp_path / "out.qcow2"
    snapshot_image.convert_at_snapshot(local / "1-top", "s1", out, compress=True, progress=seen.append)
    info = snapshot_image.info(out)
    assert "backing-filename" not in info and not info.get("snapshots")
    assert info["virtual-size"] == 8 * 2**20 and snapshot_image.virtual_size(out) == 8 * 2**20
    text = qemu_io(out, "read -P 0x11 0 1M", "read -P 0x22 1M 1M")
    assert "Pattern verification failed" not in text
    with pytest.raises(JvpError) as err:
        snapshot_image.convert_at_snapshot(local / "1-top", "nope", tmp_path / "x.qcow2", compress=False)
    assert err.value.code == "SnapshotDataMissing"


def test_progress_that_raises_stops_qemu_img(tmp_path, mocker):
    class Stop(Exception):
        pass
    mocker.patch.object(snapshot_image, "snapshot_names", return_value=["s"])
    proc = mocker.MagicMock()
    proc.poll.return_value = None
    proc.stdout.read.return_value = b"    (12.00/100%)\r"
    mocker.patch.object(snapshot_image.subprocess, "Popen", return_value=proc)
    mocker.patch.object(snapshot_image.os, "set_blocking")

    def progress(pct: float) -> None:
        assert pct == 12.0
        raise Stop()
    with pytest.raises(Stop):
        snapshot_image.convert_at_snapshot(tmp_path / "a", "s", tmp_path / "b", compress=False, progress=progress)
    proc.kill.assert_called_once()


# -- the disk-only capture of a running VM (libvirt mocked) --------------------------------------------------
LIVE = """<domain type='qemu'><name>web</name><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/p/root.qcow2' index='2'/>
    <target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/p/data.qcow2' index='3'/>
    <target dev='vdb' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/p/seed.iso' index='1'/>
    <target dev='hdc' bus='ide'/><readonly/><alias name='ide0-1-0'/></disk>
  <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
</devices></domain>"""
QUERY_BLOCK = [{"qdev": "/machine/peripheral/virtio-disk0/virtio-backend",
                "inserted": {"node-name": "libvirt-2-format", "file": "/p/root.qcow2"}},
               {"qdev": "/machine/peripheral-anon/device[3]/virtio-backend",
                "inserted": {"node-name": "libvirt-3-format", "file": "/p/data.qcow2"}},
               {"qdev": "ide0-1-0", "inserted": {"node-name": "libvirt-1-format", "file": "/p/seed.iso"}},
               {"qdev": "/machine/peripheral/ide0-0-0"}]


def fake_dom(mocker, *, redefine_fails: bool = False):
    dom = mocker.MagicMock()
    dom.XMLDesc.return_value = LIVE
    dom.state.return_value = [libvirt.VIR_DOMAIN_RUNNING, 0]
    dom.isPersistent.return_value = False
    dom.hasCurrentSnapshot.return_value = 1
    dom.snapshotCurrent.return_value.getName.return_value = "before"
    if redefine_fails:
        dom.snapshotCreateXML.side_effect = libvirt.libvirtError("no")
    sent = []

    def monitor(d, cmd, flags):
        msg = json.loads(cmd)
        sent.append(msg)
        if msg["execute"] == "query-block":
            return json.dumps({"return": QUERY_BLOCK})
        return json.dumps({"return": {}})
    mocker.patch.object(snapshot_live.libvirt_qemu, "qemuMonitorCommand", side_effect=monitor)
    return dom, sent


def test_block_nodes_by_alias_then_by_file(mocker):
    dom, _ = fake_dom(mocker)
    assert snapshot_live.block_nodes(dom, parse(LIVE), ["vda", "vdb"]) == {
        "vda": "libvirt-2-format", "vdb": "libvirt-3-format", "hdc": "libvirt-1-format"}
    with pytest.raises(snapshot_live.QmpError):
        snapshot_live.block_nodes(dom, parse(LIVE), ["vdz"])


def test_capture_freezes_snapshots_all_disks_at_once_thaws_and_registers(mocker):
    dom, sent = fake_dom(mocker)
    disks, _ = sx.disk_choices(parse(LIVE))
    out = snapshot_live.capture(dom, "s1", "desc", disks, libvirt_refusal="must include the memory state")
    assert out["method"] == "qemu-monitor" and out["quiesced"] is True
    dom.fsFreeze.assert_called_once()
    dom.fsThaw.assert_called_once()
    tx = next(m for m in sent if m["execute"] == "transaction")
    assert [a["data"] for a in tx["arguments"]["actions"]] == [{"device": "libvirt-2-format", "name": "s1"},
                                                              {"device": "libvirt-3-format", "name": "s1"}]
    xml, flags = dom.snapshotCreateXML.call_args[0]
    assert flags == libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT
    root = parse(xml)
    assert root.findtext("parent/name") == "before" and root.findtext("state") == "shutoff"


def test_capture_thaws_when_qemu_refuses_and_removes_snapshots_libvirt_did_not_register(mocker):
    dom, sent = fake_dom(mocker)
    snapshot_live.libvirt_qemu.qemuMonitorCommand.side_effect = lambda d, c, f: json.dumps(
        {"return": QUERY_BLOCK} if "query-block" in c else {"error": {"desc": "Snapshot exists"}})
    disks, _ = sx.disk_choices(parse(LIVE))
    with pytest.raises(snapshot_live.QmpError, match="Snapshot exists"):
        snapshot_live.capture(dom, "s1", "", disks, libvirt_refusal="x")
    dom.fsThaw.assert_called_once()
    dom2, sent2 = fake_dom(mocker, redefine_fails=True)
    with pytest.raises(libvirt.libvirtError):
        snapshot_live.capture(dom2, "s1", "", disks, libvirt_refusal="x")
    assert [m["arguments"]["device"] for m in sent2 if m["execute"] == "blockdev-snapshot-delete-internal-sync"] == [
        "libvirt-2-format", "libvirt-3-format"]
