/**
 * The package's "./client" entry: a typed, dependency-free client for the
 * service (browsers, Workers, Node). See src/client/client.ts.
 */
export {
  DEFAULT_RETRIES,
  DEFAULT_TIMEOUT_MS,
  fromBase64url,
  ResumptionClient,
  sessionIdHex,
  toBase64url,
  type CallOptions,
  type ClientOptions,
  type FetchLike,
  type Result,
} from "./client.js";
export { CLIENT_ERROR_CODES, ClientError, isClientError, type ClientErrorCode, type ResultErrorCode } from "./errors.js";
export type * from "./types.js";
