import { describe, expect, it } from 'vitest';
import { hasCode } from '../errors/app-error.js';
import { ancestorsOf, isWithin, parentOf, parsePath, parseUrlPath } from './path.js';

describe('parsePath canonicalisation (CallFS reference §3.3)', () => {
  it.each([
    ['dir/../secret.txt', '/secret.txt', false],
    ['./secret.txt', '/secret.txt', false],
    ['a//b', '/a/b', false],
    ['a///b////c', '/a/b/c', false],
    ['a/b/.', '/a/b', false],
    ['a/./b/', '/a/b', true],
    ['dir/../other/', '/other', true],
    ['', '/', true],
    ['/', '/', true],
    ['.', '/', false],
    ['./', '/', true],
    ['a/..', '/', false],
    ['file with spaces.txt', '/file with spaces.txt', false],
    ['tab\there', '/tab\there', false],
    ['%2e%2e%2fetc', '/%2e%2e%2fetc', false],
    ['full\uFF0Fwidth', '/full\uFF0Fwidth', false],
  ])('%j → %s (directory intent %s)', (raw, path, dir) => {
    expect(parsePath(raw)).toEqual({ path, directoryIntent: dir });
  });

  it.each([
    ['../etc/passwd'],
    ['a/../../etc/passwd'],
    ['..'],
    ['a/../..'],
    ['foo\u0000bar'],
    ['back\\slash'],
    ['new\nline'],
    ['del\u007f'],
    ['bidi\u202Eevil'],
    ['isolate\u2066x'],
    ['C:/windows'],
    ['a/.callfs-tmp-123'],
    ['x'.repeat(256)],
    [('abcdefgh/'.repeat(500))],
    ['abcdefgh/'.repeat(114)],
    ['zero\u200Bwidth'],
    ['joiner\u200Dx'],
    ['non\u200Cjoiner'],
    ['\uFEFFbom.txt'],
    ['line\u2028sep'],
    ['para\u2029sep'],
    ['soft\u00ADhyphen'],
    ['word\u2060joiner'],
    ['lone\uD800half'],
    ['.callfs'],
    ['.callfs/cluster.json'],
    ['/.callfs/blobs/ab/cd/x'],
    ['a/../.callfs/x'],
  ])('rejects %j with INVALID_PATH', (raw) => {
    let thrown: unknown;
    try {
      parsePath(raw);
    } catch (error) {
      thrown = error;
    }
    expect(hasCode(thrown, 'INVALID_PATH')).toBe(true);
  });
});

describe('one Unicode form (NFC)', () => {
  it('composes decomposed names, so NFC and NFD spellings are one path', () => {
    const nfd = 'cafe\u0301.txt';
    const nfc = 'caf\u00E9.txt';
    expect(nfd).not.toBe(nfc);
    expect(parsePath(nfd).path).toBe(`/${nfc}`);
    expect(parsePath(`dir/${nfc}`).path).toBe(parsePath(`dir/${nfd}`).path);
    expect(parseUrlPath('cafe%CC%81.txt').path).toBe(`/${nfc}`);
  });

  it('keeps `.callfs` below the top level and visible non-ASCII names', () => {
    expect(parsePath('a/.callfs/b').path).toBe('/a/.callfs/b');
    expect(parsePath('.callfsx').path).toBe('/.callfsx');
    expect(parsePath('emoji 👍🏽.txt').path).toBe('/emoji 👍🏽.txt');
  });

  it('accepts a path of exactly the limit and refuses one byte more', () => {
    const name = 'n'.repeat(200);
    const exact = `/${name}/${name}/${name}/${name}/${'m'.repeat(1024 - 4 * 201 - 1)}`;
    expect(new TextEncoder().encode(exact).length).toBe(1024);
    expect(parsePath(exact).path).toBe(exact);
    expect(() => parsePath(`${exact}x`)).toThrow(/longer than 1024 bytes/);
  });
});

describe('parseUrlPath decodes each segment exactly once', () => {
  it.each([
    ['file%20with%20spaces.txt', '/file with spaces.txt'],
    ['file%2Bplus.txt', '/file+plus.txt'],
    ['file%40at.txt', '/file@at.txt'],
    ['%252e%252e%252fetc', '/%2e%2e%2fetc'],
    ['a/%EF%BC%8F/b', '/a/\uFF0F/b'],
    ['dir/sub/', '/dir/sub'],
  ])('%s → %s', (raw, path) => {
    expect(parseUrlPath(raw).path).toBe(path);
  });

  it.each([['..%2F..%2Fetc%2Fpasswd'], ['a%2Fb'], ['test%5Cfile.txt'], ['test%00file.txt'], ['bad%zzescape'], ['%E2%80%AEevil'], ['%2e%2e/%2e%2e/etc']])(
    'rejects %s',
    (raw) => {
      expect(() => parseUrlPath(raw)).toThrow(/invalid path/);
    },
  );

  it('resolves decoded dot segments inside the root instead of escaping it', () => {
    expect(parseUrlPath('a/%2e%2e/b').path).toBe('/b');
  });
});

describe('path helpers', () => {
  it('parentOf / ancestorsOf / isWithin', () => {
    expect(parentOf('/a/b/c')).toBe('/a/b');
    expect(parentOf('/a')).toBe('/');
    expect(parentOf('/')).toBe('/');
    expect(ancestorsOf('/a/b/c')).toEqual(['/a', '/a/b']);
    expect(ancestorsOf('/a')).toEqual([]);
    expect(isWithin('/a/b', '/a')).toBe(true);
    expect(isWithin('/ab', '/a')).toBe(false);
    expect(isWithin('/a', '/a')).toBe(true);
  });
});
