"use client";

// /vms/console/?node=local&name=web1&type=vnc|serial — a VM's display (noVNC) or serial console (xterm.js).
// Not in the sidebar: the VM list and detail pages link here. Every connection attempt asks get-vm-console
// for a one-time token (errors show in an ErrorBanner); the websocket's close reason says why a session ended.
// A websocket the server refuses before it opens carries no readable error (browsers hide the handshake's
// answer): the page then asks get-vm-console again, which checks the same things, and shows its error.
import "./console.css";
import { Suspense, useCallback, useRef, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { ApiError, asApiError, call } from "@/lib/api";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { LoadingBlock } from "@/components/Loading";
import { PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { Tabs } from "@/components/Tabs";
import { ConsoleType, Phase, SessionEnd, describeEnd } from "./_components/consoleSession";
import { SerialConsole, SerialHandle } from "./_components/SerialConsole";
import { VncConsole, VncHandle } from "./_components/VncConsole";

const PHASE_LABEL: Record<Phase, string> = {
  requesting: "requesting access",
  connecting: "connecting",
  connected: "connected",
  ended: "disconnected",
};
const PHASE_TONE = { requesting: "info", connecting: "info", connected: "success", ended: "neutral" } as const;

function ConsolePage({ node, name, type }: { node: string; name: string; type: ConsoleType }) {
  const router = useRouter();
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
      () => setEnd(e), // it would be accepted now: the generic explanation (token used or expired, origin, ...)
      (err) => setError(asApiError(err, "get-vm-console")),
    );
  }, [node, name, type]);
  const switchTo = (t: string) => {
    const q = new URLSearchParams({ node, name, type: t });
    router.replace(`/vms/console/?${q.toString()}`);
    reconnect();
  };

  const ended = end ? describeEnd(end) : null;
  const live = phase === "connected";
  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            Virtual machines / {name} / Console
          </>
        }
        title={
          <>
            {name}{" "}
            <span data-testid="console-phase" data-phase={phase}>
              <StateBadge state={PHASE_LABEL[phase]} tone={PHASE_TONE[phase]} />
            </span>
          </>
        }
        subtitle={
          <>
            {type === "vnc" ? "Display (VNC)" : "Serial console"} on node <code>{node}</code>
          </>
        }
        actions={
          <button type="button" className="btn btn-sm" onClick={reconnect} data-testid="console-reconnect">
            <Icon name="refresh" size={14} /> Reconnect
          </button>
        }
      />
      <Tabs
        tabs={[
          { id: "vnc", label: "Display (VNC)" },
          { id: "serial", label: "Serial console" },
        ]}
        active={type}
        onChange={switchTo}
        testId="console-type"
      />
      <ErrorBanner error={error} title="Could not open the console" onRetry={reconnect} testId="console-error" />
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

function FromQuery() {
  const params = useSearchParams();
  const name = params.get("name") ?? "";
  const node = params.get("node") || "local";
  const type: ConsoleType = params.get("type") === "serial" ? "serial" : "vnc";
  if (!name) {
    return (
      <Alert tone="warning" title="Which VM?" testId="console-no-vm">
        Open this page as <code>/vms/console/?node=NODE&amp;name=VM&amp;type=vnc</code> (or <code>type=serial</code>).
      </Alert>
    );
  }
  return <ConsolePage key={`${node}/${name}`} node={node} name={name} type={type} />;
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <FromQuery />
    </Suspense>
  );
}
