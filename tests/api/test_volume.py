"""Volume actions on libvirt's test driver. The test driver has no resize, upload or download: those paths
are checked here up to the node's refusal (mapped, never a 500, nothing left behind) and for real in
tests/host."""
from __future__ import annotations

import io
import struct

import pytest

from tests.api.test_storage_pool import snapshot

GIB = 1024 ** 3


def test_list_volumes_of_every_pool_with_used_by(api):
    data = api.ok("list-volumes", role="viewer")
    assert data["errors"] == []
    vols = {(v["pool"], v["name"]): v for v in data["volumes"]}
    assert set(vols) == {("default", "web1-root.qcow2"), ("default", "db1-root.qcow2"),
                         ("default", "runner-root.qcow2"), ("default", "scratch.raw"), ("data", "db1-data.raw")}
    web = vols[("default", "web1-root.qcow2")]
    for key in ("name", "pool", "path", "format", "capacity_bytes", "allocation_bytes", "backing", "used_by"):
        assert key in web, key
    assert web["used_by"] == ["web1"] and web["format"] == "qcow2" and web["capacity_bytes"] == 20 * GIB
    assert vols[("data", "db1-data.raw")]["used_by"] == ["db1"]
    assert vols[("default", "scratch.raw")]["used_by"] == []
    only = api.ok("list-volumes", {"pool": "data"})["volumes"]
    assert [v["name"] for v in only] == ["db1-data.raw"]


def test_used_by_comes_from_one_pass_over_the_domains(api, mocker):
    from jvp.hypervisor import volume as vol_hv
    spy = mocker.spy(vol_hv, "disk_users")
    api.ok("list-volumes")
    assert spy.call_count == 1


def test_internal_files_are_listed_only_when_asked(api):
    api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName("default").createXML(
        "<volume><name>.jvp-cidata-web1.iso</name><capacity>1024</capacity></volume>", 0))
    names = [v["name"] for v in api.ok("list-volumes")["volumes"]]
    assert ".jvp-cidata-web1.iso" not in names
    listed = {v["name"]: v for v in api.ok("list-volumes", {"include_internal": True})["volumes"]}
    assert listed[".jvp-cidata-web1.iso"]["internal"] is True


def test_describe_and_not_found(api):
    vol = api.ok("describe-volume", {"pool": "data", "name": "db1-data.raw"}, role="viewer")["volume"]
    assert vol["used_by"] == ["db1"] and vol["format"] == "raw" and vol["capacity_bytes"] == 200 * GIB
    api.error("describe-volume", {"pool": "data", "name": "ghost"}, status=404, code="VolumeNotFound")
    api.error("describe-volume", {"pool": "ghost", "name": "x"}, status=404, code="StoragePoolNotFound")


def test_create_qcow2_raw_and_overlay(api):
    q = api.ok("create-volume", {"pool": "default", "name": "d1.qcow2", "size_gib": 5}, role="operator")["volume"]
    assert q["format"] == "qcow2" and q["capacity_bytes"] == 5 * GIB and q["used_by"] == []
    r = api.ok("create-volume", {"pool": "default", "name": "d2.raw", "size_gib": 2, "format": "raw"})["volume"]
    assert r["format"] == "raw" and r["allocation_bytes"] == 0
    o = api.ok("create-volume", {"pool": "default", "name": "o1.qcow2", "size_gib": 8,
                                 "backing_volume": "d1.qcow2"})["volume"]
    assert o["backing"] == {"path": q["path"], "format": "qcow2", "pool": "default", "volume": "d1.qcow2"}


