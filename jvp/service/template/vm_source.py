"""create-vm's `template` source, which rebuild-vm uses too: the template's current image as the BaseImage of a
new VM's clone (`base_image`), refused while the template is broken, its image is missing or reads as another
format than it was registered with; `usage.last_used` is recorded once the VM exists (`_record_use`)."""
from __future__ import annotations

from typing import Any

from jvp.errors import JvpError, PreconditionFailed
from jvp.service.storage.volume import VolumeService
from jvp.service.vm.plan import BaseImage
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339


class TemplateVmSource:
    """Mixed into TemplateService (which provides store, volumes and doc)."""
    store: MetadataStore
    volumes: VolumeService
    doc: Any

    # -- create-vm's `template` source ------------------------------------------------------------------
    def base_image(self, node: str, name: str) -> BaseImage:
        """The template's current image for a new VM's linked or full clone; `usage.last_used` is recorded
        (BaseImage.on_used) only once the VM exists, so a refused or failed create-vm leaves it alone."""
        doc = self.doc(node, name)
        st = doc["storage"]
        integrity = doc.get("integrity") or {}
        if integrity.get("state") == "broken":
            raise PreconditionFailed(f"template '{name}' on node '{node}' is broken: {integrity.get('reason')} "
                                     f"(found by {integrity.get('by')} at {integrity.get('checked_at')}); "
                                     "verify-template checks the image again", code="TemplateBroken",
                                     details={"template": name, "node": node, "reason": integrity.get("reason")})
        try:
            vol = self.volumes.raw(node, st["template_pool"], st["volume"])
        except JvpError as exc:
            if exc.code not in ("VolumeNotFound", "StoragePoolNotFound", "StoragePoolInactive"):
                raise
            raise PreconditionFailed(f"the image of template '{name}' ({st['template_pool']}/{st['volume']}) is "
                                     f"not available on node '{node}': {exc.message}", code="TemplateImageMissing",
                                     details={"template": name, "pool": st["template_pool"],
                                              "volume": st["volume"]}) from exc
        recorded = st.get("format")
        if recorded and vol.format and vol.format != recorded:
            # libvirt probes a file's format from its content at each pool refresh: an image that reads as
            # another format now was changed behind JVP (a damaged qcow2 header reads as raw). Never clone it
            # with the probed format: the new disk would read the file's bytes differently.
            reason = (f"the image now reads as {vol.format}, it was registered as {recorded}: the file changed "
                      "since")
            raise PreconditionFailed(f"the image of template '{name}' on node '{node}' ({st['template_pool']}/"
                                     f"{st['volume']}) is not usable: {reason}; verify-template checks it",
                                     code="TemplateBroken", details={"template": name, "node": node,
                                                                     "reason": reason})
        return BaseImage(pool=st["template_pool"], volume=st["volume"], path=vol.path,
                         format=recorded or vol.format, capacity_bytes=vol.capacity_bytes or 0,
                         template={"name": name, "pool": st["template_pool"], "volume": st["volume"],
                                   "uuid": doc["uuid"]},
                         on_used=lambda: self._record_use(node, name, doc["uuid"]))

    def _record_use(self, node: str, name: str, uuid: str) -> None:
        now = rfc3339()
        self.store.update("template", node, name, fn=lambda d: None if d is None or d.get("uuid") != uuid else {
            **d, "usage": {**d["usage"], "last_used": now}})
