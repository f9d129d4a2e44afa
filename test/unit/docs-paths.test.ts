// The docs name files (`worker/sqlite-store.ts`, `core/effects.ts`, `bench/measure/read-path.ts`): each name
// must be a file of the repository, so a rename that leaves the docs behind fails here. History (CHANGELOG,
// bench/HISTORY.md) keeps the names of its time and is not checked. The README also names every kind of
// connection failure an app's onError may hear.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DOCS = ["README.md", "bench/README.md", "docs/deploy.md", "docs/bindings.md", "examples/README.md"];
const SKIPPED = new Set(["node_modules", "dist", ".git", ".wrangler", "tmp"]);
/** A file name in backticks, with or without folders: `a/b.ts`, `b.ts`. Patterns (`core-*.test.ts`) are not names. */
const NAMED_FILE = /`([\w@./-]+\.(?:ts|md|mjs|js|json|toml|html))`/g;

function repositoryFiles(folder = ROOT, found: string[] = []): string[] {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) repositoryFiles(path, found);
    else found.push(relative(ROOT, path));
  }
  return found;
}

it("every file the docs name exists, under the folders they give", () => {
  const files = repositoryFiles();
  const missing: string[] = [];
  for (const doc of DOCS) {
    for (const [, name] of readFileSync(join(ROOT, doc), "utf8").matchAll(NAMED_FILE)) {
      if (name!.startsWith(".")) continue; // an extension (`.d.ts`), not a file
      if (!files.some((file) => file === name || file.endsWith(`/${name}`))) missing.push(`${doc}: ${name}`);
    }
  }
  expect(missing).toEqual([]);
});

it("the README's table of connection failures has a row for every kind a ConnectionError can carry", () => {
  const source = readFileSync(join(ROOT, "client/errors.ts"), "utf8");
  const union = source.slice(source.indexOf("export type ConnectionFailure"), source.indexOf("export class ConnectionError"));
  const kinds = [...union.matchAll(/kind: "(\w+)"/g)].map(([, kind]) => kind!);
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  expect(kinds.length).toBeGreaterThan(5);
  expect(kinds.filter((kind) => !readme.includes(`\n  | \`${kind}\` |`))).toEqual([]);
});
