/**
 * Splits a SQL script into statements, for drivers that only run one statement per call
 * (a Prisma client runs raw SQL as prepared statements). Aware of quotes, dollar quoting and
 * comments, so a `;` inside a function body or a string does not split.
 */
export function splitSqlStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;
  while (i < n) {
    const c = script[i]!;
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      const end = script.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && next === '*') {
      const end = script.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
    } else if (c === "'" || c === '"') {
      i = skipQuoted(script, i, c);
    } else if (c === '$') {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i))?.[0];
      if (tag) {
        const end = script.indexOf(tag, i + tag.length);
        i = end === -1 ? n : end + tag.length;
      } else {
        i += 1;
      }
    } else if (c === ';') {
      pushStatement(statements, script.slice(start, i));
      i += 1;
      start = i;
    } else {
      i += 1;
    }
  }
  pushStatement(statements, script.slice(start));
  return statements;
}

function skipQuoted(script: string, from: number, quote: string): number {
  let i = from + 1;
  while (i < script.length) {
    if (script[i] === quote) {
      if (script[i + 1] === quote)
        i += 2; // doubled quote inside the literal
      else return i + 1;
    } else {
      i += 1;
    }
  }
  return script.length;
}

function pushStatement(out: string[], text: string): void {
  // Keep statements that hold more than comments and whitespace.
  const code = text
    .replace(/--[^\n]*\n?/g, '')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .trim();
  if (code.length > 0) out.push(text.trim());
}