@pytest.mark.parametrize("body,status,code,field", [
    ({"name": "v", "size_gib": 0}, 400, "ValidationFailed", "size_gib"),
    ({"name": "v", "size_gib": -5}, 400, "ValidationFailed", "size_gib"),
    ({"name": "v", "size_gib": 1.5}, 400, "ValidationFailed", "size_gib"),
    ({"name": "v", "size_gib": "ten"}, 400, "ValidationFailed", "size_gib"),
    ({"name": "v", "size_gib": 10**9}, 400, "ValidationFailed", "size_gib"),
    ({"name": "v", "size_gib": 1, "format": "vmdk"}, 400, "ValidationFailed", "format"),
    ({"name": "a/b", "size_gib": 1}, 400, "ValidationFailed", "name"),
    ({"name": "../../etc/passwd", "size_gib": 1}, 400, "ValidationFailed", "name"),
    ({"name": "..", "size_gib": 1}, 400, "ValidationFailed", "name"),
    ({"name": "v", "size_gib": 1, "backing_volume": "x\n"}, 400, "ValidationFailed", "backing_volume"),
    ({"name": "v", "size_gib": 1, "pool": "default\x00"}, 400, "ValidationFailed", "pool"),
    ({"name": "v", "size_gib": 1, "pool": "p" * 1025}, 400, "ValidationFailed", "pool"),
    ({"name": "v", "size_gib": 1, "format": "raw", "backing_volume": "scratch.raw"}, 400, "FormatNotSupported",
     "format"),
    ({"name": "v", "size_gib": 5, "backing_volume": "scratch.raw"}, 400, "InvalidSize", "size_gib"),
])
def test_bad_volume_requests_leave_nothing(api, body, status, code, field):
    before = snapshot(api)
    err = api.error("create-volume", {"pool": "default", **body}, status=status, code=code)
    assert field in err["details"]["field_errors"], err
    assert snapshot(api) == before


