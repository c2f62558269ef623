import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSelfSignedCertificate, splitPemBundle } from './certificate.js';
import { SelfSignedIdentity } from './self-signed-identity.js';

const DAY = 86_400_000;
/** The keyUsage extension, critical, with digitalSignature alone (DER of RFC 5280 §4.2.1.3). */
const KEY_USAGE_DIGITAL_SIGNATURE_ONLY = Buffer.from('0603551d0f0101ff040403020780', 'hex');
/** basicConstraints, critical, cA absent (FALSE). */
const NOT_A_CA = Buffer.from('0603551d130101ff04023000', 'hex');

describe('createSelfSignedCertificate', () => {
  it('names exactly the given IPv4 address, is self-signed with an ECDSA P-256 key, and its key matches', () => {
    const now = new Date('2026-03-01T12:00:00Z');
    const made = createSelfSignedCertificate({ host: '10.0.1.7', validityMs: 7 * DAY, now });
    const cert = new X509Certificate(made.certPem);
    expect(cert.subjectAltName).toBe('IP Address:10.0.1.7');
    expect(cert.checkIP('10.0.1.7')).toBe('10.0.1.7');
    expect(cert.checkIP('10.0.1.8')).toBeUndefined();
    expect(cert.checkHost('localhost')).toBeUndefined();
    expect(cert.subject).toBe('CN=10.0.1.7');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(cert.checkPrivateKey(createPrivateKey(made.keyPem))).toBe(true);
    expect(createPublicKey(made.keyPem).export({ format: 'jwk' })).toEqual(cert.publicKey.export({ format: 'jwk' }));
    expect(made.fingerprint256).toBe(cert.fingerprint256);
  });

  it('is valid from five minutes before `now` for the given validity, and no longer', () => {
    const now = new Date('2026-03-01T12:00:00Z');
    const made = createSelfSignedCertificate({ host: '10.0.1.7', validityMs: 7 * DAY, now });
    const cert = new X509Certificate(made.certPem);
    expect(new Date(cert.validFrom).toISOString()).toBe('2026-03-01T11:55:00.000Z');
    expect(new Date(cert.validTo).toISOString()).toBe('2026-03-08T12:00:00.000Z');
    expect(made.notBefore.toISOString()).toBe('2026-03-01T11:55:00.000Z');
    expect(made.notAfter.toISOString()).toBe('2026-03-08T12:00:00.000Z');
  });

  it('is for TLS servers and clients only: digitalSignature, not a CA, server and client auth', () => {
    const cert = new X509Certificate(createSelfSignedCertificate({ host: '10.0.1.7', validityMs: DAY }).certPem);
    expect(cert.ca).toBe(false);
    expect(cert.raw.includes(KEY_USAGE_DIGITAL_SIGNATURE_ONLY)).toBe(true);
    expect(cert.raw.includes(NOT_A_CA)).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // Node lists the extended key usages here
  });

  it('names an IPv6 address (with or without brackets) or a DNS name', () => {
    const v6 = new X509Certificate(createSelfSignedCertificate({ host: '[fd00::1:2]', validityMs: DAY }).certPem);
    expect(v6.subjectAltName).toBe('IP Address:FD00:0:0:0:0:0:1:2');
    expect(v6.checkIP('fd00::1:2')).toBe('fd00::1:2');
    const dns = new X509Certificate(createSelfSignedCertificate({ host: 'node-3.internal.example', validityMs: DAY }).certPem);
    expect(dns.subjectAltName).toBe('DNS:node-3.internal.example');
    expect(dns.checkHost('node-3.internal.example')).toBe('node-3.internal.example');
    expect(dns.checkHost('node-4.internal.example')).toBeUndefined();
  });

  it('makes a new key and serial number every time', () => {
    const a = new X509Certificate(createSelfSignedCertificate({ host: '10.0.1.7', validityMs: DAY }).certPem);
    const b = new X509Certificate(createSelfSignedCertificate({ host: '10.0.1.7', validityMs: DAY }).certPem);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.fingerprint256).not.toBe(b.fingerprint256);
    expect(a.publicKey.export({ format: 'jwk' })).not.toEqual(b.publicKey.export({ format: 'jwk' }));
  });
});

describe('SelfSignedIdentity', () => {
  it('announces the successor at half the validity and serves it at three quarters, never serving what it does not announce', () => {
    let now = new Date('2026-03-01T00:00:00Z');
    const identity = new SelfSignedIdentity({ host: '10.0.1.7', validityMs: 8 * DAY, now: () => now });
    const first = identity.serving();
    expect(splitPemBundle(identity.announced())).toEqual([first.cert]);
    const at = (days: number): void => {
      now = new Date(Date.parse('2026-03-01T00:00:00Z') + days * DAY);
    };
    at(3.9);
    expect(identity.tick()).toBe('none');
    at(4);
    expect(identity.tick()).toBe('announced-next');
    const bundle = splitPemBundle(identity.announced());
    expect(bundle).toHaveLength(2);
    expect(bundle[0]).toBe(first.cert);
    expect(identity.serving().cert).toBe(first.cert);
    at(6);
    expect(identity.tick()).toBe('switched');
    const second = identity.serving();
    expect(second.cert).toBe(bundle[1]);
    expect(splitPemBundle(identity.announced())).toEqual([second.cert]);
    // The successor was made on day 4: it is renewed again from day 8 and served from day 10, before it expires on day 12.
    expect(new Date(new X509Certificate(second.cert).validTo).getTime()).toBe(Date.parse('2026-03-13T00:00:00Z'));
    at(7.9);
    expect(identity.tick()).toBe('none');
    at(8);
    expect(identity.tick()).toBe('announced-next');
    at(10);
    expect(identity.tick()).toBe('switched');
  });
});
