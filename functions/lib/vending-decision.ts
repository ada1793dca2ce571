import { OU_ID, type SettingsOf, type VendingSource } from "./config.ts";
import type { VendedAccount } from "./vending-events.ts";

/** The settings that say which vended accounts this deployment onboards, and how. */
export const VENDING_SETTINGS = [
  "vendingSources",
  "controlTowerRoleName",
  "organizationsRoleName",
  "allowedOuIds",
] as const;
export type VendingSettings = SettingsOf<(typeof VENDING_SETTINGS)[number]>;

/** The role each source creates in the accounts it vends. */
const ROLE_SETTING = {
  controltower: "controlTowerRoleName",
  organizations: "organizationsRoleName",
} as const satisfies Record<VendingSource, keyof VendingSettings>;

export type Decision =
  | { kind: "start"; accountId: string; roleName: string; accountName?: string }
  | { kind: "ignored"; reason: string };

/**
 * Whether this deployment onboards the vended account, and with which role. An OU allow-list
 * admits only Control Tower accounts of those OUs: an Organizations event names no OU (the account
 * lands in the root), so with a list set it starts nothing rather than bypass the list.
 */
export function decide(account: VendedAccount, settings: VendingSettings): Decision {
  if (!settings.vendingSources.includes(account.source)) {
    return { kind: "ignored", reason: `${account.source} events are not enabled (VENDING_SOURCES)` };
  }
  if (settings.allowedOuIds.length > 0) {
    const ou = account.organizationalUnitId;
    if (ou === undefined || !settings.allowedOuIds.includes(ou)) {
      // Logged: only a value shaped like an OU id is repeated.
      const shown = ou === undefined ? "(none)" : OU_ID.test(ou) ? ou : "(not an OU id)";
      return { kind: "ignored", reason: `OU ${shown} is not in ALLOWED_OU_IDS` };
    }
  }
  return {
    kind: "start",
    accountId: account.accountId,
    roleName: settings[ROLE_SETTING[account.source]],
    ...(account.accountName === undefined ? {} : { accountName: account.accountName }),
  };
}
