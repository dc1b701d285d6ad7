import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { RestoreError } from '../lib/errors.js';
import { registerSecret } from '../lib/secrets.js';

export interface FlightctlApiSettings {
  apiUrl: string;
  tokenFile: string;
  caFile: string;
  timeoutMs: number;
}

/**
 * The few calls the agent makes to Flight Control's own API (FLIGHTCTL.md §1 and §5): its version
 * and the device resume. The token is read from a file, registered with the redactor, and only
 * ever sent in the Authorization header.
 */
export class FlightctlApi {
  private readonly base: URL;
  private readonly token: string;
  private readonly ca?: Buffer;

  constructor(private readonly settings: FlightctlApiSettings) {
    try {
      this.base = new URL(settings.apiUrl);
    } catch {
      throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `flightctl.apiUrl "${settings.apiUrl}" is not a URL`);
    }
    try {
      this.token = readFileSync(settings.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `flightctl.tokenFile ${settings.tokenFile} cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
    registerSecret(this.token);
    if (settings.caFile) this.ca = readFileSync(settings.caFile);
  }

  static fromConfig(settings: FlightctlApiSettings): FlightctlApi | undefined {
    return settings.apiUrl ? new FlightctlApi(settings) : undefined;
  }

  private call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          ca: this.ca,
          timeout: this.settings.timeoutMs,
          headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text = (text + c).slice(0, 65_536)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                return resolve(JSON.parse(text) as T);
              } catch {
                return reject(
                  new RestoreError('RESTORE_ERR_FLIGHTCTL_API', `Flight Control's API answered ${method} ${url.pathname} with something that is not JSON`),
                );
              }
            }
            const message = (() => {
              try {
                return String((JSON.parse(text) as { message?: string }).message ?? '');
              } catch {
                return '';
              }
            })();
            reject(
              new RestoreError(
                'RESTORE_ERR_FLIGHTCTL_API',
                `Flight Control's API answered ${method} ${url.pathname} with ${status}${message ? `: ${message.slice(0, 300)}` : ''}`,
                { status },
              ),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.settings.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(new RestoreError('RESTORE_ERR_FLIGHTCTL_API', `cannot reach Flight Control's API at ${this.base.origin}: ${err.code ?? err.message}`)),
      );
      req.end(payload);
    });
  }

  async version(): Promise<string> {
    return (await this.call<{ version?: string }>('GET', '/api/v1/version')).version ?? '';
  }

  /** POST /api/v1/deviceactions/resume for one organization (the default one without orgId). */
  async resume(sel: { labelSelector?: string | undefined; fieldSelector?: string | undefined }, orgId?: string): Promise<number> {
    const body = Object.fromEntries(Object.entries(sel).filter(([, v]) => v !== undefined));
    const path = `/api/v1/deviceactions/resume${orgId ? `?org_id=${encodeURIComponent(orgId)}` : ''}`;
    return Number((await this.call<{ resumedDevices?: number }>('POST', path, body)).resumedDevices ?? 0);
  }
}
