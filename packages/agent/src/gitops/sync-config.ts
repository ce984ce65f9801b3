/**
 * The agent configuration's `gitops` section: the sync loop that follows a branch of a git remote and
 * applies its new commits (gitops/sync.ts, docs/gitops.md "Sync loop"). Validated eagerly like every
 * section: a bad field is a `CONSTRAINT_VIOLATION` naming it (`agent config: gitops.branch must be ...`).
 *
 *   gitops:
 *     repo: https://git.example.com/ops/config.git   # or a local path (a bare repository, a clone)
 *     branch: main
 *     path: deploy/config          # the layout's directory in the repository (default: the top)
 *     intervalMs: 30000
 *     prune: false
 *     revert: false                # true: changes made outside git are overwritten by the tree again
 *     actor: gitops                # the principal the sync writes as: the RBAC file must grant it
 *     rbacFile: /etc/summit/rbac.yaml   # default server.rbacFile, else env SUMMIT_RBAC_FILE
 *     webhookSecretEnv: SUMMIT_GITOPS_WEBHOOK_SECRET
 */
import { isAbsolute, resolve } from 'node:path';
import { bool, fail, int, object, optStr, show, str } from '../config-fields.js';

/** The validated `gitops` section. */
export interface GitopsConfig {
  /** The remote followed: a URL git can fetch (`https://`, `ssh://`, `file://`) or a local path (absolute after loading). */
  repo: string;
  /** The branch followed. Default `main`. */
  branch: string;
  /** The layout's directory inside the repository, `/`-separated, without leading or trailing `/`; `''` is the top. Default `''`. */
  path: string;
  /** Between sync rounds, ms (100 ms to 24 h). Default 30000. */
  intervalMs: number;
  /** Refs absent from the tree are deleted (as `gitops apply --prune`). Default false. */
  prune: boolean;
  /** Changes made outside git are overwritten by the tree at the applied commit (false: only reported as drift). Default false. */
  revert: boolean;
  /** The principal id the sync reads and writes as (roles come from the RBAC file's bindings). Default `gitops`. */
  actor: string;
  /** The RBAC file granting `actor` its roles. Default `server.rbacFile`, else env `SUMMIT_RBAC_FILE`, else none (the sync then reports an error). */
  rbacFile: string | undefined;
  /** The env var holding the push webhook's secret; with a `server` section it enables `POST /api/v1/gitops/webhook`. Default none. */
  webhookSecretEnv: string | undefined;
  /** The webhook secret read from `webhookSecretEnv` (never logged). */
  webhookSecret: string | undefined;
}

const FIELDS = ['repo', 'branch', 'path', 'intervalMs', 'prune', 'revert', 'actor', 'rbacFile', 'webhookSecretEnv'];
const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*:\/\/|[\w.-]+@[\w.-]+:)/i;

/** Validates the section; `undefined` when the file has none. Throws `CONSTRAINT_VIOLATION` naming the bad field. */
export function gitopsSection(raw: unknown, env: NodeJS.ProcessEnv): GitopsConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = object(raw, 'gitops', FIELDS);
  const repoText = str(o.repo, 'gitops.repo');
  if (repoText.startsWith('-')) throw fail('gitops.repo', `must be a URL or a path, got ${show(repoText)}`);
  const repo = URL_LIKE.test(repoText) ? repoText : resolve(repoText);
  const branch = str(o.branch, 'gitops.branch', 'main');
  if (
    !/^[A-Za-z0-9._/-]{1,200}$/.test(branch) ||
    branch.startsWith('-') ||
    branch.startsWith('/') ||
    branch.endsWith('/') ||
    branch.endsWith('.lock') ||
    branch.includes('..') ||
    branch.includes('//')
  ) {
    throw fail('gitops.branch', `must be a branch name (letters, digits, ".", "_", "-", "/"), got ${show(branch)}`);
  }
  const pathText = o.path === undefined || o.path === null ? '' : typeof o.path === 'string' ? o.path : undefined;
  if (pathText === undefined) throw fail('gitops.path', `must be a string, got ${show(o.path)}`);
  const path = pathText.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (
    isAbsolute(path) ||
    path.split('/').some((s) => s === '..' || s === '.' || (s === '' && path !== '')) ||
    /[\0\\]/.test(path)
  ) {
    throw fail('gitops.path', `must be a relative directory inside the repository, got ${show(pathText)}`);
  }
  const actor = str(o.actor, 'gitops.actor', 'gitops');
  if (!/^[A-Za-z0-9_.:@/-]{1,256}$/.test(actor)) {
    throw fail('gitops.actor', `must be 1-256 of letters, digits, "_", ".", ":", "@", "/", "-", got ${show(actor)}`);
  }
  const rbacFile = optStr(o.rbacFile, 'gitops.rbacFile');
  const webhookSecretEnv = optStr(o.webhookSecretEnv, 'gitops.webhookSecretEnv');
  let webhookSecret: string | undefined;
  if (webhookSecretEnv !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(webhookSecretEnv)) {
      throw fail('gitops.webhookSecretEnv', `must be an environment variable name, got ${show(webhookSecretEnv)}`);
    }
    webhookSecret = env[webhookSecretEnv];
    if (!webhookSecret || webhookSecret.length < 16) {
      throw fail(
        'gitops.webhookSecretEnv',
        `names ${webhookSecretEnv}, which must hold a secret of at least 16 characters`,
      );
    }
  }
  return {
    repo,
    branch,
    path,
    intervalMs: int(o.intervalMs, 'gitops.intervalMs', 30_000, 100, 86_400_000),
    prune: bool(o.prune, 'gitops.prune', false),
    revert: bool(o.revert, 'gitops.revert', false),
    actor,
    rbacFile: rbacFile === undefined ? undefined : resolve(rbacFile),
    webhookSecretEnv,
    webhookSecret,
  };
}
