export type { AccountSnapshot } from "./snapshot.ts";
export type { AccountState, InstanceProfile, Policy, Role, Secret, Service, Tag, User } from "./state.ts";
export { awsError } from "./state.ts";
export type { Credentials, FakeAwsOptions, FakeCall, FakeClientFactory } from "./world.ts";
export { FakeAws, isWrite } from "./world.ts";
