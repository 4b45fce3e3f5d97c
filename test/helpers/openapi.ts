// Checks real HTTP answers against openapi.yaml, so the spec and the code cannot drift apart unnoticed.
//
//   const res = await request(app).get("/api/accounts/gh_a/token");
//   assertDocumented(res);            // path + method + status documented; content type, body and headers match
//
// An answer whose path, method or status the spec does not list FAILS: every answer a test sees must be
// documented. Schemas are checked by a small validator over the JSON Schema subset openapi.yaml uses (listed in
// KEYWORDS below). A keyword outside it throws instead of being ignored, so a spec change can never make
// validation silently weaker; add the keyword here when the spec needs it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };
/** A JSON Schema as it appears in the spec (OpenAPI 3.1 allows boolean schemas). */
export type Schema = boolean | JsonObject;

/** One HTTP answer, independent of the client that got it. */
export interface Exchange {
  method: string;
  /** The path as sent on the wire (percent-encoded, may include the query string). */
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body text ("" when there was none). */
  text: string;
}

/** The parts of a supertest/superagent response this helper reads. */
export interface SupertestLike {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text?: string;
  request: { method: string; url: string };
}

export interface FoundOperation {
  /** The path template, e.g. `/api/accounts/{accountId}/token`. */
  template: string;
  method: string;
  operationId: string;
  operation: JsonObject;
}

