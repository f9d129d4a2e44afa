// The floor (worker.ts) in workerd through Miniflare's Node API, as weft/dev's startRelay serves the relay:
// no dev proxy, no trace collector. Used by serve-miniflare.ts (the bench's `--relay miniflare`) and by
// the measurement scripts. Call dispose() when done.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS } from "../../dev/start-relay.ts";
import { bundleWorker } from "../../scripts/bundle-worker.ts";

/** `port` 0: any free one; with `persistTo`, the objects' SQLite lives in that folder. */
export async function floorOnMiniflare(options: { port: number; persistTo?: string }): Promise<Miniflare> {
  return new Miniflare(
    convertV4MiniflareOptions({
      name: "weft-floor",
      modules: true,
      script: await bundleWorker(fileURLToPath(new URL("./worker.ts", import.meta.url))),
      compatibilityDate: RELAY_COMPATIBILITY_DATE,
      compatibilityFlags: [...RELAY_COMPATIBILITY_FLAGS],
      durableObjects: { FLOOR: { className: "FloorObject", useSQLite: true } },
      host: "127.0.0.1",
      port: options.port,
      ...(options.persistTo ? { resourcePersistencePath: join(options.persistTo, "v3") } : {}),
    }),
  );
}
