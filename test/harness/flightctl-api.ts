/**
 * A stand-in for the two calls the agent makes to Flight Control's API (no Flight Control server
 * can run here): GET /api/v1/version and POST /api/v1/deviceactions/resume, answering the shapes
 * FLIGHTCTL.md §1 and §5 document, on 127.0.0.1, checking the bearer token, and recording calls.
 */
import http from 'node:http';

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  authorization: string | undefined;
}

export interface FakeFlightctlApi {
  url: string;
  calls: RecordedCall[];
  /** What the next answers carry. */
  set(opts: { version?: string; resumedDevices?: number; status?: number }): void;
  close(): Promise<void>;
}

export async function startFakeFlightctlApi(token: string): Promise<FakeFlightctlApi> {
  const calls: RecordedCall[] = [];
  let version = '1.2.0';
  let resumed = 0;
  let status = 200;
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      calls.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), body, authorization: req.headers.authorization });
      const send = (code: number, doc: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc));
      };
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { code: 401, message: 'Unauthorized' });
      if (status !== 200) return send(status, { code: status, message: 'the server had a problem' });
      if (req.method === 'GET' && url.pathname === '/api/v1/version') return send(200, { version });
      if (req.method === 'POST' && url.pathname === '/api/v1/deviceactions/resume') {
        const b = body as { labelSelector?: string; fieldSelector?: string } | undefined;
        if (!b || (!b.labelSelector && !b.fieldSelector)) return send(400, { code: 400, message: 'at least one selector' });
        return send(200, { resumedDevices: resumed });
      }
      send(404, { code: 404, message: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    set(o) {
      if (o.version !== undefined) version = o.version;
      if (o.resumedDevices !== undefined) resumed = o.resumedDevices;
      if (o.status !== undefined) status = o.status;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
