// What an IndexedDbLocalStore save costs in Chromium, through the real SDK against a local relay: a typist
// (300 appends, each in a task of its own, so each is a save) and a burst (2,000 appends in one task),
// three rounds each. The store is wrapped to time each save() from call to settle.
//   npx node bench/measure/indexeddb-save-cost.ts        (needs /usr/bin/chromium)
import { createIdentity, exportIdentity } from "../../client/index.ts";
import { openPage, startBrowserRig, stopBrowserRig } from "../../test/browser/page-server.ts";

type PageWeft = { weft: typeof import("../../client/index.ts") };

const rig = await startBrowserRig();
try {
  const page = await openPage(await rig.browser.newContext(), rig.pages.url, []);
  const figures = await page.evaluate(async ({ url, secret }) => {
    const { weft } = window as unknown as PageWeft;
    const store = new weft.IndexedDbLocalStore("weft-save-cost");
    const took: number[] = [];
    const timed = new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key) as unknown;
        if (typeof value !== "function") return value;
        if (key !== "save") return value.bind(target);
        return async (...args: unknown[]) => {
          const start = performance.now();
          try {
            return await value.apply(target, args);
          } finally {
            took.push(performance.now() - start);
          }
        };
      },
    });
    const client = await weft.createClient({ url, identity: weft.importIdentity(secret), store: timed });
    const doc = client.group("save-cost").create();
    await doc.synced();
    const lines: string[] = [];
    for (let round = 1; round <= 3; round++) {
      took.length = 0;
      const start = performance.now();
      for (let i = 0; i < 300; i++) {
        doc.append(`typed-${round}-${i}`);
        await new Promise((next) => setTimeout(next, 0));
      }
      await doc.synced();
      const sorted = [...took].sort((a, b) => a - b);
      const at = (share: number) => sorted[Math.floor(sorted.length * share)]!.toFixed(2);
      lines.push(`typist, round ${round}: ${took.length} saves, median ${at(0.5)} ms, p90 ${at(0.9)} ms; all synced in ${(performance.now() - start).toFixed(0)} ms`);
    }
    for (let round = 1; round <= 3; round++) {
      const start = performance.now();
      for (let i = 0; i < 2_000; i++) doc.append(`burst-${round}-${i}`);
      await doc.synced();
      lines.push(`burst of 2,000, round ${round}: synced in ${(performance.now() - start).toFixed(0)} ms`);
    }
    await client.close();
    return lines;
  }, { url: rig.relay.url, secret: exportIdentity(createIdentity()) });
  for (const line of figures) console.log(line);
} finally {
  await stopBrowserRig(rig);
}
