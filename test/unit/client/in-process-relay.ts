// The real relay core and driver (worker/core) over a MemoryStore, reachable through a WebSocket-shaped
// class, so the SDK's own Group runs against the relay's real judgement in plain Node, in milliseconds.
// Every frame is recorded as a transcript line (`c1 -> relay | load doc1 {}`), with ids named.
import {
  decodeClientFrame,
  decodeServerFrame,
  encodeMessage,
  type ClientMessage,
  type DocId,
  type ErrorCode,
  type KnownState,
  type ServerMessage,
  type WireFrame,
} from "../../../protocol/index.ts";
import { MemoryStore } from "../../../worker/core/memory-store.ts";
import { initialState } from "../../../worker/core/relay-core.ts";
import { Relay, type TokenVerifier, type Transport } from "../../../worker/core/relay.ts";
import type { PeerId } from "../../../worker/core/store.ts";
import { renderPresence } from "../relay-transcript.ts";
import { NodeAlarm } from "../../support/node-alarm.ts";

const counts = (known: KnownState["sessions"]) => `{${Object.entries(known).map(([session, count]) => `${session}:${count}`).join(", ")}}`;
const knownText = (known: KnownState) => `${known.header ? "" : "(no header) "}${counts(known.sessions)}`;

function render(message: ClientMessage | ServerMessage): string {
  switch (message.type) {
    case "hello":
      return "hello";
    case "challenge":
      return "challenge";
    case "welcome":
      return `welcome role=${message.role}`;
    case "load":
      return `load ${message.doc} ${knownText(message.known)}`;
    case "known":
      return `known ${message.doc} ${knownText(message)} ${message.reason}`;
    case "content": {
      const chunks = Object.entries(message.sessions).map(([session, chunk]) => `${session} after=${chunk!.after} n=${chunk!.transactions.length}`);
      return `content ${message.doc}${message.header ? " +header" : ""}${chunks.length ? ` ${chunks.join(", ")}` : ""}`;
    }
    case "open":
      return `open ${Object.keys(message.known).length} docs`;
    case "opened":
      return `opened docs=${message.docs}`;
    case "dir":
      return "docs" in message ? `dir ${message.docs.length} docs more=${message.more} cursor=${message.cursor}${message.inSync ? " inSync" : ""}` : `dir${message.since === undefined ? "" : ` since=${message.since}`}`;
    case "error":
      return `error ${message.code}${message.doc ? ` ${message.doc}` : ""}${message.session ? ` ${message.session}` : ""}`;
    case "delete":
    case "deleted":
    case "unsub":
      return `${message.type} ${message.doc}`;
    case "snapshot":
      return `snapshot ${message.doc} by ${message.session} covers ${counts(message.covers)} ${typeof message.data === "string" ? `text ${message.data.length}` : `bytes ${message.data.byteLength}`}`;
    case "snapshotted":
      return `snapshotted ${message.doc} by ${message.session} covers ${counts(message.covers)}`;
    case "presence":
      return renderPresence(message);
    case "ping":
    case "pong":
    // A mark's id is random: the transcript shows where it goes, not which.
    case "mark":
    case "marked":
      return message.type;
  }
}

type ClientSocket = EventTarget & { peer: PeerId; readyState: number; deliver(frame: WireFrame): void; closeFromRelay(code: number, reason: string): void };

export class InProcessRelay {
  readonly store = new MemoryStore();
  readonly lines: string[] = [];
  /** Every frame each way, as the types of the messages it carried (`from` is a peer id or "relay", `to` likewise). */
  readonly frames: { from: string; to: string; types: string[] }[] = [];
  readonly relay: Relay;
  readonly #sockets = new Map<PeerId, ClientSocket>();
  readonly #names: [string, string][] = [];
  #peers = 0;
  /** Frames a stricter relay (another version, say) would refuse with bad_frame and close 1007. */
  refuseFrame: ((frame: WireFrame) => boolean) | undefined;
  /**
   * Writes the relay refuses with this code, as one refusing them for a reason no role lifts would (a
   * quota, say): each `content` message it names is answered with an error for its document instead of
   * reaching the relay; the rest of its frame does.
   */
  refuseContent: ((message: Extract<ClientMessage, { type: "content" }>) => ErrorCode | undefined) | undefined;
  /** Connections are refused before they open while this is set (the relay is down). */
  down = false;
  /** Connections to these hosts are refused before they open (a client cut off while others reach the relay). */
  readonly unreachable = new Set<string>();

  constructor(group: string, verifyToken?: TokenVerifier) {
    const sockets = this.#sockets;
    const transport: Transport = {
      send: (peer, frame) => {
        this.#record(`relay -> ${peer}`, frame);
        const socket = sockets.get(peer);
        if (!socket) throw new Error(`socket of ${peer} is gone`);
        queueMicrotask(() => socket.deliver(frame));
      },
      close: (peer, code, reason) => {
        this.lines.push(`relay -x ${peer} | close ${code} ${reason}`);
        const socket = sockets.get(peer);
        sockets.delete(peer);
        if (socket) queueMicrotask(() => socket.closeFromRelay(code, reason));
      },
      savePeer: () => {},
      wakeAt: (at) => alarm.wakeAt(at),
    };
    const alarm = new NodeAlarm((now) => void this.relay.dispatch({ type: "alarm", now }));
    this.relay = new Relay(initialState(group), this.store, transport, verifyToken);
  }

