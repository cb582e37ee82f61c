// Formatting helpers. A value the server did not give (null/undefined) is shown as "—", never as 0.

export const DASH = "—";

export function isMissing(v: unknown): v is null | undefined {
  return v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
}

/** Any value as text, "—" when missing or empty. */
export function show(v: unknown): string {
  if (isMissing(v) || v === "") return DASH;
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1073741824 -> "1.00 GiB" (binary units, as libvirt reports them). */
export function formatBytes(bytes: number | null | undefined, digits = 1): string {
  if (isMissing(bytes)) return DASH;
  let v = Math.abs(bytes);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i += 1;
  }
  const sign = bytes < 0 ? "-" : "";
  return `${sign}${i === 0 ? v.toFixed(0) : v.toFixed(digits)} ${UNITS[i]}`;
}

export function formatMiB(mib: number | null | undefined): string {
  return isMissing(mib) ? DASH : formatBytes(mib * 1024 * 1024);
}

export function formatNumber(n: number | null | undefined): string {
  return isMissing(n) ? DASH : n.toLocaleString("en-US");
}

/** used/total as a percentage (0-100), null when either is missing or total is 0. */
export function percent(used: number | null | undefined, total: number | null | undefined): number | null {
  if (isMissing(used) || isMissing(total) || total <= 0) return null;
  return Math.max(0, Math.min(100, (used / total) * 100));
}

/** RFC 3339 -> "2025-01-31 14:03:07" in the browser's time zone; the raw value when it does not parse. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "3 min ago" style, for "updated" hints. */
export function formatAgo(d: Date | string | null | undefined, now: Date = new Date()): string {
  if (!d) return DASH;
  const t = typeof d === "string" ? new Date(d) : d;
  const s = Math.round((now.getTime() - t.getTime()) / 1000);
  if (Number.isNaN(s)) return DASH;
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function formatDurationMs(ms: number | null | undefined): string {
  if (isMissing(ms)) return DASH;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Labels as `key=value` lines (for a textarea) and back. */
export function labelsToText(labels: Record<string, string> | null | undefined): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
}

export function parseLabels(text: string): { labels: Record<string, string>; error: string | null } {
  const labels: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i].trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { labels, error: `line ${i + 1}: expected key=value, got "${line}"` };
    const key = line.slice(0, eq).trim();
    if (key in labels) return { labels, error: `line ${i + 1}: label "${key}" is given twice` };
    labels[key] = line.slice(eq + 1).trim();
  }
  return { labels, error: null };
}
