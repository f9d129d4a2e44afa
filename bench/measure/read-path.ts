// The read path alone, in one process: the relay in workerd through Miniflare (as weft/dev's startRelay, no
// dev proxy), a document of 10,000 transactions of 100 bytes, then fresh clients in this process that cold
// load it and clients with a file store that resume 100 missed transactions. Reports wall time per phase,
// this process's CPU (the SDK) and workerd's CPU (the relay) per load, so a change to the read path can be
// compared on the same machine minutes apart. `--relay-prof` writes a V8 profile of the relay's isolate
// (through Miniflare's inspector) to read-path-relay.cpuprofile; profile the SDK with node --cpu-prof.
//   npx node bench/measure/read-path.ts [loads=10] [resumes=10] [--relay-prof]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createIdentity, exportIdentity, importIdentity, type Doc, type Group } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { transactionCount, type DocId } from "../../protocol/index.ts";
import { childrenCpu } from "../proc-stats.ts";
import { startRelayProfile } from "../relay-inspector.ts";
import { measuredRelay } from "./miniflare-relay.ts";
import { median } from "../stats.ts";
import { ownCpuMs, payload, sleep, wallClock } from "../workload.ts";

const args = process.argv.slice(2);
const relayProf = args.includes("--relay-prof");
const sdkProf = args.includes("--sdk-prof");
/** Profiles only the timed part of each resume, into resume-<n>.cpuprofile. */
const resumeProf = args.includes("--resume-prof");
/** Profiles only the timed part of each cold load, into cold-<n>.cpuprofile. */
const coldProf = args.includes("--cold-prof");
/** After each cold load (whose alarm has fired, so none is set), a bare socket: its open pays for setting the handshake alarm. */
const probeAfterLoads = args.includes("--probe-after-loads");
let windowProfiles = 0;
const [loads = 10, resumes = 10] = args.filter((arg) => !arg.startsWith("--")).map(Number);
const TRANSACTIONS = 10_000;
const DELTA = 100;
const RESUME_BASE = 2_000;
const BYTES = 100;
const INSPECTOR_PORT = 9300 + Math.floor(Math.random() * 500);

createIdentity();
/** Arrival of each frame on the SDK's sockets (ms since the load started, bytes), with `--frames`. */
const arrivals: [number, number][] = [];
if (args.includes("--frames")) {
  const Base = globalThis.WebSocket;
  globalThis.WebSocket = class extends Base {
    constructor(...params: ConstructorParameters<typeof Base>) {
      super(...params);
      this.addEventListener("open", () => arrivals.push([wallClock(), -1]));
      this.addEventListener("message", (event) => arrivals.push([wallClock(), typeof event.data === "string" ? event.data.length : (event.data as ArrayBuffer).byteLength]));
    }
    override send(data: Parameters<InstanceType<typeof Base>["send"]>[0]): void {
      arrivals.push([wallClock(), -(typeof data === "string" ? data.length : (data as Uint8Array).byteLength) - 1]);
      super.send(data);
    }
  } as typeof Base;
}

/** CPU of the workerd processes this one started (utime + stime), in ms. */
const workerdCpuMs = childrenCpu("workerd");

function whenHolds(group: Group, doc: Doc, condition: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const timer = setTimeout(() => reject(new Error("timed out")), 30_000);
    const check = () =>
      queueMicrotask(() => {
        if (!condition()) return;
        clearTimeout(timer);
        for (const off of offs) off();
        resolve();
      });
    offs.push(group.onStatus(check), doc.subscribe(check));
    check();
  });
}

