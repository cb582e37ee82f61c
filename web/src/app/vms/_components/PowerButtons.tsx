"use client";

import { useRouter } from "next/navigation";
import { ActionMenu } from "@/components/ActionMenu";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { VmOps, VmTarget, vmKey } from "./useVmOps";
import { POWER_MENU, VmActionId, vmMenuItem, whyNot } from "./vmActions";
import { vmHref } from "./vmUtil";

/** A VM list row's actions: Start or Stop (the one the state allows; Stop asks first), then a menu with the
 * rest, each disabled with its reason when the state does not allow it. Everything that interrupts a guest
 * asks for confirmation (useVmOps). */
export function RowActions({ vm, ops }: { vm: VmTarget; ops: VmOps }) {
  const router = useRouter();
  const busy = ops.busy?.key === vmKey(vm) ? ops.busy.kind : null;
  const canStart = !whyNot("start", vm);
  const primary = canStart ? "start" : "stop";
  const item = (id: VmActionId, label: string, onSelect: () => void, danger = false) =>
    vmMenuItem(vm, id, label, onSelect, { busy: !!busy, danger });
  return (
    <div className="row-actions">
      <button type="button" className="btn btn-sm" onClick={() => ops.run(primary, vm)} disabled={!!busy || !!whyNot(primary, vm)}
              title={whyNot(primary, vm) ?? (canStart ? "Power on" : "Shut down (asks first)")}
              aria-label={`${canStart ? "Start" : "Stop"} ${vm.name}`} data-testid={`vm-${primary}`}>
        {busy ? <Spinner /> : <Icon name={canStart ? "play" : "stop"} size={13} />}
        <span className="row-primary-text">{canStart ? "Start" : "Stop"}</span>
      </button>
      <ActionMenu
        label={`More actions for ${vm.name}`}
        icon="chevronDown"
        testId="vm-row-menu"
        items={[
          ...POWER_MENU.map(([id, label, danger]) => item(id, label, () => ops.run(id, vm), danger)),
          item("console", "Console (VNC)", () => router.push(`${vmHref(vm.node, vm.name)}&tab=console`)),
          item("serial", "Serial console", () => router.push(`${vmHref(vm.node, vm.name)}&tab=console&type=serial`)),
          item("delete", "Delete…", () => ops.run("delete", vm), true),
        ]}
      />
    </div>
  );
}
