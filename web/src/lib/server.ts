"use client";

// What the server says about itself (describe-server): whether it is the demo and, there, which flows the
// test driver cannot carry, each with the one-line reason the UI shows on the disabled control. Asked once per
// page load (the answer does not change while the server runs).
import { useEffect, useState } from "react";
import { call } from "@/lib/api";

export interface ServerInfo {
  demo: boolean;
  /** feature (console, cloud_init, volume_upload, volume_download, template_register, migrate) -> reason */
  limits: Record<string, string>;
}

let pending: Promise<ServerInfo> | null = null;

export function serverInfo(): Promise<ServerInfo> {
  if (!pending) {
    pending = call("describe-server", {}).then(
      (res) => ({
        demo: res.server.demo,
        limits: Object.fromEntries(res.server.demo_limits.map((l) => [l.feature, l.reason])),
      }),
      (err) => {
        pending = null; // not signed in yet, or the server is down: ask again next time
        throw err;
      },
    );
  }
  return pending;
}

/** null until known; a server that cannot say is treated as not the demo. */
export function useServerInfo(): ServerInfo | null {
  const [info, setInfo] = useState<ServerInfo | null>(null);
  useEffect(() => {
    let live = true;
    serverInfo().then(
      (i) => live && setInfo(i),
      () => live && setInfo({ demo: false, limits: {} }),
    );
    return () => {
      live = false;
    };
  }, []);
  return info;
}

/** The reason a flow is disabled in the demo, or undefined when it works. */
export function demoLimit(info: ServerInfo | null, feature: string): string | undefined {
  return info?.demo ? info.limits[feature] : undefined;
}
