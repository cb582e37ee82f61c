// What both consoles share: a one-time token from get-vm-console turned into a websocket URL, the phases of a
// session, and what the server's close codes mean (jvp/service/console_relay.py defines them).
import { call } from "@/lib/api";

export type ConsoleType = "vnc" | "serial";
export type Phase = "requesting" | "connecting" | "connected" | "ended";

export interface SessionEnd {
  code: number;
  reason: string;
  /** Whether the websocket had opened: a handshake the server refused closes with 1006 before opening. */
  opened: boolean;
}

/** A fresh token (single use, valid a minute) and the absolute ws:// or wss:// URL of its console. Each
 * connection attempt asks for its own: a token is spent by the first websocket that presents it. */
export async function consoleSocketUrl(node: string, name: string, type: ConsoleType): Promise<string> {
  const ticket = await call("get-vm-console", { node, name, type });
  const url = new URL(ticket.ws_url, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

export interface EndText {
  title: string;
  text: string;
  tone: "info" | "warning" | "danger";
}

/** The message shown when a session ends, from the websocket's close code and the server's reason. */
export function describeEnd(end: SessionEnd): EndText {
  const reason = end.reason ? ` (${end.reason})` : "";
  switch (end.code) {
    case 4000:
      return { title: "The VM stopped", text: end.reason || "The VM is no longer running.", tone: "warning" };
    case 4001:
      return { title: "Closed for inactivity", text: end.reason || "No input for too long.", tone: "info" };
    case 4002:
      return { title: "The console closed on the VM's side", text: end.reason || "The console went away.", tone: "warning" };
    case 1000:
    case 1005:
      return { title: "Console closed", text: `The session ended${reason}.`, tone: "info" };
    case 1011:
      return { title: "Console failed", text: `JVP's console relay failed${reason}; the server log has the details.`, tone: "danger" };
    default:
      if (!end.opened) {
        // Asked again, get-vm-console accepted this console (else its error is shown instead): the handshake's
        // refusal carries no reason a browser can read, so none is made up here.
        return {
          title: "The server refused the console connection",
          text:
            "The websocket was closed before it opened (code " + end.code + "); asked again just now, the server " +
            "allows this console. Reconnect; if it is refused again, the server log has the reason.",
          tone: "danger",
        };
      }
      return { title: "Connection lost", text: `The connection to the server dropped (code ${end.code})${reason}.`, tone: "danger" };
  }
}

// US keyboard layout: which key (KeyboardEvent.code) types a character, and whether Shift is needed. Keysyms
// alone are not enough for QEMU, which works with scancodes (noVNC sends both when QEMU supports it).
const SHIFTED: Record<string, string> = {
  "!": "Digit1", "@": "Digit2", "#": "Digit3", $: "Digit4", "%": "Digit5", "^": "Digit6", "&": "Digit7",
  "*": "Digit8", "(": "Digit9", ")": "Digit0", _: "Minus", "+": "Equal", "{": "BracketLeft",
  "}": "BracketRight", "|": "Backslash", ":": "Semicolon", '"': "Quote", "<": "Comma", ">": "Period",
  "?": "Slash", "~": "Backquote",
};
const PLAIN: Record<string, string> = {
  "-": "Minus", "=": "Equal", "[": "BracketLeft", "]": "BracketRight", "\\": "Backslash", ";": "Semicolon",
  "'": "Quote", ",": "Comma", ".": "Period", "/": "Slash", "`": "Backquote", " ": "Space", "\n": "Enter",
  "\t": "Tab",
};
const XK_SHIFT_L = 0xffe1;

export interface KeyStroke {
  keysym: number;
  code: string | null;
  shift: boolean;
}

/** The key strokes that type `text` (CR LF and CR become Enter). */
export function keyStrokes(text: string): KeyStroke[] {
  const out: KeyStroke[] = [];
  for (const ch of text.replace(/\r\n?/g, "\n")) {
    const cp = ch.codePointAt(0) ?? 0;
    const keysym = ch === "\n" ? 0xff0d : ch === "\t" ? 0xff09 : cp <= 0xff ? cp : 0x01000000 + cp;
    let code: string | null = null;
    let shift = false;
    if (/[a-z]/.test(ch)) code = `Key${ch.toUpperCase()}`;
    else if (/[A-Z]/.test(ch)) [code, shift] = [`Key${ch}`, true];
    else if (/[0-9]/.test(ch)) code = `Digit${ch}`;
    else if (ch in SHIFTED) [code, shift] = [SHIFTED[ch], true];
    else if (ch in PLAIN) code = PLAIN[ch];
    out.push({ keysym, code, shift });
  }
  return out;
}

export interface KeySender {
  sendKey(keysym: number, code: string | null, down?: boolean): void;
}

export function typeText(rfb: KeySender, text: string): void {
  for (const k of keyStrokes(text)) {
    if (k.shift) rfb.sendKey(XK_SHIFT_L, "ShiftLeft", true);
    rfb.sendKey(k.keysym, k.code, true);
    rfb.sendKey(k.keysym, k.code, false);
    if (k.shift) rfb.sendKey(XK_SHIFT_L, "ShiftLeft", false);
  }
}
