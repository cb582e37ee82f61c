import type { Schema } from "@/lib/api";
import type { Task } from "@/components/TaskProgress";

export type Template = Schema<"Template">;
export type UpdateCheck = Schema<"TemplateUpdateCheckResponse">;

/** The task kinds of this page: their progress bars come from list-tasks, so they survive a reload. */
export const TEMPLATE_TASKS = ["register-template", "update-template-image", "check-template-updates", "verify-template",
  "rebuild-template-vms"] as const;

export function osText(t: Pick<Template, "os">): string {
  const parts = [t.os.name, t.os.version, t.os.arch].filter(Boolean);
  return parts.length ? parts.join(" ") : "—";
}

/** "url cloud.debian.org", "volume default/base.qcow2", ... */
export function sourceText(t: Pick<Template, "source">): string {
  const s = t.source;
  if (s.type === "url" && s.url) {
    try {
      return new URL(s.url).host;
    } catch {
      return s.url;
    }
  }
  if (s.type === "file") return s.path ?? "file";
  if (s.type === "volume") return `${s.pool ?? ""}/${s.volume ?? ""}`;
  if (s.type === "snapshot") return `${s.vm ?? ""}@${s.snapshot ?? ""}`;
  return s.type;
}

/** A template task finished recently enough to be worth showing (its error above all). */
export function recent(task: Task, now: number = Date.now(), windowMs = 15 * 60_000): boolean {
  const end = task.finished_at ? Date.parse(task.finished_at) : now;
  return now - end < windowMs;
}
