// weft/protocol: identifiers, session logs, known state and the wire messages shared by relay and SDK.
export * from "./limits.ts";
export * from "./encoding.ts";
export * from "./crypto.ts";
export * from "./ids.ts";
export * from "./known-state.ts";
export * from "./session-log.ts";
export * from "./snapshot.ts";
export * from "./errors.ts";
export * from "./messages.ts";
export * from "./codec.ts";
export * from "./transaction-columns.ts";
export * from "./binary-frame.ts";
export * from "./roles.ts";
export * from "./digest.ts";
export * from "./open-parts.ts";
export * from "./token-shape.ts";
export * from "./frame-rate.ts";
