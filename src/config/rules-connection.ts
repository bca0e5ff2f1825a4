/**
 * Semantic rules of kpfleet.yml about how hosts are reached: `connection.user` and
 * `connection.private_key_file` as written, and each inventory host's connection variables.
 */
import { pushAll } from '../util/arrays.ts';
import type { Diagnostic } from '../diagnostics.ts';
import { connectionUserFinding, keyFileFinding } from './connection-vars.ts';
import { checkConnectionVars } from './inventory-connection.ts';
import { groupAncestry } from '../inventory/vars.ts';
import { groupGraph } from '../inventory/graph.ts';
import type { JsonPath } from './yaml-doc.ts';
import { get } from './rules-context.ts';
import type { RuleContext } from './rules-context.ts';

/** `connection.user` and `connection.private_key_file`. */
export function checkConnection(ctx: RuleContext): void {
  const { raw, at, input } = ctx;
  const user = connectionUserFinding(get(raw, ['connection', 'user']));
  if (user) at('error', 'rules/connection-user', ['connection', 'user'], user.message, user.hint);
  const keyPath: JsonPath = ['connection', 'private_key_file'];
  const key = keyFileFinding('connection.private_key_file', get(raw, keyPath), input.keyFile);
  if (key) at('error', 'rules/private-key-file', keyPath, key.message, key.hint);
}

/** The inventory's connection variables, at the file:line:col where each was written. */
export function checkInventoryConnection(ctx: RuleContext, out: Diagnostic[]): void {
  const inv = ctx.input.inventory;
  if (!inv) return;
  const { config } = ctx;
  // a host kpfleet would touch: one that a group of kpfleet.yml (`all` too) selects
  const graph = groupGraph(inv);
  const touched = (host: string): boolean =>
    groupAncestry(inv, host, graph).some((g) => config.groups.has(g));
  const more = ctx.input.inventoryConnection ?? { env: {}, trustCommands: false };
  pushAll(out, checkConnectionVars(inv, { ...more, touched }));
}
