import { Transform } from 'node:stream';

/**
 * Passes bytes through and reports the running total, for progress. The report is awaited before
 * more passes (a test's fault injection holds a load there).
 */
export function byteCounter(onBytes: (total: number) => Promise<void> | void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      Promise.resolve(onBytes(total)).then(() => done(null, chunk), done);
    },
  });
}
