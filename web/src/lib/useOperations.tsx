"use client";

// The one state machine behind every button that changes a resource: (confirm) -> run -> toast or error ->
// refresh. A page declares its operations once and renders `ops.ui` once:
//
//   const ops = useOperations<Network, "start" | "delete">({
//     key: (n) => n.name,
//     onChanged: () => void q.refresh(),
//     error: { title: "Could not start the network", testId: "network-op-error" },
//     ops: {
//       start: { action: "start-network", run: async (n) => { await call(...); return `Network ${n.name} started`; } },
//       delete: { action: "delete-network", deletes: true, confirm: (n) => ({ title: ..., danger: true, ... }), run: ... },
//     },
//   });
//   <button onClick={() => ops.run("delete", net)} disabled={ops.isBusy(net)}>
//
// An operation with `confirm` asks first (anything destructive) and shows its failure inside its dialog;
// one without runs at once and shows its failure in the page's banner.

import { ReactNode, useState } from "react";
import { ActionName, ApiError, RequestOf, asApiError, call } from "@/lib/api";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorBanner } from "@/components/ErrorBanner";
import { useToast } from "@/components/Toast";

/** What the confirmation dialog says; see ConfirmDialog. */
export interface Confirmation {
  title: ReactNode;
  message: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  /** Type-the-name confirmation. */
  typeToConfirm?: string;
  /** Why the confirm button is disabled for now (ConfirmDialog). */
  blocked?: string;
  testId: string;
}

/** What a finished operation tells the user: a message (success toast), or a message with its tone. */
export type Outcome = ReactNode | { message: ReactNode; tone: "success" | "info" };

export interface Operation<T> {
  /** The API action, named in the error of a failure that is not an ApiError. */
  action: string;
  run: (target: T) => Promise<Outcome>;
  /** Ask first with this dialog; `error` is the failure of the last try (some dialogs explain it). */
  confirm?: (target: T, error: ApiError | null) => Confirmation;
  /** Called when the dialog opens (reset the dialog's own options). */
  onAsk?: (target: T) => void;
  /** The target is gone afterwards: `onDeleted` is called instead of `onChanged`. */
  deletes?: boolean;
}

export interface OperationsOptions<T, K extends string> {
  ops: Record<K, Operation<T>>;
  /** Identity of a target (for `busy`). */
  key: (target: T) => string;
  onChanged?: () => void;
  onDeleted?: (target: T) => void;
  /** The banner of an operation without confirmation that failed. */
  error?: { title: string; testId: string };
}

export interface Operations<T, K extends string> {
  /** Run operation `kind` on `target`; asks first when the operation has a confirmation. */
  run: (kind: K, target: T) => void;
  /** The operation in flight, and on which target. */
  busy: { key: string; kind: K } | null;
  isBusy: (target: T) => boolean;
  /** The failure of the last operation without confirmation (shown in `ui` too). */
  failed: ApiError | null;
  /** The confirmation dialog and the error banner; render once in the page. */
  ui: ReactNode;
}

/** The common operation: one API call, then a message. `more` adds the confirmation and the rest. */
export function callOp<T, A extends ActionName>(
  action: A,
  body: (target: T) => RequestOf<A>,
  done: (target: T) => Outcome,
  more: Omit<Operation<T>, "action" | "run"> = {},
): Operation<T> {
  return {
    action,
    run: async (t) => {
      await call(action, body(t));
      return done(t);
    },
    ...more,
  };
}

function isTone(o: Outcome): o is { message: ReactNode; tone: "success" | "info" } {
  return !!o && typeof o === "object" && "tone" in o && "message" in o;
}

export function useOperations<T, K extends string>(opts: OperationsOptions<T, K>): Operations<T, K> {
  const { ops, key, onChanged, onDeleted } = opts;
  const toast = useToast();
  const [pending, setPending] = useState<{ kind: K; target: T } | null>(null);
  const [busy, setBusy] = useState<{ key: string; kind: K } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [dialogError, setDialogError] = useState<ApiError | null>(null);

  /** Runs one operation; true when it succeeded (its failure goes to `fail`). */
  const execute = async (kind: K, target: T, fail: (e: ApiError | null) => void): Promise<boolean> => {
    const op = ops[kind];
    setBusy({ key: key(target), kind });
    fail(null);
    try {
      const outcome = await op.run(target);
      if (isTone(outcome)) (outcome.tone === "info" ? toast.info : toast.success)(outcome.message);
      else if (outcome) toast.success(outcome);
      if (op.deletes && onDeleted) onDeleted(target);
      else onChanged?.();
      return true;
    } catch (err) {
      fail(asApiError(err, op.action));
      return false;
    } finally {
      setBusy(null);
    }
  };

  const run = (kind: K, target: T) => {
    const op = ops[kind];
    if (op.confirm) {
      setDialogError(null);
      op.onAsk?.(target);
      setPending({ kind, target });
      return;
    }
    void execute(kind, target, setError);
  };

  const confirm = async () => {
    if (!pending) return;
    if (await execute(pending.kind, pending.target, setDialogError)) setPending(null);
  };
  const cancel = () => {
    setPending(null);
    setDialogError(null);
  };

  const dialog = pending ? ops[pending.kind].confirm?.(pending.target, dialogError) : undefined;
  const ui = (
    <>
      {opts.error && <ErrorBanner error={error} title={opts.error.title} onDismiss={() => setError(null)} testId={opts.error.testId} />}
      {dialog && pending && (
        <ConfirmDialog
          key={dialog.testId}
          open
          {...dialog}
          busy={!!busy && busy.key === key(pending.target)}
          error={dialogError}
          onConfirm={() => void confirm()}
          onCancel={cancel}
        />
      )}
    </>
  );

  return { run, busy, isBusy: (t) => !!busy && busy.key === key(t), failed: error, ui };
}
