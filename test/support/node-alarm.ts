// The alarm of a relay driven in Node tests, set the way the Durable Object sets its own: one at a time,
// the earliest asked-for time wins, and firing it clears it (each alarm event asks again for what is due).
export class NodeAlarm {
  #at: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #fire: (now: number) => void;

  constructor(fire: (now: number) => void) {
    this.#fire = fire;
  }

  wakeAt(at: number): void {
    if (this.#at !== undefined && this.#at <= at) return;
    this.stop();
    this.#at = at;
    this.#timer = setTimeout(() => {
      this.#at = undefined;
      this.#timer = undefined;
      this.#fire(Date.now());
    }, Math.max(0, at - Date.now()));
    // A handshake deadline must not keep a test process alive.
    if (typeof this.#timer === "object" && "unref" in this.#timer) this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#at = undefined;
    this.#timer = undefined;
  }
}
