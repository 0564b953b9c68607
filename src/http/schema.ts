/**
 * Request schemas that validate and describe themselves: each schema parses a
 * JSON value (throwing invalid_request naming the field) and produces its own
 * JSON Schema, so the OpenAPI document is generated from the very objects that
 * validate requests and cannot drift from them.
 */
import { ServiceError } from "../errors.js";

export type JsonSchema = Record<string, unknown>;

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

/** A value validated elsewhere (e.g. a session, by the core); described by the given JSON Schema. */
export const passthrough = (schema: JsonSchema): Schema<unknown> => ({
  parse: (v) => v,
  jsonSchema: () => schema,
});

export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return {
    optional: true,
    parse: (v, path) => (v === undefined ? undefined : inner.parse(v, path)),
    jsonSchema: () => inner.jsonSchema(),
  };
}

type Shape = Record<string, Schema<unknown>>;
type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

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
