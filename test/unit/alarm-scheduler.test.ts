// The object's one alarm (worker/alarm-scheduler.ts): the earliest request wins, nothing is written for a
// later one, and the alarm is set without holding back what the object sends meanwhile.
import { describe, expect, it } from "vitest";
import { AlarmScheduler } from "../../worker/alarm-scheduler.ts";

/** Storage's alarm as the runtime keeps it, and every setAlarm call with its options. */
function alarmStorage(initial: number | null = null) {
  const calls: { at: number; options: unknown }[] = [];
  let alarm = initial;
  let reads = 0;
  return {
    calls,
    reads: () => reads,
    current: () => alarm,
    /** The alarm went off: the runtime holds none until it is set again. */
    fire: () => void (alarm = null),
    storage: {
      getAlarm: async () => (reads++, alarm),
      setAlarm: async (at: number | Date, options?: unknown) => {
        alarm = typeof at === "number" ? at : at.getTime();
        calls.push({ at: alarm, options });
      },
    },
  };
}

describe("AlarmScheduler", () => {
  it("sets the alarm without holding back the frames and responses sent meanwhile (allowUnconfirmed)", async () => {
    // In a Durable Object a write holds every outgoing message until it is durable (the output gate), and a
    // socket's opening sets the handshake's alarm: its challenge would wait for a round of replication.
    const held = alarmStorage();
    const scheduler = new AlarmScheduler(held.storage);
    scheduler.wakeAt(10_000);
    await scheduler.settled();
    expect(held.calls).toEqual([{ at: 10_000, options: { allowUnconfirmed: true } }]);
  });

  it("writes only for an earlier time than the alarm set, and reads the alarm once", async () => {
    const held = alarmStorage(5_000); // set by an earlier instance, before hibernation
    const scheduler = new AlarmScheduler(held.storage);
    scheduler.wakeAt(8_000);
    scheduler.wakeAt(5_000);
    await scheduler.settled();
    expect(held.calls).toEqual([]);
    scheduler.wakeAt(3_000);
    scheduler.wakeAt(4_000);
    await scheduler.settled();
    expect(held.calls.map((call) => call.at)).toEqual([3_000]);
    expect(held.current()).toBe(3_000);
    expect(held.reads()).toBe(1);
  });

  it("once the alarm went off, the next request sets it again, whatever time it asks for, without reading it first", async () => {
    const held = alarmStorage();
    const scheduler = new AlarmScheduler(held.storage);
    scheduler.wakeAt(1_000);
    await scheduler.settled();
    held.fire();
    scheduler.fired();
    scheduler.wakeAt(9_000);
    await scheduler.settled();
    expect(held.calls.map((call) => call.at)).toEqual([1_000, 9_000]);
    expect(held.reads()).toBe(1); // the first request's, on a fresh instance
  });
});
