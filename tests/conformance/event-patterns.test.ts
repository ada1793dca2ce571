import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  FilterLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from "@aws-sdk/client-eventbridge";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { matchesPattern } from "../support/event-pattern.ts";
import { packagedTemplate, resourcesOfType } from "../support/template.ts";
import { MOTO_MISSING, resetMoto } from "./moto.ts";

/*
 * The vending rules as packaged, judged by EventBridge itself on every event fixture, next to the
 * project's own matcher that the unit tests use: the two must agree. moto 5.2's TestEventPattern
 * answers nothing (see gaps.ts), so EventBridge judges the way it does in a deployment: each rule
 * is put on moto's default bus with a CloudWatch Logs target, each fixture is put as an event,
 * and a rule matched it when its log group received it.
 */

const motoUrl = inject("motoUrl");
const FIXTURES = ["tests/fixtures/events", "../shared/fixtures/events"];
const tally = { pairs: 0, agreed: 0 };

function fixtures(): [string, Record<string, unknown>][] {
  return FIXTURES.filter((dir) => existsSync(dir)).flatMap((dir) =>
    readdirSync(dir)
      .filter((file) => file.endsWith(".json"))
      .map((file): [string, Record<string, unknown>] => [
        `${dir}/${file}`,
        JSON.parse(readFileSync(`${dir}/${file}`, "utf8")),
      ]),
  );
}

/**
 * Lifecycle events that succeeded start an onboarding (or, an account closed or removed, an
 * offboarding); failures and other events start nothing.
 */
const starts = (fixture: string) => !/-failed\.json$|register-organizational-unit/.test(fixture);

describe.skipIf(!motoUrl)(`the vending rules under EventBridge${motoUrl ? "" : ` (${MOTO_MISSING})`}`, () => {
  const config = { region: "us-east-1", endpoint: motoUrl };
  const [events, logs] = [new EventBridgeClient(config), new CloudWatchLogsClient(config)];
  // Read once the suite runs: where it is skipped, nothing was packaged.
  let rules: { id: string; pattern: unknown; logGroup: string }[] = [];
  const received = new Map<string, number>();

  beforeAll(async () => {
    rules = resourcesOfType(packagedTemplate(), "AWS::Events::Rule").map(([id, rule], n) => ({
      id,
      pattern: rule.Properties.EventPattern,
      logGroup: `rule-${n}`,
    }));
    await resetMoto(motoUrl);
    const { Account } = await new STSClient(config).send(new GetCallerIdentityCommand({}));
    for (const rule of rules) {
      await logs.send(new CreateLogGroupCommand({ logGroupName: rule.logGroup }));
      await events.send(
        new PutRuleCommand({ Name: rule.logGroup, EventPattern: JSON.stringify(rule.pattern) }),
      );
      const Arn = `arn:aws:logs:us-east-1:${Account}:log-group:${rule.logGroup}`;
      await events.send(new PutTargetsCommand({ Rule: rule.logGroup, Targets: [{ Id: "log", Arn }] }));
    }
  });

  /** How many events the rule's log group holds now. */
  const delivered = async (logGroup: string) =>
    (await logs.send(new FilterLogEventsCommand({ logGroupName: logGroup }))).events?.length ?? 0;

  /** Puts the event on the default bus; answers the rules that delivered it. */
  async function matchedBy(event: Record<string, unknown>): Promise<string[]> {
    const entry = {
      Source: String(event.source),
      DetailType: String(event["detail-type"]),
      Detail: JSON.stringify(event.detail),
      Resources: (event.resources as string[] | undefined) ?? [],
    };
    const put = await events.send(new PutEventsCommand({ Entries: [entry] }));
    expect(put.FailedEntryCount ?? 0).toBe(0);
    const matched: string[] = [];
    for (const rule of rules) {
      const count = await delivered(rule.logGroup);
      if (count > (received.get(rule.logGroup) ?? 0)) matched.push(rule.id);
      received.set(rule.logGroup, count);
    }
    return matched;
  }

  afterAll(() => {
    appendFileSync(
      inject("tallyFile"),
      `event patterns: ${tally.pairs} (rule, event) pairs judged by moto's EventBridge and by tests/support/event-pattern.ts; ${tally.agreed} agreed\n`,
    );
  });

  it("reads the project's eleven fixtures and the five rules (three vending, two offboarding)", () => {
    expect(fixtures().length).toBeGreaterThanOrEqual(11);
    expect(rules).toHaveLength(5);
  });

  it.each(fixtures())("%s: the matcher and EventBridge pick the same rules", async (fixture, event) => {
    const byEventBridge = await matchedBy(event);
    const byMatcher = rules.filter((rule) => matchesPattern(event, rule.pattern)).map((rule) => rule.id);
    tally.pairs += rules.length;
    tally.agreed += rules.filter((r) => byEventBridge.includes(r.id) === byMatcher.includes(r.id)).length;

    expect(byMatcher).toEqual(byEventBridge);
    expect(byEventBridge).toHaveLength(starts(fixture) ? 1 : 0);
  });
});
