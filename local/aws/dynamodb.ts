import {
  ConditionalCheckFailedException,
  DynamoDBServiceException,
  ResourceNotFoundException,
} from "@aws-sdk/client-dynamodb";

/*
 * An in-memory DynamoDB: tables keyed by a partition key (and an optional sort key), PutItem,
 * DeleteItem and GetItem with condition expressions. Each call decides without awaiting, so that
 * concurrent callers in one process are serialized as DynamoDB serializes writes to one item.
 * Expired items stay until deleted: DynamoDB's TTL deletes lazily, so conditions must check expiry.
 */

/**
 * An attribute value in the JSON form Step Functions and the SDK's wire protocol carry: numbers
 * as decimal strings, binaries as base64 (a Uint8Array is taken too).
 */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { B: string | Uint8Array }
  | { BOOL: boolean }
  | { NULL: true }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: (string | Uint8Array)[] }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> };

export type Item = Record<string, AttributeValue>;

export interface KeyAttribute {
  name: string;
  type: "S" | "N" | "B";
}

export interface KeySchema {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
}

export interface ConditionInput {
  ConditionExpression?: string | undefined;
  ExpressionAttributeNames?: Record<string, string> | undefined;
  ExpressionAttributeValues?: Item | undefined;
  /** ALL_OLD: a refused write names the item that refused it (in the error's `Item`). */
  ReturnValuesOnConditionCheckFailure?: "ALL_OLD" | "NONE" | undefined;
}

export interface PutItemInput extends ConditionInput {
  TableName: string;
  Item: Item;
  ReturnValues?: "ALL_OLD" | "NONE" | undefined;
}

export interface DeleteItemInput extends ConditionInput {
  TableName: string;
  Key: Item;
  ReturnValues?: "ALL_OLD" | "NONE" | undefined;
}

export interface GetItemInput {
  TableName: string;
  Key: Item;
}

/** One request the fake received; `error` is the refusal's name. */
export interface DynamoCall {
  operation: "PutItem" | "DeleteItem" | "GetItem" | "Scan";
  table: string;
  error?: string;
}

interface Table {
  schema: KeySchema;
  items: Map<string, Item>;
}

export class FakeDynamoDB {
  private readonly tables = new Map<string, Table>();
  readonly calls: DynamoCall[] = [];

  createTable(name: string, schema: KeySchema): void {
    if (this.tables.has(name)) throw dynamoError("ResourceInUseException", `Table already exists: ${name}`);
    this.tables.set(name, { schema, items: new Map() });
  }

  /** Every item of a table, for tests and summaries. */
  items(name: string): Item[] {
    return [...this.table(name).items.values()].map(copy);
  }

  /** Every table's items, by table name: what a snapshot of the account compares. */
  snapshot(): Record<string, Item[]> {
    return Object.fromEntries([...this.tables.keys()].sort().map((name) => [name, this.items(name)]));
  }

  putItem(input: PutItemInput): { Attributes?: Item } {
    return this.logged("PutItem", input.TableName, () => {
      const table = this.table(input.TableName);
      checkValues(input.Item);
      const id = itemKey(table.schema, input.Item, "Item");
      const old = table.items.get(id);
      checkCondition(input, old);
      table.items.set(id, copy(input.Item));
      return input.ReturnValues === "ALL_OLD" && old ? { Attributes: copy(old) } : {};
    });
  }

  deleteItem(input: DeleteItemInput): { Attributes?: Item } {
    return this.logged("DeleteItem", input.TableName, () => {
      const table = this.table(input.TableName);
      const id = keyOnly(table.schema, input.Key);
      const old = table.items.get(id);
      checkCondition(input, old);
      table.items.delete(id);
      return input.ReturnValues === "ALL_OLD" && old ? { Attributes: copy(old) } : {};
    });
  }

  getItem(input: GetItemInput): { Item?: Item } {
    return this.logged("GetItem", input.TableName, () => {
      const table = this.table(input.TableName);
      const item = table.items.get(keyOnly(table.schema, input.Key));
      return item ? { Item: copy(item) } : {};
    });
  }

