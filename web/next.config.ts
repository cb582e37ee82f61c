import type { NextConfig } from "next";

// Production: a static export served by the JVP API server (jvp/api/routes.py maps /nodes/ to
// nodes/index.html). No server features: no dynamic route segments (detail pages take ?name=...), no
// image optimizer, no fonts or anything else fetched from the network at build or run time.
//
// `npm run dev`: Next's dev server on :3000 forwards /api/* to a running JVP (JVP_URL, default
// http://127.0.0.1:7777) so pages talk to the real API from the same origin, as in production.
const dev = process.env.NODE_ENV === "development";
const jvpUrl = (process.env.JVP_URL ?? "http://127.0.0.1:7777").replace(/\/$/, "");

const nextConfig: NextConfig = {
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
  ...(dev
    ? {
        skipTrailingSlashRedirect: true,
        async rewrites() {
          return [{ source: "/api/:action", destination: `${jvpUrl}/api/:action` }];
        },
      }
    : { output: "export" as const }),
};

export default nextConfig;
