import {
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  IAMClient,
  ListPolicyVersionsCommand,
  type PolicyVersion,
} from "@aws-sdk/client-iam";
import type { AwsClientStub } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import type { Home } from "../../functions/lib/aws.ts";
import { isTransientName, WorkflowError } from "../../functions/lib/errors.ts";
import type { PolicyStepResult } from "../../functions/lib/policy-step.ts";
import type { ChangeRecorder } from "../../functions/lib/registry.ts";
import { type Change, PlanSink, type StepInput } from "../../functions/lib/step.ts";
import {
  adoptingInput,
  arnIn,
  awsError,
  EXECUTION,
  encoded,
  FOREIGN_TAGS,
  HOME,
  NO_REGISTRY,
  ourTags,
  ownedRegistry,
  rejectionOf,
  sentCommands,
  stepInput,
  TARGET,
  type Tag,
  writeCommands,
  writesAtEachAdoption,
} from "./aws.ts";

interface PolicyDocument {
  Version: string;
  Statement: Record<string, unknown>[];
}

export interface PolicyStepCase {
  iamMock: AwsClientStub<IAMClient>;
  step: string;
  policyName: string;
  /** The document shipped in policies/. */
  document: unknown;
  run: (
    input: StepInput,
    deps: { iam: IAMClient; home: Home; registry: ChangeRecorder; plan?: PlanSink },
  ) => Promise<PolicyStepResult>;
}

/** The same document as IAM could hand it back: other key and statement order, lists vs strings. */
function reformatted(document: PolicyDocument): string {
  const flip = (value: unknown): unknown => {
    if (!Array.isArray(value)) return [value];
    return value.length === 1 ? value[0] : [...value].reverse();
  };
  const statements = document.Statement.map((statement) =>
    Object.fromEntries(
      Object.entries(statement)
        .reverse()
        .map(([key, value]) => [key, key === "Action" || key === "Resource" ? flip(value) : value]),
    ),
  ).reverse();
  return encodeURIComponent(JSON.stringify({ Statement: statements, Version: document.Version }, null, 4));
}

