// weft/worker: the relay as a library, for an app that has a Worker of its own. Export a Durable Object
// class made by `groupObjectWith(config)` (bound in the app's wrangler config, with a SQLite migration) and
// mount `relayRoutes(...)` in the app's Hono app; the app passes the relay's keys and policies in code.
import { GroupObject } from "./group-object.ts";
import type { RelayConfig } from "./config.ts";

export { GroupObject };
export { relayRoutes, type RelayRoutesOptions } from "./routes.ts";
export {
  configFromEnv,
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  DEFAULT_SNAPSHOT_RETENTION_SECONDS,
  OPEN_ACCESS,
  type AccessPolicy,
  type ConfigEnv,
  type Founders,
  type RelayConfig,
  type TokenKey,
  type TokenPolicy,
} from "./config.ts";

/**
 * A GroupObject class configured by the app instead of by the `WEFT_*` bindings: a RelayConfig, or a
 * function of the Worker's env (called once per object instance), e.g.
 * `(env) => configFromEnv({ WEFT_TOKEN_SECRET: env.MY_APP_SECRET })`.
 */
export function groupObjectWith<Bindings = unknown>(config: RelayConfig | ((env: Bindings) => RelayConfig)): typeof GroupObject {
  return class ConfiguredGroupObject extends GroupObject {
    protected override relayConfig(): RelayConfig {
      return typeof config === "function" ? config(this.env as Bindings) : config;
    }
  };
}
