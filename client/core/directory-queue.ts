// directory() requests in flight, as pure functions of a queue. The relay answers requests in the order
// they were sent, each answer one or more `dir` frames (the last with more=false), so the head of the queue
// takes the frames that arrive. A call asking the same as the newest queued request shares its answer; a
// call with another `since` gets its own request and its own answer.
import type { DirEntry, DirRequest } from "../../protocol/index.ts";
import type { Directory, DirectoryRequest } from "./effects.ts";

/** Queues `request` as number `nextId`, unless the newest queued request asks the same (`fresh` false: share its answer). */
export function askDirectory(queue: DirectoryRequest[], request: DirRequest, nextId: number): { queue: DirectoryRequest[]; id: number; fresh: boolean } {
  const newest = queue[queue.length - 1];
  if (newest && newest.request.since === request.since && newest.request.digest === request.digest) return { queue, id: newest.id, fresh: false };
  return { queue: [...queue, { id: nextId, request, entries: [] }], id: nextId, fresh: true };
}

/** One `dir` frame of the answer at the head of the queue; `done` once the answer is whole. */
export function directoryFrame(
  queue: DirectoryRequest[],
  frame: { docs: DirEntry[]; more: boolean; cursor: number; inSync: boolean },
): { queue: DirectoryRequest[]; done?: { id: number; directory: Directory } } {
  const [head, ...rest] = queue;
  if (!head) return { queue };
  // In place, like the rest of the core's state: a long answer comes in many frames.
  for (const entry of frame.docs) head.entries.push(entry);
  if (frame.more) return { queue };
  return { queue: rest, done: { id: head.id, directory: { docs: head.entries, cursor: frame.cursor, inSync: frame.inSync } } };
}

/** A new socket: every request still waiting goes out again, in order, its partial answer dropped. */
export function directoryResend(queue: DirectoryRequest[]): { queue: DirectoryRequest[]; requests: DirRequest[] } {
  return { queue: queue.map((pending) => ({ ...pending, entries: [] })), requests: queue.map((pending) => pending.request) };
}
