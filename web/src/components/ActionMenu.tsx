"use client";

// A button that opens a menu of actions (Radix dropdown-menu: keyboard, focus and ARIA handled). A disabled
// item stays listed with the reason it cannot run. (Interface shared with the app shell's helper: keep it.)
import "./ActionMenu.css";
import * as DropdownMenu from "@radix-ui/react-dropdown-menu";
import { Icon, IconName } from "@/components/Icon";

export interface ActionMenuItem {
  id: string;
  label: string;
  onSelect: () => void;
  disabled?: boolean;
  /** Why it is disabled (shown under the label and as its title). */
  reason?: string;
  danger?: boolean;
  testId?: string;
}

export function ActionMenu({ label, items, testId, icon }: {
  label: string;
  items: ActionMenuItem[];
  testId?: string;
  icon?: IconName;
}) {
  return (
    <DropdownMenu.Root modal={false}>
      <DropdownMenu.Trigger asChild>
        <button type="button" className={`btn${icon ? " btn-sm btn-ghost btn-icon" : ""}`} aria-label={label}
                title={label} data-testid={testId}>
          {icon ? <Icon name={icon} size={15} /> : <>{label} <Icon name="chevronDown" size={14} /></>}
        </button>
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content className="action-menu" align="end" sideOffset={4} collisionPadding={8}
                              data-testid={testId ? `${testId}-content` : undefined}>
          {items.map((it) => (
            <DropdownMenu.Item
              key={it.id}
              className={`action-menu-item${it.danger ? " danger" : ""}`}
              disabled={it.disabled}
              onSelect={() => it.onSelect()}
              title={it.disabled ? it.reason : undefined}
              data-testid={it.testId}
              data-disabled-reason={it.disabled ? it.reason : undefined}
            >
              <span>{it.label}</span>
              {it.disabled && it.reason && <span className="action-menu-reason">{it.reason}</span>}
            </DropdownMenu.Item>
          ))}
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}
