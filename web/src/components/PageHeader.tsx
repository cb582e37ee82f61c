"use client";

import { ReactNode, useState } from "react";
import { Icon } from "@/components/Icon";

export interface PageHeaderProps {
  title: ReactNode;
  subtitle?: ReactNode;
  /** Links above the title, e.g. <a href="/nodes/">Nodes</a> / kvm2. */
  breadcrumb?: ReactNode;
  /** Buttons on the right. */
  actions?: ReactNode;
  /** false: the actions never fold (a page whose actions are already one compact toolbar with its own menu,
   * so a phone user does not open a menu to reach a menu). */
  fold?: boolean;
}

/** The page's title row. On narrow screens (< 640 px) the actions fold behind one "Actions" button
 * (aria-expanded) that shows them as a list under the title; on wider ones they sit on the right. */
export function PageHeader({ title, subtitle, breadcrumb, actions, fold = true }: PageHeaderProps) {
  const [open, setOpen] = useState(false);
  return (
    <div className={`page-header${open ? " actions-open" : ""}`}>
      <div className="page-header-text">
        {breadcrumb && <div className="breadcrumb">{breadcrumb}</div>}
        <h1 data-testid="page-title">{title}</h1>
        {subtitle && <div className="subtitle">{subtitle}</div>}
      </div>
      {actions && !fold && <div className="page-actions page-actions-keep">{actions}</div>}
      {actions && fold && (
        <>
          <button
            type="button"
            className="btn btn-sm page-actions-toggle"
            aria-expanded={open}
            onClick={() => setOpen((o) => !o)}
            data-testid="page-actions-toggle"
          >
            Actions <Icon name={open ? "chevronDown" : "chevronRight"} size={13} />
          </button>
          <div className="page-actions">{actions}</div>
        </>
      )}
    </div>
  );
}

/** A white card with an optional header row (title left, extra right). */
export function Card({ title, extra, children, testId, bodyless }: {
  title?: ReactNode;
  extra?: ReactNode;
  children: ReactNode;
  testId?: string;
  /** true: children go straight in (tables that touch the card's edges). */
  bodyless?: boolean;
}) {
  return (
    <section className="card" data-testid={testId}>
      {(title || extra) && (
        <div className="card-header">
          {title && <h2>{title}</h2>}
          {extra}
        </div>
      )}
      {bodyless ? children : <div className="card-body">{children}</div>}
    </section>
  );
}
