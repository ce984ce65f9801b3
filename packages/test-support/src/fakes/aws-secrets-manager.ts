/**
 * A fake of AWS Secrets Manager's wire protocol, AWS JSON 1.1: `POST /` with
 * `X-Amz-Target: secretsmanager.<Operation>` and a JSON body; errors are a status with
 * `{ "__type": "<Exception>", "Message": "..." }`. It models secrets, versions and staging labels
 * as the service does:
 * - `CreateSecret` with a value gives the first version `AWSCURRENT`;
 * - `PutSecretValue` attaches the requested labels (default `AWSCURRENT`) to the new version,
 *   moving them from any other version;
 * - moving `AWSCURRENT` (PutSecretValue or UpdateSecretVersionStage) gives `AWSPREVIOUS` to the
 *   version it left, and the version that held `AWSPREVIOUS` loses it (it becomes "deprecated");
 * - `UpdateSecretVersionStage` needs `RemoveFromVersionId` naming the current holder of a label it
 *   moves, and refuses to remove `AWSCURRENT` without moving it;
 * - `ListSecretVersionIds` omits deprecated (label-less) versions unless `IncludeDeprecated`.
 * It does not verify SigV4 signatures, but requires an `Authorization` header with a credential
 * scope, and (when `accessKeyId` is set) that access key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type FakeRequest, type HttpReply, jsonBody, type RunningFake, startFake } from './http.js';

export interface AwsFakeOptions {
  /** Only this access key id is accepted (others get UnrecognizedClientException). Default: any. */
  accessKeyId?: string;
  region?: string;
  accountId?: string;
}

interface Version {
  readonly id: string;
  readonly value: string | undefined;
  readonly binary: string | undefined;
  readonly stages: Set<string>;
  readonly created: number;
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  readonly created: number;
  changed: number;
  deleted: number | undefined;
  readonly versions: Map<string, Version>;
}

class AwsFault extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AwsFake extends RunningFake {
  /** The secrets as the fake holds them, for assertions: name -> versionId -> labels. */
  stages(name: string): Record<string, string[]> | undefined;
  /** The requests of one operation. */
  ops(op: string): FakeRequest[];
}

const seconds = (ms: number) => ms / 1000;

