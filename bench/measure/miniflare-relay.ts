// The relay as the measurement scripts run it: the Worker in workerd through Miniflare, as weft/dev's
// startRelay does (no dev proxy), with what each script needs on top (an inspector port, storage on disk,
// bindings). Call dispose() when done.
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { bundleWorker } from "../../scripts/bundle-worker.ts";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS } from "../../dev/start-relay.ts";

export type MeasuredRelayOptions = { inspectorPort?: number; persistTo?: string; bindings?: Record<string, string> };

export async function measuredRelay(options: MeasuredRelayOptions = {}): Promise<Miniflare> {
  return new Miniflare(
    convertV4MiniflareOptions({
      name: "weft",
      modules: true,
      script: await bundleWorker(),
      compatibilityDate: RELAY_COMPATIBILITY_DATE,
      compatibilityFlags: [...RELAY_COMPATIBILITY_FLAGS],
      durableObjects: { GROUPS: { className: "GroupObject", useSQLite: true } },
      host: "127.0.0.1",
      port: 0,
      ...(options.bindings ? { bindings: options.bindings } : {}),
      ...(options.inspectorPort === undefined ? {} : { inspectorPort: options.inspectorPort }),
      ...(options.persistTo === undefined ? {} : { resourcePersistencePath: options.persistTo }),
    }),
  );
}
