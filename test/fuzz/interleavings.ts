// Randomized interleavings of the real SDK against the real relay (weft/dev's startRelay on a folder): three
// agents of one group pair, writing text and bytes that are easy to change on the way (escapes, astral
// characters, line separators, NUL, long runs), a proxy per agent that cuts them off at random, relay
// restarts, clients restarted on their FileLocalStore (the old one closing while the new one starts, as two
// tabs would), snapshots,
// deletes, with --roles role changes, documents restricted to their creator and refused writes discarded
// or sent again (a Y.Doc whose refused edits were discarded is replaced, as an app would), with --presence
// presence set and cleared (checked at the end: every client sees exactly the others' latest), and with
// --yjs typing into a shared Yjs document (at the end every Y.Doc holds what a fresh reader's does), and with
// --tabs a fourth client D, a second tab of B live beside it on the same local store. At the end the network
// is restored and every client is compared with a fresh admin reader: a promise that never settled, a group
// not live, a document or a write the relay lacks (and that was not refused) is a problem.
//
// A tool, not a test: the choices follow the seed, but the timing does not, so a failing seed may pass the
// next time. Each seed runs in a process of its own (the relay, the proxies and the stores are stopped and
// removed at its end); exit code 1 if any seed found a problem.
//
//   npm run fuzz -- [--seeds 1-20] [--steps 200] [--roles] [--prune] [--presence] [--yjs] [--tabs] [--verbose]
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runSeed } from "./world.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1-10" },
    steps: { type: "string", default: "200" },
    roles: { type: "boolean", default: false },
    prune: { type: "boolean", default: false },
    presence: { type: "boolean", default: false },
    yjs: { type: "boolean", default: false },
    tabs: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    seed: { type: "string" }, // one seed, in this process (what each child runs)
  },
});
const options = { steps: Number(values.steps), roles: values.roles, prune: values.prune, presence: values.presence, yjs: values.yjs, tabs: values.tabs, verbose: values.verbose };

if (values.seed !== undefined) {
  // A run that throws (say, the relay did not start) is a problem too, not a clean seed.
  const problems = await runSeed(Number(values.seed), options).catch((error: unknown) => {
    console.log(`seed ${values.seed}: failed: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  });
  process.exit(problems > 0 ? 1 : 0);
}

const [from, to = from] = values.seeds.split("-").map(Number) as [number, number?];
if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from || !(options.steps > 0)) {
  console.error("usage: npm run fuzz -- [--seeds 1-20] [--steps 200] [--roles] [--prune] [--presence] [--yjs] [--tabs] [--verbose]");
  process.exit(2);
}
const failed: number[] = [];
for (let seed = from; seed <= to; seed++) {
  const args = [fileURLToPath(import.meta.url), "--seed", String(seed), "--steps", String(options.steps)];
  for (const flag of ["roles", "prune", "presence", "yjs", "tabs", "verbose"] as const) if (options[flag]) args.push(`--${flag}`);
  const child = spawn(process.execPath, args, { stdio: "inherit" });
  // A seed that hangs is a problem too: it is stopped after a bounded time.
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000 + options.steps * 1_000);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  clearTimeout(timer);
  if (code !== 0) failed.push(seed);
}
console.log(failed.length === 0 ? `all ${to - from + 1} seeds clean` : `problems in seeds ${failed.join(", ")}`);
process.exit(failed.length === 0 ? 0 : 1);
