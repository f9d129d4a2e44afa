// Builds the SDK's JavaScript into dist/, so `weft/client`, `weft/client/node` and `weft/protocol` can be
// imported from plain Node (which does not strip types inside node_modules) as well as from bundlers.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: { "client/index": "client/index.ts", "client/node": "client/node.ts", "protocol/index": "protocol/index.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  packages: "external",
  external: ["node:*"],
  sourcemap: true,
  logLevel: "warning",
});
