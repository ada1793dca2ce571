import {
  DeleteConflictException,
  IAMServiceException,
  MalformedPolicyDocumentException,
} from "@aws-sdk/client-iam";
import { describe, expect, it } from "vitest";
import {
  classifyAwsError,
  describeAwsFailure,
  invalidInput,
  isPrintableFieldName,
  isTransientName,
  PERMANENT_ERRORS,
  retryTransient,
  TRANSIENT_ERRORS,
  WorkflowError,
} from "../../../functions/lib/errors.ts";
import { awsError } from "../../support/aws.ts";

const meta = { $metadata: {} };

/** An error as the SDK raises it for a status code and no modelled exception. */
const unmodelled = (name: string, httpStatusCode: number) =>
  new IAMServiceException({
    name,
    $fault: httpStatusCode >= 500 ? "server" : "client",
    message: name,
    $metadata: { httpStatusCode },
  });

describe("classifyAwsError", () => {
  it.each([
    ["NoSuchEntityException", awsError.noSuchEntity(), "NoSuchEntity"],
    ["EntityAlreadyExistsException", awsError.alreadyExists(), "ResourceConflict"],
    ["LimitExceededException", awsError.limitExceeded(), "LimitExceeded"],
    [
      "DeleteConflictException",
      new DeleteConflictException({ message: "in use", ...meta }),
      "ResourceConflict",
    ],
    [
      "MalformedPolicyDocumentException",
      new MalformedPolicyDocumentException({ message: "bad", ...meta }),
      "MalformedPolicy",
    ],
    ["AccessDenied (STS/IAM code)", awsError.accessDenied(), "AccessDenied"],
    ["Secrets Manager's ResourceNotFoundException", awsError.secretNotFound(), "NoSuchEntity"],
  ])("makes %s a permanent error", (_case, error, expected) => {
    // Act
    const name = classifyAwsError(error);

    // Assess
    expect(name).toBe(expected);
    expect(PERMANENT_ERRORS as readonly string[]).toContain(name);
    expect(isTransientName(name)).toBe(false);
  });

  it.each([
    ["ServiceFailureException", awsError.serviceFailure(), "ServiceFailure"],
    ["ConcurrentModificationException", awsError.concurrentModification(), "ConcurrentModification"],
    ["a Throttling error", awsError.throttling(), "Throttling"],
    ["a 429 with the retryable throttling trait", awsError.throttlingByShape(), "Throttling"],
    ["a bare 429", unmodelled("Whatever", 429), "Throttling"],
    [
      "the retryable throttling trait alone",
      Object.assign(new Error("slow"), { $retryable: { throttling: true } }),
      "Throttling",
    ],
    ["a 503", unmodelled("ServiceUnavailable", 503), "ServiceFailure"],
    ["a 500 without a known code", unmodelled("InternalFailure", 500), "ServiceFailure"],
    [
      "a connection reset",
      Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
      "ServiceFailure",
    ],
    ["a request timeout", Object.assign(new Error("timed out"), { name: "TimeoutError" }), "ServiceFailure"],
  ])("makes %s a transient error", (_case, error, expected) => {
    // Act
    const name = classifyAwsError(error);

    // Assess
    expect(name).toBe(expected);
    expect(isTransientName(name)).toBe(true);
  });

  it("keeps the name of a WorkflowError", () => {
    // Assess
    expect(classifyAwsError(new WorkflowError("KeyNotPropagated", "wait"))).toBe("KeyNotPropagated");
  });

  it.each([
    ["a programming error", new TypeError("x is undefined")],
    ["a 400 with an unknown code", unmodelled("ValidationError", 400)],
    ["a thrown string", "boom"],
    ["undefined", undefined],
  ])("makes %s an UnexpectedError", (_case, error) => {
    // Assess
    expect(classifyAwsError(error)).toBe("UnexpectedError");
  });
});

describe("describeAwsFailure", () => {
  it("names the step, the operation, the resource and the AWS error", () => {
    // Act
    const error = describeAwsFailure(
      "EnsureUser",
      "CreateUser",
      "redislabs-user",
      awsError.limitExceeded("quota"),
    );

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("LimitExceeded");
    expect(error.message).toBe(
      "EnsureUser: CreateUser redislabs-user failed (LimitExceededException: quota)",
    );
  });

  it("passes a WorkflowError through unchanged", () => {
    // Prepare
    const original = new WorkflowError("ResourceConflict", "already taken");

    // Assess
    expect(describeAwsFailure("S", "Op", "r", original)).toBe(original);
  });

  it("describes a value that is not an Error", () => {
    // Act
    const error = describeAwsFailure("S", "Op", "r", "socket closed");

    // Assess
    expect(error.name).toBe("UnexpectedError");
    expect(error.message).toBe("S: Op r failed (socket closed)");
  });
});

describe("error names", () => {
  it("are either transient or permanent, never both", () => {
    // Assess
    const both = TRANSIENT_ERRORS.filter((name) => (PERMANENT_ERRORS as readonly string[]).includes(name));
    expect(both).toEqual([]);
    expect(TRANSIENT_ERRORS.slice(0, 3)).toEqual(["Throttling", "ServiceFailure", "ConcurrentModification"]);
  });

  it("builds an InvalidInput error that starts with the field", () => {
    // Act
    const error = invalidInput("accountId", "must be 12 digits");

    // Assess
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toBe("accountId: must be 12 digits");
    expect(error).toBeInstanceOf(Error);
  });
});

describe("isPrintableFieldName", () => {
  it("repeats plain field names", () => {
    for (const name of ["accountId", "secretAccessKey", "account_name", "x-amz-date"]) {
      expect(isPrintableFieldName(name), name).toBe(true);
    }
  });

  it("withholds names that look like credentials or are not plain names", () => {
    const withheld = [
      "AKIAIOSFODNN7EXAMPLE",
      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      "0123456789abcdef0123456789abcdef",
      "__proto__",
      "a".repeat(41),
      "Zx81Kq29Lm03Pw77",
      "",
    ];
    for (const name of withheld) expect(isPrintableFieldName(name), name).toBe(false);
  });
});

describe("retryTransient", () => {
  it("tries a call again while it fails transiently, and answers its first success", async () => {
    let calls = 0;
    const answer = await retryTransient(
      async () => {
        calls += 1;
        if (calls < 3) throw new WorkflowError("Throttling", "Test: slow down");
        return "done";
      },
      3,
      1,
    );

    expect(answer).toBe("done");
    expect(calls).toBe(3);
  });

  it("gives up after its tries with the last error, and never retries a permanent one", async () => {
    let transientCalls = 0;
    const throttled = retryTransient(
      async () => {
        transientCalls += 1;
        throw new WorkflowError("ServiceFailure", "Test: down");
      },
      2,
      1,
    );
    await expect(throttled).rejects.toMatchObject({ name: "ServiceFailure" });
    expect(transientCalls).toBe(2);

    let permanentCalls = 0;
    const denied = retryTransient(async () => {
      permanentCalls += 1;
      throw new WorkflowError("AccessDenied", "Test: denied");
    });
    await expect(denied).rejects.toMatchObject({ name: "AccessDenied" });
    expect(permanentCalls).toBe(1);
  });
});
