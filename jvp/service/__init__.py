"""Services: the rules of each resource, as plain classes (no Flask, no XML, no libvirt)."""