export async function startAwsSecretsManager(options: AwsFakeOptions = {}): Promise<AwsFake> {
  const region = options.region ?? 'us-east-1';
  const account = options.accountId ?? '123456789012';
  const secrets = new Map<string, Secret>();
  let clock = Date.now();
  const tick = () => {
    clock = Math.max(Date.now(), clock + 1);
    return clock;
  };

  function find(id: unknown): Secret {
    if (typeof id !== 'string' || id.length === 0)
      throw new AwsFault(400, 'InvalidParameterException', 'SecretId is required.');
    const secret = secrets.get(id) ?? [...secrets.values()].find((s) => s.arn === id);
    if (!secret)
      throw new AwsFault(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  function live(id: unknown): Secret {
    const secret = find(id);
    if (secret.deleted !== undefined) {
      throw new AwsFault(
        400,
        'InvalidRequestException',
        "You can't perform this operation on the secret because it was marked for deletion.",
      );
    }
    return secret;
  }

  function holder(secret: Secret, label: string): Version | undefined {
    return [...secret.versions.values()].find((v) => v.stages.has(label));
  }

  /** Attaches `label` to `target`, with the AWSCURRENT -> AWSPREVIOUS rule. */
  function attach(secret: Secret, label: string, target: Version): void {
    const from = holder(secret, label);
    if (from === target) return;
    from?.stages.delete(label);
    target.stages.add(label);
    if (label === 'AWSCURRENT' && from) {
      holder(secret, 'AWSPREVIOUS')?.stages.delete('AWSPREVIOUS');
      from.stages.add('AWSPREVIOUS');
    }
    secret.changed = tick();
  }

  function token(input: unknown): string {
    if (input === undefined) return randomUUID();
    if (typeof input !== 'string' || input.length < 32 || input.length > 64) {
      throw new AwsFault(400, 'InvalidParameterException', 'ClientRequestToken must be 32-64 characters.');
    }
    return input;
  }

  function checkValue(body: Record<string, unknown>): { value: string | undefined; binary: string | undefined } {
    const value = body.SecretString;
    const binary = body.SecretBinary;
    if (value !== undefined && binary !== undefined) {
      throw new AwsFault(400, 'InvalidParameterException', 'You can only specify one of SecretString or SecretBinary.');
    }
    if (value !== undefined && (typeof value !== 'string' || Buffer.byteLength(value) > 65_536)) {
      throw new AwsFault(400, 'InvalidParameterException', 'SecretString must be a string of at most 65536 bytes.');
    }
    return { value: value as string | undefined, binary: binary as string | undefined };
  }

  function newVersion(secret: Secret, id: string, body: Record<string, unknown>): Version {
    const { value, binary } = checkValue(body);
    const version: Version = { id, value, binary, stages: new Set(), created: tick() };
    secret.versions.set(id, version);
    return version;
  }

  const ops: Record<string, (body: Record<string, unknown>) => unknown> = {
    CreateSecret(body) {
      const name = body.Name;
      if (typeof name !== 'string' || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
        throw new AwsFault(
          400,
          'InvalidParameterException',
          'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
        );
      }
      if (secrets.has(name)) {
        throw new AwsFault(
          400,
          'ResourceExistsException',
          `The operation failed because the secret ${name} already exists.`,
        );
      }
      const created = tick();
      const secret: Secret = {
        name,
        arn: `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${randomBytes(3).toString('hex')}`,
        created,
        changed: created,
        deleted: undefined,
        versions: new Map(),
      };
      let versionId: string | undefined;
      if (body.SecretString !== undefined || body.SecretBinary !== undefined) {
        const version = newVersion(secret, token(body.ClientRequestToken), body);
        version.stages.add('AWSCURRENT');
        versionId = version.id;
      }
      secrets.set(name, secret);
      return { ARN: secret.arn, Name: name, ...(versionId ? { VersionId: versionId } : {}) };
    },

    DescribeSecret(body) {
      const secret = find(body.SecretId);
      const map: Record<string, string[]> = {};
      for (const v of secret.versions.values()) if (v.stages.size > 0) map[v.id] = [...v.stages];
      return {
        ARN: secret.arn,
        Name: secret.name,
        CreatedDate: seconds(secret.created),
        LastChangedDate: seconds(secret.changed),
        VersionIdsToStages: map,
        ...(secret.deleted !== undefined ? { DeletedDate: seconds(secret.deleted) } : {}),
      };
    },

    GetSecretValue(body) {
      const secret = live(body.SecretId);
      const { VersionId: versionId, VersionStage: stage } = body as { VersionId?: string; VersionStage?: string };
      let version: Version | undefined;
      if (versionId !== undefined) {
        version = secret.versions.get(versionId);
        if (version && stage !== undefined && !version.stages.has(stage)) version = undefined;
        if (!version) {
          throw new AwsFault(
            400,
            'ResourceNotFoundException',
            `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
          );
        }
      } else {
        const label = stage ?? 'AWSCURRENT';
        version = holder(secret, label);
        if (!version) {
          throw new AwsFault(
            400,
            'ResourceNotFoundException',
            `Secrets Manager can't find the specified secret value for staging label: ${label}`,
          );
        }
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        ...(version.value !== undefined ? { SecretString: version.value } : { SecretBinary: version.binary }),
        VersionStages: [...version.stages],
        CreatedDate: seconds(version.created),
      };
    },

    PutSecretValue(body) {
      const secret = live(body.SecretId);
      const id = token(body.ClientRequestToken);
      const existing = secret.versions.get(id);
      const { value, binary } = checkValue(body);
      if (existing) {
        if (existing.value === value && existing.binary === binary) {
          return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...existing.stages] };
        }
        throw new AwsFault(
          400,
          'ResourceExistsException',
          "You can't modify an existing version, you can only create new versions.",
        );
      }
      if (value === undefined && binary === undefined) {
        throw new AwsFault(400, 'InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      }
      const labels = (body.VersionStages as string[] | undefined) ?? ['AWSCURRENT'];
      if (!Array.isArray(labels) || labels.length === 0 || labels.length > 20) {
        throw new AwsFault(400, 'InvalidParameterException', 'VersionStages must list 1-20 staging labels.');
      }
      const version = newVersion(secret, id, body);
      for (const label of labels) attach(secret, label, version);
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...version.stages] };
    },

    UpdateSecretVersionStage(body) {
      const secret = live(body.SecretId);
      const {
        VersionStage: label,
        MoveToVersionId: moveTo,
        RemoveFromVersionId: removeFrom,
      } = body as {
        VersionStage?: string;
        MoveToVersionId?: string;
        RemoveFromVersionId?: string;
      };
      if (typeof label !== 'string' || label.length === 0) {
        throw new AwsFault(400, 'InvalidParameterException', 'VersionStage is required.');
      }
      const current = holder(secret, label);
      if (removeFrom !== undefined && !secret.versions.has(removeFrom)) {
        throw new AwsFault(
          400,
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret version: ${removeFrom}`,
        );
      }
      if (moveTo !== undefined) {
        const target = secret.versions.get(moveTo);
        if (!target) {
          throw new AwsFault(
            400,
            'ResourceNotFoundException',
            `Secrets Manager can't find the specified secret version: ${moveTo}`,
          );
        }
        if (current && current !== target && removeFrom !== current.id) {
          throw new AwsFault(
            400,
            'InvalidParameterException',
            `The parameter RemoveFromVersionId can't be empty. Staging label ${label} is currently attached to version ${current.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
          );
        }
        attach(secret, label, target);
      } else if (removeFrom !== undefined) {
        if (label === 'AWSCURRENT') {
          throw new AwsFault(
            400,
            'InvalidParameterException',
            'You can only move staging label AWSCURRENT to a different secret version. It can’t be completely removed.',
          );
        }
        if (current?.id !== removeFrom) {
          throw new AwsFault(
            400,
            'InvalidParameterException',
            `The staging label ${label} is not attached to the version ${removeFrom}, so you can't remove it.`,
          );
        }
        current.stages.delete(label);
        secret.changed = tick();
      } else {
        throw new AwsFault(
          400,
          'InvalidParameterException',
          'You must specify MoveToVersionId or RemoveFromVersionId.',
        );
      }
      return { ARN: secret.arn, Name: secret.name };
    },

    ListSecretVersionIds(body) {
      const secret = find(body.SecretId);
      const max = (body.MaxResults as number | undefined) ?? 100;
      if (!Number.isInteger(max) || max < 1 || max > 100) {
        throw new AwsFault(400, 'InvalidParameterException', 'MaxResults must be 1-100.');
      }
      const start = body.NextToken === undefined ? 0 : Number(Buffer.from(String(body.NextToken), 'base64').toString());
      const all = [...secret.versions.values()].filter((v) => body.IncludeDeprecated === true || v.stages.size > 0);
      const page = all.slice(start, start + max);
      const next = start + max < all.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
      return {
        ARN: secret.arn,
        Name: secret.name,
        Versions: page.map((v) => ({ VersionId: v.id, VersionStages: [...v.stages], CreatedDate: seconds(v.created) })),
        ...(next ? { NextToken: next } : {}),
      };
    },

    DeleteSecret(body) {
      const secret = find(body.SecretId);
      if (body.ForceDeleteWithoutRecovery === true) secrets.delete(secret.name);
      else secret.deleted = tick();
      return { ARN: secret.arn, Name: secret.name, DeletionDate: seconds(Date.now() + 7 * 86_400_000) };
    },
  };

  function reply(status: number, body: unknown): HttpReply {
    return {
      status,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() },
      body,
    };
  }

  const fake = await startFake(
    ({ req }) => String(req.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, ''),
    ({ req, body, record }) => {
      try {
        if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
          throw new AwsFault(404, 'UnknownOperationException', 'Not found');
        }
        const auth = req.headers.authorization;
        if (!auth) throw new AwsFault(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
        const credential = /Credential=([^/,\s]+)\//.exec(auth)?.[1];
        if (!credential)
          throw new AwsFault(
            400,
            'IncompleteSignatureException',
            'Authorization header requires a Credential parameter.',
          );
        if (options.accessKeyId !== undefined && credential !== options.accessKeyId) {
          throw new AwsFault(
            400,
            'UnrecognizedClientException',
            'The security token included in the request is invalid.',
          );
        }
        const target = String(req.headers['x-amz-target'] ?? '');
        const op = ops[record.op];
        if (!target.startsWith('secretsmanager.') || !op) {
          throw new AwsFault(400, 'UnknownOperationException', `Unknown operation ${target}`);
        }
        if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
          throw new AwsFault(400, 'SerializationException', 'Expected Content-Type application/x-amz-json-1.1');
        }
        const parsed = jsonBody(body, () => new AwsFault(400, 'SerializationException', 'Malformed JSON body'));
        return reply(200, op(parsed));
      } catch (error) {
        if (error instanceof AwsFault) return reply(error.status, { __type: error.type, Message: error.message });
        throw error;
      }
    },
  );

  return {
    ...fake,
    stages(name) {
      const secret = secrets.get(name);
      if (!secret) return undefined;
      return Object.fromEntries([...secret.versions.values()].map((v) => [v.id, [...v.stages].sort()]));
    },
    ops(op) {
      return fake.requests.filter((r) => r.op === op);
    },
  };
}

/** An AWS error body, for `fake.fail({ status, body: awsError(...) })`. */
export function awsError(type: string, message: string): unknown {
  return { __type: type, Message: message };
}
