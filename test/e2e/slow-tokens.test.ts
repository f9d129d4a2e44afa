// A backend slow to hand out tokens, against the real relay: an attempt that gives up on getToken aborts
// the call's signal, and the token that comes late is used by the next attempt, not asked for again. At
// scale this was 1,696 calls (and 127 s) for 300 groups behind a backend answering one request at a time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Group } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { GET_TOKEN_WAIT_MS } from "../../protocol/index.ts";
import { mintToken } from "../../tokens/index.ts";
import { sleep, until } from "../support/wait.ts";

const SECRET = "slow-token-secret-long-enough-for-hs256";

describe("a getToken slower than the SDK waits", () => {
  let relay: LocalRelay;
  const clients: Client[] = [];
  beforeAll(async () => {
    relay = await startRelay({ vars: { WEFT_TOKEN_SECRET: SECRET } });
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await relay?.stop();
  });

  /** A client whose getToken is `answer`, given the token it would mint. */
  const connect = async (answer: (token: string, signal: AbortSignal) => Promise<string>) => {
    const identity = createIdentity();
    const client = await createClient({
      url: relay.url,
      identity,
      getToken: async (group, { signal }) => answer(await mintToken({ agent: identity.agent, group, role: "writer", expiresIn: 600 }, SECRET), signal),
    });
    clients.push(client);
    return client;
  };

  const live = (group: Group) => until(() => group.status === "live", 60_000);

  it("aborts the signal of the call it gave up on, and connects with its late token without a second call", async () => {
    const signals: AbortSignal[] = [];
    const client = await connect(async (token, signal) => {
      signals.push(signal);
      if (signals.length === 1) await sleep(GET_TOKEN_WAIT_MS + 200);
      return token;
    });
    const group = client.group("late-token");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await live(group);
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
    expect(errors).toEqual([`getToken failed: getToken did not settle within ${GET_TOKEN_WAIT_MS} ms`]);
  });

  it("gets groups behind a backend answering one request at a time live with one call each", async () => {
    // 24 calls of 500 ms in a row: the last is answered 12 s after it was asked, past the SDK's wait.
    let queue = Promise.resolve();
    let calls = 0;
    const client = await connect((token) => {
      calls++;
      const answered = queue.then(() => sleep(500)).then(() => token);
      queue = answered.then(() => undefined);
      return answered;
    });
    const groups = Array.from({ length: 24 }, (_, index) => client.group(`queued-${index}`));
    await Promise.all(groups.map(live));
    expect(calls).toBe(24);
  });

  it("aborts the signal of a call under way when the group closes", async () => {
    let asked: AbortSignal | undefined;
    const client = await connect((token, signal) => {
      asked = signal;
      return new Promise<string>(() => {});
    });
    const group = client.group("closed-while-asking");
    await until(() => asked !== undefined, 10_000);
    expect(asked!.aborted).toBe(false);
    group.close();
    expect(asked!.aborted).toBe(true);
  });
});
