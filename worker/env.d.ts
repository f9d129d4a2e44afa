// Bindings of the Worker, as declared in wrangler.toml, and its module for typed `exports` in tests.
// The relay's own settings (WEFT_*) are described in config.ts (ConfigEnv).
type RelaySettings = import("./config.ts").ConfigEnv;
interface Env extends RelaySettings {
  GROUPS: DurableObjectNamespace<import("./group-object.ts").GroupObject>;
  /** "true": count each group's SQL statements and rows, served at /v1/groups/<group>/sql-stats (the bench). */
  WEFT_SQL_STATS?: string;
}

declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.ts");
    durableNamespaces: "GroupObject";
  }
  interface Env extends globalThis.Env {}
}
