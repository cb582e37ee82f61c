"""The domain document (`<domain>`), each field JVP reads, builds or edits mapped to its path once.

domain_xml builds a new domain from these classes, domain_edit changes an existing one in place through them,
domain_view reads them into the VM view; clone_xml and snapshot_xml use the same fields. A path written here
is written nowhere else: a field JVP starts to use (a disk's cache mode, say) is one line in this module.
"""
from __future__ import annotations

from jvp.hypervisor.xml.base import INT, LOWER, PRESENT, YESNO, Size, XmlChild, XmlChildren, XmlNode, XmlProperty

NS = "urn:jvp:vm:1"                  # JVP's facts, config and live alike
LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"  # virt-install's and virt-manager's OS record
RUNTIME_NS = "urn:jvp:vm-runtime:1"  # live-only facts (when JVP started the domain)
NSMAP = {"jvp": NS}
Q = f"{{{NS}}}"
MIB = 2**20
AGENT_CHANNEL = "org.qemu.guest_agent.0"  # the qemu guest agent's virtio-serial port


# -- devices ---------------------------------------------------------------------------------------------
class DiskSource(XmlNode):
    file = XmlProperty("./@file")
    dev = XmlProperty("./@dev")
    name = XmlProperty("./@name")
    volume = XmlProperty("./@volume")
    pool = XmlProperty("./@pool")
    dir = XmlProperty("./@dir")
    protocol = XmlProperty("./@protocol")        # network disks: rbd, iscsi, nbd, gluster, http, ...
    host_name = XmlProperty("./host/@name")      # network disks: the first host
    host_port = XmlProperty("./host/@port")

    @property
    def path(self) -> str | None:
        """What the disk reads: a file, a block device, a network image name or a pool volume."""
        return self.file or self.dev or self.name or self.volume

    def set_file(self, path: str) -> None:
        """Point at one file; whatever the source named before (a device, a pool volume) goes."""
        self.make().attrib.clear()
        self.file = path


class Disk(XmlNode):
    TAG = "disk"
    ORDER = ("driver", "source", "backingStore", "target", "boot", "readonly", "shareable")
    type = XmlProperty("./@type")
    device = XmlProperty("./@device", default="disk")
    driver = XmlChild(XmlNode, "./driver")
    driver_name = XmlProperty("./driver/@name")
    format = XmlProperty("./driver/@type")
    discard = XmlProperty("./driver/@discard")
    source = XmlChild(DiskSource, "./source")
    backing = XmlChild(DiskSource, "./backingStore/source")  # libvirt's view of a linked clone's chain
    target = XmlProperty("./target/@dev")
    bus = XmlProperty("./target/@bus")
    boot_order = XmlProperty("./boot/@order", INT)
    readonly = XmlProperty("./readonly", PRESENT)
    shareable = XmlProperty("./shareable", PRESENT)

    @property
    def path(self) -> str | None:
        return self.source.path if self.source.exists() else None

    def drop_backing(self) -> None:
        for bs in self.el.findall("backingStore"):
            self.el.remove(bs)


class Interface(XmlNode):
    TAG = "interface"
    ORDER = ("mac", "source", "target", "model")
    type = XmlProperty("./@type")
    mac = XmlProperty("./mac/@address", LOWER)
    source_network = XmlProperty("./source/@network")
    source_bridge = XmlProperty("./source/@bridge")
    source_dev = XmlProperty("./source/@dev")
    source_mode = XmlProperty("./source/@mode")
    tap = XmlChild(XmlNode, "./target")  # the host's tap device: live only
    tap_dev = XmlProperty("./target/@dev")
    model = XmlProperty("./model/@type")


class Graphics(XmlNode):
    TAG = "graphics"
    type = XmlProperty("./@type")
    port = XmlProperty("./@port", INT)
    autoport = XmlProperty("./@autoport", YESNO)
    listen = XmlProperty("./@listen")
    websocket = XmlProperty("./@websocket")
    tls_port = XmlProperty("./@tlsPort")
    listen_type = XmlProperty("./listen/@type")
    listen_address = XmlProperty("./listen/@address")


class Console(XmlNode):
    TAG = "console"
    type = XmlProperty("./@type")
    target_type = XmlProperty("./target/@type")
    target_port = XmlProperty("./target/@port", INT)


class Channel(XmlNode):
    TAG = "channel"
    type = XmlProperty("./@type")
    target_type = XmlProperty("./target/@type")
    target_name = XmlProperty("./target/@name")
    target_state = XmlProperty("./target/@state")


# -- firmware, CPU ---------------------------------------------------------------------------------------
class Boot(XmlNode):
    TAG = "boot"
    dev = XmlProperty("./@dev")


