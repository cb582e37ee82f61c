import type { Metadata, Viewport } from "next";
import { AppShell } from "@/components/AppShell";
import { THEME_BOOT } from "@/lib/themeBoot";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "JVP", template: "%s · JVP" },
  description: "JVP: a control plane for KVM/QEMU hosts driven through libvirt",
};

export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        {/* the theme before the first paint (lib/theme.ts) */}
        <script dangerouslySetInnerHTML={{ __html: THEME_BOOT }} />
      </head>
      <body>
        <AppShell>{children}</AppShell>
      </body>
    </html>
  );
}
