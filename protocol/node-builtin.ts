// A Node built-in module where the runtime has it (Node, and workerd with nodejs_compat); undefined
// elsewhere (browsers), where the protocol falls back to plain JavaScript.

/** The module `id` (node:crypto, node:buffer), if this runtime has it. */
export const nodeBuiltin = <T>(id: string): T | undefined =>
  (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(id) as T | undefined;