class FirmwareFeature(XmlNode):
    """A feature libvirt's firmware auto-selection must find on (or off) in the firmware it picks."""
    TAG = "feature"
    enabled = XmlProperty("./@enabled", YESNO)
    name = XmlProperty("./@name")             # secure-boot | enrolled-keys


class Os(XmlNode):
    ORDER = ("type", "firmware", "loader", "nvram", "boot")
    firmware = XmlProperty("./@firmware")
    firmware_features = XmlChildren(FirmwareFeature, "./firmware/feature")
    type = XmlProperty("./type")
    arch = XmlProperty("./type/@arch")
    machine = XmlProperty("./type/@machine")
    loader = XmlProperty("./loader")
    loader_type = XmlProperty("./loader/@type")
    loader_secure = XmlProperty("./loader/@secure", YESNO)  # a firmware chosen by path: its Secure Boot
    kernel = XmlProperty("./kernel")    # direct kernel boot: files on the node the VM reads at start
    initrd = XmlProperty("./initrd")
    dtb = XmlProperty("./dtb")
    nvram = XmlChild(XmlNode, "./nvram")
    nvram_file = XmlProperty("./nvram")
    nvram_template = XmlProperty("./nvram/@template")
    boots = XmlChildren(Boot, "./boot")


class Cpu(XmlNode):
    mode = XmlProperty("./@mode")
    check = XmlProperty("./@check")
    sockets = XmlProperty("./topology/@sockets", INT)
    dies = XmlProperty("./topology/@dies", INT)
    cores = XmlProperty("./topology/@cores", INT)
    threads = XmlProperty("./topology/@threads", INT)
    topology = XmlChild(XmlNode, "./topology")
    numa = XmlProperty("./numa", PRESENT)


class Tpm(XmlNode):
    TAG = "tpm"
    ORDER = ("backend",)
    model = XmlProperty("./@model")                     # tpm-crb | tpm-tis
    backend_type = XmlProperty("./backend/@type")       # emulator (swtpm) | passthrough | external
    backend_version = XmlProperty("./backend/@version")  # 2.0 | 1.2


# -- Windows guests (hypervisor/domain_windows.py builds these) -----------------------------------------
class Hyperv(XmlNode):
    """`<features><hyperv>`: Hyper-V enlightenments (each feature `<name state='on'/>`)."""
    mode = XmlProperty("./@mode")
    relaxed = XmlProperty("./relaxed/@state")
    vapic = XmlProperty("./vapic/@state")
    spinlocks = XmlProperty("./spinlocks/@state")
    spinlock_retries = XmlProperty("./spinlocks/@retries", INT)
    vpindex = XmlProperty("./vpindex/@state")
    runtime = XmlProperty("./runtime/@state")
    synic = XmlProperty("./synic/@state")
    stimer = XmlProperty("./stimer/@state")
    reset = XmlProperty("./reset/@state")
    frequencies = XmlProperty("./frequencies/@state")


class Timer(XmlNode):
    TAG = "timer"
    name = XmlProperty("./@name")
    present = XmlProperty("./@present")
    tickpolicy = XmlProperty("./@tickpolicy")


class Clock(XmlNode):
    offset = XmlProperty("./@offset")
    timers = XmlChildren(Timer, "./timer")

    def timer(self, name: str) -> Timer | None:
        return next((t for t in self.timers if t.name == name), None)


class Input(XmlNode):
    TAG = "input"
    type = XmlProperty("./@type")
    bus = XmlProperty("./@bus")


# -- JVP's facts (<metadata><jvp:vm>) --------------------------------------------------------------------
class Keypair(XmlNode):
    TAG = "jvp:keypair"
    NSMAP = NSMAP
    name = XmlProperty("./@name")


class Label(XmlNode):
    TAG = "jvp:label"
    NSMAP = NSMAP
    key = XmlProperty("./@key")
    value = XmlProperty(".", default="")


