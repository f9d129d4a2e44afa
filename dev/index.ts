// weft/dev: a local relay for app tests and examples (Node, with miniflare installed).
export { startRelay, type StartRelayOptions, type LocalRelay } from "./start-relay.ts";
