// How long a remote awareness state lives: as long as Weft's presence holds its peer, not y-protocols' 30 s.
// A peer frozen (SIGSTOP) or in a hidden tab sends nothing, yet the relay keeps its presence until it has
// been silent 90 s; its cursor must stay until the relay says it left. The presence channel here stands
// for the relay's, and the clock is faked, so a minute passes at once.
import { afterAll, describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, outdatedTimeout } from "y-protocols/awareness";
import { AwarenessOverPresence, type PresenceChannel, type PresencePeer } from "../../../yjs/awareness-presence.ts";

// Before the imports: lib0 keeps `Date.now` as it finds it when first loaded, and y-protocols reads its clock
// through lib0. Each test also checks that the clock reached y-protocols (a state it times out).
vi.hoisted(() => vi.useFakeTimers());
afterAll(() => vi.useRealTimers());

function presenceChannel() {
  let listener: (peers: ReadonlyMap<string, PresencePeer>) => void = () => {};
  const own: unknown[] = [];
  const channel: PresenceChannel = {
    set: (state) => own.push(state),
    clear: () => own.push(null),
    subscribe(subscriber) {
      listener = subscriber;
      return () => (listener = () => {});
    },
  };
  return { channel, own, hear: (peers: PresencePeer[]) => listener(new Map(peers.map((peer) => [`${peer.agent}/${peer.session}`, peer]))) };
}

const frozenPeer: PresencePeer = { agent: "bob", session: "s1", state: { awareness: { client: 4242, clock: 3, state: { user: { name: "bob" } } } } };

describe("remote awareness states live as long as the presence holds them", () => {
  function bridged() {
    const awareness = new Awareness(new Y.Doc());
    const presence = presenceChannel();
    const bridge = new AwarenessOverPresence(awareness, presence.channel, "weft");
    const removed: number[] = [];
    // A state another provider brought in (y-webrtc beside Weft, say): y-protocols' own timer removes it.
    const elsewhere = new Awareness(new Y.Doc());
    elsewhere.setLocalStateField("user", { name: "dan" }); // clock 1: y-protocols takes no unknown state at clock 0
    applyAwarenessUpdate(awareness, encodeAwarenessUpdate(elsewhere, [elsewhere.clientID]), "elsewhere");
    elsewhere.destroy();
    awareness.on("change", ({ removed: gone }: { removed: number[] }) => removed.push(...gone));
    return { awareness, presence, bridge, removed, elsewhere: elsewhere.clientID };
  }

  it("keeps a peer that sends nothing for a minute while its presence is held, and removes it once the presence goes", () => {
    const { awareness, presence, bridge, removed, elsewhere } = bridged();
    presence.hear([frozenPeer]);
    expect(awareness.getStates().get(4242)).toEqual({ user: { name: "bob" } });
    // Others come and go meanwhile: the frozen peer's state object is the same one each time.
    vi.advanceTimersByTime(20_000);
    presence.hear([frozenPeer, { agent: "carol", session: "s2", state: { awareness: { client: 7, clock: 1, state: {} } } }]);
    vi.advanceTimersByTime(40_000);
    expect(awareness.getStates().get(4242)).toEqual({ user: { name: "bob" } });
    expect(removed).toEqual([elsewhere]);
    presence.hear([]);
    expect(awareness.getStates().has(4242)).toBe(false);
    expect(removed).toEqual([elsewhere, 4242, 7]);
    bridge.destroy();
    awareness.destroy();
  });

  it("keeps y-protocols' own timing for the local state, and for remote states that did not come from the presence", () => {
    const { awareness, presence, bridge, removed, elsewhere } = bridged();
    const before = presence.own.length;
    // The local state is renewed every 15 s, and each renewal is shown.
    vi.advanceTimersByTime(outdatedTimeout + 3_000);
    expect(presence.own.length).toBeGreaterThan(before);
    expect(awareness.getStates().has(awareness.clientID)).toBe(true);
    expect(removed).toEqual([elsewhere]);
    bridge.destroy();
    awareness.destroy();
  });
});
