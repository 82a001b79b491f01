import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run build` writes dist/, which the API serves at `/`. `npm run dev` proxies the API (DAAS_API_URL,
// default the `daas dev` port) so the page and the API share an origin, as they do in production.
const api = process.env.DAAS_API_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  // One bundle on purpose: same origin as the API, hashed names cached for good; dapp-kit + @mysten/sui
  // alone are ~1 MB before gzip.
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2048 },
  server: {
    proxy: Object.fromEntries(["/v1", "/v2", "/healthz", "/metrics"].map((p) => [p, api])),
  },
  test: { include: ["src/**/*.test.ts"] },
});
