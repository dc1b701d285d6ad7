import { writeFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeFlightctlApi, type FakeFlightctlApi } from '../../harness/flightctl-api.js';
import { startApiEnv, type ApiEnv } from './api-env.js';

const ORG = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

/** With flightctl.apiUrl and a token file, devices are resumed through Flight Control's own API. */
describe("API: resume through Flight Control's API", () => {
  let fc: FakeFlightctlApi;
  let env: ApiEnv;
  let good: string;
  const fcToken = 'fc-api-token-value-0123456789abcdef';

  beforeAll(async () => {
    fc = await startFakeFlightctlApi(fcToken);
    const tokenFile = path.join(process.env.TMPDIR ?? '/tmp', `fc-token-${process.pid}`);
    writeFileSync(tokenFile, `${fcToken}\n`, { mode: 0o600 });
    env = await startApiEnv({ flightctl: { apiUrl: fc.url, tokenFile } });
    good = await env.token();
  });
  afterAll(async () => {
    await fc?.close();
  });

  const resume = (body: unknown) =>
    request(env.app).post('/v1/devices/resume').set('authorization', `Bearer ${good}`).set('content-type', 'application/json').send(JSON.stringify(body));

  it('one device: fieldSelector metadata.name=<name>, in the organization asked for', async () => {
    fc.set({ resumedDevices: 1, status: 200 });
    const r = await resume({ name: 'edge-42', orgId: ORG });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ resumedDevices: 1 });
    expect(fc.calls.at(-1)).toEqual({
      method: 'POST',
      path: '/api/v1/deviceactions/resume',
      query: { org_id: ORG },
      body: { fieldSelector: 'metadata.name=edge-42' },
      authorization: `Bearer ${fcToken}`,
    });
  });

  it("selectors are passed on as given, all devices as metadata.name!='' (never an empty selector)", async () => {
    fc.set({ resumedDevices: 7 });
    expect((await resume({ labelSelector: 'env=prod,region in (eu,us)', fieldSelector: 'status.summary.status=ConflictPaused', orgId: ORG })).body).toEqual({
      resumedDevices: 7,
    });
    expect(fc.calls.at(-1)!.body).toEqual({ labelSelector: 'env=prod,region in (eu,us)', fieldSelector: 'status.summary.status=ConflictPaused' });
    expect((await resume({ all: true, confirm: 'resume-all', orgId: ORG })).body).toEqual({ resumedDevices: 7 });
    expect(fc.calls.at(-1)!.body).toEqual({ fieldSelector: "metadata.name!=''" });
  });

  it("an error of Flight Control's API is a 502 with its status, never its token", async () => {
    fc.set({ status: 500 });
    const r = await resume({ name: 'edge-42', orgId: ORG });
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({
      code: 'RESTORE_ERR_FLIGHTCTL_API',
      detail: expect.stringMatching(/answered POST \/api\/v1\/deviceactions\/resume with 500/),
    });
    fc.set({ status: 200 });
    await fc.close();
    const down = await resume({ name: 'edge-42', orgId: ORG });
    expect(down.status).toBe(502);
    expect(down.body.detail).toMatch(/cannot reach Flight Control's API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    expect(JSON.stringify([r.body, down.body]) + env.log()).not.toContain(fcToken);
  });
});
