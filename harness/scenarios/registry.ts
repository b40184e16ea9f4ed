import { SetupError } from '../util/errors.js';
import { CGRP_SCENARIOS } from './cgrp.js';
import { MULTI_MAP_SCENARIOS } from './multi-map.js';
import { SK_SCENARIOS } from './sk.js';
import { TASK_SCENARIOS } from './task.js';
import type { Scenario } from './types.js';

export const ALL_SCENARIOS: readonly Scenario[] = [...SK_SCENARIOS, ...TASK_SCENARIOS, ...CGRP_SCENARIOS, ...MULTI_MAP_SCENARIOS];

export function selectScenarios(names: readonly string[] | undefined): Scenario[] {
  if (!names || names.length === 0) return [...ALL_SCENARIOS];
  return names.map((name) => {
    const found = ALL_SCENARIOS.find((s) => s.name === name);
    if (!found) throw new SetupError(`unknown scenario ${name}: choose from ${ALL_SCENARIOS.map((s) => s.name).join(', ')}`);
    return found;
  });
}
