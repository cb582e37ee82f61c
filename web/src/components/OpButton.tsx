"use client";

import type { ActionMenuItem } from "@/components/ActionMenu";
import { Icon, IconName } from "@/components/Icon";
import type { Operations } from "@/lib/useOperations";

const LOOK = {
  /** A table row's labelled button. */
  row: { className: "btn btn-sm", size: 13 },
  /** A table row's icon-only button (the label is its aria-label). */
  icon: { className: "btn btn-sm btn-ghost btn-icon", size: 15 },
  /** A page header's button. */
  page: { className: "btn", size: 15 },
  /** A page header's destructive button. */
  danger: { className: "btn btn-danger", size: 15 },
} as const;

/** A button that runs one operation of `useOperations` on one target (disabled while one runs on it). */
export function OpButton<T, K extends string>({ ops, kind, target, icon, label, look = "row", title, ariaLabel, testId }: {
  ops: Operations<T, K>;
  kind: K;
  target: T;
  icon: IconName;
  label: string;
  look?: keyof typeof LOOK;
  title?: string;
  ariaLabel?: string;
  testId: string;
}) {
  const { className, size } = LOOK[look];
  const iconOnly = look === "icon";
  return (
    <button
      type="button"
      className={className}
      onClick={() => ops.run(kind, target)}
      disabled={ops.isBusy(target)}
      title={title ?? (iconOnly ? label : undefined)}
      aria-label={ariaLabel}
      data-testid={testId}
    >
      <Icon name={icon} size={size} />
      {!iconOnly && ` ${label}`}
    </button>
  );
}

/** The same operation as an item of a row's menu (the actions column on a phone: components/DataTable),
 *  disabled, with its reason, while an operation runs on the target. */
export function opItem<T, K extends string>(ops: Operations<T, K>, kind: K, target: T, label: string,
                                            danger = false): ActionMenuItem {
  return { id: kind, label, onSelect: () => ops.run(kind, target), disabled: ops.isBusy(target),
           reason: "Busy: an operation is running on it", danger };
}
