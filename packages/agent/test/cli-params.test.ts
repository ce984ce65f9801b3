/**
 * `--param name=value` pairs of the `template` commands (moved here from test/migrations/cli.test.ts,
 * which drives the commands through the CLI).
 */
import { describe, expect, it } from 'vitest';
import { parseParams } from '../src/cli/input.js';

describe('template parameters', () => {
  it('parseParams nests dotted names and refuses malformed pairs', () => {
    expect(parseParams(['a.b=1', 'a.c="x"', 'd=text', 'e={"k":[1]}'], { z: true })).toEqual({
      z: true,
      a: { b: 1, c: 'x' },
      d: 'text',
      e: { k: [1] },
    });
    expect(() => parseParams(['novalue'])).toThrow(/name=value/);
    expect(() => parseParams(['__proto__.x=1'])).toThrow(/bad name/);
  });
});
