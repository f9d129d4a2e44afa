// Prints the size of the browser bundle of `weft/client` (esbuild, minified), raw and gzipped, against its
// budget. The package test bundles the installed package's entry the same way and holds it to the budget.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

/**
 * Most an app's browser bundle may grow by importing `weft/client` (minified, gzipped). It guards against
 * pulling in a heavy dependency by accident, with room for presence, snapshots, push pacing and the pure
 * client core (35.7 KiB with all of them, the read path's wire data and the ordered view that grows; 36.9
 * KiB with the checks that refuse wrong arguments at once and refill a relay that lost storage; 38.0 KiB
 * with tabs handing each other the writes a closed one left unsent; 41.1 KiB with the own session checked
 * against the relay's after a tab discards writes another tab got stored; 42.4 KiB with createClient's
 * options, create()'s and the membership operations' arguments checked at the call; 43.0 KiB with the
 * group's start-up read of the store tried again after a failure and a getToken failure retried; 44.5 KiB
 * with open() reading the store, a crashed tab's session watched, bindings flushed before a close and the
 * app's store checked; 45.0 KiB with bytes handed out as the app's copies, a tab leaving in good order,
 * getToken bounded, a lost founding race recovered and a new header held as the wire carries it; 46.5 KiB
 * with answers' marks echoed, writes stamped by the relay's clock, a new session refused where the relay
 * has no room for it, snapshots refused to writers that did not create the document, getToken aborted
 * and its late answer kept, and sibling groups reconnecting together; 47.2 KiB with pings the relay can
 * count on, a burst of writes sent 1 MiB at a time, and a relay of another protocol version waited out
 * rather than closing the group; 48.0 KiB with a token that is not a JWT refused naming the slip, and the
 * writes the relay acknowledged known across a restart; 48.4 KiB with a database not Weft's refused by
 * IndexedDbLocalStore in words that name it; 48.7 KiB with one taken from under a client closing its groups
 * with one clear error; 49.1 KiB with what any local store gives back checked before it is taken in, so that
 * damage on the disk costs only itself; 49.7 KiB with a meta or presence state JSON would change refused,
 * naming where, and wrong arguments named with what they got; 50.2 KiB with a relay's frame the SDK
 * cannot take told to onError, a socket whose opening nothing answers given up, a WebSocket option that is
 * no WebSocket class refused, and agent keys of small order refused; 50.8 KiB with the SDK pacing its
 * frames under the relay's budget; 51.7 KiB with writes saved past a save damaged on the disk kept aside
 * and joined once the relay's copy fills the hole, instead of lost; 53.0 KiB with a page's last writes kept
 * in localStorage at its end, where IndexedDB would drop their save; 54.0 KiB with a closed group's saves
 * awaited by its successor, a page opening with its storage full, and local failures named; 56.0 KiB with
 * the fake-timer-proof waits, and a save into a document another tab removed from the store making it again
 * whole instead of losing it; 56.9 KiB with the digest's SHAKE128 in plain JavaScript instead of @noble's, a
 * third of the time a vector: its permutation is written out lane by lane, which gzip packs less well). One
 * KiB of room beyond that, for the next fixes' words.
 */
export const BROWSER_BUNDLE_BUDGET_GZIPPED = 58 * 1024;

/**
 * Bundles `entry` for browsers as an app would; by default the SDK's own source. esbuild fails on any
 * `node:` import when the platform is "browser", so building at all proves the browser path is clean.
 */
export async function browserBundle(entry = fileURLToPath(new URL("../client/index.ts", import.meta.url))): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [entry],
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

export function gzippedSize(bundle: Uint8Array): number {
  return gzipSync(bundle).length;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bundle = await browserBundle();
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`weft/client browser bundle: ${kib(bundle.length)} minified, ${kib(gzippedSize(bundle))} gzipped (budget ${kib(BROWSER_BUNDLE_BUDGET_GZIPPED)})`);
}
