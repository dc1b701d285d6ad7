import type { ServersInfo } from './global-setup.js';

// What the integration global setup hands to test files through vitest's inject().
declare module 'vitest' {
  export interface ProvidedContext {
    servers: ServersInfo;
  }
}
