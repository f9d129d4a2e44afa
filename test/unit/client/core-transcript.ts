// A harness for transcript tests of the client core (client/core/client-core.ts): no socket, no relay, no
// store. Each event fed and each effect the core returns becomes one line in the words of the protocol,
// long ids replaced by names (alice, doc1, ...), the way test/unit/relay-transcript.ts renders the relay.
import { type DocId, type KnownState, type ServerMessage, type Transaction } from "../../../protocol/index.ts";
import { initialState, step } from "../../../client/core/client-core.ts";
import { unsavedOf } from "../../../client/core/doc-state.ts";
import type { CoreEffect, CoreEvent, CoreState } from "../../../client/core/effects.ts";
import { ClosedError } from "../../../client/errors.ts";
import { carriesWrites, type StoredDoc } from "../../../client/storage/local-store.ts";
import { GROUP, alice, doc1, render, short } from "../relay-transcript.ts";
import { signedChunk, type TestAgent } from "../../support/identity.ts";

export { GROUP, alice, aliceTwo, bob, doc1, doc2 } from "../relay-transcript.ts";

export const NOW = 1_700_000_100_000;

const counts = (sessions: KnownState["sessions"]): string => `{${Object.entries(sessions).map(([session, count]) => `${session}:${count}`).join(", ")}}`;
const outcome = (error: Error | undefined): string => (error ? `rejects ${"code" in error ? String(error.code) : error.name}` : "resolves");

function renderEvent(event: CoreEvent): string {
  switch (event.type) {
    case "restored":
      return `store | restored ${event.docs.map((doc) => `${doc.id} ${counts(Object.fromEntries(Object.entries(doc.sessions).map(([session, log]) => [session, log.length])))}`).join(", ")}`;
    case "saved":
      // A save of only what the relay holds (an ack heard) says so: it is no write.
      return !carriesWrites(event.changes) && event.changes.relayHeld ? `store | saved ${event.doc}: relay holds ${event.changes.relayHeld.header ? "" : "(no header) "}${counts(event.changes.relayHeld.sessions)}` : `store | saved ${event.doc}`;
    case "storeMissing":
      return `store | missing ${event.doc}: saved again whole`;
    case "storedTails":
      return `store | read again ${event.docs.map((doc) => `${doc.id} ${counts(Object.fromEntries(Object.entries(doc.sessions).map(([session, log]) => [session, log.length])))}`).join(", ")}`;
    case "unverified":
      return `shell | unverified ${event.doc} ${event.sessions.join(", ")}`;
    case "helloSent":
      return "socket | hello sent";
    case "down":
      return "socket | down";
    case "closed":
      return `socket | closed: ${event.error.reason}`;
    case "welcome":
    case "message":
      return `relay -> c | ${render(event.type === "welcome" ? event.welcome : event.message)}`;
    case "create":
      return `app | create ${event.id}${event.members ? " (membership log)" : ""}`;
    case "append":
      return `app | append ${event.doc} ${JSON.stringify(event.data)}`;
    case "open":
    case "delete":
    case "discardRefused":
    case "retryRefused":
      return `app | ${event.type} ${event.doc}`;
    case "openAll":
      return "app | openAll";
    case "directory":
      return `app | directory${event.request.since === undefined ? "" : ` since=${event.request.since}`}`;
    case "push":
      return `shell | push ${event.docs.join(", ")}${event.now === 0 ? "" : ` at ${event.now}`}`;
    case "snapshot":
      return `app | snapshot ${event.doc} covers ${counts(event.covers)}`;
    case "snapshotReceived":
      return `relay -> c | ${render(event.snapshot)}${event.verified ? "" : " (does not verify)"}`;
  }
}

function renderEffect(effect: CoreEffect): string {
  switch (effect.type) {
    case "send":
      return `c -> relay | ${render(effect.message)}`;
    case "status":
      return `c | status ${effect.to}`;
    case "drop":
      return `c | drop: ${effect.reason}`;
    case "timeRefused":
      return `c | time refused, newest held ${effect.at}`;
    case "flush":
      return `c | flush ${effect.doc}`;
    case "pushAt":
      return `c | push ${effect.doc} again at ${effect.at}`;
    case "removeLocal":
      return `c | remove ${effect.doc} locally`;
    case "cutLocal":
      return `c | cut ${effect.doc} locally at ${effect.session}:${effect.keep}`;
    case "settle":
      return `c | ${effect.waiter} ${outcome(effect.error)}`;
    case "answer":
      return `c | ${effect.waiter} resolves ${effect.directory.docs.length} docs cursor=${effect.directory.cursor}${effect.directory.inSync ? " inSync" : ""}`;
    case "changed":
      return `c | changed ${effect.doc} +${effect.added.length}${effect.removed ? ` -${effect.removed.length}` : ""}${effect.snapshot ? ` snapshot covers ${counts(effect.snapshot.covers)}` : ""}${effect.snapshotted ? ` snapshotted by ${effect.snapshotted.session}` : ""}`;
    case "refused":
      return `c | refused ${effect.doc} n=${effect.transactions.length}${effect.wholeDocument ? " whole" : ""} ${"code" in effect.error ? effect.error.code : ""}`;
    case "forget":
      return `c | forget ${effect.doc}`;
    case "role":
      return `c | role ${effect.role}`;
    case "keepRole":
      return `c | keep role ${effect.role}`;
    case "report":
      return `c | report ${effect.error.code}${effect.error.doc ? ` ${effect.error.doc}` : ""}`;
  }
}

