// What a group's socket reports is taken in the order it arrived, with one exception to wait for: a received
// snapshot's signature is checked asynchronously, and whatever arrived behind it (the content after it must
// find it applied) waits until it is taken.

export class SocketOrder {
  /** What arrived behind a snapshot whose signature is being checked, in order; undefined when none is. */
  #waiting: (() => void)[] | undefined;

  /** Runs `step` now, or behind the snapshot being checked. */
  run(step: () => void): void {
    if (this.#waiting) this.#waiting.push(step);
    else step();
  }

  /** Holds everything that arrives from now on until `verified` settles, then runs `take` and what waited. */
  holdFor(verified: Promise<boolean>, take: (verified: boolean) => void): void {
    this.#waiting = [];
    const release = (ok: boolean) => {
      take(ok);
      const waiting = this.#waiting ?? [];
      this.#waiting = undefined;
      for (let index = 0; index < waiting.length; index++) {
        // Another snapshot among them: the rest waits behind that one.
        if (this.#waiting) {
          (this.#waiting as (() => void)[]).push(...waiting.slice(index));
          break;
        }
        waiting[index]!();
      }
    };
    verified.then(release, () => release(false));
  }
}
