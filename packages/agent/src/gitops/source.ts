/**
 * Where a gitops tree comes from: a plain directory (commit unknown), or a git repository read at a
 * commit with the git CLI (`git ls-tree` + `git cat-file --batch`; nothing is checked out, the
 * repository's index and working files are not touched).
 *
 * - a URL (`file://`, `https://`, `ssh://`, `user@host:path`): cloned bare into a temporary directory
 *   (removed afterwards) and read at `rev` (default `HEAD`);
 * - a local path that is a repository's top level, or a bare repository: read at `rev` (default `HEAD`;
 *   uncommitted changes are not part of the tree);
 * - a local path inside a repository: its files on disk, or, with `rev`, that sub-directory at `rev`;
 * - any other directory: its files on disk (`rev` is refused: there is no commit to read).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { errors } from '@summit-config/core/internal';
import { ENVIRONMENTS_FILE, type GitopsTree, parseTree, readTree, type TreeFile } from './tree.js';

/** A tree and where it came from. */
export interface TreeSource {
  tree: GitopsTree;
  /** The repository (absolute path or URL), or the directory when it is not one. */
  repo: string;
  /** The commit read (40 hex digits), or undefined for a plain directory. */
  commit: string | undefined;
  /** The tree's directory inside the repository (`''` at the top level; `deploy/config/` otherwise). */
  prefix: string;
}

/** Options of {@link openTreeSource}. */
export interface OpenSourceOptions {
  /** The commit, branch or tag to read (git sources; default `HEAD`). Refused for a plain directory. */
  rev?: string;
  signal?: AbortSignal;
}

const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*:\/\/|[\w.-]+@[\w.-]+:)/i;

