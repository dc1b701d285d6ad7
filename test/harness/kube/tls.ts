import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { caAndServerCertificate } from '../test-pki.js';

/**
 * A CA of the test's own and a server certificate from it for 127.0.0.1, as a real API server
 * has: the client library verifies the server against the CA from the kubeconfig.
 */
export function makeServerCertificate(dir: string): { ca: string; cert: string; key: string } {
  const d = path.join(dir, 'apiserver-tls');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  caAndServerCertificate(d, 'fake-apiserver test CA', 'kube-apiserver');
  const read = (f: string) => readFileSync(path.join(d, f), 'utf8');
  return { ca: read('ca.crt'), cert: read('tls.crt'), key: read('tls.key') };
}
