// App tokens (HS256 JWTs with the WEFT_TOKEN_SECRET binding of vitest.config.ts) in the handshake: a token's
// role admits even a non-member of a closed group; an expired, foreign or forged token is refused.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { testAgent, transactions } from "../support/identity.ts";
import { TOKEN_SECRET, admit, closedGroup, docHeader, expectCutOff, expectHelloRefused, membersHeader, mintToken, MemberLog, nextOf } from "./groups-helpers.ts";
import { SessionWriter, allRows, closeAll, connect, sqlRows, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(81);
const bob = testAgent(82);
const tess = testAgent(83); // never a member: she gets in by token only

/** Waits until the clock is past `exp` (seconds), as the relay sees it. */
const pastExpiry = (exp: number) => new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 100));

describe("app tokens", () => {
  it("the worker tests run with the token secret bound", () => {
    expect(env.WEFT_TOKEN_SECRET).toBe(TOKEN_SECRET);
  });

  it("a valid token admits a non-member of a closed group with the token's role", async () => {
    const { group, adminPeer, membersDoc } = await closedGroup("tok-role", alice);
    await expectHelloRefused(group, tess, "unauthorized");

    const writer = await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "writer" }));
    expect(writer.welcome).toMatchObject({ role: "writer", members: membersDoc });
    const doc = docHeader(tess, group, "by-token");
    writer.peer.send(new SessionWriter(tess, doc.id).content(transactions(1), doc.header));
    expect(await writer.peer.next("known", (k) => k.doc === doc.id)).toMatchObject({ reason: "ack" });
    await writer.peer.close();

    const reader = await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "reader" }));
    expect(reader.welcome.role).toBe("reader");
    const rows = await allRows(group);
    reader.peer.send(new SessionWriter(tess, doc.id).fork().content(transactions(1, "more")));
    expect(await reader.peer.next("error")).toMatchObject({ code: "forbidden", doc: doc.id });
    expect(await allRows(group)).toEqual(rows);
    await Promise.all([adminPeer.close(), reader.peer.close()]);
  });

  it("an expired token is token_expired and close 1008, even for a member", async () => {
    const { group, adminPeer } = await closedGroup("tok-expired", alice);
    await expectHelloRefused(group, tess, "token_expired", await mintToken({ sub: tess.agent, group, role: "admin", expiresIn: -60 }));
    await expectHelloRefused(group, alice, "token_expired", await mintToken({ sub: alice.agent, group, role: "admin", expiresIn: -1 }));
    await adminPeer.close();
  });

  it("a token for another group, another agent, or signed with another key is unauthorized", async () => {
    const { group, adminPeer } = await closedGroup("tok-wrong", alice);
    const cases = [
      await mintToken({ sub: tess.agent, group: uniqueGroup("tok-elsewhere"), role: "admin" }),
      await mintToken({ sub: bob.agent, group, role: "admin" }),
      await mintToken({ sub: tess.agent, group, role: "admin" }, "another-secret-long-enough-for-hs256"),
      await mintToken({ sub: tess.agent, group, role: "owner" }),
      "not.a.token",
    ];
    for (const token of cases) await expectHelloRefused(group, tess, "unauthorized", token);
    // In an open group too: a bad token is not ignored in favour of the open group's default role.
    const open = uniqueGroup("tok-wrong-open");
    await expectHelloRefused(open, tess, "unauthorized", cases[0]);
    await adminPeer.close();
  });

  it("a backend whose clock runs 2 s ahead, minting nbf = iat = now as many JWT libraries do, gets its agent in", async () => {
    const { group, adminPeer } = await closedGroup("tok-skew", alice);
    const backendNow = Math.floor(Date.now() / 1000) + 2;
    const writer = await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "writer", nbf: backendNow, iat: backendNow, exp: backendNow + 3600 }));
    expect(writer.welcome.role).toBe("writer");
    await Promise.all([adminPeer.close(), writer.peer.close()]);
  });

  it("a token that is not a JWT (a getToken handing on a Bearer header) is refused saying so, not as JwtTokenInvalid", async () => {
    const { group, adminPeer } = await closedGroup("tok-shape", alice);
    const token = await mintToken({ sub: tess.agent, group, role: "writer" });
    const error = await expectHelloRefused(group, tess, "unauthorized", `Bearer ${token}`);
    expect(error.message).toMatch(/^the token is not a JWT \(three base64url parts separated by dots\): it starts with "Bearer "/);
    await adminPeer.close();
  });

  it("a token expiring while connected gets token_expired on the next frame", async () => {
    const { group, adminPeer } = await closedGroup("tok-midway", alice);
    const exp = Math.floor(Date.now() / 1000) + 2;
    const { peer } = await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "writer", exp }));
    peer.send({ type: "dir" });
    await peer.next("dir");
    await pastExpiry(exp);
    peer.send({ type: "dir" });
    await expectCutOff(peer, "token_expired");
    expect(peer.drain("dir")).toEqual([]);
    await adminPeer.close();
  });

  it("a silent peer whose token expired receives no more live content, and is told token_expired when first left out", async () => {
    const { group, adminPeer } = await closedGroup("tok-silent", alice);
    const exp = Math.floor(Date.now() / 1000) + 2;
    const { peer } = await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "reader", exp }));
    peer.send({ type: "open", known: {} });
    await peer.next("opened");
    peer.drain("content");
    await pastExpiry(exp);
    const doc = docHeader(alice, group, "after-expiry");
    adminPeer.send(new SessionWriter(alice, doc.id).content(transactions(1, "secret"), doc.header));
    await adminPeer.next("known", (k) => k.doc === doc.id);
    await expectCutOff(peer, "token_expired");
    expect(peer.drain("content")).toEqual([]);
    await adminPeer.close();
  });

  it("a reader token cannot create the membership log of an open group", async () => {
    const group = uniqueGroup("tok-genesis");
    const { peer } = await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "reader" }));
    const { id, header } = membersHeader(tess, group);
    peer.send(new MemberLog(tess, id, header).ops([], { withHeader: true }));
    expect(await nextOf(peer, (m) => m.type === "error" || m.type === "known")).toMatchObject({ type: "error", code: "forbidden" });
    expect(await sqlRows(group, "SELECT id FROM docs")).toEqual([]);
    await expect(connect(group, bob).then((b) => b.close())).resolves.toBeUndefined();
    await peer.close();
  });
});
