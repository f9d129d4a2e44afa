import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // Generous per-test bounds: the machines that run the suite are often busy, and a test that hangs
        // still fails. Timings are measured in `npm run bench`, never here.
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node", testTimeout: 30_000 },
      },
      {
        // The token secret exists only in tests; deployments set theirs with `wrangler secret put`. These tests
        // also admit peers without tokens and let anyone found a group, and prune what a snapshot covers at
        // once (the default waits 7 days); test/worker-locked runs the defaults.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { WEFT_TOKEN_SECRET: "test-token-secret-long-enough-for-hs256", WEFT_OPEN_GROUPS: "true", WEFT_FOUNDERS: "anyone", WEFT_SNAPSHOT_RETENTION_SECONDS: "0" },
            },
          }),
        ],
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        // The relay as deployed with a token key and nothing else set: the secure defaults of worker/config.ts.
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { WEFT_TOKEN_SECRET: "test-token-secret-long-enough-for-hs256" } } })],
        test: { name: "worker-locked", include: ["test/worker-locked/**/*.test.ts"] },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts", "test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
