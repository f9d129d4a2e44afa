// Prints the size of the browser bundle of `weft/client` (esbuild, minified), raw and gzipped.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

export async function browserBundle(): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../client/index.ts", import.meta.url))],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.contents;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bundle = await browserBundle();
  console.log(`weft/client browser bundle: ${(bundle.length / 1024).toFixed(1)} KiB minified, ${(gzipSync(bundle).length / 1024).toFixed(1)} KiB gzipped`);
}
