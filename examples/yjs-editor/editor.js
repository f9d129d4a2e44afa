// A collaborative text editor: CodeMirror 6 bound to a Y.Doc with y-codemirror.next, synced by weft/yjs,
// with remote cursors, a list of who is here and a connection indicator. The document is kept in IndexedDB,
// so it opens and takes edits offline. ?relay=<url> picks the relay, ?name=<name> the name shown to others,
// ?doc=<doc id> the document (a new one otherwise; its id goes into the URL to share it).
import { createClient, createIdentity, exportIdentity, importIdentity, IndexedDbLocalStore } from "weft/client";
import { WeftProvider } from "weft/yjs";
import * as Y from "yjs";
import { Awareness } from "y-protocols/awareness";
import { yCollab } from "y-codemirror.next";
import { EditorView, basicSetup } from "codemirror";

const params = new URLSearchParams(location.search);
const relay = params.get("relay") ?? "http://127.0.0.1:8787";
const name = params.get("name") ?? "anonymous";
const COLORS = ["#d33682", "#268bd2", "#2aa198", "#859900", "#b58900", "#cb4b16", "#6c71c4"];
// A color per name, so a person keeps theirs across reloads.
const color = COLORS[[...name].reduce((sum, char) => sum + char.charCodeAt(0), 0) % COLORS.length];

// The page itself opens offline too (sw.js caches it).
navigator.serviceWorker?.register("./sw.js").catch(() => {});

// Stay the same agent across reloads.
const saved = localStorage.getItem("weft-editor-identity");
const identity = saved ? importIdentity(saved) : createIdentity();
localStorage.setItem("weft-editor-identity", exportIdentity(identity));

const client = await createClient({ url: relay, identity, store: new IndexedDbLocalStore("weft-editor") });
const group = client.group("editor");
const docId = params.get("doc") ?? group.create({ kind: "yjs", meta: { title: "notes" } }).id;
if (!params.get("doc")) history.replaceState(null, "", `?${new URLSearchParams({ relay, name, doc: docId })}`);

const ydoc = new Y.Doc();
const awareness = new Awareness(ydoc);
awareness.setLocalStateField("user", { name, color, colorLight: `${color}33` });
const provider = new WeftProvider(group, docId, ydoc, { awareness });

const status = document.querySelector("#status");
const showStatus = ({ status: state, relay: detail }) => {
  status.dataset.status = state;
  status.textContent = state;
  status.title = detail;
};
showStatus({ status: provider.status, relay: group.status });
provider.on("status", showStatus);

const here = document.querySelector("#here");
const showWhoIsHere = () => {
  const people = [...awareness.getStates()].filter(([, state]) => state.user).sort(([a], [b]) => (a === ydoc.clientID ? -1 : b === ydoc.clientID ? 1 : a - b));
  here.replaceChildren(
    ...people.map(([clientId, { user }]) => {
      const item = document.createElement("li");
      item.textContent = clientId === ydoc.clientID ? `${user.name} (you)` : user.name;
      item.style.background = user.color;
      return item;
    }),
  );
};
awareness.on("change", showWhoIsHere);
showWhoIsHere();

// The editor starts from the document as this device has it (IndexedDB), or as the relay sends it.
await provider.loaded;
const ytext = ydoc.getText("body");
const view = new EditorView({ doc: ytext.toString(), extensions: [basicSetup, EditorView.lineWrapping, yCollab(ytext, awareness)], parent: document.querySelector("#editor") });

// For scripts and tests.
window.weftEditor = { docId, provider, ydoc, ytext, view, awareness, synced: () => provider.doc.synced() };
