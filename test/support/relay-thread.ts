// A relay started from a worker thread of the test's process, as vitest's threads pool runs a test file:
// posts its url, then stops it on "stop" (posting "stopped"), or on "leave" ends the thread without stop().
import { parentPort, workerData } from "node:worker_threads";
import { startRelay } from "../../dev/start-relay.ts";

const relay = await startRelay({ persistTo: (workerData as { persistTo: string }).persistTo });
parentPort!.postMessage(relay.url);
parentPort!.on("message", async (command: "stop" | "leave") => {
  if (command === "stop") {
    await relay.stop();
    parentPort!.postMessage("stopped");
  }
  process.exit(0); // ends this thread only
});
