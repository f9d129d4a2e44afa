import { availableParallelism } from "node:os";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// The unit and workerd projects, and the end-to-end files that mostly wait (WAITING_E2E), run together, two
// files at a time at least: on a 2-core machine vitest would take one at a time, and presence.test.ts's 90 s
// of waiting on the relay's clock would hold the whole run up. The other end-to-end files run one at a time
// after them (fileParallelism below): they start relays and measure against their timeouts.
const TOGETHER = Math.max(2, availableParallelism() - 1);
const WAITING_E2E = ["test/e2e/presence.test.ts"];
/** Both end-to-end projects: in Node, with the bounds of tests that start relays and processes. */
const E2E = { environment: "node", testTimeout: 120_000, hookTimeout: 120_000 } as const;

export default defineConfig({
  test: {
    projects: [
      {
        // Generous per-test bounds: the machines that run the suite are often busy, and a test that hangs
        // still fails. Timings are measured in `npm run bench`, never here.
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node", testTimeout: 30_000, maxWorkers: TOGETHER },
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
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], testTimeout: 60_000, maxWorkers: TOGETHER },
      },
      {
        // The relay as deployed with a token key and nothing else set: the secure defaults of worker/config.ts.
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { WEFT_TOKEN_SECRET: "test-token-secret-long-enough-for-hs256" } } })],
        test: { name: "worker-locked", include: ["test/worker-locked/**/*.test.ts"], maxWorkers: TOGETHER },
      },
      {
        test: { name: "e2e-waiting", include: WAITING_E2E, ...E2E, maxWorkers: TOGETHER },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts", "test/browser/**/*.test.ts"],
          exclude: WAITING_E2E,
          ...E2E,
          fileParallelism: false,
        },
      },
    ],
  },
});
