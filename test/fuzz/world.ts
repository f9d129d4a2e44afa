// One seed of test/fuzz/interleavings.ts: the relay, three agents (A founds both groups; B and C start as an
// admin and a writer), the random steps, and the final comparison with a fresh admin reader.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createIdentity, type Client, type Doc, type Identity } from "../../client/index.ts";
import type { TransactionData } from "../../protocol/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { mayRead, type DocId, type Role } from "../../protocol/index.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { seededRandom } from "../support/random.ts";
import * as Y from "yjs";
import { DivergedError, WeftProvider } from "../../yjs/index.ts";

export type FuzzOptions = { steps: number; roles: boolean; prune: boolean; presence: boolean; yjs: boolean; tabs: boolean; verbose: boolean };

type Agent = { name: string; identity: Identity; proxy: Proxy; storeDir: string; client: Client; editors: Map<string, Editor> };
/** A Y.Doc bound to a group's shared Yjs document (--yjs), one per client and group. */
type Editor = { ydoc: Y.Doc; provider: WeftProvider; opened: boolean };
type Pending = { what: string; settled: boolean };

const GROUPS = ["g1", "g2"];
const BACKOFF = { baseMs: 20, capMs: 300 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


/** Runs one seed; prints its problems and a summary line, and returns how many problems it found. */
export async function runSeed(seed: number, options: FuzzOptions): Promise<number> {
  const rnd = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const problems: string[] = [];
  const problem = (what: string) => {
    problems.push(what);
    console.log(`seed ${seed}: ${what}`);
  };
  process.on("uncaughtException", (error) => problem(`uncaught ${error.stack}`));
  process.on("unhandledRejection", (error) => problem(`unhandled rejection ${(error as Error)?.stack ?? String(error)}`));

  const dir = mkdtempSync(join(tmpdir(), "weft-fuzz-"));
  const vars = options.prune ? { WEFT_SNAPSHOT_RETENTION_SECONDS: "0" } : undefined;
  const relayOptions = { persistTo: join(dir, "relay"), ...(vars ? { vars } : {}) };
  let relay: LocalRelay = await startRelay(relayOptions).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  const port = Number(new URL(relay.url).port);
  const agents: Agent[] = [];
  const pending: Pending[] = [];
  const track = (what: string, promise: Promise<unknown>) => {
    const entry = { what, settled: false };
    const settle = () => void (entry.settled = true);
    promise.then(settle, settle);
    pending.push(entry);
  };
  const writes: { group: string; doc: DocId; data: string }[] = [];
  const refused = new Set<string>();
  const known = new Map<string, Set<DocId>>(GROUPS.map((group) => [group, new Set()]));
  /** What each client (an agent's current one, or one it closed) last showed in each document (--presence). */
  const shown = new Map<Client, Map<DocId, string | undefined>>();
  /** The shared Yjs document of each group (--yjs), which the other steps leave alone. */
  const yjsDocs = new Map<string, DocId>();
  const start = async (agent: Omit<Agent, "client" | "editors">): Promise<Client> => {
    const client = await createClient({ url: agent.proxy.url, identity: agent.identity, backoff: BACKOFF, store: new FileLocalStore(agent.storeDir, { fsync: false }) });
    for (const group of GROUPS) client.group(group).onRefused((refusal) => refusal.transactions.forEach((transaction) => refused.add(keyOf(transaction.data))));
    return client;
  };
  /**
   * Binds a fresh Y.Doc to the group's Yjs document, and binds another, as an app would, once its refused
   * edits were discarded (DivergedError): the Y.Doc no longer stands for the document.
   */
  const bind = (client: Client, editors: Map<string, Editor>, group: string, id: DocId): Editor => {
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(client.group(group), id, ydoc, { snapshots: { factor: 1, minLogBytes: 512 } });
    const editor: Editor = { ydoc, provider, opened: false };
    // A refusal or a closed group: the checks judge the outcome.
    provider.on("error", (error) => {
      if (!(error instanceof DivergedError) || editors.get(group) !== editor) return;
      provider.destroy();
      editors.set(group, bind(client, editors, group, id));
    });
    provider.awareness.setLocalStateField("user", client.session); // as an editor's cursor plugin does
    provider.loaded.then(() => void (editor.opened = true), () => {});
    return editor;
  };
  /** Binds a fresh Y.Doc to each group's Yjs document (a restarted client starts from its store). */
  const edit = (client: Client): Map<string, Editor> => {
    const editors = new Map<string, Editor>();
    for (const [group, id] of yjsDocs) editors.set(group, bind(client, editors, group, id));
    return editors;
  };

  try {
    const enter = async (name: string, identity: Identity, storeDir: string): Promise<Agent> => {
      const agent = { name, identity, proxy: await startProxy({ port }), storeDir };
      const joined = { ...agent, client: await start(agent), editors: new Map() };
      agents.push(joined);
      return joined;
    };
    const founder = await enter("A", createIdentity(), join(dir, "store-A"));
    const [admin, writer, reader] = [createIdentity(), createIdentity(), createIdentity()];
    for (const group of GROUPS) {
      const founded = founder.client.group(group);
      await founded.createMembers().synced();
      await founded.setRole(admin.agent, "admin");
      await founded.setRole(writer.agent, "writer");
      await founded.setRole(reader.agent, "admin");
      if (options.yjs) {
        const shared = founded.create({ kind: "yjs" });
        await shared.synced();
        yjsDocs.set(group, shared.id);
      }
    }
    // The others connect once they are members: one that connects before is refused for good (as the
    // README's "Joining after an invite" says), which is the app's to handle, not what this explores.
    const others = [await enter("B", admin, join(dir, "store-B")), await enter("C", writer, join(dir, "store-C"))];
    // D is a second tab of B: the same agent and local store, both live at once, each with its own session.
    if (options.tabs) await enter("D", admin, others[0]!.storeDir);
    for (const agent of agents) agent.editors = edit(agent.client);
    let yjsEdits = 0;
    /** Each word typed, and the editor it was typed into. */
    const typedWords = new Map(GROUPS.map((group) => [group, new Map<string, Editor>()]));
    const deletedWords = new Map(GROUPS.map((group) => [group, new Set<string>()]));

    let counter = 0;
    for (let step = 0; step < options.steps; step++) {
      const agent = pick(agents);
      const groupId = pick(GROUPS);
      const group = agent.client.group(groupId);
      const held = group.docs.filter((doc) => !doc.deleted && doc.id !== yjsDocs.get(groupId));
      const ids = [...known.get(groupId)!];
      const r = rnd();
      if (options.verbose) console.log(`seed ${seed} step ${step}: ${agent.name} ${groupId} ${r.toFixed(3)}`);
      try {
        if (options.roles && group.refused().length > 0 && rnd() < 0.2) {
          // What an app does with writes the relay refused: drop them, or send them again.
          const { doc } = pick(group.refused());
          const discard = rnd() < 0.5;
          if (options.verbose) console.log(`seed ${seed} step ${step}: ${agent.name} ${discard ? "discards" : "retries"} refused writes of ${doc.id}${doc.id === yjsDocs.get(groupId) ? " (Yjs)" : ""}`);
          // Writes appended while the document's writes were held back are held back too, and dropped with them.
          if (discard) doc.refusedWrites()?.transactions.forEach((transaction) => refused.add(keyOf(transaction.data)));
          // A document refused whole is dropped with its writes, and what this client showed there with it.
          if (discard && doc.refusedWrites()?.wholeDocument) shown.get(agent.client)?.delete(doc.id);
          if (discard) track(`${agent.name} discardRefused()`, group.discardRefused(doc));
          else group.retryRefused(doc);
        } else if (options.yjs && rnd() < 0.25) {
          // Typing: a unique word inserted between two words, or a word deleted whole.
          const editor = agent.editors.get(groupId)!;
          const text = editor.ydoc.getText("body");
          const words = [...text.toString().matchAll(WORD)];
          if (words.length > 0 && rnd() < 0.3) {
            const word = pick(words);
            text.delete(word.index, word[0].length);
            deletedWords.get(groupId)!.add(word[0]);
            if (options.verbose) console.log(`seed ${seed} step ${step}: ${agent.name} session ${agent.client.session.slice(-6)} deletes ${word[0]} in ${groupId}`);
          } else {
            const word = `<${agent.name}${yjsEdits++}>`;
            const after = words.length > 0 && rnd() < 0.9 ? pick(words) : undefined;
            text.insert(after ? after.index + after[0].length : 0, word);
            typedWords.get(groupId)!.set(word, editor);
            if (options.verbose) console.log(`seed ${seed} step ${step}: ${agent.name} session ${agent.client.session.slice(-6)} types ${word} in ${groupId}`);
          }
        } else if (options.presence && held.length > 0 && rnd() < 0.25) {
          // Set a state, or clear one it shows (so a clear matters).
          const showing = held.filter((doc) => shown.get(agent.client)?.get(doc.id) !== undefined);
          const state = showing.length === 0 || rnd() < 0.6 ? `${agent.name}-${counter++}` : undefined;
          const doc = pick(state === undefined ? showing : held);
          if (options.verbose) console.log(`seed ${seed} step ${step}: ${agent.name} ${state === undefined ? "clears presence" : `shows ${state}`} in ${doc.id} of ${groupId}`);
          if (state === undefined) doc.presence.clear();
          else doc.presence.set(state); // throws for a fifth document at once (PRESENCE_MAX_DOCS_PER_PEER): nothing shown
          if (!shown.has(agent.client)) shown.set(agent.client, new Map());
          shown.get(agent.client)!.set(doc.id, state);
        } else if (r < 0.15) {
          const restricted = options.roles && rnd() < 0.3;
          const doc = group.create({ meta: { n: counter }, ...(restricted ? { readers: [agent.identity.agent] } : {}) });
          known.get(groupId)!.add(doc.id);
          const data = dataFor(`${agent.name}-${counter++}`, rnd);
          doc.append(data);
          writes.push({ group: groupId, doc: doc.id, data: keyOf(data) });
          track(`${agent.name} synced() of a new document`, doc.synced());
        } else if (r < 0.45 && held.length > 0) {
          const doc = pick(held);
          for (let i = 1 + Math.floor(rnd() * 4); i > 0; i--) {
            const data = dataFor(`${agent.name}-${counter++}`, rnd);
            doc.append(data);
            writes.push({ group: groupId, doc: doc.id, data: keyOf(data) });
          }
          if (rnd() < 0.3) track(`${agent.name} synced()`, doc.synced());
        } else if (r < 0.55 && ids.length > 0) {
          track(`${agent.name} open()`, group.open(pick(ids)));
        } else if (r < 0.62 && ids.length > 0 && group.role === "admin") {
          const deletable = ids.filter((id) => id !== yjsDocs.get(groupId));
          if (deletable.length > 0) track(`${agent.name} delete()`, group.delete(pick(deletable)));
        } else if (r < 0.7) {
          track(`${agent.name} directory()`, group.directory().then((listing) => listing.docs.forEach((entry) => known.get(groupId)!.add(entry.id))));
        } else if (r < 0.76) {
          track(`${agent.name} openAll()`, group.openAll());
        } else if (r < 0.79 && held.length > 0) {
          // Mostly documents it may snapshot (its own, or any as an admin); now and then another, refused locally.
          const mine = held.filter((doc) => group.role === "admin" || doc.header?.creator === agent.identity.agent);
          const doc = pick(mine.length > 0 && rnd() < 0.9 ? mine : held);
          track(`${agent.name} snapshot()`, doc.snapshot(JSON.stringify(viewOf(doc).data)));
        } else if (r < 0.84) {
          const down = rnd() < 0.5;
          if (options.verbose) console.log(`seed ${seed} step ${step}: ${agent.name} ${down ? "cut off" : "back"}`);
          if (down) agent.proxy.down();
          else agent.proxy.restore();
        } else if (r < 0.87) {
          group.reconnectNow();
        } else if (r < 0.89 && agent !== founder) {
          // Restarted on its store: the old client closes while the new one starts, as two tabs would.
          if (options.verbose) console.log(`seed ${seed} step ${step}: ${agent.name} restarts`);
          track(`${agent.name} close()`, agent.client.close());
          agent.client = await start(agent);
          agent.editors = edit(agent.client);
          for (const other of GROUPS) track(`${agent.name} openAll() after a restart`, agent.client.group(other).openAll());
        } else if (r < 0.91 && options.roles) {
          const who = pick(others);
          const role = pick<Role>(["admin", "writer", "reader"]);
          if (options.verbose) console.log(`seed ${seed} step ${step}: A makes ${who.name} ${role} in ${groupId}`);
          track(`A setRole(${who.name}, ${role})`, founder.client.group(groupId).setRole(who.identity.agent, role));
        } else if (r < 0.925) {
          if (options.verbose) console.log(`seed ${seed} step ${step}: the relay restarts`);
          await relay.stop();
          await sleep(rnd() * 200);
          relay = await startRelay({ ...relayOptions, port });
        }
      } catch (error) {
        // A call refused at once (LocalRefusalError, TypeError on a closed client) is the SDK doing its job.
        if (options.verbose) console.log(`seed ${seed} step ${step}: ${(error as Error).message}`);
      }
      await sleep(rnd() * 25);
    }

    // The network back; every client reconnects and opens its groups; then every promise must settle.
    for (const agent of agents) agent.proxy.restore();
    for (const agent of agents) {
      for (const groupId of GROUPS) {
        agent.client.group(groupId).reconnectNow();
        track(`${agent.name} final openAll()`, agent.client.group(groupId).openAll());
      }
    }
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && pending.some((entry) => !entry.settled)) await sleep(100);
    for (const entry of pending) if (!entry.settled) problem(`never settled: ${entry.what}`);
    for (const agent of agents) for (const groupId of GROUPS) await Promise.race([agent.client.group(groupId).synced().catch(() => {}), sleep(10_000)]);
    await sleep(1_500);
    for (const agent of agents) for (const groupId of GROUPS) for (const refusal of agent.client.group(groupId).refused()) refusal.transactions.forEach((transaction) => refused.add(keyOf(transaction.data)));

    const fresh = await createClient({ url: relay.url, identity: reader });
    try {
      for (const groupId of GROUPS) {
        const freshGroup = fresh.group(groupId);
        // The Yjs document's data is Yjs updates, compared by checkYjs below.
        const isYjs = (doc: Doc) => doc.id === yjsDocs.get(groupId);
        const atRelay = new Map((await freshGroup.openAll()).flatMap((doc) => (isYjs(doc) ? [] : [[doc.id, viewOf(doc)] as const])));
        for (const agent of agents) {
          const group = agent.client.group(groupId);
          if (group.status !== "live") problem(`${agent.name}/${groupId} is ${group.status} at the end`);
          for (const doc of group.docs) {
            if (isYjs(doc)) continue;
            const relayView = atRelay.get(doc.id);
            if (!relayView) {
              // One it may no longer read (demoted since it loaded it) hears of its deletion at its next connection.
              const mayStillRead = doc.header !== undefined && mayRead(group.role, agent.identity.agent, doc.header);
              if (!doc.refused && mayStillRead) problem(`${agent.name}/${groupId} holds ${doc.id}, which the relay lacks`);
            } else if (!options.roles && relayView.key !== viewOf(doc).key) {
              problem(`${agent.name}/${groupId} ${doc.id} differs from the relay's: ${JSON.stringify(viewOf(doc).key.slice(0, 300))} against ${JSON.stringify(relayView.key.slice(0, 300))}`);
            }
          }
        }
        if (options.presence) await checkPresence(groupId, agents, shown, yjsDocs.get(groupId), problem, options.verbose);
        if (options.yjs) await checkYjs(groupId, yjsDocs.get(groupId)!, agents, fresh, { typed: typedWords.get(groupId)!, deleted: deletedWords.get(groupId)!, roles: options.roles, verbose: options.verbose }, problem);
        const stored = new Set([...atRelay.values()].flatMap((view) => view.data));
        for (const write of writes) {
          if (write.group === groupId && atRelay.has(write.doc) && !stored.has(write.data) && !refused.has(write.data)) {
            problem(`write ${JSON.stringify(write.data.slice(0, 60))} into ${write.doc} is not at the relay and was not refused`);
            if (options.verbose) for (const agent of agents) console.log(`  ${holderOf(agent, groupId, write.doc)}`);
          }
        }
      }
    } finally {
      await fresh.close();
    }
    console.log(`seed ${seed}: ${options.steps} steps, ${writes.length} writes, ${pending.length} promises, ${problems.length} problems`);
  } finally {
    for (const agent of agents) {
      await agent.client.close().catch(() => {});
      await agent.proxy.close();
    }
    await relay.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  return problems.length;
}

const WORD = /<[ABCD]\d+>/g;

/** Tails for a write's text that are easy to change on the way: escapes, astral characters, separators, NUL, a long run. */
const TRICKY_TAILS = ["", "", "é", " 😀𝌆", "\u0000", "\u2028\u2029", "\\\"'", "a\r\nb", "\uFEFF", "x".repeat(2_000)];

/** A write's data, unique by its marker: text with a tricky tail, or (one in five) the UTF-8 bytes of such text. */
function dataFor(marker: string, rnd: () => number): TransactionData {
  const text = `${marker}${TRICKY_TAILS[Math.floor(rnd() * TRICKY_TAILS.length)]}`;
  return rnd() < 0.2 ? new TextEncoder().encode(text) : text;
}

/** How written data is compared with what comes back: text as itself, bytes as their values. */
const keyOf = (data: TransactionData): string => (typeof data === "string" ? data : `bytes:${data.join(",")}`);

/**
 * Every Y.Doc bound to the group's Yjs document holds the same text as one a fresh reader binds to it, once
 * the providers settle, and (without role changes, which refuse edits) that text holds exactly the words
 * typed and not deleted, each once: no edit lost, none applied twice. An agent whose writes there were
 * refused (it was made a reader while cut off), or whose edits wait (typed while a reader), is left out:
 * its own edits stay in its Y.Doc only. Words typed into a provider whose document never opened (cut off
 * before it had the document, and closed before it could) are lost with it, as documented. And every open editor sees the cursors of the other open ones, no more.
 */
async function checkYjs(groupId: string, id: DocId, agents: Agent[], fresh: Client, words: { typed: Map<string, Editor>; deleted: Set<string>; roles: boolean; verbose: boolean }, problem: (what: string) => void): Promise<void> {
  const ydoc = new Y.Doc();
  const provider = new WeftProvider(fresh.group(groupId), id, ydoc, { snapshots: false });
  try {
    await provider.loaded;
    // Left out: an editor holding refused edits, or edits typed while a reader, waiting in its provider.
    const editors = agents.filter((agent) => !agent.client.group(groupId).refused().some((refusal) => refusal.doc.id === id) && !agent.editors.get(groupId)!.provider.waitingToWrite);
    const texts = () => editors.map((agent) => agent.editors.get(groupId)!.ydoc.getText("body").toString());
    const expected = () => ydoc.getText("body").toString();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && texts().some((text) => text !== expected())) await sleep(100);
    texts().forEach((text, i) => {
      if (text !== expected() && words.verbose) for (const agent of agents) console.log(`  ${holderOf(agent, groupId, id)}`);
      if (text !== expected()) problem(`${editors[i]!.name}/${groupId} Yjs text differs from a fresh reader's: ${JSON.stringify(text.slice(0, 200))} against ${JSON.stringify(expected().slice(0, 200))}`);
    });
    // Cursors: each open editor's awareness holds exactly the open editors of the live clients, no ghost
    // of a closed one (a restarted client's old Y.Doc) and none missing.
    const open = agents.map((agent) => agent.editors.get(groupId)!).filter((editor) => editor.opened);
    const cursorsOff = () =>
      open.flatMap((editor, i) => {
        const seen = [...editor.provider.awareness.getStates().keys()].sort();
        // One whose presence the limit refused (four other documents shown: --presence) shows no cursor.
        const want = open.filter((other) => other === editor || other.provider.doc?.presence.state !== undefined).map((other) => other.ydoc.clientID).sort();
        return seen.join() === want.join() ? [] : [`${agents.find((agent) => agent.editors.get(groupId) === editor)!.name}/${groupId} awareness holds ${seen.join(",")}, not ${want.join(",")} (${i})`];
      });
    const cursorsBy = Date.now() + 5_000;
    while (Date.now() < cursorsBy && cursorsOff().length > 0) await sleep(100);
    for (const off of cursorsOff()) problem(off);
    const found = [...expected().matchAll(WORD)].map((match) => match[0]);
    if (new Set(found).size !== found.length || found.join("") !== expected()) problem(`${groupId} Yjs text holds a word twice or a broken word: ${JSON.stringify(expected().slice(0, 300))}`);
    if (!words.roles) {
      const missing = [...words.typed].filter(([word, editor]) => editor.opened && !words.deleted.has(word) && !found.includes(word)).map(([word]) => word);
      if (missing.length > 0) problem(`${groupId} Yjs text lacks words typed and never deleted: ${missing.join(" ")}`);
      if (missing.length > 0 && words.verbose) for (const agent of agents) console.log(`  ${holderOf(agent, groupId, id)} text ${agent.editors.get(groupId)!.ydoc.getText("body").toString()}`);
    }
  } catch (error) {
    problem(`${groupId} a fresh reader could not bind the Yjs document: ${(error as Error).message}`);
  } finally {
    provider.destroy();
  }
}

