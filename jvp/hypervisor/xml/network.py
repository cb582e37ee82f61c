"""The virtual network document (`<network>`), each field JVP reads or builds mapped to its path once.

hypervisor/network.py builds a network's definition and its static DHCP hosts through these classes, and
reads libvirt's document back through them (what the fields mean for a network is decided there).
"""
from __future__ import annotations

from jvp.hypervisor.xml.base import STRIP, XmlChild, XmlChildren, XmlNode, XmlProperty


class DhcpHost(XmlNode):
    """A static DHCP reservation (`<host mac= name= ip=>`; IPv6 also `<host id= name= ip=>`), also the element
    net.update() takes."""
    TAG = "host"
    mac = XmlProperty("./@mac")
    id = XmlProperty("./@id")  # DHCPv6 client DUID
    name = XmlProperty("./@name")
    ip = XmlProperty("./@ip")


class DhcpRange(XmlNode):
    TAG = "range"
    start = XmlProperty("./@start", STRIP)
    end = XmlProperty("./@end", STRIP)


class ForwardInterface(XmlNode):
    TAG = "interface"
    dev = XmlProperty("./@dev")


class Ip(XmlNode):
    TAG = "ip"
    family = XmlProperty("./@family")
    address = XmlProperty("./@address")
    prefix = XmlProperty("./@prefix")
    netmask = XmlProperty("./@netmask")
    dhcp = XmlChild(XmlNode, "./dhcp")
    dhcp_start = XmlProperty("./dhcp/range/@start", STRIP)  # the first range
    dhcp_end = XmlProperty("./dhcp/range/@end", STRIP)
    hosts = XmlChildren(DhcpHost, "./dhcp/host")
    ranges = XmlChildren(DhcpRange, "./dhcp/range")
    tftp_root = XmlProperty("./tftp/@root")
    bootp_file = XmlProperty("./dhcp/bootp/@file")
    bootp_server = XmlProperty("./dhcp/bootp/@server")


class Route(XmlNode):
    TAG = "route"
    address = XmlProperty("./@address")
    prefix = XmlProperty("./@prefix")
    netmask = XmlProperty("./@netmask")


class Network(XmlNode):
    TAG = "network"
    ORDER = ("name", "uuid", "forward", "bridge", "mac", "domain", "ip", "route")
    name = XmlProperty("./name", STRIP)
    uuid = XmlProperty("./uuid", STRIP)
    forward = XmlChild(XmlNode, "./forward")
    forward_mode = XmlProperty("./forward/@mode", STRIP)
    forward_dev = XmlProperty("./forward/@dev")
    forward_interfaces = XmlChildren(ForwardInterface, "./forward/interface")
    mtu = XmlProperty("./mtu/@size", STRIP)
    bridge = XmlProperty("./bridge/@name", STRIP)
    bridge_stp = XmlProperty("./bridge/@stp")
    bridge_delay = XmlProperty("./bridge/@delay")
    domain = XmlProperty("./domain/@name", STRIP)
    domain_local_only = XmlProperty("./domain/@localOnly")
    ips = XmlChildren(Ip, "./ip")
    routes = XmlChildren(Route, "./route")