  /**
   * Every item in one page, unless the request sets `Limit`: then pages of that many, in a stable
   * order, each after `ExclusiveStartKey`, with `LastEvaluatedKey` while more remain.
   */
  scan(input: { TableName: string; Limit?: number; ExclusiveStartKey?: Item }): {
    Items: Item[];
    Count: number;
    LastEvaluatedKey?: Item;
  } {
    return this.logged("Scan", input.TableName, () => {
      const table = this.table(input.TableName);
      const entries = [...table.items.entries()];
      const after = input.ExclusiveStartKey ? keyOnly(table.schema, input.ExclusiveStartKey) : undefined;
      const from = after === undefined ? 0 : entries.findIndex(([id]) => id === after) + 1;
      const to = input.Limit === undefined ? entries.length : Math.min(entries.length, from + input.Limit);
      const items = entries.slice(from, to).map(([, item]) => copy(item));
      const last = items[items.length - 1];
      const lastKey =
        to < entries.length && last
          ? Object.fromEntries(keyAttributes(table.schema).map(({ name }) => [name, last[name]]))
          : undefined;
      return { Items: items, Count: items.length, ...(lastKey ? { LastEvaluatedKey: lastKey as Item } : {}) };
    });
  }

  private table(name: string): Table {
    const table = this.tables.get(name);
    if (!table) {
      throw new ResourceNotFoundException({ message: "Requested resource not found", $metadata: {} });
    }
    return table;
  }

