/**
 * @module SQL statements as text plus positional values, and their rendering as one literal
 * string for a caller that has no driver to bind values (psql `-c` inside a rehearsal region).
 * Rendering quotes every value itself, so no caller quotes SQL by hand.
 */

export type SqlValue = string | number | boolean | null;

export interface SqlStatement {
  /** SQL with `$1`, `$2`, … placeholders. */
  readonly text: string;
  readonly values: readonly SqlValue[];
}

/** A value as an SQL literal (strings quoted, with standard_conforming_strings, the default since Postgres 9.1). */
export function sqlLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
    return String(value);
  }
  return `'${value.replace(/'/g, "''")}'`;
}

/** The statement with every placeholder replaced by its value's literal. */
export function inlineStatement(statement: SqlStatement): string {
  return statement.text.replace(/\$(\d+)/g, (placeholder, index: string) => {
    const position = Number(index) - 1;
    if (position < 0 || position >= statement.values.length) throw new RangeError(`${placeholder} has no value`);
    return sqlLiteral(statement.values[position] ?? null);
  });
}

/**
 * One string running `statements` in a READ WRITE transaction (which works on a server whose
 * default is read-only, as a fenced one's is), after `SET LOCAL` of each `settings` entry.
 */
export function inlineReadWriteTransaction(statements: readonly SqlStatement[], settings: Readonly<Record<string, string>> = {}): string {
  const sets = Object.entries(settings).map(([name, value]) => {
    if (!/^[a-z_]+$/.test(name)) throw new RangeError(`not a setting name: ${name}`);
    return `set local ${name} = ${sqlLiteral(value)}`;
  });
  return ['begin read write', ...sets, ...statements.map(inlineStatement), 'commit'].join('; ');
}
