"use client";

import { ApiError } from "@/lib/api";
import { Icon } from "@/components/Icon";

export interface ErrorBannerProps {
  /** The error to show; nothing is rendered when null/undefined. */
  error: ApiError | Error | null | undefined;
  /** Bold first line (default: "Request failed"). The server's message is always shown under it. */
  title?: string;
  onRetry?: () => void;
  onDismiss?: () => void;
  testId?: string;
}

function flattenFieldErrors(fe: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fe)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (Array.isArray(v)) out.push(`${key}: ${v.map(String).join(" ")}`);
    else if (v && typeof v === "object") out.push(...flattenFieldErrors(v as Record<string, unknown>, key));
    else out.push(`${key}: ${String(v)}`);
  }
  return out;
}

/** Shows an API error: its message (always), code, HTTP status, request id, libvirt's own text and
 * per-field errors. Every API error on every page goes through this. */
export function ErrorBanner({ error, title = "Request failed", onRetry, onDismiss, testId = "error-banner" }: ErrorBannerProps) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  const fieldLines = api ? flattenFieldErrors(api.fieldErrors) : [];
  const libvirt = api?.libvirtError;
  return (
    <div className="alert alert-danger" role="alert" data-testid={testId} data-error-code={api?.code ?? ""}>
      <Icon name="alert" className="alert-icon" />
      <div className="alert-body">
        <div className="alert-title">{title}</div>
        <div data-testid={`${testId}-message`}>{error.message}</div>
        {fieldLines.length > 0 && (
          <ul data-testid={`${testId}-fields`}>
            {fieldLines.map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
        )}
        {libvirt && !error.message.includes(libvirt) && (
          <div className="alert-meta">
            libvirt: <code>{libvirt}</code>
          </div>
        )}
        {api && (
          <div className="alert-meta">
            <code data-testid={`${testId}-code`}>{api.code}</code>
            {api.status ? <> · HTTP {api.status}</> : null}
            {api.requestId && (
              <>
                {" "}· request id <code data-testid={`${testId}-request-id`}>{api.requestId}</code>
              </>
            )}
          </div>
        )}
        {onRetry && (
          <div style={{ marginTop: 8 }}>
            <button type="button" className="btn btn-sm" onClick={onRetry}>
              <Icon name="refresh" size={14} /> Retry
            </button>
          </div>
        )}
      </div>
      {onDismiss && (
        <button type="button" className="alert-close" aria-label="Dismiss" onClick={onDismiss}>
          <Icon name="close" />
        </button>
      )}
    </div>
  );
}

/** A non-error notice (warnings such as unreadable metadata files, informational hints). */
export function Alert({
  tone = "warning",
  title,
  children,
  testId,
}: {
  tone?: "warning" | "info" | "danger";
  title?: string;
  children: React.ReactNode;
  testId?: string;
}) {
  return (
    <div className={`alert alert-${tone}`} role={tone === "danger" ? "alert" : "status"} data-testid={testId}>
      <Icon name={tone === "info" ? "info" : "alert"} className="alert-icon" />
      <div className="alert-body">
        {title && <div className="alert-title">{title}</div>}
        {children}
      </div>
    </div>
  );
}
