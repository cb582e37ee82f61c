"use client";

// /vms/console/?node=local&name=web1&type=vnc|serial — a VM's console as a page of its own (the VM page has it
// as its Console tab too): the shared ConsolePanel under the page header.
import { Suspense } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { Alert } from "@/components/ErrorBanner";
import { LoadingBlock } from "@/components/Loading";
import { PageHeader } from "@/components/PageHeader";
import { ConsolePanel } from "./_components/ConsolePanel";
import { ConsoleType } from "./_components/consoleSession";
import { vmHref } from "../_components/vmUtil";
import Link from "next/link";

function ConsolePage({ node, name, type }: { node: string; name: string; type: ConsoleType }) {
  const router = useRouter();
  return (
    <ConsolePanel
      node={node}
      name={name}
      type={type}
      onType={(t) => router.replace(`/vms/console/?${new URLSearchParams({ node, name, type: t }).toString()}`)}
      header={({ phase, reconnect }) => (
        <PageHeader
          breadcrumb={<><Link href="/vms/">VMs</Link> / <Link href={vmHref(node, name)}>{name}</Link> / Console</>}
          title={<>{name} {phase}</>}
          subtitle={<>{type === "vnc" ? "Display (VNC)" : "Serial console"} on node <code>{node}</code></>}
          actions={reconnect}
        />
      )}
    />
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
