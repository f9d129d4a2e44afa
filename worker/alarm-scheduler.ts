// The object's one alarm, shared by everything the relay defers (handshake deadlines, the next slice of a
// long answer): each asks to be woken by some time and the earliest wins. A Durable Object has a single
// alarm, and a timer would keep it from hibernating. Every alarm event asks again for whatever is still
// due, so a request that a sooner alarm replaced is never lost.
//
// The alarm is set without holding back what the object sends meanwhile (`allowUnconfirmed`). A storage
// write otherwise holds every frame and response not yet on its way until the write is durable (the output
// gate: in production, a round of the storage's replication), and a socket's opening sets the handshake's
// alarm: its challenge must not wait for that round. An alarm lost to a crash loses nothing: the sockets whose
// handshake or silence it watches and the answers it paces go with the instance, and a snapshot's pruning
// runs at every alarm, so the next one (each socket's handshake sets one) takes it up again.
type AlarmStorage = {
  getAlarm(): Promise<number | null>;
  setAlarm(at: number, options: { allowUnconfirmed: boolean }): Promise<void>;
};

/** How the alarm is set: see above. */
const SET_ALARM_OPTIONS = { allowUnconfirmed: true };

export class AlarmScheduler {
  readonly #storage: AlarmStorage;
  /** The alarm as last set or read; `undefined` until read once (this instance may be fresh from hibernation). */
  #set: number | null | undefined;
  #writes: Promise<void> = Promise.resolve();

  constructor(storage: AlarmStorage) {
    this.#storage = storage;
  }

  /** Makes sure the alarm goes off at or before `at` (a time already past: at once). */
  wakeAt(at: number): void {
    this.#writes = this.#writes
      .then(async () => {
        if (this.#set === undefined) this.#set = await this.#storage.getAlarm();
        if (this.#set !== null && this.#set <= at) return;
        await this.#storage.setAlarm(at, SET_ALARM_OPTIONS);
        this.#set = at;
      })
      .catch((error: unknown) => {
        this.#set = undefined; // read it again next time
        console.error("weft: alarm not set", error);
      });
  }

  /**
   * The alarm went off: none is set now (while its handler runs, the platform's getAlarm says null too),
   * until the handler or a later event asks again.
   */
  fired(): void {
    this.#writes = this.#writes.then(() => {
      this.#set = null;
    });
  }

  /** Resolves once every request so far has reached storage. */
  settled(): Promise<void> {
    return this.#writes;
  }
}
