"use client";

// The VM's display through noVNC (bundled from @novnc/novnc, nothing fetched at run time). The page mounts one
// per connection attempt (key = attempt): each asks for its own one-time token.
import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from "react";
import type RFB from "@novnc/novnc";
import { ApiError, asApiError } from "@/lib/api";
import { Alert } from "@/components/ErrorBanner";
import { Phase, SessionEnd, consoleSocketUrl, typeText } from "./consoleSession";

export interface VncHandle {
  ctrlAltDel(): void;
  /** Put text on the VM's clipboard (guests with a clipboard agent see it). */
  setClipboard(text: string): void;
  /** Type text as key strokes (US layout): works on any guest, text consoles and login prompts too. */
  type(text: string): void;
  fullScreen(): void;
}

interface Props {
  node: string;
  name: string;
  scale: boolean;
  onPhase(phase: Phase): void;
  onError(err: ApiError): void;
  onEnd(end: SessionEnd): void;
  onClipboard(text: string): void;
}

export const VncConsole = forwardRef<VncHandle, Props>(function VncConsole(
  { node, name, scale, onPhase, onError, onEnd, onClipboard },
  ref,
) {
  const frameRef = useRef<HTMLDivElement>(null);
  const screenRef = useRef<HTMLDivElement>(null);
  const rfbRef = useRef<RFB | null>(null);
  const scaleRef = useRef(scale);
  const handlers = useRef({ onPhase, onError, onEnd, onClipboard });
  handlers.current = { onPhase, onError, onEnd, onClipboard };
  const [password, setPassword] = useState<string | null>(null); // non-null: the VNC server asks for one
  const [securityError, setSecurityError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    let ws: WebSocket | null = null;
    let rfb: RFB | null = null;
    (async () => {
      handlers.current.onPhase("requesting");
      // Load noVNC before asking for the token: the socket must be handed to noVNC the moment it exists, or
      // the server's first bytes (the RFB greeting) would arrive with nobody listening.
      const { default: Rfb } = await import("@novnc/novnc");
      let url: string;
      try {
        url = await consoleSocketUrl(node, name, "vnc");
      } catch (err) {
        if (!cancelled) handlers.current.onError(asApiError(err, "get-vm-console"));
        return;
      }
      if (cancelled || !screenRef.current) return;
      handlers.current.onPhase("connecting");
      let opened = false;
      ws = new WebSocket(url);
      ws.addEventListener("open", () => {
        opened = true;
      });
      ws.addEventListener("close", (e) => {
        if (!cancelled) handlers.current.onEnd({ code: e.code, reason: e.reason, opened });
      });
      rfb = new Rfb(screenRef.current, ws, { shared: true });
      rfb.scaleViewport = scaleRef.current;
      rfb.resizeSession = false;
      rfb.background = "#0b0d12";
      rfb.addEventListener("connect", () => handlers.current.onPhase("connected"));
      rfb.addEventListener("credentialsrequired", () => setPassword(""));
      rfb.addEventListener("securityfailure", (e) => {
        const d = (e as CustomEvent<{ status: number; reason?: string }>).detail;
        setSecurityError(d.reason || `VNC authentication failed (status ${d.status})`);
      });
      rfb.addEventListener("clipboard", (e) => handlers.current.onClipboard((e as CustomEvent<{ text: string }>).detail.text));
      rfbRef.current = rfb;
    })().catch((err) => {
      if (!cancelled) handlers.current.onError(asApiError(err, "vnc"));
    });
    return () => {
      cancelled = true;
      rfbRef.current = null;
      try {
        rfb?.disconnect();
      } catch {
        /* already disconnected */
      }
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    };
  }, [node, name]);

  useEffect(() => {
    scaleRef.current = scale;
    if (rfbRef.current) rfbRef.current.scaleViewport = scale;
  }, [scale]);

  useImperativeHandle(ref, () => ({
    ctrlAltDel: () => rfbRef.current?.sendCtrlAltDel(),
    setClipboard: (text) => rfbRef.current?.clipboardPasteFrom(text),
    type: (text) => {
      if (!rfbRef.current) return;
      typeText(rfbRef.current, text);
      rfbRef.current.focus();
    },
    fullScreen: () => void frameRef.current?.requestFullscreen?.(),
  }));

  const submitPassword = () => {
    rfbRef.current?.sendCredentials({ password: password ?? "" });
    setPassword(null);
  };

  return (
    <div className="console-frame" ref={frameRef} data-testid="vnc-frame">
      {securityError && (
        <Alert tone="danger" title="VNC authentication failed" testId="vnc-security-error">
          {securityError}
        </Alert>
      )}
      {password !== null && (
        <form
          className="console-password"
          data-testid="vnc-password-form"
          onSubmit={(e) => {
            e.preventDefault();
            submitPassword();
          }}
        >
          <label htmlFor="vnc-password">This VM&apos;s VNC display has a password:</label>
          <input
            id="vnc-password"
            className="input input-sm"
            type="password"
            autoFocus
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            data-testid="vnc-password"
          />
          <button type="submit" className="btn btn-sm btn-primary">
            Send
          </button>
        </form>
      )}
      <div className={`console-screen${scale ? " scaled" : ""}`} ref={screenRef} data-testid="vnc-screen" />
    </div>
  );
});
