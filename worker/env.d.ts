// Bindings of the Worker, as declared in wrangler.toml.
interface Env {
  GROUPS: DurableObjectNamespace<import("./group-object.ts").GroupObject>;
}
