/**
 * The rollouts and secrets pages' calls (issue 19): `GET /api/v1/rollouts` and the hand moves
 * `POST /api/v1/rollouts/<ref>` (a new version, compare-and-set on the version shown; or with
 * `propose` a change request), and the secrets' metadata and rotation (`/api/v1/secrets`). The
 * secrets routes never answer a value, and this code never asks for one.
 */
import { ApiError, type ChangeRequest, type ConfigVersion, refPath, send } from './api';

export interface HealthGate {
  kind: 'webhook' | 'prometheus';
  url?: string;
  query?: string;
  min?: number;
  max?: number;
  timeoutMs?: number;
}

export interface RolloutRuleView {
  id: string;
  strategy: string;
  description?: string;
  enabled: boolean;
  progressive: boolean;
  state?: 'running' | 'paused' | 'promoted' | 'aborted';
  shareBps?: number;
  bps?: number;
  schedule?: number[];
  step?: number;
  stepIntervalMinutes?: number;
  nextStepAt?: string;
  healthGate?: HealthGate;
  lastStep?: { version: number; action: string; shareBps?: number; gate: string; at?: string; by?: string };
  rule: Record<string, unknown>;
}

export interface RolloutView {
  ref: string;
  version: number;
  createdAt?: string;
  createdBy?: string;
  message?: string;
  enabled: boolean;
  description?: string;
  rules: RolloutRuleView[];
}

export type RolloutAction = 'advance' | 'promote' | 'abort' | 'pause' | 'resume';

export const listRollouts = () => send<{ items: RolloutView[] }>('GET', '/api/v1/rollouts').then((r) => r.items);

/** Moves rule `rule` of `ref`; `version` is the head shown (`If-Match`). */
export const moveRollout = (ref: string, rule: string, action: RolloutAction, version: number, message?: string) =>
  send<ConfigVersion>('POST', `/api/v1/rollouts/${refPath(ref)}`, {
    body: { rule, action, ...(message ? { message } : {}) },
    headers: { 'if-match': `"${version}"` },
  });

/** The same move, proposed as a change request (guarded environments). */
export const proposeRollout = (ref: string, rule: string, action: RolloutAction, version: number, message?: string) =>
  send<ChangeRequest>('POST', `/api/v1/rollouts/${refPath(ref)}`, {
    body: { rule, action, propose: true, ...(message ? { message } : {}) },
    headers: { 'if-match': `"${version}"` },
  });

export interface RotationView {
  secret: { provider: string; name: string };
  state: 'idle' | 'rotating' | 'failed';
  step?: string;
  enabled: boolean;
  intervalDays?: number;
  cron?: string;
  graceMs: number;
  generator?: { type?: string; name?: string };
  notifyCount?: number;
  lastRotatedAt?: string;
  nextRotationAt?: string;
  run?: {
    id: string;
    reason: string;
    startedAt: string;
    step: string;
    attempts: number;
    newVersion?: string;
    graceUntil?: string;
    bumps?: Array<{ ref: string; version?: number }>;
  };
  error?: { code: string; message: string; step: string; attempts: number; at: string };
  lastRun?: {
    runId: string;
    version: string;
    previousVersion?: string;
    startedAt: string;
    completedAt: string;
    bumped: Array<{ ref: string; version: number }>;
  };
  revision: number;
  updatedAt?: string;
}

export interface SecretSummary {
  name: string;
  current?: string;
  previous?: string;
  pending?: string;
  versions: number;
  createdAt?: string;
  rotation?: RotationView;
}

export interface SecretDetail {
  provider: string;
  name: string;
  current?: string;
  previous?: string;
  pending?: string;
  versions: Array<{
    version: string;
    stage?: string;
    state: string;
    createdAt?: string;
    labels?: Record<string, string>;
  }>;
  rotation: RotationView | null;
}

/** `undefined` when the server has no secrets (`501`). */
export async function listSecrets(): Promise<{ provider: string; kind: string; items: SecretSummary[] } | undefined> {
  try {
    return await send('GET', '/api/v1/secrets');
  } catch (error) {
    if (error instanceof ApiError && error.status === 501) return undefined;
    throw error;
  }
}

const secretPath = (name: string) => `/api/v1/secrets/${encodeURIComponent(name)}`;

export const getSecret = (name: string) => send<SecretDetail>('GET', secretPath(name));

export const rotateSecret = (name: string) => send<RotationView>('POST', `${secretPath(name)}/rotate`, { body: {} });

/** Resumes a failed rotation run at its failed step. */
export const retryRotation = (name: string) =>
  send<RotationView>('POST', `${secretPath(name)}/rotate`, { body: { retry: true } });

/** What the policy form sends: exactly one of `intervalDays` and `cron`. */
export interface RotationPolicyInput {
  intervalDays?: number;
  cron?: string;
  gracePeriodDays?: number;
  enabled?: boolean;
}

/** Creates or replaces the rotation policy of a secret (its run state is kept). */
export const putRotationPolicy = (name: string, body: RotationPolicyInput) =>
  send<RotationView>('PUT', `${secretPath(name)}/rotation`, { body });

export const deleteRotationPolicy = (name: string) => send<void>('DELETE', `${secretPath(name)}/rotation`);