/** Every behaviour of a step that reconciles one of the two managed policies Redis ships. */
export function describePolicyStep({ iamMock, step, policyName, document, run }: PolicyStepCase) {
  const arn = arnIn(TARGET, `policy/${policyName}`);
  const shipped = document as PolicyDocument;
  const drifted: PolicyDocument = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: "ec2:*", Resource: "*" }],
  };
  const act = (registry: ChangeRecorder = NO_REGISTRY, input = stepInput(), plan?: PlanSink) =>
    run(input, { iam: new IAMClient({}), home: HOME, registry, ...(plan ? { plan } : {}) });
  /** The registry of an account an earlier run made the policy in. */
  const ownsPolicy = () => ownedRegistry([{ type: "Policy", arn }]).registry;
  const policyVersion = (versionId: string, previousDefaultVersionId: string): Change => ({
    type: "PolicyVersion",
    arn,
    versionId,
    previousDefaultVersionId,
  });

  function policyExists(options: { document?: string; tags?: Tag[]; defaultVersion?: string } = {}) {
    const defaultVersion = options.defaultVersion ?? "v3";
    iamMock.on(GetPolicyCommand, { PolicyArn: arn }).resolves({
      Policy: {
        PolicyName: policyName,
        Arn: arn,
        DefaultVersionId: defaultVersion,
        Tags: options.tags ?? FOREIGN_TAGS,
      },
    });
    iamMock.on(GetPolicyVersionCommand, { PolicyArn: arn, VersionId: defaultVersion }).resolves({
      PolicyVersion: {
        Document: options.document ?? encoded(shipped),
        VersionId: defaultVersion,
        IsDefaultVersion: true,
      },
    });
  }

  const version = (id: string, day: number, isDefault = false): PolicyVersion => ({
    VersionId: id,
    IsDefaultVersion: isDefault,
    CreateDate: new Date(Date.UTC(2024, 0, day)),
  });

  describe(`${step} (${policyName})`, () => {
    it("creates the policy with the shipped document and our tags in a fresh account", async () => {
      // Prepare
      iamMock.on(GetPolicyCommand).rejects(awsError.noSuchEntity());
      iamMock
        .on(CreatePolicyCommand)
        .resolves({ Policy: { PolicyName: policyName, Arn: arn, DefaultVersionId: "v1" } });

      // Act
      const result = await act();

      // Assess
      expect(iamMock).toHaveReceivedCommandTimes(CreatePolicyCommand, 1);
      expect(iamMock).toHaveReceivedCommandWith(CreatePolicyCommand, {
        PolicyName: policyName,
        Tags: [
          { Key: "ManagedBy", Value: "redis-cloud-byoc-onboarding" },
          { Key: "redis-cloud-byoc:execution", Value: EXECUTION },
        ],
      });
      const sent = iamMock.commandCalls(CreatePolicyCommand)[0]?.args[0].input.PolicyDocument;
      expect(JSON.parse(sent ?? "null")).toEqual(shipped);
      expect(result).toEqual({ policyArn: arn, changes: [{ type: "Policy", arn }], found: [] });
    });

    it("sends no write at all when the policy exists with the shipped document", async () => {
      // Prepare
      policyExists();

      // Act
      const result = await act();

      // Assess
      expect(writeCommands(iamMock)).toEqual([]);
      expect(iamMock).toHaveReceivedCommandWith(GetPolicyVersionCommand, { PolicyArn: arn, VersionId: "v3" });
      expect(result).toEqual({ policyArn: arn, changes: [], found: [`policy ${arn}`] });
    });

    it("treats a differently formatted and ordered but equal document as matching", async () => {
      // Prepare
      const document = reformatted(shipped);
      expect(decodeURIComponent(document)).not.toContain(JSON.stringify(shipped.Statement[0]));
      policyExists({ document });

      // Act
      const result = await act();

      // Assess
      expect(writeCommands(iamMock)).toEqual([]);
      expect(result.found).toEqual([`policy ${arn}`]);
    });

    it("makes the shipped document the new default version of a drifted policy", async () => {
      // Prepare
      policyExists({ document: encoded(drifted), defaultVersion: "v2" });
      iamMock
        .on(ListPolicyVersionsCommand)
        .resolves({ Versions: [version("v2", 2, true), version("v1", 1)] });
      iamMock
        .on(CreatePolicyVersionCommand)
        .resolves({ PolicyVersion: { VersionId: "v3", IsDefaultVersion: true } });

      // Act
      const result = await act(ownsPolicy());

      // Assess
      expect(iamMock).toHaveReceivedCommandWith(CreatePolicyVersionCommand, {
        PolicyArn: arn,
        SetAsDefault: true,
      });
      const sent = iamMock.commandCalls(CreatePolicyVersionCommand)[0]?.args[0].input.PolicyDocument;
      expect(JSON.parse(sent ?? "null")).toEqual(shipped);
      expect(writeCommands(iamMock)).toEqual(["CreatePolicyVersionCommand"]);
      expect(result.changes).toEqual([
        { type: "PolicyVersion", arn, versionId: "v3", previousDefaultVersionId: "v2" },
      ]);
      expect(result.found).toEqual([]);
    });

    it("deletes the oldest non-default version before adding one when the five versions are in use", async () => {
      // Prepare: the default is the oldest version, so it is the one that must be spared.
      policyExists({ document: encoded(drifted), defaultVersion: "v1" });
      iamMock.on(ListPolicyVersionsCommand).resolves({
        Versions: [
          version("v4", 4),
          version("v1", 1, true),
          version("v3", 3),
          version("v5", 5),
          version("v2", 2),
        ],
      });
      iamMock.on(DeletePolicyVersionCommand).resolves({});
      iamMock
        .on(CreatePolicyVersionCommand)
        .resolves({ PolicyVersion: { VersionId: "v6", IsDefaultVersion: true } });

      // Act
      const result = await act(ownsPolicy());

      // Assess
      expect(iamMock).toHaveReceivedCommandTimes(DeletePolicyVersionCommand, 1);
      expect(iamMock).toHaveReceivedCommandWith(DeletePolicyVersionCommand, {
        PolicyArn: arn,
        VersionId: "v2",
      });
      expect(writeCommands(iamMock)).toEqual(["DeletePolicyVersionCommand", "CreatePolicyVersionCommand"]);
      expect(result.changes).toEqual([
        { type: "PolicyVersion", arn, versionId: "v6", previousDefaultVersionId: "v1" },
      ]);
    });

    it("re-reads and succeeds when a concurrent run creates the policy first", async () => {
      // Prepare
      iamMock
        .on(GetPolicyCommand)
        .rejectsOnce(awsError.noSuchEntity())
        .resolves({
          Policy: { PolicyName: policyName, Arn: arn, DefaultVersionId: "v1", Tags: ourTags("other-run") },
        });
      iamMock
        .on(GetPolicyVersionCommand)
        .resolves({ PolicyVersion: { Document: encoded(shipped), VersionId: "v1" } });
      iamMock.on(CreatePolicyCommand).rejects(awsError.alreadyExists());

      // Act
      const result = await act();

      // Assess
      expect(iamMock).toHaveReceivedCommandTimes(CreatePolicyCommand, 1);
      expect(iamMock).toHaveReceivedCommandTimes(GetPolicyCommand, 2);
      expect(writeCommands(iamMock)).toEqual(["CreatePolicyCommand"]);
      expect(result).toEqual({ policyArn: arn, changes: [], found: [`policy ${arn}`] });
    });

    it("fails with LimitExceeded naming the step and the policy when IAM's quota is reached", async () => {
      // Prepare
      iamMock.on(GetPolicyCommand).rejects(awsError.noSuchEntity());
      iamMock
        .on(CreatePolicyCommand)
        .rejects(awsError.limitExceeded("Cannot exceed quota for PoliciesPerAccount"));

      // Act
      const error = await rejectionOf(act());

      // Assess
      expect(error).toBeInstanceOf(WorkflowError);
      expect(error.name).toBe("LimitExceeded");
      expect(error.message).toContain(step);
      expect(error.message).toContain(arn);
    });

    it.each([
      ["ServiceFailure", awsError.serviceFailure],
      ["Throttling", awsError.throttling],
      ["Throttling", awsError.throttlingByShape],
      ["ConcurrentModification", awsError.concurrentModification],
    ])("fails with the transient %s when the new version is refused that way", async (expected, error) => {
      // Prepare
      policyExists({ document: encoded(drifted) });
      iamMock.on(ListPolicyVersionsCommand).resolves({ Versions: [version("v3", 3, true)] });
      iamMock.on(CreatePolicyVersionCommand).rejects(error());

      // Act
      const failure = await rejectionOf(act(ownsPolicy()));

      // Assess
      expect(failure).toBeInstanceOf(WorkflowError);
      expect(failure.name).toBe(expected);
      expect(isTransientName(failure.name)).toBe(true);
      expect(failure.message).toContain(`${step}: CreatePolicyVersion ${arn}`);
    });

    it("fails with the transient ServiceFailure when the policy cannot be read", async () => {
      // Prepare
      iamMock.on(GetPolicyCommand).rejects(awsError.serviceFailure());

      // Act
      const failure = await rejectionOf(act());

      // Assess
      expect(failure.name).toBe("ServiceFailure");
      expect(sentCommands(iamMock)).toEqual(["GetPolicyCommand"]);
    });

    it("reports a matching policy left by an earlier attempt of this execution as a change", async () => {
      // Prepare
      policyExists({ tags: ourTags(EXECUTION) });

      // Act
      const result = await act();

      // Assess
      expect(writeCommands(iamMock)).toEqual([]);
      expect(result.changes).toEqual([{ type: "Policy", arn }]);
      expect(result.found).toEqual([]);
    });

    it("refuses a drifted policy it did not make with ForeignResource naming it and its default version, writing nothing", async () => {
      // Prepare
      policyExists({ document: encoded(drifted), defaultVersion: "v2" });
      iamMock
        .on(ListPolicyVersionsCommand)
        .resolves({ Versions: [version("v2", 2, true), version("v1", 1)] });
      const { registry, recorded } = ownedRegistry();

      // Act
      const error = await rejectionOf(act(registry));

      // Assess
      expect(error).toBeInstanceOf(WorkflowError);
      expect(error.name).toBe("ForeignResource");
      expect(error.message).toContain(`${step}: `);
      expect(error.message).toContain(
        `policy ${arn} (its default version v2 is not the document Redis requires)`,
      );
      expect(error.message).toContain('"adopt": true');
      expect(writeCommands(iamMock)).toEqual([]);
      expect(recorded).toEqual([]);
    });

    it("adopts a drifted policy it did not make when the input says adopt: its default version recorded first, then a new one", async () => {
      // Prepare
      policyExists({ document: encoded(drifted), defaultVersion: "v2" });
      iamMock
        .on(ListPolicyVersionsCommand)
        .resolves({ Versions: [version("v2", 2, true), version("v1", 1)] });
      iamMock.on(CreatePolicyVersionCommand).resolves({ PolicyVersion: { VersionId: "v3" } });
      const { registry, recorded } = ownedRegistry();
      const writesBefore = writesAtEachAdoption(registry, iamMock);

      // Act
      const result = await act(registry, adoptingInput());

      // Assess
      expect(writesBefore).toEqual([[]]);
      expect(writeCommands(iamMock)).toEqual(["CreatePolicyVersionCommand"]);
      expect(recorded).toEqual([
        {
          change: { type: "Policy", arn },
          origin: "adopted",
          prior: JSON.stringify({ defaultVersionId: "v2" }),
        },
        { change: policyVersion("v3", "v2"), origin: "created" },
      ]);
      expect(result.changes).toEqual([policyVersion("v3", "v2")]);
      expect(result.adopted).toEqual([`policy ${arn}`]);
    });

    it("refuses to adopt a drifted foreign policy with IAM's five versions, deleting none", async () => {
      // Prepare
      policyExists({ document: encoded(drifted), defaultVersion: "v5" });
      iamMock.on(ListPolicyVersionsCommand).resolves({
        Versions: [1, 2, 3, 4, 5].map((day) => version(`v${day}`, day, day === 5)),
      });
      const { registry, recorded } = ownedRegistry();

      // Act
      const error = await rejectionOf(act(registry, adoptingInput()));

      // Assess
      expect(error.name).toBe("ForeignResource");
      expect(error.message).toContain("it has IAM's 5 versions, and a new one would delete one for good");
      expect(error.message).toContain("change these by hand");
      expect(writeCommands(iamMock)).toEqual([]);
      expect(recorded).toEqual([]);
    });

    it("uses a policy it did not make that holds the shipped document, recording no adoption", async () => {
      // Prepare
      policyExists({ tags: FOREIGN_TAGS });
      const { registry, recorded } = ownedRegistry();

      // Act
      const result = await act(registry, adoptingInput());

      // Assess
      expect(writeCommands(iamMock)).toEqual([]);
      expect(recorded).toEqual([]);
      expect(result).toEqual({ policyArn: arn, changes: [], found: [`policy ${arn}`] });
    });

    it("in a plan sends no write and lists the writes the run makes on its own full policy", async () => {
      // Prepare
      const fullDriftedPolicy = () => {
        policyExists({ document: encoded(drifted), defaultVersion: "v1" });
        iamMock.on(ListPolicyVersionsCommand).resolves({
          Versions: [1, 2, 3, 4, 5].map((day) => version(`v${day}`, day, day === 1)),
        });
        iamMock.on(DeletePolicyVersionCommand).resolves({});
        iamMock.on(CreatePolicyVersionCommand).resolves({ PolicyVersion: { VersionId: "v6" } });
      };
      fullDriftedPolicy();
      await act(ownsPolicy());
      const made = writeCommands(iamMock).map((name) => name.replace(/Command$/, ""));
      iamMock.reset();
      fullDriftedPolicy();
      const plan = new PlanSink();

      // Act
      const result = await act(ownsPolicy(), stepInput(), plan);

      // Assess
      expect(made).toEqual(["DeletePolicyVersion", "CreatePolicyVersion"]);
      expect(writeCommands(iamMock)).toEqual([]);
      expect(plan.writes.map((write) => write.operation)).toEqual(made);
      expect(plan.writes[1]).toMatchObject({
        step,
        kind: "change",
        resource: arn,
        before: drifted,
        after: shipped,
      });
      expect(plan.findings).toEqual([]);
      expect(result.changes).toEqual([policyVersion("(new version)", "v1")]);
    });

    it("in a plan lists a drifted foreign policy as a finding instead of stopping", async () => {
      // Prepare
      policyExists({ document: encoded(drifted), defaultVersion: "v2" });
      iamMock
        .on(ListPolicyVersionsCommand)
        .resolves({ Versions: [version("v2", 2, true), version("v1", 1)] });
      const plan = new PlanSink();

      // Act
      await act(NO_REGISTRY, stepInput(), plan);

      // Assess
      expect(writeCommands(iamMock)).toEqual([]);
      expect(plan.findings).toEqual([
        {
          step,
          resource: `policy ${arn}`,
          differences: ["its default version v2 is not the document Redis requires"],
        },
      ]);
      expect(plan.writes.map((write) => write.operation)).toEqual(["CreatePolicyVersion"]);
    });

    it("reports a policy tagged by another execution as found", async () => {
      // Prepare
      policyExists({ tags: ourTags("an-earlier-execution") });

      // Act
      const result = await act();

      // Assess
      expect(result.changes).toEqual([]);
      expect(result.found).toEqual([`policy ${arn}`]);
    });
  });
}
