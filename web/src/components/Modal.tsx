"use client";

// A dialog on Radix's Dialog: focus trapped inside and given back on close, Escape and a click outside close
// it (not while busy), the title labels it (aria-labelledby), the page behind is inert to screen readers.

import * as Dialog from "@radix-ui/react-dialog";
import { ReactNode, useRef } from "react";
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

/** A dialog; the first field gets the focus (else the dialog itself). Wrap a form's fields in a
 * <form id="..."> and point the footer's submit button at it with form="...". */
export function Modal({ open, title, onClose, children, footer, wide, busy, testId = "modal" }: ModalProps) {
  const ref = useRef<HTMLDivElement>(null);
  return (
    <Dialog.Root
      open={open}
      onOpenChange={(o) => {
        if (!o && !busy) onClose();
      }}
    >
      <Dialog.Portal>
        <Dialog.Overlay className="modal-backdrop">
          <Dialog.Content
            ref={ref}
            className={`modal${wide ? " modal-wide" : ""}`}
            data-testid={testId}
            aria-describedby={undefined}
            tabIndex={-1}
            onOpenAutoFocus={(e) => {
              e.preventDefault();
              const first = ref.current?.querySelector<HTMLElement>(
                "input:not([type=hidden]):not([disabled]), textarea:not([disabled]), select:not([disabled])",
              );
              (first ?? ref.current)?.focus();
            }}
            onEscapeKeyDown={(e) => {
              if (busy) e.preventDefault();
            }}
            onPointerDownOutside={(e) => {
              if (busy) e.preventDefault();
            }}
            onInteractOutside={(e) => {
              if (busy) e.preventDefault();
            }}
          >
            <div className="modal-header">
              <Dialog.Title data-testid={`${testId}-title`}>{title}</Dialog.Title>
              <button type="button" className="btn btn-ghost btn-sm btn-icon" aria-label="Close" onClick={onClose} disabled={busy}>
                <Icon name="close" />
              </button>
            </div>
            <div className="modal-body">{children}</div>
            {footer && <div className="modal-footer">{footer}</div>}
          </Dialog.Content>
        </Dialog.Overlay>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