/** Runs git; resolves with stdout as a Buffer, or rejects with `BACKEND_UNAVAILABLE` naming the command. */
function git(args: readonly string[], options: { cwd?: string; input?: string; signal?: AbortSignal } = {}) {
  return new Promise<Buffer>((resolvePromise, reject) => {
    const child = spawn('git', args, {
      cwd: options.cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (error) => reject(errors.unavailable('git', error)));
    child.on('close', (code) => {
      if (code === 0) resolvePromise(Buffer.concat(out));
      else {
        const text = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-3).join(' ');
        reject(new GitCommandError(`git ${args[0]} failed (exit ${code}): ${text}`));
      }
    });
    // git may exit before reading its input (a directory that is not a repository): the exit code
    // reports that, so a broken pipe on stdin is not an error of its own.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

class GitCommandError extends Error {}

async function gitText(args: readonly string[], cwd?: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return (await git(args, { cwd, signal })).toString('utf8').trim();
  } catch (error) {
    if (error instanceof GitCommandError) return undefined;
    throw error;
  }
}

/** The full SHA of `rev` in the repository at `gitDir` (a commit), or `NOT_FOUND`. */
async function resolveCommit(cwd: string, rev: string, signal?: AbortSignal): Promise<string> {
  if (rev.startsWith('-') || rev.length === 0 || rev.length > 256)
    throw errors.constraint(`--rev ${rev} is not a revision`);
  const sha = await gitText(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], cwd, signal);
  if (!sha) throw errors.notFound(`revision ${rev} is not a commit of ${cwd}`);
  return sha;
}

/** The blobs of `commit` under `prefix` that belong to the layout, with their text. */
async function filesAt(cwd: string, commit: string, prefix: string, signal?: AbortSignal): Promise<TreeFile[]> {
  const listing = (
    await git(['ls-tree', '-r', '-z', '--full-tree', commit, ...(prefix ? ['--', prefix] : [])], { cwd, signal })
  )
    .toString('utf8')
    .split('\0')
    .filter((l) => l.length > 0);
  const wanted: Array<{ path: string; oid: string }> = [];
  for (const line of listing) {
    const tab = line.indexOf('\t');
    const [mode, type, oid] = line.slice(0, tab).split(' ');
    const full = line.slice(tab + 1);
    if (type !== 'blob' || mode === '120000' || !oid || !full.startsWith(prefix)) continue;
    const path = full.slice(prefix.length);
    if (path.startsWith('configs/') || path.startsWith('schemas/') || path === ENVIRONMENTS_FILE)
      wanted.push({ path, oid });
  }
  if (wanted.length === 0) return [];
  const batch = await git(['cat-file', '--batch'], { cwd, input: `${wanted.map((w) => w.oid).join('\n')}\n`, signal });
  const files: TreeFile[] = [];
  let at = 0;
  for (const { path } of wanted) {
    const nl = batch.indexOf(0x0a, at);
    const header = batch.subarray(at, nl).toString('utf8').split(' ');
    const size = Number(header[2]);
    if (header[1] !== 'blob' || !Number.isSafeInteger(size))
      throw errors.unavailable('git', new Error(`cat-file: unexpected answer for ${path}`));
    files.push({ path, text: batch.subarray(nl + 1, nl + 1 + size).toString('utf8') });
    at = nl + 1 + size + 1;
  }
  return files;
}

/**
 * Opens the tree `spec` names (see the module comment). Throws `NOT_FOUND` for a path that does not
 * exist or a revision that is not a commit, `CONSTRAINT_VIOLATION` for `rev` on a plain directory and
 * `GitopsTreeError` (`CONSTRAINT_VIOLATION`, file and line) for a malformed file; git failures (an
 * unreachable remote) are `BACKEND_UNAVAILABLE`.
 */
export async function openTreeSource(spec: string, options: OpenSourceOptions = {}): Promise<TreeSource> {
  try {
    return await open(spec, options);
  } catch (error) {
    if (error instanceof GitCommandError) throw errors.unavailable('git', error);
    throw error;
  }
}

async function open(spec: string, options: OpenSourceOptions): Promise<TreeSource> {
  if (typeof spec !== 'string' || spec.length === 0)
    throw errors.constraint('the gitops tree (a directory or repository) is required');
  const { rev, signal } = options;
  if (URL_LIKE.test(spec)) {
    const tmp = await mkdtemp(join(tmpdir(), 'summit-gitops-'));
    try {
      try {
        await git(['clone', '--bare', '--quiet', '--', spec, join(tmp, 'repo.git')], { signal });
      } catch (error) {
        if (error instanceof GitCommandError)
          throw errors.unavailable('git', new Error(`cannot clone ${spec}: ${error.message}`));
        throw error;
      }
      const cwd = join(tmp, 'repo.git');
      const commit = await resolveCommit(cwd, rev ?? 'HEAD', signal);
      return { tree: parseTree(await filesAt(cwd, commit, '', signal)), repo: spec, commit, prefix: '' };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const dir = resolve(spec);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw errors.notFound(`gitops tree ${spec} is not a directory`);
  const bare = (await gitText(['rev-parse', '--is-bare-repository'], dir, signal)) === 'true';
  const top = bare ? undefined : await gitText(['rev-parse', '--show-toplevel'], dir, signal);
  if (bare) {
    const commit = await resolveCommit(dir, rev ?? 'HEAD', signal);
    return { tree: parseTree(await filesAt(dir, commit, '', signal)), repo: dir, commit, prefix: '' };
  }
  if (top !== undefined && top.length > 0) {
    const isTop = (await realpath(top)) === (await realpath(dir));
    if (isTop || rev !== undefined) {
      const prefix = isTop ? '' : ((await gitText(['rev-parse', '--show-prefix'], dir, signal)) ?? '');
      const commit = await resolveCommit(dir, rev ?? 'HEAD', signal);
      return { tree: parseTree(await filesAt(top, commit, prefix, signal)), repo: top, commit, prefix };
    }
  } else if (rev !== undefined) {
    throw errors.constraint(`--rev needs a git repository: ${spec} is a plain directory`);
  }
  return { tree: await readTree(dir), repo: dir, commit: undefined, prefix: '' };
}
