"use client";

// A VM's display (noVNC) or serial console (xterm.js), shared by /vms/console/ and the VM page's Console tab.
// Every connection attempt asks get-vm-console for a one-time token; the websocket's close reason says why a
// session ended. A websocket the server refuses before it opens carries no readable error (browsers hide the
// handshake's answer): the panel then asks get-vm-console again, which checks the same things, and shows its
// answer.
import "../console.css";
import { ReactNode, useCallback, useRef, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { StateBadge } from "@/components/StateBadge";
import { Tabs } from "@/components/Tabs";
import { ConsoleType, Phase, SessionEnd, describeEnd } from "./consoleSession";
import { SerialConsole, SerialHandle } from "./SerialConsole";
import { VncConsole, VncHandle } from "./VncConsole";

const PHASE_LABEL: Record<Phase, string> = {
  requesting: "requesting access",
  connecting: "connecting",
  connected: "connected",
  ended: "disconnected",
};
const PHASE_TONE = { requesting: "info", connecting: "info", connected: "success", ended: "neutral" } as const;
/** The server's "this console cannot open here" answers: a state, not a failure of the page. */
const UNAVAILABLE = ["ConsoleNotAvailable", "InvalidState"];

const defaultHeader = ({ phase, reconnect }: { phase: ReactNode; reconnect: ReactNode }) => (
  <div className="console-toolbar">{phase}{reconnect}</div>
);

/** A VM's console (VNC display or serial), as a page of its own (/vms/console/) or the Console tab of the VM
 * page. `onType`: the VNC/serial switch (the host page puts the type in its URL). The server's own answer says
 * why a console cannot open (ConsoleNotAvailable, InvalidState: shown as a notice with its code and message);
 * any other failure is an error banner, once. */
export function ConsolePanel({ node, name, type, onType, header }: {
  node: string;
  name: string;
  type: ConsoleType;
  onType: (t: ConsoleType) => void;
  /** Rendered above the tabs with the session's phase badge and reconnect button. */
  header?: (parts: { phase: ReactNode; reconnect: ReactNode }) => ReactNode;
}) {
  const [attempt, setAttempt] = useState(0);
  const [phase, setPhase] = useState<Phase>("requesting");
  const [error, setError] = useState<ApiError | null>(null);
  const [end, setEnd] = useState<SessionEnd | null>(null);
  const [scale, setScale] = useState(true);
  const [text, setText] = useState("");
  const [fromVm, setFromVm] = useState<string | null>(null);
  const vnc = useRef<VncHandle>(null);
  const serial = useRef<SerialHandle>(null);

  const reconnect = useCallback(() => {
    setError(null);
    setEnd(null);
    setPhase("requesting");
    setAttempt((a) => a + 1);
  }, []);
  const onError = useCallback((err: ApiError) => {
    setError(err);
    setPhase("ended");
  }, []);
  const onEnd = useCallback((e: SessionEnd) => {
    setPhase("ended");
    if (e.opened) {
      setEnd(e);
      return;
    }
    // Refused before opening: find out why from get-vm-console (its token, unused, expires within a minute).
    call("get-vm-console", { node, name, type }).then(
      () => setEnd(e), // the server accepts it now: say so, without guessing why the handshake was refused
      (err) => setError(asApiError(err, "get-vm-console")),
    );
  }, [node, name, type]);
  const switchTo = (t: string) => {
    onType(t === "serial" ? "serial" : "vnc");
    reconnect();
  };

  const ended = end ? describeEnd(end) : null;
  const live = phase === "connected";
  return (
    <>
      {(header ?? defaultHeader)({
        phase: (
          <span data-testid="console-phase" data-phase={phase}>
            <StateBadge state={PHASE_LABEL[phase]} tone={PHASE_TONE[phase]} />
          </span>
        ),
        reconnect: (
          <button type="button" className="btn btn-sm" onClick={reconnect} data-testid="console-reconnect">
            <Icon name="refresh" size={14} /> Reconnect
          </button>
        ),
      })}
      <Tabs
        tabs={[
          { id: "vnc", label: "Display (VNC)" },
          { id: "serial", label: "Serial console" },
        ]}
        active={type}
        onChange={switchTo}
        testId="console-type"
      />
      {error && UNAVAILABLE.includes(error.code) ? (
        <div data-testid="console-unavailable" data-error-code={error.code}>
          <Alert tone="info" title="This console cannot open">
            <span data-testid="console-unavailable-message">{error.message}</span>{" "}
            <code className="small" data-testid="console-unavailable-code">{error.code}</code>
          </Alert>
        </div>
      ) : (
        <ErrorBanner error={error} title="Could not open the console" onRetry={reconnect} testId="console-error" />
      )}
      {ended && (
        <div data-testid="console-ended" data-close-code={end?.code}>
          <Alert tone={ended.tone} title={ended.title}>
            <span data-testid="console-ended-text">{ended.text}</span>{" "}
            <button type="button" className="btn btn-sm" onClick={reconnect}>
              Reconnect
            </button>
          </Alert>
        </div>
      )}
      <div className="console-toolbar" data-testid="console-toolbar">
        {type === "vnc" && (
          <>
            <button type="button" className="btn btn-sm" disabled={!live} onClick={() => vnc.current?.ctrlAltDel()}
              data-testid="console-cad">
              Ctrl+Alt+Del
            </button>
            <label className="console-check">
              <input type="checkbox" checked={scale} onChange={(e) => setScale(e.target.checked)}
                data-testid="console-scale" />{" "}
              Scale to the window
            </label>
          </>
        )}
        <button type="button" className="btn btn-sm" disabled={!live}
          onClick={() => (type === "vnc" ? vnc.current?.fullScreen() : serial.current?.fullScreen())}
          data-testid="console-fullscreen">
          Full screen
        </button>
      </div>
      {type === "vnc" ? (
        <VncConsole key={`vnc-${attempt}`} ref={vnc} node={node} name={name} scale={scale} onPhase={setPhase}
          onError={onError} onEnd={onEnd} onClipboard={setFromVm} />
      ) : (
        <SerialConsole key={`serial-${attempt}`} ref={serial} node={node} name={name} onPhase={setPhase}
          onError={onError} onEnd={onEnd} />
      )}
      <section className="card console-paste" data-testid="console-clipboard">
        <div className="card-header">
          <h2>{type === "vnc" ? "Clipboard" : "Paste"}</h2>
        </div>
        <div className="card-body">
          {type === "vnc" && fromVm !== null && (
            <p className="muted small" data-testid="console-clipboard-from-vm">
              The VM&apos;s clipboard: <code>{fromVm}</code>
            </p>
          )}
          <textarea className="textarea" rows={3} value={text} onChange={(e) => setText(e.target.value)}
            placeholder={type === "vnc" ? "Text to type into the VM, or to put on its clipboard" : "Text to send to the console"}
            data-testid="console-clipboard-text" />
          <div className="console-paste-actions">
            {type === "vnc" ? (
              <>
                <button type="button" className="btn btn-sm btn-primary" disabled={!live || !text}
                  onClick={() => vnc.current?.type(text)} data-testid="console-type-text"
                  title="Types the text as key strokes (US keyboard layout): works at login prompts and text consoles">
                  Type into the VM
                </button>
                <button type="button" className="btn btn-sm" disabled={!live || !text}
                  onClick={() => vnc.current?.setClipboard(text)} data-testid="console-set-clipboard"
                  title="Guests with a clipboard agent can paste it">
                  Send to the VM&apos;s clipboard
                </button>
              </>
            ) : (
              <button type="button" className="btn btn-sm btn-primary" disabled={!live || !text}
                onClick={() => {
                  serial.current?.paste(text);
                  serial.current?.focus();
                }}
                data-testid="console-paste">
                Paste into the console
              </button>
            )}
          </div>
        </div>
      </section>
    </>
  );
}
