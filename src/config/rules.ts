/**
 * Semantic rules: what the schema cannot say. Each rule adds diagnostics at the position of the
 * offending YAML node, in this order: connection (rules-connection.ts), durations and rollout
 * (rules-rollout.ts), the patch catalogue (rules-patches.ts), groups and the contradictions
 * between them (rules-groups.ts), the inventory's connection variables. Pure: file facts
 * (existence, sha256) and the inventory are gathered by the loader and passed in.
 */
import type { Diagnostic } from '../diagnostics.ts';
import type { JsonPath } from './yaml-doc.ts';
import { offsetOf } from './yaml-doc.ts';
import { checkConnection, checkInventoryConnection } from './rules-connection.ts';
import type { Obj, RuleContext, RulesInput } from './rules-context.ts';
import { checkHostConflicts, checkGroups } from './rules-groups.ts';
import { checkPatches } from './rules-patches.ts';
import { checkDurations, checkRollout } from './rules-rollout.ts';

export function checkRules(input: RulesInput): Diagnostic[] {
  const { yaml, config } = input;
  const out: Diagnostic[] = [];
  const raw = (yaml.value ?? {}) as Obj;
  const at = (
    severity: Diagnostic['severity'],
    code: string,
    path: JsonPath,
    message: string,
    hint?: string,
    where: 'key' | 'value' = 'value',
  ): void => {
    out.push(
      yaml.source.diagnostic(severity, code, message, offsetOf(yaml.doc, path, where), hint),
    );
  };
  const listIndex = (path: JsonPath, name: string): number => {
    let node: unknown = raw;
    for (const seg of path) node = (node as Obj | undefined)?.[seg];
    return Array.isArray(node) ? node.indexOf(name) : -1;
  };
  const ctx: RuleContext = {
    input,
    config,
    raw,
    at,
    listIndex,
    patchNames: [...config.patches.keys()],
  };
  checkConnection(ctx);
  checkDurations(ctx);
  checkRollout(ctx);
  checkPatches(ctx);
  checkGroups(ctx);
  checkHostConflicts(ctx);
  checkInventoryConnection(ctx, out);
  return out;
}
