// The browser session: the API token (localStorage) and what we know about it.
//
// The login page asks `describe-token` who the token is (name, role) and keeps that beside the token.

const TOKEN_KEY = "jvp.token";
const IDENTITY_KEY = "jvp.identity";

export interface Identity {
  /** The token's name, from describe-token. */
  name?: string | null;
  /** admin | operator | viewer, when known. */
  role?: string | null;
  /** The first characters of the token (`jvp_AbCdEf`), safe to show. */
  prefix: string;
}

const listeners = new Set<() => void>();

function storage(): Storage | null {
  try {
    return typeof window === "undefined" ? null : window.localStorage;
  } catch {
    return null; // storage disabled by the browser
  }
}

export function getToken(): string | null {
  return storage()?.getItem(TOKEN_KEY) || null;
}

export function tokenPrefix(token: string): string {
  return token.slice(0, Math.min(token.length, token.startsWith("jvp_") ? 10 : 6));
}

export function getIdentity(): Identity | null {
  const token = getToken();
  if (!token) return null;
  const raw = storage()?.getItem(IDENTITY_KEY);
  if (raw) {
    try {
      const parsed = JSON.parse(raw) as Identity;
      if (parsed.prefix === tokenPrefix(token)) return parsed;
    } catch {
      /* fall through: rebuild from the token */
    }
  }
  return { prefix: tokenPrefix(token) };
}

export function saveSession(token: string, identity: Omit<Identity, "prefix">): void {
  const s = storage();
  if (!s) return;
  s.setItem(TOKEN_KEY, token);
  s.setItem(IDENTITY_KEY, JSON.stringify({ ...identity, prefix: tokenPrefix(token) }));
  listeners.forEach((fn) => fn());
}

export function clearSession(): void {
  const s = storage();
  s?.removeItem(TOKEN_KEY);
  s?.removeItem(IDENTITY_KEY);
  listeners.forEach((fn) => fn());
}

/** Subscribe to session changes (login/logout in this tab or another one). */
export function onSessionChange(fn: () => void): () => void {
  listeners.add(fn);
  const onStorage = (e: StorageEvent) => {
    if (e.key === TOKEN_KEY || e.key === IDENTITY_KEY || e.key === null) fn();
  };
  window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(fn);
    window.removeEventListener("storage", onStorage);
  };
}

/** Where the login page sends the user back to (a same-site path only). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/login")) return "/";
  return next;
}
