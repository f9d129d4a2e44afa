// Bundles the relay's Worker (worker/index.ts; or another entry, the bench's floor) into one ES module, as `wrangler deploy` would, for Miniflare
// (weft/dev's startRelay). `npm run build` writes it to dist/relay/worker.js.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

export async function bundleWorker(entry = fileURLToPath(new URL("../worker/index.ts", import.meta.url))): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["cloudflare:*", "node:*"],
    // Like wrangler.toml's keep_names = false: no __name() helper on every nested function.
    keepNames: false,
    write: false,
    logLevel: "warning",
  });
  return new TextDecoder().decode(result.outputFiles[0]!.contents);
}
