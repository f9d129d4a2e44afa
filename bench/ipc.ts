// Request/response between the bench runner and its worker processes, over Node's IPC channel.
// The runner calls `worker.call(command, args)`; a worker answers with `serve(handlers)` and may also
// push events (`emit`) that the runner listens to. A worker exits as soon as the runner goes away.
import { fork, type ChildProcess } from "node:child_process";

type Request = { id: number; command: string; args: unknown };
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
type Pushed = { event: string; data: unknown };

export type Handlers = Record<string, (args: never) => unknown>;

/** Worker side: answers the runner's requests one by one as they come (handlers may overlap). */
export function serve(handlers: Handlers): void {
  if (!process.send) throw new Error("a bench worker must be started by the bench runner (no IPC channel)");
  process.on("message", (message: Request) => {
    const handler = handlers[message.command];
    const answer = (reply: Reply) => process.send?.(reply);
    if (!handler) return answer({ id: message.id, ok: false, error: `unknown command ${message.command}` });
    Promise.resolve()
      .then(() => handler(message.args as never))
      .then(
        (result) => answer({ id: message.id, ok: true, result }),
        (error: unknown) => answer({ id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  // The runner died or let go: nothing else will ask us anything. process.exit also writes a --cpu-prof profile.
  process.on("disconnect", () => process.exit(0));
}

/** Worker side: an event the runner did not ask for (e.g. "the relay just acknowledged N"). */
export function emit(event: string, data: unknown): void {
  process.send?.({ event, data } satisfies Pushed);
}

export class WorkerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  readonly #listeners = new Map<string, Set<(data: unknown) => void>>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  #stderr = "";

  constructor(script: string, name: string, execArgv: string[] = []) {
    this.name = name;
    this.child = fork(script, [], { execArgv, stdio: ["ignore", "ignore", "pipe", "ipc"], serialization: "json" });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4_000);
    });
    this.child.on("message", (message: Reply | Pushed) => {
      if ("event" in message) {
        for (const listener of this.#listeners.get(message.event) ?? []) listener(message.data);
        return;
      }
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new Error(`${this.name}: ${message.error}`));
    });
    this.#exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        for (const [id, pending] of this.#pending) {
          clearTimeout(pending.timer);
          pending.reject(new Error(`${this.name} exited (${signal ?? code}) during request ${id}\n${this.#stderr}`));
        }
        this.#pending.clear();
        resolve();
      }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  call<T>(command: string, args: unknown = {}, timeoutMs = 30_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: ${command} took more than ${timeoutMs} ms\n${this.#stderr}`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      if (!this.child.connected) {
        clearTimeout(timer);
        this.#pending.delete(id);
        return reject(new Error(`${this.name} is not running\n${this.#stderr}`));
      }
      this.child.send({ id, command, args } satisfies Request);
    });
  }

  /** The next `event` pushed by the worker. */
  next<T>(event: string, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${this.name}: no ${event} within ${timeoutMs} ms\n${this.#stderr}`));
      }, timeoutMs);
      const off = this.on(event, (data) => {
        clearTimeout(timer);
        off();
        resolve(data as T);
      });
    });
  }

  on(event: string, listener: (data: unknown) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Lets the worker exit by itself (so a --cpu-prof profile is written), then SIGKILL after a grace period. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Synchronous, for exit handlers. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}