  /** Names long ids in the transcript (sessions before agents: a session id starts with its agent id). */
  name(long: string, short: string): void {
    this.#names.push([long, short]);
    this.#names.sort((a, b) => b[0].length - a[0].length);
  }

  /** The transcript so far; clears it. */
  transcript(): string[] {
    return this.lines.splice(0).map((line) => this.#names.reduce((out, [long, short]) => out.replaceAll(long, short), line));
  }

  /** Closes a peer's socket from the relay's side, as a restart would. */
  dropAll(code = 1001, reason = "restart"): void {
    for (const [peer, socket] of [...this.#sockets]) {
      this.#sockets.delete(peer);
      void this.relay.dispatch({ type: "closed", peer });
      socket.closeFromRelay(code, reason);
    }
  }

  /** Delivers a message to a client as if the relay had sent it (a relay that lies, for checks of what arrives). */
  inject(peer: PeerId, message: ServerMessage): void {
    const frame = encodeMessage(message);
    this.#record(`relay -> ${peer}`, frame);
    this.#sockets.get(peer)?.deliver(frame);
  }

  /** The peers connected now, oldest first. */
  get peers(): PeerId[] {
    return [...this.#sockets.keys()];
  }

  #record(prefix: string, frame: WireFrame): void {
    const decoded = prefix.startsWith("relay") ? decodeServerFrame(frame) : decodeClientFrame(frame);
    if (!decoded.ok) return void this.lines.push(`${prefix} | UNDECODABLE ${decoded.code}`);
    const [from, to] = prefix.split(/ -. /) as [string, string];
    this.frames.push({ from, to, types: decoded.message.map((message) => message.type) });
    if (typeof frame !== "string") this.lines.push(`${prefix} | binary frame of ${frame.byteLength} bytes:`);
    for (const message of decoded.message) this.lines.push(`${prefix} | ${render(message)}`);
  }

  /** A WebSocket class whose sockets reach this relay. */
  get WebSocket(): typeof globalThis.WebSocket {
    const relay = this;
    class InProcessSocket extends EventTarget {
      readonly peer: PeerId = `c${++relay.#peers}`;
      readyState = 0;
      readonly url: string;
      constructor(url: string) {
        super();
        this.url = url;
        queueMicrotask(() => {
          if (relay.down || relay.unreachable.has(new URL(url).host)) {
            this.readyState = 3;
            this.dispatchEvent(new Event("error"));
            this.dispatchEvent(Object.assign(new Event("close"), { code: 1006, reason: "" }));
            return;
          }
          relay.#sockets.set(this.peer, this);
          this.readyState = 1;
          this.dispatchEvent(new Event("open"));
          void relay.relay.dispatch({ type: "opened", peer: this.peer, nonce: `bm9uY2Ut${this.peer}`, now: Date.now() });
        });
      }
      send(frame: WireFrame): void {
        if (this.readyState !== 1) return;
        relay.#record(`${this.peer} -> relay`, frame);
        if (relay.refuseFrame?.(frame)) {
          relay.lines.push(`relay -> ${this.peer} | error bad_frame`);
          relay.lines.push(`relay -x ${this.peer} | close 1007 bad_frame`);
          this.deliver(encodeMessage({ type: "error", code: "bad_frame", message: "refused by a stricter relay" }));
          relay.#sockets.delete(this.peer);
          void relay.relay.dispatch({ type: "closed", peer: this.peer });
          queueMicrotask(() => this.closeFromRelay(1007, "bad_frame"));
          return;
        }
        const decoded = relay.refuseContent ? decodeClientFrame(frame) : undefined;
        const judged = decoded?.ok ? decoded.message.map((message) => [message, message.type === "content" ? relay.refuseContent?.(message) : undefined] as const) : [];
        if (!judged.some(([, code]) => code)) {
          void relay.relay.dispatch({ type: "frame", peer: this.peer, frame, now: Date.now() });
          return;
        }
        for (const [message, code] of judged) {
          if (code) {
            const refusal: ServerMessage = { type: "error", code, message: "refused by the test's relay", doc: (message as { doc: DocId }).doc };
            relay.#record(`relay -> ${this.peer}`, encodeMessage(refusal));
            queueMicrotask(() => this.deliver(encodeMessage(refusal)));
          } else {
            void relay.relay.dispatch({ type: "frame", peer: this.peer, frame: encodeMessage(message), now: Date.now() });
          }
        }
      }
      close(code = 1000, reason = ""): void {
        if (this.readyState >= 2) return;
        this.readyState = 3;
        if (relay.#sockets.delete(this.peer)) void relay.relay.dispatch({ type: "closed", peer: this.peer });
        queueMicrotask(() => this.dispatchEvent(Object.assign(new Event("close"), { code, reason })));
      }
      deliver(frame: WireFrame): void {
        if (this.readyState === 1) this.dispatchEvent(Object.assign(new Event("message"), { data: frame }));
      }
      closeFromRelay(code: number, reason: string): void {
        if (this.readyState === 3) return;
        this.readyState = 3;
        this.dispatchEvent(Object.assign(new Event("close"), { code, reason }));
      }
    }
    return InProcessSocket as unknown as typeof globalThis.WebSocket;
  }
}
