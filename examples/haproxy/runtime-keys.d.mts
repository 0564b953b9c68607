/** Types for runtime-keys.mjs (imported by stek-sync and the e2e tests). */
export declare class RuntimeApiError extends Error {
  code: "timeout" | "unreachable" | "unexpected_answer" | "too_few_keys" | "key_size_changed" | "refused" | "mismatch" | "unknown_ref";
  constructor(code: RuntimeApiError["code"], message: string);
}
export declare function runtimeCommand(socketPath: string, line: string, timeoutMs?: number): Promise<string>;
export declare function listTicketKeyRefs(socketPath: string): Promise<{ id: string; file: string }[]>;
export declare function showTicketKeys(socketPath: string, ref: string): Promise<string[]>;
export declare function applyTicketKeys(options: { socketPath: string; ref: string; lines: string[] }): Promise<{ pushed: number; slots: number }>;
export declare function findTicketKeyRef(socketPath: string, file: string): Promise<string>;
