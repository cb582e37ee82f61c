"""The create wizard's OS profile choice (tier 4): a Windows VM from a small qcow2 (a linked clone with a
Cloudbase-Init seed), created with start=false against the real server and the real local libvirtd. The NIC
the wizard presets follows the profile (e1000e for Windows), the request says os_profile windows, and the VM
describe-vm shows has SATA disks, an e1000e NIC and the seed. Everything is named jvptest-* and removed
through the API afterwards."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.web
TASK_TIMEOUT_MS = 180_000


def test_the_wizard_creates_a_windows_vm(logged_in_page, web_api, wizard_place):
    env = wizard_place
    pg = logged_in_page
    pg.get_by_test_id("nav-vms").click()
    pg.get_by_test_id("create-vm").click()
    expect(pg).to_have_url(re.compile(r".*/vms/create/$"))
    step = pg.get_by_test_id("step-basics")
    step.get_by_test_id("vm-name").fill(env["vm"])
    step.get_by_test_id("vm-memory").fill("2048")
    expect(step.get_by_test_id("vm-os-profile")).to_have_value("linux")
    step.get_by_test_id("vm-os-profile").select_option("windows")
    pg.get_by_test_id("wizard-next").click()

    step = pg.get_by_test_id("step-disk")
    step.get_by_test_id("vm-pool").select_option(env["pool"])
    step.get_by_test_id("vm-volume").select_option(env["volume"])
    expect(step.get_by_test_id("vm-clone")).to_have_value("linked")
    pg.get_by_test_id("wizard-next").click()
    pg.get_by_test_id("wizard-next").click()  # size: as the base

    step = pg.get_by_test_id("step-network")
    expect(step.get_by_test_id("nic-form")).to_have_count(1)
    expect(step.get_by_test_id("nic-model-0")).to_have_value("e1000e")  # works before drivers are installed
    step.get_by_test_id("nic-source-0").select_option(env["network"])
    pg.get_by_test_id("wizard-next").click()

    step = pg.get_by_test_id("step-cloudinit")
    step.get_by_test_id("ci-hostname").fill("winwiz")
    step.get_by_test_id("ci-user").fill("admin")
    step.get_by_test_id("ci-password").fill("Passw0rd-wiz")
    pg.get_by_test_id("wizard-next").click()

    step = pg.get_by_test_id("step-review")
    expect(step.get_by_test_id("review-size")).to_contain_text("Windows")
    expect(step.get_by_test_id("review-nics")).to_have_text(f"network {env['network']} (e1000e)")
    step.get_by_test_id("vm-start").uncheck()
    step.locator("summary").click()
    expect(step.get_by_test_id("review-request")).to_contain_text('"os_profile": "windows"')
    pg.get_by_test_id("wizard-next").click()  # "Create VM"

    progress = pg.get_by_test_id("create-progress")
    expect(progress.get_by_test_id("create-task")).to_have_attribute("data-state", "succeeded", timeout=TASK_TIMEOUT_MS)
    vm = web_api.ok("describe-vm", {"name": env["vm"]})["vm"]
    assert vm["os_profile"] == "windows" and vm["state"] == "stopped"
    assert [(d["target"], d["bus"]) for d in vm["disks"] if d["device"] == "disk"] == [("sda", "sata")]
    assert [n["model"] for n in vm["nics"]] == ["e1000e"]
    assert vm["cloud_init"]["seed_volume"]
