/**
 * Export and import of everything the service manages, as NDJSON (core's backup format: a header,
 * records, a trailer with the count and SHA-256 of the lines; see core's service/backup.ts).
 *
 * - `GET /api/v1/export?asOf=` streams `service.exportAll` line by line (`application/x-ndjson`): the
 *   server holds one document at a time. A failure after the first line cuts the connection; the
 *   file then has no trailer and every import refuses it.
 * - `POST /api/v1/import?resume=` takes an export file (`application/x-ndjson`, up to
 *   `importBodyLimit`) and calls `service.importAll`: the whole file is validated before anything is
 *   written, so a malformed line is a problem naming the line (`400`, or `422` for a checksum or
 *   signature that does not verify) and nothing is written. A failure while writing is a problem with
 *   `progress` (what was written); the same file with `resume=true` finishes it.
 */
import { Readable } from 'node:stream';
import { type ConfigError, isConfigError } from '@summit-config/core';
import { errors, ImportError } from '@summit-config/core/internal';
import type { FastifyInstance } from 'fastify';
import { type Problem, problem, problemOf } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf, callOptions, writeCallOptions } from '../request-context.js';
import { errorResponses, jsonObject, security } from '../schemas.js';
import type { ServerContext } from './context.js';

export const NDJSON = 'application/x-ndjson';

const importReportSchema = {
  type: 'object',
  description: 'What the import wrote (ImportReport)',
  properties: {
    governance: { type: 'boolean' },
    environments: { type: 'integer' },
    schemas: { type: 'integer' },
    policies: { type: 'integer' },
    requests: { type: 'integer' },
    versions: { type: 'integer', description: 'versions appended by this call' },
    skippedVersions: { type: 'integer', description: 'versions already present (resume)' },
    refs: { type: 'object', additionalProperties: { type: 'integer' } },
    header: jsonObject,
    sha256: { type: 'string' },
  },
  required: ['governance', 'versions', 'skippedVersions', 'refs', 'sha256'],
  additionalProperties: true,
} as const;

/**
 * The problem of a failed import. Before anything is written the file is at fault: a checksum or
 * signature that does not verify is `422` with its message (not the `500` of stored data failing).
 * After writing started (`ImportError`), the problem carries `progress`.
 */
function importProblem(error: unknown, ifMatch: boolean): Problem {
  if (error instanceof ImportError) {
    return { ...problemOf(error, ifMatch), progress: error.progress } as Problem;
  }
  if (isConfigError(error) && (error.code === 'CHECKSUM_MISMATCH' || error.code === 'SIGNATURE_INVALID')) {
    return problem(422, error.code, (error as ConfigError).message);
  }
  return problemOf(error, ifMatch);
}

export function transferRoutes(app: FastifyInstance, { service, importBodyLimit }: ServerContext): void {
  app.get(
    '/api/v1/export',
    {
      // No HEAD twin: it would start a stream whose body nothing reads.
      exposeHeadRoute: false,
      schema: {
        tags: ['transfer'],
        summary: 'Export everything as NDJSON (environments, schemas, policies, every version, open requests)',
        security,
        querystring: {
          type: 'object',
          properties: { asOf: { type: 'string', format: 'date-time', description: 'the state at this time' } },
          additionalProperties: false,
        },
        response: {
          200: {
            description: 'an export file: a header line, records, a trailer line',
            content: { [NDJSON]: { schema: { type: 'string' } } },
          },
          ...errorResponses(),
        },
      },
    },
    async (request, reply) => {
      const { asOf } = request.query as { asOf?: string };
      const controller = new AbortController();
      // The permission check (`export`) happens here; the lines are read as the client takes them.
      const lines = await service.exportAll(actorOf(request), {
        ...(asOf === undefined ? {} : { asOf }),
        signal: controller.signal,
      });
      const stream = Readable.from(lines, { objectMode: false });
      stream.once('close', () => controller.abort(errors.closed('the export was closed')));
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply
        .type(`${NDJSON}; charset=utf-8`)
        .header('Content-Disposition', `attachment; filename="summit-config-export-${stamp}.ndjson"`)
        .send(stream);
    },
  );

  // The NDJSON parser is for the import route alone: every other route still takes JSON only.
  app.register(async (scoped) => {
    scoped.removeAllContentTypeParsers();
    scoped.addContentTypeParser(NDJSON, { parseAs: 'buffer', bodyLimit: importBodyLimit }, (_request, body, done) =>
      done(null, body),
    );
    scoped.post(
      '/api/v1/import',
      {
        bodyLimit: importBodyLimit,
        schema: {
          tags: ['transfer'],
          summary: 'Import an export file into empty stores (or finish one with `resume=true`)',
          security,
          querystring: {
            type: 'object',
            properties: {
              resume: {
                type: 'boolean',
                default: false,
                description: 'skip what an interrupted import of this file already wrote, write the rest',
              },
            },
            additionalProperties: false,
          },
          // The body is bytes (any value validates): core's import checks every line.
          body: { content: { [NDJSON]: { schema: { description: 'an export file, one JSON value a line' } } } },
          response: { 200: importReportSchema, ...errorResponses(413, 415, 422) },
        },
      },
      async (request, reply) => {
        const { resume } = request.query as { resume: boolean };
        const body = request.body;
        if (!(body instanceof Uint8Array) || body.length === 0) {
          throw errors.constraint('import needs a body: an export file (application/x-ndjson)');
        }
        const signal = writeCallOptions(request).signal;
        try {
          return await service.importAll(actorOf(request), body, {
            ...callOptions(request),
            resume,
            ...(signal ? { signal } : {}),
          });
        } catch (error) {
          return sendProblem(request, reply, importProblem(error, false));
        }
      },
    );
  });
}
