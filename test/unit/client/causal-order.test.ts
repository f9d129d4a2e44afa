// The order all replicas agree on, (at, session, index), puts a write after everything its writer had seen,
// whatever the devices' clocks say: an app that replays the log (a todo list whose "done" follows its "add",
// a last-writer-wins field) never sees a reply before what it answers, even when the writer loaded a
// snapshot instead of the transactions it answers.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Doc } from "../../../client/index.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { GROUP, harnessPerTest, settle } from "./group-harness.ts";

const setup = harnessPerTest();
afterEach(() => vi.restoreAllMocks());

const items = (doc: Doc) => doc.transactions().map((transaction) => String(transaction.data));

describe("a write made after seeing another", () => {
  it("sorts after it on every replica, though its writer's clock is behind", async () => {
    const h = setup();
    const laptop = await h.client({ name: "laptop" });
    const phone = await h.client({ name: "phone" });
    const list = laptop.group(GROUP).create({ kind: "json" });
    await list.synced();
    const onPhone = await phone.group(GROUP).open(list.id);

    // The laptop's clock runs 5 s ahead of the phone's.
    const now = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => now() + 5_000);
    const add = list.append("add milk");
    vi.restoreAllMocks();
    await list.synced();
    await settle();
    expect(items(onPhone)).toEqual(["add milk"]);

    const done = onPhone.append("done milk");
    expect(done.at).toBeGreaterThan(add.at);
    await onPhone.synced();
    await settle();
    const reader = await (await h.client({ name: "reader" })).group(GROUP).open(list.id);
    await settle();
    for (const replica of [list, onPhone, reader]) expect(items(replica)).toEqual(["add milk", "done milk"]);
  });
});

describe("a write made after loading a snapshot", () => {
  /**
   * The laptop, 5 s ahead, writes three long items and snapshots them, while a tablet holds the items
   * themselves; returns the tablet's copy and the newest item's time.
   */
  async function snapshottedList(h: ReturnType<typeof setup>) {
    const laptop = await h.client({ name: "laptop" });
    const list = laptop.group(GROUP).create({ kind: "json" });
    const now = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => now() + 5_000);
    for (let i = 0; i < 3; i++) list.append(`add ${i} ${"x".repeat(200)}`);
    vi.restoreAllMocks();
    await list.synced();
    const newest = Math.max(...list.transactions().map((transaction) => transaction.at));
    const onTablet = await (await h.client({ name: "tablet" })).group(GROUP).open(list.id);
    await list.snapshot("3 items");
    return { id: list.id, onTablet, newest };
  }
  const added = [0, 1, 2].map((i) => `add ${i} ${"x".repeat(200)}`);

  it("sorts after what the snapshot stands for on a replica that holds those transactions, though its writer's clock is behind", async () => {
    const h = setup();
    const { id, onTablet, newest } = await snapshottedList(h);
    const phone = await h.client({ name: "phone" });
    const onPhone = await phone.group(GROUP).open(id);
    // The phone holds the snapshot instead of the transactions it covers (it is smaller than they are).
    expect(onPhone.heldSnapshot?.data).toBe("3 items");
    expect(items(onPhone)).toEqual([]);

    const done = onPhone.append("done");
    expect(done.at).toBeGreaterThan(newest);
    await onPhone.synced();
    await settle();
    expect(items(onTablet)).toEqual([...added, "done"]);
  });

  it("does so too when the snapshot was restored from the local store", async () => {
    const h = setup();
    const { id, onTablet, newest } = await snapshottedList(h);
    const store = new MemoryLocalStore();
    const phone = await h.client({ name: "phone", store });
    expect((await phone.group(GROUP).open(id)).heldSnapshot?.data).toBe("3 items");
    await phone.close();

    const again = await h.client({ name: "phone again", identity: phone.identity, store });
    const onPhone = await again.group(GROUP).open(id);
    expect(onPhone.heldSnapshot?.data).toBe("3 items");
    const done = onPhone.append("done");
    expect(done.at).toBeGreaterThan(newest);
    await onPhone.synced();
    await settle();
    expect(items(onTablet)).toEqual([...added, "done"]);
  });
});