/**
 * Every live client sees, in each document it may read, exactly what each other agent's live client last
 * showed there (if that one may read it too): no state of a closed client, none cleared, none missing.
 * Presence is paced, so it is given a few seconds to settle.
 */
async function checkPresence(groupId: string, agents: Agent[], shown: Map<Client, Map<DocId, string | undefined>>, yjsDoc: DocId | undefined, problem: (what: string) => void, verbose = false): Promise<void> {
  // Presence is shown only in documents the relay holds: not in one whose creation was refused.
  const mayReadIt = (agent: Agent, doc: Doc) => doc.header !== undefined && doc.relayKnown.header && !doc.deleted && mayRead(agent.client.group(groupId).role, agent.identity.agent, doc.header);
  const mismatches = () => {
    const found: string[] = [];
    for (const viewer of agents) {
      for (const doc of viewer.client.group(groupId).docs) {
        if (doc.id === yjsDoc || !mayReadIt(viewer, doc)) continue; // the Yjs document's presence is its providers' awareness
        const expected: Record<string, string> = {};
        for (const other of agents) {
          if (other === viewer) continue;
          const held = other.client.group(groupId).docs.find((each) => each.id === doc.id);
          const state = shown.get(other.client)?.get(doc.id);
          if (held && mayReadIt(other, held) && state !== undefined) expected[other.name] = state;
        }
        const seen: Record<string, string> = {};
        // By session: two tabs of one agent (--tabs) show their own states.
        for (const peer of doc.presence.peers.values()) seen[agents.find((agent) => agent.client.session === peer.session)?.name ?? peer.session] = String(peer.state);
        const key = (record: Record<string, string>) => JSON.stringify(Object.entries(record).sort());
        if (key(seen) !== key(expected)) found.push(`${viewer.name}/${groupId} sees presence ${key(seen)} in ${doc.id}, not ${key(expected)}`);
      }
    }
    return found;
  };
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && mismatches().length > 0) await sleep(100);
  for (const mismatch of mismatches()) problem(mismatch);
  if (verbose && mismatches().length > 0) {
    for (const agent of agents) {
      const group = agent.client.group(groupId);
      const shows = group.docs.filter((doc) => doc.presence.state !== undefined).map((doc) => `${doc.id.slice(4, 10)}=${JSON.stringify(doc.presence.state)}${mayReadIt(agent, doc) ? "" : " (may not read)"}`);
      console.log(`  ${agent.name}/${groupId} session ${agent.client.session.slice(-6)} role ${group.role} ${group.status}, shows ${shows.join(" ") || "nothing"}`);
      for (const doc of group.docs) if (doc.id !== yjsDoc) console.log(`    ${doc.id.slice(4, 10)} sees ${JSON.stringify([...doc.presence.peers.values()].map((peer) => `${peer.session.slice(-6)}=${String(peer.state)}`))}`);
    }
  }
}