const SPEC_FILE = join(__dirname, "..", "..", "openapi.yaml");
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A header of an answer by name, whatever the case of the keys it was given with. */
function headerOf(headers: Exchange["headers"], name: string): string | undefined {
  const lower = name.toLowerCase();
  const key = Object.keys(headers).find((k) => k.toLowerCase() === lower);
  const v = key === undefined ? undefined : headers[key];
  return Array.isArray(v) ? v.join(", ") : v;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// ---- the spec ------------------------------------------------------------------------------------------------

interface Route {
  template: string;
  regex: RegExp;
  /** Templated segments: concrete paths win over templated ones, as OpenAPI requires. */
  params: number;
  item: JsonObject;
}

export class OpenApiSpec {
  readonly doc: JsonObject;
  private readonly routes: Route[];

  constructor(doc: unknown) {
    if (!isObject(doc) || typeof doc.openapi !== "string" || !isObject(doc.paths)) throw new Error("openapi.yaml: not an OpenAPI document");
    this.doc = doc;
    this.routes = Object.entries(doc.paths)
      .map(([template, item]) => {
        if (!isObject(item)) throw new Error(`openapi.yaml: paths.${template} is not an object`);
        const source = template
          .split(/(\{[^}]+\})/)
          .map((part) => (part === "{apiPath}" ? ".+" : /^\{[^}]+\}$/.test(part) ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
          .join("");
        // {apiPath} (the token-injecting proxy's paths) spans one or more segments; every other parameter is one.
        return { template, regex: new RegExp(`^${source}$`), params: (template.match(/\{/g) ?? []).length, item: this.deref(item) };
      })
      .sort((a, b) => a.params - b.params);
  }

  /** Follows local `$ref`s (`#/components/...`) until a non-reference object. */
  deref(value: Json): JsonObject {
    let v: Json = value;
    for (let hops = 0; isObject(v) && typeof v.$ref === "string"; hops++) {
      if (hops > 20) throw new Error(`openapi.yaml: $ref cycle at ${String(v.$ref)}`);
      v = this.pointer(v.$ref);
    }
    if (!isObject(v)) throw new Error(`openapi.yaml: expected an object, got ${show(v)}`);
    return v;
  }

  pointer(ref: string): Json {
    if (!ref.startsWith("#/")) throw new Error(`openapi.yaml: only local $refs are supported, got ${ref}`);
    let v: Json = this.doc;
    for (const raw of ref.slice(2).split("/")) {
      const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (!isObject(v) || !(key in v)) throw new Error(`openapi.yaml: $ref ${ref} does not resolve`);
      v = v[key] as Json;
    }
    return v;
  }

  /** The operation serving `method path` (query string ignored), or undefined when the spec has none. */
  findOperation(method: string, path: string): FoundOperation | undefined {
    const pathOnly = path.split("?")[0] ?? "";
    let m = method.toLowerCase();
    for (const route of this.routes) {
      if (!route.regex.test(pathOnly)) continue;
      // HEAD is answered by the GET route (express does the same) with the GET's headers and no body.
      if (m === "head" && !isObject(route.item.head)) m = "get";
      const op = route.item[m];
      if (!isObject(op)) return undefined;
      return {
        template: route.template,
        method: m,
        operationId: typeof op.operationId === "string" ? op.operationId : `${m} ${route.template}`,
        operation: op,
      };
    }
    return undefined;
  }

  /** Every operation, for checks over the whole spec. */
  operations(): FoundOperation[] {
    return this.routes.flatMap((r) =>
      METHODS.filter((m) => isObject(r.item[m])).map((m) => {
        const operation = r.item[m] as JsonObject;
        return { template: r.template, method: m, operationId: String(operation.operationId ?? `${m} ${r.template}`), operation };
      }),
    );
  }

  /** A named schema under components.schemas. */
  schema(name: string): Schema {
    const s = this.pointer(`#/components/schemas/${name}`);
    if (typeof s !== "boolean" && !isObject(s)) throw new Error(`openapi.yaml: components.schemas.${name} is not a schema`);
    return s;
  }

  /** Problems of `value` against `schema` (empty when it conforms). `at` names the value in messages. */
  schemaProblems(schema: Schema, value: unknown, at = "value"): string[] {
    const problems: string[] = [];
    this.check(schema, value, at, problems);
    return problems;
  }

  /** Problems of an answer against the spec (empty when it is documented and conforms). */
  exchangeProblems(x: Exchange): string[] {
    const found = this.findOperation(x.method, x.path);
    if (!found) {
      const pathOnly = x.path.split("?")[0];
      const route = this.routes.find((r) => r.regex.test(pathOnly ?? ""));
      return [route ? `${x.method.toUpperCase()} is not documented for ${route.template}` : `no path in openapi.yaml matches ${pathOnly}`];
    }
    const where = `${found.method.toUpperCase()} ${found.template} → ${x.status}`;
    const responses = found.operation.responses;
    if (!isObject(responses)) return [`${where}: the operation has no responses`];
    if ("default" in responses)
      throw new Error(`openapi.yaml: ${found.operationId} uses a "default" response, which documents nothing; list the statuses`);
    const key =
      String(x.status) in responses ? String(x.status) : `${String(x.status)[0]}XX` in responses ? `${String(x.status)[0]}XX` : undefined;
    if (key === undefined) return [`${where}: status ${x.status} is not documented (documented: ${Object.keys(responses).join(", ")})`];
    const response = this.deref(responses[key] as Json);
    const problems: string[] = [];
    this.checkHeaders(response, x, where, problems);
    this.checkContent(response, x, found.method === "head" || x.method.toLowerCase() === "head", where, problems);
    return problems;
  }

  private checkHeaders(response: JsonObject, x: Exchange, where: string, problems: string[]): void {
    const headers = response.headers;
    if (headers === undefined) return;
    if (!isObject(headers)) throw new Error(`openapi.yaml: ${where}: headers is not an object`);
    for (const [name, raw] of Object.entries(headers)) {
      if (name.toLowerCase() === "content-type") continue; // OpenAPI: a Content-Type header definition is ignored
      const def = this.deref(raw);
      const value = headerOf(x.headers, name);
      if (value === undefined) {
        if (def.required === true) problems.push(`${where}: required header ${name} is missing`);
        continue;
      }
      const schema = def.schema;
      if (schema === undefined) continue;
      if (typeof schema !== "boolean" && !isObject(schema)) throw new Error(`openapi.yaml: ${where}: header ${name} has no valid schema`);
      this.check(schema, this.headerValue(schema, value), `header ${name}`, problems);
    }
  }

  /** Header values are text; a header documented as a number or boolean is read as one first. */
  private headerValue(schema: Schema, value: string): unknown {
    const s = isObject(schema) && typeof schema.$ref === "string" ? this.deref(schema) : schema;
    const type = isObject(s) ? s.type : undefined;
    if ((type === "integer" || type === "number") && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
    if (type === "boolean" && (value === "true" || value === "false")) return value === "true";
    return value;
  }

  private checkContent(response: JsonObject, x: Exchange, head: boolean, where: string, problems: string[]): void {
    const content = response.content;
    if (content === undefined) {
      if (x.text !== "") problems.push(`${where}: documented without a body, but the answer has one: ${show(x.text)}`);
      return;
    }
    if (!isObject(content)) throw new Error(`openapi.yaml: ${where}: content is not an object`);
    const contentType = headerOf(x.headers, "content-type") ?? "";
    const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase();
    if (mediaType === "") {
      if (!(head && x.text === ""))
        problems.push(`${where}: the answer has no Content-Type (documented: ${Object.keys(content).join(", ")})`);
      return;
    }
    const [type] = mediaType.split("/");
    const key = Object.keys(content).find((k) => {
      const want = k.split(";")[0]!.trim().toLowerCase();
      return want === mediaType || want === `${type}/*` || want === "*/*";
    });
    if (key === undefined) {
      problems.push(`${where}: Content-Type ${contentType} is not documented (documented: ${Object.keys(content).join(", ")})`);
      return;
    }
    if (head) return; // a HEAD answer has the GET's headers and no body
    const media = content[key];
    if (!isObject(media) || media.schema === undefined) return;
    const schema = media.schema as Schema;
    if (mediaType === "application/json" || mediaType.endsWith("+json")) {
      let body: unknown;
      try {
        body = JSON.parse(x.text);
      } catch {
        problems.push(`${where}: the body is not JSON: ${show(x.text)}`);
        return;
      }
      this.check(schema, body, "body", problems);
    } else {
      this.check(schema, x.text, "body", problems);
    }
  }

  // ---- JSON Schema subset --------------------------------------------------------------------------------------

  private check(schema: Schema, value: unknown, at: string, problems: string[]): void {
    if (schema === true) return;
    if (schema === false) {
      problems.push(`${at}: must not be present`);
      return;
    }
    for (const k of Object.keys(schema)) {
      if (!KEYWORDS.has(k) && !k.startsWith("x-")) {
        const advice = k === "nullable" ? ' (OpenAPI 3.1: write type: [<type>, "null"])' : "; add it to test/helpers/openapi.ts";
        throw new Error(`openapi.yaml: schema keyword "${k}" at ${at} is not supported by the test validator${advice}`);
      }
    }
    if (typeof schema.$ref === "string") {
      const target = this.pointer(schema.$ref);
      if (typeof target !== "boolean" && !isObject(target)) throw new Error(`openapi.yaml: $ref ${schema.$ref} is not a schema`);
      this.check(target, value, at, problems);
    }

    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? schema.type : [schema.type];
      if (!types.some((t) => typeMatches(String(t), value))) {
        problems.push(`${at}: expected ${types.join(" or ")}, got ${show(value)}`);
        return; // the other keywords would only repeat the type problem
      }
    }
    if (Array.isArray(schema.enum) && !schema.enum.some((e) => deepEqual(e, value))) {
      problems.push(`${at}: ${show(value)} is not one of ${show(schema.enum)}`);
    }
    if ("const" in schema && !deepEqual(schema.const, value)) problems.push(`${at}: must be ${show(schema.const)}, got ${show(value)}`);

    if (typeof value === "string") this.checkString(schema, value, at, problems);
    if (typeof value === "number") this.checkNumber(schema, value, at, problems);
    if (Array.isArray(value)) this.checkArray(schema, value, at, problems);
    if (isObject(value)) this.checkObject(schema, value, at, problems);

    if (Array.isArray(schema.allOf)) for (const s of schema.allOf) this.check(s as Schema, value, at, problems);
    if (Array.isArray(schema.anyOf)) {
      const results = schema.anyOf.map((s) => this.schemaProblems(s as Schema, value, at));
      if (!results.some((r) => r.length === 0))
        problems.push(`${at}: matches none of anyOf: ${results.map((r) => r.join("; ")).join(" | ")}`);
    }
    if (Array.isArray(schema.oneOf)) {
      const results = schema.oneOf.map((s) => this.schemaProblems(s as Schema, value, at));
      const matches = results.filter((r) => r.length === 0).length;
      if (matches === 0) problems.push(`${at}: matches none of oneOf: ${results.map((r) => r.join("; ")).join(" | ")}`);
      if (matches > 1) problems.push(`${at}: matches ${matches} schemas of oneOf, exactly one allowed`);
    }
    if (schema.not !== undefined && this.schemaProblems(schema.not as Schema, value, at).length === 0)
      problems.push(`${at}: must not match ${show(schema.not)}`);
  }

  private checkString(schema: JsonObject, value: string, at: string, problems: string[]): void {
    const length = [...value].length; // JSON Schema counts code points, not UTF-16 units
    if (typeof schema.minLength === "number" && length < schema.minLength) problems.push(`${at}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === "number" && length > schema.maxLength) problems.push(`${at}: longer than ${schema.maxLength}`);
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value))
      problems.push(`${at}: ${show(value)} does not match ${schema.pattern}`);
    if (typeof schema.format === "string") {
      const test = FORMATS[schema.format];
      if (!test)
        throw new Error(`openapi.yaml: format "${schema.format}" at ${at} is not supported by the test validator; add it to FORMATS`);
      if (!test(value)) problems.push(`${at}: ${show(value)} is not a valid ${schema.format}`);
    }
  }

  private checkNumber(schema: JsonObject, value: number, at: string, problems: string[]): void {
    if (typeof schema.minimum === "number" && value < schema.minimum)
      problems.push(`${at}: ${value} is below the minimum ${schema.minimum}`);
    if (typeof schema.maximum === "number" && value > schema.maximum)
      problems.push(`${at}: ${value} is above the maximum ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === "number" && value <= schema.exclusiveMinimum)
      problems.push(`${at}: ${value} must exceed ${schema.exclusiveMinimum}`);
    if (typeof schema.exclusiveMaximum === "number" && value >= schema.exclusiveMaximum)
      problems.push(`${at}: ${value} must be below ${schema.exclusiveMaximum}`);
  }

  private checkArray(schema: JsonObject, value: unknown[], at: string, problems: string[]): void {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) problems.push(`${at}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === "number" && value.length > schema.maxItems) problems.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.uniqueItems === true && new Set(value.map((v) => JSON.stringify(v))).size !== value.length)
      problems.push(`${at}: items are not unique`);
    if (schema.items !== undefined) value.forEach((item, i) => this.check(schema.items as Schema, item, `${at}[${i}]`, problems));
  }

  private checkObject(schema: JsonObject, value: JsonObject, at: string, problems: string[]): void {
    const properties = isObject(schema.properties) ? schema.properties : {};
    if (Array.isArray(schema.required)) {
      for (const name of schema.required)
        if (typeof name === "string" && !(name in value)) problems.push(`${at}: required property "${name}" is missing`);
    }
    for (const [name, v] of Object.entries(value)) {
      const prop = properties[name];
      if (prop !== undefined) this.check(prop as Schema, v, `${at}.${name}`, problems);
      else if (schema.additionalProperties === false) problems.push(`${at}: property "${name}" is not allowed`);
      else if (isObject(schema.additionalProperties)) this.check(schema.additionalProperties, v, `${at}.${name}`, problems);
    }
  }

  /** Throws if any schema in the spec uses a keyword or format the validator does not implement. */
  assertSupported(): void {
    const schemaAt = (s: Json, at: string): void => {
      if (typeof s === "boolean") return;
      if (!isObject(s)) throw new Error(`openapi.yaml: ${at} is not a schema`);
      this.schemaProblems(s, null, at); // reports unknown keywords before looking at the value
      if (typeof s.format === "string" && !FORMATS[s.format])
        throw new Error(`openapi.yaml: format "${s.format}" at ${at} is not supported`);
      if (isObject(s.properties)) for (const [p, c] of Object.entries(s.properties)) schemaAt(c, `${at}.properties.${p}`);
      for (const k of ["items", "not", "additionalProperties"]) if (s[k] !== undefined) schemaAt(s[k] as Json, `${at}.${k}`);
      for (const k of ["allOf", "anyOf", "oneOf"]) {
        const list = s[k];
        if (Array.isArray(list)) list.forEach((c, i) => schemaAt(c, `${at}.${k}[${i}]`));
      }
    };
    const walk = (node: Json, at: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}[${i}]`));
      if (!isObject(node)) return;
      for (const [k, v] of Object.entries(node)) {
        if (k === "example" || k === "examples") continue; // data, not schemas
        if (k === "schema") schemaAt(v, `${at}.schema`);
        else if (at === "#.components" && k === "schemas" && isObject(v))
          for (const [n, c] of Object.entries(v)) schemaAt(c, `#/components/schemas/${n}`);
        else walk(v, `${at}.${k}`);
      }
    };
    walk(this.doc, "#");
  }
}

