// The part of Web Locks (navigator.locks) the IndexedDB store uses, for Node, which has none: one instance
// is one origin, shared by every "tab" (store) given it. `ifAvailable` requests get null while the name is held.
export function fakeWebLocks(): LockManager {
  const held = new Set<string>();
  const request = async (name: string, options: LockOptions, callback: (lock: Lock | null) => unknown): Promise<unknown> => {
    if (!options.ifAvailable) throw new Error("fakeWebLocks: only ifAvailable requests");
    if (held.has(name)) return callback(null);
    held.add(name);
    try {
      return await callback({ name, mode: "exclusive" } as Lock);
    } finally {
      held.delete(name);
    }
  };
  return { request, query: async () => ({ held: [], pending: [] }) } as unknown as LockManager;
}
