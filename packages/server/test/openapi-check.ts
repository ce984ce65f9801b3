/**
 * Every response a test gets is checked against the OpenAPI 3.1 document the server itself serves
 * at `/api/openapi.json` (issue 18: "every response validated against the published OpenAPI
 * document"). `validateResponses(app)` wraps `app.inject`: each response must have
 *
 * - a status declared for its operation (exact, `4XX`-style range, or `default`);
 * - a content type declared under that status (a declared response without `content` has no body);
 * - a body valid against that content type's schema (JSON Schema 2020-12, ajv, `$ref`s resolved
 *   in the document, so into `components`). Streams (`text/event-stream`, `application/x-ndjson`)
 *   are checked for their content type only.
 *
 * A method and path the document does not name may only be answered as the server answers an
 * unknown route: `404` (or `421` for a refused Host) problem+json, or a CORS preflight's `204`;
 * `GET /api/openapi.json` (hidden from the document it serves) must answer an OpenAPI 3.1 document.
 * A violation makes the `inject` promise reject with every violation listed, so the test fails.
 */
import { createRequire } from 'node:module';
import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import type addFormatsModule from 'ajv-formats';
import type { FastifyInstance, FastifyRequest, InjectOptions, LightMyRequestResponse } from 'fastify';
import { OPENAPI_PATH } from '../src/index.js';

const requireCjs = createRequire(import.meta.url);
const { Ajv2020: Ajv } = requireCjs('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 };
const addFormats = requireCjs('ajv-formats') as typeof addFormatsModule.default;

/** Media types whose body is a stream of records: only the content type is checked. */
export const STREAM_TYPES: ReadonlySet<string> = new Set(['text/event-stream', 'application/x-ndjson']);

const DOC_ID = 'urn:summit-config:openapi';
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']);

interface MediaType {
  schema?: unknown;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}
interface Operation {
  responses?: Record<string, ResponseObject>;
}
type PathItem = Record<string, Operation>;
interface OpenApiDocument {
  openapi: string;
  paths?: Record<string, PathItem>;
  components?: { schemas?: Record<string, unknown> };
}

/** JSON Pointer escaping of one reference token. */
const pointerToken = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

/** A path template of the document (`/api/v1/configs/{scope}/{*}`) as a regular expression. */
function templateRegex(template: string): RegExp {
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => {
      if (part === '{*}') return '.*';
      if (/^\{[^}]+\}$/.test(part)) return '[^/]+';
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`);
}

/** Fastify's route url (`/api/v1/configs/:scope/*`) as @fastify/swagger writes it in `paths`. */
export function openApiPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*/g, '{*}');
}

/** The media type of a `Content-Type` header, lower case, without parameters. */
function mediaTypeOf(header: unknown): string | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  return (header.split(';', 1)[0] as string).trim().toLowerCase();
}

const isJsonMedia = (media: string) => media === 'application/json' || media.endsWith('+json');

export class OpenApiChecker {
  readonly #doc: OpenApiDocument;
  readonly #ajv: Ajv2020;
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #templates: Array<{ path: string; regex: RegExp; statics: number }>;
  /** Responses checked so far (so a test can tell the checker ran). */
  checked = 0;

  constructor(served: object) {
    const doc = served as OpenApiDocument;
    if (typeof doc.openapi !== 'string' || !doc.openapi.startsWith('3.1')) {
      throw new Error(`the served document is not OpenAPI 3.1 (openapi: ${String(doc.openapi)})`);
    }
    this.#doc = doc;
    // OpenAPI 3.1 schemas are JSON Schema 2020-12; OpenAPI's own keywords (`example`, `xml`...)
    // are not JSON Schema, so strict mode is off. The whole document is one schema resource, so a
    // `$ref` to `#/components/schemas/X` resolves inside it.
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.#ajv);
    this.#ajv.addSchema({ ...doc, $id: DOC_ID } as object, DOC_ID);
    this.#templates = Object.keys(doc.paths ?? {})
      .map((path) => ({
        path,
        regex: templateRegex(path),
        statics: path.split('/').filter((s) => s !== '' && !s.startsWith('{')).length,
      }))
      // Fastify's router prefers static segments over parameters and wildcards.
      .sort((a, b) => b.statics - a.statics || b.path.length - a.path.length);
  }

