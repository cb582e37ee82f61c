"use client";

import { useState } from "react";
import { Icon } from "@/components/Icon";

/** Preformatted text (XML, keys, user-data) in a scrollable box, with a copy button. */
export function CodeBlock({ text, maxHeight = 420, testId = "code-block" }: { text: string; maxHeight?: number; testId?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      window.setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false); // clipboard refused (insecure origin): the text is still selectable
    }
  };
  return (
    <div style={{ position: "relative" }}>
      <button
        type="button"
        className="btn btn-sm"
        onClick={() => void copy()}
        style={{ position: "absolute", top: 8, right: 8 }}
        data-testid={`${testId}-copy`}
      >
        <Icon name={copied ? "check" : "copy"} size={13} /> {copied ? "Copied" : "Copy"}
      </button>
      <pre
        data-testid={testId}
        style={{
          margin: 0, padding: "12px 14px", paddingRight: 90, maxHeight, overflow: "auto", background: "#0f172a", color: "#e2e8f0",
          borderRadius: 8, fontFamily: "var(--mono)", fontSize: 12.5, lineHeight: 1.5, whiteSpace: "pre", userSelect: "text",
        }}
      >
        {text}
      </pre>
    </div>
  );
}
