// The client's connection on its own: handshake, status, keep-alive pings and reconnect timing, driven
// with fake timers and a fake WebSocket. The test plays the relay with the real protocol encoders.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  GET_TOKEN_CALL_MAX_MS,
  GET_TOKEN_WAIT_MS,
  PRESENCE_PING_MS,
  PROTOCOL_VERSION,
  UNSUPPORTED_VERSION_RETRY_MS,
  batchFrame,
  closeCodeOf,
  decodeClientFrame,
  encodeMessage,
  fromBase64Url,
  helloMessage,
  publicKeyOfAgent,
  utf8Length,
  verify,
} from "../../../protocol/index.ts";
import { testAgent, testHeader } from "../../support/identity.ts";
import { GROUP, HOUR, NONCE, connect, expectNextSocketAfter, failConnections, handshake, identity, session } from "./connection-harness.ts";
import { FakeSocket } from "./fake-socket.ts";
import { Connection } from "../../../client/connection.ts";

const DOC_A = testHeader(testAgent(9), GROUP, "a").id;
const DOC_B = testHeader(testAgent(9), GROUP, "b").id;

beforeEach(() => {
  FakeSocket.instances = [];
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("handshake and status", () => {
  it("goes idle -> connecting -> authenticating -> syncing -> live", () => {
    const { connection, log } = connect();
    expect(connection.status).toBe("idle");
    expect(FakeSocket.instances).toHaveLength(0);
    connection.start();
    expect(connection.status).toBe("connecting");
    expect(FakeSocket.latest.url).toBe(`wss://relay.test/v1/groups/${GROUP}/ws`);
    FakeSocket.latest.serverOpen();
    expect(connection.status).toBe("authenticating");
    FakeSocket.latest.serverSend({ type: "challenge", v: PROTOCOL_VERSION, nonce: NONCE });
    expect(connection.status).toBe("authenticating");
    expect(log.ready).toBe(0);
    FakeSocket.latest.serverSend({ type: "welcome", v: PROTOCOL_VERSION, role: "writer" });
    expect(connection.status).toBe("syncing");
    expect(log.ready).toBe(1);
    connection.markLive();
    expect(log.statuses).toEqual(["connecting", "authenticating", "syncing", "live"]);
  });

  it("lets frames follow the hello at once, without waiting a round trip for the welcome", async () => {
    const { connection, log } = connect();
    connection.start();
    FakeSocket.latest.serverOpen();
    expect(connection.send({ type: "dir" })).toBe(false);
    FakeSocket.latest.serverSend({ type: "challenge", v: PROTOCOL_VERSION, nonce: NONCE });
    expect(log.hello).toBe(1);
    expect(connection.status).toBe("authenticating");
    expect(connection.send({ type: "dir" })).toBe(true);
    await Promise.resolve();
    expect(FakeSocket.latest.sent.map((frame) => JSON.parse(frame).type)).toEqual(["hello", "dir"]);
  });

  it("puts the group's path after the relay URL's own path, and keeps its query a query", () => {
    const WebSocket = FakeSocket as unknown as typeof globalThis.WebSocket;
    const handler = { onHello: () => {}, onReady: () => {}, onMessage: () => {}, onDown: () => {}, onStatus: () => {}, onFailure: () => {} };
    for (const [url, socket] of [
      ["https://relay.test/", `wss://relay.test/v1/groups/${GROUP}/ws`],
      ["http://relay.test/weft?app=notes&v=3", `ws://relay.test/weft/v1/groups/${GROUP}/ws?app=notes&v=3`],
      ["wss://relay.test/base/?key=a%20b", `wss://relay.test/base/v1/groups/${GROUP}/ws?key=a%20b`],
    ] as const) {
      new Connection({ url, group: GROUP, identity, session, WebSocket, pingIntervalMs: HOUR, fetch: false }, handler).start();
      expect(FakeSocket.latest.url).toBe(socket);
    }
  });

  it("sends what the group sends behind the hello in the hello's own frame", async () => {
    const WebSocket = FakeSocket as unknown as typeof globalThis.WebSocket;
    const connection: Connection = new Connection(
      { url: "https://relay.test/", group: GROUP, identity, session, WebSocket, random: () => 0.5, pingIntervalMs: HOUR, fetch: false },
      {
        onHello: () => {
          connection.send({ type: "load", doc: DOC_A, known: { header: false, sessions: {} } });
          connection.send({ type: "load", doc: DOC_B, known: { header: false, sessions: {} } });
        },
        onReady: () => {},
        onMessage: () => {},
        onDown: () => {},
        onStatus: () => {},
        onFailure: () => {},
      },
    );
    connection.start();
    FakeSocket.latest.serverOpen();
    FakeSocket.latest.serverSend({ type: "challenge", v: PROTOCOL_VERSION, nonce: NONCE });
    expect(FakeSocket.latest.sent).toHaveLength(1);
    const decoded = decodeClientFrame(FakeSocket.latest.sent[0]!);
    expect(decoded.ok && decoded.message.map((message) => message.type === "load" ? message.doc : message.type)).toEqual(["hello", DOC_A, DOC_B]);
    // Later messages go in frames of their own.
    connection.send({ type: "dir" });
    await Promise.resolve();
    expect(FakeSocket.latest.sent).toHaveLength(2);
  });

  it("answers the challenge with a hello signed for this group, session and nonce", async () => {
    const { connection } = connect();
    connection.start();
    const hello = handshake();
    expect(hello).toMatchObject({ type: "hello", v: PROTOCOL_VERSION, agent: identity.agent, session, group: GROUP });
    const signature = fromBase64Url(hello.signature)!;
    const publicKey = publicKeyOfAgent(identity.agent)!;
    expect(await verify(signature, helloMessage(GROUP, session, NONCE), publicKey)).toBe(true);
    expect(await verify(signature, helloMessage(GROUP, session, "YW5vdGhlci1ub25jZQ"), publicKey)).toBe(false);
    expect(await verify(signature, helloMessage("other-group", session, NONCE), publicKey)).toBe(false);
  });

  it("sends app messages only once its hello is out", async () => {
    const { connection } = connect();
    connection.start();
    expect(connection.send({ type: "dir" })).toBe(false);
    FakeSocket.latest.serverOpen();
    expect(connection.send({ type: "dir" })).toBe(false);
    handshake(FakeSocket.latest);
    expect(connection.send({ type: "dir" })).toBe(true);
    await Promise.resolve(); // messages sent in one tick leave together at its end
    expect(FakeSocket.latest.sent.filter((frame) => frame === '{"type":"dir"}')).toHaveLength(1);
  });

  it("sends the messages of one tick together, in order, in one frame", async () => {
    const { connection } = connect();
    connection.start();
    handshake();
    const sentBefore = FakeSocket.latest.sent.length;
    connection.send({ type: "load", doc: DOC_A, known: { header: false, sessions: {} } });
    connection.send({ type: "load", doc: DOC_B, known: { header: false, sessions: {} } });
    connection.send({ type: "dir" });
    expect(FakeSocket.latest.sent).toHaveLength(sentBefore);
    await Promise.resolve();
    expect(FakeSocket.latest.sent).toHaveLength(sentBefore + 1);
    const decoded = decodeClientFrame(FakeSocket.latest.sent.at(-1)!);
    expect(decoded.ok && decoded.message.map((message) => (message.type === "load" ? message.doc : message.type))).toEqual([DOC_A, DOC_B, "dir"]);
  });


  it("closes for good on unauthorized during the handshake", () => {
    const { connection, log } = connect();
    connection.start();
    const socket = FakeSocket.latest;
    const code = "unauthorized";
    socket.serverOpen();
    socket.serverSend({ type: "challenge", v: PROTOCOL_VERSION, nonce: NONCE });
    socket.serverSend({ type: "error", code, message: "refused" });
    socket.serverClose(closeCodeOf(code) ?? 1008, code);
    expect(connection.status).toBe("closed");
    expect(connection.closeReason).toContain(code);
    expect(log.statuses[log.statuses.length - 1]).toBe("closed");
    expect(log.reasons[log.reasons.length - 1]).toContain(code);
    connection.start();
    vi.advanceTimersByTime(24 * HOUR);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("goes offline on unsupported_version, tries again every UNSUPPORTED_VERSION_RETRY_MS, and tells the app once per run of refusals", () => {
    const { connection, log } = connect();
    connection.start();
    const refuse = () => {
      const socket = FakeSocket.latest;
      socket.serverOpen();
      socket.serverSend({ type: "challenge", v: PROTOCOL_VERSION, nonce: NONCE });
      socket.serverSend({ type: "error", code: "unsupported_version", message: "this relay speaks protocol v9, not v4" });
      socket.serverClose(1002, "unsupported_version");
    };
    refuse();
    expect(connection.status).toBe("offline");
    expect(connection.closeReason).toBeUndefined();
    expect(connection.versionRefusal).toBe("unsupported_version: this relay speaks protocol v9, not v4");
    expect(log.reasons.at(-1)).toBe(connection.versionRefusal);
    expectNextSocketAfter(UNSUPPORTED_VERSION_RETRY_MS);
    refuse();
    expectNextSocketAfter(UNSUPPORTED_VERSION_RETRY_MS);
    refuse();
    expect(log.failures).toEqual(["unsupported_version: this relay speaks protocol v9, not v4"]);
    // reconnectNow tries at once, as offline; a relay of this version welcomes it, and a later refusal is a new run.
    connection.reconnectNow();
    handshake();
    expect(connection.status).toBe("syncing");
    expect(connection.versionRefusal).toBeUndefined();
    FakeSocket.latest.serverSend({ type: "error", code: "unsupported_version", message: "rolled forward again" });
    expect(connection.status).toBe("offline");
    expect(log.failures).toHaveLength(2);
    expect(log.statuses).not.toContain("closed");
  });

  it("stays up when `forbidden` refuses one write after the handshake", () => {
    const { connection, log } = connect();
    connection.start();
    handshake();
    FakeSocket.latest.serverSend({ type: "error", code: "forbidden", message: "not your session" });
    expect(connection.status).toBe("syncing");
    expect(log.messages).toEqual([{ type: "error", code: "forbidden", message: "not your session" }]);
  });
});

describe("reconnect", () => {
  it("waits a jittered backoff after a drop, then connects and handshakes again", () => {
    const { connection, log } = connect();
    connection.start();
    handshake();
    connection.markLive();
    FakeSocket.latest.serverClose(1006);
    expect(connection.status).toBe("offline");
    expect(log.down).toBe(1);
    expectNextSocketAfter(500);
    expect(connection.status).toBe("connecting");
    handshake();
    expect(connection.status).toBe("syncing");
    expect(log.ready).toBe(2);
  });

  it("draws a new random delay for every attempt (full jitter)", () => {
    const draws = [0.25, 0.75, 0];
    const { connection } = connect({ random: () => draws.shift() ?? 0.5 });
    connection.start();
    FakeSocket.latest.serverFail();
    expectNextSocketAfter(250); // 0.25 of 1 s
    FakeSocket.latest.serverFail();
    expectNextSocketAfter(1_500); // 0.75 of 2 s
    FakeSocket.latest.serverFail();
    vi.advanceTimersByTime(0); // 0 of 4 s: at once
    expect(FakeSocket.instances).toHaveLength(4);
  });

  it("takes Math.random()'s draw where the app's random gives no number from 0 to 1, or throws: never a reconnect loop without a pause", () => {
    const draws: [string, () => unknown][] = [
      ["NaN", () => NaN],
      ["-1", () => -1],
      ["2", () => 2],
      ["Infinity", () => Infinity],
      ["a string", () => "0.25"],
      ["a bigint", () => 0n],
      ["a throw", () => {
        throw new Error("no entropy");
      }],
    ];
    const mathRandom = vi.spyOn(Math, "random").mockReturnValue(0.5);
    try {
      for (const [what, random] of draws) {
        FakeSocket.instances = [];
        const { connection } = connect({ random: random as () => number });
        connection.start();
        // 0.5 of 1 s, then 0.5 of 2 s: the backoff grows as with any draw.
        expect(() => failConnections([500, 1_000]), what).not.toThrow();
        connection.close();
      }
    } finally {
      mathRandom.mockRestore();
    }
  });

  it("doubles the delay while connections keep failing, up to the cap", () => {
    const { connection, log } = connect();
    connection.start();
    failConnections([500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(log.down).toBe(7);
  });

  it("resets the delay after a connection stayed live for minUptimeMs", () => {
    const { connection } = connect();
    connection.start();
    failConnections([500, 1_000, 2_000]);
    handshake();
    connection.markLive();
    vi.advanceTimersByTime(5_000);
    FakeSocket.latest.serverClose(1006);
    expectNextSocketAfter(500);
  });

  it("keeps growing the delay when a connection dies soon after going live", () => {
    const { connection } = connect();
    connection.start();
    failConnections([500, 1_000, 2_000]);
    handshake();
    connection.markLive();
    vi.advanceTimersByTime(4_999);
    FakeSocket.latest.serverClose(1006);
    expectNextSocketAfter(4_000);
    handshake(); // syncing, never live: no reset either
    FakeSocket.latest.serverClose(1006);
    expectNextSocketAfter(8_000);
  });

  it("resets the delay for a long-lived connection that is syncing a newly opened document", () => {
    // The fake relay answers no ping: the one sent every PRESENCE_PING_MS waits for its pong past the minute.
    const { connection } = connect({ pingTimeoutMs: HOUR });
    connection.start();
    failConnections([500, 1_000, 2_000]);
    handshake();
    connection.markLive();
    vi.advanceTimersByTime(60_000);
    connection.markSyncing();
    FakeSocket.latest.serverClose(1006);
    expectNextSocketAfter(500); // actual: 4,000 (attempt 3)
  });

  it("waits at least the relay's retryAfter, once", () => {
    const { connection, log } = connect();
    connection.start();
    const socket = FakeSocket.latest;
    socket.serverOpen();
    socket.serverSend({ type: "error", code: "too_many_peers", message: "full", retryAfter: 30 });
    socket.serverClose(closeCodeOf("too_many_peers") ?? 1013, "too_many_peers");
    expect(connection.status).toBe("offline");
    expect(log.messages.map((message) => message.type)).toEqual(["error"]);
    expectNextSocketAfter(30_000);
    FakeSocket.latest.serverFail();
    expectNextSocketAfter(1_000); // the hint applied to one wait only: back to jitter, attempt 1
  });

  it("drop() before start() is harmless", () => {
    const { connection } = connect();
    expect(() => connection.drop()).not.toThrow();
    expect(connection.status).toBe("idle");
  });
});

describe("keep-alive", () => {
  it("pings after pingIntervalMs of silence and drops a connection that stays silent", async () => {
    const { connection, log } = connect({ pingIntervalMs: 1_000, pingTimeoutMs: 500 });
    connection.start();
    handshake();
    const socket = FakeSocket.latest;
    const sentBefore = socket.sent.length;
    vi.advanceTimersByTime(999);
    expect(socket.sent).toHaveLength(sentBefore);
    vi.advanceTimersByTime(1);
    expect(socket.sent.slice(sentBefore)).toEqual(['{"type":"ping"}']);
    vi.advanceTimersByTime(499);
    expect(connection.status).toBe("syncing");
    expect(socket.closedByClient).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(socket.closedByClient).toBeDefined();
    expect(connection.status).toBe("offline");
    await Promise.resolve(); // the dropped socket's own close event arrives late and changes nothing
    expect(log.down).toBe(1);
    expectNextSocketAfter(500);
  });

  it("waits on a slow link still sending what went before its ping, while that moves; drops it once it stops moving", () => {
    const { connection } = connect({ pingIntervalMs: 1_000, pingTimeoutMs: 500 });
    connection.start();
    handshake();
    const socket = FakeSocket.latest;
    socket.bufferedAmount = 300_000; // a large write, leaving at a few KB a second
    vi.advanceTimersByTime(1_000); // the ping goes out behind it
    for (const left of [298_000, 296_000, 294_000]) {
      socket.bufferedAmount = left;
      vi.advanceTimersByTime(500);
      expect(socket.closedByClient, `${left} bytes left`).toBeUndefined();
    }
    // The link stalls: nothing more leaves.
    vi.advanceTimersByTime(500);
    expect(socket.closedByClient).toBeDefined();
    expect(connection.status).toBe("offline");
  });

  it("keeps a connection that answers, and counts silence from the last frame", () => {
    const { connection } = connect({ pingIntervalMs: 1_000, pingTimeoutMs: 500 });
    connection.start();
    handshake();
    const socket = FakeSocket.latest;
    const pings = () => socket.sent.filter((frame) => frame === '{"type":"ping"}').length;
    vi.advanceTimersByTime(1_400);
    socket.serverSend({ type: "pong" });
    vi.advanceTimersByTime(999);
    expect(pings()).toBe(1);
    expect(connection.status).toBe("syncing");
    vi.advanceTimersByTime(1);
    expect(pings()).toBe(2);
  });

  it("pings every PRESENCE_PING_MS while frames keep arriving, and says so in its hello", () => {
    const { connection } = connect({ pingIntervalMs: HOUR });
    connection.start();
    const hello = handshake();
    // The relay may take this client's silence for a vanished peer (PRESENCE_SILENT_MS) only if it promised.
    expect(hello.pings).toBe(true);
    const socket = FakeSocket.latest;
    const pings = () => socket.sent.filter((frame) => frame === '{"type":"ping"}').length;
    // A frame every second: the connection is never silent, and still the relay hears a ping.
    for (let second = 1; second <= (3 * PRESENCE_PING_MS) / 1000; second++) {
      vi.advanceTimersByTime(1_000);
      socket.serverSend({ type: "deleted", doc: DOC_A });
      expect(pings(), `pings after ${second} s`).toBe(Math.floor((second * 1000) / PRESENCE_PING_MS));
    }
    expect(connection.status).toBe("syncing");
  });

  it.each(["sending", "pinging"])("takes a socket that is closing, its close event not come (a relay's close read after a sleep), for down at once when %s, and connects again", async (how) => {
    const { connection, log } = connect({ pingIntervalMs: HOUR });
    connection.start();
    handshake();
    const closing = FakeSocket.latest;
    // Read the relay's close frame: CLOSING, and what is sent into it is dropped; `ws` waits 30 s for the end.
    closing.readyState = FakeSocket.CLOSING;
    if (how === "sending") {
      expect(connection.send({ type: "dir" })).toBe(true);
      await Promise.resolve(); // this tick's frames go at its end
    } else vi.advanceTimersByTime(PRESENCE_PING_MS);
    expect(log.down).toBe(1);
    expect(connection.status).toBe("offline");
    expect(log.reasons.at(-1)).toBe("the socket is closing");
    vi.runOnlyPendingTimers(); // the backoff's first wait
    expect(FakeSocket.latest).not.toBe(closing);
  });

  it.each(["too_slow", "too_many_frames", "busy", "internal"] as const)("on %s, which the relay closes the socket behind, goes down at once and lets the app hear it once: the close adds nothing", (code) => {
    const { connection, log } = connect();
    connection.start();
    handshake();
    const socket = FakeSocket.latest;
    socket.serverSend({ type: "error", code, message: "cut off", retryAfter: 1 });
    expect(log.messages.map((message) => message.type === "error" && message.code)).toEqual([code]);
    expect(connection.status).toBe("offline");
    socket.serverClose(closeCodeOf(code)!, code);
    expect(log.failures).toEqual([]);
    expectNextSocketAfter(1_000); // the relay's retryAfter
  });

  it("handles the messages of a batch in order, and none after one that ends the socket", () => {
    const { connection, log } = connect();
    connection.start();
    handshake();
    const deleted = (doc: typeof DOC_A) => encodeMessage({ type: "deleted", doc });
    const unsupported = encodeMessage({ type: "error", code: "unsupported_version", message: "no" });
    FakeSocket.latest.serverSend(batchFrame([deleted(DOC_A), deleted(DOC_B)]));
    expect(log.messages.map((message) => message.type === "deleted" && message.doc)).toEqual([DOC_A, DOC_B]);
    FakeSocket.latest.serverSend(batchFrame([unsupported, deleted(DOC_A)]));
    expect(connection.status).toBe("offline");
    expect(log.messages).toHaveLength(2);
  });

  it("counts received frames, and their bytes as UTF-8", () => {
    const { connection } = connect();
    connection.start();
    handshake();
    const before = { bytes: connection.bytesReceived, frames: connection.framesReceived };
    const frame = JSON.stringify({ type: "error", code: "internal", message: "déjà vu" });
    FakeSocket.latest.serverSend(frame);
    expect(connection.bytesReceived - before.bytes).toBe(utf8Length(frame));
    expect(connection.framesReceived - before.frames).toBe(1);
  });
});

describe("close", () => {
  it("stays closed when a status listener closes it as it goes offline", () => {
    const WebSocket = FakeSocket as unknown as typeof globalThis.WebSocket;
    const connection: Connection = new Connection(
      { url: "https://relay.test/", group: GROUP, identity, session, WebSocket, random: () => 0.5, pingIntervalMs: HOUR, fetch: false },
      { onHello: () => {}, onReady: () => {}, onMessage: () => {}, onDown: () => {}, onFailure: () => {}, onStatus: (status) => status === "offline" && connection.close("gave up") },
    );
    connection.start();
    handshake();
    FakeSocket.latest.serverClose(1006);
    expect(connection.status).toBe("closed");
    expect(vi.getTimerCount()).toBe(0);
    const sockets = FakeSocket.instances.length;
    vi.advanceTimersByTime(24 * HOUR);
    expect(FakeSocket.instances).toHaveLength(sockets);
  });

  it("clears every timer and never reconnects", async () => {
    const { connection, log } = connect({ pingIntervalMs: 1_000 });
    connection.start();
    handshake();
    connection.markLive();
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    connection.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(connection.status).toBe("closed");
    expect(connection.closeReason).toBe("closed by the app");
    expect(FakeSocket.latest.closedByClient?.code).toBe(1000);
    await Promise.resolve(); // its close event
    vi.advanceTimersByTime(24 * HOUR);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(log.down).toBe(0);
  });

  it("cancels a pending reconnect", () => {
    const { connection } = connect();
    connection.start();
    FakeSocket.latest.serverFail();
    expect(connection.status).toBe("offline");
    connection.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(24 * HOUR);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(connection.status).toBe("closed");
  });
});

describe("a getToken that never settles", () => {
  it("is given up after GET_TOKEN_WAIT_MS, told as a token failure; later attempts wait for the same call until GET_TOKEN_CALL_MAX_MS, then ask again", async () => {
    const signals: AbortSignal[] = [];
    const { connection, log } = connect({ getToken: (_group, { signal }) => (signals.push(signal), new Promise<string>(() => {})) });
    const challenge = () => {
      FakeSocket.latest.serverOpen();
      FakeSocket.latest.serverSend({ type: "challenge", v: PROTOCOL_VERSION, nonce: NONCE });
    };
    connection.start();
    challenge();
    expect(signals).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(GET_TOKEN_WAIT_MS - 1);
    expect(log.failures).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(log.failures).toEqual([`getToken failed: getToken did not settle within ${GET_TOKEN_WAIT_MS} ms`]);
    expect(signals[0]!.aborted).toBe(true);
    expect(FakeSocket.latest.sent).toEqual([]); // no hello went out without a token
    // The socket is dropped; the next attempt waits for the call under way rather than make another.
    const sockets = FakeSocket.instances.length;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeSocket.instances.length).toBe(sockets + 1);
    challenge();
    expect(signals).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(GET_TOKEN_WAIT_MS);
    expect(log.failures).toHaveLength(2);
    // Unanswered for GET_TOKEN_CALL_MAX_MS, the call is taken for hung: the next attempt asks again.
    await vi.advanceTimersByTimeAsync(GET_TOKEN_CALL_MAX_MS);
    challenge();
    expect(signals).toHaveLength(2);
    expect(signals[1]!.aborted).toBe(false);
    connection.close("done");
    expect(signals[1]!.aborted).toBe(true);
  });
});