  /** The document's path for a request: the route Fastify matched, else the first template that matches. */
  pathFor(url: string, routeUrl: string | undefined): string | undefined {
    if (routeUrl !== undefined) {
      const path = openApiPath(routeUrl);
      if (this.#doc.paths?.[path]) return path;
    }
    const bare = url.split('?', 1)[0] as string;
    return this.#templates.find((t) => t.regex.test(bare))?.path;
  }

  #validator(pointer: string): ValidateFunction {
    let fn = this.#compiled.get(pointer);
    if (!fn) {
      fn = this.#ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
      this.#compiled.set(pointer, fn);
    }
    return fn;
  }

  /** The violations of one response (empty when it conforms). */
  check(
    request: { method: string; url: string; routeUrl?: string },
    response: { statusCode: number; headers: Record<string, unknown>; body: string },
  ): string[] {
    this.checked++;
    const method = request.method.toLowerCase();
    const path = this.pathFor(request.url, request.routeUrl);
    // HEAD is GET without a body (Fastify adds HEAD routes; the document names the GET).
    const opMethod = method === 'head' ? 'get' : method;
    const operation = path === undefined ? undefined : this.#doc.paths?.[path]?.[opMethod];
    const label = `${request.method} ${request.url.split('?', 1)[0]} -> ${response.statusCode}`;
    if (!operation || !METHODS.has(opMethod)) {
      const bare = request.url.split('?', 1)[0];
      if (bare === OPENAPI_PATH && opMethod === 'get' && response.statusCode === 200) {
        return this.#checkDocument(label, response, method === 'head');
      }
      return this.#checkUndocumented(label, method, response);
    }

    const responses = operation.responses ?? {};
    const status = String(response.statusCode);
    const key = [status, `${status[0]}XX`, 'default'].find((k) => responses[k] !== undefined);
    if (key === undefined) {
      return [`${label}: status ${status} is not declared for ${opMethod.toUpperCase()} ${path}`];
    }
    const declared = responses[key] as ResponseObject;
    const base = `/paths/${pointerToken(path as string)}/${opMethod}/responses/${pointerToken(key)}`;
    return this.#checkContent(label, base, declared, response, method === 'head');
  }

