/**
 * Request schemas that validate and describe themselves: each schema parses a
 * JSON value (throwing invalid_request naming the field) and produces its own
 * JSON Schema, so the OpenAPI document is generated from the very objects that
 * validate requests and cannot drift from them.
 */
import { ServiceError } from "../errors.js";

/** The JSON Schema keywords these schemas produce (and the document renders); any other keyword passes through. */
export interface JsonSchema {
  type?: string;
  description?: string;
  enum?: readonly unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  [keyword: string]: unknown;
}

export interface Schema<T> {
  parse(value: unknown, path: string): T;
  jsonSchema(): JsonSchema;
  readonly optional?: boolean;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

function fail(path: string, message: string): never {
  throw new ServiceError("invalid_request", `${path || "body"}: ${message}`, { field: path || undefined });
}

const child = (path: string, key: string): string => (path ? `${path}.${key}` : key);

export const string = (opts: { minLength?: number; maxLength?: number; pattern?: RegExp; description?: string } = {}): Schema<string> => ({
  parse(v, path) {
    if (typeof v !== "string") fail(path, "must be a string");
    if (opts.minLength !== undefined && v.length < opts.minLength) fail(path, `must be at least ${opts.minLength} characters`);
    if (opts.maxLength !== undefined && v.length > opts.maxLength) fail(path, `must be at most ${opts.maxLength} characters`);
    if (opts.pattern && !opts.pattern.test(v)) fail(path, `must match ${opts.pattern.source}`);
    return v;
  },
  jsonSchema: () => ({
    type: "string",
    ...(opts.minLength !== undefined && { minLength: opts.minLength }),
    ...(opts.maxLength !== undefined && { maxLength: opts.maxLength }),
    ...(opts.pattern && { pattern: opts.pattern.source }),
    ...(opts.description && { description: opts.description }),
  }),
});

export const integer = (minimum: number, maximum: number, description?: string): Schema<number> => ({
  parse(v, path) {
    if (typeof v !== "number" || !Number.isInteger(v)) fail(path, "must be an integer");
    if (v < minimum || v > maximum) fail(path, `must be from ${minimum} to ${maximum}`);
    return v;
  },
  jsonSchema: () => ({ type: "integer", minimum, maximum, ...(description && { description }) }),
});

export const boolean = (description?: string): Schema<boolean> => ({
  parse(v, path) {
    if (typeof v !== "boolean") fail(path, "must be a boolean");
    return v;
  },
  jsonSchema: () => ({ type: "boolean", ...(description && { description }) }),
});

/** One of a fixed list of strings. */
export const oneOf = <T extends string>(values: readonly T[], description?: string): Schema<T> => ({
  parse(v, path) {
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) fail(path, `must be one of ${values.join(", ")}`);
    return v as T;
  },
  jsonSchema: () => ({ type: "string", enum: [...values], ...(description && { description }) }),
});

/** A field that may be absent: an optional property of the object it is in. */
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true;
}

export function optional<T>(inner: Schema<T>): OptionalSchema<T> {
  return {
    optional: true,
    parse: (v, path) => (v === undefined ? undefined : inner.parse(v, path)),
    jsonSchema: () => inner.jsonSchema(),
  };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalSchema<unknown> ? K : never }[keyof S];
type ObjectOf<S extends Shape> = { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

/** A JSON object with exactly these fields: an unknown field is an error, as is a missing required one. */
export function object<S extends Shape>(shape: S, description?: string): Schema<ObjectOf<S>> {
  return {
    parse(v, path) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "must be an object");
      const input = v as Record<string, unknown>;
      // Own properties only: `in` would also find Object.prototype's members
      // (__proto__, constructor, toString...) and let them through unnamed.
      for (const key of Object.keys(input)) if (!Object.hasOwn(shape, key)) fail(child(path, key), "unknown field");
      const out: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(shape)) {
        if (input[key] === undefined && !schema.optional) fail(child(path, key), "is required");
        out[key] = schema.parse(input[key], child(path, key));
      }
      return out as ObjectOf<S>;
    },
    jsonSchema: () => ({
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, s.jsonSchema()])),
      required: Object.entries(shape).filter(([, s]) => !s.optional).map(([k]) => k),
      ...(description && { description }),
    }),
  };
}

/** A JSON array of `item`s. */
export function array<T>(item: Schema<T>, description?: string): Schema<T[]> {
  return {
    parse(v, path) {
      if (!Array.isArray(v)) fail(path, "must be an array");
      return v.map((x, i) => item.parse(x, `${path}[${i}]`));
    },
    jsonSchema: () => ({ type: "array", items: item.jsonSchema(), ...(description && { description }) }),
  };
}

/**
 * A value of type T that something else validates (the core, for a session;
 * the service, for what it answers), described by the given JSON Schema: it
 * types a field of a request or an answer without checking it here.
 */
export const typed = <T>(schema: JsonSchema): Schema<T> => ({
  parse: (v) => v as T,
  jsonSchema: () => schema,
});

/**
 * A value checked by `check`, which throws its own error (a path id's
 * invalid_session_id, say, rather than invalid_request); described by the
 * given JSON Schema.
 */
export const checked = <T>(schema: JsonSchema, check: (value: unknown, path: string) => T): Schema<T> => ({
  parse: check,
  jsonSchema: () => schema,
});
