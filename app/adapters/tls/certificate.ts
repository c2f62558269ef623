/**
 * @module A self-signed X.509 certificate for one node's HTTPS listener: an ECDSA P-256 key
 * generated in memory (never written anywhere) and a certificate naming exactly one host (the
 * IP or DNS name of the node's internal URL) in its subjectAltName, usable only for TLS server
 * and client authentication. Node has an X.509 reader (`crypto.X509Certificate`) but no writer,
 * so the few DER structures a certificate needs are encoded here (ITU-T X.690, RFC 5280).
 */
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export interface SelfSignedCertificate {
  /** The certificate, PEM. */
  readonly certPem: string;
  /** The private key, PKCS#8 PEM; held in memory only. */
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 fingerprint of the certificate (colon-separated hex, as `X509Certificate` prints it). */
  readonly fingerprint256: string;
}

export interface CertificateRequest {
  /** The host peers connect to: an IPv4/IPv6 address or a DNS name. */
  readonly host: string;
  readonly validityMs: number;
  /** Start of validity (defaults to now); the certificate is valid from 5 minutes before, for clock skew. */
  readonly now?: Date;
}

const SKEW_MS = 5 * 60_000;

export function createSelfSignedCertificate(request: CertificateRequest): SelfSignedCertificate {
  const host = request.host.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new Error('a certificate needs a host name or address');
  const now = request.now ?? new Date();
  const notBefore = new Date(Math.floor((now.getTime() - SKEW_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor((now.getTime() + request.validityMs) / 1000) * 1000);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = seq(set(seq(oid(OID.commonName), utf8(host))));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // version 3
    integer(serialNumber()),
    ECDSA_SHA256,
    name, // issuer: the certificate signs itself
    seq(time(notBefore), time(notAfter)),
    name, // subject
    spki,
    explicit(3, seq(...extensions(host))),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const der = seq(tbs, ECDSA_SHA256, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem, notBefore, notAfter, fingerprint256: new X509Certificate(certPem).fingerprint256 };
}

/** The certificates of a PEM bundle, each as its own PEM block (unparseable text is dropped). */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((block) => `${block}\n`) ?? [];
}

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const ECDSA_SHA256 = seq(oid(OID.ecdsaWithSha256));

function extensions(host: string): Buffer[] {
  const address = isIP(host);
  const generalName = address === 4 ? tagged(0x87, ipv4(host)) : address === 6 ? tagged(0x87, ipv6(host)) : tagged(0x82, Buffer.from(host, 'ascii'));
  // keyUsage (RFC 5280 §4.2.1.3): digitalSignature only (bit 0), what an ECDHE handshake needs.
  // Peers trust this exact certificate as their anchor (pinning), so it signs nothing else.
  const keyUsage = Buffer.from([0x07, 0x80]); // BIT STRING: 7 unused bits, 1000 0000
  return [
    extension(OID.basicConstraints, true, seq()), // cA FALSE (the DEFAULT, so an empty SEQUENCE)
    extension(OID.keyUsage, true, tagged(0x03, keyUsage)),
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
    extension(OID.subjectAltName, false, seq(generalName)),
  ];
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tagged(0x01, Buffer.from([0xff]))] : []), tagged(0x04, value));
}

function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40; // positive, and no leading zero byte
  return bytes;
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tagged(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

function seq(...parts: Buffer[]): Buffer {
  return tagged(0x30, Buffer.concat(parts));
}

function set(...parts: Buffer[]): Buffer {
  return tagged(0x31, Buffer.concat(parts));
}

function explicit(n: number, content: Buffer): Buffer {
  return tagged(0xa0 | n, content);
}

function integer(bytes: Buffer): Buffer {
  return tagged(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function bitString(bytes: Buffer): Buffer {
  return tagged(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

function utf8(text: string): Buffer {
  return tagged(0x0c, Buffer.from(text, 'utf8'));
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [first * 40 + second];
  for (const arc of rest) {
    const groups: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tagged(0x06, Buffer.from(bytes));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z'); // YYYYMMDDHHMMSSZ
  return date.getUTCFullYear() < 2050 ? tagged(0x17, Buffer.from(iso.slice(2), 'ascii')) : tagged(0x18, Buffer.from(iso, 'ascii'));
}

function ipv4(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function ipv6(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const words = (part: string): number[] => (part === '' ? [] : part.split(':').flatMap((w) => (w.includes('.') ? pairs(ipv4(w)) : [parseInt(w, 16)])));
  const front = words(head);
  const back = tail === undefined ? [] : words(tail);
  const all = [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

function pairs(bytes: Buffer): number[] {
  return [bytes.readUInt16BE(0), bytes.readUInt16BE(2)];
}