const miniflare = await measuredRelay({
  ...(relayProf ? { inspectorPort: INSPECTOR_PORT } : {}),
  // With --persist, the groups' SQLite lives in a folder (as under wrangler dev --persist-to), not in memory.
  ...(args.includes("--persist") ? { persistTo: mkdtempSync(join(tmpdir(), "weft-read-path-state-")) } : {}),
});
const url = (await miniflare.ready).origin;
const stores = mkdtempSync(join(tmpdir(), "weft-read-path-"));
try {
  const writer = await createClient({ url, identity: createIdentity() });
  const doc = writer.group("read-path").create({ kind: "json", meta: {} });
  for (let i = 0; i < TRANSACTIONS; i++) doc.append(payload(i, BYTES));
  await doc.synced();
  // resume's document holds 2,000 before the first resume, as in the bench's scenario
  const resumeDoc = writer.group("read-path").create({ kind: "json", meta: {} });
  for (let i = 0; i < RESUME_BASE; i++) resumeDoc.append(payload(i, BYTES));
  await resumeDoc.synced();

  const coldLoad = async () => {
    const cpu0 = ownCpuMs();
    const relay0 = workerdCpuMs();
    const session = coldProf ? await startWindowProfile("cold") : undefined;
    const t0 = wallClock();
    const client = await createClient({ url, identity: createIdentity() });
    const group = client.group("read-path");
    let syncing = 0;
    const off = group.onStatus((status) => void (status === "syncing" && (syncing ||= wallClock() - t0)));
    const opened = await group.open(doc.id as DocId);
    await whenHolds(group, opened, () => transactionCount(opened.known) >= TRANSACTIONS);
    const ms = wallClock() - t0;
    await session?.stop();
    off();
    client.close();
    if (arrivals.length > 0) console.log(`frames: ${arrivals.map(([at, size]) => `${(at - t0).toFixed(1)}:${size}`).join(" ")}`);
    arrivals.length = 0;
    await sleep(30);
    const after = probeAfterLoads ? await probe() : undefined;
    return { after, ms, syncing, cpu: ownCpuMs() - cpu0, relay: workerdCpuMs() - relay0 };
  };

  const resume = async () => {
    const secret = exportIdentity(createIdentity());
    const storeDir = mkdtempSync(join(stores, "s-"));
    const first = await createClient({ url, identity: importIdentity(secret), store: new FileLocalStore(storeDir) });
    const firstGroup = first.group("read-path");
    const held = await firstGroup.open(resumeDoc.id as DocId);
    const expect = transactionCount(resumeDoc.known);
    await whenHolds(firstGroup, held, () => transactionCount(held.known) >= expect && firstGroup.status === "live");
    await firstGroup.synced();
    await sleep(20);
    first.close();
    for (let i = 0; i < DELTA; i++) resumeDoc.append(payload(i, BYTES));
    await resumeDoc.synced();
    await sleep(20);
    const cpu0 = ownCpuMs();
    const relay0 = workerdCpuMs();
    const session = resumeProf ? await startWindowProfile("resume") : undefined;
    arrivals.length = 0;
    const t0 = wallClock();
    const client = await createClient({ url, identity: importIdentity(secret), store: new FileLocalStore(storeDir) });
    const group = client.group("read-path");
    const phases: Record<string, number> = {};
    const off = group.onStatus((status) => void (phases[status] ??= wallClock() - t0));
    const opened = await group.open(resumeDoc.id as DocId);
    phases.opened = wallClock() - t0;
    await whenHolds(group, opened, () => transactionCount(opened.known) >= expect + DELTA && group.status === "live");
    const ms = wallClock() - t0;
    await session?.stop();
    if (arrivals.length > 0) console.log(`resume frames (negative: sent; -1: open): ${arrivals.map(([at, size]) => `${(at - t0).toFixed(1)}:${size}`).join(" ")}`);
    arrivals.length = 0;
    off();
    client.close();
    await sleep(30);
    return { ms, phases, cpu: ownCpuMs() - cpu0, relay: workerdCpuMs() - relay0 };
  };

  /** A bare WebSocket to the group: time until it opens, and until the relay's challenge arrives. */
  const probe = async () => {
    const t0 = wallClock();
    const socket = new WebSocket(`${url.replace(/^http/, "ws")}/v1/groups/read-path/ws`);
    const open = await new Promise<number>((resolve) => socket.addEventListener("open", () => resolve(wallClock() - t0), { once: true }));
    const challenge = await new Promise<number>((resolve) => socket.addEventListener("message", () => resolve(wallClock() - t0), { once: true }));
    socket.close(1000, "probe");
    await sleep(20);
    return { open, challenge };
  };
  const probeCount = Number(args.find((arg) => arg.startsWith("--probes="))?.slice(9) ?? 0);
  if (probeCount > 0) {
    await probe();
    const probes: { open: number; challenge: number }[] = [];
    for (let i = 0; i < probeCount; i++) probes.push(await probe());
    console.log(`bare socket: open median ${median(probes.map((p) => p.open)).toFixed(1)} ms, challenge median ${median(probes.map((p) => p.challenge)).toFixed(1)} ms`);
  }

  await coldLoad();
  await coldLoad();
  await resume();

  let stopProfile: (() => Promise<void>) | undefined;
  if (relayProf) stopProfile = await startRelayProfile(INSPECTOR_PORT, "read-path-relay.cpuprofile");
  if (sdkProf) stopProfile = await startSdkProfile();
  const cold: Awaited<ReturnType<typeof coldLoad>>[] = [];
  for (let i = 0; i < loads; i++) cold.push(await coldLoad());
  const resumed: Awaited<ReturnType<typeof resume>>[] = [];
  for (let i = 0; i < resumes; i++) resumed.push(await resume());
  await stopProfile?.();
  writer.close();

  const line = (name: string, values: number[]) => `${name} median ${median(values).toFixed(1)} (${values.map((v) => v.toFixed(1)).join(" / ")})`;
  if (cold.length > 0) {
  console.log(`cold_load ${TRANSACTIONS}: ${line("ms", cold.map((c) => c.ms))}`);
  console.log(`  ${line("handshake ms", cold.map((c) => c.syncing))}`);
  console.log(`  ${line("after the handshake ms", cold.map((c) => c.ms - c.syncing))}`);
  console.log(`  ${line("sdk cpu ms", cold.map((c) => c.cpu))}`);
  console.log(`  ${line("relay cpu ms", cold.map((c) => c.relay))}`);
    if (probeAfterLoads) console.log(`  ${line("bare socket to challenge, no alarm set, ms", cold.map((c) => c.after?.challenge ?? Number.NaN))}`);
  }
  if (resumed.length > 0) {
  console.log(`resume ${DELTA}: ${line("ms", resumed.map((r) => r.ms))}`);
  console.log(`  phases (median): ${Object.keys(resumed[0]!.phases).map((key) => `${key} ${median(resumed.map((r) => r.phases[key] ?? Number.NaN)).toFixed(1)}`).join(", ")}`);
  console.log(`  ${line("sdk cpu ms", resumed.map((r) => r.cpu))}`);
  console.log(`  ${line("relay cpu ms", resumed.map((r) => r.relay))}`);
  }
  console.log(`load average ${readFileSync("/proc/loadavg", "utf8").trim()}`);
} finally {
  await miniflare.dispose();
  rmSync(stores, { recursive: true, force: true });
}

/** Starts the V8 profiler in this process for one timed window; `stop` writes resume-<n>.cpuprofile. */
async function startWindowProfile(name = "resume"): Promise<{ stop(): Promise<void> }> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 50 });
  await session.post("Profiler.start");
  return {
    async stop() {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(`${name}-${windowProfiles++}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** Starts the V8 profiler in this process (the SDK's side); the returned function stops it and writes the profile. */
async function startSdkProfile(): Promise<() => Promise<void>> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync("read-path-sdk.cpuprofile", JSON.stringify(profile));
    session.disconnect();
    console.log("wrote read-path-sdk.cpuprofile");
  };
}
