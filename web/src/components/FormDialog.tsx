"use client";

// The one create/edit dialog. A dialog keeps its values and its request's state in `useForm` and hands the
// form to <FormDialog>, which shows the server's error once (above the fields), the pending state on the
// submit button, and blocks closing while the request runs:
//
//   const form = useForm(open, () => ({ name: "", autostart: true }));
//   <FormDialog open={open} form={form} title="Create pool" testId="create-pool-dialog" submitLabel="Create pool"
//               errorTitle="Could not create the pool" onClose={onClose}
//               onSubmit={() => form.submit("create-storage-pool", async () => onCreated((await call(...)).pool))}>
//     <Field label="Name" name="pool-name" error={form.field("name")}>
//       <TextInput value={form.values.name} onChange={(e) => form.set("name", e.target.value)} />
//     </Field>
//   </FormDialog>

import { Dispatch, FormEvent, ReactNode, SetStateAction, useCallback, useEffect, useRef, useState } from "react";
import { ApiError, asApiError } from "@/lib/api";
import { ErrorBanner } from "@/components/ErrorBanner";
import { fieldError } from "@/components/Field";
import { Modal } from "@/components/Modal";
import { Spinner } from "@/components/Loading";

export interface FormState<V extends object = Record<string, never>> {
  values: V;
  /** Change one value. */
  set: <K extends keyof V>(key: K, value: V[K]) => void;
  setValues: Dispatch<SetStateAction<V>>;
  busy: boolean;
  /** The last request's failure (cleared when the dialog opens and when a request starts). */
  error: ApiError | null;
  setError: (error: ApiError | null) => void;
  /** Runs the request: busy while it runs, its failure kept in `error`. Resolves to its answer, or to
   * undefined when it failed. */
  submit: <R>(action: string, request: () => Promise<R>) => Promise<R | undefined>;
  /** The server's messages about one field (`details.field_errors`; dots for nested fields). */
  field: (name: string) => string | undefined;
}

/** A dialog's values and request state. The values go back to `initial()` and the error is cleared each
 * time `open` turns true (or `resetKey` changes while open: an edit dialog given another object). */
export function useForm<V extends object = Record<string, never>>(
  open: boolean,
  initial: () => V = () => ({}) as V,
  resetKey?: unknown,
): FormState<V> {
  const [values, setValues] = useState<V>(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const initialRef = useRef(initial);
  initialRef.current = initial;
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  useEffect(() => {
    if (!open) return;
    setValues(initialRef.current());
    setError(null);
    setBusy(false);
  }, [open, resetKey]);

  const set = useCallback(<K extends keyof V>(key: K, value: V[K]) => setValues((v) => ({ ...v, [key]: value })), []);
  const submit = useCallback(async <R,>(action: string, request: () => Promise<R>): Promise<R | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await request();
    } catch (err) {
      if (mounted.current) setError(asApiError(err, action));
      return undefined;
    } finally {
      if (mounted.current) setBusy(false);
    }
  }, []);
  const field = useCallback((name: string) => fieldError(error, name), [error]);
  return { values, set, setValues, busy, error, setError, submit, field };
}

export interface FormDialogProps {
  open: boolean;
  title: ReactNode;
  /** Base of the data-testids: `${testId}`, `${testId}-form`, `${testId}-submit`, `${testId}-cancel`,
   * `${testId}-error` (the server's error). */
  testId: string;
  /** The dialog's request state: its pending state and its error (shown once, above the fields). */
  form?: Pick<FormState<object>, "busy" | "error">;
  /** Bold first line of the error banner. */
  errorTitle?: string;
  /** Pending without a `form` (or on top of it). */
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
 * is off (the server's messages are shown instead: the error above the fields, each field's under it). */
export function FormDialog({ open, title, testId, form, errorTitle, busy: busyProp, submitLabel, onClose, onSubmit, children, hideSubmit, submitDisabled, danger, wide }: FormDialogProps) {
  const busy = !!busyProp || !!form?.busy;
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
        {form && <ErrorBanner error={form.error} title={errorTitle} testId={`${testId}-error`} />}
        {children}
      </form>
    </Modal>
  );
}
