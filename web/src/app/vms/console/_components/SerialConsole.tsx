"use client";

// The VM's serial console in xterm.js. Output arrives as bytes (xterm decodes UTF-8 across frame boundaries);
// keystrokes go back as UTF-8 bytes. The terminal follows the size of its box (FitAddon + ResizeObserver);
// a serial line carries no window size, so the guest keeps its own idea of columns (`stty cols N` there).
import "@xterm/xterm/css/xterm.css";
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import { ApiError, asApiError } from "@/lib/api";
import { Phase, SessionEnd, consoleSocketUrl } from "./consoleSession";

export interface SerialHandle {
  fullScreen(): void;
  /** Send text as typed input (a paste). */
  paste(text: string): void;
  focus(): void;
}

interface Props {
  node: string;
  name: string;
  onPhase(phase: Phase): void;
  onError(err: ApiError): void;
  onEnd(end: SessionEnd): void;
}

export const SerialConsole = forwardRef<SerialHandle, Props>(function SerialConsole(
  { node, name, onPhase, onError, onEnd },
  ref,
) {
  const frameRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<HTMLDivElement>(null);
  const sendRef = useRef<(data: string) => void>(() => {});
  const focusRef = useRef<() => void>(() => {});
  const handlers = useRef({ onPhase, onError, onEnd });
  handlers.current = { onPhase, onError, onEnd };

  useEffect(() => {
    let cancelled = false;
    let ws: WebSocket | null = null;
    const cleanups: (() => void)[] = [];
    (async () => {
      handlers.current.onPhase("requesting");
      const [{ Terminal }, { FitAddon }] = await Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]);
      if (cancelled || !termRef.current) return;
      const term = new Terminal({
        cursorBlink: true,
        scrollback: 5000,
        fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
        fontSize: 14,
        theme: { background: "#0b0d12" },
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(termRef.current);
      fit.fit();
      cleanups.push(() => term.dispose());
      const observer = new ResizeObserver(() => {
        try {
          fit.fit();
        } catch {
          /* the box is hidden for a moment */
        }
      });
      observer.observe(termRef.current);
      cleanups.push(() => observer.disconnect());
      focusRef.current = () => term.focus();

      let url: string;
      try {
        url = await consoleSocketUrl(node, name, "serial");
      } catch (err) {
        if (!cancelled) handlers.current.onError(asApiError(err, "get-vm-console"));
        return;
      }
      if (cancelled) return;
      handlers.current.onPhase("connecting");
      const encoder = new TextEncoder();
      let opened = false;
      const socket = new WebSocket(url);
      ws = socket;
      socket.binaryType = "arraybuffer";
      const send = (data: string | Uint8Array) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(typeof data === "string" ? encoder.encode(data) : data);
      };
      sendRef.current = send;
      socket.onopen = () => {
        opened = true;
        handlers.current.onPhase("connected");
        term.focus();
      };
      socket.onmessage = (e) => {
        term.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
      };
      socket.onclose = (e) => {
        if (!cancelled) handlers.current.onEnd({ code: e.code, reason: e.reason, opened });
      };
      const onData = term.onData((d) => send(d));
      // onBinary: input xterm produces as raw bytes (some mouse reports), one char per byte
      const onBinary = term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
      cleanups.push(() => onData.dispose(), () => onBinary.dispose());
    })().catch((err) => {
      if (!cancelled) handlers.current.onError(asApiError(err, "serial"));
    });
    return () => {
      cancelled = true;
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
      cleanups.reverse().forEach((fn) => fn());
    };
  }, [node, name]);

  useImperativeHandle(ref, () => ({
    fullScreen: () => void frameRef.current?.requestFullscreen?.(),
    paste: (text) => sendRef.current(text.replace(/\r?\n/g, "\r")),
    focus: () => focusRef.current(),
  }));

  return (
    <div className="console-frame" ref={frameRef} data-testid="serial-frame">
      <div className="console-terminal" ref={termRef} data-testid="serial-terminal" />
    </div>
  );
});
