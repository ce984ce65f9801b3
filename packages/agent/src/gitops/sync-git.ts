/**
 * The sync loop's git side: a cache repository (created with `git init`, never checked out) into which
 * the followed branch is fetched with the git CLI (`+refs/heads/<branch>:refs/gitops/head`, so a
 * force push is fetched too and judged by the loop, not by git), and the ancestry test between the last
 * applied commit and the new head (`git merge-base --is-ancestor`). Trees are read from the cache with
 * `openTreeSource` (source.ts) at a commit; the cache's index and working files are never touched.
 */
import { execFile } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '@summit-config/core/internal';
import { openTreeSource, type TreeSource } from './source.js';

/** The result of a git command that ran (any exit code); a git that cannot start rejects `BACKEND_UNAVAILABLE`. */
interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

function runGit(args: readonly string[], cwd: string, signal?: AbortSignal): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
        maxBuffer: 16 * 1024 * 1024,
        ...(signal ? { signal } : {}),
      },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        if (error && typeof code !== 'number') {
          reject(signal?.aborted ? signal.reason : errors.unavailable('git', error));
          return;
        }
        resolve({ code: error ? (code as number) : 0, stdout: String(stdout).trim(), stderr: String(stderr).trim() });
      },
    );
  });
}

const lastLines = (text: string) => text.split('\n').slice(-3).join(' ');

/** How the new head relates to the last applied commit. */
export type Ancestry = 'same' | 'descends' | 'diverged' | 'unknown';

/** The cache of one followed remote. */
export interface SyncRepository {
  /** The cache's directory. */
  readonly dir: string;
  /** Fetches the branch; resolves with its head commit (40 hex). Rejects `BACKEND_UNAVAILABLE` naming the remote. */
  fetch(signal?: AbortSignal): Promise<string>;
  /**
   * `same`, `descends` (`head` has `base` as an ancestor), `diverged` (it has not: a force push or a
   * rewritten history), or `unknown` (`base` is not in the cache: the history holding it is gone).
   */
  ancestry(base: string, head: string, signal?: AbortSignal): Promise<Ancestry>;
  /** Whether `commit` is a commit of the cache (fetched at some point). */
  has(commit: string, signal?: AbortSignal): Promise<boolean>;
  /** The layout at `commit` (under the configured path); its `repo` is the remote. Throws as `openTreeSource`. */
  read(commit: string, signal?: AbortSignal): Promise<TreeSource>;
}

/** Options of {@link openSyncRepository}. */
export interface SyncRepositoryOptions {
  /** The remote (URL or absolute path). */
  remote: string;
  branch: string;
  /** The layout's directory in the repository (`''`: the top). */
  path: string;
  /** The cache's directory (created when missing). */
  dir: string;
}

const SHA = /^[0-9a-f]{40}$/;

/** Opens (and creates on first use) the cache. Nothing is fetched before `fetch()`. */
export function openSyncRepository(options: SyncRepositoryOptions): SyncRepository {
  const { remote, branch, path, dir } = options;
  let ready: Promise<void> | undefined;
  const init = () => {
    ready ??= (async () => {
      await mkdir(dir, { recursive: true });
      const isRepo = await stat(join(dir, '.git')).then(
        () => true,
        () => false,
      );
      if (!isRepo) {
        const r = await runGit(['init', '--quiet'], dir);
        if (r.code !== 0) throw errors.unavailable('git', new Error(`git init ${dir}: ${lastLines(r.stderr)}`));
      }
      // The layout's directory exists (empty) so openTreeSource reads it as a sub-directory at a commit.
      if (path) await mkdir(join(dir, path), { recursive: true });
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
  return {
    dir,
    async fetch(signal) {
      await init();
      const r = await runGit(
        ['fetch', '--quiet', '--no-tags', '--', remote, `+refs/heads/${branch}:refs/gitops/head`],
        dir,
        signal,
      );
      if (r.code !== 0) {
        throw errors.unavailable(
          'git',
          new Error(`cannot fetch branch ${branch} of ${remote}: ${lastLines(r.stderr)}`),
        );
      }
      const head = await runGit(['rev-parse', '--verify', 'refs/gitops/head^{commit}'], dir, signal);
      if (head.code !== 0 || !SHA.test(head.stdout)) {
        throw errors.unavailable('git', new Error(`branch ${branch} of ${remote} has no commit`));
      }
      return head.stdout;
    },
    async ancestry(base, head, signal) {
      if (base === head) return 'same';
      await init();
      if (!(await this.has(base, signal))) return 'unknown';
      const r = await runGit(['merge-base', '--is-ancestor', base, head], dir, signal);
      if (r.code === 0) return 'descends';
      if (r.code === 1) return 'diverged';
      throw errors.unavailable('git', new Error(`git merge-base ${base} ${head}: ${lastLines(r.stderr)}`));
    },
    async has(commit, signal) {
      if (!SHA.test(commit)) return false;
      await init();
      return (await runGit(['cat-file', '-e', `${commit}^{commit}`], dir, signal)).code === 0;
    },
    async read(commit, signal) {
      await init();
      const source = await openTreeSource(path ? join(dir, path) : dir, { rev: commit, ...(signal ? { signal } : {}) });
      return { ...source, repo: remote };
    },
  };
}
