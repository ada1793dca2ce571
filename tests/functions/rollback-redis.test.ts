import { DeleteAccessKeyCommand, DeleteUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { RegistrationRecord } from "../../functions/lib/registry.ts";
import type { Change } from "../../functions/lib/step.ts";
import { type RollbackDeps, rollback } from "../../functions/rollback.ts";
import {
  CREDENTIALS,
  type FakeAnswer,
  fakeRedisApi,
  runningRegistry,
  updateRecord,
} from "../local/redis-cloud/fixtures.ts";
import { EXECUTION, HOME, stepInput, TARGET } from "../support/aws.ts";

/*
 * The rollback's dealings with Redis Cloud, against a scripted API: a key an update gave Redis is
 * never deleted, and a request whose answer was lost is traced through Redis's task list.
 */

const iamMock = mockClient(IAMClient);
const secretsMock = mockClient(SecretsManagerClient);

const USER = "redislabs-user";
const NEW_KEY = CREDENTIALS.accessKeyId;
const REQUESTED_AT = "2026-03-01T10:00:00.000Z";
const _sinceRequest = (seconds: number) => new Date(Date.parse(REQUESTED_AT) + seconds * 1000).toISOString();

let registry: Awaited<ReturnType<typeof runningRegistry>>;

beforeEach(async () => {
  iamMock.reset();
  secretsMock.reset();
  iamMock.on(DeleteAccessKeyCommand).resolves({});
  registry = await runningRegistry();
});

async function runRollback(
  registration: RegistrationRecord,
  changes: Change[],
  routes: Record<string, FakeAnswer | FakeAnswer[]> = {},
) {
  await registry.registry.recordRegistration(TARGET, registration);
  for (const change of changes) await registry.registry.recordChange(TARGET, EXECUTION, change);
  const api = fakeRedisApi(routes);
  const deps: RollbackDeps = {
    iam: new IAMClient({}),
    secrets: new SecretsManagerClient({}),
    home: HOME,
    config: { secretNamePrefix: "redis-cloud/byoc/" },
    registry: registry.registry,
  };
  const result = await rollback(stepInput(), deps);
  return { result, api };
}

const deletedKeys = () =>
  iamMock.commandCalls(DeleteAccessKeyCommand).map((call) => call.args[0].input.AccessKeyId);

describe("the rollback of a run that gave an existing cloud account a new key", () => {
  const UPDATE: RegistrationRecord = updateRecord({ requestedAt: REQUESTED_AT });

  it("never deletes the key Redis was asked to use: leaves it behind, saying why, and undoes the rest", async () => {
    // Act
    const { result, api } = await runRollback(UPDATE, [
      { type: "AccessKey", user: USER, accessKeyId: NEW_KEY },
      { type: "AccessKey", user: USER, accessKeyId: "AKIAEXAMPLE000000999" },
    ]);

    // Assess
    expect(deletedKeys()).toEqual(["AKIAEXAMPLE000000999"]);
    expect(result.undone).toEqual([`AccessKey ${USER} AKIAEXAMPLE000000999`]);
    expect(result.leftBehind).toEqual([
      {
        change: `AccessKey ${USER} ${NEW_KEY}`,
        error: expect.stringMatching(
          /^KeyInUse: Rollback: access key \S+ was given to Redis Cloud cloud account 17 \(task t-upd\)/,
        ),
      },
    ]);
    // The cloud account existed before the run: nothing at Redis is touched.
    expect(api.calls).toEqual([]);
  });

  it("keeps the user that holds that key too: deleting a user deletes its keys", async () => {
    // Act
    const { result } = await runRollback(UPDATE, [
      { type: "User", name: USER },
      { type: "AccessKey", user: USER, accessKeyId: NEW_KEY },
    ]);

    // Assess
    expect(iamMock.commandCalls(DeleteUserCommand)).toEqual([]);
    expect(deletedKeys()).toEqual([]);
    expect(result.leftBehind.map((left) => left.change).sort()).toEqual(
      [`AccessKey ${USER} ${NEW_KEY}`, `User ${USER}`].sort(),
    );
  });

  it("deletes this run's key as before when its registration was a create", async () => {
    // Act
    const { result } = await runRollback(
      { ...UPDATE, kind: "create", origin: "found", previousAccessKeyId: undefined } as RegistrationRecord,
      [{ type: "AccessKey", user: USER, accessKeyId: NEW_KEY }],
    );

    // Assess
    expect(deletedKeys()).toEqual([NEW_KEY]);
    expect(result.leftBehind).toEqual([]);
  });
});
