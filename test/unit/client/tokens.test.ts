// Issue 9, item 7 (the SDK's side): when the relay says token_expired, the SDK asks the app for a fresh
// token and reconnects at once, once; an app that keeps handing out expired tokens ends in a closed
// group with a reason, never a loop.
import { afterEach, describe, expect, it } from "vitest";
import type { AgentId } from "../../../protocol/index.ts";
import type { TokenVerifier } from "../../../worker/core/relay.ts";
import { fakeToken, fakeTokenText, harness, statusOf } from "./group-harness.ts";

let current: ReturnType<typeof harness> | undefined;
afterEach(() => current?.closeAll());

// A token carries `<agent> <expiresAt>`: the relay core only needs what a checked token says.
const verifyToken: TokenVerifier = async (token) => {
  const [agent, expiresAt] = fakeTokenText(token).split(" ");
  if (Date.now() >= Number(expiresAt)) return { ok: false, code: "token_expired", reason: "the token has expired" };
  return { ok: true, agent: agent as AgentId, group: "g1", role: "writer", expiresAt: Number(expiresAt) };
};

describe("token_expired", () => {
  it("refreshes the token and reconnects once, then is live again; the app is not told of a refresh that worked", async () => {
    const { relay, client } = (current = harness(verifyToken));
    let issued = 0;
    const alice = await client({ name: "alice", getToken: () => fakeToken(`${alice.identity.agent} ${Date.now() + 60_000 * ++issued}`) });
    const group = alice.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await statusOf(group, "live");
    expect(issued).toBe(1);
    relay.transcript();
    // What the relay sends a peer it leaves out of fan-out because its token expired.
    relay.inject(relay.peers[0]!, { type: "error", code: "token_expired", message: "the token has expired; connect again with a fresh one" });
    await statusOf(group, "offline");
    await statusOf(group, "live");
    expect(issued).toBe(2);
    const doc = group.create();
    doc.append("after the refresh");
    await doc.synced();
    expect(relay.transcript().filter((line) => line.includes("hello"))).toEqual(["c2 -> relay | hello"]);
    expect(errors).toEqual([]);
  });

  it("closes with a reason when every fresh token is already expired", async () => {
    const { client } = (current = harness(verifyToken));
    let issued = 0;
    const alice = await client({ name: "alice", getToken: () => fakeToken(`${alice.identity.agent} ${issued++ === 0 ? Date.now() + 60_000 : 0}`) });
    const group = alice.group("g1");
    await statusOf(group, "live");
    group.connection.drop();
    await statusOf(group, "closed");
    expect(group.connection.closeReason).toMatch(/token_expired: getToken returned a token already expired at the handshake/);
    expect(issued).toBeLessThanOrEqual(4);
  });

  it("without getToken, an expired token closes the group with a reason", async () => {
    const { client } = (current = harness(verifyToken));
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    current.relay.inject(current.relay.peers[0]!, { type: "error", code: "token_expired", message: "expired" });
    await statusOf(group, "closed");
    expect(group.connection.closeReason).toMatch(/pass getToken/);
  });
});

describe("a token the relay refuses at the handshake (its key rotated under a token the app cached)", () => {
  // Tokens name `<agent> <key>`: the relay takes those of the "new" key only.
  const rotated: TokenVerifier = async (token) => {
    const [agent, key] = fakeTokenText(token).split(" ");
    if (key !== "new") return { ok: false, code: "unauthorized", reason: "the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed" };
    return { ok: true, agent: agent as AgentId, group: "g1", role: "writer", expiresAt: Date.now() + 60_000 };
  };

  it("asks getToken for another once, saying why; a token of the new key gets in, and the app is not told", async () => {
    const { client } = (current = harness(rotated));
    const asked: (string | undefined)[] = [];
    const alice = await client({
      name: "alice",
      getToken: (_group, { refused }) => {
        asked.push(refused);
        return fakeToken(`${alice.identity.agent} ${refused ? "new" : "old"}`);
      },
    });
    const group = alice.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await statusOf(group, "live");
    expect(asked).toEqual([undefined, "unauthorized: the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed"]);
    expect(errors).toEqual([]);
    const doc = group.create();
    doc.append("after the rotation");
    await doc.synced();
  });

  it("closes the group, once, when the next token is refused too: no loop", async () => {
    const { client } = (current = harness(rotated));
    let asked = 0;
    const alice = await client({ name: "alice", getToken: () => (asked++, fakeToken(`${alice.identity.agent} old`)) });
    const group = alice.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await statusOf(group, "closed");
    expect(group.connection.closeReason).toBe("unauthorized: the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed");
    expect(asked).toBe(2);
    expect(errors).toHaveLength(1);
  });

  it("a refusal of the agent (not a member) is not the token's: the group closes at once, getToken asked once", async () => {
    const { client } = (current = harness(async () => ({ ok: false, code: "unauthorized", reason: "this agent is not a member of the group" })));
    let asked = 0;
    const alice = await client({ name: "alice", getToken: () => (asked++, fakeToken("any")) });
    const group = alice.group("g1");
    await statusOf(group, "closed");
    expect(asked).toBe(1);
  });
});

describe("createMembers() with a token that makes the agent a writer", () => {
  it("is refused at once, as the relay would: the token would cap the founder at writer, and no one could manage the group", async () => {
    const { relay, client } = (current = harness(verifyToken));
    const alice = await client({ name: "alice", getToken: () => fakeToken(`${alice.identity.agent} ${Date.now() + 60_000}`) });
    const group = alice.group("g1");
    await statusOf(group, "live");
    expect(group.role).toBe("writer");
    relay.transcript();
    expect(() => group.createMembers()).toThrow(expect.objectContaining({ name: "LocalRefusalError", code: "forbidden", message: expect.stringMatching(/^forbidden: createMembers: a peer whose token makes it a writer may not found a group/) }));
    expect(group.membersDoc).toBeUndefined();
    expect(group.role).toBe("writer");
    const doc = group.create();
    doc.append("still writing");
    await doc.synced();
    expect(relay.transcript().filter((line) => line.includes("error"))).toEqual([]);
  });
});
