// /vms/create/ — a server component rendered once at build time: it reads the API's own OpenAPI document
// (src/api/openapi.json, the source of the generated types) to decide whether create-vm takes a `template`,
// so the template choice appears in the wizard exactly when the server it ships with supports it. Only the
// boolean reaches the browser.
import { Suspense } from "react";
import openapi from "@/api/openapi.json";
import { LoadingBlock } from "@/components/Loading";
import { CreateVmWizard } from "./CreateVmWizard";

type Doc = { components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> } };
const TEMPLATES_SUPPORTED = "template" in ((openapi as Doc).components?.schemas?.CreateVmRequest?.properties ?? {});

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <CreateVmWizard templatesSupported={TEMPLATES_SUPPORTED} />
    </Suspense>
  );
}
