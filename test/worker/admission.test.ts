// Sockets that never say hello cannot lock a group out (issue 10, item 4): they do not count against the
// members' peer capacity, too many waiting push out the one that waited longest, and an alarm (not a timer,
// so the object can still hibernate) closes every socket that is past the handshake deadline.
import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { HANDSHAKE_DEADLINE_MS, MAX_PEERS_PER_GROUP, MAX_PENDING_HANDSHAKES } from "../../protocol/index.ts";
import { testAgent } from "../support/identity.ts";
import { closeAll, connect, groupStub, openSocket, uniqueGroup, type Peer } from "./socket.ts";
import { closedGroup } from "./groups-helpers.ts";

afterEach(closeAll);

const alice = testAgent(71);

describe("sockets in the handshake", () => {
  it("more silent sockets than the group's peer limit do not keep a member of a closed group out", async () => {
    const { group, adminPeer } = await closedGroup("silent-flood", alice);
    const silent: Peer[] = [];
    for (let i = 0; i < MAX_PEERS_PER_GROUP + 20; i++) {
      const peer = await openSocket(group);
      await peer.next("challenge");
      silent.push(peer);
    }
    const member = await connect(group, alice);
    member.send({ type: "dir" });
    expect(await member.next("dir")).toMatchObject({ inSync: false });

    // The longest waiting were pushed out (not_ready, 1008); the newest still wait their turn.
    const pushedOut = silent.length - (MAX_PENDING_HANDSHAKES - 1);
    for (const peer of silent.slice(0, pushedOut)) {
      expect(await peer.next("error")).toMatchObject({ code: "not_ready" });
      expect((await peer.closed).code).toBe(1008);
    }
    expect(silent.at(-1)!.ws.readyState).toBe(WebSocket.OPEN);
    await Promise.all([adminPeer.close(), member.close()]);
  }, 30_000);

  it("a socket that never says hello is closed once the handshake deadline has passed", async () => {
    const group = uniqueGroup("silent-deadline");
    const silent = await openSocket(group);
    await silent.next("challenge");
    await new Promise((resolve) => setTimeout(resolve, HANDSHAKE_DEADLINE_MS + 300));
    await runDurableObjectAlarm(groupStub(group)); // the alarm may have fired already; if not, now
    expect(await silent.next("error")).toMatchObject({ code: "not_ready", message: expect.stringContaining("no hello") });
    expect((await silent.closed).code).toBe(1008);
    // A member who says hello in time is unaffected.
    const member = await connect(group, alice);
    member.send({ type: "dir" });
    await member.next("dir");
    await member.close();
  }, 20_000);
});
