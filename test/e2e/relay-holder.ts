// A Node process that starts a relay with weft/dev's startRelay and never stops it: it prints the relay's
// URL, then waits to be killed, or exits without stop() when told "exit" on stdin.
import { createInterface } from "node:readline";
import { startRelay } from "../../dev/start-relay.ts";

const relay = await startRelay();
console.log(relay.url);
setInterval(() => {}, 60_000); // alive until killed or told
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "exit") process.exit(0);
});
