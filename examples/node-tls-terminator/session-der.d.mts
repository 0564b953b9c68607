/** Types for session-der.mjs (imported by the e2e tests). */
export declare const TLS1_2_VERSION: 0x0303;
export declare const TLS1_3_VERSION: 0x0304;
export declare function describeSession(der: Uint8Array): { version: number; sessionId: Buffer; serverName: string | undefined } | undefined;