def test_beyond_free_space_existing_name_missing_backing(api):
    before = snapshot(api)
    free = api.ok("describe-storage-pool", {"name": "default"})["pool"]["available_bytes"]
    err = api.error("create-volume", {"pool": "default", "name": "big", "size_gib": free // GIB + 1},
                    status=422, code="InsufficientSpace")
    assert err["details"]["available_bytes"] == free
    err = api.error("create-volume", {"pool": "default", "name": "scratch.raw", "size_gib": 1}, status=409,
                    code="VolumeExists")
    assert "scratch.raw" in err["message"]
    api.error("create-volume", {"pool": "default", "name": "v", "size_gib": 1, "backing_volume": "ghost"},
              status=404, code="BackingVolumeNotFound")
    api.error("create-volume", {"pool": "ghost", "name": "v", "size_gib": 1}, status=404,
              code="StoragePoolNotFound")
    assert snapshot(api) == before


def test_creating_in_an_inactive_pool_is_422(api):
    api.ok("create-storage-pool", {"name": "p1", "type": "dir", "path": "/srv/p1"})
    api.ok("stop-storage-pool", {"name": "p1"})
    api.error("create-volume", {"pool": "p1", "name": "v", "size_gib": 1}, status=422, code="StoragePoolInactive")


def test_node_in_maintenance_refuses_new_volumes(api):
    api.ok("disable-node", {"name": "local"})
    api.error("create-volume", {"pool": "default", "name": "v", "size_gib": 1}, status=409,
              code="NodeInMaintenance")
    api.ok("enable-node", {"name": "local"})


def test_delete_refusals_name_the_vms_and_volumes(api):
    before = snapshot(api)
    err = api.error("delete-volume", {"pool": "default", "name": "web1-root.qcow2"}, status=409,
                    code="VolumeInUse")
    assert err["details"]["vms"] == ["web1"] and "web1" in err["message"]
    err = api.error("delete-volume", {"pool": "data", "name": "db1-data.raw"}, status=409, code="VolumeInUse")
    assert err["details"]["vms"] == ["db1"]  # a stopped VM still attaches it
    assert snapshot(api) == before
    api.ok("create-volume", {"pool": "default", "name": "base", "size_gib": 1})
    api.ok("create-volume", {"pool": "default", "name": "top", "size_gib": 1, "backing_volume": "base"})
    err = api.error("delete-volume", {"pool": "default", "name": "base"}, status=409, code="VolumeHasDependents")
    assert err["details"]["volumes"] == ["default/top"]
    api.ok("delete-volume", {"pool": "default", "name": "top"}, role="operator")
    api.ok("delete-volume", {"pool": "default", "name": "base"})
    api.error("delete-volume", {"pool": "default", "name": "base"}, status=404, code="VolumeNotFound")


def test_resize_rules(api):
    err = api.error("resize-volume", {"pool": "default", "name": "scratch.raw", "size_gib": 5}, status=400,
                    code="VolumeShrinkRefused")
    assert err["details"]["capacity_bytes"] == 10 * GIB
    same = api.ok("resize-volume", {"pool": "default", "name": "scratch.raw", "size_gib": 10})
    assert same["volume"]["capacity_bytes"] == 10 * GIB and same["live_vms"] == []
    api.error("resize-volume", {"pool": "default", "name": "scratch.raw", "size_gib": 0}, status=400,
              code="ValidationFailed")
    free = api.ok("describe-storage-pool", {"name": "default"})["pool"]["available_bytes"]
    api.error("resize-volume", {"pool": "default", "name": "scratch.raw", "size_gib": 10 + free // GIB + 1},
              status=422, code="InsufficientSpace")
    # The test driver cannot resize: a mapped 422 with libvirt's words, never a 500.
    err = api.error("resize-volume", {"pool": "default", "name": "scratch.raw", "size_gib": 11}, status=422,
                    code="NotSupported")
    assert "virStorageVolResize" in err["details"]["libvirt_error"]["message"]


def test_clone_is_a_task_with_a_result(api):
    resp = api.call("clone-volume", {"pool": "default", "name": "scratch.raw", "new_name": "copy.raw"},
                    role="operator", expect=202)
    task = resp.get_json()["task"]
    assert task["kind"] == "clone-volume" and task["resource"] == {
        "kind": "volume", "node": "local", "pool": "default", "name": "copy.raw"}
    done = api.services.tasks.wait(task["id"], 20)
    assert done["state"] == "succeeded", done
    assert done["result"]["volume"]["name"] == "copy.raw"
    vol = api.ok("describe-volume", {"pool": "default", "name": "copy.raw"})["volume"]
    assert vol["capacity_bytes"] == 10 * GIB and vol["format"] == "raw"
    err = api.error("cancel-task", {"id": task["id"]}, status=409, code="TaskFinished")
    assert "succeeded" in err["message"]


def test_clone_refusals(api):
    before = snapshot(api)
    api.error("clone-volume", {"pool": "default", "name": "scratch.raw", "new_name": "web1-root.qcow2"},
              status=409, code="VolumeExists")
    err = api.error("clone-volume", {"pool": "default", "name": "web1-root.qcow2", "new_name": "c"},
                    status=409, code="VolumeInUse")
    assert err["details"]["vms"] == ["web1"]
    api.error("clone-volume", {"pool": "default", "name": "ghost", "new_name": "c"}, status=404,
              code="VolumeNotFound")
    api.error("clone-volume", {"pool": "default", "name": "scratch.raw", "new_name": "c/d"}, status=400,
              code="ValidationFailed")
    api.error("clone-volume", {"pool": "default", "name": "scratch.raw", "new_name": "c", "target_pool": "ghost"},
              status=404, code="StoragePoolNotFound")
    assert snapshot(api) == before
    assert api.ok("list-tasks", {"kind": "clone-volume"})["tasks"] == []


def upload(api, params, data, *, role="operator", headers=None, **kwargs):
    hdrs = {"Authorization": f"Bearer {api.tokens[role]}", "Content-Type": "application/octet-stream",
            **(headers or {})}
    return api.client.post("/api/upload-volume", query_string=params, data=data, headers=hdrs, **kwargs)


def qcow2_header(size, backing_offset=0):
    return b"QFI\xfb" + struct.pack(">IQIIQ", 3, backing_offset, 0, 16, size) + bytes(4096)


@pytest.mark.parametrize("params,data,status,code", [
    ({"pool": "default", "name": "scratch.raw"}, b"x" * 10, 409, "VolumeExists"),
    ({"pool": "default", "name": "../etc/x"}, b"x" * 10, 400, "ValidationFailed"),
    ({"pool": "default", "name": "a/b"}, b"x" * 10, 400, "ValidationFailed"),
    ({"pool": "default", "name": "u", "format": "vmdk"}, b"x" * 10, 400, "ValidationFailed"),
    ({"pool": "default", "name": "u", "format": "qcow2"}, b"x" * 4096, 400, "FormatMismatch"),
    ({"pool": "default", "name": "u", "format": "raw"}, qcow2_header(GIB), 400, "FormatMismatch"),
    ({"pool": "default", "name": "u"}, qcow2_header(GIB, backing_offset=512), 400, "BackingFileNotAllowed"),
    ({"pool": "ghost", "name": "u"}, b"x" * 10, 404, "StoragePoolNotFound"),
])
def test_upload_refusals_leave_nothing(api, params, data, status, code):
    before = snapshot(api)
    resp = upload(api, params, data)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code
    assert snapshot(api) == before


def test_upload_needs_a_content_length_and_a_body(api):
    before = snapshot(api)
    resp = upload(api, {"pool": "default", "name": "u"}, None, input_stream=io.BytesIO(b"x" * 100),
                  headers={"Transfer-Encoding": "chunked"})
    assert resp.status_code == 411 and resp.get_json()["error"]["code"] == "LengthRequired"
    resp = upload(api, {"pool": "default", "name": "u"}, None, input_stream=io.BytesIO(b""),
                  environ_overrides={"CONTENT_LENGTH": "0"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "EmptyUpload"
    assert snapshot(api) == before


def test_an_upload_shorter_than_its_content_length_leaves_nothing(api):
    before = snapshot(api)
    resp = upload(api, {"pool": "default", "name": "u"}, None, input_stream=io.BytesIO(b"x" * 1000),
                  environ_overrides={"CONTENT_LENGTH": str(10 * 1024 * 1024)})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "UploadIncomplete"
    assert resp.get_json()["error"]["details"]["content_length"] == 10 * 1024 * 1024
    assert snapshot(api) == before


def test_a_multipart_upload_is_refused(api):
    resp = upload(api, {"pool": "default", "name": "u"}, {"file": (io.BytesIO(b"x" * 10), "x.img")},
                  headers={"Content-Type": "multipart/form-data"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "InvalidUploadBody"


def test_an_upload_larger_than_the_json_limit_reaches_the_node_and_a_node_failure_removes_the_volume(api):
    """2 MiB > max_body_bytes: no 413. The test driver refuses the stream: the created volume is removed."""
    before = snapshot(api)
    resp = upload(api, {"pool": "default", "name": "u.raw"}, b"\x01" * (2 * 1024 * 1024))
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] == "NotSupported"
    assert snapshot(api) == before
    (task,) = api.ok("list-tasks", {"kind": "upload-volume"})["tasks"]
    assert task["state"] == "failed" and task["resource"]["name"] == "u.raw"


def test_upload_and_download_roles_and_in_use(api):
    resp = upload(api, {"pool": "default", "name": "u"}, b"x", role="viewer")
    assert resp.status_code == 403
    api.error("download-volume", {"pool": "default", "name": "scratch.raw"}, role="viewer", status=403)
    err = api.error("download-volume", {"pool": "default", "name": "web1-root.qcow2"}, status=409,
                    code="VolumeInUse")
    assert err["details"]["vms"] == ["web1"]
    api.error("download-volume", {"pool": "default", "name": "ghost"}, status=404, code="VolumeNotFound")


def test_openapi_documents_the_streaming_actions(api):
    spec = api.client.get("/api/openapi.json").get_json()
    up = spec["paths"]["/api/upload-volume"]["post"]
    assert "application/octet-stream" in up["requestBody"]["content"]
    assert up["x-jvp-role"] == "operator"
    down = spec["paths"]["/api/download-volume"]["post"]
    assert "application/octet-stream" in down["responses"]["200"]["content"]
    assert spec["paths"]["/api/clone-volume"]["post"]["responses"]["202"]


def test_jvp_internal_volumes_cannot_be_deleted_directly(api):
    """The `_templates_` directory shows up as a volume of its parent pool: deleting it is refused cleanly, and
    so is deleting JVP's other internal files (`.jvp-...`; the name is a valid reference, the rule refuses)."""
    api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName("default").createXML(
        "<volume><name>_templates_</name><capacity>1048576</capacity></volume>", 0))
    err = api.error("delete-volume", {"pool": "default", "name": "_templates_"}, status=409,
                    code="VolumeIsInternal")
    assert "JVP's own" in err["message"]
    assert api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName("default")
                                        .storageVolLookupByName("_templates_"))
    api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName("default").createXML(
        "<volume><name>.jvp-cidata-x.iso</name><capacity>1024</capacity></volume>", 0))
    api.error("delete-volume", {"pool": "default", "name": ".jvp-cidata-x.iso"}, status=409,
              code="VolumeIsInternal")
    assert api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName("default")
                                        .storageVolLookupByName(".jvp-cidata-x.iso"))


def test_cloning_a_volume_a_task_is_writing_is_409(api):
    """An upload in progress (any task on the source volume) would be copied half-written: refused."""
    import threading
    release = threading.Event()
    tasks = api.services.tasks
    src = {"kind": "volume", "node": "local", "pool": "default", "name": "scratch.raw"}
    upload_task = tasks.submit("upload-volume", src, lambda h: release.wait(10) and {})
    before = snapshot(api)
    try:
        err = api.error("clone-volume", {"pool": "default", "name": "scratch.raw", "new_name": "torn.raw"},
                        status=409, code="ResourceBusy")
        assert err["details"]["task"] == upload_task["id"] and err["details"]["task_kind"] == "upload-volume"
        assert snapshot(api) == before
        assert api.ok("list-tasks", {"kind": "clone-volume"})["tasks"] == []
    finally:
        release.set()
        tasks.wait(upload_task["id"], 10)
    task = api.ok("clone-volume", {"pool": "default", "name": "scratch.raw", "new_name": "torn.raw"})["task"]
    assert tasks.wait(task["id"], 10)["state"] == "succeeded"


def test_download_that_fails_before_its_first_byte_is_a_json_error(api):
    """Issue 14 finding 3: the test driver has no download stream, so the stream fails before its first byte.
    The stream is opened and its first block read before any header goes out: the answer is the mapped JSON
    error (it was a 200 whose body then broke: the HTTP server's HTML 500)."""
    resp = api.call("download-volume", {"pool": "default", "name": "scratch.raw"})
    assert resp.status_code == 422 and resp.is_json, resp.data[:200]
    assert resp.get_json()["error"]["code"] == "NotSupported"


@pytest.mark.parametrize("name", ["nl.raw\n", "a\r\nX-Injected: 1", "\u00e9\u00e9.raw"])
def test_download_never_answers_500_whatever_the_name(api, name):
    """A name ending in a newline (or carrying CR LF) reached the Content-Disposition header: 500. Whatever
    the name, the answer is a mapped refusal (validation, not found, or the test driver's NotSupported)."""
    made = api.call("create-volume", {"pool": "default", "name": name, "size_gib": 1, "format": "raw"})
    assert made.status_code in (200, 201, 400), made.get_json()   # 400: names are validated in full
    resp = api.call("download-volume", {"pool": "default", "name": name})
    assert resp.status_code in (400, 404, 422) and resp.is_json, (resp.status_code, resp.data[:200])
    assert "X-Injected" not in resp.headers


def test_content_disposition_keeps_the_header_safe():
    from jvp.api.streams import content_disposition
    assert content_disposition("a.qcow2") == "attachment; filename=\"a.qcow2\"; filename*=UTF-8''a.qcow2"
    for name in ("k\n", "a\r\nSet-Cookie: x", 'q"uote\\', "x\ud800", "\u00e9"):
        value = content_disposition(name)
        assert all(" " <= c <= "~" for c in value), value
        assert value.count('"') == 2


@pytest.mark.parametrize("action,body", [
    ("delete-volume", {}), ("resize-volume", {"size_gib": 2}), ("download-volume", {}),
])
def test_volume_actions_on_a_missing_pool_are_404(api, action, body):
    """Found by the fuzz gate: these answered StoragePoolNotFound without declaring it (ApiClient checks)."""
    err = api.error(action, {"pool": "nope", "name": "disk1", **body}, status=404, code="StoragePoolNotFound")
    assert "nope" in err["message"]
