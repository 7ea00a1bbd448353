import type { Scenario } from '../lib/scenario.ts';
import { badInput } from './bad-input.ts';
import { crashLoop } from './crash-loop.ts';
import { diskFull } from './disk-full.ts';
import { diskSelfFull } from './disk-self-full.ts';
import { providerFaults } from './provider-faults.ts';
import { security } from './security.ts';
import { timeJumps } from './time.ts';

/** Every scenario, in the order they run and print. */
export const SCENARIOS: Scenario[] = [crashLoop, providerFaults, badInput, timeJumps, diskFull, diskSelfFull, security];
