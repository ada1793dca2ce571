import * as z from "zod";
import type { VendingSource } from "./config.ts";

/*
 * How the starters name executions. One rule holds every start together: an account never has two
 * onboardings running at once. Every execution started outside the console is named
 * `<accountId>-<origin>`, so the running one of an account is found by name prefix.
 */

/** Every execution started here begins with the account id: the key of the "already running" check. */
export const accountPrefix = (accountId: string): string => `${accountId}-`;

/**
 * One name per account and vending source: a duplicate delivery or a Create followed by an Update
 * reuse it, and Step Functions itself collapses them (same name and input: the running execution
 * is returned; a closed one: ExecutionAlreadyExists). The source is part of the name because in a
 * Control Tower landing zone Organizations also reports every account Control Tower creates,
 * earlier and with a role that does not exist there; sharing the name would let that doomed run
 * block the Control Tower one. This is the first name of its family: a run of it that failed is
 * re-driven under the next one (`attemptName`).
 */
export const vendingExecutionName = (accountId: string, source: VendingSource): string =>
  `${accountId}-vending-${source}`;

/**
 * The `attempt`th name of a family: the first is the bare name, later ones `<name>-2`, `<name>-3`, …
 * The first stays unsuffixed because deployments before re-drives named their runs so: a run
 * already made under the bare name is still its family's first, and nothing reading names changes
 * for the usual case of one run.
 */
export const attemptName = (first: string, attempt: number): string =>
  attempt === 1 ? first : `${first}-${attempt}`;

/**
 * `<accountId>-api-<UTC minute>`, e.g. `222222222222-api-20261121T1956Z`: identical requests of the
 * same minute collide on the name, so Step Functions collapses them even before ListExecutions
 * (eventually consistent) shows the first one.
 */
export function apiExecutionName(accountId: string, now: Date): string {
  const minute = now.toISOString().slice(0, 16).replace(/[-:]/g, "");
  return `${accountId}-api-${minute}Z`;
}

/**
 * `plan-<accountId>-<UTC minute>Z`: a plan writes nothing, so it may run next to an onboarding of
 * its account; it does not begin with the account id, so that the "already running" check of the
 * onboarding starters never takes a plan for an onboarding. The same request in the same minute
 * collides on the name: Step Functions answers the plan already made.
 */
export function planExecutionName(accountId: string, now: Date): string {
  return `plan-${apiExecutionName(accountId, now)}`;
}

/** Step Functions' rule for execution names: 1–80 characters, none of these, no control character. */
export const ExecutionNameSchema = z.string().regex(/^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]{1,80}$/u);

export const isExecutionName = (name: unknown): name is string => ExecutionNameSchema.safeParse(name).success;

/** `…:stateMachine:<machine>` → `…:execution:<machine>:<name>`. */
export const executionArn = (stateMachineArn: string, name: string): string =>
  `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;

/** The name is the last field of an execution ARN. */
export const executionName = (arn: string): string => arn.slice(arn.lastIndexOf(":") + 1);

/**
 * Who started an execution, as far as its name tells: the starters name theirs (a vending event
 * by source, the HTTP API), a re-drive with its attempt's suffix (`-2` and up, see attemptName);
 * a console or CLI start is named by whoever started it, so unknown.
 */
export function startedByOf(accountId: string, execution: string): string | undefined {
  const origin = execution.startsWith(accountPrefix(accountId))
    ? execution.slice(accountPrefix(accountId).length)
    : "";
  const vending = /^vending-(controltower|organizations)(?:-[2-9]|-[1-9]\d+)?$/.exec(origin);
  if (vending) return `vending:${vending[1]}`;
  return /^api-\d{8}T\d{4}Z(?:-[2-9]|-[1-9]\d+)?$/.test(origin) ? "http-api" : undefined;
}
