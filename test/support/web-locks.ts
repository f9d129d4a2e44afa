// The part of Web Locks (navigator.locks) the IndexedDB store uses, for Node, which has none: one instance
// is one origin, shared by every "tab" (store) given it. `ifAvailable` requests get null while the name is
// held; others wait their turn (until their signal aborts). `crash(name)` lets a name go as a browser does
// for a tab that crashed: its holder never gives it back, and the next in line gets it.
export type FakeWebLocks = LockManager & { crash(name: string): void };

type Waiting = { callback: (lock: Lock | null) => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void };

export function fakeWebLocks(): FakeWebLocks {
  /** Each held name, and the holder's turn (a crash ends it without the holder). */
  const held = new Map<string, number>();
  const queues = new Map<string, Waiting[]>();
  let turns = 0;

  const next = (name: string) => {
    const waiting = queues.get(name)?.shift();
    if (waiting) grant(name, waiting);
  };
  const grant = (name: string, { callback, resolve, reject }: Waiting) => {
    const turn = ++turns;
    held.set(name, turn);
    Promise.resolve()
      .then(() => callback({ name, mode: "exclusive" } as Lock))
      .then(resolve, reject)
      .finally(() => {
        if (held.get(name) !== turn) return; // crashed meanwhile: the name went on already
        held.delete(name);
        next(name);
      });
  };

  const request = (name: string, options: LockOptions, callback: (lock: Lock | null) => unknown): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (options.ifAvailable && held.has(name)) return void Promise.resolve(callback(null)).then(resolve, reject);
      const waiting = { callback, resolve, reject };
      if (!held.has(name)) return grant(name, waiting);
      const queue = queues.get(name) ?? [];
      queues.set(name, queue);
      queue.push(waiting);
      options.signal?.addEventListener("abort", () => {
        const index = queue.indexOf(waiting);
        if (index < 0) return;
        queue.splice(index, 1);
        reject(options.signal!.reason);
      });
    });

  return {
    request,
    query: async () => ({ held: [...held.keys()].map((name) => ({ name, mode: "exclusive" })), pending: [] }),
    crash(name: string) {
      held.delete(name);
      next(name);
    },
  } as unknown as FakeWebLocks;
}
