/**
 * Python string literals for text the user did not type (file names): whatever the characters,
 * the literal must read back, with `ast.literal_eval`, as exactly the same string.
 */

// Characters a reader could not see or that would break the source line: control and format
// characters, line and paragraph separators, surrogates (a lone half of a pair can occur in a JS
// string), private-use and unassigned code points.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u;

const SHORT_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t'
};

function hexEscape(codePoint: number): string {
  const hex = codePoint.toString(16);
  if (codePoint < 0x100) {
    return `\\x${hex.padStart(2, '0')}`;
  }
  if (codePoint < 0x10000) {
    return `\\u${hex.padStart(4, '0')}`;
  }
  return `\\U${hex.padStart(8, '0')}`;
}

/**
 * `value` as a double-quoted Python 3 `str` literal. Printable characters, non-ASCII ones
 * included, are kept as they are (notebooks are UTF-8); backslashes and quotes are escaped;
 * invisible characters become `\xNN`, `\uNNNN` or `\UNNNNNNNN` escapes.
 */
export function pythonString(value: string): string {
  let literal = '"';
  // for..of walks code points, so an astral character stays one character; a lone surrogate
  // comes out on its own and is escaped.
  for (const char of value) {
    const short = SHORT_ESCAPES[char];
    if (short !== undefined) {
      literal += short;
    } else if (INVISIBLE.test(char)) {
      literal += hexEscape(char.codePointAt(0) as number);
    } else {
      literal += char;
    }
  }
  return literal + '"';
}
