"use client";

import { FormEvent, useRef, useState } from "react";
import { ApiError, asApiError } from "@/lib/api";
import { formatBytes } from "@/lib/format";
import { demoLimit, useServerInfo } from "@/lib/server";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput } from "@/components/Field";
import { Card } from "@/components/PageHeader";
import { ProgressBar } from "@/components/ProgressBar";
import { Pool, Volume, errorFor } from "../_components/storageUtil";
import { Progress, UploadHandle, uploadVolume } from "../_components/transfer";

/** Upload a disk image into a new volume, with the browser's own upload progress. */
export function UploadCard({ pool, onUploaded }: { pool: Pool; onUploaded: (v: Volume) => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [format, setFormat] = useState("");
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const handle = useRef<UploadHandle | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setProgress({ loaded: 0, total: file.size });
    const h = uploadVolume({ node: pool.node, pool: pool.name, name: name.trim(), format: format || undefined }, file, setProgress);
    handle.current = h;
    try {
      const vol = await h.done;
      onUploaded(vol);
      setFile(null);
      setName("");
      if (input.current) input.current.value = "";
    } catch (err) {
      setError(asApiError(err, "upload-volume"));
    } finally {
      handle.current = null;
      setProgress(null);
    }
  };

  const sending = progress !== null;
  const demoWhy = demoLimit(useServerInfo(), "volume_upload");
  const pct = progress && progress.total ? (progress.loaded / progress.total) * 100 : null;
  return (
    <Card title="Upload an image" testId="card-upload">
      <form onSubmit={submit} noValidate>
        <ErrorBanner error={error} title="The upload failed; nothing was kept" testId="upload-error" />
        {demoWhy && <p className="hint" data-testid="upload-disabled-reason">Disabled in the demo: {demoWhy}.</p>}
        <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap" }}>
          <Field label="File" name="upload-file" hint="A raw or qcow2 disk image, or an ISO.">
            <input
              id="upload-file"
              ref={input}
              type="file"
              className="input"
              disabled={sending}
              onChange={(e) => {
                const f = e.target.files?.[0] ?? null;
                setFile(f);
                if (f && !name) setName(f.name.replace(/[^A-Za-z0-9._-]/g, "_"));
              }}
              data-testid="upload-file-input"
            />
          </Field>
          <Field label="Volume name" name="upload-name" required error={errorFor(error, "name")}>
            <TextInput id="upload-name" value={name} disabled={sending} onChange={(e) => setName(e.target.value)} data-testid="upload-name-input" />
          </Field>
          <Field label="Format" name="upload-format" error={errorFor(error, "format")} hint="Automatic: qcow2 when the file has a qcow2 header.">
            <Select id="upload-format" value={format} disabled={sending} onChange={(e) => setFormat(e.target.value)} data-testid="upload-format-input">
              <option value="">automatic</option>
              <option value="raw">raw</option>
              <option value="qcow2">qcow2</option>
            </Select>
          </Field>
        </div>
        {sending ? (
          <div className="stack">
            <ProgressBar value={pct} label={`Uploading ${formatBytes(progress.loaded)} of ${formatBytes(progress.total)}`} testId="upload-progress" />
            <div>
              <button type="button" className="btn btn-sm" onClick={() => handle.current?.abort()} data-testid="upload-abort">
                Cancel upload
              </button>
            </div>
          </div>
        ) : (
          <button type="submit" className="btn btn-primary" disabled={!file || !name.trim() || !pool.active || !!demoWhy} title={demoWhy} data-testid="upload-submit">
            Upload{file ? ` ${formatBytes(file.size)}` : ""}
          </button>
        )}
      </form>
    </Card>
  );
}
