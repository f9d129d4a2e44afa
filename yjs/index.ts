// weft/yjs: a Yjs provider over a Weft document (peer dependencies: yjs, y-protocols).
export { DivergedError, WeftProvider, type WeftProviderOptions, type ProviderStatus } from "./provider.ts";
export { MissingUpdatesError, UndecodableUpdateError } from "./received-updates.ts";
export { AwarenessOverPresence, type AwarenessPresence, type PresenceChannel, type PresencePeer } from "./awareness-presence.ts";
export { UpdateAssembler, decodeUpdatePayload, encodeUpdatePayloads, type DecodedPayload } from "./update-frames.ts";
export { MAX_PAYLOAD_BYTES, dataToPayload, payloadToData } from "./payload.ts";
export { TRANSACTION_OVERHEAD_BYTES } from "./snapshot-policy.ts";
