// Volume bytes between the browser and JVP. `call()` speaks JSON only; these two speak raw bytes.
//
// Upload: XMLHttpRequest, because fetch() reports no upload progress. The file goes as the raw body (the
// browser sets Content-Length from the File), the parameters in the query string, as upload-volume wants.
// Download: fetch() with the token header (a plain link cannot carry it), read as a stream for progress,
// then saved through an object URL. The browser holds the bytes until they are saved, so very large
// volumes are better fetched with `jvp call download-volume ... -o FILE` or curl.

import type { Schema } from "@/lib/api";
import { ApiError } from "@/lib/api";
import { getToken } from "@/lib/session";

export interface Progress {
  loaded: number;
  total: number;
}

function errorFrom(status: number, text: string, action: string, requestId: string | null): ApiError {
  try {
    const e = JSON.parse(text).error;
    if (e && typeof e.message === "string") {
      return new ApiError({ status, code: e.code || `Http${status}`, message: e.message, details: e.details,
                            requestId: e.request_id ?? requestId, action });
    }
  } catch {
    // not the error shape: fall through
  }
  return new ApiError({ status, code: `Http${status}`, message: `${action} failed: HTTP ${status}`, requestId, action });
}

export interface UploadHandle {
  done: Promise<Schema<"Volume">>;
  abort: () => void;
}

export function uploadVolume(
  params: { node: string; pool: string; name: string; format?: string },
  file: File,
  onProgress: (p: Progress) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v) as [string, string][]);
  const done = new Promise<Schema<"Volume">>((resolve, reject) => {
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.onload = () => {
      const requestId = xhr.getResponseHeader("X-Request-Id");
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText).volume);
        } catch {
          reject(errorFrom(xhr.status, xhr.responseText, "upload-volume", requestId));
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText, "upload-volume", requestId));
      }
    };
    xhr.onerror = () => reject(new ApiError({ status: 0, code: "NetworkError", message: "the upload was cut off", action: "upload-volume" }));
    xhr.onabort = () => reject(new ApiError({ status: 0, code: "Aborted", message: "upload cancelled; the server removes the partial volume", action: "upload-volume" }));
  });
  xhr.open("POST", `/api/upload-volume?${query.toString()}`);
  const token = getToken();
  if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.send(file);
  return { done, abort: () => xhr.abort() };
}

export async function downloadVolume(
  params: { node: string; pool: string; name: string },
  onProgress: (p: Progress) => void,
  signal?: AbortSignal,
): Promise<void> {
  const token = getToken();
  const resp = await fetch("/api/download-volume", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(params),
    cache: "no-store",
    credentials: "omit",
    signal,
  });
  if (!resp.ok) throw errorFrom(resp.status, await resp.text(), "download-volume", resp.headers.get("X-Request-Id"));
  const total = Number(resp.headers.get("Content-Length") ?? 0);
  const reader = resp.body!.getReader();
  const parts: BlobPart[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress({ loaded, total });
  }
  if (total && loaded !== total) {
    throw new ApiError({ status: 0, code: "DownloadIncomplete", message: `the download ended after ${loaded} of ${total} bytes`, action: "download-volume" });
  }
  const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = params.name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
