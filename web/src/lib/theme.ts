"use client";

// The colour theme: "system" (follows prefers-color-scheme, live), "light" or "dark", remembered in
// localStorage ("jvp.theme"). The resolved theme is `data-theme` on <html>; globals.css holds both token
// sets. THEME_BOOT (an inline script in the root layout) sets it before the first paint, so a dark page
// never flashes light.

import { useEffect, useState } from "react";

export type ThemeChoice = "system" | "light" | "dark";
import { THEME_KEY as KEY } from "@/lib/themeBoot";
const listeners = new Set<(c: ThemeChoice) => void>();


export function getThemeChoice(): ThemeChoice {
  try {
    const v = window.localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "system";
  } catch {
    return "system";
  }
}

function systemDark(): boolean {
  return typeof window !== "undefined" && window.matchMedia?.("(prefers-color-scheme: dark)").matches;
}

export function applyTheme(choice: ThemeChoice = getThemeChoice()): "light" | "dark" {
  const resolved = choice === "system" ? (systemDark() ? "dark" : "light") : choice;
  document.documentElement.dataset.theme = resolved;
  return resolved;
}

export function setThemeChoice(choice: ThemeChoice): void {
  try {
    if (choice === "system") window.localStorage.removeItem(KEY);
    else window.localStorage.setItem(KEY, choice);
  } catch {
    /* storage disabled: the choice lasts for this page */
  }
  applyTheme(choice);
  listeners.forEach((fn) => fn(choice));
}

/** The current choice; keeps <html data-theme> in step with the system while the choice is "system". */
export function useTheme(): [ThemeChoice, (c: ThemeChoice) => void] {
  const [choice, setChoice] = useState<ThemeChoice>("system");
  useEffect(() => {
    setChoice(getThemeChoice());
    applyTheme();
    listeners.add(setChoice);
    const mq = window.matchMedia?.("(prefers-color-scheme: dark)");
    const onSystem = () => {
      if (getThemeChoice() === "system") applyTheme("system");
    };
    mq?.addEventListener?.("change", onSystem);
    const onStorage = (e: StorageEvent) => {
      if (e.key === KEY || e.key === null) {
        setChoice(getThemeChoice());
        applyTheme();
      }
    };
    window.addEventListener("storage", onStorage);
    return () => {
      listeners.delete(setChoice);
      mq?.removeEventListener?.("change", onSystem);
      window.removeEventListener("storage", onStorage);
    };
  }, []);
  return [choice, setThemeChoice];
}
