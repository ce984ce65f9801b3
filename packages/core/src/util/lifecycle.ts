import { errors } from '../errors/config-error.js';

/**
 * The closed/open state of a resource, with the one check every public member starts with.
 * `close()` implementations call `begin()` and return the same promise on every later call.
 */
export class Lifecycle {
  readonly #what: string;
  #closing: Promise<void> | undefined;

  constructor(what: string) {
    this.#what = what;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Throws `CLOSED` once closing has begun. */
  assertOpen(): void {
    if (this.#closing) throw errors.closed(this.#what);
  }

  /** Runs `teardown` once; every call returns the same promise (idempotent close). */
  close(teardown: () => Promise<void> | void): Promise<void> {
    this.#closing ??= Promise.resolve().then(teardown);
    return this.#closing;
  }
}
