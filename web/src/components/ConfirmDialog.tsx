"use client";

import { ReactNode, useEffect, useState } from "react";
import { ApiError } from "@/lib/api";
import { Modal } from "@/components/Modal";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Loading";

export interface ConfirmDialogProps {
  open: boolean;
  title: ReactNode;
  /** What will happen, in words. */
  message: ReactNode;
  confirmLabel?: string;
  /** Red confirm button (deletes, anything destructive). */
  danger?: boolean;
  /** Type-the-name confirmation: the confirm button is enabled only once this exact text is typed. */
  typeToConfirm?: string;
  /** Why confirming cannot work yet (e.g. "power it off first"): the confirm button stays disabled, with it as
   * its title. */
  blocked?: string;
  /** The request is in flight: buttons disabled, spinner on confirm. */
  busy?: boolean;
  /** The failed request's error, shown inside the dialog. */
  error?: ApiError | Error | null;
  onConfirm: () => void;
  onCancel: () => void;
  testId?: string;
}

/** Confirmation before anything destructive. */
export function ConfirmDialog({
  open,
  title,
  message,
  confirmLabel = "Confirm",
  danger,
  typeToConfirm,
  blocked,
  busy,
  error,
  onConfirm,
  onCancel,
  testId = "confirm-dialog",
}: ConfirmDialogProps) {
  const [typed, setTyped] = useState("");
  useEffect(() => {
    if (open) setTyped("");
  }, [open]);
  const ready = (!typeToConfirm || typed === typeToConfirm) && !blocked;
  return (
    <Modal
      open={open}
      title={title}
      onClose={onCancel}
      busy={busy}
      testId={testId}
      footer={
        <>
          <button type="button" className="btn" onClick={onCancel} disabled={busy} data-testid={`${testId}-cancel`}>
            Cancel
          </button>
          <button
            type="submit"
            form={`${testId}-form`}
            className={`btn ${danger ? "btn-danger" : "btn-primary"}`}
            disabled={!ready || busy}
            title={blocked}
            data-testid={`${testId}-confirm`}
          >
            {busy && <Spinner />}
            {confirmLabel}
          </button>
        </>
      }
    >
      <form
        id={`${testId}-form`}
        onSubmit={(e) => {
          e.preventDefault();
          if (ready && !busy) onConfirm();
        }}
      >
        <ErrorBanner error={error} testId={`${testId}-error`} />
        <div style={{ marginBottom: typeToConfirm ? 14 : 0 }}>{message}</div>
        {typeToConfirm && (
          <div className="field" style={{ marginBottom: 0 }}>
            <label htmlFor={`${testId}-input`}>
              Type <code>{typeToConfirm}</code> to confirm
            </label>
            <input
              id={`${testId}-input`}
              className="input"
              autoComplete="off"
              spellCheck={false}
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              data-testid={`${testId}-input`}
            />
          </div>
        )}
      </form>
    </Modal>
  );
}
