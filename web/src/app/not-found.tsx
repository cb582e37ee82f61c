import Link from "next/link";

export default function NotFound() {
  return (
    <div className="not-found" data-testid="not-found">
      <h1>404</h1>
      <p className="muted">This page does not exist.</p>
      <Link className="btn" href="/nodes/">
        Go to nodes
      </Link>
    </div>
  );
}
