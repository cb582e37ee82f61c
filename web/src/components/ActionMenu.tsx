"use client";

// A menu of actions on Radix's dropdown menu (keyboard: Enter/Space/arrow keys open it, arrows move, Escape
// closes, focus returns to the button). A disabled item stays listed with the reason it cannot run (its
// title and a visible line under it), so nothing silently disappears.
//
//   <ActionMenu label="More actions" icon="more" testId="vm-more" items={[
//     { id: "reboot", label: "Reboot", onSelect: () => ops.run("reboot", vm) },
//     { id: "delete", label: "Delete", danger: true, disabled: vm.state === "running", reason: "Stop it first",
//       onSelect: () => ops.run("delete", vm) },
//   ]} />

import * as DropdownMenu from "@radix-ui/react-dropdown-menu";
import { Icon, IconName } from "@/components/Icon";

export interface ActionMenuItem {
  id: string;
  label: string;
  onSelect: () => void;
  disabled?: boolean;
  /** Why the item is disabled (shown under its label and as its title). */
  reason?: string;
  /** A destructive action (red). */
  danger?: boolean;
  testId?: string;
}

export function ActionMenu({ label, items, testId, icon }: {
  /** The button's accessible name (and its text when there is no icon). */
  label: string;
  items: ActionMenuItem[];
  testId?: string;
  /** An icon-only button (the label becomes its aria-label and title). */
  icon?: IconName;
}) {
  return (
    <DropdownMenu.Root modal={false}>
      <DropdownMenu.Trigger asChild>
        <button
          type="button"
          className={`btn btn-sm${icon ? " btn-icon" : ""}`}
          aria-label={icon ? label : undefined}
          title={icon ? label : undefined}
          data-testid={testId}
        >
          {icon ? (
            <Icon name={icon} size={15} />
          ) : (
            <>
              {label} <Icon name="chevronDown" size={13} />
            </>
          )}
        </button>
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content
          className="menu"
          align="end"
          sideOffset={4}
          collisionPadding={8}
          data-testid={testId ? `${testId}-menu` : undefined}
        >
          {items.map((it) => (
            <DropdownMenu.Item
              key={it.id}
              className={`menu-item${it.danger ? " menu-item-danger" : ""}`}
              disabled={it.disabled}
              onSelect={() => {
                if (!it.disabled) it.onSelect();
              }}
              title={it.disabled && it.reason ? it.reason : undefined}
              data-testid={it.testId ?? (testId ? `${testId}-${it.id}` : undefined)}
              data-disabled-reason={it.disabled ? it.reason : undefined}
            >
              <span className="menu-item-label">{it.label}</span>
              {it.disabled && it.reason && <span className="menu-item-reason">{it.reason}</span>}
            </DropdownMenu.Item>
          ))}
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}
