/** Save text as a file through a Blob and a temporary link (nothing leaves the browser). */
export function downloadText(filename: string, text: string, type = "application/x-pem-file"): void {
  const blob = new Blob([text], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
  // give the browser a moment to start the download before the URL goes away
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
