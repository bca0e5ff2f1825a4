/**
 * Semantic rules of kpfleet.yml about the rollout and the timings: durations within their range
 * (connection and rollout timeouts, support windows), waves cumulative and ending at 100%, max_failures a
 * percentage up to 100%.
 */
import { showValue } from '../util/show.ts';
import { formatDuration, parseDuration } from './duration.ts';
import type { Amount } from '../config-model.ts';
import { parseAmount } from './normalize.ts';
import { describePath } from './schema.ts';
import type { JsonPath } from './yaml-doc.ts';
import { get } from './rules-context.ts';
import type { At, RuleContext } from './rules-context.ts';

const DAY = 86_400_000;

const DURATION_RANGES: { path: JsonPath; min: number; max: number }[] = [
  { path: ['connection', 'connect_timeout'], min: 1_000, max: 300_000 },
  { path: ['connection', 'command_timeout'], min: 10_000, max: 3_600_000 },
  { path: ['connection', 'keepalive_interval'], min: 1_000, max: 300_000 },
  { path: ['rollout', 'health_check_timeout'], min: 1_000, max: 3_600_000 },
  { path: ['rollout', 'reboot_due_after'], min: DAY, max: 3650 * DAY },
  { path: ['patch_defaults', 'support'], min: DAY, max: 3650 * DAY },
];

/** Every duration within the range kpfleet accepts for it. */
export function checkDurations(ctx: RuleContext): void {
  const { raw, at } = ctx;
  const supports = ctx.patchNames.map((name) => ({
    path: ['patches', name, 'support'],
    min: DAY,
    max: 3650 * DAY,
  }));
  for (const { path, min, max } of [...DURATION_RANGES, ...supports]) {
    const v = get(raw, path);
    const ms = parseDuration(v);
    if (v === undefined || ms === undefined) continue;
    if (ms < min || ms > max) {
      at(
        'error',
        'rules/duration-range',
        path,
        `${describePath(path)} must be between ${formatDuration(min)} and ${formatDuration(max)}, not ${showValue(v)}`,
      );
    }
  }
}

/** `rollout.waves` and `rollout.max_failures`. */
export function checkRollout(ctx: RuleContext): void {
  const { raw, at } = ctx;
  const rawWaves = get(raw, ['rollout', 'waves']);
  if (Array.isArray(rawWaves)) checkWaves(rawWaves, at);
  const maxFailures = parseAmount(get(raw, ['rollout', 'max_failures']));
  if (maxFailures?.kind === 'percent' && maxFailures.value > 100) {
    at(
      'error',
      'rules/percent-range',
      ['rollout', 'max_failures'],
      `rollout.max_failures must be a percentage from 0% to 100%, not ${maxFailures.value}%`,
    );
  }
}

function checkWaves(waves: unknown[], at: At): void {
  let lastCount = 0;
  let lastPercent = 0;
  let last: Amount | undefined;
  let allValid = true;
  for (const [i, w] of waves.entries()) {
    const a = parseAmount(w);
    if (!a) {
      allValid = false; // the schema reported it
      continue;
    }
    const path = ['rollout', 'waves', i];
    if (a.kind === 'percent') {
      if (a.value <= 0 || a.value > 100) {
        at(
          'error',
          'rules/percent-range',
          path,
          `a wave must be more than 0% and at most 100%, not ${a.value}%`,
        );
        allValid = false;
        continue;
      }
      if (a.value <= lastPercent) {
        at(
          'error',
          'rules/waves-order',
          path,
          `waves are cumulative: ${a.value}% must be larger than the ${lastPercent}% before it`,
          'e.g. [1, 10%, 50%, 100%]',
        );
      }
      lastPercent = a.value;
    } else {
      if (a.value <= lastCount) {
        at(
          'error',
          'rules/waves-order',
          path,
          `waves are cumulative: ${a.value} must be more hosts than the ${lastCount} before it`,
          'e.g. [1, 10, 100%]',
        );
      }
      lastCount = a.value;
    }
    last = a;
  }
  if (allValid && last && !(last.kind === 'percent' && last.value === 100)) {
    at(
      'warning',
      'rules/waves-last',
      ['rollout', 'waves', waves.length - 1],
      'the last wave is not 100%: the remaining hosts will be converged in one final wave',
      'end the list with 100%',
    );
  }
}
