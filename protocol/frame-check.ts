// Checking a frame's JSON against the message schemas. A message is checked by the schema of its `type`
// alone: valibot's `variant` tries the schemas before the matching one and builds an issue, message text
// included, for each that does not match, which for a batch of a thousand messages was most of what checking
// it allocated. A message of no known type goes to the variant, which says which types it expected.
import * as v from "valibot";
import { batchEnvelopeSchema } from "./messages.ts";

export type Checked<T> = { ok: true; value: T } | { ok: false; issue: v.BaseIssue<unknown>; path: string };

type Variant = { options: readonly v.GenericSchema[] } & v.GenericSchema;

function check<T>(schema: v.GenericSchema, json: unknown, within = ""): Checked<T> {
  const result = v.safeParse(schema, json);
  if (result.success) return { ok: true, value: result.output as T };
  const issue = result.issues[0];
  const path = v.getDotPath(issue);
  return { ok: false, issue, path: [within, path ?? ""].filter(Boolean).join(".") };
}

const typeOf = (json: unknown): unknown => (typeof json === "object" && json !== null ? (json as { type?: unknown }).type : undefined);

/** A checker of one message of `variant`'s types, by its type; what has none of them goes to `otherwise`. */
export function messageCheck<T>(variant: Variant, otherwise: v.GenericSchema = variant): (json: unknown, within?: string) => Checked<T> {
  const byType = new Map<unknown, v.GenericSchema>();
  for (const option of variant.options) byType.set((option as unknown as { entries: { type: { literal: string } } }).entries.type.literal, option);
  return (json, within) => check<T>(byType.get(typeOf(json)) ?? otherwise, json, within);
}

/**
 * A checker of a frame (`frame`: the variant of a message or a batch): one message of `variant`'s types, or a
 * batch of them, each checked by its type, in order.
 */
export function frameCheck<T>(variant: Variant, frame: Variant): (json: unknown) => Checked<T | { type: "batch"; messages: T[] }> {
  const single = messageCheck<T>(variant, frame);
  const message = messageCheck<T>(variant);
  return (json) => {
    if (typeOf(json) !== "batch") return single(json);
    const envelope = check<{ messages: unknown[] }>(batchEnvelopeSchema, json);
    if (!envelope.ok) return envelope;
    const messages: T[] = [];
    for (const [index, item] of envelope.value.messages.entries()) {
      const checked = message(item, `messages.${index}`);
      if (!checked.ok) return checked;
      messages.push(checked.value);
    }
    return { ok: true, value: { type: "batch", messages } };
  };
}
