import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** Certificates and keys made by openssl, as an operator makes them (their PEM must never be printed). */
const ssl = (cwd: string, ...args: string[]) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed EC P-256 certificate valid for a day, and its key, at the paths given (relative to dir). */
export function selfSigned(dir: string, keyFile: string, certFile: string, cn: string): void {
  ssl(dir, 'req', '-x509', ...EC, '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${cn}`);
}

/** A CA of the test's own (ca.key, ca.crt) and a server certificate for 127.0.0.1 it signed (tls.key, tls.crt), in dir. */
export function caAndServerCertificate(dir: string, caCn: string, serverCn = '127.0.0.1'): { caFile: string; certFile: string; keyFile: string } {
  selfSigned(dir, 'ca.key', 'ca.crt', caCn);
  ssl(dir, 'req', ...EC, '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${serverCn}`);
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(dir, 'x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '1', '-extfile', 'san.ext');
  return { caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') };
}
