// Making a folder and its missing parents, one level at a time. Node's own `mkdirSync(path, { recursive:
// true })` can loop for ever where the parent exists but refuses children with ENOENT (a store folder given
// as `/proc`, say): the app's event loop never runs again. Here each level is tried at most twice.
import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";

export function makeFolder(path: string): void {
  try {
    mkdirSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST" && statSync(path).isDirectory()) return;
    const parent = dirname(path);
    if (code !== "ENOENT" || parent === path) throw error;
    makeFolder(parent);
    try {
      mkdirSync(path);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== "EEXIST" || !statSync(path).isDirectory()) throw again;
    }
  }
}
