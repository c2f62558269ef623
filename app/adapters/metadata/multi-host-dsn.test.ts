import { describe, expect, it } from 'vitest';
import { parseMultiHostDsn } from './multi-host-dsn.js';

describe('parseMultiHostDsn', () => {
  it('returns a single-host DSN unchanged, whatever it carries', () => {
    for (const dsn of [
      'postgres://user:pw@db.internal:5432/callfs?sslmode=require',
      'postgresql://db/callfs',
      'postgres://user@/callfs?host=/var/run/postgresql',
      'postgres://u:p@h:5432/db?target_session_attrs=standby',
    ]) {
      expect(parseMultiHostDsn(dsn)).toEqual([{ label: expect.any(String) as string, dsn }]);
    }
    expect(parseMultiHostDsn('postgres://user:pw@db.internal:5432/callfs')[0]?.label).toBe('db.internal:5432');
  });

  it('splits a host list into one DSN per host, in order, keeping credentials, database and options', () => {
    const hosts = parseMultiHostDsn('postgres://callfs:s3cret@10.0.0.1:5432,10.0.0.2:5433,db3/files?sslmode=require&application_name=node');
    expect(hosts).toEqual([
      { label: '10.0.0.1:5432', dsn: 'postgres://callfs:s3cret@10.0.0.1:5432/files?sslmode=require&application_name=node' },
      { label: '10.0.0.2:5433', dsn: 'postgres://callfs:s3cret@10.0.0.2:5433/files?sslmode=require&application_name=node' },
      { label: 'db3', dsn: 'postgres://callfs:s3cret@db3/files?sslmode=require&application_name=node' },
    ]);
  });

  it('drops target_session_attrs=read-write (or primary) and keeps the other parameters', () => {
    expect(parseMultiHostDsn('postgres://u@a:1,b:2/db?target_session_attrs=read-write').map((h) => h.dsn)).toEqual(['postgres://u@a:1/db', 'postgres://u@b:2/db']);
    expect(parseMultiHostDsn('postgres://u@a:1,b:2/db?connect_timeout=3&target_session_attrs=primary&sslmode=disable').map((h) => h.dsn)).toEqual([
      'postgres://u@a:1/db?connect_timeout=3&sslmode=disable',
      'postgres://u@b:2/db?connect_timeout=3&sslmode=disable',
    ]);
  });

  it('accepts bracketed IPv6 hosts and passwords containing @ and commas', () => {
    const hosts = parseMultiHostDsn('postgres://u:p@ss,w@[::1]:5432,[fd00::2]/db');
    expect(hosts).toEqual([
      { label: '[::1]:5432', dsn: 'postgres://u:p@ss,w@[::1]:5432/db' },
      { label: '[fd00::2]', dsn: 'postgres://u:p@ss,w@[fd00::2]/db' },
    ]);
  });

  it('refuses malformed host lists and non-primary session attributes without echoing credentials', () => {
    const attempts = [
      'postgres://admin:topsecret@a:5432,,b:5433/db',
      'postgres://admin:topsecret@a:5432,b:99999/db',
      'postgres://admin:topsecret@a:5432,b:x/db',
      'postgres://admin:topsecret@a,b/db?target_session_attrs=standby',
      'postgres://admin:topsecret@a,b/db?target_session_attrs=any',
    ];
    for (const dsn of attempts) {
      let message = '';
      try {
        parseMultiHostDsn(dsn);
      } catch (error) {
        message = error instanceof Error ? error.message : String(error);
      }
      expect(message).toMatch(/^metadata_store\.dsn: /);
      expect(message).not.toContain('topsecret');
      expect(message).not.toContain('admin');
    }
  });
});
