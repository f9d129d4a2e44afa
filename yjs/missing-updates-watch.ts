// Reports what a Y.Doc waits for (MissingUpdatesError), once, if it still waits missingUpdates.reportAfterMs
// after it was seen waiting while in sync. Yjs holds an update aside, as it should, while what it builds on
// has not arrived yet: during a load (sessions come in any order), and even live, when that base reaches
// the relay after it (another tab's writes pushed from the shared store, say). Only a wait that lasts
// means the base was never sent.
import type * as Y from "yjs";
import type { DocId } from "../protocol/ids.ts";
import { MissingUpdatesError, missingOf, missingUpdates } from "./received-updates.ts";

export class MissingUpdatesWatch {
  /** Reported, and the Y.Doc still waits: not reported again until it stops. */
  #reported = false;
  /** The Y.Doc was seen waiting while in sync: reported if it still does when this fires. */
  #check: ReturnType<typeof setTimeout> | undefined;

  readonly #ydoc: Y.Doc;
  readonly #docId: DocId;
  readonly #report: (error: MissingUpdatesError) => void;
  readonly #stillInSync: () => boolean;

  /** `stillInSync`: whether the provider is still in sync and running when the wait is over. */
  constructor(ydoc: Y.Doc, docId: DocId, report: (error: MissingUpdatesError) => void, stillInSync: () => boolean) {
    this.#ydoc = ydoc;
    this.#docId = docId;
    this.#report = report;
    this.#stillInSync = stillInSync;
  }

  /** Looks at the Y.Doc now; `inSync`: in sync with the relay, and no update half received. */
  look(inSync: boolean): void {
    if (!inSync) return;
    if (!missingOf(this.#ydoc)) {
      this.#reported = false;
      this.stop();
      return;
    }
    if (this.#reported || this.#check) return;
    this.#check = setTimeout(() => {
      this.#check = undefined;
      const missing = missingOf(this.#ydoc);
      // Out of sync meanwhile: looked at again once in sync.
      if (!missing || !this.#stillInSync()) return;
      this.#reported = true;
      this.#report(new MissingUpdatesError(this.#docId, missing));
    }, missingUpdates.reportAfterMs);
  }

  stop(): void {
    clearTimeout(this.#check);
    this.#check = undefined;
  }
}
