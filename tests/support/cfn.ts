/**
 * Resolves the CloudFormation intrinsics of a packaged template's fragment to plain values, as
 * CloudFormation would in one fixed stack. Anything it cannot resolve throws: a statement that
 * is only half resolved would be evaluated as something other than what is deployed.
 */

export interface Stack {
  partition: string;
  region: string;
  accountId: string;
  /** What `Ref` answers for the template's own resources, by logical id. */
  refs: Record<string, string>;
  /** What `Fn::GetAtt` answers, by `LogicalId.Attribute`. */
  attributes: Record<string, string>;
  /** The template's conditions as this stack evaluates them (a condition not given is false). */
  conditions?: Record<string, boolean>;
}

/** `Ref: AWS::NoValue`: the property or list item is left out. */
const NO_VALUE = Symbol("AWS::NoValue");

const pseudo = (stack: Stack): Record<string, string> => ({
  "AWS::Partition": stack.partition,
  "AWS::Region": stack.region,
  "AWS::AccountId": stack.accountId,
  "AWS::URLSuffix": "amazonaws.com",
});

export function resolveIntrinsics(value: unknown, stack: Stack): unknown {
  const resolved = resolve(value, stack);
  return resolved === NO_VALUE ? undefined : resolved;
}

function resolve(value: unknown, stack: Stack): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => resolve(item, stack)).filter((item) => item !== NO_VALUE);
  }
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  const [first] = entries;
  if (entries.length === 1 && first && (first[0] === "Ref" || first[0].startsWith("Fn::"))) {
    return intrinsic(first[0], first[1], stack);
  }
  return Object.fromEntries(
    entries.map(([k, v]) => [k, resolve(v, stack)]).filter(([, v]) => v !== NO_VALUE),
  );
}

function intrinsic(name: string, argument: unknown, stack: Stack): unknown {
  switch (name) {
    case "Ref":
      return argument === "AWS::NoValue" ? NO_VALUE : lookUp(String(argument), stack);
    case "Fn::If": {
      const [condition, whenTrue, whenFalse] = Array.isArray(argument) ? argument : [];
      return resolve(stack.conditions?.[String(condition)] ? whenTrue : whenFalse, stack);
    }
    case "Fn::GetAtt": {
      const [id, attribute] = Array.isArray(argument) ? argument : String(argument).split(".");
      return lookUp(`${String(id)}.${String(attribute)}`, stack);
    }
    case "Fn::Sub":
      return sub(argument, stack);
    case "Fn::Join": {
      const [delimiter, list] = pair(name, argument, stack);
      return strings(name, list).join(String(delimiter));
    }
    case "Fn::Split": {
      const [delimiter, text] = pair(name, argument, stack);
      return String(text).split(String(delimiter));
    }
    case "Fn::Select": {
      const [index, list] = pair(name, argument, stack);
      const picked = strings(name, list)[Number(index)];
      if (picked === undefined) throw new Error(`Fn::Select: no item ${String(index)}`);
      return picked;
    }
    default:
      throw new Error(`cfn: ${name} is not supported`);
  }
}

function pair(name: string, argument: unknown, stack: Stack): [unknown, unknown] {
  const resolved = resolveIntrinsics(argument, stack);
  if (!Array.isArray(resolved) || resolved.length !== 2) throw new Error(`${name}: expects two arguments`);
  return [resolved[0], resolved[1]];
}

function strings(name: string, list: unknown): string[] {
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string")) {
    throw new Error(`${name}: expects a list of strings, got ${JSON.stringify(list)}`);
  }
  return list as string[];
}

/** A pseudo parameter, a resource's Ref, or (with a dot) an attribute. */
function lookUp(name: string, stack: Stack): string {
  const found = pseudo(stack)[name] ?? stack.refs[name] ?? stack.attributes[name];
  if (found === undefined) throw new Error(`cfn: nothing to resolve ${name} to`);
  return found;
}

/** `${Name}` from the variables, else as Ref/GetAtt; `${!Literal}` stays `${Literal}`. */
function sub(argument: unknown, stack: Stack): string {
  const [template, variables] = Array.isArray(argument) ? argument : [argument, {}];
  const resolved = resolveIntrinsics(variables, stack) as Record<string, unknown>;
  return String(template).replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    if (name.startsWith("!")) return `\${${name.slice(1)}}`;
    const variable = resolved[name];
    return variable === undefined ? lookUp(name, stack) : String(variable);
  });
}
