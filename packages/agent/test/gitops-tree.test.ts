/**
 * The gitops layout's parser and sources, without stores: every malformed file is a
 * `GitopsTreeError` (`CONSTRAINT_VIOLATION`) naming the file and, where the problem has one, the line
 * (found here from the input text: the line holding the marked text); a valid tree parses into refs,
 * schemas and environments; a git repository is read at a commit without touching its working files.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConfigError } from '@summit-config/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTree } from '../src/gitops/apply.js';
import { exportTree } from '../src/gitops/export.js';
import { planTree } from '../src/gitops/plan.js';
import { openTreeSource } from '../src/gitops/source.js';
import { parseTree, readTree } from '../src/gitops/tree.js';
import { GitopsTreeError, jsonErrorPosition, lineColumnAt } from '../src/gitops/tree-error.js';

/** The 1-based line of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`"${needle}" is not in the text`);
  return i + 1;
}

interface Bad {
  name: string;
  path: string;
  text: string;
  /** The text on the line the error must name (undefined: the error names no line). */
  at: string | undefined;
  says: RegExp;
}

const BAD: Bad[] = [
  {
    name: 'YAML: unterminated flow sequence',
    path: 'configs/global/a.yaml',
    text: 'config:\n  a: 1\n  list: [1, 2\n  b: 2\n',
    at: 'b: 2',
    says: /invalid YAML/,
  },
  {
    name: 'YAML: a duplicate key',
    path: 'configs/global/a.yaml',
    text: 'config:\n  a: 1\n  a: 2\n',
    at: 'a: 2',
    says: /unique/,
  },
  {
    name: 'YAML: tab indentation',
    path: 'configs/global/a.yaml',
    text: 'config:\n\ta: 1\n',
    at: '\ta: 1',
    says: /Tabs/,
  },
  {
    name: 'JSON: a trailing comma',
    path: 'configs/global/a.json',
    text: '{\n  "config": {\n    "port": 1,\n  }\n}\n',
    at: '  }',
    says: /invalid JSON/,
  },
  {
    name: 'JSON: cut short',
    path: 'configs/global/a.json',
    text: '{\n  "config": {"a": 1}\n',
    at: undefined,
    says: /invalid JSON/,
  },
  {
    name: 'an unknown top-level key (YAML)',
    path: 'configs/app:shop/a.yaml',
    text: 'config: {}\n\nrollouts: {}\n',
    at: 'rollouts',
    says: /unknown key "rollouts"/,
  },
  {
    name: 'an unknown top-level key (JSON)',
    path: 'configs/global/a.json',
    text: '{\n  "config": {},\n  "override": {}\n}\n',
    at: '"override"',
    says: /unknown key "override"/,
  },
  {
    name: 'config that is not a mapping',
    path: 'configs/global/a.yaml',
    text: 'metadata: {}\nconfig: [1]\n',
    at: 'config:',
    says: /config must be a mapping/,
  },
  { name: 'no config', path: 'configs/global/a.yaml', text: 'overrides: {}\n', at: 'overrides', says: /no "config"/ },
  {
    name: 'an override that is not a mapping',
    path: 'configs/global/a.yaml',
    text: 'config: {}\noverrides:\n  dev: 3\n',
    at: 'overrides:',
    says: /overrides\.dev must be a mapping/,
  },
  {
    name: 'reserved metadata',
    path: 'configs/global/a.yaml',
    text: 'config: {}\nmetadata:\n  deleted: true\n',
    at: 'metadata:',
    says: /metadata\.deleted is reserved/,
  },
  {
    name: 'the gitops metadata key',
    path: 'configs/global/a.yaml',
    text: 'config: {}\nmetadata: { gitops: x }\n',
    at: 'metadata:',
    says: /metadata\.gitops is reserved/,
  },
  {
    name: 'an invalid rollout',
    path: 'configs/global/a.yaml',
    text: 'config: {}\nrollout:\n  rules: [{ id: p, strategy: bogus }]\n',
    at: 'rollout:',
    says: /strategy/,
  },
  { name: 'a file that is not a mapping', path: 'configs/global/a.yaml', text: '- 1\n', at: '- 1', says: /mapping/ },
  {
    name: 'a file directly under configs/',
    path: 'configs/a.yaml',
    text: 'config: {}\n',
    at: undefined,
    says: /configs\/<scope>/,
  },
  { name: 'an unknown scope', path: 'configs/prod/a.yaml', text: 'config: {}\n', at: undefined, says: /no valid ref/ },
  {
    name: 'another extension',
    path: 'configs/global/a.txt',
    text: 'config: {}\n',
    at: undefined,
    says: /\.yaml, \.yml or \.json/,
  },
  {
    name: 'a YAML schema',
    path: 'schemas/db.yaml',
    text: 'type: object\n',
    at: undefined,
    says: /schemas\/<id>\.json/,
  },
  { name: 'a schema that is not an object', path: 'schemas/db.json', text: '[]\n', at: '[]', says: /JSON object/ },
  {
    name: 'an environment with an unknown field',
    path: 'environments.yaml',
    text: '- name: dev\n  production: false\n- name: prod\n  prod: true\n',
    at: 'name: prod',
    says: /unknown field "prod"/,
  },
  {
    name: 'an environment listed twice',
    path: 'environments.yaml',
    text: '- name: dev\n  production: false\n- name: dev # again\n  production: true\n',
    at: '# again',
    says: /listed twice/,
  },
  { name: 'environments that are not a list', path: 'environments.yaml', text: 'dev: {}\n', at: 'dev', says: /list/ },
];

