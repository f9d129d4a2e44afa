// The relay core's state between events: the group, its access policy, its peers, their presence and frame budgets.
import type { GroupId } from "../../protocol/index.ts";
import type { AccessPolicy } from "../config.ts";
import type { FrameBudgets } from "./frame-budget.ts";
import type { PeerTable } from "./peer-table.ts";
import type { PresenceTable } from "./presence.ts";

/**
 * The core's state. Its peer table is updated in place by `step` (see peer-table.ts for why): a driver
 * keeps only the state the latest step returned.
 */
export type RelayState = {
  readonly group: GroupId;
  readonly access: AccessPolicy;
  readonly peers: PeerTable;
  /** Ephemeral presence per peer and document (presence.ts): never stored, kept in socket attachments. */
  readonly presence: PresenceTable;
  /** What each socket may still send before it floods (frame-budget.ts): in memory only, like presence's rate. */
  readonly frames: FrameBudgets;
};