  private logged<R>(operation: DynamoCall["operation"], table: string, act: () => R): R {
    try {
      const result = act();
      this.calls.push({ operation, table });
      return result;
    } catch (error) {
      this.calls.push({ operation, table, error: (error as Error).name });
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

const keyAttributes = (schema: KeySchema): KeyAttribute[] =>
  schema.sortKey ? [schema.partitionKey, schema.sortKey] : [schema.partitionKey];

/** The item's identity: its key attributes, each of the type the table declares. */
function itemKey(schema: KeySchema, item: Item, member: string): string {
  return JSON.stringify(
    keyAttributes(schema).map(({ name, type }) => {
      const value = item[name] as Record<string, unknown> | undefined;
      if (value === undefined) {
        throw validation(
          `One or more parameter values were invalid: Missing the key ${name} in the ${member}`,
        );
      }
      const raw = value[type];
      if (raw === undefined || raw === "") {
        throw validation(
          `One or more parameter values were invalid: Type mismatch for key ${name} expected: ${type}`,
        );
      }
      return type === "N" ? canonicalNumber(String(raw)) : type === "B" ? toBase64(raw) : raw;
    }),
  );
}

/** A Key names the key attributes and nothing else. */
function keyOnly(schema: KeySchema, key: Item): string {
  const names = keyAttributes(schema).map((k) => k.name);
  if (Object.keys(key).some((name) => !names.includes(name))) {
    throw validation("The provided key element does not match the schema");
  }
  return itemKey(schema, key, "Key");
}

/**
 * Every value is of exactly one type and well formed (a number as a decimal string, sets non-empty
 * and without duplicates): a wrong one from a definition fails here as it would in AWS.
 */
function checkValues(item: Item): void {
  for (const [name, value] of Object.entries(item)) checkValue(name, value);
}

/** A nested check: it throws for a bad value, so reaching the end means well formed. */
const checks = (check: () => void): boolean => {
  check();
  return true;
};

function checkValue(name: string, value: unknown): void {
  const invalid = (why: string) => validation(`One or more parameter values were invalid: ${name}: ${why}`);
  const entries = value !== null && typeof value === "object" ? Object.entries(value) : [];
  const [type, raw] = entries[0] ?? [];
  if (entries.length !== 1) throw invalid("an attribute value has exactly one type");
  const isBinary = (v: unknown) => typeof v === "string" || v instanceof Uint8Array;
  const distinct = (list: unknown[], key: (v: never) => string) =>
    list.length > 0 && new Set(list.map((v) => key(v as never))).size === list.length;
  const ok: Record<string, () => boolean> = {
    S: () => typeof raw === "string",
    N: () => typeof raw === "string" && decimal(raw) !== undefined,
    B: () => isBinary(raw),
    BOOL: () => typeof raw === "boolean",
    NULL: () => raw === true,
    SS: () => Array.isArray(raw) && raw.every((v) => typeof v === "string") && distinct(raw, String),
    NS: () => Array.isArray(raw) && raw.every((v) => typeof v === "string") && distinct(raw, canonicalNumber),
    BS: () => Array.isArray(raw) && raw.every(isBinary) && distinct(raw, toBase64),
    L: () => Array.isArray(raw) && raw.every((v, i) => checks(() => checkValue(`${name}[${i}]`, v))),
    M: () => raw !== null && typeof raw === "object" && checks(() => checkValues(raw as Item)),
  };
  if (!(type && ok[type]?.())) throw invalid(`not a well-formed ${type ?? "value"}`);
}

// ---------------------------------------------------------------------------------------------
// Condition expressions
// ---------------------------------------------------------------------------------------------

/** Refuses the write with ConditionalCheckFailedException when the condition is false for `old`. */
function checkCondition(input: ConditionInput, old: Item | undefined): void {
  checkValues(input.ExpressionAttributeValues ?? {});
  if (input.ConditionExpression === undefined) {
    if (input.ExpressionAttributeNames || input.ExpressionAttributeValues) {
      throw validation(
        "ExpressionAttributeNames and ExpressionAttributeValues can only be specified when using expressions",
      );
    }
    return;
  }
  if (evaluateCondition(input.ConditionExpression, old ?? {}, input)) return;
  throw new ConditionalCheckFailedException({
    message: "The conditional request failed",
    $metadata: {},
    ...(input.ReturnValuesOnConditionCheckFailure === "ALL_OLD" && old ? { Item: copy(old) as never } : {}),
  });
}

/**
 * Evaluates a condition expression against an item (`{}` when there is none), as DynamoDB does:
 * a function or comparison on a missing attribute is false (`<>` then true), values of different
 * types are never equal nor ordered, and every #name and :value given must be used.
 * Supported: attribute_exists, attribute_not_exists, attribute_type, begins_with, = <> < <= > >=,
 * BETWEEN, IN, AND, OR, NOT and parentheses, on top-level attributes.
 */
export function evaluateCondition(
  expression: string,
  item: Item,
  substitutions: Pick<ConditionInput, "ExpressionAttributeNames" | "ExpressionAttributeValues"> = {},
): boolean {
  const parser = new Parser(tokenize(expression), substitutions);
  const condition = parser.condition();
  parser.end();
  return condition(item);
}

type Token = { kind: "word" | "name" | "value" | "symbol"; text: string };
type Condition = (item: Item) => boolean;
type Operand = (item: Item) => AttributeValue | undefined;

const TOKEN = /\s*(?:(#[\w]+)|(:[\w]+)|([A-Za-z_][\w]*)|(<>|<=|>=|[=<>(),]))/y;

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.length) {
    if (/^\s*$/.test(expression.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(expression);
    if (!match)
      throw validation(`Invalid ConditionExpression: Syntax error; token: "${expression.slice(at)}"`);
    const [, name, value, word, symbol] = match;
    if (name) tokens.push({ kind: "name", text: name });
    else if (value) tokens.push({ kind: "value", text: value });
    else if (word) tokens.push({ kind: "word", text: word });
    else tokens.push({ kind: "symbol", text: symbol ?? "" });
  }
  return tokens;
}

const COMPARATORS = ["=", "<>", "<", "<=", ">", ">="];

/** Recursive descent, in DynamoDB's precedence: comparisons, IN, BETWEEN, functions, (), NOT, AND, OR. */
class Parser {
  private at = 0;
  private readonly usedNames = new Set<string>();
  private readonly usedValues = new Set<string>();

  constructor(
    private readonly tokens: Token[],
    private readonly substitutions: Pick<
      ConditionInput,
      "ExpressionAttributeNames" | "ExpressionAttributeValues"
    >,
  ) {}

  condition(): Condition {
    let left = this.conjunction();
    while (this.accept("OR")) {
      const [a, b] = [left, this.conjunction()];
      left = (item) => a(item) || b(item);
    }
    return left;
  }

  /** No token may be left over, and every substitution given must have been used. */
  end(): void {
    const left = this.tokens[this.at];
    if (left) throw validation(`Invalid ConditionExpression: Syntax error; token: "${left.text}"`);
    const unused = (given: object | undefined, used: Set<string>) =>
      Object.keys(given ?? {}).filter((key) => !used.has(key));
    const names = unused(this.substitutions.ExpressionAttributeNames, this.usedNames);
    if (names.length > 0)
      throw validation(
        `Value provided in ExpressionAttributeNames unused in expressions: keys: {${names.join(", ")}}`,
      );
    const values = unused(this.substitutions.ExpressionAttributeValues, this.usedValues);
    if (values.length > 0)
      throw validation(
        `Value provided in ExpressionAttributeValues unused in expressions: keys: {${values.join(", ")}}`,
      );
  }

  private conjunction(): Condition {
    let left = this.negation();
    while (this.accept("AND")) {
      const [a, b] = [left, this.negation()];
      left = (item) => a(item) && b(item);
    }
    return left;
  }

  private negation(): Condition {
    if (this.accept("NOT")) {
      const inner = this.negation();
      return (item) => !inner(item);
    }
    return this.primary();
  }

  private primary(): Condition {
    if (this.accept("(")) {
      const inner = this.condition();
      this.expect(")");
      return inner;
    }
    const token = this.tokens[this.at];
    if (token?.kind === "word" && this.tokens[this.at + 1]?.text === "(" && FUNCTIONS.has(token.text)) {
      return this.function();
    }
    const left = this.operand();
    if (this.accept("BETWEEN")) {
      const low = this.operand();
      this.expect("AND");
      const high = this.operand();
      return (item) => {
        const [v, l, h] = [left(item), low(item), high(item)];
        return compare(v, l, ">=") && compare(v, h, "<=");
      };
    }
    if (this.accept("IN")) {
      this.expect("(");
      const list = [this.operand()];
      while (this.accept(",")) list.push(this.operand());
      this.expect(")");
      return (item) => list.some((candidate) => compare(left(item), candidate(item), "="));
    }
    const comparator = this.tokens[this.at]?.text ?? "";
    if (!COMPARATORS.includes(comparator)) throw this.syntaxError();
    this.at += 1;
    const right = this.operand();
    return (item) => compare(left(item), right(item), comparator);
  }

  private function(): Condition {
    const name = this.tokens[this.at]?.text ?? "";
    this.at += 1;
    this.expect("(");
    const path = this.path();
    let argument: Operand | undefined;
    if (name === "begins_with" || name === "attribute_type") {
      this.expect(",");
      argument = this.operand();
    }
    this.expect(")");
    switch (name) {
      case "attribute_exists":
        return (item) => path(item) !== undefined;
      case "attribute_not_exists":
        return (item) => path(item) === undefined;
      case "attribute_type":
        return (item) => {
          const [value, type] = [path(item), argument?.(item)];
          return value !== undefined && type !== undefined && "S" in type && typeOf(value) === type.S;
        };
      default:
        return (item) => beginsWith(path(item), argument?.(item));
    }
  }

  private operand(): Operand {
    const token = this.tokens[this.at];
    if (token?.kind === "value") {
      this.at += 1;
      const value = this.substitutions.ExpressionAttributeValues?.[token.text];
      if (value === undefined) {
        throw validation(
          `Value provided in ExpressionAttributeValues unused in expressions: An expression attribute value used in expression is not defined; attribute value: ${token.text}`,
        );
      }
      this.usedValues.add(token.text);
      return () => value;
    }
    return this.path();
  }

  /** A top-level attribute, by name or #name (nested paths are beyond what this fake needs). */
  private path(): Operand {
    const token = this.tokens[this.at];
    if (token?.kind === "name") {
      this.at += 1;
      const name = this.substitutions.ExpressionAttributeNames?.[token.text];
      if (name === undefined) {
        throw validation(
          `Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: ${token.text}`,
        );
      }
      this.usedNames.add(token.text);
      return (item) => item[name];
    }
    if (token?.kind === "word" && !KEYWORDS.has(token.text.toUpperCase())) {
      this.at += 1;
      if (RESERVED.has(token.text.toUpperCase())) {
        throw validation(
          `Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: ${token.text}`,
        );
      }
      return (item) => item[token.text];
    }
    throw this.syntaxError();
  }

  private accept(text: string): boolean {
    const token = this.tokens[this.at];
    const matches = token?.kind === "word" ? token.text.toUpperCase() === text : token?.text === text;
    if (matches) this.at += 1;
    return matches;
  }

  private expect(text: string): void {
    if (!this.accept(text)) throw this.syntaxError();
  }

  private syntaxError(): Error {
    const token = this.tokens[this.at];
    return validation(`Invalid ConditionExpression: Syntax error; token: "${token?.text ?? "<EOF>"}"`);
  }
}

const FUNCTIONS = new Set(["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with"]);
const KEYWORDS = new Set(["AND", "OR", "NOT", "BETWEEN", "IN"]);
/** A few of DynamoDB's 573 reserved words: those an attribute of this project could be called. */
const RESERVED = new Set([
  "OWNER",
  "STATUS",
  "NAME",
  "TTL",
  "TIMESTAMP",
  "DATE",
  "TIME",
  "USER",
  "KEY",
  "VALUE",
  "COUNT",
  "SIZE",
  "TYPE",
  "DATA",
]);

// ---------------------------------------------------------------------------------------------
// Comparisons
// ---------------------------------------------------------------------------------------------

const typeOf = (value: AttributeValue): string => Object.keys(value)[0] ?? "";

/** DynamoDB's comparisons: `<>` is the only one true of a missing attribute or a type mismatch. */
function compare(a: AttributeValue | undefined, b: AttributeValue | undefined, comparator: string): boolean {
  if (comparator === "<>") return !compare(a, b, "=");
  if (a === undefined || b === undefined || typeOf(a) !== typeOf(b)) return false;
  if (comparator === "=") return equal(a, b);
  const order = ordered(a, b);
  if (order === undefined) return false;
  switch (comparator) {
    case "<":
      return order < 0;
    case "<=":
      return order <= 0;
    case ">":
      return order > 0;
    default:
      return order >= 0;
  }
}

/** The order of two scalars of one type: numbers by value, strings and binaries by their bytes. */
function ordered(a: AttributeValue, b: AttributeValue): number | undefined {
  if ("N" in a && "N" in b) return compareNumbers(a.N, b.N);
  if ("S" in a && "S" in b) return Buffer.compare(Buffer.from(a.S, "utf8"), Buffer.from(b.S, "utf8"));
  if ("B" in a && "B" in b) return Buffer.compare(bytes(a.B), bytes(b.B));
  return undefined;
}

function equal(a: AttributeValue, b: AttributeValue): boolean {
  if ("N" in a && "N" in b) return compareNumbers(a.N, b.N) === 0;
  if ("B" in a && "B" in b) return toBase64(a.B) === toBase64(b.B);
  if ("NS" in a && "NS" in b) return sameSet(a.NS.map(canonicalNumber), b.NS.map(canonicalNumber));
  if ("BS" in a && "BS" in b) return sameSet(a.BS.map(toBase64), b.BS.map(toBase64));
  if ("SS" in a && "SS" in b) return sameSet(a.SS, b.SS);
  if ("L" in a && "L" in b) {
    return a.L.length === b.L.length && a.L.every((v, i) => compare(v, b.L[i], "="));
  }
  if ("M" in a && "M" in b) {
    const keys = Object.keys(a.M);
    return keys.length === Object.keys(b.M).length && keys.every((k) => compare(a.M[k], b.M[k], "="));
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

const sameSet = (a: string[], b: string[]): boolean => {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((v) => set.has(v));
};

function beginsWith(value: AttributeValue | undefined, prefix: AttributeValue | undefined): boolean {
  if (value === undefined || prefix === undefined) return false;
  if ("S" in value && "S" in prefix) return value.S.startsWith(prefix.S);
  if ("B" in value && "B" in prefix) {
    const [v, p] = [bytes(value.B), bytes(prefix.B)];
    return p.length <= v.length && Buffer.compare(v.subarray(0, p.length), p) === 0;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Numbers (DynamoDB keeps 38 significant digits: compared as decimals, not as doubles)
// ---------------------------------------------------------------------------------------------

const NUMBER = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** A decimal as sign, digits without leading or trailing zeros, and the exponent of its first digit. */
function decimal(text: string): { sign: number; digits: string; exponent: number } {
  const match = NUMBER.exec(text.trim());
  if (!match || (match[2] === "" && (match[3] ?? "") === "")) {
    throw validation(`The parameter cannot be converted to a numeric value: ${text}`);
  }
  const [, sign = "", whole = "", fraction = "", exponent = "0"] = match;
  const all = whole + fraction;
  const leading = all.length - all.replace(/^0+/, "").length;
  const digits = all.slice(leading).replace(/0+$/, "");
  if (digits === "") return { sign: 0, digits: "", exponent: 0 };
  return { sign: sign === "-" ? -1 : 1, digits, exponent: whole.length - leading + Number(exponent) };
}

export function compareNumbers(a: string, b: string): number {
  const [x, y] = [decimal(a), decimal(b)];
  if (x.sign !== y.sign) return Math.sign(x.sign - y.sign);
  if (x.sign === 0) return 0;
  const magnitude =
    x.exponent !== y.exponent
      ? Math.sign(x.exponent - y.exponent)
      : compareText(x.digits.padEnd(y.digits.length, "0"), y.digits.padEnd(x.digits.length, "0"));
  return x.sign * magnitude;
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** One spelling per value, so that "1", "1.0" and "10E-1" are one key. */
function canonicalNumber(text: string): string {
  const { sign, digits, exponent } = decimal(text);
  return sign === 0 ? "0" : `${sign < 0 ? "-" : ""}0.${digits}e${exponent}`;
}

const bytes = (value: string | Uint8Array): Buffer =>
  typeof value === "string" ? Buffer.from(value, "base64") : Buffer.from(value);
const toBase64 = (value: unknown): string =>
  typeof value === "string" ? value : Buffer.from(value as Uint8Array).toString("base64");

// ---------------------------------------------------------------------------------------------

const copy = <T>(value: T): T => structuredClone(value);

/** An error as the SDK raises it, by DynamoDB's name for it. */
function dynamoError(name: string, message: string): DynamoDBServiceException {
  return new DynamoDBServiceException({ name, $fault: "client", message, $metadata: {} });
}

const validation = (message: string) => dynamoError("ValidationException", message);

/**
 * The Step Functions service integrations backed by this fake, by resource ARN. A DynamoDB error
 * reaches the state machine as Step Functions reports it: `DynamoDB.<exception name>`.
 */
export function dynamoIntegrations(
  db: FakeDynamoDB,
): Record<string, (parameters: unknown) => Promise<Record<string, unknown>>> {
  const integration =
    <I>(operation: (input: I) => object) =>
    async (parameters: unknown) => {
      try {
        return { ...operation(parameters as I) };
      } catch (error) {
        const { name, message } = error as Error;
        const failure = new Error(`${message} (Service: DynamoDb, Status Code: 400, Error Code: ${name})`);
        failure.name = `DynamoDB.${name}`;
        throw failure;
      }
    };
  return {
    "arn:aws:states:::dynamodb:putItem": integration((input: PutItemInput) => db.putItem(input)),
    "arn:aws:states:::dynamodb:deleteItem": integration((input: DeleteItemInput) => db.deleteItem(input)),
    "arn:aws:states:::dynamodb:getItem": integration((input: GetItemInput) => db.getItem(input)),
  };
}
