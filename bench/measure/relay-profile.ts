// The V8 profiler in a relay's isolate, reached through the inspector port Miniflare opens
// (`inspectorPort`): for the measurement scripts here, which write what they profile to a .cpuprofile file.
import { writeFileSync } from "node:fs";

/** Starts the profiler in the relay's isolate; the returned function stops it and writes the profile to `file`. */
export async function startRelayProfile(inspectorPort: number, file: string): Promise<() => Promise<void>> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as { webSocketDebuggerUrl: string; title?: string }[];
  const target = targets.find((t) => t.title?.includes("weft")) ?? targets[0]!;
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
  let id = 0;
  const pending = new Map<number, (value: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const command = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve) => {
      pending.set(++id, resolve as (value: unknown) => void);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await command("Profiler.enable");
  await command("Profiler.setSamplingInterval", { interval: 100 });
  await command("Profiler.start");
  return async () => {
    const { profile } = await command<{ profile: unknown }>("Profiler.stop");
    writeFileSync(file, JSON.stringify(profile));
    socket.close();
    console.log(`wrote ${file}`);
  };
}
