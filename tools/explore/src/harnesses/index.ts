/**
 * The catalog: every harness module. A module exports `harnesses`, a list
 * of harness specs (the protocol and its planted mutants).
 */
import type { AnyHarness } from '../harness.js';

/** Harness modules, in the order the CLI runs them. */
export const modules: readonly URL[] = [
  new URL('./notifier.js', import.meta.url),
  new URL('./notifier-set.js', import.meta.url),
  new URL('./aio-notify.js', import.meta.url),
  new URL('./bh-schedule.js', import.meta.url),
  new URL('./pool-completion.js', import.meta.url),
];

/** Every harness, with its module. */
export async function listHarnesses(): Promise<{ harness: AnyHarness; module: string }[]> {
  const out: { harness: AnyHarness; module: string }[] = [];
  for (const url of modules) {
    const mod = (await import(url.href)) as { harnesses: readonly AnyHarness[] };
    for (const harness of mod.harnesses) out.push({ harness, module: url.href });
  }
  return out;
}

/** The harness called `name`. */
export async function findHarness(name: string): Promise<{ harness: AnyHarness; module: string }> {
  const all = await listHarnesses();
  const hit = all.find((h) => h.harness.name === name);
  if (hit === undefined) throw new Error(`explore: no harness "${name}" (one of: ${all.map((h) => h.harness.name).join(', ')})`);
  return hit;
}
