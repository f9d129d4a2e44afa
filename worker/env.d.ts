// Bindings of the Worker, as declared in wrangler.toml, and its module for typed `exports` in tests.
interface Env {
  GROUPS: DurableObjectNamespace<import("./group-object.ts").GroupObject>;
  /** Shared secret for HS256 app tokens (a Worker secret: `wrangler secret put WEFT_TOKEN_SECRET`). */
  WEFT_TOKEN_SECRET?: string;
  /** Ed25519 public key (JWK JSON) for EdDSA app tokens. */
  WEFT_TOKEN_PUBLIC_KEY?: string;
}

declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.ts");
    durableNamespaces: "GroupObject";
  }
  interface Env extends globalThis.Env {}
}
