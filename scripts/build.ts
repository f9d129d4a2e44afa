// Builds what the package ships into dist/: JavaScript, declarations and source maps for every entry point
// (tsc, one file per source file), and the relay's Worker bundled for weft/dev. `npm pack` and `npm publish` run it (`prepack`); installing the package runs
// nothing. The repo's own tests and `npm run dev` use the TypeScript sources and need no build.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorker } from "./bundle-worker.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
// weft/worker is typed for Workers (@cloudflare/workers-types), the rest for browsers and Node.
execFileSync(process.execPath, [tsc, "-p", "worker/tsconfig.build.json"], { cwd: root, stdio: "inherit" });

// tsc rewrites `.ts` to `.js` in the JavaScript it emits but keeps them in declarations; an app's compiler
// would then refuse them (TS5097), so declarations get the same `.js` paths as the code.
for (const file of declarationFiles(dist)) {
  const text = readFileSync(file, "utf8");
  const rewritten = text.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
  if (rewritten !== text) writeFileSync(file, rewritten);
}

// The Worker as one module, for weft/dev's startRelay (Miniflare), so apps need no bundler to run it.
mkdirSync(join(dist, "relay"), { recursive: true });
writeFileSync(join(dist, "relay", "worker.js"), await bundleWorker());

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return declarationFiles(path);
    return entry.name.endsWith(".d.ts") ? [path] : [];
  });
}
