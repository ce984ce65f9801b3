/**
 * `createConfigServer`: the Fastify application of the config API. It composes the rooms: the
 * options (`options.ts`), the limits that run first (`limits.ts`: Host, CORS; Fastify's body limit),
 * authentication (`authenticate.ts`), the rate limit per principal (`rate-limit.ts`), the request
 * timeout around every handler (`limits.ts`), problem+json errors (`problems.ts`), the OpenAPI document
 * (`openapi.ts`) and one file of routes per area (`routes/`).
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { authenticationHook } from './authenticate.js';
import { corsGuard, hostGuard, timeoutOnRoute } from './limits.js';
import { registerOpenApi } from './openapi.js';
import { type CheckedOptions, type ConfigServerOptions, checkOptions } from './options.js';
import { problem, problemOf } from './problems.js';
import { rateLimitHook } from './rate-limit.js';
import { sendProblem } from './reply.js';
import { hasIfMatch } from './request-context.js';
import { auditRoutes } from './routes/audit.js';
import { configRoutes } from './routes/configs.js';
import { gitopsWebhookRoutes } from './routes/gitops-webhook.js';
import { environmentRoutes, schemaRoutes } from './routes/governance.js';
import { identityRoutes } from './routes/identity.js';
import { maintenanceRoutes } from './routes/maintenance.js';
import { oidcLoginRoutes } from './routes/oidc-login.js';
import { operationRoutes } from './routes/operations.js';
import { policyRoutes } from './routes/policies.js';
import { reportRoutes } from './routes/report.js';
import { requestRoutes } from './routes/requests.js';
import { resolvedRoutes } from './routes/resolved.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { secretRoutes } from './routes/secrets.js';
import { transferRoutes } from './routes/transfer.js';
import { uiRoutes } from './routes/ui.js';
import { watchRoutes } from './routes/watch.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** How much longer than `requestTimeoutMs` an idle socket is kept (Fastify's `connectionTimeout`). */
const CONNECTION_GRACE_MS = 5_000;

/**
 * The config server's Fastify instance, not listening: call `listen()` to serve, or `inject()` to
 * test. Options are checked at once (`CONSTRAINT_VIOLATION` naming the bad one). The service and
 * store are borrowed: `close()` closes the server, not them.
 */
export function createConfigServer(options: ConfigServerOptions): FastifyInstance {
  const checked: CheckedOptions = checkOptions(options);
  // HTTPS when given a certificate (Fastify then builds an `https.Server`; the routes are the same).
  const https: object = checked.tls ? { https: checked.tls } : {};
  const app = Fastify({
    ...https,
    bodyLimit: checked.bodyLimit,
    // Path parameters up to a secret name (256 characters, `/` written `%2F`) or a policy name.
    maxParamLength: 1024,
    logger: false,
    // Node's own limits on a socket: the whole request must arrive within the timeout (a slow client
    // cannot hold a connection), and an idle socket is closed a little after it, so a handler's 504
    // is sent before the socket goes.
    requestTimeout: checked.requestTimeoutMs,
    connectionTimeout: checked.requestTimeoutMs + CONNECTION_GRACE_MS,
    // A caller's request id is kept when it is well-formed, so a trace spans both sides.
    requestIdHeader: 'x-request-id',
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  });
  // Only JSON bodies: text/plain is refused (415) rather than validated as a string.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', hostGuard(checked));
  app.addHook('onRequest', corsGuard(checked));
  app.addHook('onRequest', authenticationHook(checked));
  const rateLimit = rateLimitHook(checked);
  if (rateLimit) app.addHook('onRequest', rateLimit);
  app.addHook('onRoute', timeoutOnRoute(checked));
  app.addHook('onSend', async (request, reply) => {
    reply.header('request-id', request.id);
    reply.header('Cache-Control', 'no-store');
  });

  app.setErrorHandler(async (error, request, reply) =>
    sendProblem(request, reply, problemOf(error, hasIfMatch(request))),
  );
  app.setNotFoundHandler(async (request, reply) =>
    sendProblem(
      request,
      reply,
      problem(404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?', 1)[0]}`),
    ),
  );

  registerOpenApi(app);
  app.register(async (api) => {
    configRoutes(api, checked);
    resolvedRoutes(api, checked);
    environmentRoutes(api, checked);
    schemaRoutes(api, checked);
    auditRoutes(api, checked);
    reportRoutes(api, checked);
    requestRoutes(api, checked);
    watchRoutes(api, checked);
    transferRoutes(api, checked);
    identityRoutes(api, checked);
    maintenanceRoutes(api, checked);
    policyRoutes(api, checked);
    secretRoutes(api, checked);
    operationRoutes(api, checked);
    rolloutRoutes(api, checked);
    uiRoutes(api, checked);
    oidcLoginRoutes(api, checked);
    gitopsWebhookRoutes(api, checked);
  });
  return app;
}