/** Keywords the validator implements, and annotations it may ignore. */
const KEYWORDS = new Set([
  "$ref",
  "type",
  "enum",
  "const",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minItems",
  "maxItems",
  "uniqueItems",
  "allOf",
  "anyOf",
  "oneOf",
  "not",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  // annotations: they describe, they do not constrain
  "title",
  "description",
  "default",
  "examples",
  "example",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$comment",
  "externalDocs",
]);

const FORMATS: Record<string, (v: string) => boolean> = {
  "date-time": (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(v) && !Number.isNaN(Date.parse(v)),
  date: (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v)),
  uuid: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
  ipv4: (v) => /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(v),
  uri: (v) => {
    try {
      return new URL(v).protocol.length > 1;
    } catch {
      return false;
    }
  },
};

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case "null":
      return v === null;
    case "boolean":
      return typeof v === "boolean";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "string":
      return typeof v === "string";
    case "array":
      return Array.isArray(v);
    case "object":
      return isObject(v);
    default:
      throw new Error(`openapi.yaml: unknown schema type "${type}"`);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

// ---- the API tests use ---------------------------------------------------------------------------------------

let loaded: OpenApiSpec | undefined;

/** openapi.yaml, parsed once per process. */
export function spec(): OpenApiSpec {
  loaded ??= new OpenApiSpec(parse(readFileSync(SPEC_FILE, "utf8")));
  return loaded;
}

