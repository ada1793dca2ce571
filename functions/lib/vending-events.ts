import * as z from "zod";
import type { VendingSource } from "./config.ts";
import { invalidInput } from "./errors.ts";
import { StartInputSchema } from "./onboarding-input.ts";

/*
 * Account-vending events, as EventBridge delivers them from CloudTrail. The envelope's `account`
 * is where the event was recorded (the management account), never the new account: that one is
 * only in the service event's details.
 *
 * Read in two stages. The parser middleware tells which vending event it is (source, detail-type
 * and event name); anything else is not for us. Then the lifecycle status is read: a state other
 * than SUCCEEDED is ignored, and a SUCCEEDED one without a valid account is refused, so that it
 * lands in the dead-letter queue for someone to look at instead of vanishing.
 */

const DETAIL_TYPE = "AWS Service Event via CloudTrail";

/**
 * Our own schema of the EventBridge envelope rather than Powertools' EventBridgeEnvelope: that one
 * hands over only `detail`, while whether an event is for us also depends on the envelope's
 * `source` and `detail-type`, and importing it bundles every Powertools schema and the whole of
 * zod (about 395 KB minified, more than the Step Functions client itself). Only the fields read
 * here are declared: a field AWS adds or drops elsewhere must not make a vended account ignored.
 */
function cloudTrailServiceEvent(source: VendingSource, eventName: string, statusKey: string) {
  return z
    .object({
      source: z.literal(`aws.${source}`),
      "detail-type": z.literal(DETAIL_TYPE),
      detail: z.object({
        eventName: z.literal(eventName),
        // No details (or not an object): the state is missing, which is ignored, not refused.
        serviceEventDetails: z.record(z.string(), z.unknown()).optional().catch(undefined),
      }),
    })
    .transform(({ detail }) => ({ source, eventName, status: detail.serviceEventDetails?.[statusKey] }));
}

/** The three lifecycle events that vend an account, each with the key of its status. */
export const VendingEventSchema = z.union([
  cloudTrailServiceEvent("controltower", "CreateManagedAccount", "createManagedAccountStatus"),
  // A retried vending is recorded as an update: it onboards like a create.
  cloudTrailServiceEvent("controltower", "UpdateManagedAccount", "updateManagedAccountStatus"),
  // Only in us-east-1, for every account made with Organizations' CreateAccount.
  cloudTrailServiceEvent("organizations", "CreateAccountResult", "createAccountStatus"),
]);
export type VendingEvent = z.output<typeof VendingEventSchema>;

/** What the parser middleware (safeParse) or the schema's own safeParse hands over. */
export type VendingEventParse = { success: true; data: VendingEvent } | { success: false };

const LifecycleSchema = z.object({ state: z.string() });

/** Lifecycle states AWS sends; any other value is not repeated in a log line. */
const KNOWN_STATES = new Set(["SUCCEEDED", "FAILED", "IN_PROGRESS", "missing"]);

/**
 * CloudTrail masks a CreateAccountResult's name as "****": no name beats a wrong one. A name the
 * state machine's input refuses is left out too, and the run uses its default name.
 */
const AccountNameSchema = StartInputSchema.shape.accountName
  .unwrap()
  .regex(/[^*]/)
  .optional()
  .catch(undefined);

const AccountSchema = z.object({
  accountId: StartInputSchema.shape.accountId,
  accountName: AccountNameSchema,
});

/** The OU is only compared with ALLOWED_OU_IDS: anything but a string counts as none. */
const OuSchema = z
  .object({ organizationalUnitId: z.string().optional().catch(undefined) })
  .optional()
  .catch(undefined);

/** Control Tower nests the account and names its OU; Organizations puts the account on the status. */
const VENDED_ACCOUNT = {
  controltower: z
    .object({ account: AccountSchema, organizationalUnit: OuSchema })
    .transform(({ account, organizationalUnit }) => ({
      ...account,
      organizationalUnitId: organizationalUnit?.organizationalUnitId,
    })),
  organizations: AccountSchema,
} satisfies Record<VendingSource, z.ZodType>;

export interface VendedAccount {
  source: VendingSource;
  eventName: string;
  accountId: string;
  accountName?: string;
  /** Control Tower only: the OU the account was enrolled in. */
  organizationalUnitId?: string;
}

export type Reading = { kind: "account"; account: VendedAccount } | { kind: "ignored"; reason: string };

/**
 * The vended account of a SUCCEEDED lifecycle event. Any other event is ignored (the rules'
 * patterns already filter them; this is the second line).
 */
export function readVendingEvent(parsed: VendingEventParse): Reading {
  if (!parsed.success) return { kind: "ignored", reason: "not an account-vending event" };
  const { source, eventName, status } = parsed.data;
  const lifecycle = LifecycleSchema.safeParse(status);
  const state = lifecycle.success ? lifecycle.data.state : "missing";
  if (state !== "SUCCEEDED") {
    const shown = KNOWN_STATES.has(state) ? state : "not SUCCEEDED";
    return { kind: "ignored", reason: `${eventName} state is ${shown}` };
  }
  const account = VENDED_ACCOUNT[source].safeParse(status);
  if (!account.success) {
    throw invalidInput(`${eventName} event`, "a SUCCEEDED event without a 12-digit account id");
  }
  return { kind: "account", account: withoutUnset({ source, eventName, ...account.data }) };
}

/** Fields the event left out are absent, not undefined: readings compare and log as they read. */
const withoutUnset = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
