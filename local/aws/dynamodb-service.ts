import type { DeleteItemInput, FakeDynamoDB, GetItemInput, PutItemInput } from "./dynamodb.ts";
import type { AccountState } from "./state.ts";

/*
 * DynamoDB as the functions' SDK clients reach it: the same in-memory tables the state machine's
 * service integrations write (the account's `dynamodb`), so that a Lambda's calls are logged and
 * authorized like IAM's and Secrets Manager's. `ConsistentRead` changes nothing here: the fake
 * is always consistent.
 */

type Handler = (a: AccountState, input: never) => object | undefined;

export const dynamodbHandlers: Record<string, Handler | undefined> = {
  GetItem: (a, input: GetItemInput) => a.dynamodb.getItem({ TableName: input.TableName, Key: input.Key }),
  PutItem: (a, input: PutItemInput) => a.dynamodb.putItem(input),
  DeleteItem: (a, input: DeleteItemInput) => a.dynamodb.deleteItem(input),
  Scan: (a, input: Parameters<FakeDynamoDB["scan"]>[0]) => a.dynamodb.scan(input),
};
