// directory() requests in flight. The relay answers requests in the order they were sent, each answer
// one or more `dir` frames (the last with more=false), so pending requests form a queue: the head takes
// the frames that arrive. Calls asking the same as the newest queued request share its answer; a call
// with another `since` gets its own request and its own answer.
import type { DirEntry, DirRequest } from "../protocol/index.ts";
import { Waiters } from "./waiters.ts";

/** An answer to `directory()`: what changed since the cursor asked about. */
export type Directory = {
  docs: DirEntry[];
  /** Pass as `since` to hear only of later changes. */
  cursor: number;
  /** True when the relay holds exactly what this client holds (digests matched); `docs` is then empty. */
  inSync: boolean;
};

type Pending = { request: DirRequest; entries: DirEntry[]; waiters: Waiters<Directory> };

export class DirectoryRequests {
  #queue: Pending[] = [];

  /**
   * Waits for the answer to `request`; `send` is called when a new request must go out (it is not
   * called when the newest queued request asks the same).
   */
  ask(request: DirRequest, send: (request: DirRequest) => void, signal?: AbortSignal): Promise<Directory> {
    const newest = this.#queue[this.#queue.length - 1];
    if (newest && newest.request.since === request.since && newest.request.digest === request.digest) return newest.waiters.wait(signal);
    const pending: Pending = { request, entries: [], waiters: new Waiters() };
    this.#queue.push(pending);
    const answer = pending.waiters.wait(signal);
    send(request);
    return answer;
  }

  /** One `dir` frame of the answer at the head of the queue. */
  onFrame(frame: { docs: DirEntry[]; more: boolean; cursor: number; inSync: boolean }): void {
    const head = this.#queue[0];
    if (!head) return;
    for (const entry of frame.docs) head.entries.push(entry);
    if (frame.more) return;
    this.#queue.shift();
    head.waiters.resolveAll({ docs: head.entries, cursor: frame.cursor, inSync: frame.inSync });
  }

  /** A new socket: every request still waiting goes out again, in order, its partial answer dropped. */
  resend(send: (request: DirRequest) => void): void {
    for (const pending of this.#queue) {
      pending.entries = [];
      send(pending.request);
    }
  }

  rejectAll(error: Error): void {
    for (const pending of this.#queue.splice(0)) pending.waiters.rejectAll(error);
  }
}
