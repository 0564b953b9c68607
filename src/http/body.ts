/**
 * Reads a JSON request body within the 64 KiB limit. The limit is enforced
 * while streaming, so a lying or absent Content-Length cannot make the worker
 * buffer more than the limit.
 */
import { ServiceError } from "./errors.js";

export const MAX_BODY_BYTES = 64 * 1024;

/** For routes whose every field is optional: no body at all means {}. */
export async function readOptionalJsonObject(request: Request): Promise<Record<string, unknown>> {
  const noBody = !request.body || request.headers.get("content-length") === "0";
  if (noBody && !request.headers.has("content-type")) return {};
  return readJsonObject(request);
}

export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ServiceError("unsupported_media_type", "the body must be application/json");
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const text = await readLimited(request);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ServiceError("invalid_json", "the body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ServiceError("invalid_request", "the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function tooLarge(): ServiceError {
  return new ServiceError("body_too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
}

async function readLimited(request: Request): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw new ServiceError("invalid_json", "the body is not valid UTF-8");
  }
}
