/**
 * Registry of secret values known to this process. Every value read from the environment, a
 * Podman secret or a Kubernetes secret is registered here the moment it is read, so that the
 * logger and every user-facing output can strip it wherever it would appear.
 */
const registered = new Set<string>();
const MASK = '[REDACTED]';

/** Values shorter than this are not redacted: masking "a" would mangle every message. */
const MIN_SECRET_LENGTH = 4;

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_SECRET_LENGTH) return;
  registered.add(value);
  // Encoded forms travel too (URLs, base64 in API answers).
  registered.add(encodeURIComponent(value));
  registered.add(Buffer.from(value, 'utf8').toString('base64'));
}

export function redactText(text: string): string {
  let out = text;
  for (const secret of registered) {
    if (secret.length >= MIN_SECRET_LENGTH && out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

/** Deep copy with every string redacted; used on log records and API answers. */
export function redactValue<T>(value: T, seen = new WeakSet<object>()): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, seen)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, seen);
  return out as T;
}

/** For tests: forget everything registered. */
export function clearSecretsForTest(): void {
  registered.clear();
}
