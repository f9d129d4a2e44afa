// A resume's round trips without the SDK: the relay and the floor (bench/floor/worker.ts), both in workerd
// through Miniflare in this process, each asked in turn by a raw WebSocket to open, answer the challenge
// with a hello, and once welcomed load a document of 2,000 transactions of which it holds all but the last
// 100, offering to inflate large frames as the SDK does. Reports the median of each step for each, so what
// the relay's own work adds to a resume shows apart from the sockets' cost and from the SDK's. `--idle MS`
// waits between runs (20 by default; 0 runs them back to back, which makes every step faster here).
//   npx node bench/measure/round-trips.ts [runs=60] [--idle MS]
import { createClient, createIdentity, type Identity } from "../../client/index.ts";
import { MAX_FRAME_BYTES, PROTOCOL_VERSION, decodeServerFrame, helloMessage, inflateFrameNow, newSessionId, sign, toBase64Url, type ClientMessage, type DocId, type KnownState } from "../../protocol/index.ts";
import { floorOnMiniflare } from "../floor/miniflare-floor.ts";
import { measuredRelay } from "./miniflare-relay.ts";
import { median } from "../stats.ts";
import { payload, sleep, wallClock } from "../workload.ts";

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at < 0 ? undefined : args[at + 1];
};
const runs = Number(args.find((arg, i) => !arg.startsWith("--") && args[i - 1] !== "--idle") ?? 60);
const idleMs = Number(option("--idle") ?? 20);
const BASE = 2_000;
const DELTA = 100;
const GROUP = "round-trips";

/** When each step of one run ended, in ms from the socket's creation. */
type Steps = { open: number; challenge: number; helloSent: number; welcome: number; loadSent: number; answered: number };

/** The messages a run sends: the relay's are signed for the challenge it gets, the floor's are canned. */
type Script = { hello(nonce: string): string; load: string; answered(message: { type: string; reason?: string }): boolean };

/** A run that takes longer than this failed: the script stops rather than wait. */
const RUN_TIMEOUT_MS = 5_000;

/** One run: open, challenge, hello, welcome, load, and the answer's end (the relay's `known` for the load). */
function timedRun(url: string, script: Script): Promise<Steps> {
  const t0 = wallClock();
  const at = () => wallClock() - t0;
  const steps: Partial<Steps> = {};
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/v1/groups/${GROUP}/ws`);
  socket.binaryType = "arraybuffer";
  const run = new Promise<Steps>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`round-trips: no answer within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
    const fail = (error: Error) => (clearTimeout(timer), reject(error));
    socket.addEventListener("open", () => (steps.open = at()));
    socket.addEventListener("error", () => fail(new Error("round-trips: the socket failed")));
    socket.addEventListener("message", (event) => {
      let messages: Message[];
      try {
        messages = messagesOf(event.data as string | ArrayBuffer);
      } catch (error) {
        return fail(error as Error);
      }
      for (const message of messages) {
        if (message.type === "challenge") {
          steps.challenge = at();
          socket.send(script.hello(message.nonce!));
          steps.helloSent = at();
        } else if (message.type === "welcome") {
          steps.welcome = at();
          socket.send(script.load);
          steps.loadSent = at();
        } else if (message.type === "error") {
          fail(new Error(`round-trips: the relay refused: ${JSON.stringify(message)}`));
        } else if (script.answered(message)) {
          steps.answered = at();
          clearTimeout(timer);
          resolve(steps as Steps);
        }
      }
    });
  });
  // Closed however the run ended.
  return run.finally(() => socket.close(1000, "done"));
}

type Message = { type: string; nonce?: string; reason?: string };

/** The messages of a frame: text, or a compressed one inflated (large frames to a client that offers to inflate, as the SDK does). */
function messagesOf(data: string | ArrayBuffer): Message[] {
  if (typeof data !== "string") {
    const inflated = inflateFrameNow(new Uint8Array(data), MAX_FRAME_BYTES);
    if (!inflated || "error" in inflated) throw new Error(`round-trips: a frame that does not inflate: ${inflated?.error ?? "no node:zlib"}`);
    const decoded = decodeServerFrame(inflated.frame);
    if (!decoded.ok) throw new Error(`round-trips: a frame that does not decode: ${decoded.reason}`);
    return decoded.message;
  }
  const frame = JSON.parse(data) as Message & { messages?: Message[] };
  return frame.type === "batch" ? frame.messages! : [frame];
}

function relayScript(doc: DocId, known: KnownState): Script {
  const identity: Identity = createIdentity();
  const session = newSessionId(identity.agent);
  return {
    hello: (nonce) =>
      JSON.stringify({
        type: "hello",
        v: PROTOCOL_VERSION,
        agent: identity.agent,
        session,
        group: GROUP,
        signature: toBase64Url(sign(helloMessage(GROUP, session, nonce), identity.secretKey)),
        pings: true,
        inflate: ["deflate-raw"],
      } satisfies ClientMessage),
    load: JSON.stringify({ type: "load", doc, known } satisfies ClientMessage),
    answered: (message) => message.type === "known" && message.reason === "load",
  };
}

const FLOOR_SCRIPT: Script = {
  hello: () => JSON.stringify({ type: "hello" }),
  load: JSON.stringify({ type: "load" }),
  answered: (message) => message.type === "known",
};

const relay = await measuredRelay();
const floor = await floorOnMiniflare({ port: 0 });
try {
  const relayUrl = (await relay.ready).origin;
  const floorUrl = (await floor.ready).origin;
  // The document: BASE transactions the reader holds, then DELTA it lacks. A writer stays connected, as in a group in use.
  const writer = await createClient({ url: relayUrl, identity: createIdentity() });
  const doc = writer.group(GROUP).create({ kind: "json", meta: {} });
  for (let i = 0; i < BASE; i++) doc.append(payload(i, 100));
  await doc.synced();
  const known: KnownState = { header: true, sessions: { ...doc.known.sessions } };
  for (let i = 0; i < DELTA; i++) doc.append(payload(BASE + i, 100));
  await doc.synced();

  const measured = { relay: [] as Steps[], floor: [] as Steps[] };
  for (let run = -3; run < runs; run++) {
    // Taking turns, so both see the machine as it was at that moment.
    const relaySteps = await timedRun(relayUrl, relayScript(doc.id, known));
    await sleep(idleMs);
    const floorSteps = await timedRun(floorUrl, FLOOR_SCRIPT);
    await sleep(idleMs);
    if (run >= 0) {
      measured.relay.push(relaySteps);
      measured.floor.push(floorSteps);
    }
  }
  writer.close();

  console.log(`${runs} runs each, ${idleMs} ms idle between runs; medians in ms`);
  console.log("            open   challenge   hello → welcome   load → answered   all");
  for (const [name, steps] of Object.entries(measured)) {
    const figures = [
      median(steps.map((s) => s.open)),
      median(steps.map((s) => s.challenge)),
      median(steps.map((s) => s.welcome - s.helloSent)),
      median(steps.map((s) => s.answered - s.loadSent)),
      median(steps.map((s) => s.answered)),
    ];
    console.log(`${name.padEnd(10)}${figures.map((figure, i) => figure.toFixed(2).padStart([6, 12, 18, 18, 6][i]!)).join("")}`);
  }
} finally {
  await Promise.all([relay.dispose(), floor.dispose()]);
}
