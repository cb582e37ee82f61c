"""The storage pool (`<pool>`) and volume (`<volume>`) documents, each field mapped to its path once.

storage_xml builds the definitions JVP hands to libvirt and reads libvirt's back through these classes.
Sizes are bytes: libvirt reports them in bytes, and JVP writes them so (`unit='bytes'`).
"""
from __future__ import annotations

from jvp.hypervisor.xml.base import INT, STRIP, Size, XmlChild, XmlChildren, XmlNode, XmlProperty

BYTES = Size(1, default_unit="bytes", write_unit="bytes")


class PoolHost(XmlNode):
    TAG = "host"
    name = XmlProperty("./@name")
    port = XmlProperty("./@port")


class PoolDevice(XmlNode):
    TAG = "device"
    path = XmlProperty("./@path")


class PoolSource(XmlNode):
    hosts = XmlChildren(PoolHost, "./host")
    port = XmlProperty("./host/@port", INT)    # the first host's
    dir = XmlProperty("./dir/@path", STRIP)
    devices = XmlChildren(PoolDevice, "./device")
    initiator_iqn = XmlProperty("./initiator/iqn/@name", STRIP)
    name = XmlProperty("./name", STRIP)
    format = XmlProperty("./format/@type", STRIP)
    auth = XmlChild(XmlNode, "./auth")
    auth_type = XmlProperty("./auth/@type")
    auth_username = XmlProperty("./auth/@username")
    secret = XmlChild(XmlNode, "./auth/secret")
    secret_uuid = XmlProperty("./auth/secret/@uuid")
    secret_usage = XmlProperty("./auth/secret/@usage")


class Pool(XmlNode):
    TAG = "pool"
    type = XmlProperty("./@type")
    name = XmlProperty("./name", STRIP)
    uuid = XmlProperty("./uuid", STRIP)
    source = XmlChild(PoolSource, "./source")
    path = XmlProperty("./target/path", STRIP)
    capacity_bytes = XmlProperty("./capacity", BYTES)
    allocation_bytes = XmlProperty("./allocation", BYTES)
    available_bytes = XmlProperty("./available", BYTES)


class Volume(XmlNode):
    TAG = "volume"
    type = XmlProperty("./@type")
    name = XmlProperty("./name", STRIP)
    key = XmlProperty("./key", STRIP)
    capacity_bytes = XmlProperty("./capacity", BYTES)
    allocation_bytes = XmlProperty("./allocation", BYTES)
    physical_bytes = XmlProperty("./physical", BYTES)
    mtime = XmlProperty("./target/timestamps/mtime", STRIP)
    path = XmlProperty("./target/path", STRIP)
    # as libvirt wrote them, unstripped: what vol.name() / vol.path() answer
    raw_name = XmlProperty("./name")
    raw_path = XmlProperty("./target/path")
    format = XmlProperty("./target/format/@type", STRIP)
    compat = XmlProperty("./target/compat", STRIP)  # a qcow2 image's version: 0.10 (qcow2 v2) or 1.1 (v3)
    backing_path = XmlProperty("./backingStore/path", STRIP)
    backing_format = XmlProperty("./backingStore/format/@type", STRIP)
