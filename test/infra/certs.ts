// Certificates for TLS tests, made with the openssl CLI (.ci/run installs it): a CA, a server
// certificate it signed for localhost and 127.0.0.1, and a client certificate it signed (for
// mutual TLS). P-256 keys, valid for two days, in a temp dir the caller removes.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface TestCerts {
  dir: string
  caFile: string
  caKeyFile: string
  /** The server's certificate and key (CN=localhost; DNS:localhost, IP:127.0.0.1). */
  certFile: string
  keyFile: string
  /** A client certificate and key the same CA signed (CN=test-shipper). */
  clientCertFile: string
  clientKeyFile: string
  remove(): Promise<void>
}

const openssl = (args: string[]) => run('openssl', args, { timeout: 60_000 })
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A certificate for `cn` signed by the CA, with `extensions` (an openssl extension file's lines). */
async function signed(dir: string, ca: { caFile: string; caKeyFile: string }, name: string, cn: string, extensions: string[]): Promise<{ certFile: string; keyFile: string }> {
  const keyFile = path.join(dir, `${name}.key`)
  const csrFile = path.join(dir, `${name}.csr`)
  const certFile = path.join(dir, `${name}.pem`)
  const extFile = path.join(dir, `${name}.ext`)
  await writeFile(extFile, `${extensions.join('\n')}\n`)
  await openssl(['req', ...newKey, '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${cn}`])
  await openssl(['x509', '-req', '-in', csrFile, '-CA', ca.caFile, '-CAkey', ca.caKeyFile, '-set_serial', String(Date.now() + Math.floor(Math.random() * 1e6)), '-days', '2', '-out', certFile, '-extfile', extFile])
  return { certFile, keyFile }
}

/** A new CA with a server and a client certificate; `name` tells CAs apart (their CN). */
export async function makeCerts(name = 'Sluice test CA'): Promise<TestCerts> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-certs-'))
  const caFile = path.join(dir, 'ca.pem')
  const caKeyFile = path.join(dir, 'ca.key')
  await openssl(['req', '-x509', ...newKey, '-keyout', caKeyFile, '-out', caFile, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  const ca = { caFile, caKeyFile }
  const server = await signed(dir, ca, 'server', 'localhost', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
  const client = await signed(dir, ca, 'client', 'test-shipper', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'])
  return { dir, caFile, caKeyFile, ...server, clientCertFile: client.certFile, clientKeyFile: client.keyFile, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** Another server certificate from the same CA (a renewal), written to `certFile`/`keyFile` in place. */
export async function renewServerCert(certs: TestCerts, cn: string): Promise<void> {
  const next = await signed(certs.dir, certs, `server-${cn}`, cn, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
  await openssl(['x509', '-in', next.certFile, '-out', certs.certFile])
  await openssl(['pkey', '-in', next.keyFile, '-out', certs.keyFile])
}
