// A document of one agent's, as the core tests of its sessions see it: this client's session (`own`),
// another session of the same agent (`orphan`: a closed tab's), and another agent's (`stranger`).
import { docIdOf, newHeader } from "../../../protocol/index.ts";
import { createIdentity, newSession } from "../../../client/identity.ts";
import { testAgent } from "../../support/identity.ts";

export const identity = createIdentity();
export const own = newSession(identity);
export const orphan = newSession(identity);
export const stranger = testAgent(5, "stranger-1").session;
export const header = newHeader({ group: "team", kind: "json", creator: identity.agent, createdAt: 1_700_000_000_000 });
export const id = docIdOf(header);
/** This client as the core's push sees it. */
export const writer = { agent: identity.agent, secretKey: identity.secretKey, session: own };
