/** GET /healthz's answer: liveness, no token needed. */
import { object, oneOf, type Infer } from "../http/schema.js";

export const Health = object({ status: oneOf(["ok"] as const) });
export type HealthAnswer = Infer<typeof Health>;
