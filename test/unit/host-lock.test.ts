import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireHostLock, processStartTicks } from '../../src/runbook/store/file/host-lock.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'lock-'));

describe('host lock', () => {
  it('one holder at a time; released, it can be taken again', async () => {
    const d = dir();
    const lock = await acquireHostLock(d, 'restore run');
    await expect(acquireHostLock(d, 'another run')).rejects.toMatchObject({
      code: 'RESTORE_ERR_RUN_ACTIVE',
      message: expect.stringMatching(/restore run \(pid \d+/),
    });
    await lock.release();
    await (await acquireHostLock(d, 'another run')).release();
  });

  it('a lock left by a process that is gone (kill -9, reboot) is not held', async () => {
    const d = dir();
    const child = spawn('true');
    await new Promise((r) => child.on('exit', r));
    writeFileSync(path.join(d, 'run.lock'), JSON.stringify({ pid: child.pid, startTicks: '1', what: 'restore run', since: '' }));
    await (await acquireHostLock(d, 'next run')).release();
  });

  it('a holder killed and not yet reaped (a zombie, state Z) holds nothing: a recover right after a kill -9 is not refused', async () => {
    const d = dir();
    // The shell's child outlives its job, and the sleep exec'd in its place never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 10']);
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (b: Buffer) => resolve(b.toString().trim()))));
      let stat = '';
      for (let i = 0; i < 100 && !/\) Z /.test(stat); i++) {
        await new Promise((r) => setTimeout(r, 20));
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      }
      expect(stat).toMatch(/\) Z /);
      const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      expect(processStartTicks(pid)).toBeUndefined();
      writeFileSync(path.join(d, 'run.lock'), JSON.stringify({ pid, startTicks, what: 'restore run', since: '' }));
      await (await acquireHostLock(d, 'recover')).release();
    } finally {
      parent.kill();
    }
  });

  it('a PID that now belongs to another process does not hold it either', async () => {
    const d = dir();
    writeFileSync(path.join(d, 'run.lock'), JSON.stringify({ pid: process.pid, startTicks: 'not-my-start-time', what: 'restore run', since: '' }));
    await (await acquireHostLock(d, 'next run')).release();
  });

  it('a lock held by a live process is respected', async () => {
    const d = dir();
    const child = spawn('sleep', ['30']);
    try {
      writeFileSync(path.join(d, 'run.lock'), JSON.stringify({ pid: child.pid, startTicks: processStartTicks(child.pid!), what: 'restore run', since: '' }));
      await expect(acquireHostLock(d, 'next run')).rejects.toMatchObject({ code: 'RESTORE_ERR_RUN_ACTIVE' });
    } finally {
      child.kill();
    }
  });
});