describe('parseTree refuses a malformed file, naming file and line', () => {
  it.each(BAD)('$name', ({ path, text, at, says }) => {
    let caught: unknown;
    try {
      parseTree([
        { path: 'configs/global/fine.yaml', text: 'config: { ok: true }\n' },
        { path, text },
      ]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GitopsTreeError);
    const e = caught as GitopsTreeError;
    expect(isConfigError(e) && e.code).toBe('CONSTRAINT_VIOLATION');
    expect(e.file).toBe(path);
    expect(e.message).toMatch(says);
    expect(e.message.startsWith(path)).toBe(true);
    expect(e.toJSON()).toMatchObject({ code: 'CONSTRAINT_VIOLATION', file: path });
    if (at !== undefined) {
      expect(e.line).toBe(lineOf(text, at));
      expect(e.message.startsWith(`${path}:${e.line}`)).toBe(true);
    }
  });

  it('refuses two files for one ref', () => {
    expect(() =>
      parseTree([
        { path: 'configs/global/db.yaml', text: 'config: {}\n' },
        { path: 'configs/global/db.json', text: '{"config": {}}' },
      ]),
    ).toThrow(/global\/db is also defined by configs\/global\/db.json/);
  });
});

describe('parseTree reads a valid tree', () => {
  it('refs from paths (scopes as directories, ids with sub-directories), schemas, environments', () => {
    const tree = parseTree([
      {
        path: 'configs/app:shop/features/checkout.yaml',
        text: 'config:\n  on: true\noverrides:\n  dev: { on: false }\n',
      },
      { path: 'configs/global/db.json', text: '{"config": {"port": 1}, "metadata": {"owner": "x"}, "rollout": null}' },
      { path: 'configs/global/.gitkeep', text: '' },
      { path: 'README.md', text: '# not part of the layout' },
      { path: 'schemas/features/checkout.json', text: '{"type": "object"}' },
      {
        path: 'environments.yaml',
        text: '- name: dev\n  production: false\n- name: prod\n  parent: dev\n  production: true\n',
      },
    ]);
    expect(tree.refs.map((r) => [r.key, r.file])).toEqual([
      ['app:shop/features/checkout', 'configs/app:shop/features/checkout.yaml'],
      ['global/db', 'configs/global/db.json'],
    ]);
    expect(tree.refs[0]?.document).toEqual({
      config: { on: true },
      overrides: { dev: { on: false } },
      rollout: null,
      metadata: {},
    });
    expect(tree.refs[0]?.lines).toEqual({ config: 1, overrides: 3 });
    expect(tree.refs[1]?.document.metadata).toEqual({ owner: 'x' });
    expect(tree.schemas).toEqual([
      { id: 'features/checkout', file: 'schemas/features/checkout.json', schema: { type: 'object' } },
    ]);
    expect(tree.environments).toEqual([
      { name: 'dev', production: false },
      { name: 'prod', parent: 'dev', production: true },
    ]);
  });

  it('positions: offsets to lines and columns, and the JSON parser messages', () => {
    expect(lineColumnAt('ab\ncd\nef', 4)).toEqual({ line: 2, column: 2 });
    const text = '{\n "a": 1,\n}';
    let message = '';
    try {
      JSON.parse(text);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(jsonErrorPosition(text, message)?.line).toBe(3);
    expect(jsonErrorPosition('x', 'no position here')).toBeUndefined();
  });
});

describe('tree sources', () => {
  let root: string;
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.test',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.test',
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: tmpdir(),
  };
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'summit-gitops-tree-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads a repository at a commit, a sub-directory on disk or at --rev, and leaves the working files alone', async () => {
    const repo = join(root, 'repo');
    await mkdir(join(repo, 'deploy', 'configs', 'global'), { recursive: true });
    git(repo, 'init', '--quiet', '--initial-branch=main');
    await writeFile(join(repo, 'deploy', 'configs', 'global', 'a.yaml'), 'config: { v: 1 }\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '--quiet', '-m', 'one');
    const one = git(repo, 'rev-parse', 'HEAD');
    // Uncommitted: a change on disk, and a malformed new file.
    await writeFile(join(repo, 'deploy', 'configs', 'global', 'a.yaml'), 'config: { v: 2 }\n');

    // The sub-directory without --rev: its files on disk, no commit.
    const disk = await openTreeSource(join(repo, 'deploy'));
    expect(disk.commit).toBeUndefined();
    expect(disk.tree.refs[0]?.document.config).toEqual({ v: 2 });
    // With --rev: that directory at the commit.
    const atRev = await openTreeSource(join(repo, 'deploy'), { rev: 'main' });
    expect(atRev).toMatchObject({ commit: one, prefix: 'deploy/' });
    expect(atRev.tree.refs[0]).toMatchObject({
      key: 'global/a',
      file: 'configs/global/a.yaml',
      document: { config: { v: 1 } },
    });
    // The working file is still the uncommitted one, and nothing is staged.
    expect(git(repo, 'status', '--porcelain')).toBe('M deploy/configs/global/a.yaml');
    expect(git(repo, 'diff', '--cached', '--name-only')).toBe('');

    await expect(openTreeSource(join(root, 'missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(readTree(join(root, 'missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(openTreeSource(repo, { rev: '--upload-pack=x' })).rejects.toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
    });
    await expect(openTreeSource(`file://${join(root, 'nothing.git')}`)).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
    });
  });
});

describe('the entry points check their options, naming the bad one', () => {
  const service = { list: async () => [], set: async () => undefined } as never;
  const actor = { id: 'alice' };
  it.each([
    ['planTree', () => planTree(undefined as never), /planTree options are required/],
    ['planTree', () => planTree({ service: {} as never, actor, source: {} as never }), /option service/],
    ['planTree', () => planTree({ service, actor: {} as never, source: {} as never }), /option actor/],
    ['planTree', () => planTree({ service, actor, source: {} as never }), /option source/],
    ['applyTree', () => applyTree({ service, actor, plan: {} as never }), /option plan/],
    ['exportTree', () => exportTree({ service, actor, dir: '' }), /option dir/],
  ])('%s', async (_name, call, says) => {
    await expect(call()).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION', message: expect.stringMatching(says) });
  });
});
