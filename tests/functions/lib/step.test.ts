import { describe, expect, it } from "vitest";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { isAlreadyExists, isNotFound, StepRecorder } from "../../../functions/lib/step.ts";
import { awsError, EXECUTION, FOREIGN_TAGS, ourTags, rejectionOf } from "../../support/aws.ts";

const recorder = () => new StepRecorder("EnsureThing", EXECUTION);

describe("StepRecorder", () => {
  it("tags what it creates with ManagedBy and the execution's name", () => {
    // Assess
    expect(recorder().tags).toEqual([
      { Key: "ManagedBy", Value: "redis-cloud-byoc-onboarding" },
      { Key: "redis-cloud-byoc:execution", Value: EXECUTION },
    ]);
  });

  it("knows a resource tagged with this execution as made by this run, and no other", () => {
    // Prepare
    const rec = recorder();

    // Assess
    expect(rec.createdByThisRun(ourTags(EXECUTION))).toBe(true);
    expect(rec.createdByThisRun(ourTags("another-execution"))).toBe(false);
    expect(rec.createdByThisRun(FOREIGN_TAGS)).toBe(false);
    expect(rec.createdByThisRun(undefined)).toBe(false);
  });

  it("reports an existing resource of this run as a change and any other as found", () => {
    // Prepare
    const rec = recorder();

    // Act
    rec.existing("role mine", ourTags(EXECUTION), { type: "Role", name: "mine" });
    rec.existing("role theirs", ourTags("another-execution"), { type: "Role", name: "theirs" });

    // Assess
    expect(rec.report()).toEqual({ changes: [{ type: "Role", name: "mine" }], found: ["role theirs"] });
  });

  it("keeps changes in the order they were recorded", () => {
    // Prepare
    const rec = recorder();

    // Act
    rec.record({ type: "User", name: "u" });
    rec.record({ type: "AccessKey", user: "u", accessKeyId: "AKIA1" });

    // Assess
    expect(rec.report().changes.map((c) => c.type)).toEqual(["User", "AccessKey"]);
  });

  it("answers what a call answers", async () => {
    // Assess
    await expect(recorder().call("GetUser", "u", async () => "answer")).resolves.toBe("answer");
  });

  it("turns a failed call into a WorkflowError naming the step, the operation and the resource", async () => {
    // Act
    const error = await rejectionOf(
      recorder().call("CreateUser", "redislabs-user", () => Promise.reject(awsError.throttling())),
    );

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("Throttling");
    expect(error.message).toMatch(/^EnsureThing: CreateUser redislabs-user failed \(Throttling: /);
  });

  it.each([
    ["IAM's NoSuchEntityException", awsError.noSuchEntity()],
    ["Secrets Manager's ResourceNotFoundException", awsError.secretNotFound()],
  ])("reads %s as absent", async (_case, error) => {
    // Assess
    await expect(recorder().read("Get", "r", () => Promise.reject(error))).resolves.toBeUndefined();
  });

  it("does not take another failure of a read for absence", async () => {
    // Act
    const error = await rejectionOf(
      recorder().read("GetRole", "r", () => Promise.reject(awsError.accessDenied())),
    );

    // Assess
    expect(error.name).toBe("AccessDenied");
  });

  it.each([
    ["IAM's EntityAlreadyExistsException", awsError.alreadyExists()],
    ["Secrets Manager's ResourceExistsException", awsError.secretExists()],
  ])("answers undefined when a create meets %s", async (_case, error) => {
    // Assess
    await expect(recorder().create("Create", "r", () => Promise.reject(error))).resolves.toBeUndefined();
  });

  it("lets any other failure of a create through as a WorkflowError", async () => {
    // Act
    const error = await rejectionOf(
      recorder().create("CreateRole", "r", () => Promise.reject(awsError.limitExceeded())),
    );

    // Assess
    expect(error.name).toBe("LimitExceeded");
    expect(error.message).toContain("EnsureThing: CreateRole r");
  });
});

describe("isNotFound and isAlreadyExists", () => {
  it("do not mistake one for the other or a plain object for an error", () => {
    // Assess
    expect(isNotFound(awsError.alreadyExists())).toBe(false);
    expect(isAlreadyExists(awsError.noSuchEntity())).toBe(false);
    expect(isNotFound({ name: "NoSuchEntityException" })).toBe(false);
    expect(isAlreadyExists(undefined)).toBe(false);
  });
});