/** The Exchange of a supertest (superagent) response: the wire path comes from the request actually sent. */
export function exchangeOf(res: SupertestLike): Exchange {
  const sent = (res as unknown as { req?: { path?: unknown } }).req?.path;
  const path = typeof sent === "string" ? sent : new URL(res.request.url).pathname;
  return { method: res.request.method, path, status: res.status, headers: res.headers, text: res.text ?? "" };
}

/** Problems of a supertest response against openapi.yaml; empty when it is documented and conforms. */
export function responseProblems(res: SupertestLike | Exchange): string[] {
  return spec().exchangeProblems("request" in res ? exchangeOf(res) : res);
}

/** Fails unless the answer's path, method and status are documented and its content type, body and headers match. */
export function assertDocumented(res: SupertestLike | Exchange): void {
  const problems = responseProblems(res);
  if (problems.length > 0) {
    const x = "request" in res ? exchangeOf(res) : res;
    assert.fail(
      `${x.method.toUpperCase()} ${x.path} answered ${x.status}, which openapi.yaml does not allow:\n  - ${problems.join("\n  - ")}\nbody: ${x.text.slice(0, 500)}`,
    );
  }
}

/** Fails unless `value` conforms to components.schemas[name] (for answers of undocumented routes, e.g. 404s). */
export function assertSchema(name: string, value: unknown): void {
  const problems = spec().schemaProblems(spec().schema(name), value, name);
  if (problems.length > 0) assert.fail(`not a valid ${name}:\n  - ${problems.join("\n  - ")}`);
}

/** Fails if openapi.yaml documents `method path`: for tests of what must stay undocumented (unknown routes). */
export function assertUndocumented(method: string, path: string): void {
  const found = spec().findOperation(method, path);
  if (found) assert.fail(`${method.toUpperCase()} ${path} is documented as ${found.operationId}`);
}
