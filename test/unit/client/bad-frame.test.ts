// A relay that sends a frame the SDK cannot take (here one over MAX_FRAME_BYTES, as a relay did that stored
// a transaction it could not send on) gets the socket dropped, and the group keeps trying with backoff, a
// relay deploy may mend it. The app hears it through onError once per run of such frames, not at every
// retry; a run ends once a socket stayed live for the backoff's minUptimeMs. Waits bound by signals
// still end as documented. The relay is a real WebSocket server that misbehaves on purpose.
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionError, createClient, createIdentity, type Client } from "../../../client/index.ts";
import { MAX_FRAME_BYTES } from "../../../protocol/index.ts";
import { startBadFrameRelay, type BadFrameRelay } from "../../support/bad-frame-relay.ts";
import { testAgent, testHeader } from "../../support/identity.ts";
import { sleep, until } from "../../support/wait.ts";

const MIN_UPTIME_MS = 1_000;

let relay: BadFrameRelay | undefined;
let client: Client | undefined;
afterEach(async () => {
  await client?.close();
  await relay?.stop();
});

describe("a frame from the relay over MAX_FRAME_BYTES", () => {
  it("reaches onError once per run, as a ConnectionError, while the group stays offline and keeps trying; a run ends once a socket stays live", async () => {
    relay = await startBadFrameRelay();
    client = await createClient({ url: relay.url, identity: createIdentity(), backoff: { baseMs: 20, capMs: 100, minUptimeMs: MIN_UPTIME_MS } });
    const group = client.group("notes");
    const errors: Error[] = [];
    const offline: string[] = [];
    group.onError((error) => errors.push(error));
    group.onStatus((status, reason) => {
      if (status === "offline") offline.push(reason ?? "");
    });
    const detail = `frame of ${relay.badFrameBytes} bytes exceeds ${MAX_FRAME_BYTES}`;

    // Every attempt is welcomed, then sent the frame: one report for all of them.
    await until(() => relay!.badFrames >= 4, 20_000);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConnectionError);
    expect(errors[0]).toMatchObject({ failure: { kind: "bad_frame", detail }, message: `the relay sent a bad frame: ${detail}` });
    expect(new Set(offline)).toEqual(new Set([`the relay sent a bad frame: ${detail}`]));
    expect(group.connection.closeReason).toBeUndefined();
    // A wait bounded by a signal ends with the signal's reason, as it does offline for any cause.
    const other = client.group("waits");
    await expect(other.open(testHeader(testAgent(1), "waits").id, { signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: "TimeoutError" });
    other.close();

    // Mended: the next socket goes live and stays; a bad frame after that starts a run of its own.
    relay.mend();
    await until(() => group.status === "live", 10_000);
    await sleep(MIN_UPTIME_MS + 200);
    const before = relay.badFrames;
    relay.breakAgain();
    await until(() => errors.length === 2 && relay!.badFrames >= before + 4, 20_000);
    expect(errors[1]).toMatchObject({ failure: { kind: "bad_frame", detail } });
    expect(errors).toHaveLength(2);
  });
});
