/**
 * Reads a JSON request body within the 64 KiB limit. The limit is enforced
 * while streaming, so a lying or absent Content-Length cannot make the worker
 * buffer more than the limit.
 */
import { ServiceError } from "../errors.js";

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
  const length = request.headers.get("content-length");
  const declared = length === null ? undefined : Number(length);
  if (declared !== undefined && declared > MAX_BODY_BYTES) throw tooLarge();
  // With a declared length within the limit the runtime has framed the body
  // to that length: read it whole (much cheaper than streaming). Without one
  // (chunked), stream it and stop at the limit.
  const text = declared !== undefined && Number.isInteger(declared) ? decodeUtf8(new Uint8Array(await request.arrayBuffer())) : await readLimited(request);
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
  return decodeUtf8(all);
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  // A body that says more than it holds is refused by the runtime; one that
  // holds more than the limit despite its header is refused here too.
  if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge();
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new ServiceError("invalid_json", "the body is not valid UTF-8");
  }
}
