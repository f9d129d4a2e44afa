// Bindings of the Worker, as declared in wrangler.toml, and its module for typed `exports` in tests.
// The relay's own settings (WEFT_*) are described in config.ts (ConfigEnv).
interface Env {
  GROUPS: DurableObjectNamespace<import("./group-object.ts").GroupObject>;
  WEFT_TOKEN_SECRET?: string;
  WEFT_TOKEN_PUBLIC_KEY?: string;
  WEFT_TOKEN_AUDIENCE?: string;
  WEFT_TOKEN_ISSUER?: string;
  WEFT_TOKEN_MAX_LIFETIME_SECONDS?: string;
  WEFT_OPEN_GROUPS?: string;
  WEFT_FOUNDERS?: string;
}

declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.ts");
    durableNamespaces: "GroupObject";
  }
  interface Env extends globalThis.Env {}
}
