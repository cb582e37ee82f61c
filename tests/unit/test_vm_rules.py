"""VM rules without libvirt: the cloud-init seed checks, MACs, the domain type / CPU mode choice, writable
volumes and NIC sources (on a fake gateway)."""
from __future__ import annotations

import ipaddress
import pytest
import yaml

from jvp.domain.vm_caps import DomainCaps
from jvp.errors import Conflict, InvalidInput, JvpError, NotSupported, PreconditionFailed
from jvp.service.vm import rules as vm_rules
from jvp.service.vm.cloudinit import build_seed, check_user_data
from tests.unit.fakes.vm import FakeVmGateway, FakeVmNodes

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2gHWcMKxDUDhXk7sxnBQ5L3g5tbbC6vZa4kKpaVX+v ops@x"
NET = {"name": "lab", "ipv4": [ipaddress.IPv4Interface("198.18.20.1/24")],
       "dhcp_ranges": [(ipaddress.IPv4Address("198.18.20.100"), ipaddress.IPv4Address("198.18.20.200"))]}
NICS = [{"mac": "52:54:00:00:00:01", "network": "lab"}, {"mac": "52:54:00:00:00:02", "network": None}]


def seed(**kw):
    args = dict(vm_name="vm1", cloud_init=None, user_data=None, nics=NICS, networks={"lab": NET},
                keypair_key=lambda name: KEY)
    args.update(kw)
    return build_seed(**args)


def test_no_cloud_init_no_seed():
    assert seed() is None


def test_structured_seed_has_three_documents():
    s = seed(cloud_init={"hostname": "web-1", "users": [{"name": "bob", "password": "s3cret-Pw", "ssh_keys": [KEY]}],
                         "keypairs": ["ops", "ops"], "network": [{"nic": 0, "ipv4": "198.18.20.10"}]})
    assert set(s.files) == {"meta-data", "user-data", "network-config"}
    meta = yaml.safe_load(s.files["meta-data"])
    assert meta == {"instance-id": s.instance_id, "local-hostname": "web-1"} and s.instance_id.startswith("i-")
    ud = yaml.safe_load(s.files["user-data"])
    assert s.files["user-data"].startswith(b"#cloud-config\n") and ud["hostname"] == "web-1"
    assert ud["users"][1]["name"] == "bob" and b"s3cret-Pw" not in s.files["user-data"]
    assert s.keypairs == ["ops"]
    net = yaml.safe_load(s.files["network-config"])["ethernets"]
    assert net["eth0"]["addresses"] == ["198.18.20.10/24"]  # prefix from the network
    assert net["eth0"]["routes"] == [{"to": "default", "via": "198.18.20.1"}]
    assert net["eth0"]["nameservers"] == {"addresses": ["198.18.20.1"]}
    assert net["eth1"] == {"match": {"macaddress": "52:54:00:00:00:02"}, "set-name": "eth1", "dhcp4": True}
    assert s.iso()[32769:32774] == b"CD001"


def test_raw_user_data_is_passed_through_byte_for_byte():
    raw = "#cloud-config\n# comment kept\nruncmd:\n  - [echo, 'héllo']\nbootcmd: []   \n"
    s = seed(user_data=raw, cloud_init={"hostname": "h2", "network": [{"nic": 1, "ipv4": "192.0.2.7/25",
                                                                       "gateway": "192.0.2.1"}]})
    assert s.files["user-data"] == raw.encode("utf-8")
    assert yaml.safe_load(s.files["meta-data"])["local-hostname"] == "h2"
    assert yaml.safe_load(s.files["network-config"])["ethernets"]["eth1"]["addresses"] == ["192.0.2.7/25"]
    script = "#!/bin/sh\necho [not: yaml\n"
    assert seed(user_data=script).files["user-data"] == script.encode()


@pytest.mark.parametrize("text", ["#cloud-config\nusers: [unclosed\n", "#cloud-config\n- just\n- a list\n",
                                  "#cloud-config\nkey: value\n\tbad-indent: 1\n"])
def test_cloud_config_must_be_a_yaml_mapping(text):
    with pytest.raises(InvalidInput) as e:
        check_user_data(text)
    assert e.value.code == "InvalidUserData"