  #checkContent(
    label: string,
    base: string,
    declared: ResponseObject,
    response: { headers: Record<string, unknown>; body: string },
    head: boolean,
  ): string[] {
    const media = mediaTypeOf(response.headers['content-type']);
    const content = declared.content ?? {};
    if (Object.keys(content).length === 0) {
      if (response.body.length > 0) return [`${label}: a body is sent where the document declares none`];
      return [];
    }
    if (media === undefined) return [`${label}: no Content-Type; declared: ${Object.keys(content).join(', ')}`];
    const entry = Object.entries(content).find(([type]) => type.toLowerCase() === media);
    if (!entry)
      return [`${label}: Content-Type ${media} is not declared (declared: ${Object.keys(content).join(', ')})`];
    const [type, mediaObject] = entry;
    if (STREAM_TYPES.has(media) || head || mediaObject.schema === undefined) return [];
    let body: unknown = response.body;
    if (isJsonMedia(media)) {
      try {
        body = JSON.parse(response.body);
      } catch {
        return [`${label}: the ${media} body is not JSON`];
      }
    }
    const validate = this.#validator(`${base}/content/${pointerToken(type)}/schema`);
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${label}: body${e.instancePath || ''} ${e.message ?? e.keyword}`);
  }

  /** The document itself (its route is not in it): JSON, OpenAPI 3.1. */
  #checkDocument(label: string, response: { headers: Record<string, unknown>; body: string }, head: boolean): string[] {
    const media = mediaTypeOf(response.headers['content-type']);
    if (media !== 'application/json') return [`${label}: the document is served as ${String(media)}`];
    if (head) return [];
    try {
      const doc = JSON.parse(response.body) as Partial<OpenApiDocument>;
      if (typeof doc.openapi === 'string' && doc.openapi.startsWith('3.1') && typeof doc.paths === 'object') return [];
    } catch {
      // reported below
    }
    return [`${label}: the body is not an OpenAPI 3.1 document`];
  }

  /** A method and path the document does not name: only an unknown route's answers are allowed. */
  #checkUndocumented(
    label: string,
    method: string,
    response: { statusCode: number; headers: Record<string, unknown>; body: string },
  ): string[] {
    if (method === 'options' && response.statusCode === 204 && response.body.length === 0) return [];
    if (response.statusCode !== 404 && response.statusCode !== 421) {
      return [`${label}: the document names no such operation, and the answer is not an unknown route's`];
    }
    const media = mediaTypeOf(response.headers['content-type']);
    if (media !== 'application/problem+json') return [`${label}: an unknown route answered ${String(media)}`];
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      return [`${label}: the problem body is not JSON`];
    }
    const problemPointer = '/components/schemas/Problem';
    if (!this.#doc.components?.schemas?.Problem) return [`${label}: the document has no Problem component`];
    const validate = this.#validator(problemPointer);
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${label}: body${e.instancePath || ''} ${e.message ?? e.keyword}`);
  }
}

/** A response's OpenAPI violations, as an error naming each one. */
export class OpenApiViolation extends Error {
  constructor(readonly violations: readonly string[]) {
    super(`response does not match the published OpenAPI document:\n  ${violations.join('\n  ')}`);
    this.name = 'OpenApiViolation';
  }
}

export interface ValidatedApp {
  /** The checker, once the document was fetched (after the first `inject`). */
  checker(): OpenApiChecker | undefined;
}

/**
 * Wraps `app.inject` so that every response is checked against the document the server serves
 * (fetched once, through the unwrapped `inject`, on first use: register extra routes before it;
 * `host`: the `Host` to fetch it with, when the server does not answer for `localhost`).
 * A violation rejects the `inject` promise with an `OpenApiViolation`.
 */
export function validateResponses(app: FastifyInstance, options: { host?: string } = {}): ValidatedApp {
  const original = app.inject.bind(app) as (opts: InjectOptions | string) => Promise<LightMyRequestResponse>;
  const routes = new WeakMap<object, string | undefined>();
  app.addHook('onSend', async (request: FastifyRequest) => {
    routes.set(request.raw, request.routeOptions.url);
  });
  let checker: Promise<OpenApiChecker> | undefined;
  const load = async (): Promise<OpenApiChecker> => {
    const headers = options.host === undefined ? {} : { host: options.host };
    const res = await original({ method: 'GET', url: OPENAPI_PATH, headers });
    if (res.statusCode !== 200) throw new Error(`${OPENAPI_PATH} answered ${res.statusCode}`);
    const checked = new OpenApiChecker(JSON.parse(res.body) as OpenApiDocument);
    // The document's own answer is checked like any other.
    const own = checked.check({ method: 'GET', url: OPENAPI_PATH, routeUrl: OPENAPI_PATH }, res);
    if (own.length > 0) throw new OpenApiViolation(own);
    return checked;
  };
  let loaded: OpenApiChecker | undefined;
  const inject = async (opts: InjectOptions | string): Promise<LightMyRequestResponse> => {
    checker ??= load().then((c) => {
      loaded = c;
      return c;
    });
    const c = await checker;
    const res = await original(opts);
    const request = typeof opts === 'string' ? { method: 'GET', url: opts } : opts;
    const url = typeof request.url === 'string' ? request.url : String(request.path ?? '/');
    const violations = c.check(
      { method: String(request.method ?? 'GET'), url, routeUrl: routes.get(res.raw.req) },
      res,
    );
    if (violations.length > 0) throw new OpenApiViolation(violations);
    return res;
  };
  (app as unknown as { inject: typeof inject }).inject = inject;
  return { checker: () => loaded };
}
