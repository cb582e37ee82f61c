"use client";

import { FormEvent, ReactNode } from "react";
import { Modal } from "@/components/Modal";
import { Spinner } from "@/components/Loading";

export interface FormDialogProps {
  open: boolean;
  title: ReactNode;
  /** Base of the data-testids: `${testId}`, `${testId}-form`, `${testId}-submit`, `${testId}-cancel`. */
  testId: string;
  busy?: boolean;
  submitLabel: ReactNode;
  onClose: () => void;
  onSubmit: () => void;
  children: ReactNode;
  /** Only a Close button (e.g. the dialog now shows a result). */
  hideSubmit?: boolean;
  submitDisabled?: boolean;
  danger?: boolean;
  wide?: boolean;
}

/** A Modal holding one form: Cancel + submit in the footer, Enter submits, the browser's own validation
 * is off (the server's messages are shown instead). */
export function FormDialog({ open, title, testId, busy, submitLabel, onClose, onSubmit, children, hideSubmit, submitDisabled, danger, wide }: FormDialogProps) {
  return (
    <Modal
      open={open}
      title={title}
      onClose={onClose}
      busy={busy}
      testId={testId}
      wide={wide}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-cancel`}>
            {hideSubmit ? "Close" : "Cancel"}
          </button>
          {!hideSubmit && (
            <button
              type="submit"
              form={`${testId}-form`}
              className={`btn ${danger ? "btn-danger" : "btn-primary"}`}
              disabled={busy || submitDisabled}
              data-testid={`${testId}-submit`}
            >
              {busy && <Spinner />}
              {submitLabel}
            </button>
          )}
        </>
      }
    >
      <form
        id={`${testId}-form`}
        noValidate
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          if (!busy && !hideSubmit && !submitDisabled) onSubmit();
        }}
      >
        {children}
      </form>
    </Modal>
  );
}
