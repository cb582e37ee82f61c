"""What a fake libvirt connection needs so that JVP's ConnectionPool can hold it (liveness, keepalive, the
close callback, close). Tests subclass it and add the calls their subject makes."""
from __future__ import annotations


class PoolableConn:
    alive = True
    closed = False

    def isAlive(self):  # noqa: N802 - libvirt's names
        return 1 if self.alive else 0

    def setKeepAlive(self, *_):  # noqa: N802
        pass

    def registerCloseCallback(self, *_):  # noqa: N802
        pass

    def unregisterCloseCallback(self):  # noqa: N802
        pass

    def close(self):
        self.closed = True
