// End to end: the real relay under `wrangler dev`, two separate Node processes using the client SDK.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import type { DocId } from "../../protocol/index.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";

const run = promisify(execFile);
const WRITER = fileURLToPath(new URL("./writer.ts", import.meta.url));
const PER_WRITER = 1_000;

type WriterResult = { name: string; session: string; sessions: Record<string, string[]>; order: string[] };

async function writer(url: string, group: string, doc: DocId, name: string): Promise<WriterResult> {
  const { stdout } = await run(process.execPath, [WRITER, url, group, doc, name, String(PER_WRITER), String(2 * PER_WRITER)], {
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!) as WriterResult;
}

describe("two Node processes through wrangler dev", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-e2e-"));
  let relay: RelayProcess;

  beforeAll(async () => {
    relay = await startRelay({ persistTo });
  });

  afterAll(async () => {
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("converge on the same 2,000 transactions, and every acked one survives a SIGKILL of the relay", async () => {
    const group = "e2e-two-writers";
    const creator = await createClient({ url: relay.url, identity: createIdentity() });
    const created = creator.group(group).create({ kind: "json", meta: { title: "shared" } });
    await created.synced();
    creator.close();

    const [a, b] = await Promise.all([writer(relay.url, group, created.id, "a"), writer(relay.url, group, created.id, "b")]);

    // Both hold both sessions, each complete and in its writer's order, and the same total order.
    const expected = (name: string) => Array.from({ length: PER_WRITER }, (_, i) => JSON.stringify({ writer: name, i }));
    for (const result of [a, b]) {
      expect(result.sessions[a.session]).toEqual(expected("a"));
      expect(result.sessions[b.session]).toEqual(expected("b"));
      expect(result.order).toHaveLength(2 * PER_WRITER);
    }
    expect(a.order).toEqual(b.order);

    // Both writers saw every transaction acked before exiting; a crash must not lose any of them.
    await relay.kill();
    relay = await startRelay({ persistTo, port: relay.port });
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = await reader.group(group).open(created.id);
    expect(doc.sessionTransactions(a.session as never).map((t) => t.data)).toEqual(expected("a"));
    expect(doc.sessionTransactions(b.session as never).map((t) => t.data)).toEqual(expected("b"));
    expect(doc.header?.meta).toEqual({ title: "shared" });
    reader.close();
  });
});
