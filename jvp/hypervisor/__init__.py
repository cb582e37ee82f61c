"""The libvirt adapter: connections, XML (lxml), error mapping; the only code that imports libvirt."""
