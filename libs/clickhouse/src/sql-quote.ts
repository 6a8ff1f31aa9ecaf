// ClickHouse SQL literals for text Sluice writes into a statement itself (a file path, a setting,
// a query parameter's value in a SET): one escaping for every caller.

/** String literal in ClickHouse SQL: any bytes, with backslash, quote and NUL escaped. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0')}'`
}

/** Back-quoted identifier, escaped as quoteString() escapes. */
export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\0/g, '\\0')}\``
}
