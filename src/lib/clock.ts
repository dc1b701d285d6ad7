/**
 * The time of day in ms, for what is compared with times other clocks wrote: a token's iat and
 * exp, a file's mtime, a timestamp in the cluster. Never for a duration or a deadline: those use
 * performance.now(), which a clock set back or forward an hour does not move (eslint forbids
 * Date.now() elsewhere in src/ for that reason).
 */
// eslint-disable-next-line no-restricted-properties -- the one place the wall clock is read as a number
export const wallClockMs = (): number => Date.now();
