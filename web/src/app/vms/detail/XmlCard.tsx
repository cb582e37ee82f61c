"use client";

import { useState } from "react";
import { useQuery } from "@/lib/hooks";
import { CodeBlock } from "@/components/CodeBlock";
import { ErrorBanner } from "@/components/ErrorBanner";
import { LoadingBlock } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { Tabs } from "@/components/Tabs";

/** libvirt's XML (admins only: describe-vm-xml needs the admin role), fetched when opened. */
export function XmlCard({ node, name }: { node: string; name: string }) {
  const [open, setOpen] = useState(false);
  const [tab, setTab] = useState<"live" | "config">("live");
  const q = useQuery("describe-vm-xml", { node, name }, { enabled: open });
  const xml = tab === "live" ? q.data?.xml : q.data?.inactive_xml;
  return (
    <Card
      title="Domain XML"
      testId="card-xml"
      extra={
        <button type="button" className="btn btn-sm" onClick={() => (open ? void q.refresh() : setOpen(true))} data-testid="xml-load">
          {open ? "Reload" : "Show XML"}
        </button>
      }
    >
      {!open ? (
        <p className="muted small">libvirt&apos;s definition of the domain: the live XML when it runs, and the persistent config.</p>
      ) : (
        <>
          <ErrorBanner error={q.error} title="Could not read the XML" testId="xml-error" />
          {q.loading ? (
            <LoadingBlock />
          ) : (
            q.data && (
              <>
                <Tabs
                  tabs={[
                    { id: "live", label: "Current" },
                    { id: "config", label: "Persistent config" },
                  ]}
                  active={tab}
                  onChange={(id) => setTab(id as "live" | "config")}
                  testId="xml-tabs"
                />
                <div style={{ marginTop: 12 }}>
                  <CodeBlock text={xml ?? "(none)"} testId="xml-text" />
                </div>
              </>
            )
          )}
        </>
      )}
    </Card>
  );
}
