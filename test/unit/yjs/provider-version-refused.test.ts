// weft/yjs through a relay of another protocol version (`unsupported_version`): the provider keeps its
// binding, so what is typed meanwhile is saved locally and goes up once a relay of this version answers,
// and it emits the RelayError once, for the app to ask for a reload, bound before the refusal or after it
// (an editor mounted later). The refusing relay, then the real one (weft/dev's startRelay) on its port.
import { afterAll, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { WeftProvider } from "../../../yjs/index.ts";
import { createIdentity } from "../../../client/index.ts";
import { until } from "../../support/wait.ts";
import { versionRefusalScene } from "../../support/version-refusing-relay.ts";

describe("a provider whose relay speaks another protocol version", () => {
  const scene = versionRefusalScene("weft-yjs-version-refused-");
  afterAll(() => scene.cleanup());

  it("keeps its binding: edits are saved and pushed later, and the error is emitted once", { timeout: 90_000 }, async () => {
    const refusing = await scene.refuse();
    const identity = createIdentity();
    const client = await scene.client(identity);
    const group = client.group("notes");
    const docId = group.create({ kind: "yjs" }).id;
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(group, docId, ydoc);
    const errors: Error[] = [];
    provider.on("error", (error) => errors.push(error));
    await provider.loaded;
    ydoc.getText("body").insert(0, "typed before; ");
    await until(() => group.connection.versionRefusal !== undefined, 10_000);
    group.reconnectNow();
    await until(() => refusing.refusals === 2 && group.status === "offline", 10_000);

    ydoc.getText("body").insert(14, "typed after the refusal");
    await until(() => provider.doc!.transactions().length === 2 && group.allSaved(), 10_000);
    expect(errors.map(String)).toEqual([`RelayError: unsupported_version: ${refusing.message}`]);
    expect(provider.status).toBe("disconnected");

    // Saved: another client on the same folder binds a fresh Y.Doc offline and reads it all.
    const again = await scene.client(identity);
    const saved = new Y.Doc();
    const savedProvider = new WeftProvider(again.group("notes"), docId, saved);
    await savedProvider.loaded;
    expect(saved.getText("body").toString()).toBe("typed before; typed after the refusal");
    savedProvider.destroy();
    await again.close();

    // A relay of this version serves the URL again: the edits go up, and the provider syncs.
    await scene.comeBack();
    group.reconnectNow();
    await group.synced({ signal: AbortSignal.timeout(30_000) });
    await until(() => provider.synced, 10_000);
    const reader = await scene.reader();
    const read = new Y.Doc();
    const readProvider = new WeftProvider(reader.group("notes"), docId, read);
    await readProvider.loaded;
    expect(read.getText("body").toString()).toBe("typed before; typed after the refusal");
    readProvider.destroy();
    provider.destroy();
    expect(errors).toHaveLength(1);
  });
});

describe("a provider bound after its group's relay refused this SDK's protocol version", () => {
  const scene = versionRefusalScene("weft-yjs-version-refused-later-");
  afterAll(() => scene.cleanup());

  it("emits the refusal once, to listeners added right after it is made", { timeout: 60_000 }, async () => {
    const refusing = await scene.refuse();
    const client = await scene.client(createIdentity());
    const group = client.group("notes");
    const groupErrors: Error[] = [];
    group.onError((error) => groupErrors.push(error));
    await until(() => group.connection.versionRefusal !== undefined, 10_000);

    // An editor mounted later, for a document made meanwhile.
    const docId = group.create({ kind: "yjs" }).id;
    const provider = new WeftProvider(group, docId, new Y.Doc());
    const errors: Error[] = [];
    provider.on("error", (error) => errors.push(error));
    await provider.loaded;
    await until(() => errors.length > 0, 10_000);
    // Refused again in the same run: neither the group nor the provider says it again.
    group.reconnectNow();
    await until(() => refusing.refusals === 2 && group.status === "offline", 10_000);
    expect(errors.map(String)).toEqual([`RelayError: unsupported_version: ${refusing.message}`]);
    expect(groupErrors).toHaveLength(1);
    provider.destroy();
  });
});
