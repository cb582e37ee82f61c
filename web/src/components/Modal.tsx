"use client";

import { ReactNode, useEffect, useRef } from "react";
import { Icon } from "@/components/Icon";

export interface ModalProps {
  open: boolean;
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  /** Buttons, right-aligned in the footer. */
  footer?: ReactNode;
  wide?: boolean;
  /** Escape and backdrop clicks do nothing while busy (a request is in flight). */
  busy?: boolean;
  testId?: string;
}

/** A dialog: Escape or a click outside closes it, the first field gets the focus. Wrap a form's fields
 * in a <form id="..."> and point the footer's submit button at it with form="...". */
export function Modal({ open, title, onClose, children, footer, wide, busy, testId = "modal" }: ModalProps) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !busy) onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open, busy, onClose]);
  useEffect(() => {
    if (!open) return;
    const first = ref.current?.querySelector<HTMLElement>("input:not([type=hidden]), textarea, select");
    (first ?? ref.current)?.focus();
  }, [open]);
  if (!open) return null;
  return (
    <div
      className="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget && !busy) onClose();
      }}
    >
      <div
        className={`modal${wide ? " modal-wide" : ""}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={`${testId}-title`}
        data-testid={testId}
        ref={ref}
        tabIndex={-1}
      >
        <div className="modal-header">
          <h2 id={`${testId}-title`}>{title}</h2>
          <button type="button" className="btn btn-ghost btn-sm btn-icon" aria-label="Close" onClick={onClose} disabled={busy}>
            <Icon name="close" />
          </button>
        </div>
        <div className="modal-body">{children}</div>
        {footer && <div className="modal-footer">{footer}</div>}
      </div>
    </div>
  );
}
