import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pythonString } from '../labextension/src/pyliteral';

/** Python's own reading of each literal (`ast.literal_eval`), as JSON strings. */
function pythonReads(literals: string[]): string[] {
  const script = [
    'import ast, json, sys',
    'literals = json.load(sys.stdin)',
    'json.dump([ast.literal_eval(x) for x in literals], sys.stdout)'
  ].join('\n');
  const python = process.env.PYTHON ?? 'python3';
  const run = spawnSync(python, ['-c', script], { input: JSON.stringify(literals) });
  if (run.status !== 0) {
    throw new Error(`${python} failed: ${run.stderr.toString()}`);
  }
  return JSON.parse(run.stdout.toString()) as string[];
}

/** A reproducible generator (mulberry32), so that a failure names a string that fails again. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const TRICKY = [
  '',
  'cat.png',
  'photos/my cat.png',
  'it\'s "quoted".png',
  '"""triple""".jpg',
  "'''single'''.jpg",
  'back\\slash\\n.png',
  'ends with a backslash\\',
  'tab\there\nnew line\rreturn.gif',
  'écrevisse/日本語の写真/😀 smile.webp',
  'nul\u0000bell\u0007del\u007fc1\u0085.bmp',
  'zero\u200bwidth\u2028line\u2029para\ufeffbom.tif',
  'lone \ud800 high and \udfff low surrogate.png',
  'private \ue000 and astral \u{10ffff}.jpeg',
  '{braces} and %percent and $dollar.png',
  '\\x41 stays \\u0041 literal.png'
];

describe('pythonString', () => {
  it('reads back as the same string in Python, for paths with quotes, escapes and unicode', () => {
    const literals = TRICKY.map(pythonString);
    expect(pythonReads(literals)).toEqual(TRICKY);
  });

  it('reads back for random strings from the whole of Unicode', () => {
    const next = random(14);
    const strings = Array.from({ length: 300 }, () =>
      Array.from({ length: 1 + Math.floor(next() * 12) }, () => {
        // Half from ASCII (quotes and backslashes are there), half from anywhere.
        const codePoint = next() < 0.5 ? Math.floor(next() * 0x80) : Math.floor(next() * 0x110000);
        return String.fromCodePoint(codePoint);
      }).join('')
    );
    expect(pythonReads(strings.map(pythonString))).toEqual(strings);
  });

  it('keeps printable text readable and escapes what cannot be seen', () => {
    expect(pythonString('écrevisse 😀.png')).toBe('"écrevisse 😀.png"');
    expect(pythonString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(pythonString('a\nb\u0000c\u200bd\u{e0001}')).toBe('"a\\nb\\x00c\\u200bd\\U000e0001"');
  });

  it('is one line, whatever the input', () => {
    expect(pythonString('a\nb\rc\u2028d\u0085e')).not.toMatch(/[\n\r\u2028\u2029\u0085]/);
  });
});
