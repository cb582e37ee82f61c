"""The create wizard's firmware choices (tier 4): Secure Boot is offered only with UEFI, a TPM with any
firmware; a UEFI VM with a TPM made from a small qcow2 with start=false against the real server and the real
local libvirtd; the request says firmware uefi and tpm true, describe-vm and the VM page show UEFI and the TPM.
Everything is named jvptest-* and removed through the API afterwards."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.web
TASK_TIMEOUT_MS = 180_000


def test_the_wizard_creates_a_uefi_vm_with_a_tpm(logged_in_page, web_api, wizard_place):
    env = wizard_place
    pg = logged_in_page
    pg.get_by_test_id("nav-vms").click()
    pg.get_by_test_id("create-vm").click()
    expect(pg).to_have_url(re.compile(r".*/vms/create/$"))
    step = pg.get_by_test_id("step-basics")
    step.get_by_test_id("vm-name").fill(env["vm"])
    expect(step.get_by_test_id("vm-secure-boot")).to_be_disabled()  # BIOS: Secure Boot is a UEFI feature
    step.get_by_test_id("vm-firmware").select_option("uefi")
    expect(step.get_by_test_id("vm-secure-boot")).to_be_enabled()
    step.get_by_test_id("vm-tpm").check()
    pg.get_by_test_id("wizard-next").click()

    step = pg.get_by_test_id("step-disk")
    step.get_by_test_id("vm-pool").select_option(env["pool"])
    step.get_by_test_id("vm-volume").select_option(env["volume"])
    pg.get_by_test_id("wizard-next").click()
    pg.get_by_test_id("wizard-next").click()  # size: as the base
    step = pg.get_by_test_id("step-network")
    expect(step.get_by_test_id("nic-form")).to_have_count(1)  # a first NIC on an active network, preset
    step.get_by_test_id("nic-source-0").select_option(env["network"])
    pg.get_by_test_id("wizard-next").click()
    step = pg.get_by_test_id("step-cloudinit")
    if step.get_by_test_id("ci-enabled").is_checked():
        step.get_by_test_id("ci-enabled").uncheck()
    pg.get_by_test_id("wizard-next").click()

    step = pg.get_by_test_id("step-review")
    step.get_by_test_id("vm-start").uncheck()
    step.locator("summary").click()
    expect(step.get_by_test_id("review-request")).to_contain_text('"firmware": "uefi"')
    expect(step.get_by_test_id("review-request")).to_contain_text('"tpm": true')
    expect(step.get_by_test_id("review-request")).not_to_contain_text("secure_boot")
    pg.get_by_test_id("wizard-next").click()  # "Create VM"

    progress = pg.get_by_test_id("create-progress")
    expect(progress.get_by_test_id("create-task")).to_have_attribute("data-state", "succeeded", timeout=TASK_TIMEOUT_MS)
    vm = web_api.ok("describe-vm", {"name": env["vm"]})["vm"]
    assert (vm["firmware"], vm["secure_boot"], vm["tpm"], vm["state"]) == ("uefi", False, True, "stopped")
    pg.goto(f"{pg.url.split('/vms/')[0]}/vms/detail/?name={env['vm']}")
    expect(pg.get_by_text("TPM 2.0")).to_be_visible()