def test_user_data_excludes_structured_user_fields():
    with pytest.raises(InvalidInput, match="users"):
        seed(user_data="#!/bin/sh\n", cloud_init={"users": [{"name": "x"}]})


@pytest.mark.parametrize("entry,code", [
    ({"nic": 0, "ipv4": "10.1.1.1"}, "IpOutsideNetwork"),
    ({"nic": 0, "ipv4": "198.18.20.0"}, "IpOutsideNetwork"),
    ({"nic": 0, "ipv4": "198.18.20.255"}, "IpOutsideNetwork"),
    ({"nic": 0, "ipv4": "198.18.20.1"}, "IpOutsideNetwork"),
    ({"nic": 0, "ipv4": "198.18.20.150"}, "IpInDhcpRange"),
    ({"nic": 0, "ipv4": "198.18.20.10/16"}, "InvalidInput"),
    ({"nic": 0, "ipv4": "not-an-ip"}, "InvalidInput"),
    ({"nic": 1, "ipv4": "192.0.2.7"}, "InvalidInput"),      # no network: the prefix is needed
    ({"nic": 2, "ipv4": "198.18.20.10"}, "InvalidInput"),   # no such NIC
    ({"nic": 0, "ipv4": "198.18.20.10", "dns": ["nope"]}, "InvalidInput"),
])
def test_static_ip_checks(entry, code):
    with pytest.raises(InvalidInput) as e:
        seed(cloud_init={"network": [entry]})
    assert e.value.code == code and e.value.details["field_errors"]


def test_ssh_keys_and_hostnames_are_checked():
    with pytest.raises(InvalidInput) as e:
        seed(cloud_init={"users": [{"name": "bob", "ssh_keys": ["ssh-rsa AAAA garbage"]}]})
    assert e.value.code == "InvalidSshKey" and "cloud_init.users.0.ssh_keys.0" in e.value.details["field_errors"]
    with pytest.raises(InvalidInput):
        seed(cloud_init={"hostname": "bad_host!"})
    with pytest.raises(InvalidInput, match="unique"):
        seed(cloud_init={"users": [{"name": "a"}, {"name": "a"}]})


def test_macs():
    used = {"52:54:00:00:00:09": "other"}
    assert vm_rules.check_mac("52:54:00:AA:BB:CC", used, "n") == "52:54:00:aa:bb:cc"
    with pytest.raises(Conflict) as e:
        vm_rules.check_mac("52:54:00:00:00:09", used, "n")
    assert e.value.code == "MacInUse" and e.value.details["vm"] == "other"
    for bad in ("52:54:00:00:00", "zz:54:00:00:00:01", "03:00:00:00:00:01"):
        with pytest.raises(InvalidInput):
            vm_rules.check_mac(bad, used, "n")
    mac = vm_rules.random_mac(used)
    assert mac.startswith("52:54:00:") and mac not in used


HOST_MODEL_OK = DomainCaps(published=True, cpu_modes_supported=frozenset({"host-model", "custom"}),
                           cpu_modes_usable=frozenset({"host-model", "custom"}), efi=True)


def types(gw: FakeVmGateway, nodes: FakeVmNodes | None = None, *settings: str) -> vm_rules.DomainTypes:
    return vm_rules.DomainTypes(nodes or FakeVmNodes(), gw, *settings)


def test_auto_falls_back_to_qemu_when_kvm_does_not_run_guests():
    gw, nodes = FakeVmGateway(offered=["qemu", "kvm"], probe=(False, "paused in firmware"), caps=HOST_MODEL_OK), \
        FakeVmNodes()
    chooser = types(gw, nodes)
    dtype, cpu, notes = chooser.choose("local", "default")
    assert (dtype, cpu) == ("qemu", None) and "emulation" in notes[0]
    assert nodes.recorded == [False]
    chooser.choose("local", "default")
    assert gw.probes == 1  # once per node: the answer is kept


def test_auto_uses_kvm_and_host_model_where_they_work():
    gw = FakeVmGateway(offered=["qemu", "kvm"], probe=(True, "ok"), caps=HOST_MODEL_OK)
    assert types(gw).choose("local", "default") == ("kvm", "host-model", [])
    gw = FakeVmGateway(offered=["qemu", "kvm"], caps=DomainCaps(published=False))
    assert types(gw, FakeVmNodes(kvm_usable=True)).choose("local", "default")[:2] == ("kvm", None)  # no domcaps
    assert gw.probes == 0


