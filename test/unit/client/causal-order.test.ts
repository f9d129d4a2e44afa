// The order all replicas agree on, (at, session, index), puts a write after everything its writer had seen,
// whatever the devices' clocks say: an app that replays the log (a todo list whose "done" follows its "add",
// a last-writer-wins field) never sees a reply before what it answers.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Doc } from "../../../client/index.ts";
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
