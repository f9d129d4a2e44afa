// A relay with a token key and no other policy set (the `worker-locked` project of vitest.config.ts binds only
// WEFT_TOKEN_SECRET): the secure defaults. Every hello needs a valid token, only a token admin founds a group,
// a forged token is unauthorized whatever it claims, and a token may not outlive the relay's cap.
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { testAgent, transactions } from "../support/identity.ts";
import { admit, docHeader, expectHelloRefused, membersHeader, mintToken, MemberLog, nextOf } from "../worker/groups-helpers.ts";
import { SessionWriter, closeAll, sqlRows, uniqueGroup } from "../worker/socket.ts";

afterEach(closeAll);

const alice = testAgent(91);
const stranger = testAgent(92);

describe("secure defaults once a token key is configured", () => {
  it("runs with a token key and no open-groups or founders setting, and its health check says a token is required", async () => {
    expect(env.WEFT_TOKEN_SECRET).toBeTruthy();
    expect(env.WEFT_OPEN_GROUPS).toBeUndefined();
    expect(env.WEFT_FOUNDERS).toBeUndefined();
    const health = await exports.default.fetch("http://relay/v1/health");
    expect(await health.json()).toMatchObject({ ok: true, tokens: "required" });
  });

  it("a hello without a token is refused, so a stranger gets nothing of a group", async () => {
    const group = uniqueGroup("locked-no-token");
    const { peer } = await admit(group, alice, await mintToken({ sub: alice.agent, group, role: "writer" }));
    const doc = docHeader(alice, group, "private-plans");
    peer.send(new SessionWriter(alice, doc.id).content(transactions(1), doc.header));
    expect(await peer.next("known", (k) => k.doc === doc.id)).toMatchObject({ reason: "ack" });

    const error = await expectHelloRefused(group, stranger, "unauthorized");
    expect(error.message).toMatch(/token/);
    await peer.close();
  });

  it("only a token admin founds a group: a writer token cannot create the membership log", async () => {
    const group = uniqueGroup("locked-founders");
    const writer = await admit(group, stranger, await mintToken({ sub: stranger.agent, group, role: "writer" }));
    expect(writer.welcome.role).toBe("writer");
    const seized = membersHeader(stranger, group);
    writer.peer.send(new MemberLog(stranger, seized.id, seized.header).ops([], { withHeader: true }));
    expect(await nextOf(writer.peer, (m) => m.type === "error" || m.type === "known")).toMatchObject({ type: "error", code: "forbidden", doc: seized.id });
    expect(await sqlRows(group, "SELECT id FROM docs")).toEqual([]);

    const admin = await admit(group, alice, await mintToken({ sub: alice.agent, group, role: "admin" }));
    const founded = membersHeader(alice, group);
    admin.peer.send(new MemberLog(alice, founded.id, founded.header).ops([], { withHeader: true }));
    expect(await admin.peer.next("known", (k) => k.doc === founded.id)).toMatchObject({ reason: "ack" });
    await Promise.all([writer.peer.close(), admin.peer.close()]);
  });

  it("a forged token is unauthorized even when it claims to have expired", async () => {
    const group = uniqueGroup("locked-forged");
    await expectHelloRefused(group, stranger, "unauthorized", await mintToken({ sub: stranger.agent, group, role: "admin", expiresIn: -60 }, "guessed-secret-long-enough-for-hs256"));
    await expectHelloRefused(group, stranger, "token_expired", await mintToken({ sub: stranger.agent, group, role: "admin", expiresIn: -60 }));
  });

  it("a token that lives longer than the cap (24 h by default) is refused", async () => {
    const group = uniqueGroup("locked-lifetime");
    const error = await expectHelloRefused(group, alice, "unauthorized", await mintToken({ sub: alice.agent, group, role: "admin", expiresIn: 3 * 24 * 3600 }));
    expect(error.message).toMatch(/86400/);
    const { peer } = await admit(group, alice, await mintToken({ sub: alice.agent, group, role: "admin", expiresIn: 3600 }));
    await peer.close();
  });
});
