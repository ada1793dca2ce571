import { parseArgs } from "node:util";

export const LOCAL_TARGET = "222222222222";

export const USAGE = `Usage: npm start -- [options]

Runs the onboarding workflow (statemachine/onboarding.asl.yml) with the real step code: by
default against an in-memory AWS and a local Redis Cloud API, with --live against real AWS and
the real Redis Cloud API.

Options:
  --account <id>          the 12-digit account to onboard (default ${LOCAL_TARGET}; with --live,
                          the caller's own account). The home account 111111111111 onboards
                          "this account".
  --role <name>           the role to assume in that account (default OrganizationAccountAccessRole)
  --name <accountName>    the cloud account's name at Redis (default aws-<account>)
  --plan                  only read: print what a run would find and the writes it would make
  --adopt                 take over resources that exist but differ from what Redis requires
                          (their state before is recorded and given back if the run fails)
  --fail-at <State>       make that state fail for good (AccessDenied), to watch the rollback: any
                          Task state but RollBack, service integrations (PublishSucceeded) too
  --json                  print the summary as one JSON document on stdout (progress on stderr);
                          through npm, \`npm start --silent -- --json\` keeps npm's banner off stdout
  --events <file>         write every state event, with its input and output, as JSON lines
  --live                  real AWS (default credential chain and region, e.g. AWS_REGION=us-east-1)
                          and the real Redis Cloud API: keys from
                          REDIS_CLOUD_ACCOUNT_KEY and REDIS_CLOUD_USER_KEY, or --api-keys-secret;
                          REDIS_CLOUD_API_URL (default https://api.redislabs.com/v1)
  --api-keys-secret <id>  with --live: the Secrets Manager secret holding
                          {"accountKey": "...", "userKey": "..."}, in the caller's account
  --yes                   with --live: do not ask for confirmation
  --rotate                rotate the account's access key and console password (the rotation
                          workflow, statemachine/rotation.asl.yml); locally the account is
                          onboarded first in the same process, then rotated
  --offboard              offboard the account (statemachine/offboarding.asl.yml): its cloud
                          account deleted at Redis, what the product made in it removed, its
                          secret scheduled for deletion. Locally the in-memory world starts
                          empty, so the account is onboarded first, in the same process
  -h, --help              show this help
  --org | --accounts <id,…> | --ou <ou-id,…>
                          a bulk onboarding instead (npm start -- --org --help)

Exit codes: 0 onboarded, 1 the onboarding failed, 2 bad usage or not confirmed.

Fleet view:
  --status                print the account registry as a table (--json: as JSON rows). Alone it
                          runs nothing: locally the in-memory registry (empty at start), with
                          --live the deployed one. With a run's options (--account, --fail-at...)
                          the onboarding runs first, then the registry is printed.
  --registry-table <name> with --status --live: the deployed registry's table (default
                          REGISTRY_TABLE_NAME; the stack's output AccountRegistryTableName)`;

export interface CliOptions {
  help: boolean;
  live: boolean;
  yes: boolean;
  json: boolean;
  /** Undefined: the default of the mode (the local target, or the caller's account with --live). */
  account?: string;
  role?: string;
  name?: string;
  failAt?: string;
  events?: string;
  plan: boolean;
  adopt: boolean;
  apiKeysSecret?: string;
  // --- Fleet view ---
  status: boolean;
  registryTable?: string;
  /** Credential rotation: run the rotation workflow instead of the onboarding. */
  rotate: boolean;
  // --- Offboarding ---
  offboard: boolean;
}

/** Bad usage: the message names the option; the process exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The options every command shares: its output, where it runs, and the confirmation. */
export const SHARED_OPTIONS = {
  json: { type: "boolean" },
  live: { type: "boolean" },
  "api-keys-secret": { type: "string" },
  yes: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const OPTIONS = {
  account: { type: "string" },
  role: { type: "string" },
  name: { type: "string" },
  "fail-at": { type: "string" },
  plan: { type: "boolean" },
  adopt: { type: "boolean" },
  events: { type: "string" },
  ...SHARED_OPTIONS,
  // --- Fleet view ---
  status: { type: "boolean" },
  "registry-table": { type: "string" },
  rotate: { type: "boolean" },
  // --- Offboarding ---
  offboard: { type: "boolean" },
} as const;

/**
 * The command line's options, checked for form only. The values that become the workflow's
 * input (--account, --role, --name) are checked later by the workflow's own input validation,
 * so that the command line and the state machine can never disagree on what is valid.
 */
export function parseCli(argv: string[]): CliOptions {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (error) {
    // Node's messages name the option; the first sentence is the useful one.
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.split(". ")[0] ?? message);
  }
  for (const [option, value] of Object.entries(values)) {
    if (value === "") throw new UsageError(`option --${option} needs a value`);
  }
  // --- Offboarding ---
  if (values.offboard && (values.plan || values.adopt || values["fail-at"] !== undefined)) {
    throw new UsageError("option --offboard takes no --plan, --adopt or --fail-at");
  }
  if (values["api-keys-secret"] !== undefined && !values.live) {
    throw new UsageError("option --api-keys-secret is only for --live runs");
  }
  // --- Fleet view ---
  if (values["registry-table"] !== undefined && !(values.status && values.live)) {
    throw new UsageError("option --registry-table is only for --status --live");
  }
  if (
    values.rotate &&
    (values.plan || values.adopt || values["fail-at"] !== undefined || values.name !== undefined)
  ) {
    throw new UsageError("option --rotate takes only --account, --role, --json, --events, --live and --yes");
  }
  return {
    help: values.help ?? false,
    live: values.live ?? false,
    yes: values.yes ?? false,
    json: values.json ?? false,
    account: values.account,
    role: values.role,
    name: values.name,
    failAt: values["fail-at"],
    plan: values.plan ?? false,
    adopt: values.adopt ?? false,
    events: values.events,
    apiKeysSecret: values["api-keys-secret"],
    // --- Fleet view ---
    status: values.status ?? false,
    registryTable: values["registry-table"],
    rotate: values.rotate ?? false,
    // --- Offboarding ---
    offboard: values.offboard ?? false,
  };
}

const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, strict: true });
