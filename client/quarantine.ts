// Finding a poisoned frame, as pure functions of a small state. The relay refuses a frame it cannot read
// (bad_frame, close 1007) without naming a document, so every document with content in flight becomes a
// suspect; suspects are then pushed one at a time, alone (the probe), while other pushes wait. A probe that
// is acknowledged is cleared; a probe in flight when the next refusal comes is the culprit.
//
// Why this design: the SDK refuses locally whatever the relay would refuse, so such a refusal can only
// come from a relay stricter than this SDK (another version) or from data an older SDK left behind. That
// is rare, so finding the culprit may cost one reconnect per suspect; it must never cost a loop, nor
// refuse an innocent document. Each step either clears a suspect or convicts one, so it ends.

export type Quarantine<D> = { readonly suspects: readonly D[]; readonly probe: D | undefined };

export const noQuarantine = <D>(): Quarantine<D> => ({ suspects: [], probe: undefined });

/** A frame was refused without a document named, while `inFlight` had content on the wire. */
export function frameRefused<D>(state: Quarantine<D>, inFlight: readonly D[]): { state: Quarantine<D>; culprit: D | undefined } {
  const probe = state.probe;
  // The probe went alone: if it was on the wire (or nothing was), it is the one the relay refused.
  if (probe !== undefined && (inFlight.includes(probe) || inFlight.length === 0)) {
    return { state: { suspects: state.suspects.filter((doc) => doc !== probe), probe: undefined }, culprit: probe };
  }
  const suspects = [...state.suspects];
  for (const doc of inFlight) if (!suspects.includes(doc)) suspects.push(doc);
  return { state: { suspects, probe }, culprit: undefined };
}

/**
 * The document that alone may push now, if the quarantine is on (undefined: everyone may push).
 * `pending(doc)` says a suspect still has writes the relay has not acknowledged; others are cleared.
 */
export function nextProbe<D>(state: Quarantine<D>, pending: (doc: D) => boolean): { state: Quarantine<D>; probe: D | undefined } {
  const suspects = [...state.suspects];
  let probe = state.probe;
  while (suspects.length > 0) {
    probe ??= suspects[0]!;
    if (pending(probe)) return { state: { suspects, probe }, probe };
    suspects.splice(suspects.indexOf(probe), 1);
    probe = undefined;
  }
  return { state: { suspects, probe: undefined }, probe: undefined };
}
