// weft/client/node: what only Node can do, kept out of the browser bundle.
export { FileLocalStore } from "./storage/file-store.ts";
