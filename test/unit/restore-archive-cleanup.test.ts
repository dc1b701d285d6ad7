import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RestoreError } from '../../src/lib/errors.js';
import { memoryFixture } from '../harness/memory/fixtures.js';
import { MemoryWorld, recoverOn, restoreOn } from '../harness/memory/memory-host.js';
import type { MemoryDatabase } from '../harness/memory/memory-world.js';

/** The in-memory host's databases, gone: every look at them fails as PostgreSQL that does not answer. */
class UnreachableDatabases extends Map<string, MemoryDatabase> {
  /** Called at each look, before it fails (what the test wants to see at that moment). */
  onLook?: () => void;
  constructor(private readonly saved: Map<string, MemoryDatabase>) {
    super();
  }
  private down(): never {
    this.onLook?.();
    throw new RestoreError('RESTORE_ERR_DB_UNREACHABLE', 'the database does not answer (test)');
  }
  override get(): MemoryDatabase | undefined {
    return this.down();
  }
  override has(): boolean {
    return this.down();
  }
  override set(): this {
    return this.down();
  }
  override delete(): boolean {
    return this.down();
  }
  override keys(): MapIterator<string> {
    return this.down();
  }
  back(): Map<string, MemoryDatabase> {
    return this.saved;
  }
}

/**
 * A run that fails after extracting its archive but before changing anything: the extraction, with
 * the archive's private keys, goes at once, even when an undo cannot be done (issue 17). Before,
 * it stayed under the state directory until a later recovery could reach the database.
 */
describe('the extracted archive is removed first when a run is rolled back', () => {
  it('the database goes away while the dump loads: the run fails, the undo fails, the extraction is gone anyway', async () => {
    const world = new MemoryWorld();
    const fx = memoryFixture(world);
    const archive = await fx.archive({ databaseIncluded: true });
    let down: UnreachableDatabases | undefined;
    const extractions = () => readdirSync(fx.stateDir).filter((f) => f.startsWith('extract-'));
    let extractionAtLastLook: boolean | undefined;
    const end = await restoreOn(
      world,
      { archive },
      {
        // The finalizers give up at once (they would wait for the database to come back).
        config: { ...fx.config, restore: { recoveryWaitMs: 0 } },
        onStepStarted: (step) => {
          if (step !== 'load-dump') return;
          world.databases = down = new UnreachableDatabases(world.databases);
          down.onLook = () => (extractionAtLastLook = extractions().length > 0);
        },
      },
    );
    if (!('run' in end)) throw new Error('the process was not meant to die');
    expect(end.run.phase).toBe('Failed');
    expect(end.run.finalizerActions?.find((a) => a.kind === 'undo' && a.step === 'load-dump')?.error?.code).toBe('RESTORE_ERR_DB_UNREACHABLE');
    expect(extractions()).toEqual([]);
    // Removed before the undo looked at the database (an undo may wait minutes for it, and the agent may die meanwhile).
    expect(extractionAtLastLook).toBe(false);
    // The undo is left to a recovery, which needs no extraction for it.
    world.databases = down!.back();
    const report = await recoverOn(world, { config: fx.config });
    expect(report.recovered.map((r) => r.phase)).toEqual(['Recovered']);
    expect(world.databaseNames().filter((d) => d.includes('_restore_'))).toEqual([]);
  });
});

describe("a file step that fails does not keep the others' completion from running", () => {
  it('restore-pki fails past the point of no return: the keys, the configuration and the volume are still restored', async () => {
    const world = new MemoryWorld();
    const fx = memoryFixture(world);
    const archive = await fx.archive({ databaseIncluded: true });
    const end = await restoreOn(
      world,
      { archive },
      {
        config: fx.config,
        // Something on the host takes the place of a file after the checks (a directory where the CA was).
        onStepStarted: (step) => {
          if (step !== 'restore-pki') return;
          rmSync(path.join(fx.etcDir, 'pki', 'ca.crt'));
          mkdirSync(path.join(fx.etcDir, 'pki', 'ca.crt'));
        },
      },
    );
    if (!('run' in end)) throw new Error('the process was not meant to die');
    expect(end.run.steps.find((s) => s.status === 'failed')?.name).toBe('restore-pki');
    const completed = (end.run.finalizerActions ?? []).filter((a) => a.kind === 'complete' && !a.error).map((a) => a.step);
    expect(completed).toEqual(expect.arrayContaining(['restore-encryption', 'restore-config', 'restore-pam-volume', 'prepare-kv']));
    for (const rel of ['encryption/key.b64', 'service-config.yaml'] as const)
      expect(readFileSync(path.join(fx.etcDir, rel), 'utf8'), rel).toBe(fx.archived[rel]);
    expect(world.volume.content).not.toBe('original');
  });
});
