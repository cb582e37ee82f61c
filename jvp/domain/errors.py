"""Every error code JVP can answer with, in one table: code -> HTTP status and what it means.

The code (in `{"error": {"code": ...}}`, in a task's `error.code`, or in a listing's `errors[].code`) is stable:
clients branch on it. This table is the one place a code is described; README's error tables and the OpenAPI
document's per-action error lists are generated from it:

    python -m jvp.domain.errors_markdown --markdown   # the whole table as markdown
    python -m jvp.api.error_docs --write-readme       # rewrite README's generated tables in place

Raising a code that is not in the table fails tests/unit/test_error_codes.py (a static scan of jvp/ for
every code literal and the codes derived by not_found()/already_exists()/the libvirt error table), and an
action's `errors=(...)` naming an unknown code fails it too.

`generic` codes can come from any action (the HTTP layer, authentication, request validation, the node a
request names, the metadata store, an unexpected failure); actions do not declare them. `also` lists other
statuses the same code answers with in some places (kept as they are: clients see them today).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    meaning: str
    generic: bool = False
    also: tuple[int, ...] = ()

    @property
    def statuses(self) -> tuple[int, ...]:
        return (self.status, *self.also)


def _e(code: str, status: int, meaning: str, *, generic: bool = False, also: tuple[int, ...] = ()) -> ErrorCode:
    return ErrorCode(code, status, meaning, generic, also)


_ENTRIES = [
    # -- generic (any action: the HTTP layer, auth, validation, the node named, libvirt's fallbacks, the
    #    store, a bug), and the libvirt-table codes an action declares when it can meet them -----------
    _e("ValidationFailed", 400, "the request does not fit the action's schema (a bad name, a missing or "
       "unknown field, 1.5 for an integer, NUL, a control character, a lone surrogate or a non-character in a "
       "string); `details.field_errors` says which field and why", generic=True),
    _e("InvalidJson", 400, "the body is not a JSON object (send Content-Type: application/json)", generic=True),
    _e("JsonTooDeep", 400, "the JSON body nests deeper than 32 levels", generic=True),
    _e("InvalidInput", 400, "an input the schema allows but the rules refuse; the message says which and "
       "why (also libvirt's refusal of an argument or XML)"),
    _e("Unauthorized", 401, "no token, an unknown or revoked token: send `Authorization: Bearer <token>`",
       generic=True),
    _e("TokenExpired", 401, "the token has expired: create a new one (`jvp token create`)", generic=True),
    _e("InvalidToken", 401, "the Authorization header or token is malformed", generic=True),
    _e("Forbidden", 403, "the token's role is below the action's role (`details.required_role`)", generic=True),
    _e("UnknownAction", 404, "no action of that name (`details.suggestions`; see GET /api/openapi.json)",
       generic=True),
    _e("NotFound", 404, "no such path", generic=True),
    _e("MethodNotAllowed", 405, "actions are called with POST", generic=True),
    _e("HttpError", 400, "an HTTP-level refusal of the request (its status is the HTTP one)", generic=True,
       also=(411, 415, 500)),
    _e("PayloadTooLarge", 413, "the JSON body exceeds `max_body_bytes` (a chunked one too)", generic=True),
    _e("BadHttpRequest", 400, "the HTTP server refused the request before JVP read it: a malformed request "
       "line, header, Content-Length or chunked body (501: a transfer coding other than chunked)",
       generic=True, also=(403, 417, 501)),
    _e("RequestTimeout", 408, "the request's head or JSON body did not arrive within `http.header_timeout_s` "
       "/ `http.body_timeout_s`", generic=True),
    _e("UriTooLong", 414, "the request line is longer than 4094 bytes", generic=True),
    _e("HeadersTooLarge", 431, "a header line is longer than 8190 bytes, more than 100 headers, or a head "
       "over 64 KiB", generic=True),
    _e("ServerBusy", 503, "the worker holds `http.max_connections` connections, all busy: retry shortly",
       generic=True),
    _e("UiNotBuilt", 503, "the web UI is not built (`make web`); the API works without it", generic=True),
    _e("NodeNotFound", 404, "the node the request names is not known: see list-nodes", generic=True),
    _e("NodeUnreachable", 502, "libvirt on the node does not answer (down, network, libvirtd stopped); "
       "retry, or check the node", generic=True),
    _e("NodeAuthFailed", 502, "the node refused JVP's credentials (libvirt or SSH authentication)",
       generic=True),
    _e("NodeAccessDenied", 502, "libvirt on the node denied the operation to JVP's connection", generic=True),
    _e("NodeTimeout", 502, "the node did not answer in `node_timeout_s` (in a listing's `errors`)",
       generic=True),
    _e("OperationTimeout", 409, "libvirt timed out waiting for another job on the object (a state change "
       "lock): retry later", generic=True),
    _e("OperationFailed", 422, "libvirt could not carry out the operation; `details.libvirt_error` says why",
       generic=True),
    _e("LibvirtError", 422, "libvirt refused with an error JVP has no better code for; "
       "`details.libvirt_error` keeps its text", generic=True),
    _e("InvalidState", 409, "the object is not in a state that allows this (e.g. not running, already "
       "active)"),
    _e("ResourceBusy", 409, "another operation holds the object right now (a task, an upload, libvirt's "
       "job): retry when it ends"),
    _e("NotSupported", 422, "the node's hypervisor or libvirt does not support this"),
    _e("Cancelled", 409, "the operation was aborted on the node", generic=True),
    _e("MetadataCorrupt", 422, "a metadata file under the data dir does not validate (`details.path`); "
       "JVP never overwrites it: `jvp doctor --fix` moves it aside", generic=True),
    _e("MetadataLocked", 409, "another process has held a metadata file's lock for over 30 s: retry",
       generic=True),
    _e("MetadataInvalid", 500, "JVP was about to write metadata its schema refuses or that would not read "
       "back (a bug); the old file is left as it was", generic=True),
    _e("InternalError", 500, "a bug: the server log has the details under the request id", generic=True),
    _e("Conflict", 409, "a conflict with the object's current state", generic=True),
    _e("PreconditionFailed", 422, "a precondition on the host is not met", generic=True),
    # -- nodes ----------------------------------------------------------------------------------------------
    _e("NodeExists", 409, "a node of that name exists (`local` always does)"),
    _e("NodeUriInUse", 409, "another node already has this URI"),
    _e("InvalidUri", 400, "not a libvirt URI JVP can use"),
    _e("InvalidName", 400, "not a usable node name"),
    _e("LocalNodeUri", 400, "the local node's URI comes from the configuration (`local_uri`)"),
    _e("NodeIsLocal", 409, "the local node cannot be deleted"),
    _e("NodeInMaintenance", 409, "the node is in maintenance: nothing new is created on it (enable-node)"),
    _e("NodeCapacityExceeded", 422, "the node has too few CPUs or too little free memory for the VM"),
    _e("NodeDeviceNotFound", 404, "no such host device on the node"),
    _e("SecretNotFound", 404, "no such libvirt secret on the node"),
    _e("NwfilterNotFound", 404, "no such libvirt network filter on the node"),
    _e("MigrationUnsafe", 422, "libvirt considers the migration unsafe (disk cache mode, storage)"),
    _e("SshHostKeyUnknown", 422, "the node's SSH host key is not in JVP's known_hosts: add it first"),
    _e("SshHostKeyMismatch", 422, "the node's SSH host key differs from the known one: check the host"),
    # -- tokens ---------------------------------------------------------------------------------------------
    _e("TokenExists", 409, "a token of that name exists"),
    _e("TokenNotFound", 404, "no token of that name"),
    _e("RevokeOwnToken", 409, "a token cannot revoke itself: revoke it with another admin token or the CLI"),
    # -- storage pools and volumes ----------------------------------------------------------------------------
    _e("StoragePoolNotFound", 404, "no storage pool of that name on the node"),
    _e("StoragePoolExists", 409, "a storage pool of that name (or its built target) exists on the node"),
    _e("StoragePoolPathInUse", 409, "another pool of the node uses this path"),
    _e("PoolPathNotDirectory", 409, "the pool's path exists and is not a directory"),
    _e("StoragePoolInUse", 409, "VMs have disks in the pool (`details.vms`)"),
    _e("StoragePoolNotEmpty", 409, "the pool holds volumes: delete them or pass `delete_volumes`"),
    _e("StoragePoolIsInternal", 409, "the pool is JVP's `<pool>_templates_` pool: use the storage pool "
       "instead (400 from register-template)", also=(400,)),
    _e("StoragePoolInactive", 422, "the pool is not running: start it (start-storage-pool)"),
    _e("InvalidPoolPath", 400, "a relative path, `..`, or a system directory"),
    _e("InvalidPoolSource", 400, "a missing, unknown or malformed pool source field"),
    _e("ReservedName", 400, "a pool name ending in `_templates_` is JVP's"),
    _e("VolumeNotFound", 404, "no volume of that name in the pool"),
    _e("BackingVolumeNotFound", 404, "the backing volume of an overlay does not exist"),
    _e("VolumeExists", 409, "a volume of that name exists in the pool"),
    _e("VolumeInUse", 409, "a VM uses the volume: as a disk or cdrom, a kernel, initrd, dtb, loader or NVRAM "
       "file, or under one of its disks (a backing chain); a running one, for a download (`details.vms`)"),
    _e("VolumeHasDependents", 409, "other volumes are backed by this one (`details.volumes`)"),
    _e("VolumeIsInternal", 409, "the volume is a template image JVP manages"),
    _e("VolumeIsTemplate", 409, "the volume is a template's base image: create a VM from the template"),
    _e("VolumeShrinkRefused", 400, "a volume is never made smaller"),
    _e("StoragePoolUnreadable", 422, "libvirt fails to describe the pool or list its volumes (a failed refresh): "
       "the pool's row carries it as a problem, a volume listing names it in `errors`"),
    _e("VolumeUnreadable", 422, "libvirt fails to describe the volume (its file vanished): a problem on its row"),
    _e("FigureUnknown", 422, "libvirt reported a size as a wrapped negative number (>= 2^63): shown as null, "
       "with this problem on the row"),
    _e("FiguresInconsistent", 422, "a pool's allocation exceeds its capacity: both shown as libvirt reports them, "
       "the free space as null, with this problem on the row"),
    _e("InvalidSize", 400, "a size that cannot be used (an overlay smaller than its base)"),
    _e("FormatNotSupported", 400, "the pool or source cannot hold this format (qcow2 or backing volumes in a "
       "block pool; 422 for a clone into a non-file pool)", also=(422,)),
    _e("InsufficientSpace", 422, "the pool has too little free space: free some or pick another pool"),
    _e("LengthRequired", 411, "an upload without Content-Length"),
    _e("EmptyUpload", 400, "an upload with an empty body"),
    _e("UploadIncomplete", 400, "the body ended before its Content-Length (nothing is kept)"),
    _e("InvalidUploadBody", 400, "an upload sent with a content type other than raw bytes"),
    _e("FormatMismatch", 400, "the data is not in the declared format"),
    _e("BackingFileNotAllowed", 400, "a qcow2 image naming a backing file (it would let a guest read a file "
       "of the node)"),
    # -- tasks ----------------------------------------------------------------------------------------------
    _e("TaskNotFound", 404, "no task with that id (or it was pruned)"),
    _e("TaskFinished", 409, "the task already ended; only pending or running tasks can be cancelled"),
    _e("TaskCancelled", 409, "the task was cancelled (cancel-task); in the task's `error`"),
    _e("TaskInterrupted", 500, "JVP stopped while the task ran; in the task's `error` (its partial output "
       "is removed)"),
    # -- templates and image downloads -------------------------------------------------------------------------
    _e("TemplateNotFound", 404, "no template of that name on the node"),
    _e("TemplateExists", 409, "a template of that name exists on the node"),
    _e("TemplateInUse", 409, "VMs are linked clones of the template's image (`details.volumes`)"),
    _e("TemplateUsageUnknown", 409, "JVP cannot tell whether the template is in use (a pool cannot be "
       "listed): retry when the node's pools answer"),
    _e("TemplateUpToDate", 409, "the source has not changed: pass `force` to download anyway"),
    _e("TemplateImageMissing", 422, "the template's image volume is gone from the node"),
    _e("TemplateBroken", 422, "the template is marked broken (its image was missing, or its size or mtime "
       "changed, when JVP last looked; or libvirt now reads it as another format than the registered one): "
       "verify-template checks it again"),
    _e("ImageChanged", 422, "verify-template: the image's content no longer matches its recorded checksum "
       "(in the task's `error`; the template stays broken)"),
    _e("VmNotFromTemplate", 422, "rebuild-vm: the VM was not created from a template; name one with `template`"),
    _e("VmHasSnapshots", 409, "rebuild-vm: the VM has snapshots, which live in (or depend on) the system disk a "
       "rebuild replaces; delete them first"),
    _e("CloudInitSeedMissing", 422, "rebuild-vm: the VM's cloud-init seed volume is gone, so its settings "
       "cannot be applied again: give `cloud_init` (or `user_data`)"),
    _e("SystemDiskNotRebuildable", 422, "rebuild-vm: the VM's system disk is not a volume of a storage pool of "
       "the node (or it has none), so JVP cannot put a new one in its place"),
    _e("TemplatesNotSupported", 422, "the pool's type cannot hold template images (a dir, fs or netfs pool "
       "can)"),
    _e("NotUpdatable", 422, "only a template registered from a URL can be updated from its source"),
    _e("DownloadInProgress", 409, "the same image is being downloaded already"),
    _e("InvalidUrl", 400, "not a usable URL (length, spaces, control characters)"),
    _e("UnsupportedUrlScheme", 400, "a URL other than http(s)"),
    _e("AddressNotAllowed", 400, "the URL, a redirect from it or an address its host resolves to is loopback, "
       "link-local, private or otherwise not public (`download.allow_private`), or JVP itself"),
    _e("PathNotAllowed", 400, "a file source outside `download.file_dirs`"),
    _e("SourceFileNotFound", 400, "the file source does not exist"),
    _e("FileSourceDisabled", 422, "file sources are off (`download.file_dirs` is empty)"),
    _e("ChecksumMismatch", 400, "the download's checksum differs from the expected one (in the task)"),
    _e("ChecksumNotFound", 422, "the checksum file has no line for the image"),
    _e("ChecksumFileTooLarge", 422, "the \"checksum file\" is over 1 MiB"),
    _e("NotADiskImage", 400, "the file is not a qcow2 or raw disk image (in the task)"),
    _e("DownloadTooLarge", 413, "the download exceeds `download.max_bytes` (in the task)"),
    _e("DownloadWriteFailed", 422, "the partial file cannot be written on the JVP server (disk full, "
       "permissions)"),
    _e("SourceChanged", 422, "a file source changed while it was sent"),
    _e("SourceNotFound", 422, "nothing at the URL (404 or 410 from the source)"),
    _e("RedirectLoop", 422, "the source's redirects loop"),
    _e("TooManyRedirects", 422, "the source redirects too many times"),
    _e("InvalidRedirect", 422, "the source redirects to a non-HTTP URL or to a URL with credentials"),
    _e("DownloadFailed", 502, "the source answered with an error or broke off"),
    _e("SourceUnreachable", 502, "the source cannot be reached (DNS, connection, timeout)"),
    _e("TlsError", 502, "the source's TLS certificate or handshake failed"),
    _e("QemuImgMissing", 422, "qemu-img is not installed on the JVP server (apt-get install qemu-utils)"),
    _e("QemuImgFailed", 500, "qemu-img ran but gave no answer JVP can read (422 when it refuses a "
       "snapshot's disk)", also=(422,)),
    # -- networks and host bridges ----------------------------------------------------------------------------
    _e("NetworkNotFound", 404, "no network of that name on the node"),
    _e("NetworkExists", 409, "a network of that name exists on the node"),
    _e("NetworkActive", 409, "the network is running: stop it first"),
    _e("NetworkInactive", 409, "the network is not running: start it (422 when a VM's NIC would join it)",
       also=(422,)),
    _e("NetworkInUse", 409, "VMs have NICs on the network (`details.vms`)"),
    _e("SubnetOverlap", 409, "the subnet overlaps another network of the node"),
    _e("SubnetInUseOnHost", 409, "the subnet is in use by an interface of the node"),
    _e("NetworkHostNotFound", 404, "no static host with that MAC, IP or name in the network"),
    _e("NetworkHostAmbiguous", 409, "several static hosts match: name the one by its MAC"),
    _e("NetworkXmlUnreadable", 422, "a network's definition cannot be read in full (unparsable XML, an <ip> "
       "libvirt derives no prefix for); a `problems[]` entry of its row, never an answer's error"),
    _e("HostIpTaken", 409, "another static host has this IP"),
    _e("HostMacTaken", 409, "another static host has this MAC"),
    _e("HostnameTaken", 409, "another static host has this name"),
    _e("HostIpOutsideSubnet", 400, "the host's IP is not in the network's subnet"),
    _e("DhcpNotEnabled", 422, "the network has no DHCP range: static hosts need one"),
    _e("HostBridgeMissing", 422, "the host bridge a bridged network names does not exist on the node"),
    _e("InvalidCidr", 400, "not an address with a usable prefix"),
    _e("CidrRequired", 400, "a NAT or isolated network needs a CIDR"),
    _e("InvalidDhcpRange", 400, "the DHCP range is outside the subnet or reversed"),
    _e("InvalidNetworkOption", 400, "an option that does not fit the network's mode"),
    _e("InvalidBridgeName", 400, "not a Linux interface name (at most 15 characters)"),
    _e("InvalidDomain", 400, "not a DNS name"),
    _e("InvalidMac", 400, "not a unicast MAC address"),
    _e("InvalidIp", 400, "not an IP address"),
    _e("InvalidHostname", 400, "not a host name"),
    _e("InvalidInterface", 400, "an interface listed twice, the bridge itself, or one that cannot join a "
       "bridge"),
    _e("BridgeNotFound", 404, "no such bridge on the node"),
    _e("BridgeExists", 409, "an interface of that name exists on the host"),
    _e("BridgeInUse", 409, "a libvirt network or a VM's NIC uses the bridge"),
    _e("InterfaceNotFound", 404, "no such interface on the node"),
    _e("InterfaceInUse", 409, "the interface already has a master"),
    _e("InterfaceProtected", 409, "the interface carries the host's addresses or default route: pass "
       "`force`"),
    _e("NotSupportedOnRemoteNode", 422, "host bridges are managed on the local node only"),
    _e("PermissionDenied", 422, "the kernel refused the netlink change (JVP needs CAP_NET_ADMIN)"),
    _e("NetlinkError", 422, "any other netlink failure (`details.netlink_error`)"),
    # -- VMs ------------------------------------------------------------------------------------------------
    _e("InvalidMetricsStep", 400, "step_s does not fit the window: below the collector's interval (5 minutes "
       "for windows over a day), above window_s, or more than 10,000 points (`details`)"),
    _e("VmNotFound", 404, "no VM of that name on the node"),
    _e("VmDefinitionUnreadable", 422, "a problem of a listed VM (`problems[].code`): libvirt's definition of "
       "it (its XML, or JVP's metadata in it) could not be read; the VM is listed and described with what "
       "libvirt told apart from it"),
    _e("VmExists", 409, "a VM of that name exists on the node"),
    _e("DiskNotFound", 404, "the VM has no disk with that target"),
    _e("NicNotFound", 404, "the VM has no NIC with that MAC"),
    _e("CdromNotFound", 404, "the VM has no CD-ROM drive with that target"),
    _e("SystemDisk", 409, "the system disk cannot be detached"),
    _e("InvalidDeviceChange", 409, "the VM's document cannot take this device change"),
    _e("MacInUse", 409, "another NIC on the node has this MAC"),
    _e("GuestAgentUnavailable", 422, "the guest agent does not answer (not installed, not started yet)"),
    _e("InvalidSshKey", 400, "an SSH public key for cloud-init does not parse"),
    _e("InvalidUserData", 400, "the cloud-init user data is not valid YAML or cloud-config"),
    _e("IpInDhcpRange", 400, "a static IP inside the network's DHCP range"),
    _e("IpOutsideNetwork", 400, "a static IP outside the network's subnet"),
    # -- migration ------------------------------------------------------------------------------------------
    _e("MigrationSameHost", 409, "the target node is the VM's node, or the same libvirt host (host UUID)"),
    _e("MigrationCpuIncompatible", 422, "the guest's CPU is not compatible with the target's hypervisor CPU"),
    _e("MigrationMachineUnsupported", 422, "the target offers no such domain type or machine type for the "
       "guest's arch"),
    _e("MigrationStorageNotShared", 409, "a disk is not on storage the target sees, and copy_storage is none "
       "(or the file is in no pool, so JVP cannot copy it)"),
    _e("MigrationStoragePathMismatch", 409, "the target's pool of the same name is at another path: a copied "
       "disk must land at the same path"),
    _e("NoNodeAvailable", 409, "create-vm with node \"auto\": no enabled node has what the VM asks for "
       "(`details.nodes`: each node's reason)"),
    _e("MigrationFailed", 422, "libvirt or QEMU failed the move (`details.libvirt_error`); the VM stays on "
       "the source"),
    # -- keypairs -------------------------------------------------------------------------------------------
    _e("KeypairNotFound", 404, "no keypair of that name"),
    _e("KeypairExists", 409, "the name is taken"),
    _e("DuplicateKey", 409, "the same public key is stored under another name (`details.keypair`)"),
    _e("InvalidPublicKey", 400, "the key does not parse, is more than one line, or is RSA under 2048 bits"),
    # -- snapshots ------------------------------------------------------------------------------------------
    _e("SnapshotNotFound", 404, "no snapshot of that name on the VM"),
    _e("SnapshotXmlUnreadable", 422, "a snapshot's document cannot be read; a `problems[]` entry of its row, "
       "never an answer's error"),
    _e("SnapshotExists", 409, "a snapshot of that name exists on the VM"),
    _e("SnapshotsChanged", 409, "the VM's snapshots changed while a disk was read: retry"),
    _e("SnapshotFailed", 422, "libvirt could not take the snapshot (`details.libvirt_error`)"),
    _e("SnapshotDeleteRefused", 422, "libvirt cannot delete this snapshot (external snapshots with "
       "children)"),
    _e("SnapshotIncomplete", 422, "the snapshot does not hold the disks needed (the system disk, writable "
       "disks)"),
    _e("SnapshotDataMissing", 422, "the disk image holds no internal snapshot of that name"),
    _e("DiskNotReadable", 422, "a disk of the snapshot is no longer a volume JVP can read"),
    _e("DiskNotSnapshottable", 422, "a disk of the VM cannot be snapshotted (a raw or block disk)"),
    # -- consoles -------------------------------------------------------------------------------------------
    _e("ConsoleNotAvailable", 422, "the VM has no console of that type (or is not running)"),
    _e("ConsoleUnreachable", 502, "the console's endpoint on the node cannot be reached"),
    _e("ConsoleLimitReached", 503, "the worker's `console.max_sessions` are all open (the token stays "
       "unspent)"),
    _e("ConsoleTokenMissing", 401, "the websocket URL carries no console token"),
    _e("InvalidConsoleToken", 401, "not a console token, or unknown or already used: ask get-vm-console"),
    _e("ConsoleTokenExpired", 401, "the console token expired: ask get-vm-console again"),
    _e("ConsoleTokenMismatch", 403, "the token opens another VM's console or another console type"),
    _e("OriginNotAllowed", 403, "the websocket's Origin is not this server"),
    _e("WebSocketRequired", 400, "the console or events URL needs a websocket upgrade"),
    _e("WebSocketHandshakeFailed", 400, "the websocket handshake is malformed"),
    _e("WebSocketUnsupported", 500, "the server cannot upgrade this connection to a websocket"),
    # -- the events stream ----------------------------------------------------------------------------------
    _e("EventStreamLimitReached", 503, "the worker's `events.max_streams` event streams are all open"),
]

ERRORS: dict[str, ErrorCode] = {}
for _entry in _ENTRIES:
    if _entry.code in ERRORS:
        raise ValueError(f"error code {_entry.code} is in the table twice")
    ERRORS[_entry.code] = _entry
GENERIC: frozenset[str] = frozenset(c for c, e in ERRORS.items() if e.generic)


def lookup(code: str) -> ErrorCode:
    """The table's entry; KeyError for a code JVP does not know (a test keeps jvp/ free of those)."""
    return ERRORS[code]


def unknown(codes: Iterable[str]) -> list[str]:
    return sorted(set(codes) - set(ERRORS))
