"""Services: the rules of each resource, as plain classes (no Flask, no XML, no libvirt), a package per
resource with more than one module; they reach nodes only through the node gateway."""
