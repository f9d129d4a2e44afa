// Serves the page and its bundle from a cache first, so the editor opens without the network; the document
// itself comes from IndexedDB. WebSockets never pass through a service worker.
const FILES = ["./", "./index.html", "./editor.bundle.js"];
self.addEventListener("install", (event) => {
  self.skipWaiting();
  event.waitUntil(caches.open("weft-editor").then((cache) => cache.addAll(FILES)));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  // Network first (a new bundle shows up), the cache when offline.
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        if (response.ok) caches.open("weft-editor").then((cache) => cache.put(url.pathname, copy));
        return response;
      })
      .catch(() => caches.match(url.pathname, { ignoreSearch: true }).then((hit) => hit ?? caches.match("./index.html"))),
  );
});
