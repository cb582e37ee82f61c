"""Links, addresses, default routes and bridges of this machine through rtnetlink (pyroute2's IPRoute).

A fresh IPRoute socket per operation: they are cheap, and sharing one across request threads is not safe.
Every operation runs on one dedicated thread (`run_netlink`): pyroute2's synchronous IPRoute drives an
asyncio loop of its own and fails in a thread where another loop already runs (an async server, a test
driving a browser), and one thread also serializes this process's changes to the host's interfaces.
"""
from __future__ import annotations

import errno
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from jvp.errors import Conflict, JvpError, NotFound, PreconditionFailed

log = logging.getLogger(__name__)
_LOCAL_TABLE = 255  # the kernel's own `local` table: addresses of this host, never a default route
_UNICAST = 1        # RTN_UNICAST
T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def run_netlink(fn: Callable[[], T]) -> T:
    """fn() on the netlink thread; its result or exception comes back to the caller."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlink")
    if threading.current_thread().name.startswith("netlink"):
        return fn()  # already there (a netlink operation calling another)
    return _executor.submit(fn).result()


def netlink_error(exc: NetlinkError, what: str) -> JvpError:
    details = {"netlink_error": {"errno": exc.code, "message": str(exc.args[-1]) if exc.args else str(exc)}}
    if exc.code in (errno.EPERM, errno.EACCES):
        return PreconditionFailed(f"{what} failed: permission denied (JVP needs root or CAP_NET_ADMIN to change "
                                  "host interfaces)", code="PermissionDenied", details=details)
    if exc.code == errno.EEXIST:
        return Conflict(f"{what} failed: an interface of that name exists", code="BridgeExists", details=details)
    if exc.code == errno.ENODEV:
        return NotFound(f"{what} failed: no such interface", code="InterfaceNotFound", details=details)
    return PreconditionFailed(f"{what} failed: {exc}", code="NetlinkError", details=details)


def _kind(msg) -> tuple[str | None, str | None]:
    info = msg.get("IFLA_LINKINFO")
    if not info:
        return None, None
    return info.get("IFLA_INFO_KIND"), info.get("IFLA_INFO_SLAVE_KIND")


def _stp(msg) -> bool | None:
    info = msg.get("IFLA_LINKINFO")
    data = info.get("IFLA_INFO_DATA") if info else None
    state = data.get("IFLA_BR_STP_STATE") if data else None
    return None if state is None else bool(state)


class HostNetwork:
    """The netlink view of this machine; unit tests replace it with a fake of the same methods."""

    def _ipr(self) -> IPRoute:
        return IPRoute()

    # -- reading ------------------------------------------------------------------------------------
    def links(self) -> list[dict[str, Any]]:
        """Every link: name, kind (None for a physical NIC), master, state, mtu, mac, addresses, stp."""
        return run_netlink(self._links)

    def _links(self) -> list[dict[str, Any]]:
        try:
            with self._ipr() as ipr:
                msgs = list(ipr.get_links())
                addrs = list(ipr.get_addr())
        except NetlinkError as exc:
            raise netlink_error(exc, "reading the host's interfaces") from exc
        names = {m["index"]: m.get("IFLA_IFNAME") for m in msgs}
        by_index: dict[int, list[str]] = {}
        for a in addrs:
            if a.get("IFA_ADDRESS") or a.get("IFA_LOCAL"):
                ip = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
                by_index.setdefault(a["index"], []).append(f"{ip}/{a['prefixlen']}")
        out = []
        for m in msgs:
            kind, slave_kind = _kind(m)
            out.append({
                "name": m.get("IFLA_IFNAME"),
                "index": m["index"],
                "kind": kind,
                "slave_kind": slave_kind,
                "master": names.get(m.get("IFLA_MASTER")) if m.get("IFLA_MASTER") else None,
                "state": (m.get("IFLA_OPERSTATE") or "unknown").lower(),
                "mtu": m.get("IFLA_MTU"),
                "mac": m.get("IFLA_ADDRESS"),
                "addresses": by_index.get(m["index"], []),
                "loopback": bool(m["flags"] & 0x8),  # IFF_LOOPBACK
                "stp": _stp(m) if kind == "bridge" else None,
            })
        return sorted(out, key=lambda x: x["name"] or "")

    def addresses(self) -> list[tuple[str, str]]:
        """(interface, address/prefix) for every address of this machine."""
        return [(link["name"], addr) for link in self.links() for addr in link["addresses"]]

    def default_route_links(self) -> set[str]:
        """Interfaces that carry a default route (IPv4 or IPv6, any routing table, multipath included)."""
        return run_netlink(self._default_route_links)

    def _default_route_links(self) -> set[str]:
        try:
            with self._ipr() as ipr:
                names = {m["index"]: m.get("IFLA_IFNAME") for m in ipr.get_links()}
                out: set[str] = set()
                for family in (socket.AF_INET, socket.AF_INET6):
                    for r in ipr.route("dump", family=family):
                        if r["dst_len"] or r["table"] == _LOCAL_TABLE or r["type"] != _UNICAST:
                            continue
                        for oif in self._oifs(r):
                            out.add(names.get(oif))
        except NetlinkError as exc:
            raise netlink_error(exc, "reading the host's routes") from exc
        return {n for n in out if n}

    @staticmethod
    def _oifs(route) -> Iterator[int]:
        if route.get("RTA_OIF"):
            yield route.get("RTA_OIF")
        for hop in route.get("RTA_MULTIPATH") or []:
            if hop.get("oif"):
                yield hop["oif"]

    # -- changing -----------------------------------------------------------------------------------
    def create_bridge(self, name: str, members: list[str], stp: bool) -> None:
        """Create the bridge, enslave the members, bring everything up; undo all of it on any failure."""
        run_netlink(lambda: self._create_bridge(name, members, stp))

    def _create_bridge(self, name: str, members: list[str], stp: bool) -> None:
        enslaved: list[int] = []
        created = False
        with self._ipr() as ipr:
            try:
                ipr.link("add", ifname=name, kind="bridge", br_stp_state=1 if stp else 0)
                created = True
                (bridge,) = ipr.link_lookup(ifname=name)
                for member in members:
                    found = ipr.link_lookup(ifname=member)
                    if not found:
                        raise NotFound(f"interface '{member}' disappeared while bridge '{name}' was created",
                                       code="InterfaceNotFound", details={"interface": member})
                    ipr.link("set", index=found[0], master=bridge)
                    enslaved.append(found[0])
                    ipr.link("set", index=found[0], state="up")
                ipr.link("set", index=bridge, state="up")
            except BaseException as exc:
                self._undo(ipr, name if created else None, enslaved)
                if isinstance(exc, NetlinkError):
                    raise netlink_error(exc, f"creating bridge '{name}'") from exc
                raise

    @staticmethod
    def _undo(ipr: IPRoute, bridge: str | None, enslaved: list[int]) -> None:
        for index in enslaved:
            try:
                ipr.link("set", index=index, master=0)
            except NetlinkError:
                log.warning("could not release interface %s while undoing bridge %s", index, bridge)
        if bridge:
            try:
                for index in ipr.link_lookup(ifname=bridge):
                    ipr.link("del", index=index)
            except NetlinkError:
                log.warning("could not remove bridge %s while undoing its creation", bridge)

    def delete_bridge(self, name: str) -> None:
        """Release the members (they keep their own state) and delete the bridge."""
        run_netlink(lambda: self._delete_bridge(name))

    def _delete_bridge(self, name: str) -> None:
        with self._ipr() as ipr:
            try:
                found = ipr.link_lookup(ifname=name)
                if not found:
                    raise NotFound(f"bridge '{name}' not found on this host", code="BridgeNotFound",
                                   details={"bridge": name})
                for m in ipr.get_links():
                    if m.get("IFLA_MASTER") == found[0]:
                        ipr.link("set", index=m["index"], master=0)
                ipr.link("del", index=found[0])
            except NetlinkError as exc:
                raise netlink_error(exc, f"deleting bridge '{name}'") from exc
