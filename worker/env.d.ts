// Bindings of the Worker, as declared in wrangler.toml, and its module for typed `exports` in tests.
interface Env {
  GROUPS: DurableObjectNamespace<import("./group-object.ts").GroupObject>;
}

declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.ts");
    durableNamespaces: "GroupObject";
  }
  interface Env extends globalThis.Env {}
}
