"use client";

import { useQuery } from "@/lib/hooks";
import { Field, Options, Select } from "@/components/Field";

/** The node a page shows, chosen among the registered nodes (the current one stays listed even when it is
 * not registered, so the URL's choice is visible). `id` is also the field's name and data-testid. */
export function NodeSelect({ id, value, onChange }: { id: string; value: string; onChange: (node: string) => void }) {
  const nodes = useQuery("list-nodes", {});
  const names = nodes.data?.nodes.map((n) => n.name) ?? [value];
  return (
    <Field label="Node" name={id}>
      <Select id={id} className="select select-sm" value={value} onChange={(e) => onChange(e.target.value)} data-testid={id}>
        <Options values={names.includes(value) ? names : [value, ...names]} />
      </Select>
    </Field>
  );
}
