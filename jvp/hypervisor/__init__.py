"""The libvirt adapter, the only code that imports libvirt: the node gateway (gateway/: one typed method per
node operation, the only door services use), connections, XML mappings (xml/), feature probes (support.py),
domain events (events.py) and the libvirt error table (errors.py)."""
