/**
 * @module Postgres log sequence numbers (`X/Y`, two hex halves of a 64-bit position), as used in
 * consistency tokens. Parsing is strict: anything else is not a token.
 */
const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The numeric position of an LSN, or null when `text` is not one. */
export function parseLsn(text: string): bigint | null {
  const match = LSN.exec(text.trim());
  if (match === null) return null;
  return (BigInt(`0x${match[1] ?? '0'}`) << 32n) | BigInt(`0x${match[2] ?? '0'}`);
}

/** The `X/Y` text of a position (upper-case hex, as Postgres prints it): the inverse of parseLsn. */
export function formatLsn(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** True when position `reached` is at or past `wanted`. */
export function lsnReached(reached: string | null, wanted: bigint): boolean {
  if (reached === null) return false;
  const position = parseLsn(reached);
  return position !== null && position >= wanted;
}
