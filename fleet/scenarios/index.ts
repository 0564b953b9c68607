/** Every scenario `npm run fleet` knows, in the order it runs them. */
import type { Scenario } from "./common.js";
import { operations } from "./operations.js";
import { sessions } from "./sessions.js";
import { deploy, madeUpKeys, masterKey, replayFlood, revoke, ringDown, ringDownTierLost, rotation, steady } from "./tickets.js";

export const SCENARIOS: readonly Scenario[] = [steady, deploy, rotation, revoke, masterKey, ringDown, ringDownTierLost, madeUpKeys, replayFlood, sessions, operations];

export function scenarioNamed(name: string): Scenario {
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) throw new Error(`no scenario ${name} (${SCENARIOS.map((s) => s.name).join(", ")})`);
  return scenario;
}

export { DEFAULT_SETTINGS, type Scenario, type ScenarioSettings } from "./common.js";
