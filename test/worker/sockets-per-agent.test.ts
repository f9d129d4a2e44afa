// One agent's sockets in a group are bounded (MAX_SOCKETS_PER_AGENT): past it a hello gets `too_many_peers`
// with a retry hint and the socket is closed, while other agents connect as before; once one of the
// agent's sockets goes, the next hello of the agent is welcome again.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_SOCKETS_PER_AGENT, RETRY_AFTER_BUSY_SECONDS, closeCodeOf } from "../../protocol/index.ts";
import { helloFrame, testAgent } from "../support/identity.ts";
import { closeAll, connect, openSocket, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const bob = testAgent(96);
/** A tab of one agent: each its own session, as each client of a shared store leases one. */
const tab = (index: number) => testAgent(95, `browser-tab-${index}`);

describe("sockets of one agent in a group", () => {
  it(`are welcome up to ${MAX_SOCKETS_PER_AGENT}; the next gets too_many_peers with retryAfter, others connect, and a socket gone makes room`, { timeout: 60_000 }, async () => {
    const group = uniqueGroup("sockets-per-agent");
    const held = [];
    for (let i = 0; i < MAX_SOCKETS_PER_AGENT; i++) held.push(await connect(group, tab(i)));

    const refused = await openSocket(group);
    const challenge = await refused.next("challenge");
    refused.send(helloFrame(tab(MAX_SOCKETS_PER_AGENT), group, challenge.nonce));
    expect(await refused.next("error")).toMatchObject({ code: "too_many_peers", retryAfter: RETRY_AFTER_BUSY_SECONDS, message: `this agent has ${MAX_SOCKETS_PER_AGENT} sockets connected to this group` });
    expect((await refused.closed).code).toBe(closeCodeOf("too_many_peers"));

    await connect(group, bob); // another agent is welcome
    await held[0]!.sync(); // the agent's sockets stay up
    await held[0]!.close();
    await connect(group, tab(MAX_SOCKETS_PER_AGENT)); // one gone makes room
  });
});
