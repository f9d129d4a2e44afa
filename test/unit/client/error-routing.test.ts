// Who hears a relay error (client/error-routing.ts): what the error answers follows from the document's state.
import { describe, expect, it } from "vitest";
import { routeError, type ErrorFacts } from "../../../client/error-routing.ts";

const doc = "doc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" as const;
const loaded: ErrorFacts = { held: true, awaitingLoad: false, deleting: false };

describe("routeError", () => {
  it("a refusal of a loaded document refuses its writes; of one awaiting its load, the load", () => {
    for (const code of ["forbidden", "bad_signature", "bad_header", "transaction_too_large", "too_many_sessions", "quota_exceeded"] as const) {
      expect(routeError({ code, doc }, loaded), code).toEqual({ kind: "writesRefused" });
    }
    expect(routeError({ code: "forbidden", doc }, { ...loaded, awaitingLoad: true })).toEqual({ kind: "loadRefused" });
  });

  it("doc_deleted deletes; a pending delete hears the refusals a delete gets, and only those", () => {
    expect(routeError({ code: "doc_deleted", doc }, loaded)).toEqual({ kind: "deleted" });
    expect(routeError({ code: "doc_deleted", doc }, { ...loaded, deleting: true })).toEqual({ kind: "deleted" });
    expect(routeError({ code: "forbidden", doc }, { ...loaded, deleting: true })).toEqual({ kind: "deleteRefused" });
    expect(routeError({ code: "unknown_doc", doc }, { held: false, awaitingLoad: false, deleting: true })).toEqual({ kind: "deleteRefused" });
    // A cursor moved too fast, or a write refused, while the delete is on its way: the delete may yet go through.
    for (const code of ["rate_limited", "presence_refused", "presence_too_large"] as const) expect(routeError({ code, doc }, { ...loaded, deleting: true }), code).toEqual({ kind: "report" });
    expect(routeError({ code: "too_many_sessions", doc }, { ...loaded, deleting: true })).toEqual({ kind: "writesRefused" });
  });

  it("a frame refused without a document is a frame refusal; anything else is only reported, but unknown_doc of a loaded document", () => {
    expect(routeError({ code: "bad_frame" }, loaded)).toEqual({ kind: "frameRefused" });
    expect(routeError({ code: "transaction_too_large" }, loaded)).toEqual({ kind: "frameRefused" });
    expect(routeError({ code: "internal" }, loaded)).toEqual({ kind: "report" });
    // Writes into a document another agent created that the relay does not hold: only that agent could give it the header.
    expect(routeError({ code: "unknown_doc", doc }, loaded)).toEqual({ kind: "writesRefused" });
    expect(routeError({ code: "unknown_doc", doc }, { ...loaded, creates: true })).toEqual({ kind: "relayLost" });
    expect(routeError({ code: "forbidden", doc }, { held: false, awaitingLoad: false, deleting: false })).toEqual({ kind: "report" });
  });
});
