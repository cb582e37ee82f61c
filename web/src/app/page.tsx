"use client";

import { useEffect } from "react";
import { useRouter } from "next/navigation";
import { LoadingBlock } from "@/components/Loading";
import { getToken } from "@/lib/session";

/** `/`: to the nodes page, or to the login page without a token. */
export default function Home() {
  const router = useRouter();
  useEffect(() => {
    router.replace(getToken() ? "/nodes/" : "/login/");
  }, [router]);
  return <LoadingBlock>Opening the console…</LoadingBlock>;
}
