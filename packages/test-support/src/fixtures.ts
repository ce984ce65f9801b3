/**
 * The data fixtures in test/fixtures, shared by tests in both trees (the documentation points at some
 * of them, so they stay there), and JSON files read next to a test.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './services.js';

/** Absolute path of `test/fixtures/<name>` (a trailing `/` is kept). */
export function fixturePath(name: string): string {
  return join(repoRoot, 'test', 'fixtures', name);
}

/** A JSON file parsed: `test/fixtures/<name>`, or a URL (`new URL('./fixtures/x.json', import.meta.url)`). */
export function readJson<T = unknown>(file: string | URL): T {
  return JSON.parse(readFileSync(typeof file === 'string' ? fixturePath(file) : file, 'utf8')) as T;
}

/** The ref strings of test/fixtures/refs.json: valid ones with what they parse to, invalid ones. */
export interface RefFixture {
  valid: Array<[string, { scope: string; id: string }]>;
  invalid: string[];
}
