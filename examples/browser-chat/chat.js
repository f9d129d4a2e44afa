// A chat room in the browser: one document per room, one transaction per message, kept in IndexedDB so
// the room opens offline. ?relay=<url> picks the relay, ?name=<name> the sender, ?room=<doc id> the room.
import { createClient, createIdentity, exportIdentity, importIdentity, IndexedDbLocalStore } from "weft/client";

const params = new URLSearchParams(location.search);
const relay = params.get("relay") ?? "http://127.0.0.1:8787";
const name = params.get("name") ?? "anonymous";

// Stay the same agent across reloads.
const saved = localStorage.getItem("weft-chat-identity");
const identity = saved ? importIdentity(saved) : createIdentity();
localStorage.setItem("weft-chat-identity", exportIdentity(identity));

const client = await createClient({ url: relay, identity, store: new IndexedDbLocalStore("weft-chat") });
const group = client.group("chat");
group.onStatus((status) => (document.querySelector("#status").textContent = status));

// The room: given in the URL, or a new one (its id goes into the URL to share it).
const room = params.get("room") ? await group.open(params.get("room")) : group.create({ kind: "json", meta: { title: "room" } });
if (!params.get("room")) history.replaceState(null, "", `?${new URLSearchParams({ relay, name, room: room.id })}`);

const render = () => {
  const list = document.querySelector("#messages");
  list.replaceChildren(
    ...room.transactions().map(({ data }) => {
      const { from, text } = JSON.parse(data);
      const item = document.createElement("li");
      item.textContent = `${from}: ${text}`;
      return item;
    }),
  );
};
room.subscribe(render);
render();

document.querySelector("#send").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.querySelector("#text");
  room.append(JSON.stringify({ from: name, text: input.value }));
  input.value = "";
  render();
});

// For scripts and tests: the room's id, and a promise that the relay has stored everything sent so far.
window.chat = { room: room.id, synced: () => room.synced() };
