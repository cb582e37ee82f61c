"""JVP: a control plane for KVM/QEMU hosts driven through libvirt."""

__version__ = "0.1.0"
