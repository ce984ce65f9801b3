/**
 * Real git repositories for the GitOps tests: the git CLI with a fixed identity and neither the
 * user's nor the system's configuration, repositories on branch `main`, files written from objects
 * (as JSON, which is also YAML), commits, and a work repository pushing to a bare remote.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'gitops test',
  GIT_AUTHOR_EMAIL: 'gitops@example.test',
  GIT_COMMITTER_NAME: 'gitops test',
  GIT_COMMITTER_EMAIL: 'gitops@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: tmpdir(),
};

/** Runs git in `cwd`; its stdout, trimmed. Throws on a non-zero exit. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
}

/** Writes `files` under `dir`: strings as they are, anything else as JSON; `null` removes the file. */
export async function writeFiles(dir: string, files: Record<string, unknown>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (content === null) {
      await rm(full, { force: true });
      continue;
    }
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
}

/** A new repository at `dir` (created) on branch `main`. */
export async function initRepo(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  git(dir, 'init', '--quiet', '--initial-branch=main');
}

/** Writes `files`, commits them all (even when nothing changed) and returns the commit. */
export async function commitFiles(dir: string, files: Record<string, unknown>, message: string): Promise<string> {
  await writeFiles(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '--quiet', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/**
 * A work repository `<root>/<name>` and its bare remote `<root>/<name>.git`; `commit` writes,
 * commits and force-pushes `main` (so a test can rewrite history).
 */
export async function remoteRepo(root: string, name: string) {
  const remote = join(root, `${name}.git`);
  const work = join(root, name);
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', remote);
  await initRepo(work);
  git(work, 'remote', 'add', 'origin', remote);
  return {
    remote,
    work,
    async commit(files: Record<string, unknown>, message: string): Promise<string> {
      const sha = await commitFiles(work, files, message);
      git(work, 'push', '--quiet', '--force', 'origin', 'main');
      return sha;
    },
  };
}
