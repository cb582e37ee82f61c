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

    def registerCloseCallback(self, cb, opaque):  # noqa: N802
        self._close_callback = (cb, opaque)

    def unregisterCloseCallback(self):  # noqa: N802
        self._close_callback = None

    def drop(self, reason: int = 0):
        """The connection dies as libvirt reports it: isAlive() turns false and the close callback is called
        (reason 0: VIR_CONNECT_CLOSE_REASON_ERROR)."""
        self.alive = False
        registered = getattr(self, "_close_callback", None)
        if registered is not None:
            registered[0](self, reason, registered[1])

    def close(self):
        self.closed = True
