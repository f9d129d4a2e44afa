// The app's getToken as one group's connection asks it. A backend that answers slowly must not be asked
// again at every attempt: 300 groups behind a backend answering one request at a time, each asking anew
// after giving up, made 1,696 calls where 300 do. So an attempt that gives up aborts the call's signal
// (an app that passes it to fetch cancels the request) but does not forget the call: the next attempt
// waits for the same call, and an answer that comes while no attempt waits is kept for the next one.
import { GET_TOKEN_CALL_MAX_MS, GET_TOKEN_WAIT_MS, fromBase64Url } from "../protocol/index.ts";
import { settling } from "./store-load.ts";

/**
 * The app's source of tokens for a group. `signal` aborts when the attempt that asked gives up (after
 * GET_TOKEN_WAIT_MS, or its socket went away) or the group closes. A getToken of one argument still fits.
 */
export type GetToken = (group: string, options: GetTokenOptions) => Promise<string | undefined> | string | undefined;

export type GetTokenOptions = {
  signal: AbortSignal;
  /**
   * Why the relay refused the token this group sent last (`unauthorized`: "the token does not verify: ...",
   * after a key rotation, say): a token the app cached is not to be given again. Set on the one call made
   * after such a refusal; the group closes if the next token is refused too.
   */
  refused?: string;
};

type Outcome = { token: string | undefined } | { error: unknown };

type Call = {
  started: number;
  controller: AbortController;
  /** The attempt waiting for this call's answer, if one is. */
  waiter: ((outcome: Outcome) => void) | undefined;
};

export class TokenSource {
  readonly #getToken: GetToken;
  readonly #group: string;
  /** The call under way, answered or not yet. */
  #call: Call | undefined;
  /** A token that came after the attempt that asked for it gave up: the next attempt takes it. */
  #kept: { token: string | undefined } | undefined;
  #closed = false;
  /** Why the relay refused the last token, for the next call to tell getToken. */
  #refused: string | undefined;

  constructor(getToken: GetToken, group: string) {
    this.#getToken = getToken;
    this.#group = group;
  }

  /**
   * The token for this attempt: a kept one that has not expired, else the answer of the call under way (or
   * of a new one). Rejects when getToken fails, or has not answered within GET_TOKEN_WAIT_MS.
   */
  next(): Promise<string | undefined> {
    const kept = this.#kept;
    this.#kept = undefined;
    if (kept && !expired(kept.token, Date.now())) return Promise.resolve(kept.token);
    const under = this.#call;
    const call = under && Date.now() - under.started < GET_TOKEN_CALL_MAX_MS ? under : this.#ask();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        call.waiter = undefined;
        call.controller.abort(new Error(`getToken did not settle within ${GET_TOKEN_WAIT_MS} ms`));
        reject(new Error(`getToken did not settle within ${GET_TOKEN_WAIT_MS} ms`));
      }, GET_TOKEN_WAIT_MS);
      (timer as { unref?: () => void }).unref?.(); // Node: waiting does not keep a closed client's process alive
      call.waiter = (outcome) => {
        clearTimeout(timer);
        if ("token" in outcome) resolve(outcome.token);
        else reject(outcome.error);
      };
    });
  }

  /** A token an attempt was given but could not use (its socket went away meanwhile): the next attempt takes it. */
  putBack(token: string | undefined): void {
    if (!this.#closed) this.#kept = { token };
  }

  /** The attempt waiting gave up (its socket went away): the call is aborted, and an answer that still comes is kept. */
  giveUp(): void {
    const call = this.#call;
    if (!call?.waiter) return;
    const waiter = call.waiter;
    call.waiter = undefined;
    call.controller.abort(new Error("the connection attempt that asked for the token gave up"));
    waiter({ error: new Error("the connection attempt gave up") });
  }

  /**
   * The relay refused the last token (`reason`): the next attempt asks getToken anew, telling it why, rather
   * than take a kept token or the answer of a call made before the refusal.
   */
  refusedWith(reason: string): void {
    this.#kept = undefined;
    this.#call = undefined;
    this.#refused = reason;
  }

  /** The group closed: the call under way is aborted, and nothing more is kept. */
  close(): void {
    this.giveUp();
    this.#closed = true;
    this.#kept = undefined;
    this.#call?.controller.abort(new Error("the group is closed"));
  }

  #ask(): Call {
    const call: Call = { started: Date.now(), controller: new AbortController(), waiter: undefined };
    this.#call = call;
    const refused = this.#refused;
    this.#refused = undefined;
    settling(() => this.#getToken(this.#group, { signal: call.controller.signal, ...(refused ? { refused } : {}) })).then(
      (token) => this.#answered(call, { token }),
      (error: unknown) => this.#answered(call, { error }),
    );
    return call;
  }

  #answered(call: Call, outcome: Outcome): void {
    if (this.#call === call) this.#call = undefined;
    if (call.waiter) return call.waiter(outcome);
    if ("token" in outcome && !this.#closed) this.#kept = { token: outcome.token };
  }
}

/** Whether a token is a JWT whose `exp` has passed; a token the SDK cannot read is taken as it is. */
function expired(token: string | undefined, now: number): boolean {
  const claims = typeof token === "string" ? token.split(".")[1] : undefined;
  const bytes = claims === undefined ? undefined : fromBase64Url(claims);
  if (!bytes) return false;
  try {
    const { exp } = JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown };
    return typeof exp === "number" && exp * 1000 <= now;
  } catch {
    return false;
  }
}