def test_host_model_that_is_not_usable_here_is_not_chosen():
    caps = DomainCaps(published=True, cpu_modes_supported=frozenset({"host-model"}), cpu_modes_usable=frozenset())
    gw = FakeVmGateway(offered=["kvm"], caps=caps)
    assert types(gw, FakeVmNodes(kvm_usable=True)).choose("local", "p")[:2] == ("kvm", None)
    assert types(gw, FakeVmNodes(kvm_usable=True)).choose("local", "p", cpu_mode="host-model")[1] == "host-model"


def test_explicit_types_and_modes():
    gw = FakeVmGateway(offered=["qemu"], caps=HOST_MODEL_OK)
    assert types(gw, None, "qemu", "none").choose("local", "p") == ("qemu", None, [])
    with pytest.raises(NotSupported):
        types(gw, None, "kvm").choose("local", "p")
    with pytest.raises(NotSupported):
        types(gw, None, "qemu").choose("local", "p", cpu_mode="host-passthrough")
    assert types(FakeVmGateway(offered=["test"])).choose("local", "p")[0] == "test"
    # a driver without domain capabilities: an explicit mode is left to libvirt
    assert types(FakeVmGateway(offered=["qemu"]), None, "qemu").choose("local", "p", "maximum")[1] == "maximum"


# -- volumes and NIC sources ---------------------------------------------------------------------------------
VOL = {"pool": "default", "volume": "data.qcow2", "path": "/pools/default/data.qcow2", "format": "qcow2",
       "capacity_bytes": 2**30, "backing": None}


def test_a_writable_volume_is_no_template_not_used_and_backs_nothing():
    free = FakeVmGateway().vm_references("local")
    vm_rules.check_writable_volume(FakeVmGateway(), "local", VOL, free)
    tpl = {**VOL, "pool": "default_templates_", "path": "/pools/default/_templates_/deb.qcow2"}
    with pytest.raises(Conflict) as e:
        vm_rules.check_writable_volume(FakeVmGateway(), "local", tpl, free)
    assert e.value.code == "VolumeIsTemplate"
    used = FakeVmGateway(users={VOL["path"]: ["web1"]}).vm_references("local")
    with pytest.raises(Conflict) as e:
        vm_rules.check_writable_volume(FakeVmGateway(), "local", VOL, used)
    assert e.value.code == "VolumeInUse" and e.value.details["vms"] == ["web1"]
    # the same file named another way (`//`, `/./`) is the same file
    odd = FakeVmGateway(users={"/pools//default/./data.qcow2": ["web2"]}).vm_references("local")
    with pytest.raises(Conflict) as e:
        vm_rules.check_writable_volume(FakeVmGateway(), "local", VOL, odd)
    assert e.value.details["vms"] == ["web2"]
    gw = FakeVmGateway(dependents={VOL["path"]: ["/pools/default/clone.qcow2"]})
    with pytest.raises(Conflict) as e:
        vm_rules.check_writable_volume(gw, "local", VOL, gw.vm_references("local"), hint="attach a copy")
    assert e.value.code == "VolumeInUse" and e.value.details["dependents"] == ["/pools/default/clone.qcow2"]
    assert e.value.message.endswith("attach a copy")


def test_nic_sources():
    gw = FakeVmGateway(networks={"lab": {"name": "lab", "active": False}}, interfaces={"br0", "eth0"})
    assert vm_rules.check_nic_source(gw, "local", "network", "lab")["name"] == "lab"
    with pytest.raises(PreconditionFailed) as e:
        vm_rules.check_nic_source(gw, "local", "network", "lab", need_active=True)
    assert e.value.code == "NetworkInactive"
    assert vm_rules.check_nic_source(gw, "local", "bridge", "br0") is None
    with pytest.raises(JvpError) as e:
        vm_rules.check_nic_source(gw, "local", "bridge", "br9")
    assert (e.value.status, e.value.code) == (404, "BridgeNotFound")
    with pytest.raises(JvpError) as e:
        vm_rules.check_nic_source(gw, "local", "direct", "eth9")
    assert e.value.code == "InterfaceNotFound"
