import { ReactNode } from "react";

export interface PageHeaderProps {
  title: ReactNode;
  subtitle?: ReactNode;
  /** Links above the title, e.g. <a href="/nodes/">Nodes</a> / kvm2. */
  breadcrumb?: ReactNode;
  /** Buttons on the right. */
  actions?: ReactNode;
}

export function PageHeader({ title, subtitle, breadcrumb, actions }: PageHeaderProps) {
  return (
    <div className="page-header">
      <div>
        {breadcrumb && <div className="breadcrumb">{breadcrumb}</div>}
        <h1 data-testid="page-title">{title}</h1>
        {subtitle && <div className="subtitle">{subtitle}</div>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
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
