import type { z } from 'zod';

/**
 * A stored JSON record read back against its schema: the value, or undefined when the text is not
 * JSON or not what the schema says (the caller names the record and what to do in its error).
 */
export function parseJsonRecord<S extends z.ZodTypeAny>(text: string, schema: S): z.infer<S> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(doc);
  return parsed.success ? (parsed.data as z.infer<S>) : undefined;
}
