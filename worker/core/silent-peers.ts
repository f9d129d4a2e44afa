// Peers gone without a close. A socket whose far end vanished (a laptop asleep, Wi-Fi gone, a phone out of
// range) stays open at the runtime until TCP gives up on it, which can take many minutes, and its presence
// would be shown all that time. A peer whose hello promised pings and that shows presence is judged at the
// alarm by its last sign of life: its latest frame, or its latest ping the runtime answered by itself (the
// driver reads those and passes them in: the core has no clock and no sockets). Pure functions of the state.
import { PRESENCE_SILENT_MS } from "../../protocol/index.ts";
import type { Effect } from "./effects.ts";
import type { RelayState } from "./relay-state.ts";
import { withoutPeer, type Step } from "./step-result.ts";
import type { PeerId } from "./store.ts";

/** Why a silent peer's socket is closed: 1001, going away, which the SDK answers by connecting again. */
export const SILENT_CLOSE = { code: 1001, reason: `no frame or ping in ${PRESENCE_SILENT_MS / 1000} s` } as const;

/** Peers judged by their silence: those that show presence and promised to ping. */
export function* watchedPeers(state: RelayState): Iterable<[PeerId, number]> {
  for (const [id, heardAt] of state.presence.holders()) {
    const record = state.peers.get(id);
    if (record?.phase === "ready" && record.pings) yield [id, heardAt];
  }
}

/**
 * The alarm: every watched peer silent for PRESENCE_SILENT_MS is closed (its readers then hear it left), and
 * the next alarm is asked for when the next one would be. `pingedAt`: when the runtime last answered each
 * watched peer's ping, for those it did. None watched, no alarm: an idle group stays asleep.
 */
export function dropSilentPeers(state: RelayState, now: number, pingedAt: ReadonlyMap<PeerId, number>): Step {
  const silent: PeerId[] = [];
  let next = Infinity;
  for (const [id, heardAt] of watchedPeers(state)) {
    const due = Math.max(heardAt, pingedAt.get(id) ?? -Infinity) + PRESENCE_SILENT_MS;
    if (due <= now) silent.push(id);
    else next = Math.min(next, due);
  }
  const effects: Effect[] = [];
  // Closed rather than only hidden: a peer that was merely slow hears the close, connects again and shows
  // its presence anew, where one left open would go on believing the others still see it.
  for (const id of silent) effects.push({ type: "close", peer: id, ...SILENT_CLOSE }, { type: "forgetPeer", peer: id });
  if (next !== Infinity) effects.push({ type: "wakeAt", at: next });
  let after = state;
  for (const id of silent) after = withoutPeer(after, id);
  return { state: after, effects };
}