/** How one agent's client stands on a document, through the SDK's public view of it (for --verbose). */
function holderOf(agent: Agent, groupId: string, id: DocId): string {
  const group = agent.client.group(groupId);
  const doc = group.docs.find((held) => held.id === id);
  const head = `${agent.name} session ${agent.client.session.slice(-6)} role ${group.role} ${group.status}`;
  if (!doc) return `${head}: does not hold it`;
  const counts = (sessions: Record<string, number>) => JSON.stringify(Object.fromEntries(Object.entries(sessions).map(([session, count]) => [session.slice(-6), count])));
  return `${head}: holds ${counts(doc.known.sessions)}, relay has ${counts(doc.relayKnown.sessions)}, refused ${doc.refused}, unsynced ${doc.hasUnsynced}, in flight ${doc.inFlight}`;
}

/** What a client holds of a document: the snapshot's data and every transaction's, and the counts per session. */
function viewOf(doc: Doc): { data: string[]; key: string } {
  const data = new Set<string>();
  if (doc.heldSnapshot) for (const item of JSON.parse(String(doc.heldSnapshot.data)) as string[]) data.add(item);
  for (const transaction of doc.transactions()) data.add(keyOf(transaction.data));
  const counts = Object.entries(doc.known.sessions).sort().map(([session, count]) => `${session.slice(-6)}:${count}`);
  const sorted = [...data].sort();
  return { data: sorted, key: `${counts.join(",")} :: ${sorted.join(",")}` };
}
