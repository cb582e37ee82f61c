"""Migration operations of the node gateway (see base.py for the rules): the guest facts and target facts
the migrate-vm preflight compares, and the move itself, which is the one gateway operation that holds two
nodes' connections at once (JVP drives the migration with both; see jvp/hypervisor/migration.py)."""
from __future__ import annotations

from jvp.domain.migration import JobFigures, MigrationGuest, MigrationOptions
from jvp.errors import Conflict, JvpError
from jvp.hypervisor import migration
from jvp.hypervisor.gateway.base import GatewayBase


class MigrationOps(GatewayBase):
    def migration_guest(self, node: str, name: str) -> MigrationGuest:
        """Domain type, arch, machine type, the CPU as it runs, max memory."""
        return self._read(node, lambda c: migration.guest(c, name), kind="vm", obj=name)

    def host_uuid(self, node: str) -> str | None:
        """The host UUID of the node's capabilities (two nodes with the same one are the same host)."""
        return self._read(node, migration.host_uuid, kind="node", obj=node)

    def migration_machines(self, node: str, arch: str, domain_type: str) -> set[str] | None:
        """Machine types offered for arch under domain_type (None: that domain type is not offered)."""
        return self._read(node, lambda c: migration.machines(c, arch, domain_type), kind="node", obj=node)

    def compare_guest_cpu(self, node: str, guest: MigrationGuest) -> str | None:
        """identical | superset | incompatible against the node's hypervisor CPU; None: cannot compare."""
        return self._read(node, lambda c: migration.compare_cpu(c, guest), kind="node", obj=node)

    def free_memory_mib(self, node: str) -> int | None:
        return self._read(node, migration.free_memory_mib, kind="node", obj=node)

    def vm_defined_anywhere(self, node: str, name: str, uuid: str | None) -> bool:
        """Whether a domain of that name or UUID exists on the node."""
        return self._read(node, lambda c: migration.domain_exists(c, name, uuid), kind="node", obj=node)

    def migrate_vm(self, node: str, target: str, name: str, options: MigrationOptions,
                   watch: migration.Watch) -> JobFigures | None:
        """Move the VM from node to target (persistent there, undefined here); watch(figures) sees the job's
        figures every half second and answers True to abort it (409 TaskCancelled, the VM stays here).
        libvirt's refusal or failure: 422 MigrationFailed with libvirt's message."""
        dconn = self.connection(target).get()

        def move(conn):
            try:
                return migration.migrate(conn, dconn, name, options, watch)
            except migration.MigrationAborted as exc:
                raise Conflict(f"the migration of vm '{name}' to node '{target}' was aborted; it stays on node "
                               f"'{node}'", code="TaskCancelled", details={"vm": name, "node": node}) from exc
            except migration.MigrationError as exc:
                raise JvpError(f"migrating vm '{name}' from node '{node}' to node '{target}' failed: {exc}; the "
                               f"VM stays on node '{node}'", code="MigrationFailed", status=422,
                               details={"vm": name, "node": node, "target_node": target,
                                        "libvirt_error": {"message": exc.libvirt_error}}) from exc
        return self._write(node, move, kind="vm", obj=name, action="migrate")