class Facts(XmlNode):
    """What libvirt does not model, under JVP's namespace in <metadata>: it travels with the domain."""
    TAG = "jvp:vm"
    NSMAP = NSMAP
    created_at = XmlProperty("./jvp:created-at")
    created_by = XmlProperty("./jvp:created-by")
    description = XmlProperty("./jvp:description")
    template_el = XmlChild(XmlNode, "./jvp:template")   # text: the name; attributes: pool, volume
    system_disk = XmlProperty("./jvp:system-disk/@target")
    keypairs_el = XmlChild(XmlNode, "./jvp:keypairs")
    keypair_list = XmlChildren(Keypair, "./jvp:keypairs/jvp:keypair")
    labels_el = XmlChild(XmlNode, "./jvp:labels")
    label_list = XmlChildren(Label, "./jvp:labels/jvp:label")
    instance_id = XmlProperty("./jvp:cloud-init/@instance-id")
    seed_pool = XmlProperty("./jvp:cloud-init/@pool")
    seed_volume = XmlProperty("./jvp:cloud-init/@volume")
    cloud_init_el = XmlChild(XmlNode, "./jvp:cloud-init")
    cloned_from_el = XmlChild(XmlNode, "./jvp:cloned-from")
    os_profile = XmlProperty("./jvp:os-profile")       # windows (a linux VM records nothing)

    # compound facts: a value spread over an element's text and attributes, or a list of elements
    @property
    def template(self) -> dict[str, str] | None:
        el = self.template_el.el
        return {"name": (el.text or "").strip(), **dict(el.attrib)} if el is not None else None

    @template.setter
    def template(self, value: dict[str, str] | None) -> None:
        self.template_el.remove()
        if value:
            el = self.template_el.make()
            el.attrib.update({k: v for k, v in value.items() if k != "name" and v})
            el.text = value.get("name") or ""

    @property
    def keypairs(self) -> list[str]:
        return [k.name for k in self.keypair_list]

    @keypairs.setter
    def keypairs(self, names: list[str] | None) -> None:
        self.keypairs_el.remove()
        for name in names or []:
            self.keypair_list.add(Keypair.new(name=name))

    @property
    def labels(self) -> dict[str, str]:
        return {lb.key: lb.value for lb in self.label_list}

    @labels.setter
    def labels(self, labels: dict[str, str] | None) -> None:
        self.labels_el.remove()
        for key, value in sorted((labels or {}).items()):
            self.label_list.add(Label.new(key=key, value=value))

    @property
    def cloned_from(self) -> dict[str, str] | None:
        el = self.cloned_from_el.el
        return dict(el.attrib) if el is not None else None

    @cloned_from.setter
    def cloned_from(self, value: dict[str, str] | None) -> None:
        self.cloned_from_el.remove()
        if value:
            self.cloned_from_el.make().attrib.update(value)


class Runtime(XmlNode):
    """Live-only facts JVP files with virDomainSetMetadata (when JVP started the domain)."""
    started_at = XmlProperty("./@started-at")


# -- the domain ------------------------------------------------------------------------------------------
class Domain(XmlNode):
    TAG = "domain"
    NSMAP = {"jvp": NS, "rt": RUNTIME_NS, "libosinfo": LIBOSINFO_NS}
    ORDER = ("name", "uuid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory",
             "vcpu", "vcpus", "os", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash",
             "devices")
    type = XmlProperty("./@type")
    name = XmlProperty("./name")
    uuid = XmlProperty("./uuid")
    description = XmlProperty("./description")
    facts = XmlChild(Facts, "./metadata/jvp:vm")
    runtime = XmlChild(Runtime, "./metadata/rt:runtime")
    libosinfo_os = XmlProperty("./metadata/libosinfo:libosinfo/libosinfo:os/@id")  # http://microsoft.com/win/10
    max_memory_bytes = XmlProperty("./maxMemory", Size())
    memory_mib = XmlProperty("./memory", Size(MIB))
    current_memory_mib = XmlProperty("./currentMemory", Size(MIB))
    vcpus = XmlProperty("./vcpu", INT, default=1)
    vcpu_placement = XmlProperty("./vcpu/@placement")
    vcpu_current = XmlProperty("./vcpu/@current")
    vcpu_list = XmlChild(XmlNode, "./vcpus")
    os = XmlChild(Os, "./os")
    cpu = XmlChild(Cpu, "./cpu")
    smm = XmlProperty("./features/smm/@state")  # on: System Management Mode (OVMF's Secure Boot needs it)
    disks = XmlChildren(Disk, "./devices/disk")
    interfaces = XmlChildren(Interface, "./devices/interface")
    graphics = XmlChildren(Graphics, "./devices/graphics")
    consoles = XmlChildren(Console, "./devices/console")
    channels = XmlChildren(Channel, "./devices/channel")
    tpms = XmlChildren(Tpm, "./devices/tpm")
    inputs = XmlChildren(Input, "./devices/input")
    hyperv = XmlChild(Hyperv, "./features/hyperv")
    clock = XmlChild(Clock, "./clock")

    @property
    def started_at(self) -> str | None:
        return self.runtime.started_at

    def disk(self, target: str) -> Disk | None:
        return next((d for d in self.disks if d.target == target), None)

    def interface(self, mac: str) -> Interface | None:
        mac = mac.lower()
        return next((n for n in self.interfaces if n.mac == mac), None)

    def ensure_facts(self) -> Facts:
        """JVP's facts element, made (with <metadata> where libvirt puts it) when the domain has none."""
        facts = self.facts
        facts.make()
        return facts