/** One client core of `who` in group g1, fed events one at a time; every line is kept for transcript(). */
export function coreScenario(who: TestAgent = alice, pushIntervalMs = 0) {
  const state: CoreState = initialState(GROUP, { agent: who.agent, secretKey: who.secretKey, session: who.session }, pushIntervalMs);
  const lines: string[] = [];
  /** More names for the transcript than relay-transcript.ts knows (a membership log, ...). */
  const names: [string, string][] = [];
  const line = (text: string) => lines.push(names.reduce((out, [long, name]) => out.replaceAll(long, name), short(text)));
  let taken = 0;
  /** Documents the core asked the shell to save and push. */
  const dirty = new Set<DocId>();

  function feed(event: CoreEvent): CoreEffect[] {
    line(renderEvent(event));
    const effects = step(state, event);
    for (const effect of effects) {
      line(renderEffect(effect));
      if (effect.type === "flush") dirty.add(effect.doc);
    }
    return effects;
  }

  /** What the shell's push pump does: save what each flushed document lacks, then ask the core to push (its effects returned). */
  function pump(): CoreEffect[] {
    const docs = [...dirty];
    dirty.clear();
    for (const id of docs) {
      const doc = state.docs.get(id);
      const changes = doc && unsavedOf(doc, who.session);
      if (changes) feed({ type: "saved", doc: id, changes, ownCuts: doc.ownCuts });
    }
    return feed({ type: "push", docs, now: 0 });
  }

  return {
    state,
    feed,
    name: (long: string, short: string) => void names.push([long, short]),
    pump,
    relay: (message: Extract<CoreEvent, { type: "message" }>["message"]) => feed({ type: "message", message }),
    /** The hello goes out and the relay welcomes this client. */
    connect(role: "admin" | "writer" | "reader" = "writer", members?: DocId) {
      feed({ type: "helloSent" });
      feed({ type: "welcome", welcome: { type: "welcome", v: 1, role, ...(members ? { members } : {}) } });
    },
    start(stored: StoredDoc[] = []) {
      feed({ type: "restored", docs: stored });
    },
    create: (doc: { id: DocId; header: StoredDoc["header"] } = doc1, members = false) => feed({ type: "create", id: doc.id, header: doc.header, members }),
    append: (doc: DocId, data: string, now = NOW) => feed({ type: "append", doc, data, now }),
    close: (reason = "closed by the app") => feed({ type: "closed", error: new ClosedError(GROUP, reason) }),
    /** Lines since the last call. */
    transcript(): string[] {
      const fresh = lines.slice(taken);
      taken = lines.length;
      return fresh;
    },
  };
}

/** A client connected as a writer, with doc1 created and its header acknowledged (transcript not yet taken). */
export function docCreated(who: TestAgent = alice, pushIntervalMs = 0) {
  const core = coreScenario(who, pushIntervalMs);
  core.start();
  core.connect();
  core.create(doc1);
  core.relay(knownLoad(doc1.id, false));
  core.pump();
  core.relay(ack(doc1.id, {}));
  return core;
}

/** The relay's answer to a load: `known` with what it holds. */
export const knownLoad = (doc: DocId, header: boolean, sessions: KnownState["sessions"] = {}): ServerMessage & { type: "known" } => ({ type: "known", doc, header, sessions, reason: "load" });
export const ack = (doc: DocId, sessions: KnownState["sessions"]): ServerMessage & { type: "known" } => ({ type: "known", doc, header: true, sessions, reason: "ack" });

/** Content another writer signed, as the relay forwards it. */
export function contentFrom(who: TestAgent, doc: { id: DocId; header: StoredDoc["header"] }, after: number, transactions: Transaction[], withHeader = false): ServerMessage & { type: "content" } {
  const { chunk } = signedChunk(who, doc.id, after, transactions);
  return { type: "content", doc: doc.id, ...(withHeader ? { header: doc.header } : {}), sessions: { [who.session]: chunk } };
}

